// hl7_bench_nats: acknowledged puts per second into a JetStream stream with
// 3 replicas (and 1), beside the SQLite store, with 1, 8 and 64 concurrent
// putters, and where the CPU goes: each nats-server process and this one
// (the putters, nats.c's threads and the store's own).
//
// A 3-node cluster is started on loopback (tests/nats/nats_cluster.hpp) and
// pinned to one CPU (every server thread, set before exec); this process is
// pinned to another. The cells run in interleaved rounds (every cell once
// per round), and the median over rounds is reported with the range, and
// the ratios R3 / SQLite and R3 / R1 taken within each round: the machine
// is shared and its disk's speed swings. The program fails only
// when a result is functionally wrong (a put not acknowledged as stored, a
// stream that does not hold what was put).

#include <hl7/store/jetstream.hpp>
#include <hl7/store/sqlite.hpp>

#include "hl7_bench_common.hpp"
#include "hl7_bench_process.hpp"
#include "hl7_bench_store.hpp"
#include "nats_cluster.hpp"

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/use_future.hpp>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace {

using namespace hl7_bench;

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

struct result : put_run
{
    double self_cpu = 0;              // seconds
    std::vector<double> server_cpu{}; // seconds, per nats-server
};

/** `putters` coroutines putting for `seconds` into `store`; each message
    from one of 8 senders, with a control id unique in the run. */
result
run_cell(double seconds, std::size_t size, hl7::store::message_store& store, asio::io_context& ctx,
         std::size_t putters, int cell, hl7_nats_test::cluster const& servers)
{
    result r;
    std::vector<double> server_before;
    for (std::size_t i = 0; i < servers.size(); ++i)
        server_before.push_back(process_cpu_seconds(servers.at(i).pid));
    double const self_before = self_cpu_seconds();
    asio::co_spawn(ctx, put_for(store, putters, seconds, size, "C" + std::to_string(cell) + "-", 8, r),
                   r.on_exception());
    ctx.run();
    ctx.restart();
    r.self_cpu = self_cpu_seconds() - self_before;
    for (std::size_t i = 0; i < servers.size(); ++i)
        r.server_cpu.push_back(process_cpu_seconds(servers.at(i).pid) - server_before[i]);
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

} // namespace

int
main(int argc, char** argv)
try {
    options const opt(argc, argv,
                      {{"dir", "."},
                       {"rounds", "3"},
                       {"seconds", "1.5"},
                       {"size", "1000"},
                       {"server-cpu", "0"},
                       {"client-cpu", "1"}});
    if (opt.help()) {
        opt.usage(argv[0]);
        return 0;
    }
    std::string const dir = opt.str("dir");
    int const rounds = std::max(1, static_cast<int>(opt.num("rounds")));
    double const seconds = opt.num("seconds");
    auto const size = static_cast<std::size_t>(opt.num("size"));
    int server_cpu = static_cast<int>(opt.num("server-cpu"));
    int client_cpu = static_cast<int>(opt.num("client-cpu"));
    long const cpus = sysconf(_SC_NPROCESSORS_ONLN);
    // Both CPUs must take a thread, else neither is pinned (and the header says so).
    if (cpus < 2 || !can_pin_to_cpu(server_cpu) || !can_pin_to_cpu(client_cpu))
        server_cpu = client_cpu = -1;
    // Before any thread exists: nats.c's and the stores' threads inherit it.
    pin_to_cpu(client_cpu);

    std::printf("hl7_bench_nats: %zu-byte messages, %d rounds of %.1f s per cell, %ld CPUs (3 nats-servers on CPU %d, "
                "this process on CPU %d%s), SQLite in %s\n\n",
                size, rounds, seconds, cpus, server_cpu, client_cpu, client_cpu < 0 ? ": not pinned" : "",
                std::filesystem::absolute(dir).c_str());

    hl7_nats_test::cluster servers;
    servers.pin_to_cpu(server_cpu);
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
    std::string const db = dir + "/hl7-bench-nats-sqlite.db";
    for (char const* suffix : {"", "-wal", "-shm"})
        std::filesystem::remove(db + suffix);
    auto sqlite = run_sync(ctx, hl7::store::open_sqlite_store(db));
    auto store_of = [&](kind k) -> hl7::store::message_store& {
        if (k == kind::r3)
            return *r3;
        if (k == kind::r1)
            return *r1;
        return *sqlite;
    };

    struct cell_spec
    {
        kind k;
        std::size_t putters;
    };
    std::vector<cell_spec> cells;
    for (std::size_t p : {1, 8, 64})
        for (kind k : {kind::r3, kind::r1, kind::sqlite})
            cells.push_back({k, p});
    bool failed = false;
    int cell_no = 0;
    auto const per_cell = run_rounds(
        rounds, cells.size(),
        [&](std::size_t c) { return run_cell(seconds, size, store_of(cells[c].k), ctx, cells[c].putters, cell_no++, servers); },
        [&](std::size_t c) { return std::string(name(cells[c].k)) + ", " + std::to_string(cells[c].putters) + " putters"; },
        [](int) { return ""; }, failed);

    // Every acknowledged put is in its store.
    for (kind k : {kind::r3, kind::r1, kind::sqlite}) {
        std::uint64_t expected = 0;
        for (std::size_t c = 0; c < cells.size(); ++c)
            if (cells[c].k == k)
                for (auto const& r : per_cell[c])
                    expected += r.puts;
        auto const st = run_sync(ctx, store_of(k).stats());
        if (st.queued != expected) {
            std::printf("FAILED: %s holds %llu messages, %llu were acknowledged\n", name(k),
                        static_cast<unsigned long long>(st.queued), static_cast<unsigned long long>(expected));
            failed = true;
        }
    }

    std::printf("\n%-13s %7s %9s %15s %7s %7s %9s %9s %7s %7s %7s %7s\n", "store", "putters", "puts/s", "(range)",
                "p50 ms", "p99 ms", "us/put", "us/put", "this %", "n1 %", "n2 %", "n3 %");
    std::printf("%-13s %7s %9s %15s %7s %7s %9s %9s\n", "", "", "", "", "", "", "(this)", "(nats)");
    for (std::size_t c = 0; c < cells.size(); ++c) {
        std::vector<double> rate, p50, p99, self_us, nats_us, self_pct;
        std::vector<std::vector<double>> server_pct(servers.size());
        for (auto const& r : per_cell[c]) {
            double const n = std::max<double>(static_cast<double>(r.puts), 1);
            rate.push_back(put_rate(r));
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
        std::printf("%-13s %7zu %9.0f %15s %7.2f %7.2f %9.0f %9.0f %7.0f", name(cells[c].k), cells[c].putters,
                    median(rate), range_text(rate).c_str(), median(p50), median(p99), median(self_us),
                    median(nats_us), median(self_pct));
        for (auto const& v : server_pct)
            std::printf(" %7.0f", median(v));
        std::printf("\n");
    }
    std::printf("\nus/put: CPU microseconds per acknowledged put, of this process (putters, nats.c, the store's "
                "threads) and of the three nats-servers together; %%: CPU time over wall time of each process "
                "(100 = one CPU). The SQLite store's disk waits are not CPU.\n");

    // Ratios within a round (the same machine and disk weather), then the
    // median over rounds; cells are laid out R3, R1, SQLite per putter count.
    auto ratio = [&](std::size_t a, std::size_t b) {
        std::vector<double> v;
        for (std::size_t round = 0; round < per_cell[a].size(); ++round)
            v.push_back(put_rate(per_cell[a][round]) / std::max(put_rate(per_cell[b][round]), 1e-9));
        return median(v);
    };
    std::printf("\nputs/s ratios (median of per-round ratios)   1 putter  8 putters  64 putters\n");
    std::printf("  JetStream R3 / SQLite                     %9.2f %10.2f %11.2f\n", ratio(0, 2), ratio(3, 5),
                ratio(6, 8));
    std::printf("  JetStream R3 / JetStream R1               %9.2f %10.2f %11.2f\n", ratio(0, 1), ratio(3, 4),
                ratio(6, 7));

    run_sync(ctx, r3->close());
    run_sync(ctx, r1->close());
    run_sync(ctx, sqlite->close());
    for (char const* suffix : {"", "-wal", "-shm"})
        std::filesystem::remove(db + suffix);
    return failed ? 1 : 0;
} catch (std::exception const& e) {
    std::fprintf(stderr, "hl7_bench_nats: %s\n", e.what());
    return 2;
}
