// Test that header file is self-contained.
#include <hl7/net/server.hpp>

#include "mllp_net_helpers.hpp"

#include <hl7/model/ack.hpp>
#include <hl7/net/open_connection.hpp>

#include <asio/thread_pool.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <future>
#include <optional>
#include <list>
#include <set>
#include <thread>
#include <vector>

using namespace hl7_test;
using hl7::mllp::error;

TEST_CASE("server: one message round trip through the public API", "[mllp][server]")
{
    asio::io_context ctx;
    run(ctx, [&]() -> asio::awaitable<void> {
        auto server = co_await hl7::start_hl7_server(ack_handler, loopback_options());
        REQUIRE(server.port() != 0);
        CHECK(server.local_endpoint().address() == asio::ip::make_address("127.0.0.1"));
        CHECK(server.is_serving());

        auto [reader, writer] = co_await hl7::open_hl7_connection("127.0.0.1", server.port());
        CHECK(writer.peername().port() == server.port());
        CHECK(reader.sockname() == writer.sockname());
        writer.writemessage(hl7::parse(sample_message("CNTRL-1")));
        co_await writer.drain();
        CHECK(writer.write_buffer_size() == 0);
        hl7::message ack = co_await hl7::wait_for(reader.readmessage(), 10s);
        CHECK(ack["MSA.1"] == "AA");
        CHECK(ack["MSA.2"] == "CNTRL-1");
        CHECK(ack["MSH.9.1"] == "ACK");
        CHECK(server.connection_count() == 1);

        writer.close();
        CHECK(writer.is_closing());
        co_await writer.wait_closed();
        CHECK_THROWS_AS(writer.writeblock("x"), std::system_error);
        server.close();
        CHECK_FALSE(server.is_serving());
        co_await server.wait_closed();
        CHECK(server.connection_count() == 0);
        CHECK(server.accepted_count() == 1);
    });
}

TEST_CASE("server: many messages on one connection, lock-step and pipelined", "[mllp][server]")
{
    asio::io_context ctx;
    run(ctx, [&]() -> asio::awaitable<void> {
        auto server = co_await hl7::start_hl7_server(ack_handler, loopback_options());
        auto [reader, writer] = co_await hl7::open_hl7_connection("127.0.0.1", server.port());
        for (int i = 0; i < 200; ++i) {
            writer.writemessage(hl7::parse(sample_message("LS-" + std::to_string(i))));
            co_await writer.drain();
            auto ack = co_await reader.readmessage();
            REQUIRE(ack["MSA.2"] == "LS-" + std::to_string(i));
        }
        // Pipelined: everything written before the first ACK is read, no drain.
        for (int i = 0; i < 500; ++i)
            writer.writeblock(sample_message("P-" + std::to_string(i)));
        for (int i = 0; i < 500; ++i) {
            auto ack = co_await reader.readmessage();
            REQUIRE(ack["MSA.2"] == "P-" + std::to_string(i));
        }
    });
}

TEST_CASE("server: many connections at once", "[mllp][server]")
{
    asio::io_context ctx;
    int const clients = 64, each = 20;
    std::atomic<int> acks{0};
    run(ctx, [&]() -> asio::awaitable<void> {
        auto server = co_await hl7::start_hl7_server(ack_handler, loopback_options());
        auto port = server.port();
        std::vector<std::future<void>> done;
        for (int c = 0; c < clients; ++c) {
            done.push_back(asio::co_spawn(
                co_await asio::this_coro::executor,
                [&, c, port]() -> asio::awaitable<void> {
                    auto [reader, writer] = co_await hl7::open_hl7_connection("127.0.0.1", port);
                    for (int i = 0; i < each; ++i) {
                        std::string id = std::to_string(c) + "-" + std::to_string(i);
                        writer.writemessage(hl7::parse(sample_message(id)));
                        co_await writer.drain();
                        auto ack = co_await reader.readmessage();
                        if (ack["MSA.2"] == id && ack["MSA.1"] == "AA")
                            ++acks;
                    }
                    writer.close();
                },
                asio::use_future));
        }
        auto all_done = [&] {
            return std::all_of(done.begin(), done.end(),
                               [](auto& f) { return f.wait_for(0s) == std::future_status::ready; });
        };
        while (!all_done())
            co_await sleep_for(5ms);
        for (auto& f : done)
            f.get(); // rethrows a client's failure
        CHECK(server.accepted_count() == static_cast<std::uint64_t>(clients));
    });
    CHECK(acks == clients * each);
}

TEST_CASE("server: frames split at every byte offset and coalesced", "[mllp][server][grind]")
{
    asio::io_context ctx;
    run(ctx, [&]() -> asio::awaitable<void> {
        auto server = co_await hl7::start_hl7_server(ack_handler, loopback_options());
        auto s = co_await raw_connect(server.port());
        hl7::mllp::stream<tcp::socket&> peer(s);
        std::string const wire = "\r\n" + frame(sample_message("A")) + "\n" + frame(sample_message("B"));
        for (std::size_t split = 1; split < wire.size(); ++split) {
            co_await raw_send(s, std::string_view(wire).substr(0, split));
            co_await sleep_for(0ms); // let the server read the first part on its own
            co_await raw_send(s, std::string_view(wire).substr(split));
            for (char const* id : {"A", "B"}) {
                auto [ec, ack] = co_await peer.async_read_block(as_tuple);
                REQUIRE_FALSE(ec);
                CAPTURE(split);
                REQUIRE(ack_fields(ack) == std::pair<std::string, std::string>{"AA", id});
            }
        }
        // 100 frames in one write.
        std::string burst;
        for (int i = 0; i < 100; ++i)
            burst += frame(sample_message("C" + std::to_string(i)));
        co_await raw_send(s, burst);
        for (int i = 0; i < 100; ++i) {
            auto [ec, ack] = co_await peer.async_read_block(as_tuple);
            REQUIRE_FALSE(ec);
            REQUIRE(ack_fields(ack).second == "C" + std::to_string(i));
        }
    });
}

TEST_CASE("server: junk between frames (lenient default) and strict framing", "[mllp][server]")
{
    asio::io_context ctx;
    SECTION("lenient: stray newlines, junk, a restarted frame and an empty frame are survived")
    {
        run(ctx, [&]() -> asio::awaitable<void> {
            auto server = co_await hl7::start_hl7_server(ack_handler, loopback_options());
            auto s = co_await raw_connect(server.port());
            hl7::mllp::stream<tcp::socket&> peer(s);
            co_await raw_send(s, "\r\n\n\r garbage\x1c\r" + frame(sample_message("J1")) + "\n\n" +
                                     "\x0bMSH|^~\\&|never finished" + frame(sample_message("J2")));
            for (char const* id : {"J1", "J2"}) {
                auto [ec, ack] = co_await peer.async_read_block(as_tuple);
                REQUIRE_FALSE(ec);
                CHECK(ack_fields(ack).second == id);
            }
        });
    }
    SECTION("strict: an invalid block is reported to the handler, which NAKs and goes on")
    {
        run(ctx, [&]() -> asio::awaitable<void> {
            auto options = loopback_options();
            options.connection.framing = hl7::mllp::framing::strict;
            auto nak_handler = [](hl7::stream_reader reader, hl7::stream_writer writer) -> asio::awaitable<void> {
                for (;;) {
                    try {
                        auto msg = co_await reader.readmessage();
                        writer.writemessage(msg.create_ack());
                    } catch (hl7::mllp::invalid_block_error const& e) {
                        writer.writemessage(hl7::make_nak("", "AR", e.what()));
                    } catch (hl7::mllp::incomplete_read_error const&) {
                        co_return;
                    }
                    co_await writer.drain();
                }
            };
            auto server = co_await hl7::start_hl7_server(nak_handler, options);
            auto s = co_await raw_connect(server.port());
            hl7::mllp::stream<tcp::socket&> peer(s);
            co_await raw_send(s, "\n" + frame(sample_message("S1")) + frame(sample_message("S2")));
            auto [ec1, nak] = co_await peer.async_read_block(as_tuple);
            REQUIRE_FALSE(ec1);
            CHECK(ack_fields(nak).first == "AR");
            auto [ec2, ack] = co_await peer.async_read_block(as_tuple);
            REQUIRE_FALSE(ec2);
            CHECK(ack_fields(ack) == std::pair<std::string, std::string>{"AA", "S2"});
        });
    }
}

TEST_CASE("server: non-ASCII payloads are bytes, answered", "[mllp][server]")
{
    asio::io_context ctx;
    run(ctx, [&]() -> asio::awaitable<void> {
        auto server = co_await hl7::start_hl7_server(ack_handler, loopback_options());
        auto [reader, writer] = co_await hl7::open_hl7_connection("127.0.0.1", server.port());
        std::string const utf8 = sample_message("U8") + "NTE|1||M\xc3\xbcller \xe2\x82\xac \xf0\x9f\x98\x80\r";
        std::string const latin1 = sample_message("L1") + "NTE|1||M\xfcller J\xf6rg \xff\xfe\r";
        for (auto const& m : {utf8, latin1}) {
            writer.writeblock(m);
            co_await writer.drain();
            auto ack = co_await reader.readmessage();
            CHECK(ack["MSA.1"] == "AA");
        }
    });
    // Raw bytes survive a round trip unchanged (echo server).
    run(ctx, [&]() -> asio::awaitable<void> {
        auto echo = [](hl7::stream_reader reader, hl7::stream_writer writer) -> asio::awaitable<void> {
            try {
                for (;;) {
                    std::string block = co_await reader.readblock();
                    writer.writeblock(block);
                }
            } catch (hl7::mllp::incomplete_read_error const&) {
            }
        };
        auto server = co_await hl7::start_hl7_server(echo, loopback_options());
        auto [reader, writer] = co_await hl7::open_hl7_connection("127.0.0.1", server.port());
        std::string bytes;
        for (int c = 0; c < 256; ++c)
            if (c != 0x0b && c != 0x1c)
                bytes += static_cast<char>(c);
        writer.writeblock(bytes);
        auto const got13 = co_await reader.readblock();
        CHECK(got13 == bytes);
        std::string const big(2 << 20, '\xe4'); // 2 MiB, above the socket buffers
        writer.writeblock(big);
        CHECK(writer.write_buffer_size() <= big.size() + 3);
        auto const got14 = co_await reader.readblock();
        CHECK(got14 == big);
        co_await writer.drain();
    });
}

TEST_CASE("server: a peer closing mid-frame is an incomplete read with the partial bytes", "[mllp][server]")
{
    asio::io_context ctx;
    std::string partial;
    std::error_code code;
    run(ctx, [&]() -> asio::awaitable<void> {
        auto handler = [&](hl7::stream_reader reader, hl7::stream_writer) -> asio::awaitable<void> {
            try {
                co_await reader.readmessage();
            } catch (hl7::mllp::incomplete_read_error const& e) {
                partial = e.partial();
                code = e.code();
            }
        };
        auto server = co_await hl7::start_hl7_server(handler, loopback_options());
        {
            auto s = co_await raw_connect(server.port());
            co_await raw_send(s, "\x0bMSH|^~\\&|cut");
            s.shutdown(tcp::socket::shutdown_send);
            co_await raw_read_to_end(s);
        }
        server.close();
        co_await server.wait_closed();
    });
    CHECK(code == error::incomplete_frame);
    CHECK(partial == "\x0bMSH|^~\\&|cut");
}

TEST_CASE("server: a client sees the server close at once, not as a timeout", "[mllp][server]")
{
    asio::io_context ctx;
    run(ctx, [&]() -> asio::awaitable<void> {
        auto hang_up = [](hl7::stream_reader reader, hl7::stream_writer) -> asio::awaitable<void> {
            co_await reader.readblock(); // then return: the server closes the connection
        };
        auto server = co_await hl7::start_hl7_server(hang_up, loopback_options());
        auto [reader, writer] = co_await hl7::open_hl7_connection("127.0.0.1", server.port());
        writer.writeblock(sample_message());
        auto const t0 = std::chrono::steady_clock::now();
        try {
            co_await hl7::wait_for(reader.readmessage(), 10s);
            FAIL("no error");
        } catch (hl7::mllp::timeout_error const&) {
            FAIL("reported as a timeout");
        } catch (hl7::mllp::incomplete_read_error const& e) {
            CHECK(e.code() == error::end_of_stream);
        }
        CHECK(std::chrono::steady_clock::now() - t0 < 5s);
        // Further reads keep saying so.
        bool const threw1 = co_await throws_as<hl7::mllp::incomplete_read_error>(reader.readblock());
        CHECK(threw1);
    });
}

TEST_CASE("server: handler exceptions end only their connection and are reported", "[mllp][server]")
{
    asio::io_context ctx;
    std::vector<hl7::server_event> events;
    run(ctx, [&]() -> asio::awaitable<void> {
        auto options = loopback_options();
        options.on_error = [&](hl7::server_event const& e) { events.push_back(e); };
        auto handler = [](hl7::stream_reader reader, hl7::stream_writer writer) -> asio::awaitable<void> {
            for (;;) {
                auto msg = co_await reader.readmessage();
                if (msg["MSH.10"] == "BOOM")
                    throw std::runtime_error("handler failed");
                writer.writemessage(msg.create_ack());
            }
        };
        auto server = co_await hl7::start_hl7_server(handler, options);
        auto [r1, w1] = co_await hl7::open_hl7_connection("127.0.0.1", server.port());
        auto [r2, w2] = co_await hl7::open_hl7_connection("127.0.0.1", server.port());
        w1.writeblock(sample_message("BOOM"));
        bool const threw2 = co_await throws_as<hl7::mllp::incomplete_read_error>(r1.readmessage());
        CHECK(threw2);
        // The other connection and new ones are fine.
        w2.writeblock(sample_message("OK2"));
        auto const got8 = co_await r2.readmessage();
        CHECK(got8["MSA.2"] == "OK2");
        auto [r3, w3] = co_await hl7::open_hl7_connection("127.0.0.1", server.port());
        w3.writeblock(sample_message("OK3"));
        auto const got9 = co_await r3.readmessage();
        CHECK(got9["MSA.2"] == "OK3");
        // An unparsable message: parse_error, reported; the frame is in last_block().
        w3.writeblock("not hl7");
        bool const threw3 = co_await throws_as<hl7::mllp::incomplete_read_error>(r3.readmessage());
        CHECK(threw3);
    });
    REQUIRE(events.size() == 2);
    CHECK(events[0].exception != nullptr);
    CHECK_THROWS_WITH(std::rethrow_exception(events[0].exception), "handler failed");
    CHECK(events[1].ec.category() == hl7::error_category()); // hl7::parse_error
}

TEST_CASE("server: unparsable payloads can be NAKed from last_block()", "[mllp][server]")
{
    asio::io_context ctx;
    run(ctx, [&]() -> asio::awaitable<void> {
        auto handler = [](hl7::stream_reader reader, hl7::stream_writer writer) -> asio::awaitable<void> {
            for (;;) {
                try {
                    auto msg = co_await reader.readmessage();
                    writer.writemessage(msg.create_ack());
                } catch (hl7::parse_error const& e) {
                    writer.writemessage(hl7::make_nak(reader.last_block(), "AE", e.what()));
                } catch (hl7::mllp::incomplete_read_error const&) {
                    co_return;
                }
                co_await writer.drain();
            }
        };
        auto server = co_await hl7::start_hl7_server(handler, loopback_options());
        auto [reader, writer] = co_await hl7::open_hl7_connection("127.0.0.1", server.port());
        writer.writeblock("garbage \xff\xfe");
        writer.writeblock("");
        writer.writeblock(sample_message("AFTER"));
        auto const got10 = co_await reader.readmessage();
        CHECK(got10["MSA.1"] == "AE");
        auto const got11 = co_await reader.readmessage();
        CHECK(got11["MSA.1"] == "AE");
        auto ack = co_await reader.readmessage();
        CHECK(ack["MSA.1"] == "AA");
        CHECK(ack["MSA.2"] == "AFTER");
    });
}

TEST_CASE("server: close() while clients are connected", "[mllp][server]")
{
    asio::io_context ctx;
    std::atomic<int> handlers_ended{0};
    run(ctx, [&]() -> asio::awaitable<void> {
        // A slow handler: the message being processed when close() comes is
        // still answered; idle connections end at once.
        auto handler = [&](hl7::stream_reader reader, hl7::stream_writer writer) -> asio::awaitable<void> {
            try {
                for (;;) {
                    auto msg = co_await reader.readmessage();
                    co_await sleep_for(200ms);
                    writer.writemessage(msg.create_ack());
                    co_await writer.drain();
                }
            } catch (hl7::mllp::incomplete_read_error const& e) {
                CHECK(e.code() == error::connection_closed);
            }
            co_await sleep_for(50ms); // still busy after its socket closed
            ++handlers_ended;
        };
        auto server = co_await hl7::start_hl7_server(handler, loopback_options());
        std::vector<std::pair<hl7::stream_reader, hl7::stream_writer>> idle;
        for (int i = 0; i < 10; ++i)
            idle.push_back(co_await hl7::open_hl7_connection("127.0.0.1", server.port()));
        auto [reader, writer] = co_await hl7::open_hl7_connection("127.0.0.1", server.port());
        writer.writeblock(sample_message("IN-FLIGHT"));
        co_await sleep_for(50ms); // the handler is now processing it
        CHECK(server.connection_count() == 11);
        server.close();
        CHECK_FALSE(server.is_serving());
        // The in-flight message is still acknowledged...
        auto ack = co_await hl7::wait_for(reader.readmessage(), 5s);
        CHECK(ack["MSA.2"] == "IN-FLIGHT");
        // ...then every connection ends.
        co_await hl7::wait_for(server.wait_closed(), 5s);
        CHECK(server.connection_count() == 0);
        CHECK(handlers_ended == 11); // wait_closed() waited for the handlers too
        for (auto& [r, w] : idle) {
            bool const threw4 = co_await throws_as<hl7::mllp::incomplete_read_error>(hl7::wait_for(r.readmessage(), 5s));
            CHECK(threw4);
        }
        // No new connections.
        bool const threw5 = co_await throws_as<std::system_error>(hl7::open_hl7_connection("127.0.0.1", server.port()));
        CHECK(threw5);
    });
    CHECK(handlers_ended == 11);
}

TEST_CASE("server: serve_forever returns after close(), cancelling it closes", "[mllp][server]")
{
    asio::io_context ctx;
    run(ctx, [&]() -> asio::awaitable<void> {
        auto server = co_await hl7::start_hl7_server(ack_handler, loopback_options());
        asio::steady_timer t(co_await asio::this_coro::executor, 30ms);
        t.async_wait([&](std::error_code) { server.close(); });
        co_await hl7::wait_for(server.serve_forever(), 5s);
        co_await server.wait_closed();
    });
    run(ctx, [&]() -> asio::awaitable<void> {
        auto server = co_await hl7::start_hl7_server(ack_handler, loopback_options());
        bool const threw6 = co_await throws_as<hl7::mllp::timeout_error>(hl7::wait_for(server.serve_forever(), 30ms));
        CHECK(threw6);
        CHECK_FALSE(server.is_serving()); // asyncio: cancelling serve_forever closes the server
        co_await server.wait_closed();
    });
}

TEST_CASE("server: destroying the server is safe with connections open", "[mllp][server]")
{
    asio::io_context ctx;
    std::string end_of_client;
    run(ctx, [&]() -> asio::awaitable<void> {
        std::optional<hl7::server> server(co_await hl7::start_hl7_server(ack_handler, loopback_options()));
        auto [reader, writer] = co_await hl7::open_hl7_connection("127.0.0.1", server->port());
        writer.writeblock(sample_message("RAII"));
        auto const got12 = co_await reader.readmessage();
        CHECK(got12["MSA.2"] == "RAII");
        server.reset(); // closes; the handler still runs and ends
        try {
            co_await hl7::wait_for(reader.readmessage(), 5s);
        } catch (hl7::mllp::incomplete_read_error const& e) {
            end_of_client = e.code().message();
        }
    });
    // ctx.run() returned: nothing was left running.
    CHECK(end_of_client == make_error_code(error::end_of_stream).message());
}

TEST_CASE("server: port 0, binding errors", "[mllp][server]")
{
    asio::io_context ctx;
    run(ctx, [&]() -> asio::awaitable<void> {
        auto a = co_await hl7::start_hl7_server(ack_handler, loopback_options());
        auto b = co_await hl7::start_hl7_server(ack_handler, loopback_options());
        CHECK(a.port() != b.port());
        auto options = loopback_options();
        options.port = a.port();
        options.reuse_address = false;
        bool const threw7 = co_await throws_as<std::system_error>(hl7::start_hl7_server(ack_handler, options));
        CHECK(threw7);
        options.host = "localhost"; // a name is resolved
        options.port = 0;
        auto c = co_await hl7::start_hl7_server(ack_handler, options);
        CHECK(c.local_endpoint().address().is_loopback());
    });
}

TEST_CASE("server: io_context run by several threads", "[mllp][server][threads]")
{
    asio::io_context ctx(4);
    int const clients = 32, each = 50;
    std::atomic<int> acks{0}, bad{0};
    std::atomic<std::uint16_t> port{0};
    std::promise<void> stop;
    auto stopped = stop.get_future().share();
    // The server coroutine runs on the io_context's executor; connections get
    // strands of their own.
    auto server_done = asio::co_spawn(
        ctx,
        [&]() -> asio::awaitable<void> {
            auto server = co_await hl7::start_hl7_server(ack_handler, loopback_options());
            port = server.port();
            while (stopped.wait_for(0s) != std::future_status::ready)
                co_await sleep_for(5ms);
            server.close();
            co_await server.wait_closed();
        },
        asio::use_future);
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i)
        threads.emplace_back([&] { ctx.run(); });
    while (port.load() == 0)
        std::this_thread::sleep_for(1ms);
    // Clients each on their own strand, sharing the same threads.
    std::vector<std::future<void>> done;
    for (int c = 0; c < clients; ++c)
        done.push_back(asio::co_spawn(
            asio::make_strand(ctx),
            [&, c]() -> asio::awaitable<void> {
                auto [reader, writer] = co_await hl7::open_hl7_connection("127.0.0.1", port.load());
                for (int i = 0; i < each; ++i) {
                    std::string id = std::to_string(c) + "." + std::to_string(i);
                    writer.writemessage(hl7::parse(sample_message(id)));
                    if (i % 2 == 0)
                        co_await writer.drain();
                    auto ack = co_await reader.readmessage();
                    (ack["MSA.2"] == id ? acks : bad)++;
                }
                writer.close();
                co_await writer.wait_closed();
            },
            asio::use_future));
    for (auto& f : done)
        f.get();
    stop.set_value();
    server_done.get();
    for (auto& t : threads)
        t.join();
    CHECK(acks == clients * each);
    CHECK(bad == 0);
}

TEST_CASE("server: close() from another thread under load, several io threads", "[mllp][server][threads]")
{
    asio::io_context ctx(4);
    int const clients = 24;
    std::optional<hl7::server> server;
    std::promise<std::uint16_t> ready;
    std::atomic<int> acks{0}, ended{0}, events{0};
    auto options = loopback_options();
    options.on_error = [&](hl7::server_event const&) { ++events; }; // called from several threads
    auto serving = asio::co_spawn(
        ctx,
        [&]() -> asio::awaitable<void> {
            server.emplace(co_await hl7::start_hl7_server(ack_handler, options));
            ready.set_value(server->port());
            co_await server->wait_closed();
        },
        asio::use_future);
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i)
        threads.emplace_back([&] { ctx.run(); });
    auto const port = ready.get_future().get();
    std::vector<std::future<void>> done;
    for (int c = 0; c < clients; ++c)
        done.push_back(asio::co_spawn(
            asio::make_strand(ctx),
            [&, c]() -> asio::awaitable<void> {
                try {
                    auto [reader, writer] = co_await hl7::open_hl7_connection("127.0.0.1", port);
                    for (int i = 0;; ++i) {
                        writer.writemessage(hl7::parse(sample_message(std::to_string(c) + "." + std::to_string(i))));
                        co_await writer.drain();
                        co_await reader.readmessage();
                        ++acks;
                    }
                } catch (std::exception const&) {
                    ++ended; // the server went away: EOF, reset or refused
                }
            },
            asio::use_future));
    while (acks.load() < clients * 10)
        std::this_thread::sleep_for(1ms);
    server->close(); // from a thread that is not running the io_context
    serving.get();   // wait_closed() returned
    for (auto& f : done)
        f.get();
    for (auto& t : threads)
        t.join();
    CHECK(ended == clients);
    CHECK(server->connection_count() == 0);
    CHECK_FALSE(server->is_serving());
}
