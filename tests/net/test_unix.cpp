// Test that header file is self-contained.
#include <hl7/net/unix.hpp>

#include "mllp_net_helpers.hpp"

#include <asio/local/connect_pair.hpp>
#include <asio/local/stream_protocol.hpp>

#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <any>
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <future>
#include <string>
#include <vector>

// MLLP over real UNIX-domain sockets: the same reader, writer and server as
// over TCP (asyncio's open_unix_connection / start_unix_server).

using namespace hl7_test;
using hl7::mllp::error;
using local = asio::local::stream_protocol;

namespace {

// A fresh directory for socket files, removed afterwards.
struct temp_dir
{
    temp_dir()
    {
        char tmpl[] = "/tmp/hl7-unix-XXXXXX";
        char* p = ::mkdtemp(tmpl);
        REQUIRE(p != nullptr);
        path = p;
    }
    ~temp_dir()
    {
        std::string const cmd = "rm -rf '" + path + "'";
        [[maybe_unused]] int rc = std::system(cmd.c_str());
    }
    std::string file(std::string const& name) const { return path + "/" + name; }
    std::string path;
};

bool
exists(std::string const& path)
{
    struct ::stat st{};
    return ::lstat(path.c_str(), &st) == 0;
}

bool
is_socket(std::string const& path)
{
    struct ::stat st{};
    return ::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
}

} // namespace

TEST_CASE("unix: a reader and a writer both ways over a socket pair", "[net][unix]")
{
    asio::io_context ctx;
    local::socket a(ctx), b(ctx);
    asio::local::connect_pair(a, b);
    run(ctx, [&]() -> asio::awaitable<void> {
        auto [ra, wa] = hl7::make_hl7_connection(std::move(a));
        auto [rb, wb] = hl7::make_hl7_connection(std::move(b));
        // A pair has no names, but both ends are UNIX-domain endpoints.
        CHECK(wa.peername().is_local());
        CHECK(wa.peername().path().empty());
        for (int i = 0; i < 20; ++i) {
            wa.writemessage(hl7::parse(sample_message("A" + std::to_string(i))));
            auto m = co_await rb.readmessage();
            CHECK(m["MSH.10"] == "A" + std::to_string(i));
            wb.writemessage(m.create_ack());
            auto ack = co_await ra.readmessage();
            CHECK(ack["MSA.2"] == "A" + std::to_string(i));
        }
        // Large frames both ways (more than the socket buffers take at once).
        std::string const big(3 << 20, 'u');
        wb.writeblock(big);
        auto const got = co_await ra.readblock();
        CHECK(got == big);
        wa.close();
        bool const ended = co_await throws_as<hl7::mllp::incomplete_read_error>(rb.readblock());
        CHECK(ended);
    });
}

TEST_CASE("unix: start_hl7_unix_server with several clients, peername and sockname", "[net][unix]")
{
    temp_dir dir;
    std::string const path = dir.file("hl7.sock");
    asio::io_context ctx;
    std::vector<hl7::endpoint> server_peers, server_locals;
    int const clients = 8, each = 25;
    std::atomic<int> acks{0};
    run(ctx, [&]() -> asio::awaitable<void> {
        auto handler = [&](hl7::stream_reader reader, hl7::stream_writer writer) -> asio::awaitable<void> {
            server_peers.push_back(writer.peername());
            server_locals.push_back(reader.sockname());
            co_await ack_handler(std::move(reader), std::move(writer));
        };
        auto server = co_await hl7::start_hl7_unix_server(handler, path, {.max_connections = 64});
        CHECK(server.local_endpoint().is_local());
        CHECK(server.local_endpoint().path() == path);
        CHECK(server.local_endpoint().to_string() == path);
        CHECK(server.port() == 0);
        CHECK(is_socket(path));

        std::vector<std::future<void>> done;
        for (int c = 0; c < clients; ++c)
            done.push_back(asio::co_spawn(
                ctx,
                [&, c]() -> asio::awaitable<void> {
                    auto [reader, writer] = co_await hl7::open_hl7_unix_connection(path);
                    CHECK(writer.peername() == hl7::endpoint::local(path));
                    CHECK(std::any_cast<hl7::endpoint>(writer.get_extra_info("peername")).path() == path);
                    CHECK(writer.sockname().is_local());
                    CHECK_FALSE(writer.get_extra_info("cipher").has_value());
                    for (int i = 0; i < each; ++i) {
                        std::string const id = std::to_string(c) + "." + std::to_string(i);
                        writer.writemessage(hl7::parse(sample_message(id)));
                        co_await writer.drain();
                        auto ack = co_await reader.readmessage();
                        if (ack["MSA.2"] == id)
                            ++acks;
                    }
                    writer.close();
                    co_await writer.wait_closed();
                },
                asio::use_future));
        for (auto& f : done)
            while (f.wait_for(0s) != std::future_status::ready)
                co_await sleep_for(2ms);
        for (auto& f : done)
            f.get();
        CHECK(server.accepted_count() == static_cast<std::uint64_t>(clients));
        server.close();
        co_await server.wait_closed();
        CHECK_FALSE(exists(path)); // the server removed its socket file
    });
    CHECK(acks == clients * each);
    REQUIRE(server_peers.size() == static_cast<std::size_t>(clients));
    for (auto const& p : server_peers)
        CHECK(p.is_local()); // the clients are unnamed
    for (auto const& l : server_locals)
        CHECK(l.path() == path);
}

TEST_CASE("unix: what happens to a socket file that is already there", "[net][unix]")
{
    temp_dir dir;
    asio::io_context ctx;
    SECTION("a stale socket (its server died) is replaced")
    {
        std::string const path = dir.file("stale.sock");
        {
            local::acceptor dead(ctx, local::endpoint(path)); // binds, then closes without unlinking
        }
        REQUIRE(is_socket(path));
        run(ctx, [&]() -> asio::awaitable<void> {
            auto server = co_await hl7::start_hl7_unix_server(ack_handler, path);
            auto [reader, writer] = co_await hl7::open_hl7_unix_connection(path);
            writer.writemessage(hl7::parse(sample_message("STALE")));
            auto ack = co_await hl7::wait_for(reader.readmessage(), 5s);
            CHECK(ack["MSA.2"] == "STALE");
            server.close();
            co_await server.wait_closed();
        });
        CHECK_FALSE(exists(path));
    }
    SECTION("a live server's socket is left alone")
    {
        std::string const path = dir.file("live.sock");
        run(ctx, [&]() -> asio::awaitable<void> {
            auto first = co_await hl7::start_hl7_unix_server(ack_handler, path);
            try {
                co_await hl7::start_hl7_unix_server(ack_handler, path);
                FAIL("a second server started on a live socket");
            } catch (std::system_error const& e) {
                CHECK(e.code() == asio::error::address_in_use);
            }
            // The first one still works.
            auto [reader, writer] = co_await hl7::open_hl7_unix_connection(path);
            writer.writemessage(hl7::parse(sample_message("LIVE")));
            auto ack = co_await hl7::wait_for(reader.readmessage(), 5s);
            CHECK(ack["MSA.2"] == "LIVE");
            first.close();
            co_await first.wait_closed();
        });
    }
    SECTION("a file that is not a socket is never removed")
    {
        std::string const path = dir.file("data.txt");
        std::ofstream(path) << "precious";
        run(ctx, [&]() -> asio::awaitable<void> {
            bool const refused = co_await throws_as<std::system_error>(hl7::start_hl7_unix_server(ack_handler, path));
            CHECK(refused);
        });
        std::ifstream in(path);
        std::string content;
        in >> content;
        CHECK(content == "precious");
    }
    SECTION("connecting to nothing fails at once")
    {
        run(ctx, [&]() -> asio::awaitable<void> {
            try {
                co_await hl7::open_hl7_unix_connection(dir.file("nobody.sock"), {.connect_timeout = 5s});
                FAIL("connected");
            } catch (hl7::mllp::timeout_error const&) {
                FAIL("reported as a timeout");
            } catch (std::system_error const& e) {
                CHECK(hl7::mllp::detail::is_os_error(e.code(), ENOENT));
            }
        });
    }
}

TEST_CASE("unix: server limits apply as over TCP", "[net][unix][limits]")
{
    temp_dir dir;
    std::string const path = dir.file("limits.sock");
    asio::io_context ctx;
    std::vector<std::error_code> events;
    hl7::server_options options;
    options.on_error = [&](hl7::server_event const& e) { events.push_back(e.ec); };
    SECTION("max_connections")
    {
        options.max_connections = 1;
        run(ctx, [&]() -> asio::awaitable<void> {
            auto server = co_await hl7::start_hl7_unix_server(ack_handler, path, options);
            auto [r1, w1] = co_await hl7::open_hl7_unix_connection(path);
            while (server.connection_count() < 1)
                co_await sleep_for(1ms);
            auto [r2, w2] = co_await hl7::open_hl7_unix_connection(path);
            bool const refused =
                co_await throws_as<hl7::mllp::incomplete_read_error>(hl7::wait_for(r2.readblock(), 5s));
            CHECK(refused);
            w1.writemessage(hl7::parse(sample_message("FIRST")));
            auto ack = co_await hl7::wait_for(r1.readmessage(), 5s);
            CHECK(ack["MSA.2"] == "FIRST");
            server.close();
            co_await server.wait_closed();
        });
        CHECK(events == std::vector<std::error_code>{make_error_code(error::connection_limit)});
    }
    SECTION("idle_timeout")
    {
        options.idle_timeout = 100ms;
        run(ctx, [&]() -> asio::awaitable<void> {
            auto server = co_await hl7::start_hl7_unix_server(ack_handler, path, options);
            auto [reader, writer] = co_await hl7::open_hl7_unix_connection(path);
            bool const idled =
                co_await throws_as<hl7::mllp::incomplete_read_error>(hl7::wait_for(reader.readblock(), 5s));
            CHECK(idled);
            server.close();
            co_await server.wait_closed();
        });
        CHECK(events == std::vector<std::error_code>{make_error_code(error::idle_timeout)});
    }
}
