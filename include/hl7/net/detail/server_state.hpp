#ifndef HL7_NET_DETAIL_SERVER_STATE_HPP
#define HL7_NET_DETAIL_SERVER_STATE_HPP

// The state of a listening MLLP server, for any stream protocol (TCP,
// UNIX-domain sockets). server_core is everything but the acceptor: the
// table of connections and their handlers, the counters, closing, reporting.
// server_state<Acceptor> adds the acceptor and its accept loop.

#include <hl7/detail/asio_config.hpp>
#include <hl7/mllp/error.hpp>
#include <hl7/net/endpoint.hpp>
#include <hl7/net/options.hpp>
#include <hl7/net/stream_reader.hpp>
#include <hl7/net/stream_writer.hpp>
#include <hl7/net/detail/connection.hpp>
#include <hl7/net/detail/waiters.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/bind_cancellation_slot.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/error.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/post.hpp>
#include <asio/socket_base.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/use_awaitable.hpp>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

namespace hl7::detail {

class server_core : public std::enable_shared_from_this<server_core>
{
public:
    using handler_type = std::function<asio::awaitable<void>(stream_reader, stream_writer)>;

    server_core(server_core const&) = delete;
    server_core& operator=(server_core const&) = delete;
    virtual ~server_core() = default;

    /// Stops accepting and shuts every connection down. Any thread; idempotent.
    void
    close()
    {
        std::vector<std::shared_ptr<connection_base>> connections;
        {
            std::lock_guard lock(mu_);
            if (closing_)
                return;
            closing_ = true;
            connections.reserve(connections_.size());
            for (auto& [key, t] : connections_)
                connections.push_back(t.conn);
        }
        close_requested_.set();
        asio::post(strand_, [self = shared_from_this()] { self->close_acceptor(); }); // ends async_accept
        for (auto& c : connections)
            asio::post(c->get_executor(), [c] { c->server_shutdown(); });
        maybe_finished();
    }

    bool
    is_closing() const
    {
        std::lock_guard lock(mu_);
        return closing_;
    }

    endpoint const&
    local_endpoint() const noexcept
    {
        return local_;
    }

    std::size_t
    connection_count() const noexcept
    {
        return count_.load();
    }

    std::uint64_t
    accepted_count() const noexcept
    {
        return accepted_.load();
    }

    std::uint64_t
    refused_count() const noexcept
    {
        return refused_.load();
    }

    asio::strand<asio::any_io_executor> const&
    strand() const noexcept
    {
        return strand_;
    }

    asio::any_io_executor
    get_executor() const noexcept
    {
        return base_;
    }

    net_waiters&
    close_requested() noexcept
    {
        return close_requested_;
    }

    net_waiters&
    closed() noexcept
    {
        return closed_;
    }

protected:
    server_core(asio::any_io_executor ex, handler_type cb, server_options options)
        : base_(ex),
          strand_(asio::make_strand(ex)),
          cb_(std::move(cb)),
          options_(std::make_shared<server_options const>(std::move(options))),
          close_requested_(ex),
          closed_(ex)
    {
    }

    /// Closes the acceptor (on the strand).
    virtual void close_acceptor() noexcept = 0;

    server_options const&
    options() const noexcept
    {
        return *options_;
    }

    void
    set_local(endpoint e)
    {
        local_ = std::move(e);
    }

    // An accept failed: report it; out of descriptors or memory, back off
    // instead of spinning (the pending connection stays in the backlog).
    asio::awaitable<void>
    accept_failed(std::error_code ec)
    {
        report({{}, ec, nullptr});
        if (ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space || ec == asio::error::no_memory ||
            (ec.value() == ENFILE && ec.category() == asio::error::get_system_category())) {
            asio::steady_timer pause(strand_, std::chrono::milliseconds(100));
            co_await pause.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
        }
    }

    /// True if `max_connections` is reached (connections still being set
    /// up, e.g. in a TLS handshake, count): the caller closes the socket.
    bool
    full(endpoint const& peer)
    {
        if (count_.load() + pending_.load() < options_->max_connections)
            return false;
        ++refused_;
        report({peer, mllp::make_error_code(mllp::error::connection_limit), nullptr});
        return true;
    }

    /// Serves an accepted stream: an MLLP connection with this server's
    /// limits, running the handler on the stream's executor.
    template<class AsyncStream>
    void
    serve(AsyncStream stream)
    {
        auto conn = std::make_shared<connection<AsyncStream>>(std::move(stream), options_->connection, options_);
        {
            std::lock_guard lock(mu_);
            if (closing_) {
                conn->abort(mllp::make_error_code(mllp::error::connection_closed));
                return;
            }
            connections_.emplace(conn.get(), tracked{conn});
            ++count_;
            ++accepted_;
        }
        // Everything else happens on the connection's strand.
        asio::post(conn->get_executor(),
                   [self = shared_from_this(), c = std::shared_ptr<connection_base>(conn)] { self->run(c); });
    }

    /** An accepted stream is being set up before it is served (a TLS
        handshake): it counts against `max_connections`, and the server is
        not closed (`wait_closed()`) until it ended. Call `pending_ended()`
        once, after `serve()` or after giving up. */
    void
    pending_started()
    {
        std::lock_guard lock(mu_);
        ++pending_;
    }

    void
    pending_ended()
    {
        {
            std::lock_guard lock(mu_);
            --pending_;
        }
        maybe_finished();
    }

    /// Reports an event to `server_options::on_error` (never throws).
    void
    report(server_event const& event) noexcept
    {
        if (!options_->on_error) {
            // Nobody asked: a handler's failure must still not pass unseen.
            try {
                std::string line = "hl7 server: " + describe(event) + "\n";
                std::fwrite(line.data(), 1, line.size(), stderr);
            } catch (...) {
            }
            return;
        }
        try {
            options_->on_error(event);
        } catch (...) {
        }
    }

    /// The accept loop ended (the server is closing).
    void
    accepting_ended()
    {
        {
            std::lock_guard lock(mu_);
            accepting_ = false;
        }
        maybe_finished();
    }

private:
    void
    run(std::shared_ptr<connection_base> const& conn)
    {
        // Hooks hold the server weakly: a connection must not keep it alive.
        std::weak_ptr<server_core> weak = shared_from_this();
        conn->on_limit([weak, peer = conn->peer()](std::error_code ec) {
            if (auto self = weak.lock())
                self->report({peer, ec, nullptr});
        });
        conn->on_closed([weak, key = conn.get()] {
            if (auto self = weak.lock())
                self->connection_finished(key, false);
        });
        conn->start();
        // The handler is owned by the server: tracked in connections_ until
        // its stream is closed, cancellable through the connection.
        asio::co_spawn(
            conn->get_executor(),
            [self = shared_from_this(), conn]() -> asio::awaitable<void> {
                co_await self->cb_(stream_reader(conn), stream_writer(conn));
            },
            asio::bind_cancellation_slot(conn->handler_cancellation_slot(),
                                         [self = shared_from_this(), conn](std::exception_ptr e) {
                                             self->handler_done(conn, e);
                                         }));
    }

    void
    handler_done(std::shared_ptr<connection_base> const& conn, std::exception_ptr e)
    {
        if (e)
            report_exception(*conn, e);
        conn->handler_returned();
        conn->close(); // queued answers are still sent (bounded by write_timeout)
        connection_finished(conn.get(), true);
    }

    void
    report_exception(connection_base const& conn, std::exception_ptr e)
    {
        std::error_code ec;
        try {
            std::rethrow_exception(e);
        } catch (std::system_error const& x) {
            ec = x.code();
        } catch (...) {
        }
        // The normal end of a connection, or a cause already reported.
        if (ec == mllp::error::end_of_stream || ec == mllp::error::connection_closed)
            return;
        if (conn.close_reason() && (ec == conn.close_reason() || ec == asio::error::operation_aborted))
            return;
        report({conn.peer(), ec, e});
    }

    // A connection is done when its handler returned and its stream is
    // closed, in either order; only then does it stop counting.
    void
    connection_finished(connection_base* key, bool handler)
    {
        {
            std::lock_guard lock(mu_);
            auto it = connections_.find(key);
            if (it == connections_.end())
                return;
            (handler ? it->second.handler_done : it->second.stream_closed) = true;
            if (!it->second.handler_done || !it->second.stream_closed)
                return;
            connections_.erase(it);
            --count_;
        }
        maybe_finished();
    }

    void
    maybe_finished()
    {
        {
            std::lock_guard lock(mu_);
            if (!closing_ || accepting_ || !connections_.empty() || pending_.load() != 0 || finished_)
                return;
            finished_ = true;
        }
        closed_.set();
    }

    asio::any_io_executor base_;
    asio::strand<asio::any_io_executor> strand_;
    handler_type const cb_;
    // Shared with every connection: their policies read the limits here.
    std::shared_ptr<server_options const> const options_;
    endpoint local_;

    struct tracked
    {
        std::shared_ptr<connection_base> conn;
        bool handler_done = false;
        bool stream_closed = false;
    };

    mutable std::mutex mu_;
    std::unordered_map<connection_base*, tracked> connections_;
    bool closing_ = false;
    bool accepting_ = true;
    bool finished_ = false;
    std::atomic<std::size_t> count_{0};
    std::atomic<std::size_t> pending_{0}; // changed under mu_, read without it by full()
    std::atomic<std::uint64_t> accepted_{0};
    std::atomic<std::uint64_t> refused_{0};

    net_waiters close_requested_;
    net_waiters closed_;
};

/** A server accepting with `Acceptor` (`asio::basic_socket_acceptor<Protocol>`
    for a stream protocol): each accepted socket gets a strand of its own and
    becomes a `connection<socket>` (or goes to `admit()` of a derived state:
    the TLS server handshakes first). */
template<class Acceptor>
class server_state : public server_core
{
public:
    using protocol_type = typename Acceptor::protocol_type;
    using socket_type = typename protocol_type::socket;

    server_state(asio::any_io_executor ex, handler_type cb, server_options options)
        : server_core(std::move(ex), std::move(cb), std::move(options)), acceptor_(strand())
    {
    }

    ~server_state() override
    {
        if (on_acceptor_closed_)
            on_acceptor_closed_();
    }

    /// Binds and listens; throws std::system_error.
    void
    listen(typename protocol_type::endpoint const& ep, bool reuse_address)
    {
        acceptor_.open(ep.protocol());
        if (reuse_address)
            acceptor_.set_option(asio::socket_base::reuse_address(true));
        acceptor_.bind(ep);
        acceptor_.listen(options().backlog);
        set_local(endpoint::from(acceptor_.local_endpoint()));
    }

    /// Runs `f` once the acceptor is closed (or the state destroyed), on
    /// the strand: the UNIX-domain server removes its socket file there.
    void
    on_acceptor_closed(std::function<void()> f)
    {
        on_acceptor_closed_ = std::move(f);
    }

    /// Starts accepting on the strand.
    void
    start()
    {
        auto self = std::static_pointer_cast<server_state>(shared_from_this());
        asio::co_spawn(strand(), accept_loop(std::move(self)), asio::detached);
    }

private:
    static asio::awaitable<void>
    accept_loop(std::shared_ptr<server_state> self)
    {
        constexpr auto as_tuple = asio::experimental::as_tuple(asio::use_awaitable);
        for (;;) {
            // Each connection gets a strand of its own: safe when the
            // io_context runs on several threads, free when it does not.
            socket_type socket(asio::make_strand(self->get_executor()));
            auto [ec] = co_await self->acceptor_.async_accept(socket, as_tuple);
            if (self->is_closing() || !self->acceptor_.is_open())
                break;
            if (ec) {
                co_await self->accept_failed(ec);
                continue;
            }
            std::error_code ignored;
            if (self->full(endpoint::from(socket.remote_endpoint(ignored)))) {
                socket.close(ignored);
                continue;
            }
            self->admit(std::move(socket));
        }
        self->accepting_ended();
    }

protected:
    /// An accepted socket within the limits: served at once by default.
    virtual void
    admit(socket_type socket)
    {
        serve(std::move(socket));
    }

    void
    close_acceptor() noexcept override
    {
        std::error_code ignored;
        acceptor_.close(ignored);
        if (on_acceptor_closed_) {
            auto f = std::move(on_acceptor_closed_);
            on_acceptor_closed_ = nullptr;
            f();
        }
    }

private:
    Acceptor acceptor_;
    std::function<void()> on_acceptor_closed_;
};

} // namespace hl7::detail

#endif
