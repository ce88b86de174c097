// Test that header file is self-contained.
#include <hl7/net/server.hpp>

#include "mllp_net_helpers.hpp"

#include <hl7/model/ack.hpp>
#include <hl7/net/open_connection.hpp>

#include <catch2/catch.hpp>

#include <list>
#include <vector>

using namespace hl7_test;
using hl7::mllp::error;

namespace {

// What a handler saw, for checking after the fact.
struct outcome
{
    std::error_code ec;
    bool ended = false;
    std::size_t max_queued = 0;
    std::size_t decoder_capacity = 0;
};

std::vector<std::error_code>
codes(std::vector<hl7::server_event> const& events)
{
    std::vector<std::error_code> out;
    for (auto const& e : events)
        out.push_back(e.ec);
    return out;
}

// A client socket with a tiny receive buffer that never reads: it stops
// taking our data soon.
asio::awaitable<tcp::socket>
non_reading_client(std::uint16_t port)
{
    tcp::socket s(co_await asio::this_coro::executor);
    s.open(tcp::v4());
    s.set_option(asio::socket_base::receive_buffer_size(4096));
    co_await s.async_connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), asio::use_awaitable);
    co_return s;
}

} // namespace

TEST_CASE("server limits: documented defaults", "[mllp][limits]")
{
    hl7::server_options const o;
    CHECK(o.max_connections == 4096);
    CHECK(o.idle_timeout == std::chrono::minutes(10));
    CHECK(o.frame_timeout == std::chrono::seconds(60));
    CHECK(o.handler_timeout == std::chrono::seconds(60));
    CHECK(o.write_timeout == std::chrono::seconds(60));
    CHECK(o.max_write_queue == (1u << 20));
    CHECK(o.port == 2575);
    CHECK(o.connection.max_frame_size == (16u << 20));
    CHECK(o.connection.framing == hl7::mllp::framing::lenient);
    CHECK(o.connection.read_timeout == std::chrono::steady_clock::duration::zero());
    CHECK(o.connection.connect_timeout == std::chrono::seconds(10));
}

TEST_CASE("server limits: a thousand idle connections coexist with new clients by default", "[mllp][limits]")
{
    int const idle = 1000;
    REQUIRE(raise_open_files(2 * idle + 256) >= static_cast<rlim_t>(2 * idle + 64)); // both ends are in this process
    asio::io_context ctx;
    run(ctx, [&]() -> asio::awaitable<void> {
        auto server = co_await hl7::start_hl7_server(ack_handler, loopback_options());
        std::list<tcp::socket> sockets;
        for (int i = 0; i < idle; ++i)
            sockets.push_back(co_await raw_connect(server.port()));
        for (int i = 0; i < 400 && server.connection_count() < static_cast<std::size_t>(idle); ++i)
            co_await sleep_for(5ms);
        CHECK(server.connection_count() == static_cast<std::size_t>(idle));
        auto [reader, writer] = co_await hl7::open_hl7_connection("127.0.0.1", server.port());
        writer.writemessage(hl7::parse(sample_message("FRESH")));
        auto ack = co_await hl7::wait_for(reader.readmessage(), 5s);
        CHECK(ack["MSA.1"] == "AA");
        CHECK(ack["MSA.2"] == "FRESH");
        CHECK(server.refused_count() == 0);
        server.close();
        co_await hl7::wait_for(server.wait_closed(), 10s);
    });
}

TEST_CASE("server limits: max_connections closes extra connections, existing ones unaffected", "[mllp][limits]")
{
    asio::io_context ctx;
    std::vector<hl7::server_event> events;
    run(ctx, [&]() -> asio::awaitable<void> {
        auto options = loopback_options();
        options.max_connections = 3;
        options.on_error = [&](hl7::server_event const& e) { events.push_back(e); };
        auto server = co_await hl7::start_hl7_server(ack_handler, options);
        std::vector<std::pair<hl7::stream_reader, hl7::stream_writer>> clients;
        for (int i = 0; i < 3; ++i)
            clients.push_back(co_await hl7::open_hl7_connection("127.0.0.1", server.port()));
        while (server.connection_count() < 3)
            co_await sleep_for(1ms);

        // The fourth is accepted and closed at once.
        auto extra = co_await raw_connect(server.port());
        auto [bytes, ec] = co_await hl7::wait_for(raw_read_to_end(extra), 5s);
        CHECK(bytes.empty());
        CHECK(ec);
        CHECK(server.refused_count() == 1);
        CHECK(server.connection_count() == 3);

        // The others still work.
        for (int i = 0; i < 3; ++i) {
            auto& [r, w] = clients[static_cast<std::size_t>(i)];
            w.writemessage(hl7::parse(sample_message("K" + std::to_string(i))));
            auto ack = co_await r.readmessage();
            CHECK(ack["MSA.2"] == "K" + std::to_string(i));
        }
        // A slot that frees up is used again.
        clients.back().second.close();
        co_await clients.back().second.wait_closed();
        clients.pop_back();
        while (server.connection_count() > 2)
            co_await sleep_for(1ms);
        auto [r, w] = co_await hl7::open_hl7_connection("127.0.0.1", server.port());
        w.writemessage(hl7::parse(sample_message("AGAIN")));
        auto ack = co_await hl7::wait_for(r.readmessage(), 5s);
        CHECK(ack["MSA.2"] == "AGAIN");
    });
    REQUIRE_FALSE(events.empty());
    CHECK(events.front().ec == error::connection_limit);
    CHECK(events.front().peer.address().is_loopback());
}

TEST_CASE("server limits: idle_timeout", "[mllp][limits][timeout]")
{
    asio::io_context ctx;
    outcome seen;
    std::vector<hl7::server_event> events;
    int acks = 0;
    run(ctx, [&]() -> asio::awaitable<void> {
        auto options = loopback_options();
        options.idle_timeout = 150ms;
        options.on_error = [&](hl7::server_event const& e) { events.push_back(e); };
        auto handler = [&](hl7::stream_reader reader, hl7::stream_writer writer) -> asio::awaitable<void> {
            try {
                for (;;) {
                    auto msg = co_await reader.readmessage();
                    writer.writemessage(msg.create_ack());
                }
            } catch (hl7::mllp::timeout_error const& e) {
                seen.ec = e.code();
            }
        };
        auto server = co_await hl7::start_hl7_server(handler, options);

        // A connection that talks every 50 ms outlives the idle timeout.
        auto [reader, writer] = co_await hl7::open_hl7_connection("127.0.0.1", server.port());
        for (int i = 0; i < 8; ++i) {
            writer.writemessage(hl7::parse(sample_message("T" + std::to_string(i))));
            auto ack = co_await reader.readmessage();
            acks += ack["MSA.1"] == "AA";
            co_await sleep_for(50ms);
        }
        // Then it falls silent and is closed.
        auto const t0 = std::chrono::steady_clock::now();
        bool const ended = co_await throws_as<hl7::mllp::incomplete_read_error>(hl7::wait_for(reader.readblock(), 5s));
        CHECK(ended);
        CHECK(std::chrono::steady_clock::now() - t0 < 2s);
    });
    CHECK(acks == 8);
    CHECK(seen.ec == error::idle_timeout);
    CHECK(codes(events) == std::vector<std::error_code>{make_error_code(error::idle_timeout)});
}

TEST_CASE("server limits: frame_timeout for a frame that starts and never ends", "[mllp][limits][timeout]")
{
    asio::io_context ctx;
    outcome seen;
    std::vector<hl7::server_event> events;
    run(ctx, [&]() -> asio::awaitable<void> {
        auto options = loopback_options();
        options.frame_timeout = 200ms;
        options.on_error = [&](hl7::server_event const& e) { events.push_back(e); };
        auto handler = [&](hl7::stream_reader reader, hl7::stream_writer) -> asio::awaitable<void> {
            try {
                co_await reader.readmessage();
            } catch (hl7::mllp::timeout_error const& e) {
                seen.ec = e.code();
            }
        };
        auto server = co_await hl7::start_hl7_server(handler, options);
        auto s = co_await raw_connect(server.port());
        co_await raw_send(s, "\x0bMSH|^~\\&|");
        // Trickle a byte every 30 ms: progress does not extend the frame's time.
        auto const t0 = std::chrono::steady_clock::now();
        std::error_code ec;
        for (int i = 0; i < 100 && !ec; ++i) {
            co_await sleep_for(30ms);
            auto [wec, n] = co_await asio::async_write(s, asio::buffer("x", 1), as_tuple);
            ec = wec;
            if (!ec && std::chrono::steady_clock::now() - t0 > 150ms) {
                char b;
                auto [rec, rn] = co_await hl7::wait_for(s.async_read_some(asio::buffer(&b, 1), as_tuple), 30ms);
                if (rec != error::timeout)
                    ec = rec; // closed by the server
            }
        }
        CHECK(ec);
        CHECK(std::chrono::steady_clock::now() - t0 < 2s);
    });
    CHECK(seen.ec == error::frame_timeout);
    CHECK(codes(events) == std::vector<std::error_code>{make_error_code(error::frame_timeout)});
}

TEST_CASE("server limits: handler_timeout cancels a stuck handler", "[mllp][limits][timeout]")
{
    asio::io_context ctx;
    outcome seen;
    std::vector<hl7::server_event> events;
    run(ctx, [&]() -> asio::awaitable<void> {
        auto options = loopback_options();
        options.handler_timeout = 150ms;
        options.on_error = [&](hl7::server_event const& e) { events.push_back(e); };
        auto handler = [&](hl7::stream_reader reader, hl7::stream_writer) -> asio::awaitable<void> {
            co_await reader.readmessage();
            asio::steady_timer t(co_await asio::this_coro::executor, 1h); // stuck on this message
            auto [ec] = co_await t.async_wait(as_tuple);
            seen.ec = ec;
            seen.ended = true;
        };
        auto server = co_await hl7::start_hl7_server(handler, options);
        auto s = co_await raw_connect(server.port());
        co_await raw_send(s, frame(sample_message("STUCK")));
        auto const t0 = std::chrono::steady_clock::now();
        auto [bytes, ec] = co_await hl7::wait_for(raw_read_to_end(s), 5s);
        CHECK(bytes.empty());
        CHECK(std::chrono::steady_clock::now() - t0 < 2s);
        for (int i = 0; i < 100 && server.connection_count() != 0; ++i)
            co_await sleep_for(5ms);
        CHECK(server.connection_count() == 0);
    });
    CHECK(seen.ended);
    CHECK(seen.ec == asio::error::operation_aborted);
    CHECK(codes(events) == std::vector<std::error_code>{make_error_code(error::handler_timeout)});
}

TEST_CASE("server limits: a client that never reads its ACKs", "[mllp][limits]")
{
    asio::io_context ctx;
    outcome seen;
    std::vector<hl7::server_event> events;
    std::string const answer(256 * 1024, 'a');

    auto flood_with_drain = [&](hl7::stream_reader reader, hl7::stream_writer writer) -> asio::awaitable<void> {
        co_await reader.readblock();
        try {
            for (;;) {
                writer.writeblock(answer);
                seen.max_queued = std::max(seen.max_queued, writer.write_buffer_size());
                co_await writer.drain();
            }
        } catch (std::system_error const& e) {
            seen.ec = e.code();
        }
    };
    auto run_case = [&](hl7::server_options options, auto handler) {
        options.on_error = [&](hl7::server_event const& e) { events.push_back(e); };
        run(ctx, [&]() -> asio::awaitable<void> {
            auto server = co_await hl7::start_hl7_server(handler, options);
            auto s = co_await non_reading_client(server.port());
            co_await raw_send(s, frame(sample_message("FLOOD")));
            for (int i = 0; i < 400 && server.connection_count() != 0; ++i)
                co_await sleep_for(5ms);
            CHECK(server.connection_count() == 0);
        });
    };

    SECTION("drain() waits; write_timeout closes the connection; memory stays bounded")
    {
        auto options = loopback_options();
        options.write_timeout = 200ms;
        options.handler_timeout = 0s;
        run_case(options, flood_with_drain);
        CHECK(seen.ec == error::write_timeout);
        CHECK(seen.max_queued <= answer.size() + 3);
        CHECK(codes(events) == std::vector<std::error_code>{make_error_code(error::write_timeout)});
    }
    SECTION("a handler stuck in drain() is ended by handler_timeout")
    {
        auto options = loopback_options();
        options.handler_timeout = 200ms;
        options.write_timeout = 0s;
        run_case(options, flood_with_drain);
        CHECK(seen.ec); // its drain() ended with an error
        CHECK(codes(events) == std::vector<std::error_code>{make_error_code(error::handler_timeout)});
    }
    SECTION("without drain(), max_write_queue closes the connection")
    {
        auto options = loopback_options();
        options.max_write_queue = 512 * 1024;
        auto no_drain = [&](hl7::stream_reader reader, hl7::stream_writer writer) -> asio::awaitable<void> {
            co_await reader.readblock();
            try {
                for (;;) {
                    writer.writeblock(answer);
                    seen.max_queued = std::max(seen.max_queued, writer.write_buffer_size());
                    co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
                }
            } catch (std::system_error const& e) {
                seen.ec = e.code();
            }
        };
        run_case(options, no_drain);
        CHECK(seen.ec == error::write_queue_full);
        CHECK(seen.max_queued <= options.max_write_queue);
        CHECK(codes(events) == std::vector<std::error_code>{make_error_code(error::write_queue_full)});
    }
}

TEST_CASE("server limits: max_frame_size, with bounded memory for an endless frame", "[mllp][limits]")
{
    asio::io_context ctx;
    outcome seen;
    run(ctx, [&]() -> asio::awaitable<void> {
        auto options = loopback_options();
        options.connection.max_frame_size = 64 * 1024;
        auto handler = [&](hl7::stream_reader reader, hl7::stream_writer writer) -> asio::awaitable<void> {
            for (;;) {
                try {
                    auto msg = co_await reader.readmessage();
                    writer.writemessage(msg.create_ack());
                } catch (hl7::mllp::frame_too_large_error const& e) {
                    seen.ec = e.code();
                    seen.decoder_capacity = std::max(seen.decoder_capacity, reader.decoder().capacity());
                    writer.writemessage(hl7::make_nak("", "AR", e.what()));
                } catch (hl7::mllp::incomplete_read_error const&) {
                    co_return;
                }
                co_await writer.drain();
            }
        };
        auto server = co_await hl7::start_hl7_server(handler, options);
        auto s = co_await raw_connect(server.port());
        hl7::mllp::stream<tcp::socket&> peer(s);
        // Just over the limit, then a good one.
        co_await raw_send(s, frame(std::string(64 * 1024 + 1, 'x')) + frame(sample_message("FITS")));
        // 16 MiB in one frame, sent in pieces, then a good one.
        co_await raw_send(s, "\x0b");
        std::string const chunk(1 << 20, 'y');
        for (int i = 0; i < 16; ++i)
            co_await raw_send(s, chunk);
        co_await raw_send(s, "\x1c\x0d" + frame(sample_message("AFTER")));
        for (auto expected : {std::pair<char const*, char const*>{"AR", nullptr}, {"AA", "FITS"}, {"AR", nullptr},
                              {"AA", "AFTER"}}) {
            auto [ec, payload] = co_await peer.async_read_block(as_tuple);
            REQUIRE_FALSE(ec);
            auto [code, id] = ack_fields(payload);
            CHECK(code == expected.first);
            if (expected.second)
                CHECK(id == expected.second);
        }
    });
    CHECK(seen.ec == error::frame_too_large);
    CHECK(seen.decoder_capacity <= 256 * 1024);
}
