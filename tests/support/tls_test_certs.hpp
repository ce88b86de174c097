// The TLS test certificates: made once per process by tests/tls/make_certs.sh
// (the openssl tool) in a temporary directory removed at exit. Shared by the
// TLS tests and the hostile suite's TLS variants; a target using it defines
// HL7_TLS_MAKE_CERTS as the script's path. Also the server settings built
// from them.

#ifndef HL7_TLS_TEST_CERTS_HPP
#define HL7_TLS_TEST_CERTS_HPP

#include <hl7/tls/options.hpp>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <system_error>

#include <stdlib.h>

namespace hl7_tls_test {

/// The directory holding the test certificates (see make_certs.sh).
inline std::string const&
cert_dir()
{
    static std::string const dir = [] {
        char tmpl[] = "/tmp/hl7-tls-XXXXXX";
        char* p = ::mkdtemp(tmpl);
        if (!p)
            throw std::runtime_error("mkdtemp failed");
        std::string d = p;
        static std::string to_remove;
        to_remove = d;
        std::atexit([] {
            std::error_code ignored;
            std::filesystem::remove_all(to_remove, ignored);
        });
        std::string const cmd = std::string("sh '") + HL7_TLS_MAKE_CERTS + "' '" + d + "' >/dev/null";
        if (std::system(cmd.c_str()) != 0)
            throw std::runtime_error("make_certs.sh failed");
        return d;
    }();
    return dir;
}

/// The path of test certificate file `name` ("server.pem", "ca.pem", ...).
inline std::string
cert(std::string const& name)
{
    return cert_dir() + "/" + name;
}

/// Server settings: certificate `name`, client certificates `mode` checked against ca.pem.
inline hl7::tls_server_options
server_tls(std::string const& name = "server",
           hl7::tls::client_certificates mode = hl7::tls::client_certificates::off)
{
    hl7::tls_server_options o;
    o.certificate_chain_file = cert(name + ".pem");
    o.private_key_file = cert(name + ".key");
    o.client_certificates = mode;
    if (mode != hl7::tls::client_certificates::off)
        o.client_ca_file = cert("ca.pem");
    return o;
}

} // namespace hl7_tls_test

#endif
