#ifndef HL7_SERVER_HPP
#define HL7_SERVER_HPP

// start_hl7_server and hl7::server: python-hl7's start_hl7_server / asyncio
// Server, with the limits a receiver on a hospital network needs.

#include <hl7/detail/asio_config.hpp>
#include <hl7/net/options.hpp>
#include <hl7/net/detail/connection_state.hpp>
#include <hl7/net/detail/waiters.hpp>
#include <hl7/mllp/error.hpp>
#include <hl7/net/stream_reader.hpp>
#include <hl7/net/stream_writer.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/bind_cancellation_slot.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/error.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/ip/address.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

namespace hl7 {

/// A connection handler: called once per accepted connection, on that
/// connection's own strand; the connection is closed when it returns.
using client_connected_cb = std::function<asio::awaitable<void>(stream_reader, stream_writer)>;

/// Something a receiver should log; see `server_options::on_error`.
struct server_event
{
    /// The peer (unspecified for accept errors).
    asio::ip::tcp::endpoint peer;
    /// The cause: a limit (`mllp::error::connection_limit`, `idle_timeout`,
    /// `frame_timeout`, `handler_timeout`, `write_timeout`,
    /// `write_queue_full`), an accept error, or the code of the exception a
    /// handler ended with (empty if it was not a std::system_error).
    std::error_code ec;
    /// The exception a handler ended with, if any.
    std::exception_ptr exception;
};

/** Settings of an MLLP server. Every limit has a safe default, chosen so a
    receiver on a hospital network keeps answering whatever its peers do;
    zero durations mean "off".
*/
struct server_options
{
    // Every member has an initializer: g++ 12 warns (-Wmissing-field-initializers)
    // about designated initializers such as {.port = 2575} otherwise.
    /// Address to listen on (an address or a name). Default all IPv4 interfaces.
    std::string host = "0.0.0.0";

    /// Port; 0 picks a free one (read it back with `server::port()`). Default 2575.
    std::uint16_t port = 2575;

    /** Most connections served at once. Default 4096. A connection beyond
        it is accepted and closed at once (and reported as
        `mllp::error::connection_limit`); existing ones are not affected.
        An idle connection costs about 20 KiB and one file descriptor: raise
        the process's RLIMIT_NOFILE (`ulimit -n`, often 1024) to use more
        than about a thousand. */
    std::size_t max_connections = 4096;

    /** A connection on which no frame starts for this long (while its
        handler waits for one, counted from accept or the last frame) is
        closed: its read throws `mllp::timeout_error` (`idle_timeout`).
        Default 10 minutes: long enough for feeds that keep a connection
        open between bursts (senders reconnect when needed), short enough
        that dead or abandoned peers do not hold slots for long. */
    std::chrono::steady_clock::duration idle_timeout = std::chrono::minutes(10);

    /** A frame must be complete this long after its first byte arrived, or
        the connection is closed (`frame_timeout`). Bounds slow-loris peers
        and frames that never end. Default 60 s (16 MiB needs about 2.2 Mbit/s). */
    std::chrono::steady_clock::duration frame_timeout = std::chrono::seconds(60);

    /** After a read returned a frame, the handler must read again (or
        return) within this, or the connection is closed and the handler
        cancelled (its pending operation throws; `handler_timeout`). Bounds
        a handler stuck on one message, including one blocked in `drain()`
        by a peer that never reads its ACKs. Default 60 s. Turn it off for
        handlers that legitimately hold a connection without reading. */
    std::chrono::steady_clock::duration handler_timeout = std::chrono::seconds(60);

    /** Queued output the peer does not accept a single byte of for this
        long closes the connection (`write_timeout`); also bounds the flush
        when a handler returns. Default 60 s. */
    std::chrono::steady_clock::duration write_timeout = std::chrono::seconds(60);

    /** Most bytes queued unsent on one connection. A write that would queue
        more closes the connection (`write_queue_full`; the write throws).
        A single frame into an empty queue is always accepted, so answers
        larger than this still work. Default 1 MiB: an ACK is a few hundred
        bytes; a handler that awaits `drain()` never comes near it. */
    std::size_t max_write_queue = std::size_t{1} << 20;

    /// listen() backlog. Default: the system's maximum.
    int backlog = asio::socket_base::max_listen_connections;

    /// SO_REUSEADDR, so a restarted receiver can bind at once. Default on.
    bool reuse_address = true;

    /** Per-connection settings: `max_frame_size` (16 MiB), `framing`
        (lenient), `parse`, `read_timeout` (off), `no_delay` (on). */
    connection_options connection{};

    /** Called for refused connections, connections closed by a limit,
        handlers that ended with an exception (except the normal end of a
        connection: `end_of_stream`, `connection_closed`), and accept errors.
        Called on the connection's strand: with several threads it must be
        thread-safe. Must not throw. Default: none. */
    std::function<void(server_event const&)> on_error{};
};

namespace detail {

class server_state : public std::enable_shared_from_this<server_state>
{
public:
    server_state(asio::any_io_executor ex, client_connected_cb cb, server_options options)
        : base_(ex),
          strand_(asio::make_strand(ex)),
          acceptor_(strand_),
          cb_(std::move(cb)),
          options_(std::move(options)),
          close_requested_(ex),
          closed_(ex)
    {
    }

    void
    listen(asio::ip::tcp::endpoint const& endpoint)
    {
        acceptor_.open(endpoint.protocol());
        if (options_.reuse_address)
            acceptor_.set_option(asio::socket_base::reuse_address(true));
        acceptor_.bind(endpoint);
        acceptor_.listen(options_.backlog);
        local_ = acceptor_.local_endpoint();
    }

    static asio::awaitable<void>
    accept_loop(std::shared_ptr<server_state> self)
    {
        constexpr auto as_tuple = asio::experimental::as_tuple(asio::use_awaitable);
        for (;;) {
            // Each connection gets a strand of its own: safe when the
            // io_context runs on several threads, free when it does not.
            asio::ip::tcp::socket socket(asio::make_strand(self->base_));
            auto [ec] = co_await self->acceptor_.async_accept(socket, as_tuple);
            if (self->is_closing() || !self->acceptor_.is_open())
                break;
            if (ec) {
                self->report({{}, ec, nullptr});
                if (ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space ||
                    ec == asio::error::no_memory ||
                    (ec.value() == ENFILE && ec.category() == asio::error::get_system_category())) {
                    // Out of descriptors or memory: back off instead of spinning;
                    // the pending connection stays in the backlog.
                    asio::steady_timer pause(self->strand_, std::chrono::milliseconds(100));
                    co_await pause.async_wait(as_tuple);
                }
                continue;
            }
            if (self->count_.load() >= self->options_.max_connections) {
                std::error_code ignored;
                auto peer = socket.remote_endpoint(ignored);
                socket.close(ignored);
                ++self->refused_;
                self->report({peer, mllp::make_error_code(mllp::error::connection_limit), nullptr});
                continue;
            }
            self->start_connection(std::move(socket));
        }
        {
            std::lock_guard lock(self->mu_);
            self->accepting_ = false;
        }
        self->maybe_finished();
    }

    void
    close()
    {
        std::vector<std::shared_ptr<connection_state>> connections;
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
        asio::post(strand_, [self = shared_from_this()] {
            std::error_code ignored;
            self->acceptor_.close(ignored); // ends async_accept
        });
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

    asio::ip::tcp::endpoint
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

private:
    void
    start_connection(asio::ip::tcp::socket socket)
    {
        connection_limits const limits{options_.idle_timeout, options_.frame_timeout, options_.handler_timeout,
                                       options_.write_timeout, options_.max_write_queue};
        auto conn = std::make_shared<connection_state>(std::move(socket), options_.connection, limits);
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
        asio::post(conn->get_executor(), [self = shared_from_this(), conn] { self->run(conn); });
    }

    void
    run(std::shared_ptr<connection_state> const& conn)
    {
        // Hooks hold the server weakly: a connection must not keep it alive.
        std::weak_ptr<server_state> weak = shared_from_this();
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
        // its socket is closed, cancellable through the connection.
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
    handler_done(std::shared_ptr<connection_state> const& conn, std::exception_ptr e)
    {
        if (e)
            report_exception(*conn, e);
        conn->handler_returned();
        conn->close(); // queued answers are still sent (bounded by write_timeout)
        connection_finished(conn.get(), true);
    }

    void
    report_exception(connection_state const& conn, std::exception_ptr e)
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

    void
    report(server_event const& event) noexcept
    {
        if (!options_.on_error)
            return;
        try {
            options_.on_error(event);
        } catch (...) {
        }
    }

    // A connection is done when its handler returned and its socket is
    // closed, in either order; only then does it stop counting.
    void
    connection_finished(connection_state* key, bool handler)
    {
        {
            std::lock_guard lock(mu_);
            auto it = connections_.find(key);
            if (it == connections_.end())
                return;
            (handler ? it->second.handler_done : it->second.socket_closed) = true;
            if (!it->second.handler_done || !it->second.socket_closed)
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
            if (!closing_ || accepting_ || !connections_.empty() || finished_)
                return;
            finished_ = true;
        }
        closed_.set();
    }

    asio::any_io_executor base_;
    asio::strand<asio::any_io_executor> strand_;
    asio::ip::tcp::acceptor acceptor_;
    client_connected_cb const cb_;
    server_options const options_;
    asio::ip::tcp::endpoint local_;

    struct tracked
    {
        std::shared_ptr<connection_state> conn;
        bool handler_done = false;
        bool socket_closed = false;
    };

    mutable std::mutex mu_;
    std::unordered_map<connection_state*, tracked> connections_;
    bool closing_ = false;
    bool accepting_ = true;
    bool finished_ = false;
    std::atomic<std::size_t> count_{0};
    std::atomic<std::uint64_t> accepted_{0};
    std::atomic<std::uint64_t> refused_{0};

    net_waiters close_requested_;
    net_waiters closed_;
};

} // namespace detail

/** A listening MLLP server (asyncio's `Server`), from `start_hl7_server()`.

    It accepts from the moment it is started until `close()`. Each accepted
    connection runs the handler in a coroutine the server owns: tracked
    (`connection_count()`), closed on `close()` and awaited by
    `wait_closed()`. An exception from a handler ends only that connection
    (it is reported to `server_options::on_error`).

    @par Closing
    `close()` stops accepting and ends the connections: a handler waiting
    for a frame has that read throw `incomplete_read_error`
    (`connection_closed`); one busy with a message may finish and answer it,
    and its next read throws. Queued answers are sent before each socket
    closes. `wait_closed()` completes when every connection is closed.
    Destroying the server closes it (it does not wait); handlers still
    running keep what they need alive. Destroy it before its io_context.

    @par Thread safety
    `close()`, `port()`, `local_endpoint()` and the counters may be called
    from any thread. The io_context may be run by several threads: every
    connection has its own strand.
*/
class server
{
public:
    explicit server(std::shared_ptr<detail::server_state> state) noexcept : state_(std::move(state)) {}

    server(server&&) noexcept = default;

    server&
    operator=(server&& other) noexcept
    {
        if (this != &other) {
            if (state_)
                state_->close();
            state_ = std::move(other.state_);
        }
        return *this;
    }

    ~server()
    {
        if (state_)
            state_->close();
    }

    /** Waits until the server is closed (by `close()`, from anywhere).
        Returns normally then; connections may still be finishing
        (`wait_closed()`). If the awaiting coroutine is cancelled, closes the
        server (as asyncio does) and throws `operation_aborted`. */
    asio::awaitable<void>
    serve_forever()
    {
        auto state = state_;
        auto [ec] = co_await state->close_requested().async_wait(asio::experimental::as_tuple(asio::use_awaitable));
        if (ec) {
            state->close();
            throw std::system_error(ec);
        }
    }

    /// Stops accepting and closes every connection (see Closing). Idempotent.
    void
    close()
    {
        if (state_)
            state_->close();
    }

    /// Waits until close() was called and every connection is closed.
    asio::awaitable<void>
    wait_closed()
    {
        auto state = state_;
        co_await state->closed().async_wait(asio::use_awaitable);
    }

    /// False once close() was called.
    bool
    is_serving() const
    {
        return state_ && !state_->is_closing();
    }

    /// The bound address (with the real port when 0 was asked for).
    asio::ip::tcp::endpoint
    local_endpoint() const noexcept
    {
        return state_->local_endpoint();
    }

    std::uint16_t
    port() const noexcept
    {
        return state_->local_endpoint().port();
    }

    /// Connections whose handler is still running or whose socket is still open.
    std::size_t
    connection_count() const noexcept
    {
        return state_->connection_count();
    }

    /// Connections accepted and served so far.
    std::uint64_t
    accepted_count() const noexcept
    {
        return state_->accepted_count();
    }

    /// Connections closed at once because of `max_connections`.
    std::uint64_t
    refused_count() const noexcept
    {
        return state_->refused_count();
    }

    asio::any_io_executor
    get_executor() const noexcept
    {
        return state_->get_executor();
    }

private:
    std::shared_ptr<detail::server_state> state_;
};

/** Starts an MLLP server (python-hl7's `start_hl7_server`): binds, listens
    and accepts from now on, calling `cb` for each connection.

    <!-- doc-test: coroutine body -->
    @code
    auto server = co_await hl7::start_hl7_server(
        [](hl7::stream_reader reader, hl7::stream_writer writer) -> asio::awaitable<void> {
            try {
                for (;;) {
                    hl7::message msg = co_await reader.readmessage();
                    writer.writemessage(msg.create_ack());
                    co_await writer.drain();
                }
            } catch (hl7::mllp::incomplete_read_error const&) {
            }
        },
        {.port = 2575});
    co_await server.serve_forever();
    @endcode

    Throws `std::system_error` if the address cannot be bound (e.g. in use).
    The server runs on the calling coroutine's executor's execution context:
    run the io_context on as many threads as wanted; spawn the calling
    coroutine on the io_context's executor (not a strand) to let connections
    run in parallel.
*/
inline asio::awaitable<server>
start_hl7_server(client_connected_cb cb, server_options options = {})
{
    if (!cb)
        throw std::invalid_argument("start_hl7_server: empty connection handler");
    auto ex = co_await asio::this_coro::executor;
    asio::ip::tcp::endpoint endpoint;
    std::error_code ec;
    auto address = asio::ip::make_address(options.host, ec);
    if (!ec) {
        endpoint = {address, options.port};
    } else {
        asio::ip::tcp::resolver resolver(ex);
        auto results = co_await resolver.async_resolve(options.host, std::to_string(options.port),
                                                       asio::ip::tcp::resolver::passive, asio::use_awaitable);
        if (results.empty())
            throw std::system_error(asio::error::host_not_found, options.host);
        endpoint = *results.begin();
    }
    auto state = std::make_shared<detail::server_state>(ex, std::move(cb), std::move(options));
    try {
        state->listen(endpoint);
    } catch (std::system_error const& e) {
        throw std::system_error(e.code(), "listen on " + endpoint.address().to_string() + ":" +
                                              std::to_string(endpoint.port()));
    }
    asio::co_spawn(state->strand(), detail::server_state::accept_loop(state), asio::detached);
    co_return server(std::move(state));
}

} // namespace hl7

#endif
