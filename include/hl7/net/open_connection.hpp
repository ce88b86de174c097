#ifndef HL7_CLIENT_HPP
#define HL7_CLIENT_HPP

// open_hl7_connection: python-hl7's coroutine of the same name (TCP).

#include <hl7/detail/asio_config.hpp>
#include <hl7/mllp/error.hpp>
#include <hl7/net/connection.hpp>
#include <hl7/net/options.hpp>
#include <hl7/net/stream_reader.hpp>
#include <hl7/net/stream_writer.hpp>
#include <hl7/net/detail/connect.hpp>

#include <asio/awaitable.hpp>
#include <asio/connect.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/ip/address.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <system_error>
#include <utility>

namespace hl7 {

namespace detail {

struct tcp_connect_request
{
    std::string host;
    std::uint16_t port;
    connection_options options;
};

// Resolves and connects, bounded by options.connect_timeout; throws as
// open_hl7_connection. The TLS client starts its handshake on the result.
inline asio::awaitable<asio::ip::tcp::socket>
connect_tcp(tcp_connect_request const& request)
{
    using asio::ip::tcp;
    constexpr auto as_tuple = asio::experimental::as_tuple(asio::use_awaitable);
    auto ex = co_await asio::this_coro::executor;

    struct attempt
    {
        explicit attempt(asio::any_io_executor const& e) : resolver(e), socket(e) {}
        tcp::resolver resolver;
        tcp::socket socket;
    };
    auto a = std::make_shared<attempt>(ex);
    connect_deadline deadline(ex, request.options.connect_timeout, [a] {
        a->resolver.cancel();
        std::error_code ignored;
        a->socket.close(ignored); // ends async_connect with operation_aborted
    });

    std::error_code ec;
    asio::ip::address address = asio::ip::make_address(request.host, ec);
    if (!ec) {
        auto [cec] = co_await a->socket.async_connect(tcp::endpoint(address, request.port), as_tuple);
        ec = cec;
    } else {
        auto [rec, endpoints] = co_await a->resolver.async_resolve(request.host, std::to_string(request.port), as_tuple);
        ec = rec;
        if (!ec && !deadline.expired()) {
            auto [cec, endpoint] = co_await asio::async_connect(a->socket, endpoints, as_tuple);
            ec = cec;
        }
    }
    deadline.finish(ec, "connect to " + request.host + ":" + std::to_string(request.port));
    co_return std::move(a->socket);
}

inline asio::awaitable<std::pair<stream_reader, stream_writer>>
open_tcp_connection(tcp_connect_request request)
{
    auto socket = co_await connect_tcp(request);
    co_return make_hl7_connection(std::move(socket), request.options);
}

} // namespace detail

/** Connects to an MLLP receiver over TCP (python-hl7's `open_hl7_connection`).

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

    Arguments may be spelled any way (braced options, literals, temporaries):
    they are moved into the operation before it starts.
*/
inline asio::awaitable<std::pair<stream_reader, stream_writer>>
open_hl7_connection(std::string host, std::uint16_t port, connection_options options = {})
{
    detail::tcp_connect_request request{std::move(host), port, std::move(options)};
    return detail::open_tcp_connection(std::move(request));
}

} // namespace hl7

#endif
