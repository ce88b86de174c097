#include <hl7/tls.hpp>
#include <hl7/net/client_options.hpp>

#include "tls_test_support.hpp"

#include <asio/ssl/stream.hpp>
#include <asio/write.hpp>

#include <catch2/catch.hpp>

#include <asio/executor_work_guard.hpp>

#include <atomic>
#include <future>
#include <string>
#include <thread>
#include <vector>

// The TLS server under peers that do not complete, or do not speak, TLS;
// the limits; large and oddly cut frames; reload while connections are open.

using namespace hl7_tls_test;
using hl7::tls::error;

namespace {

using ssl_socket = asio::ssl::stream<tcp::socket>;

// A raw TLS client (Asio's own stream, trusting the test CA): writes bytes
// exactly as the test cuts them, each write one TLS record or more.
asio::awaitable<std::shared_ptr<ssl_socket>>
raw_tls_connect(std::uint16_t port, asio::ssl::context& context)
{
    auto s = std::make_shared<ssl_socket>(co_await raw_connect(port), context);
    co_await s->async_handshake(asio::ssl::stream_base::client, asio::use_awaitable);
    co_return s;
}

std::shared_ptr<asio::ssl::context>
raw_client_context()
{
    auto c = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
    c->set_verify_mode(asio::ssl::verify_peer);
    c->load_verify_file(cert("ca.pem"));
    return c;
}

// Reads frames from a raw TLS stream until `count` ACKs arrived; their MSA-2s.
asio::awaitable<std::vector<std::string>>
read_acks(ssl_socket& s, std::size_t count)
{
    std::vector<std::string> ids;
    std::string buf;
    char chunk[4096];
    while (ids.size() < count) {
        auto [ec, n] = co_await s.async_read_some(asio::buffer(chunk), as_tuple);
        if (ec)
            break;
        buf.append(chunk, n);
        for (;;) {
            auto start = buf.find('\x0b');
            auto end = buf.find("\x1c\x0d");
            if (start == std::string::npos || end == std::string::npos)
                break;
            ids.push_back(ack_fields(buf.substr(start + 1, end - start - 1)).second);
            buf.erase(0, end + 2);
        }
    }
    co_return ids;
}

} // namespace

TEST_CASE("a plain TCP client on the TLS port: not_tls reported, the client sees a clean close", "[tls][transport]")
{
    asio::io_context ctx;
    event_log log;
    bool closed_cleanly = false;
    bool reported = false;
    std::string fresh;
    run(ctx, [&]() -> asio::awaitable<void> {
        auto options = loopback_options();
        options.on_error = log.hook();
        auto server = co_await hl7::start_hl7_tls_server(ack_handler, options, server_tls());
        auto [reader, writer] = co_await hl7::open_hl7_connection("127.0.0.1", server.port());
        writer.writemessage(hl7::parse(sample_message("PLAIN")));
        try {
            co_await hl7::wait_for(reader.readmessage(), 20s);
        } catch (hl7::mllp::incomplete_read_error const&) {
            closed_cleanly = true; // the end of the stream, no answer
        }
        reported = co_await eventually([&] { return log.has(error::not_tls); });
        fresh = co_await send_one(server.port(), client_tls());
        server.close();
        co_await server.wait_closed();
    });
    INFO(log.codes());
    CHECK(closed_cleanly);
    CHECK(reported);
    CHECK(fresh == "AA");
}

TEST_CASE("a TLS client on a plain MLLP port: handshake_timeout, not a hang", "[tls][transport]")
{
    asio::io_context ctx;
    std::error_code ec;
    run(ctx, [&]() -> asio::awaitable<void> {
        auto server = co_await hl7::start_hl7_server(ack_handler, loopback_options());
        auto tls = client_tls();
        tls.handshake_timeout = 500ms;
        ec = co_await client_error(server.port(), tls);
        server.close();
        co_await server.wait_closed();
    });
    CHECK(ec == error::handshake_timeout);
    CHECK_FALSE(hl7::tls::is_permanent(ec));
    CHECK_FALSE(hl7::client_permanent_error(ec)); // the reliable client retries it
}

TEST_CASE("a handshake that stalls is closed by handshake_timeout and reported", "[tls][transport]")
{
    asio::io_context ctx;
    event_log log;
    std::error_code end;
    bool reported = false;
    std::string fresh;
    run(ctx, [&]() -> asio::awaitable<void> {
        auto options = loopback_options();
        options.on_error = log.hook();
        auto tls = server_tls();
        tls.handshake_timeout = 300ms;
        auto server = co_await hl7::start_hl7_tls_server(ack_handler, options, tls);
        auto silent = co_await raw_connect(server.port());
        // Half a ClientHello: a record header announcing more than comes.
        auto half = co_await raw_connect(server.port());
        co_await raw_send(half, std::string("\x16\x03\x01\x01\x00\x01", 6));
        auto [data, ec] = co_await raw_read_to_end(silent);
        end = ec;
        co_await raw_read_to_end(half);
        reported = co_await eventually([&] { return log.count(error::handshake_timeout) == 2; });
        fresh = co_await send_one(server.port(), client_tls());
        server.close();
        co_await server.wait_closed();
    });
    INFO(log.codes());
    CHECK(end == asio::error::eof);
    CHECK(reported);
    CHECK(fresh == "AA");
}

TEST_CASE("a reset in the middle of the handshake: peer_closed, nothing else disturbed", "[tls][transport]")
{
    asio::io_context ctx;
    event_log log;
    bool reported = false;
    std::string fresh;
    run(ctx, [&]() -> asio::awaitable<void> {
        auto options = loopback_options();
        options.on_error = log.hook();
        auto server = co_await hl7::start_hl7_tls_server(ack_handler, options, server_tls());
        // A good client holds its connection open meanwhile.
        auto [reader, writer] = co_await hl7::open_hl7_tls_connection("127.0.0.1", server.port(), client_tls());
        auto s = co_await raw_connect(server.port());
        co_await raw_send(s, std::string("\x16\x03\x01\x01\x00\x01\x00\x00", 8));
        s.set_option(asio::socket_base::linger(true, 0)); // close sends RST
        s.close();
        reported = co_await eventually([&] { return log.has(error::peer_closed); });
        writer.writemessage(hl7::parse(sample_message("HELD")));
        auto ack = co_await hl7::wait_for(reader.readmessage(), 20s);
        fresh = ack["MSA.1"];
        writer.close();
        server.close();
        co_await server.wait_closed();
    });
    INFO(log.codes());
    CHECK(reported);
    CHECK(fresh == "AA");
}

TEST_CASE("unfinished handshakes count against max_connections, the excess is refused", "[tls][transport][limits]")
{
    asio::io_context ctx;
    event_log log;
    std::uint64_t refused = 0;
    std::error_code over_limit;
    std::string fresh;
    run(ctx, [&]() -> asio::awaitable<void> {
        auto options = loopback_options();
        options.on_error = log.hook();
        options.max_connections = 16;
        auto tls = server_tls();
        tls.handshake_timeout = 60s; // the test closes them itself
        auto server = co_await hl7::start_hl7_tls_server(ack_handler, options, tls);
        std::vector<tcp::socket> flood;
        for (int i = 0; i < 16; ++i)
            flood.push_back(co_await raw_connect(server.port()));
        over_limit = co_await client_error(server.port(), client_tls());
        refused = server.refused_count();
        for (auto& s : flood)
            s.close();
        // Their slots come back once the server saw them go.
        bool const freed = co_await eventually([&] { return log.count(error::peer_closed) == 16; });
        CHECK(freed);
        fresh = co_await send_one(server.port(), client_tls());
        server.close();
        co_await server.wait_closed();
    });
    INFO(log.codes());
    CHECK(refused == 1);
    CHECK(log.has(hl7::mllp::make_error_code(hl7::mllp::error::connection_limit)));
    CHECK(over_limit == error::peer_closed);
    CHECK(fresh == "AA");
}

TEST_CASE("closing the server ends handshakes in progress at once", "[tls][transport]")
{
    asio::io_context ctx;
    auto const start = std::chrono::steady_clock::now();
    run(ctx, [&]() -> asio::awaitable<void> {
        auto tls = server_tls();
        tls.handshake_timeout = 0s; // no limit: only close() can end them
        auto server = co_await hl7::start_hl7_tls_server(ack_handler, loopback_options(), tls);
        std::vector<tcp::socket> pending;
        for (int i = 0; i < 4; ++i)
            pending.push_back(co_await raw_connect(server.port()));
        co_await sleep_for(50ms);
        server.close();
        co_await server.wait_closed();
        for (auto& s : pending) {
            auto [data, ec] = co_await raw_read_to_end(s);
            CHECK(ec == asio::error::eof);
        }
    });
    // Not a timing assertion: without the close the io_context never ends.
    CHECK(std::chrono::steady_clock::now() - start < 60s);
}

TEST_CASE("1 MiB frames both ways over TLS", "[tls][transport]")
{
    asio::io_context ctx;
    std::size_t echoed = 0;
    std::string big_obx(1 << 20, 'A');
    run(ctx, [&]() -> asio::awaitable<void> {
        auto server = co_await hl7::start_hl7_tls_server(
            [](hl7::stream_reader reader, hl7::stream_writer writer) -> asio::awaitable<void> {
                try {
                    for (;;) {
                        std::string block = co_await reader.readblock();
                        writer.writeblock(block); // echo: 1 MiB back
                        co_await writer.drain();
                    }
                } catch (hl7::mllp::incomplete_read_error const&) {
                }
            },
            loopback_options(), server_tls());
        auto [reader, writer] = co_await hl7::open_hl7_tls_connection("127.0.0.1", server.port(), client_tls());
        std::string payload = sample_message("BIG") + "OBX|2|ED|||" + big_obx + "\r";
        for (int i = 0; i < 3; ++i) {
            writer.writeblock(payload);
            co_await writer.drain();
            std::string back = co_await hl7::wait_for(reader.readblock(), 30s);
            echoed += back == payload;
        }
        writer.close();
        server.close();
        co_await server.wait_closed();
    });
    CHECK(echoed == 3);
}

TEST_CASE("frames split across TLS records and coalesced in one record", "[tls][transport]")
{
    asio::io_context ctx;
    std::vector<std::string> ids;
    auto context = raw_client_context();
    run(ctx, [&]() -> asio::awaitable<void> {
        auto server = co_await hl7::start_hl7_tls_server(ack_handler, loopback_options(), server_tls());
        auto s = co_await raw_tls_connect(server.port(), *context);
        // Three frames in one write: one record.
        std::string three = frame(sample_message("C1")) + frame(sample_message("C2")) + frame(sample_message("C3"));
        co_await asio::async_write(*s, asio::buffer(three), asio::use_awaitable);
        // One frame a few bytes per record, cut inside the start and end marks' neighbourhood.
        std::string one = frame(sample_message("S1"));
        for (std::size_t i = 0; i < one.size(); i += 7) {
            auto part = one.substr(i, 7);
            co_await asio::async_write(*s, asio::buffer(part), asio::use_awaitable);
        }
        // The end of one frame and the start of the next in one record.
        std::string a = frame(sample_message("X1")), b = frame(sample_message("X2"));
        std::string first = a.substr(0, a.size() - 1);
        std::string middle = a.substr(a.size() - 1) + b.substr(0, 3);
        std::string last = b.substr(3);
        for (auto* part : {&first, &middle, &last})
            co_await asio::async_write(*s, asio::buffer(*part), asio::use_awaitable);
        ids = co_await read_acks(*s, 6);
        s->lowest_layer().close();
        server.close();
        co_await server.wait_closed();
    });
    CHECK(ids == std::vector<std::string>{"C1", "C2", "C3", "S1", "X1", "X2"});
}

TEST_CASE("reload: new connections get the new certificate, open ones go on, a bad reload keeps the old", "[tls][reload]")
{
    asio::io_context ctx;
    std::string before, after, after_bad, held;
    std::error_code bad_reload;
    run(ctx, [&]() -> asio::awaitable<void> {
        auto server = co_await hl7::start_hl7_tls_server(ack_handler, loopback_options(), server_tls("server"));
        auto fingerprint_of_new = [&]() -> asio::awaitable<std::string> {
            auto [r, w] = co_await hl7::open_hl7_tls_connection("127.0.0.1", server.port(), client_tls());
            auto info = hl7::tls::get_session_info(r);
            w.writemessage(hl7::parse(sample_message("R")));
            auto ack = co_await hl7::wait_for(r.readmessage(), 20s);
            CHECK(std::string(ack["MSA.1"]) == "AA");
            w.close();
            co_return info && info->peer_certificate ? info->peer_certificate->sha256_fingerprint : "";
        };
        auto [reader, writer] = co_await hl7::open_hl7_tls_connection("127.0.0.1", server.port(), client_tls());
        before = co_await fingerprint_of_new();
        server.reload(server_tls("server2"));
        after = co_await fingerprint_of_new();
        try {
            auto broken = server_tls("server2");
            broken.private_key_file = cert("missing.key");
            server.reload(broken);
        } catch (hl7::tls::tls_error const& e) {
            bad_reload = e.code();
        }
        after_bad = co_await fingerprint_of_new();
        // The connection opened before both reloads still works.
        writer.writemessage(hl7::parse(sample_message("HELD")));
        auto ack = co_await hl7::wait_for(reader.readmessage(), 20s);
        held = ack["MSA.1"];
        writer.close();
        server.close();
        co_await server.wait_closed();
    });
    CHECK(before == fingerprint("server"));
    CHECK(after == fingerprint("server2"));
    CHECK(bad_reload == error::certificate_load_failed);
    CHECK(after_bad == fingerprint("server2"));
    CHECK(held == "AA");
}

TEST_CASE("a TLS server on several threads: concurrent clients, handshake failures and reloads", "[tls][threads]")
{
    asio::io_context server_ctx;
    event_log log;
    auto options = loopback_options();
    options.on_error = log.hook();
    auto tls = server_tls("server", hl7::tls::client_certificates::optional);
    std::promise<std::shared_ptr<hl7::tls_server>> started;
    asio::co_spawn(
        server_ctx,
        [&]() -> asio::awaitable<void> {
            started.set_value(std::make_shared<hl7::tls_server>(
                co_await hl7::start_hl7_tls_server(ack_handler, options, tls)));
        },
        asio::detached);
    std::vector<std::thread> io;
    auto work = asio::make_work_guard(server_ctx);
    for (int i = 0; i < 3; ++i)
        io.emplace_back([&] { server_ctx.run(); });
    auto server = started.get_future().get();

    std::atomic<int> acked{0}, refused{0};
    std::vector<std::thread> clients;
    for (int t = 0; t < 4; ++t) {
        clients.emplace_back([&, t] {
            asio::io_context ctx;
            run(ctx, [&]() -> asio::awaitable<void> {
                for (int i = 0; i < 5; ++i) {
                    if ((t + i) % 3 == 0) {
                        auto ec = co_await client_error(server->port(), client_tls("foreign_client"));
                        refused += ec == error::certificate_unknown_ca;
                    } else {
                        acked += co_await send_one(server->port(), client_tls(i % 2 ? "client" : ""),
                                                   "T" + std::to_string(t)) == "AA";
                    }
                }
            });
        });
    }
    // Reloads from another thread while clients come and go.
    for (int i = 0; i < 10; ++i) {
        server->reload(server_tls(i % 2 ? "server" : "server2", hl7::tls::client_certificates::optional));
        std::this_thread::sleep_for(5ms);
    }
    for (auto& c : clients)
        c.join();
    server->close(); // any thread
    work.reset();    // the io threads end once every connection is closed
    for (auto& t : io)
        t.join();
    INFO(log.codes());
    int const expected_refused = 7; // (t + i) % 3 == 0 for t < 4, i < 5
    CHECK(refused == expected_refused);
    CHECK(acked == 20 - expected_refused);
}
