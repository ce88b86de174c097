#ifndef HL7_SERVER_HPP
#define HL7_SERVER_HPP

// start_hl7_server and hl7::server: python-hl7's start_hl7_server / asyncio
// Server, with the limits a receiver on a hospital network needs (all in
// hl7/net/options.hpp). The server itself is the same for every transport;
// this header starts one on TCP (hl7/net/unix.hpp: UNIX-domain sockets).

#include <hl7/detail/asio_config.hpp>
#include <hl7/net/endpoint.hpp>
#include <hl7/net/options.hpp>
#include <hl7/net/stream_reader.hpp>
#include <hl7/net/stream_writer.hpp>
#include <hl7/net/detail/server_state.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/ip/address.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

namespace hl7 {

/// A connection handler: called once per accepted connection, on that
/// connection's own strand; the connection is closed when it returns.
using client_connected_cb = std::function<asio::awaitable<void>(stream_reader, stream_writer)>;

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
    explicit server(std::shared_ptr<detail::server_core> state) noexcept : state_(std::move(state)) {}

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
        return serve_forever_impl(state_);
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
        return wait_closed_impl(state_);
    }

    /// False once close() was called.
    bool
    is_serving() const
    {
        return state_ && !state_->is_closing();
    }

    /// The bound address: IP address and port (the real port when 0 was
    /// asked for), or the socket's path for a UNIX-domain server.
    endpoint
    local_endpoint() const
    {
        return state_->local_endpoint();
    }

    /// The bound TCP port (0 for a UNIX-domain server).
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
    // Coroutines that own what they use (the public members are plain functions).
    static asio::awaitable<void>
    serve_forever_impl(std::shared_ptr<detail::server_core> state)
    {
        auto [ec] = co_await state->close_requested().async_wait(asio::experimental::as_tuple(asio::use_awaitable));
        if (ec) {
            state->close();
            throw std::system_error(ec);
        }
    }

    static asio::awaitable<void>
    wait_closed_impl(std::shared_ptr<detail::server_core> state)
    {
        co_await state->closed().async_wait(asio::use_awaitable);
    }

    std::shared_ptr<detail::server_core> state_;
};

namespace detail {

struct server_request
{
    client_connected_cb cb;
    server_options options;
};

// The address a TCP server listens on: options.host (an address, or a
// name resolved for listening) and options.port.
inline asio::awaitable<asio::ip::tcp::endpoint>
listen_endpoint(server_options const& options)
{
    std::string const host = options.host.str();
    std::uint16_t const port = options.port;
    std::error_code ec;
    auto address = asio::ip::make_address(host, ec);
    if (!ec)
        co_return asio::ip::tcp::endpoint(address, port);
    asio::ip::tcp::resolver resolver(co_await asio::this_coro::executor);
    auto results = co_await resolver.async_resolve(host, std::to_string(port), asio::ip::tcp::resolver::passive,
                                                   asio::use_awaitable);
    if (results.empty())
        throw std::system_error(asio::error::host_not_found, host);
    co_return *results.begin();
}

// Binds and listens `state` (a server_state over asio::ip::tcp::acceptor or
// derived from it) on options.host:port, then starts accepting.
template<class State>
asio::awaitable<void>
listen_tcp(std::shared_ptr<State> const& state, server_options const& options)
{
    auto const ep = co_await listen_endpoint(options);
    try {
        state->listen(ep, options.reuse_address);
    } catch (std::system_error const& e) {
        throw std::system_error(e.code(), "listen on " + endpoint::from(ep).to_string());
    }
    state->start();
}

inline asio::awaitable<server>
start_tcp_server(server_request request)
{
    if (!request.cb)
        throw std::invalid_argument("start_hl7_server: empty connection handler");
    auto ex = co_await asio::this_coro::executor;
    server_options const& options = request.options;
    auto state = std::make_shared<server_state<asio::ip::tcp::acceptor>>(ex, std::move(request.cb), options);
    co_await listen_tcp(state, options);
    co_return server(std::move(state));
}

} // namespace detail

/** Starts an MLLP server on TCP (python-hl7's `start_hl7_server`): binds,
    listens and accepts from now on, calling `cb` for each connection.

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

    Arguments may be spelled any way (braced options, temporaries): they are
    moved into the operation before it starts.
*/
inline asio::awaitable<server>
start_hl7_server(client_connected_cb cb, server_options options = {})
{
    detail::server_request request{std::move(cb), std::move(options)};
    return detail::start_tcp_server(std::move(request));
}

} // namespace hl7

#endif
