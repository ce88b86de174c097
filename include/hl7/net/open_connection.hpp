#ifndef HL7_CLIENT_HPP
#define HL7_CLIENT_HPP

// open_hl7_connection: python-hl7's coroutine of the same name.

#include <hl7/detail/asio_config.hpp>
#include <hl7/net/options.hpp>
#include <hl7/net/detail/connection_state.hpp>
#include <hl7/mllp/error.hpp>
#include <hl7/net/stream_reader.hpp>
#include <hl7/net/stream_writer.hpp>
#include <hl7/net/wait_for.hpp>

#include <asio/awaitable.hpp>
#include <asio/connect.hpp>
#include <asio/error.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/ip/address.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <system_error>
#include <utility>

namespace hl7 {

/** Wraps a connected TCP socket as an MLLP connection.

    The connection runs on the socket's executor (use a strand when the
    io_context runs on several threads). Sets TCP_NODELAY unless
    `options.no_delay` is off.
*/
inline std::pair<stream_reader, stream_writer>
make_hl7_connection(asio::ip::tcp::socket socket, connection_options const& options = {})
{
    auto state = std::make_shared<detail::connection_state>(std::move(socket), options);
    state->start();
    return {stream_reader(state), stream_writer(state)};
}

/** Connects to an MLLP receiver (python-hl7's `open_hl7_connection`).

    <!-- doc-test: coroutine body -->
    @code
    auto [reader, writer] = co_await hl7::open_hl7_connection("127.0.0.1", 2575);
    writer.writemessage(msg);
    co_await writer.drain();
    hl7::message ack = co_await hl7::wait_for(reader.readmessage(), 10s);
    @endcode

    `host` is an IPv4/IPv6 address or a name (resolved; each address is
    tried in turn). Resolving plus connecting is bounded by
    `options.connect_timeout` (default 10 s): past it, this throws
    `mllp::timeout_error` with `mllp::error::connect_timeout`. Other failures
    throw `std::system_error` (e.g. `connection_refused`). Cancelling the
    awaiting coroutine cancels the connect (name resolution itself cannot be
    interrupted in Asio 1.22; it ends by the timeout or by itself).

    The connection runs on the calling coroutine's executor. If the
    io_context runs on several threads, spawn that coroutine on a strand.
*/
inline asio::awaitable<std::pair<stream_reader, stream_writer>>
open_hl7_connection(std::string host, std::uint16_t port, connection_options options = {})
{
    using asio::ip::tcp;
    constexpr auto as_tuple = asio::experimental::as_tuple(asio::use_awaitable);
    auto ex = co_await asio::this_coro::executor;

    // Shared with the timer's handler, which may outlive this frame.
    struct attempt
    {
        explicit attempt(asio::any_io_executor const& e) : resolver(e), socket(e) {}
        tcp::resolver resolver;
        tcp::socket socket;
        bool timed_out = false;
        bool done = false;
    };
    auto a = std::make_shared<attempt>(ex);

    asio::steady_timer timer(ex);
    if (options.connect_timeout > std::chrono::steady_clock::duration::zero()) {
        timer.expires_at(detail::net_deadline(options.connect_timeout));
        timer.async_wait([a](std::error_code ec) {
            if (ec || a->done)
                return;
            a->timed_out = true;
            a->resolver.cancel();
            std::error_code ignored;
            a->socket.close(ignored); // ends async_connect with operation_aborted
        });
    }

    std::error_code ec;
    asio::ip::address address = asio::ip::make_address(host, ec);
    if (!ec) {
        auto [cec] = co_await a->socket.async_connect(tcp::endpoint(address, port), as_tuple);
        ec = cec;
    } else {
        auto [rec, endpoints] = co_await a->resolver.async_resolve(host, std::to_string(port), as_tuple);
        ec = rec;
        if (!ec && !a->timed_out) {
            auto [cec, endpoint] = co_await asio::async_connect(a->socket, endpoints, as_tuple);
            ec = cec;
        }
    }
    a->done = true;
    timer.cancel();
    if (a->timed_out)
        throw mllp::timeout_error(mllp::make_error_code(mllp::error::connect_timeout));
    if (ec)
        throw std::system_error(ec, "connect to " + host + ":" + std::to_string(port));
    co_return make_hl7_connection(std::move(a->socket), options);
}

} // namespace hl7

#endif
