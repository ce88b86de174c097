// bench_tls: MLLP over TLS against plain TCP, same server code, same run.
//
//   hl7_bench_tls [--seconds S] [--rounds N] [--server-cpu C] [--client-cpu C]
//
// One process, two threads: the server's io_context pinned to --server-cpu
// (default 1), the load generator's to --client-cpu (default 0), so they
// never share a core. For each case, rounds alternate plain and TLS (the
// machine is shared: interleaving keeps both under the same load) and the
// medians are printed with the ratio TLS / plain:
//   - round trips per second (send a message, await its ACK) on 1, 8 and 64
//     connections held open;
//   - 1 MiB messages per second on one connection;
//   - full handshakes per second: a new connection per message, 8 at a time.
// Certificates: EC P-256, made by tests/tls/make_certs.sh at start; TLS 1.3.
// Issue 9's target: TLS at 8 and 64 connections >= 0.6 of plain.

#include <hl7/hl7.hpp>
#include <hl7/tls.hpp>

#include "hl7_bench_common.hpp"
#include "hl7_bench_process.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/use_future.hpp>

#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#ifndef HL7_BENCH_MAKE_CERTS
#define HL7_BENCH_MAKE_CERTS "tests/tls/make_certs.sh"
#endif

namespace {

using namespace std::chrono_literals;
using namespace hl7_bench;
using clock_type = std::chrono::steady_clock;

std::string
make_message(std::string const& id, std::size_t extra = 0)
{
    std::string m = "MSH|^~\\&|BENCH|TLS|HL7|CPP|202401010000||ORU^R01|" + id +
                    "|P|2.5\rPID|1||12345^^^HOSP^MR||DOE^JANE^Q||19700101|F\r"
                    "OBR|1|845439^GHH OE|1045813^GHH LAB|1554-5^GLUCOSE\r"
                    "OBX|1|SN|1554-5^GLUCOSE^POST 12H CFST:MCNC:PT:SER/PLAS:QN||^182|mg/dl|70_105|H|||F\r";
    if (extra)
        m += "OBX|2|ED|PDF^Report||" + std::string(extra, 'A') + "\r";
    return m;
}

asio::awaitable<void>
ack_handler(hl7::stream_reader reader, hl7::stream_writer writer)
{
    try {
        for (;;) {
            hl7::message msg = co_await reader.readmessage();
            writer.writemessage(msg.create_ack());
            co_await writer.drain();
        }
    } catch (std::exception const&) {
    }
}

// The servers under test, on their own pinned thread.
struct servers
{
    asio::io_context ctx{1};
    std::optional<hl7::server> plain;
    std::optional<hl7::tls_server> tls;
    std::thread thread;

    servers(std::string const& certs, int cpu)
    {
        hl7::server_options o;
        o.host = "127.0.0.1";
        o.port = 0;
        o.handler_timeout = 0s;
        hl7::tls_server_options t;
        t.certificate_chain_file = certs + "/server.pem";
        t.private_key_file = certs + "/server.key";
        auto f = asio::co_spawn(
            ctx,
            [&]() -> asio::awaitable<void> {
                plain.emplace(co_await hl7::start_hl7_server(ack_handler, o));
                tls.emplace(co_await hl7::start_hl7_tls_server(ack_handler, o, t));
            },
            asio::use_future);
        thread = std::thread([this, cpu] {
            pin_to_cpu(cpu);
            auto work = asio::make_work_guard(ctx);
            ctx.run();
        });
        f.get();
    }

    ~servers()
    {
        asio::post(ctx, [this] {
            plain->close();
            tls->close();
        });
        ctx.stop();
        thread.join();
    }
};

struct client
{
    std::string ca;
    bool tls = false;
    std::uint16_t port = 0;

    asio::awaitable<std::pair<hl7::stream_reader, hl7::stream_writer>>
    open() const
    {
        if (!tls)
            co_return co_await hl7::open_hl7_connection("127.0.0.1", port);
        hl7::tls_client_options o;
        o.ca_file = ca;
        co_return co_await hl7::open_hl7_tls_connection("127.0.0.1", port, o);
    }
};

// Round trips per second on `connections` connections held open.
double
round_trips(client const& c, int connections, std::size_t extra, double seconds)
{
    asio::io_context ctx{1};
    std::atomic<std::uint64_t> done{0};
    std::atomic<bool> stop{false};
    std::atomic<int> ready{0};
    double rate = 0;
    std::string const message = make_message("RT", extra);
    for (int i = 0; i < connections; ++i) {
        asio::co_spawn(
            ctx,
            [&]() -> asio::awaitable<void> {
                auto [reader, writer] = co_await c.open();
                ++ready;
                hl7::message const msg = hl7::parse(message);
                while (!stop) {
                    writer.writemessage(msg);
                    co_await writer.drain();
                    co_await reader.readmessage();
                    if (ready == connections)
                        ++done;
                }
                writer.close();
            },
            asio::detached);
    }
    std::thread timer([&] {
        while (ready < connections)
            std::this_thread::sleep_for(1ms);
        auto const before = done.load();
        auto const start = clock_type::now();
        std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
        auto const after = done.load();
        rate = static_cast<double>(after - before) / std::chrono::duration<double>(clock_type::now() - start).count();
        stop = true;
    });
    ctx.run();
    timer.join();
    return rate;
}

// Messages per second when each one has a connection of its own.
double
fresh_connections(client const& c, int parallel, double seconds)
{
    asio::io_context ctx{1};
    std::atomic<std::uint64_t> done{0};
    auto const start = clock_type::now();
    auto const end = start + std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(seconds));
    hl7::message const msg = hl7::parse(make_message("HS"));
    for (int i = 0; i < parallel; ++i) {
        asio::co_spawn(
            ctx,
            [&]() -> asio::awaitable<void> {
                while (clock_type::now() < end) {
                    auto [reader, writer] = co_await c.open();
                    writer.writemessage(msg);
                    co_await writer.drain();
                    co_await reader.readmessage();
                    writer.close();
                    co_await writer.wait_closed();
                    ++done;
                }
            },
            asio::detached);
    }
    ctx.run();
    // Over the whole run: the connections started just before `end` finish after it.
    return static_cast<double>(done.load()) / std::chrono::duration<double>(clock_type::now() - start).count();
}

} // namespace

int
main(int argc, char** argv)
try {
    options const opt(argc, argv, {{"seconds", "2"}, {"rounds", "3"}, {"server-cpu", "1"}, {"client-cpu", "0"}});
    if (opt.help()) {
        opt.usage(argv[0]);
        return 0;
    }
    double const seconds = opt.num("seconds");
    int const rounds = std::max(1, static_cast<int>(opt.num("rounds")));
    int server_cpu = static_cast<int>(opt.num("server-cpu"));
    int client_cpu = static_cast<int>(opt.num("client-cpu"));
    // Both CPUs must take a thread, else neither is pinned (and the header says so).
    if (::sysconf(_SC_NPROCESSORS_ONLN) < 2 || !can_pin_to_cpu(server_cpu) || !can_pin_to_cpu(client_cpu))
        server_cpu = client_cpu = -1;
    char tmpl[] = "/tmp/hl7-bench-tls-XXXXXX";
    if (!::mkdtemp(tmpl))
        return 1;
    std::string const certs = tmpl;
    if (std::system(("sh '" HL7_BENCH_MAKE_CERTS "' '" + certs + "' >/dev/null").c_str()) != 0) {
        std::fprintf(stderr, "make_certs.sh failed\n");
        return 1;
    }
    pin_to_cpu(client_cpu);
    servers srv(certs, server_cpu);
    client plain{certs + "/ca.pem", false, srv.plain->port()};
    client tls{certs + "/ca.pem", true, srv.tls->port()};
    std::printf("MLLP over TLS (TLS 1.3, EC P-256) vs plain TCP, same server code; %d interleaved rounds of %.1f s, "
                "medians\nserver thread on CPU %d, load generator on CPU %d%s\n\n",
                rounds, seconds, server_cpu, client_cpu, client_cpu < 0 ? " (not pinned)" : "");
    std::printf("%-34s %14s %14s %8s\n", "case", "plain /s", "TLS /s", "TLS/plain");

    struct bench_case
    {
        std::string name;
        std::function<double(client const&)> run;
    };
    std::vector<bench_case> cases = {
        {"round trips, 1 connection", [&](client const& c) { return round_trips(c, 1, 0, seconds); }},
        {"round trips, 8 connections", [&](client const& c) { return round_trips(c, 8, 0, seconds); }},
        {"round trips, 64 connections", [&](client const& c) { return round_trips(c, 64, 0, seconds); }},
        {"1 MiB messages, 1 connection", [&](client const& c) { return round_trips(c, 1, 1u << 20, seconds); }},
        {"new connection per message (x8)", [&](client const& c) { return fresh_connections(c, 8, seconds); }},
    };
    int failures = 0;
    for (auto const& bc : cases) {
        std::vector<double> p, t;
        for (int r = 0; r < rounds; ++r) {
            p.push_back(bc.run(plain));
            t.push_back(bc.run(tls));
        }
        double const mp = median(p), mt = median(t);
        if (mp <= 0 || mt <= 0)
            ++failures; // nothing got through: functionally wrong
        std::printf("%-34s %14.0f %14.0f %8.2f\n", bc.name.c_str(), mp, mt, mp > 0 ? mt / mp : 0.0);
        std::fflush(stdout);
    }
    std::system(("rm -rf '" + certs + "'").c_str());
    return failures ? 1 : 0;
} catch (std::exception const& e) {
    std::fprintf(stderr, "hl7_bench_tls: %s\n", e.what());
    return 2;
}
