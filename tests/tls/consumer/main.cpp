// Built against the installed package: the TLS component's headers compile,
// OpenSSL links, a verifying client context loads the system CA store, and a
// missing certificate file is the typed certificate_load_failed.
#include <hl7/tls.hpp>

#include <iostream>

int
main()
{
    auto context = hl7::tls::make_client_context(hl7::tls_client_options{});
    if (!context) {
        std::cerr << "no client context\n";
        return 1;
    }
    try {
        hl7::tls_client_options o;
        o.ca_file = "/nonexistent/ca.pem";
        (void)hl7::tls::make_client_context(o);
        std::cerr << "a missing CA file was accepted\n";
        return 1;
    }
    catch (hl7::tls::tls_error const& e) {
        if (e.code() != hl7::tls::error::certificate_load_failed) {
            std::cerr << "unexpected error: " << e.what() << "\n";
            return 1;
        }
    }
    std::cout << "hl7::tls from the installed package: ok\n";
    return 0;
}
