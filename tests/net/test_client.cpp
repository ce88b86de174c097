// Test that header file is self-contained.
#include <hl7/net/open_connection.hpp>

#include "mllp_net_helpers.hpp"

#include <catch2/catch.hpp>

#include <list>

using namespace hl7_test;
using hl7::mllp::error;

TEST_CASE("open_hl7_connection: refused, names, wrapping a socket", "[mllp][client]")
{
    asio::io_context ctx;
    run(ctx, [&]() -> asio::awaitable<void> {
        // A port nobody listens on: take a free one and close it again.
        std::uint16_t free_port;
        {
            tcp::acceptor a(ctx, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
            free_port = a.local_endpoint().port();
        }
        try {
            co_await hl7::open_hl7_connection("127.0.0.1", free_port);
            FAIL("connected");
        } catch (hl7::mllp::timeout_error const&) {
            FAIL("refused is not a timeout");
        } catch (std::system_error const& e) {
            CHECK(e.code() == asio::error::connection_refused);
        }

        tcp::acceptor acceptor(ctx, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
        auto port = acceptor.local_endpoint().port();
        // A host name is resolved.
        auto [reader, writer] = co_await hl7::open_hl7_connection("localhost", port);
        auto server_side = co_await acceptor.async_accept(asio::use_awaitable);
        CHECK(writer.peername().port() == port);
        // make_hl7_connection wraps an accepted socket.
        auto [sreader, swriter] = hl7::make_hl7_connection(std::move(server_side));
        writer.writeblock("ping");
        auto const got3 = co_await sreader.readblock();
        CHECK(got3 == "ping");
        swriter.writeblock("pong");
        auto const got4 = co_await reader.readblock();
        CHECK(got4 == "pong");
    });
}

TEST_CASE("open_hl7_connection: connect timeout", "[mllp][client][timeout]")
{
    asio::io_context ctx;
    run(ctx, [&]() -> asio::awaitable<void> {
        // A listener with a full accept queue: further connects get no answer.
        tcp::acceptor acceptor(ctx);
        tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
        acceptor.open(ep.protocol());
        acceptor.bind(ep);
        acceptor.listen(0);
        std::list<tcp::socket> fillers;
        for (int i = 0; i < 3; ++i) {
            auto& s = fillers.emplace_back(ctx);
            s.async_connect(acceptor.local_endpoint(), [](std::error_code) {});
        }
        co_await sleep_for(50ms);
        hl7::connection_options options;
        options.connect_timeout = 200ms;
        auto const t0 = std::chrono::steady_clock::now();
        try {
            co_await hl7::open_hl7_connection("127.0.0.1", acceptor.local_endpoint().port(), options);
            FAIL("connected");
        } catch (hl7::mllp::timeout_error const& e) {
            CHECK(e.code() == error::connect_timeout);
            CHECK(e.code() == std::errc::timed_out);
        }
        auto const elapsed = std::chrono::steady_clock::now() - t0;
        CHECK(elapsed >= 200ms);
        CHECK(elapsed < 3s);
        for (auto& s : fillers)
            s.close();
    });
}

TEST_CASE("open_hl7_connection: read timeout leaves the connection usable", "[mllp][client][timeout]")
{
    asio::io_context ctx;
    run(ctx, [&]() -> asio::awaitable<void> {
        tcp::acceptor acceptor(ctx, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
        hl7::connection_options options;
        options.read_timeout = 100ms;
        auto [reader, writer] = co_await hl7::open_hl7_connection("127.0.0.1", acceptor.local_endpoint().port(), options);
        auto peer = co_await acceptor.async_accept(asio::use_awaitable);
        co_await raw_send(peer, "\x0bMSH|^~\\&|half");
        try {
            co_await reader.readmessage();
            FAIL("no timeout");
        } catch (hl7::mllp::timeout_error const& e) {
            CHECK(e.code() == error::read_timeout);
        }
        CHECK_FALSE(writer.is_closing());
        co_await raw_send(peer, "||||||ACK|1|P|2.4\r\x1c\x0d");
        auto ack = co_await reader.readmessage();
        CHECK(ack["MSH.10"] == "1");
        // A closed peer is still reported as such, not as a timeout.
        peer.close();
        bool const threw1 = co_await throws_as<hl7::mllp::incomplete_read_error>(reader.readmessage());
        CHECK(threw1);
    });
}

TEST_CASE("stream_writer: writes go out without drain, close flushes, errors", "[mllp][client]")
{
    asio::io_context ctx;
    run(ctx, [&]() -> asio::awaitable<void> {
        tcp::acceptor acceptor(ctx, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
        auto [reader, writer] = co_await hl7::open_hl7_connection("127.0.0.1", acceptor.local_endpoint().port());
        auto peer = co_await acceptor.async_accept(asio::use_awaitable);
        // 8 MiB in frames, never drained, then close(): all of it arrives, then EOF.
        std::string const block(64 * 1024, 'q');
        for (int i = 0; i < 128; ++i)
            writer.writeblock(block);
        CHECK(writer.write_buffer_size() > 0); // more than the socket took at once
        writer.close();
        CHECK(writer.is_closing());
        CHECK_THROWS_AS(writer.writeblock("late"), std::system_error);
        bool const threw2 = co_await throws_as<hl7::mllp::incomplete_read_error>(reader.readblock());
        CHECK(threw2);
        auto [bytes, ec] = co_await raw_read_to_end(peer);
        CHECK(ec == asio::error::eof);
        CHECK(bytes.size() == 128 * (block.size() + 3));
        co_await writer.wait_closed();
        co_await writer.drain(); // nothing queued, no error
    });
    run(ctx, [&]() -> asio::awaitable<void> {
        // A peer that resets: drain() reports the failure.
        tcp::acceptor acceptor(ctx, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
        auto [reader, writer] = co_await hl7::open_hl7_connection("127.0.0.1", acceptor.local_endpoint().port());
        auto peer = co_await acceptor.async_accept(asio::use_awaitable);
        peer.set_option(asio::socket_base::linger(true, 0));
        peer.close(); // RST
        co_await sleep_for(20ms);
        std::string const block(256 * 1024, 'r');
        bool failed = false;
        for (int i = 0; i < 50 && !failed; ++i) {
            try {
                writer.writeblock(block);
                co_await writer.drain();
            } catch (std::system_error const&) {
                failed = true;
            }
        }
        CHECK(failed);
        CHECK(writer.is_closing());
        co_await writer.wait_closed();
    });
}
