// Issue 7: every public coroutine entry point is safe however its arguments
// are spelled (braced initializers, temporaries, string literals, moved-from
// objects). g++ 12 destroys a braced-initializer temporary passed by value to
// a coroutine twice; these tests crash (or fail under ASan) if any entry
// point is a coroutine that takes such an argument itself.
//
// The README's receiver and sender are spelled here exactly as the README
// shows them (with a loopback host and port 0 for the server, so that tests
// can run in parallel).

// Test that header file is self-contained.
#include <hl7/hl7.hpp>

#include "mllp_net_helpers.hpp"

#include <catch2/catch.hpp>

#include <stdlib.h>
#include <unistd.h>

#include <optional>
#include <string>

using namespace hl7_test;

namespace {

// The README's receiver, as written there.
asio::awaitable<void> process_hl7_messages(hl7::stream_reader hl7_reader, hl7::stream_writer hl7_writer)
{
    try {
        while (!hl7_writer.is_closing()) {
            hl7::message msg = co_await hl7_reader.readmessage();
            hl7_writer.writemessage(msg.create_ack());
            co_await hl7_writer.drain();
        }
    }
    catch (hl7::mllp::incomplete_read_error const&) { /* peer closed */ }
}

// The README's sender, as written there (with the server's port).
asio::awaitable<hl7::message> send(hl7::message msg, std::uint16_t port)
{
    auto [hl7_reader, hl7_writer] = co_await hl7::wait_for(hl7::open_hl7_connection("127.0.0.1", port), 10s);
    hl7_writer.writemessage(msg);          // queues the frame; it goes out even without drain()
    co_await hl7_writer.drain();           // back-pressure: wait until it is on the wire
    hl7::message ack = co_await hl7::wait_for(hl7_reader.readmessage(), 10s);
    co_return ack;
}

} // namespace

TEST_CASE("issue 7: the README's receiver and sender, braced options and string literals", "[net][issue7]")
{
    asio::io_context ctx;
    std::string acked;
    run(ctx, [&]() -> asio::awaitable<void> {
        auto server = co_await hl7::start_hl7_server(process_hl7_messages, {.host = "127.0.0.1", .port = 0});
        hl7::message ack = co_await send(hl7::parse(sample_message("README-1")), server.port());
        acked = ack["MSA.2"];
        server.close();
        co_await server.wait_closed();
    });
    CHECK(acked == "README-1");
}

TEST_CASE("issue 7: start_hl7_server with every spelling of its arguments", "[net][issue7]")
{
    asio::io_context ctx;
    int served = 0;
    run(ctx, [&]() -> asio::awaitable<void> {
        auto one_round = [&](hl7::server& server) -> asio::awaitable<void> {
            auto ack = co_await send(hl7::parse(sample_message("S")), server.port());
            served += ack["MSA.1"] == "AA";
            server.close();
            co_await server.wait_closed();
        };
        {
            // Every field braced, a lambda temporary as the handler.
            auto server = co_await hl7::start_hl7_server(
                [](hl7::stream_reader r, hl7::stream_writer w) { return process_hl7_messages(std::move(r), std::move(w)); },
                {.host = "127.0.0.1",
                 .port = 0,
                 .max_connections = 8,
                 .idle_timeout = 30s,
                 .connection = {.max_frame_size = 1 << 20, .read_timeout = 5s},
                 .on_error = [](hl7::server_event const&) {}});
            co_await one_round(server);
        }
        {
            // A moved-from named object and a std::function temporary.
            hl7::server_options options{.host = "127.0.0.1", .port = 0};
            auto server = co_await hl7::start_hl7_server(hl7::client_connected_cb(process_hl7_messages), std::move(options));
            co_await one_round(server);
        }
        {
            // A prvalue of the options type.
            auto server = co_await hl7::start_hl7_server(process_hl7_messages, hl7::server_options{.host = "localhost", .port = 0});
            co_await one_round(server);
        }
        {
            // The default argument: binds 0.0.0.0:2575 if it is free. Either
            // way the options are destroyed once, cleanly.
            try {
                auto server = co_await hl7::start_hl7_server(process_hl7_messages);
                server.close();
                co_await server.wait_closed();
            }
            catch (std::system_error const&) {
                // 2575 in use on this machine: still a clean failure.
            }
        }
    });
    CHECK(served == 3);
}

TEST_CASE("issue 7: open_hl7_connection and wait_for with temporaries", "[net][issue7]")
{
    asio::io_context ctx;
    std::vector<std::string> ids;
    run(ctx, [&]() -> asio::awaitable<void> {
        hl7::server_options so;
        so.host = "127.0.0.1";
        so.port = 0;
        auto server = co_await hl7::start_hl7_server(process_hl7_messages, so);
        auto const port = server.port();
        auto round_trip = [&](hl7::stream_reader& r, hl7::stream_writer& w, std::string id) -> asio::awaitable<void> {
            w.writemessage(hl7::parse(sample_message(id)));
            co_await hl7::wait_for(w.drain(), std::chrono::seconds(5));
            auto ack = co_await hl7::wait_for(r.readmessage(), std::chrono::milliseconds(5000));
            ids.push_back(ack["MSA.2"]);
        };
        {
            // Braced options, a std::string temporary for the host.
            auto [r, w] = co_await hl7::open_hl7_connection(std::string("127.0.0.1"), port,
                                                            {.connect_timeout = 5s, .read_timeout = 5s});
            co_await round_trip(r, w, "C1");
        }
        {
            // A moved-from host and options; wait_for around the connect.
            std::string host = "127.0.0.1";
            hl7::connection_options o{.max_frame_size = 4096};
            auto [r, w] = co_await hl7::wait_for(hl7::open_hl7_connection(std::move(host), port, std::move(o)), 5s);
            co_await round_trip(r, w, "C2");
        }
        {
            // A prvalue options object; the error-code wait_for with a temporary.
            auto [r, w] = co_await hl7::open_hl7_connection("localhost", port, hl7::connection_options{});
            w.writeblock(sample_message("C3"));
            auto tuple_read = [](hl7::stream_reader rr) -> asio::awaitable<std::tuple<std::error_code, std::string>> {
                std::string b = co_await rr.readblock();
                co_return std::tuple<std::error_code, std::string>{std::error_code(), std::move(b)};
            };
            auto [ec, block] = co_await hl7::wait_for(tuple_read(r), 5s);
            CHECK_FALSE(ec);
            ids.push_back(ack_fields(block).second);
        }
        server.close();
        co_await server.wait_closed();
    });
    CHECK(ids == std::vector<std::string>{"C1", "C2", "C3"});
}

TEST_CASE("issue 7: the UNIX-domain entry points with temporaries", "[net][issue7][unix]")
{
    char dir_template[] = "/tmp/hl7-issue7-XXXXXX";
    REQUIRE(::mkdtemp(dir_template) != nullptr);
    std::string const dir = dir_template;
    asio::io_context ctx;
    std::string acked;
    run(ctx, [&]() -> asio::awaitable<void> {
        // A std::string temporary for the path, braced options.
        auto server = co_await hl7::start_hl7_unix_server(process_hl7_messages, dir + "/s.sock",
                                                          {.max_connections = 4, .idle_timeout = 30s});
        auto [r, w] = co_await hl7::open_hl7_unix_connection(dir + "/s.sock", {.connect_timeout = 5s});
        w.writemessage(hl7::parse(sample_message("UNIX-1")));
        auto ack = co_await hl7::wait_for(r.readmessage(), 10s);
        acked = ack["MSA.2"];
        server.close();
        co_await server.wait_closed();
    });
    ::rmdir(dir.c_str());
    CHECK(acked == "UNIX-1");
}
