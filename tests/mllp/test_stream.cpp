// Test that header file is self-contained.
#include <hl7/mllp/stream.hpp>

#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/local/connect_pair.hpp>
#include <asio/local/stream_protocol.hpp>
#include <asio/use_awaitable.hpp>
#include "mllp_use_future.hpp"
#include <asio/write.hpp>

#include <catch2/catch.hpp>

#include <string>
#include <thread>

using hl7::mllp::error;
using tcp = asio::ip::tcp;
constexpr auto tuple_awaitable = asio::experimental::as_tuple(asio::use_awaitable);

TEST_CASE("mllp::stream over TCP on loopback: blocks both ways", "[mllp][stream]")
{
    asio::io_context ctx;
    tcp::acceptor acceptor(ctx, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    hl7::mllp::stream<tcp::socket> client(ctx);
    client.next_layer().connect(acceptor.local_endpoint());
    hl7::mllp::stream<tcp::socket> server(acceptor.accept());
    static_assert(std::is_same_v<decltype(client)::executor_type, tcp::socket::executor_type>);

    auto echo = asio::co_spawn(
        ctx,
        [&]() -> asio::awaitable<int> {
            int n = 0;
            for (;;) {
                auto [ec, block] = co_await server.async_read_block(tuple_awaitable);
                if (ec == error::end_of_stream)
                    co_return n;
                REQUIRE_FALSE(ec);
                ++n;
                std::string reply = "ACK:" + std::string(block);
                co_await server.async_write_block(reply, asio::use_awaitable);
            }
        },
        asio::use_future);
    auto talk = asio::co_spawn(
        ctx,
        [&]() -> asio::awaitable<void> {
            for (int i = 0; i < 50; ++i) {
                std::string msg = "MSH|^~\\&|" + std::to_string(i) + "|\xc3\xa9\r";
                co_await client.async_write_block(msg, asio::use_awaitable);
                std::string_view reply = co_await client.async_read_block(asio::use_awaitable);
                REQUIRE(reply == "ACK:" + msg);
            }
            client.next_layer().shutdown(tcp::socket::shutdown_send);
        },
        asio::use_future);
    ctx.run();
    talk.get();
    CHECK(echo.get() == 50);
}

TEST_CASE("mllp::stream<socket&> and the blocking calls", "[mllp][stream]")
{
    asio::io_context ctx;
    asio::local::stream_protocol::socket a(ctx), b(ctx);
    asio::local::connect_pair(a, b);
    hl7::mllp::stream<asio::local::stream_protocol::socket&> sa(a), sb(b);
    CHECK(&sa.next_layer() == &a);

    sa.write_block("one");
    asio::write(a, asio::buffer(std::string("\r\n\x0btwo\x1c\x0d\x0bthree\x1c")));
    CHECK(sb.read_block() == "one");
    CHECK(sb.read_block() == "two");
    a.close();
    try {
        sb.read_block();
        FAIL("expected an incomplete read");
    } catch (hl7::mllp::incomplete_read_error const& e) {
        CHECK(e.code() == error::incomplete_frame);
        CHECK(e.partial() == "\x0bthree\x1c");
    }
    std::error_code ec;
    sb.read_block(ec);
    CHECK(ec == error::end_of_stream);
}

TEST_CASE("mllp::stream: decoder settings apply to reads", "[mllp][stream][limits]")
{
    asio::io_context ctx;
    asio::local::stream_protocol::socket a(ctx), b(ctx);
    asio::local::connect_pair(a, b);
    hl7::mllp::stream<asio::local::stream_protocol::socket&> sb(b);
    sb.decoder().max_frame_size(8);
    sb.decoder().policy(hl7::mllp::framing::strict);
    asio::write(a, asio::buffer(std::string("\x0b" "123456789\x1c\x0d" "\n\x0bx\x1c\x0d\x0bok\x1c\x0d")));
    CHECK_THROWS_AS(sb.read_block(), hl7::mllp::frame_too_large_error);
    CHECK_THROWS_AS(sb.read_block(), hl7::mllp::invalid_block_error);
    CHECK(sb.read_block() == "ok");
}
