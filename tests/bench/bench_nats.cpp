// hl7_bench_nats: acknowledged puts per second into a JetStream stream with
// 3 replicas (and 1), beside the SQLite store, with 1, 8 and 64 concurrent
// putters, and where the CPU goes: each nats-server process and this one
// (the putters, nats.c's threads and the store's own).
//
// A 3-node cluster is started on loopback (tests/nats/nats_cluster.hpp) and
// pinned to one CPU (every server thread, set before exec); this process is
// pinned to another. The cells run in interleaved rounds (every cell once
// per round), and the median over rounds is reported with the range: the
// machine is shared and its disk's speed swings. The program fails only
// when a result is functionally wrong (a put not acknowledged as stored, a
// stream that does not hold what was put).

#include <hl7/store/jetstream.hpp>
#include <hl7/store/sqlite.hpp>

#include "nats_cluster.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_future.hpp>

#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

struct config
{
    std::string dir = ".";
    int rounds = 3;
    double seconds = 1.5;
    std::size_t size = 1000;
    int server_cpu = 0;
    int client_cpu = 1;
};

enum class kind { r3, r1, sqlite };

char const*
name(kind k)
{
    switch (k) {
    case kind::r3: return "JetStream R3";
    case kind::r1: return "JetStream R1";
    case kind::sqlite: return "SQLite";
    }
    return "?";
}

/// CPU seconds (user + system) of a process, from /proc.
double
process_cpu(pid_t pid)
{
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(in)), {});
    auto const paren = text.rfind(')');
    if (paren == std::string::npos)
        return 0;
    std::istringstream fields(text.substr(paren + 2));
    std::string f;
    unsigned long long utime = 0, stime = 0;
    // Fields after the name start at 3 (state); utime and stime are 14 and 15.
    for (int i = 3; i <= 15 && fields >> f; ++i) {
        if (i == 14)
            utime = std::stoull(f);
        if (i == 15)
            stime = std::stoull(f);
    }
    return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double
self_cpu()
{
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

std::string
bench_message(std::string const& control_id, std::size_t size)
{
    std::string m = "MSH|^~\\&|LAB|NORTH|HIS|MAIN|20240101120000||ORU^R01^ORU_R01|" + control_id +
                    "|P|2.5\rPID|1||12345^^^HOSP^MR||DOE^JOHN\rOBX|1|TX|NOTE||";
    if (m.size() + 1 < size)
        m.append(size - m.size() - 1, 'x');
    m += '\r';
    return m;
}

struct result
{
    std::uint64_t puts = 0;
    double seconds = 0;
    double p50_ms = 0, p99_ms = 0;
    double self_cpu = 0;              // seconds
    std::vector<double> server_cpu{}; // seconds, per nats-server
    bool failed = false;
    std::string failure{};
};

/** `putters` coroutines putting for `seconds` into `store`; each message
    from one of 8 senders, with a control id unique in the run. */
result
run_cell(config const& cfg, hl7::store::message_store& store, asio::io_context& ctx, std::size_t putters, int cell,
         hl7_nats_test::cluster const* servers)
{
    result r;
    std::vector<double> latencies;
    latencies.reserve(1 << 16);
    std::vector<double> server_before;
    if (servers)
        for (std::size_t i = 0; i < servers->size(); ++i)
            server_before.push_back(process_cpu(servers->at(i).pid));
    double const self_before = self_cpu();
    asio::co_spawn(
        ctx,
        [&]() -> asio::awaitable<void> {
            auto const t0 = clock_type::now();
            auto const stop =
                t0 + std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(cfg.seconds));
            std::size_t running = putters;
            auto ex = co_await asio::this_coro::executor;
            for (std::size_t p = 0; p < putters; ++p) {
                asio::co_spawn(
                    ex,
                    [&, p]() -> asio::awaitable<void> {
                        for (std::size_t i = 0; clock_type::now() < stop && !r.failed; ++i) {
                            std::string const id =
                                "C" + std::to_string(cell) + "-" + std::to_string(p) + "-" + std::to_string(i);
                            std::string text = bench_message(id, cfg.size);
                            hl7::store::metadata meta;
                            meta.sending_application = "LAB" + std::to_string(p % 8);
                            meta.sending_facility = "NORTH";
                            meta.control_id = id;
                            meta.message_type = "ORU^R01^ORU_R01";
                            meta.peer = "127.0.0.1:" + std::to_string(p);
                            auto const s = clock_type::now();
                            try {
                                auto res = co_await store.put(std::move(text), std::move(meta));
                                if (res.status != hl7::store::put_status::stored) {
                                    r.failed = true;
                                    r.failure = id + " was not stored";
                                }
                            }
                            catch (std::exception const& e) {
                                r.failed = true;
                                r.failure = e.what();
                            }
                            latencies.push_back(std::chrono::duration<double, std::milli>(clock_type::now() - s).count());
                            ++r.puts;
                        }
                        --running;
                    },
                    asio::detached);
            }
            asio::steady_timer t(ex);
            while (running > 0) {
                t.expires_after(std::chrono::milliseconds(5));
                co_await t.async_wait(asio::use_awaitable);
            }
            r.seconds = std::chrono::duration<double>(clock_type::now() - t0).count();
        },
        [&](std::exception_ptr e) {
            if (e) {
                try {
                    std::rethrow_exception(e);
                }
                catch (std::exception const& x) {
                    r.failed = true;
                    r.failure = x.what();
                }
            }
        });
    ctx.run();
    ctx.restart();
    r.self_cpu = self_cpu() - self_before;
    if (servers)
        for (std::size_t i = 0; i < servers->size(); ++i)
            r.server_cpu.push_back(process_cpu(servers->at(i).pid) - server_before[i]);
    std::sort(latencies.begin(), latencies.end());
    if (!latencies.empty()) {
        r.p50_ms = latencies[latencies.size() / 2];
        r.p99_ms = latencies[std::min(latencies.size() - 1, latencies.size() * 99 / 100)];
    }
    return r;
}

template<class T>
T
run_sync(asio::io_context& ctx, asio::awaitable<T> a)
{
    auto fut = asio::co_spawn(ctx, std::move(a), asio::use_future);
    ctx.run();
    ctx.restart();
    return fut.get();
}

void
usage()
{
    std::printf("usage: hl7_bench_nats [--dir DIR] [--rounds R] [--seconds S] [--size BYTES] [--server-cpu N] "
                "[--client-cpu N]\n");
}

} // namespace

int
main(int argc, char** argv)
{
    config cfg;
    for (int i = 1; i < argc; ++i) {
        std::string const a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) {
                usage();
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "--dir")
            cfg.dir = value();
        else if (a == "--rounds")
            cfg.rounds = std::max(1, std::stoi(value()));
        else if (a == "--seconds")
            cfg.seconds = std::stod(value());
        else if (a == "--size")
            cfg.size = std::stoul(value());
        else if (a == "--server-cpu")
            cfg.server_cpu = std::stoi(value());
        else if (a == "--client-cpu")
            cfg.client_cpu = std::stoi(value());
        else if (a == "--help" || a == "-h") {
            usage();
            return 0;
        }
        else {
            usage();
            return 2;
        }
    }
    long const cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus < 2)
        cfg.server_cpu = cfg.client_cpu = -1;
    // Before any thread exists: nats.c's and the stores' threads inherit it.
    if (cfg.client_cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cfg.client_cpu, &set);
        sched_setaffinity(0, sizeof set, &set);
    }

    std::printf("hl7_bench_nats: %zu-byte messages, %d rounds of %.1f s per cell, %ld CPUs (3 nats-servers on CPU %d, "
                "this process on CPU %d), SQLite in %s\n\n",
                cfg.size, cfg.rounds, cfg.seconds, cpus, cfg.server_cpu, cfg.client_cpu,
                std::filesystem::absolute(cfg.dir).c_str());

    hl7_nats_test::cluster servers;
    servers.pin_to_cpu(cfg.server_cpu);
    servers.start();

    asio::io_context ctx;
    auto jetstream = [&](int replicas) {
        hl7::store::jetstream_options o;
        o.replicas = replicas;
        o.stream = "BENCH_R" + std::to_string(replicas);
        o.subject_prefix = "bench.r" + std::to_string(replicas);
        o.dead_stream = o.stream + "_DEAD";
        o.dead_subject_prefix = o.subject_prefix + "dead";
        o.consumer = "bench";
        return run_sync(ctx, hl7::store::open_jetstream_store(servers.urls(), o));
    };
    auto r3 = jetstream(3);
    auto r1 = jetstream(1);
    std::string const db = cfg.dir + "/hl7-bench-nats-sqlite.db";
    for (char const* suffix : {"", "-wal", "-shm"})
        std::filesystem::remove(db + suffix);
    auto sqlite = run_sync(ctx, hl7::store::open_sqlite_store(db));

    struct cell_spec
    {
        kind k;
        std::size_t putters;
    };
    std::vector<cell_spec> cells;
    for (std::size_t p : {1, 8, 64})
        for (kind k : {kind::r3, kind::r1, kind::sqlite})
            cells.push_back({k, p});
    std::vector<std::vector<result>> per_cell(cells.size());
    std::uint64_t put_r3 = 0, put_r1 = 0, put_sqlite = 0;
    bool failed = false;
    int cell_no = 0;
    for (int round = 0; round < cfg.rounds; ++round) {
        std::printf("round %d:", round + 1);
        for (std::size_t c = 0; c < cells.size(); ++c) {
            hl7::store::message_store& store = cells[c].k == kind::r3   ? static_cast<hl7::store::message_store&>(*r3)
                                               : cells[c].k == kind::r1 ? static_cast<hl7::store::message_store&>(*r1)
                                                                        : *sqlite;
            auto r = run_cell(cfg, store, ctx, cells[c].putters, cell_no++, &servers);
            (cells[c].k == kind::r3 ? put_r3 : cells[c].k == kind::r1 ? put_r1 : put_sqlite) += r.puts;
            std::printf(" %.0f", static_cast<double>(r.puts) / r.seconds);
            std::fflush(stdout);
            if (r.failed) {
                std::printf("\n  FAILED (%s, %zu putters): %s\n", name(cells[c].k), cells[c].putters, r.failure.c_str());
                failed = true;
            }
            per_cell[c].push_back(std::move(r));
        }
        std::printf(" puts/s\n");
    }

    // Every acknowledged put is in its store.
    auto check = [&](hl7::store::message_store& s, std::uint64_t expected, char const* what) {
        auto const st = run_sync(ctx, s.stats());
        if (st.queued != expected) {
            std::printf("FAILED: %s holds %llu messages, %llu were acknowledged\n", what,
                        static_cast<unsigned long long>(st.queued), static_cast<unsigned long long>(expected));
            failed = true;
        }
    };
    check(*r3, put_r3, "the R3 stream");
    check(*r1, put_r1, "the R1 stream");
    check(*sqlite, put_sqlite, "the SQLite store");

    auto median = [](std::vector<double> v) {
        std::sort(v.begin(), v.end());
        return v.empty() ? 0.0 : v[v.size() / 2];
    };
    std::printf("\n%-13s %7s %9s %15s %7s %7s %9s %9s %7s %7s %7s %7s\n", "store", "putters", "puts/s", "(range)",
                "p50 ms", "p99 ms", "us/put", "us/put", "this %", "n1 %", "n2 %", "n3 %");
    std::printf("%-13s %7s %9s %15s %7s %7s %9s %9s\n", "", "", "", "", "", "", "(this)", "(nats)");
    for (std::size_t c = 0; c < cells.size(); ++c) {
        std::vector<double> rate, p50, p99, self_us, nats_us, self_pct;
        std::vector<std::vector<double>> server_pct(servers.size());
        for (auto const& r : per_cell[c]) {
            double const n = std::max<double>(static_cast<double>(r.puts), 1);
            rate.push_back(static_cast<double>(r.puts) / r.seconds);
            p50.push_back(r.p50_ms);
            p99.push_back(r.p99_ms);
            self_us.push_back(r.self_cpu / n * 1e6);
            double total = 0;
            for (std::size_t i = 0; i < r.server_cpu.size(); ++i) {
                total += r.server_cpu[i];
                server_pct[i].push_back(r.server_cpu[i] / r.seconds * 100);
            }
            nats_us.push_back(total / n * 1e6);
            self_pct.push_back(r.self_cpu / r.seconds * 100);
        }
        char range[64];
        std::snprintf(range, sizeof range, "(%.0f-%.0f)", *std::min_element(rate.begin(), rate.end()),
                      *std::max_element(rate.begin(), rate.end()));
        std::printf("%-13s %7zu %9.0f %15s %7.2f %7.2f %9.0f %9.0f %7.0f", name(cells[c].k), cells[c].putters,
                    median(rate), range, median(p50), median(p99), median(self_us), median(nats_us), median(self_pct));
        for (auto const& v : server_pct)
            std::printf(" %7.0f", median(v));
        std::printf("\n");
    }
    std::printf("\nus/put: CPU microseconds per acknowledged put, of this process (putters, nats.c, the store's "
                "threads) and of the three nats-servers together; %%: CPU time over wall time of each process "
                "(100 = one CPU). The SQLite store's disk waits are not CPU.\n");

    run_sync(ctx, r3->close());
    run_sync(ctx, r1->close());
    run_sync(ctx, sqlite->close());
    for (char const* suffix : {"", "-wal", "-shm"})
        std::filesystem::remove(db + suffix);
    return failed ? 1 : 0;
}
