#ifndef HL7_TLS_CONTEXT_HPP
#define HL7_TLS_CONTEXT_HPP

// The asio::ssl::context a TLS server or client uses, made from the options:
// what hl7 means by "safe by default" is all here.

#include <hl7/detail/asio_config.hpp>
#include <hl7/tls/error.hpp>
#include <hl7/tls/options.hpp>

#include <asio/ssl/context.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

namespace hl7::tls {

namespace detail {

// TLS 1.2 suites: ECDHE/DHE key exchange (forward secrecy) with AEAD
// ciphers only, the "intermediate" profile of current guidance.
inline constexpr char const* default_cipher_list = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                                                   "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                                                   "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
                                                   "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:"
                                                   "DHE-RSA-CHACHA20-POLY1305";

// OpenSSL's reason for the last failure of this thread, and clears the queue.
inline std::string
openssl_reason()
{
    std::string out;
    while (unsigned long e = ERR_get_error()) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof buf);
        if (!out.empty())
            out += "; ";
        out += buf;
    }
    return out;
}

[[noreturn]] inline void
load_failed(std::string const& what)
{
    std::string reason = openssl_reason();
    throw tls_error(make_error_code(error::certificate_load_failed),
                    reason.empty() ? what : what + " (" + reason + ")");
}

inline void
common_settings(asio::ssl::context& ctx, version min_version, std::string_view cipher_list)
{
    ctx.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                    asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1 |
                    asio::ssl::context::no_compression);
    SSL_CTX* h = ctx.native_handle();
    SSL_CTX_set_min_proto_version(h, min_version == version::tls1_3 ? TLS1_3_VERSION : TLS1_2_VERSION);
    // Renegotiation is a denial-of-service and attack surface MLLP never needs.
    SSL_CTX_set_options(h, SSL_OP_NO_RENEGOTIATION);
    std::string const list = cipher_list.empty() ? std::string(default_cipher_list) : std::string(cipher_list);
    if (SSL_CTX_set_cipher_list(h, list.c_str()) != 1)
        load_failed("invalid cipher list '" + list + "'");
}

inline void
use_certificate(asio::ssl::context& ctx, file_name const& chain, file_name const& key)
{
    std::error_code ec;
    ctx.use_certificate_chain_file(chain.str(), ec);
    if (ec)
        load_failed("cannot load certificate chain " + chain.str());
    ctx.use_private_key_file(key.str(), asio::ssl::context::pem, ec);
    if (ec)
        load_failed("cannot load private key " + key.str());
    if (SSL_CTX_check_private_key(ctx.native_handle()) != 1)
        load_failed("private key " + key.str() + " does not match certificate " + chain.str());
}

} // namespace detail

/** Makes a server context from `options`: the certificate chain and key,
    client-certificate verification, TLS 1.2 or later, the cipher preset.
    Throws `tls_error` (`certificate_load_failed`) naming the file and
    OpenSSL's reason when a file cannot be used, or `std::invalid_argument`
    for inconsistent settings. */
inline std::shared_ptr<asio::ssl::context>
make_server_context(tls_server_options const& options)
{
    if (options.certificate_chain_file.empty() || options.private_key_file.empty())
        throw std::invalid_argument("hl7 TLS server: certificate_chain_file and private_key_file are required");
    if (options.client_certificates != client_certificates::off && options.client_ca_file.empty())
        throw std::invalid_argument("hl7 TLS server: client certificates need client_ca_file");
    ERR_clear_error();
    auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
    detail::common_settings(*ctx, options.min_version, options.cipher_list);
    detail::use_certificate(*ctx, options.certificate_chain_file, options.private_key_file);
    // OpenSSL refuses to resume sessions of a verifying server without one.
    SSL_CTX_set_session_id_context(ctx->native_handle(), reinterpret_cast<unsigned char const*>("hl7"), 3);
    switch (options.client_certificates) {
    case client_certificates::off: ctx->set_verify_mode(asio::ssl::verify_none); break;
    case client_certificates::optional: ctx->set_verify_mode(asio::ssl::verify_peer); break;
    case client_certificates::required:
        ctx->set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert);
        break;
    }
    if (options.client_certificates != client_certificates::off) {
        std::error_code ec;
        ctx->load_verify_file(options.client_ca_file.str(), ec);
        if (ec)
            detail::load_failed("cannot load client CA file " + options.client_ca_file.str());
        // Tell clients which CAs are accepted (they pick their certificate by it).
        if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(options.client_ca_file.str().c_str()))
            SSL_CTX_set_client_CA_list(ctx->native_handle(), names);
    }
    return ctx;
}

/** Makes a client context from `options`: peer verification on (the CA
    file, or the system store) unless `insecure_no_verify`, the client
    certificate if given, TLS 1.2 or later, the cipher preset. The host name
    check is set per connection. Throws as `make_server_context`. */
inline std::shared_ptr<asio::ssl::context>
make_client_context(tls_client_options const& options)
{
    if (options.certificate_chain_file.empty() != options.private_key_file.empty())
        throw std::invalid_argument("hl7 TLS client: a client certificate needs both certificate_chain_file and "
                                    "private_key_file");
    ERR_clear_error();
    auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
    detail::common_settings(*ctx, options.min_version, options.cipher_list);
    if (!options.certificate_chain_file.empty())
        detail::use_certificate(*ctx, options.certificate_chain_file, options.private_key_file);
    if (options.insecure_no_verify) {
        ctx->set_verify_mode(asio::ssl::verify_none);
        return ctx;
    }
    ctx->set_verify_mode(asio::ssl::verify_peer);
    std::error_code ec;
    if (options.ca_file.empty()) {
        ctx->set_default_verify_paths(ec);
        if (ec)
            detail::load_failed("cannot use the system CA store");
    } else {
        ctx->load_verify_file(options.ca_file.str(), ec);
        if (ec)
            detail::load_failed("cannot load CA file " + options.ca_file.str());
    }
    return ctx;
}

} // namespace hl7::tls

#endif
