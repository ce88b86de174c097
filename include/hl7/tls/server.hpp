#ifndef HL7_TLS_SERVER_HPP
#define HL7_TLS_SERVER_HPP

// start_hl7_tls_server: the MLLP server of hl7/net/server.hpp over TLS.
// Same handler, limits and reporting; each accepted connection handshakes
// first (bounded by handshake_timeout, counted in max_connections), and the
// certificates can be replaced while it runs (tls_server::reload).

#include <hl7/detail/asio_config.hpp>
#include <hl7/net/detail/connect.hpp>
#include <hl7/net/detail/server_state.hpp>
#include <hl7/net/options.hpp>
#include <hl7/net/server.hpp>
#include <hl7/tls/context.hpp>
#include <hl7/tls/error.hpp>
#include <hl7/tls/options.hpp>
#include <hl7/tls/stream.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/ssl/context.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <openssl/x509.h>

#include <chrono>
#include <exception>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <unordered_set>
#include <utility>
#include <vector>

namespace hl7 {

namespace tls::detail {

// A TCP server whose accepted sockets handshake before they are served.
class server_state final : public hl7::detail::server_state<asio::ip::tcp::acceptor>
{
    using base = hl7::detail::server_state<asio::ip::tcp::acceptor>;

public:
    server_state(asio::any_io_executor ex, handler_type cb, server_options options,
                 std::shared_ptr<asio::ssl::context> context, std::chrono::steady_clock::duration handshake_timeout)
        : base(std::move(ex), std::move(cb), std::move(options)),
          context_(std::move(context)),
          handshake_timeout_(handshake_timeout)
    {
    }

    void
    set_context(std::shared_ptr<asio::ssl::context> context)
    {
        std::lock_guard lock(mu_);
        context_ = std::move(context);
    }

    std::shared_ptr<asio::ssl::context>
    context() const
    {
        std::lock_guard lock(mu_);
        return context_;
    }

private:
    // A connection in its handshake; touched only on its own strand, except
    // for the table's membership (under mu_).
    struct handshake
    {
        explicit handshake(stream s) : tls(std::move(s)) {}
        stream tls;
        bool done = false;
    };

    void
    admit(socket_type socket) override
    {
        pending_started(); // counts against max_connections until served
        auto self = std::static_pointer_cast<server_state>(shared_from_this());
        auto ex = socket.get_executor();
        asio::co_spawn(ex, run_handshake(std::move(self), std::move(socket)), asio::detached);
    }

    void
    close_acceptor() noexcept override
    {
        base::close_acceptor();
        std::vector<std::shared_ptr<handshake>> open;
        {
            std::lock_guard lock(mu_);
            closing_ = true;
            open.assign(handshakes_.begin(), handshakes_.end());
        }
        for (auto& h : open)
            asio::post(h->tls.get_executor(), [h] {
                if (!h->done)
                    stream_traits<stream>::close(h->tls);
            });
    }

    static asio::awaitable<void>
    run_handshake(std::shared_ptr<server_state> self, socket_type socket)
    {
        std::error_code ignored;
        endpoint const peer = endpoint::from(socket.remote_endpoint(ignored));
        auto h = std::make_shared<handshake>(stream(std::move(socket), self->context()));
        std::error_code ec;
        bool expired = false;
        if (self->track(h)) {
            auto ex = h->tls.get_executor();
            hl7::detail::connect_deadline deadline(ex, self->handshake_timeout_,
                                                   [h] { stream_traits<stream>::close(h->tls); });
            auto [hec] = co_await h->tls.ssl().async_handshake(asio::ssl::stream_base::server,
                                                               asio::experimental::as_tuple(asio::use_awaitable));
            ec = hec;
            expired = deadline.expired();
        } else {
            ec = asio::error::operation_aborted;
        }
        h->done = true;
        bool const closing = self->untrack(h);
        if (!ec && !expired && !closing) {
            h->tls.capture_session();
            self->serve(std::move(h->tls));
        } else if (!closing) {
            self->handshake_failed(peer, h->tls, ec, expired);
        }
        stream_traits<stream>::close(h->tls); // no-op once served (moved from)
        self->pending_ended();
    }

    void
    handshake_failed(endpoint const& peer, stream& s, std::error_code ec, bool expired)
    {
        long const verify = SSL_get_verify_result(s.native_handle());
        std::error_code const code =
            expired ? make_error_code(error::handshake_timeout) : classify(ec, verify, true);
        std::string what = "TLS handshake with " + peer.to_string() + ": " + code.message();
        if (!expired && ec && code != ec)
            what += " (" + ec.message() + ")";
        if (verify != X509_V_OK)
            what += std::string(" [X.509: ") + X509_verify_cert_error_string(verify) + "]";
        report({peer, code, std::make_exception_ptr(tls_error(code, what))});
    }

    // False if the server is closing (the handshake is not started).
    bool
    track(std::shared_ptr<handshake> const& h)
    {
        std::lock_guard lock(mu_);
        if (closing_)
            return false;
        handshakes_.insert(h);
        return true;
    }

    // True if the server is closing.
    bool
    untrack(std::shared_ptr<handshake> const& h)
    {
        std::lock_guard lock(mu_);
        handshakes_.erase(h);
        return closing_;
    }

    mutable std::mutex mu_;
    std::shared_ptr<asio::ssl::context> context_;
    std::unordered_set<std::shared_ptr<handshake>> handshakes_;
    bool closing_ = false;
    std::chrono::steady_clock::duration const handshake_timeout_;
};

struct server_request
{
    client_connected_cb cb;
    server_options options;
    tls_server_options tls;
    std::shared_ptr<asio::ssl::context> context; // when the application made one
};

} // namespace tls::detail

/** A running MLLP-over-TLS server: an `hl7::server` (close, wait_closed,
    counters, ...) whose certificates can be replaced.

    @par Thread safety
    As `hl7::server`; `reload()` may be called from any thread.
*/
class tls_server : public server
{
public:
    explicit tls_server(std::shared_ptr<tls::detail::server_state> state) : server(state), tls_(std::move(state)) {}

    /** Loads new certificate, key and client-CA files (and the other
        settings of `options` except `handshake_timeout`): connections
        accepted from now on use them; open ones go on with what they
        negotiated. If anything fails to load, the server keeps its current
        settings and this throws `tls::tls_error` (`certificate_load_failed`,
        naming the file and OpenSSL's reason) or `std::invalid_argument`. */
    void
    reload(tls_server_options const& options)
    {
        tls_->set_context(tls::make_server_context(options));
    }

    /// As above with a context the application made (not null).
    void
    reload(std::shared_ptr<asio::ssl::context> context)
    {
        if (!context)
            throw std::invalid_argument("hl7::tls_server::reload: null context");
        tls_->set_context(std::move(context));
    }

private:
    std::shared_ptr<tls::detail::server_state> tls_;
};

namespace tls::detail {

inline asio::awaitable<tls_server>
start_server(server_request request)
{
    if (!request.cb)
        throw std::invalid_argument("start_hl7_tls_server: empty connection handler");
    auto context = request.context ? std::move(request.context) : make_server_context(request.tls);
    auto ex = co_await asio::this_coro::executor;
    server_options const& options = request.options;
    auto state = std::make_shared<server_state>(ex, std::move(request.cb), options, std::move(context),
                                                request.tls.handshake_timeout);
    co_await hl7::detail::listen_tcp(state, options);
    co_return tls_server(std::move(state));
}

} // namespace tls::detail

/** Starts an MLLP server over TLS: `start_hl7_server` with a handshake
    before each connection is handed to `cb`.

    <!-- doc-test: skip, needs OpenSSL (the hl7::tls target), which a build may not have -->
    @code
    auto server = co_await hl7::start_hl7_tls_server(
        handler, {.port = 2575},
        {.certificate_chain_file = "server.pem", .private_key_file = "server.key",
         .client_certificates = hl7::tls::client_certificates::required, .client_ca_file = "ca.pem"});
    co_await server.serve_forever();
    @endcode

    Loading the files happens here: a failure throws `tls::tls_error`
    (`certificate_load_failed`) before anything listens.

    @par Handshakes
    Each accepted connection counts against `max_connections` from accept
    on. A handshake that fails or does not finish within
    `tls.handshake_timeout` closes that connection only and is reported to
    `options.on_error`: `server_event::ec` is an `hl7::tls::error`
    (`certificate_unknown_ca`, `no_client_certificate`, `not_tls`,
    `handshake_timeout`, `peer_closed`, ...), `server_event::exception` a
    `tls::tls_error` whose text adds OpenSSL's reason.

    @par What a handler sees
    `tls::get_session_info(reader)`: version, cipher, and the client's
    certificate (subject, issuer, SHA-256 fingerprint) when it sent one;
    also `reader.get_extra_info("tls_version" / "cipher" / "peercert")`.

    Arguments may be spelled any way (braced options, temporaries): they are
    moved into the operation before it starts.
*/
inline asio::awaitable<tls_server>
start_hl7_tls_server(client_connected_cb cb, server_options options, tls_server_options tls)
{
    tls::detail::server_request request{std::move(cb), std::move(options), tls, nullptr};
    return tls::detail::start_server(std::move(request));
}

/** As above with an `asio::ssl::context` the application made (shared: it
    stays alive as long as a connection uses it). Of `tls`, only
    `handshake_timeout` applies. */
inline asio::awaitable<tls_server>
start_hl7_tls_server(client_connected_cb cb, server_options options, std::shared_ptr<asio::ssl::context> context,
                     tls_server_options tls = {})
{
    if (!context)
        throw std::invalid_argument("start_hl7_tls_server: null context");
    tls::detail::server_request request{std::move(cb), std::move(options), tls, std::move(context)};
    return tls::detail::start_server(std::move(request));
}

} // namespace hl7

#endif
