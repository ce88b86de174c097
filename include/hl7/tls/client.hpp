#ifndef HL7_TLS_CLIENT_HPP
#define HL7_TLS_CLIENT_HPP

// open_hl7_tls_connection: open_hl7_connection over TLS, verifying the
// server's certificate chain and host name unless told not to.

#include <hl7/detail/asio_config.hpp>
#include <hl7/net/connection.hpp>
#include <hl7/net/detail/connect.hpp>
#include <hl7/net/open_connection.hpp>
#include <hl7/net/options.hpp>
#include <hl7/net/stream_reader.hpp>
#include <hl7/net/stream_writer.hpp>
#include <hl7/tls/context.hpp>
#include <hl7/tls/error.hpp>
#include <hl7/tls/options.hpp>
#include <hl7/tls/stream.hpp>

#include <asio/awaitable.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/ip/address.hpp>
#include <asio/ssl/context.hpp>
#include <asio/use_awaitable.hpp>

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

namespace hl7 {

namespace tls::detail {

struct connect_request
{
    hl7::detail::tcp_connect_request tcp;
    tls_client_options tls;
    std::shared_ptr<asio::ssl::context> context; // when the application made one
};

// SNI and the name (or address) the certificate must match.
inline void
set_peer_name(SSL* ssl, std::string const& name, bool verify)
{
    std::error_code ec;
    asio::ip::make_address(name, ec);
    bool const is_address = !ec;
    if (!is_address && SSL_set_tlsext_host_name(ssl, name.c_str()) != 1)
        throw std::invalid_argument("hl7 TLS client: invalid server name '" + name + "'");
    if (!verify)
        return;
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    // A certificate for *.example.org matches a.example.org, not a.b.example.org.
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    int const ok = is_address ? X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str())
                              : X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size());
    if (ok != 1)
        throw std::invalid_argument("hl7 TLS client: cannot verify against the name '" + name + "'");
}

inline asio::awaitable<std::pair<stream_reader, stream_writer>>
open_connection(connect_request request)
{
    auto context = request.context ? std::move(request.context) : make_client_context(request.tls);
    bool const verify = request.context ? (SSL_CTX_get_verify_mode(context->native_handle()) & SSL_VERIFY_PEER) != 0
                                        : !request.tls.insecure_no_verify;
    std::string const name = request.tls.server_name.empty() ? request.tcp.host : request.tls.server_name.str();
    auto socket = co_await hl7::detail::connect_tcp(request.tcp);
    auto s = std::make_shared<stream>(std::move(socket), std::move(context));
    set_peer_name(s->native_handle(), name, verify);

    std::error_code ec;
    bool expired = false;
    {
        hl7::detail::connect_deadline deadline(s->get_executor(), request.tls.handshake_timeout,
                                               [s] { stream_traits<stream>::close(*s); });
        auto [hec] = co_await s->ssl().async_handshake(asio::ssl::stream_base::client,
                                                       asio::experimental::as_tuple(asio::use_awaitable));
        ec = hec;
        expired = deadline.expired();
    }
    if (ec || expired) {
        long const verify_result = SSL_get_verify_result(s->native_handle());
        std::error_code const code =
            expired ? make_error_code(error::handshake_timeout) : classify(ec, verify_result, true);
        stream_traits<stream>::close(*s);
        if (code.category() != error_category())
            throw std::system_error(code, "TLS handshake with " + name); // cancelled, ...
        std::string what = "TLS handshake with " + name + ":" + std::to_string(request.tcp.port) + ": " + code.message();
        if (!expired && code != ec)
            what += " (" + ec.message() + ")";
        if (verify_result != X509_V_OK)
            what += std::string(" [X.509: ") + X509_verify_cert_error_string(verify_result) + "]";
        throw tls_error(code, what);
    }
    s->capture_session();
    co_return make_hl7_connection(std::move(*s), request.tcp.options);
}

} // namespace tls::detail

/** Connects to an MLLP receiver over TLS (python-hl7's
    `open_hl7_connection(host, port, ssl=context)`).

    <!-- doc-test: skip, needs OpenSSL (the hl7::tls target), which a build may not have -->
    @code
    auto [reader, writer] = co_await hl7::open_hl7_tls_connection("lab.example.org", 2575, {.ca_file = "ca.pem"});
    @endcode

    By default the server must present a certificate that chains to a
    trusted CA (`tls.ca_file`, else the system store) and names the host
    (`tls.server_name` if set, else `host`; a host name is also sent as
    SNI). `tls.insecure_no_verify` turns both checks off (tests only).

    @par Errors
    Connecting throws as `open_hl7_connection` (`std::system_error`,
    `mllp::timeout_error` for `connect_timeout`). A failed handshake throws
    `tls::tls_error` whose code is an `hl7::tls::error`: `certificate_unknown_ca`,
    `certificate_expired`, `host_name_mismatch`, `no_common_protocol`,
    `not_tls`, `handshake_timeout` (`tls.handshake_timeout`, default 10 s),
    `peer_closed`, `handshake_failed`, or, for a server that refuses this
    client's certificate, the code its alert gives. `tls::is_permanent(code)`
    tells which ones another attempt would meet again. Bad files throw
    `certificate_load_failed`.

    With TLS 1.3 a server checks the client's certificate after the client
    finished its handshake: a server that requires one and got none (or
    refuses it) makes the first read throw `std::system_error` with
    `tls::error::no_client_certificate` (or the refusal's code) instead.

    Arguments may be spelled any way: they are moved into the operation
    before it starts.
*/
inline asio::awaitable<std::pair<stream_reader, stream_writer>>
open_hl7_tls_connection(std::string host, std::uint16_t port, tls_client_options tls = {},
                        connection_options options = {})
{
    tls::detail::connect_request request{{std::move(host), port, options}, tls, nullptr};
    return tls::detail::open_connection(std::move(request));
}

/** As above with an `asio::ssl::context` the application made (its verify
    mode decides whether the host name is checked: on with `verify_peer`).
    Of `tls`, `server_name` and `handshake_timeout` apply. */
inline asio::awaitable<std::pair<stream_reader, stream_writer>>
open_hl7_tls_connection(std::string host, std::uint16_t port, std::shared_ptr<asio::ssl::context> context,
                        tls_client_options tls = {}, connection_options options = {})
{
    if (!context)
        throw std::invalid_argument("open_hl7_tls_connection: null context");
    tls::detail::connect_request request{{std::move(host), port, options}, tls, std::move(context)};
    return tls::detail::open_connection(std::move(request));
}

} // namespace hl7

#endif
