#ifndef HL7_TLS_STREAM_HPP
#define HL7_TLS_STREAM_HPP

// hl7::tls::stream: the TLS stream an MLLP connection runs over (a TCP
// socket under asio::ssl), what a handler can learn about the session
// (hl7::tls::session_info), and its hl7::stream_traits.

#include <hl7/detail/asio_config.hpp>
#include <hl7/net/stream_traits.hpp>
#include <hl7/tls/error.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/associator.hpp>
#include <asio/async_result.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ssl/context.hpp>
#include <asio/ssl/stream.hpp>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/opensslv.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <any>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

namespace hl7::tls {

/// The peer's certificate, as a handler sees it.
struct certificate_info
{
    /// Subject distinguished name, RFC 2253 form ("CN=lab,O=Hospital").
    std::string subject{};
    /// Issuer distinguished name, RFC 2253 form.
    std::string issuer{};
    /// SHA-256 of the DER certificate, upper-case hex pairs joined by ':'.
    std::string sha256_fingerprint{};
    /// True if it was verified (the chain, and the host name on a client).
    bool verified = false;
};

/// What was negotiated on a TLS connection.
struct session_info
{
    /// "TLSv1.2" or "TLSv1.3".
    std::string version{};
    /// OpenSSL's cipher name ("TLS_AES_256_GCM_SHA384", "ECDHE-RSA-AES128-GCM-SHA256").
    std::string cipher{};
    /// The peer's certificate; none when the peer sent none (a client of a
    /// server that does not ask for one).
    std::optional<certificate_info> peer_certificate{};
};

namespace detail {

inline std::string
name_text(X509_NAME const* name)
{
    std::string out;
    BIO* bio = BIO_new(BIO_s_mem());
    if (!bio)
        return out;
    if (X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253) >= 0) {
        char* data = nullptr;
        long const n = BIO_get_mem_data(bio, &data);
        if (n > 0)
            out.assign(data, static_cast<std::size_t>(n));
    }
    BIO_free(bio);
    return out;
}

inline certificate_info
describe(X509* cert, bool verified)
{
    certificate_info info;
    info.subject = name_text(X509_get_subject_name(cert));
    info.issuer = name_text(X509_get_issuer_name(cert));
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (X509_digest(cert, EVP_sha256(), md, &len) == 1) {
        static constexpr char hex[] = "0123456789ABCDEF";
        for (unsigned i = 0; i < len; ++i) {
            if (i)
                info.sha256_fingerprint += ':';
            info.sha256_fingerprint += hex[md[i] >> 4];
            info.sha256_fingerprint += hex[md[i] & 0xF];
        }
    }
    info.verified = verified;
    return info;
}

inline session_info
describe(SSL* ssl)
{
    session_info s;
    s.version = SSL_get_version(ssl);
    if (SSL_CIPHER const* c = SSL_get_current_cipher(ssl))
        s.cipher = SSL_CIPHER_get_name(c);
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
    X509* cert = SSL_get1_peer_certificate(ssl);
#else
    X509* cert = SSL_get_peer_certificate(ssl); // also a reference of our own
#endif
    if (cert) {
        // verify_none (a server not asking, an insecure client) leaves
        // X509_V_OK without having verified anything.
        bool const verified = (SSL_get_verify_mode(ssl) & SSL_VERIFY_PEER) && SSL_get_verify_result(ssl) == X509_V_OK;
        s.peer_certificate = describe(cert, verified);
        X509_free(cert);
    }
    return s;
}

// Completes a read or write of the TLS stream with its error translated:
// a peer that closes without close_notify is the end of the stream (MLLP's
// framing tells a complete message from a cut one), and TLS alerts that
// arrive after the handshake (with TLS 1.3, a server's verdict on the
// client's certificate) become hl7::tls::error codes. The handler's
// associated executor, allocator and cancellation slot are kept (the
// asio::associator specialisation below).
template<class Handler>
struct translating_handler
{
    Handler handler;
    SSL* ssl;

    void
    operator()(std::error_code ec, std::size_t n)
    {
        if (ec == asio::ssl::error::stream_truncated)
            ec = asio::error::eof;
        else if (ec.category() == asio::error::get_ssl_category())
            ec = classify(ec, SSL_get_verify_result(ssl), false);
        std::move(handler)(ec, n);
    }
};

} // namespace detail

/** A TLS connection over TCP, as an AsyncStream: `asio::ssl::stream` plus
    the context it was made with (kept alive for the connection, whatever
    the server reloads) and the session facts captured after the handshake.
    Move-only; used on one strand. */
class stream
{
public:
    using socket_type = asio::ip::tcp::socket;
    using ssl_stream_type = asio::ssl::stream<socket_type>;
    using executor_type = socket_type::executor_type;
    using lowest_layer_type = socket_type::lowest_layer_type;

    stream(socket_type socket, std::shared_ptr<asio::ssl::context> context)
        : context_(std::move(context)), ssl_(std::move(socket), *context_)
    {
    }

    stream(stream&&) = default;
    stream& operator=(stream&&) = default;

    executor_type
    get_executor() noexcept
    {
        return ssl_.get_executor();
    }

    lowest_layer_type&
    lowest_layer() noexcept
    {
        return ssl_.lowest_layer();
    }

    lowest_layer_type const&
    lowest_layer() const noexcept
    {
        return ssl_.lowest_layer();
    }

    ssl_stream_type&
    ssl() noexcept
    {
        return ssl_;
    }

    SSL*
    native_handle() noexcept
    {
        return ssl_.native_handle();
    }

    /// The session, once `capture_session()` ran after the handshake.
    std::shared_ptr<session_info const> const&
    session() const noexcept
    {
        return session_;
    }

    /// Records what the handshake negotiated (call once it succeeded).
    void
    capture_session()
    {
        session_ = std::make_shared<session_info const>(detail::describe(ssl_.native_handle()));
    }

    template<class MutableBuffers, class Token>
    auto
    async_read_some(MutableBuffers const& buffers, Token&& token)
    {
        return initiate([](ssl_stream_type& s, auto const& b, auto h) { s.async_read_some(b, std::move(h)); },
                        buffers, std::forward<Token>(token));
    }

    template<class ConstBuffers, class Token>
    auto
    async_write_some(ConstBuffers const& buffers, Token&& token)
    {
        return initiate([](ssl_stream_type& s, auto const& b, auto h) { s.async_write_some(b, std::move(h)); },
                        buffers, std::forward<Token>(token));
    }

private:
    // Starts `op` on the TLS stream with the completion's error translated.
    template<class Op, class Buffers, class Token>
    auto
    initiate(Op op, Buffers const& buffers, Token&& token)
    {
        return asio::async_initiate<Token, void(std::error_code, std::size_t)>(
            [this, op](auto handler, Buffers const& b) {
                using h = detail::translating_handler<std::decay_t<decltype(handler)>>;
                op(ssl_, b, h{std::move(handler), ssl_.native_handle()});
            },
            token, buffers);
    }

    std::shared_ptr<asio::ssl::context> context_;
    ssl_stream_type ssl_;
    std::shared_ptr<session_info const> session_;
};

/** The session of a connection (`hl7::stream_reader` or `hl7::stream_writer`):
    version, cipher and peer certificate; none on a connection that is not TLS.
    The same facts are `get_extra_info("tls")` (a `session_info`),
    `"tls_version"`, `"cipher"` (`std::string`) and `"peercert"` (a
    `certificate_info`, absent when the peer sent none). */
template<class ReaderOrWriter>
std::optional<session_info>
get_session_info(ReaderOrWriter const& rw)
{
    std::any a = rw.get_extra_info("tls");
    if (auto const* p = std::any_cast<session_info>(&a))
        return *p;
    return std::nullopt;
}

} // namespace hl7::tls

template<template<class, class> class Associator, class Handler, class DefaultCandidate>
struct asio::associator<Associator, hl7::tls::detail::translating_handler<Handler>, DefaultCandidate>
{
    using type = typename Associator<Handler, DefaultCandidate>::type;

    static type
    get(hl7::tls::detail::translating_handler<Handler> const& h,
        DefaultCandidate const& c = DefaultCandidate()) noexcept
    {
        return Associator<Handler, DefaultCandidate>::get(h.handler, c);
    }
};

/// A TLS connection: always written asynchronously (never behind the TLS
/// engine's back), with the session's facts as extra info.
template<>
struct hl7::stream_traits<hl7::tls::stream> : hl7::default_stream_traits<hl7::tls::stream>
{
    static constexpr bool direct_send = false;

    static std::any
    extra_info(hl7::tls::stream const& s, std::string_view name)
    {
        auto const& session = s.session();
        if (!session)
            return {};
        if (name == "tls")
            return *session;
        if (name == "tls_version")
            return session->version;
        if (name == "cipher")
            return session->cipher;
        if (name == "peercert" && session->peer_certificate)
            return *session->peer_certificate;
        return {};
    }
};

#endif
