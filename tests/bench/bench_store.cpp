// hl7_bench_store: durable puts per second into the SQLite store, with 1, 8
// and 64 concurrent putters, group commit against one transaction per put
// (max_batch = 1), and the disk's own fsync rate as the ceiling, all in the
// same run on the same directory.
//
//   hl7_bench_store [--dir DIR] [--rounds R] [--seconds S] [--size BYTES] [--putter-cpu N] [--store-cpu N]
//
// The putters are coroutines on one thread (pinned to --putter-cpu, default
// 0); the store's database thread is pinned to --store-cpu (default 1). A
// shared machine's disk changes its fsync latency by an order of magnitude
// from one moment to the next, so the cells are measured in rounds: each
// round measures the disk's fsync rate and then runs every cell once, S
// seconds each (default 1) on a fresh store file; R rounds (default 3).
// Reported per cell: the median over the rounds of puts per second (with
// the range), commits (= fsyncs of the WAL) per second, puts per commit, and
// the put latency (p50, p99) as the putters saw it; and the ratios group /
// per put and puts / disk fsyncs, taken within each round, median over rounds.
// Fails only when a put fails or the store's count disagrees with the puts.

#include <hl7/store/sqlite.hpp>

#include "hl7_bench_common.hpp"
#include "hl7_bench_process.hpp"
#include "hl7_bench_store.hpp"

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

namespace {

using namespace hl7_bench;

struct config
{
    std::string dir = ".";
    int rounds = 3;
    double seconds = 1.0;
    std::size_t size = 1000;
    int putter_cpu = 0;
    int store_cpu = 1;
};

/// The disk's ceiling: 4 KiB appended then fdatasync'd, as often as it goes, for `seconds`.
double
fsync_rate(std::string const& dir, double seconds)
{
    std::string const path = dir + "/hl7-bench-fsync.tmp";
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return -1;
    std::string block(4096, 'f');
    std::size_t n = 0;
    auto const t0 = clock::now();
    while (seconds_since(t0) < seconds) {
        if (::write(fd, block.data(), block.size()) != static_cast<ssize_t>(block.size()) || ::fdatasync(fd) != 0)
            break;
        ++n;
    }
    double const elapsed = seconds_since(t0);
    ::close(fd);
    ::unlink(path.c_str());
    return static_cast<double>(n) / elapsed;
}

struct result : put_run
{
    std::uint64_t commits = 0;
};

result
run_cell(config const& cfg, std::size_t putters, bool group, int cell)
{
    result r;
    std::string const path = cfg.dir + "/hl7-bench-store-" + std::to_string(cell) + ".db";
    for (char const* suffix : {"", "-wal", "-shm"})
        std::filesystem::remove(path + suffix);

    hl7::store::sqlite_options o;
    o.max_batch = group ? 1000 : 1;
    o.dedup_window = std::chrono::hours(24);

    asio::io_context ctx;
    asio::co_spawn(
        ctx,
        [&]() -> asio::awaitable<void> {
            // The store's thread is started from here: pinned to store_cpu,
            // then this (the putters') thread moves to putter_cpu.
            pin_to_cpu(cfg.store_cpu);
            auto store = co_await hl7::store::open_sqlite_store(path, o);
            pin_to_cpu(cfg.putter_cpu);
            auto const start_commits = store->counters().commits;
            co_await put_for(*store, putters, cfg.seconds, cfg.size, "B", 1, r);
            r.commits = store->counters().commits - start_commits;
            auto st = co_await store->stats();
            if (st.queued != r.puts)
                r.fail("the store holds " + std::to_string(st.queued) + " messages, " + std::to_string(r.puts) +
                       " were put");
            co_await store->close();
        },
        r.on_exception());
    ctx.run();
    pin_to_cpu(cfg.putter_cpu);
    for (char const* suffix : {"", "-wal", "-shm", "-consumer.lock"})
        std::filesystem::remove(path + suffix);
    return r;
}

} // namespace

int
main(int argc, char** argv)
try {
    options const opt(argc, argv,
                      {{"dir", "."},
                       {"rounds", "3"},
                       {"seconds", "1"},
                       {"size", "1000"},
                       {"putter-cpu", "0"},
                       {"store-cpu", "1"}});
    if (opt.help()) {
        opt.usage(argv[0]);
        return 0;
    }
    config cfg;
    cfg.dir = opt.str("dir");
    cfg.rounds = std::max(1, static_cast<int>(opt.num("rounds")));
    cfg.seconds = opt.num("seconds");
    cfg.size = static_cast<std::size_t>(opt.num("size"));
    cfg.putter_cpu = static_cast<int>(opt.num("putter-cpu"));
    cfg.store_cpu = static_cast<int>(opt.num("store-cpu"));
    long const cpus = sysconf(_SC_NPROCESSORS_ONLN);
    // Both CPUs must take a thread, else neither is pinned (and the header says so).
    if (cpus < 2 || !can_pin_to_cpu(cfg.store_cpu) || !can_pin_to_cpu(cfg.putter_cpu))
        cfg.putter_cpu = cfg.store_cpu = -1;

    std::printf("hl7_bench_store: %s, %zu-byte messages, %d rounds of %.1f s per cell, %ld CPUs (putters on CPU %d, "
                "store on CPU %d%s)\n\n",
                std::filesystem::absolute(cfg.dir).c_str(), cfg.size, cfg.rounds, cfg.seconds, cpus, cfg.putter_cpu,
                cfg.store_cpu, cfg.putter_cpu < 0 ? ": not pinned" : "");

    struct cell_spec
    {
        std::size_t putters;
        bool group;
    };
    std::vector<cell_spec> const cells{{1, true}, {1, false}, {8, true}, {8, false}, {64, true}, {64, false}};
    std::vector<double> ceilings;
    bool failed = false;
    int file = 0;
    auto const per_cell = run_rounds(
        cfg.rounds, cells.size(),
        [&](std::size_t c) { return run_cell(cfg, cells[c].putters, cells[c].group, file++); },
        [&](std::size_t c) {
            return std::to_string(cells[c].putters) + " putters, " + (cells[c].group ? "group" : "per put");
        },
        [&](int) {
            ceilings.push_back(fsync_rate(cfg.dir, std::min(cfg.seconds, 1.0)));
            char text[64];
            std::snprintf(text, sizeof text, " disk %.0f fsyncs/s;", ceilings.back());
            return std::string(text);
        },
        failed);

    std::printf("\ndisk ceiling: %.0f fsyncs/s median, range %s (4 KiB write + fdatasync in a loop, same directory)\n\n",
                median(ceilings), range_text(ceilings).c_str());
    std::printf("%-8s %-8s %10s %17s %10s %12s %8s %8s\n", "putters", "commit", "puts/s", "(range)", "commits/s",
                "puts/commit", "p50 ms", "p99 ms");
    for (std::size_t c = 0; c < cells.size(); ++c) {
        std::vector<double> puts, commits, per_commit, p50, p99;
        for (auto const& r : per_cell[c]) {
            puts.push_back(put_rate(r));
            commits.push_back(static_cast<double>(r.commits) / r.seconds);
            per_commit.push_back(r.commits ? static_cast<double>(r.puts) / static_cast<double>(r.commits) : 0.0);
            p50.push_back(r.p50_ms);
            p99.push_back(r.p99_ms);
        }
        std::printf("%-8zu %-8s %10.0f %17s %10.0f %12.1f %8.2f %8.2f\n", cells[c].putters,
                    cells[c].group ? "group" : "per put", median(puts), range_text(puts).c_str(), median(commits),
                    median(per_commit), median(p50), median(p99));
    }

    // Ratios within a round (same disk weather), then the median.
    auto ratio = [&](std::size_t a, std::size_t b) {
        std::vector<double> v;
        for (std::size_t round = 0; round < per_cell[a].size(); ++round)
            v.push_back(put_rate(per_cell[a][round]) / std::max(put_rate(per_cell[b][round]), 1e-9));
        return median(v);
    };
    auto over_disk = [&](std::size_t a) {
        std::vector<double> v;
        for (std::size_t round = 0; round < per_cell[a].size(); ++round)
            v.push_back(put_rate(per_cell[a][round]) / std::max(ceilings[round], 1e-9));
        return median(v);
    };
    std::printf("\ngroup commit / one transaction per put (median of per-round ratios): %.1fx at 1, %.1fx at 8, %.1fx "
                "at 64 putters\n",
                ratio(0, 1), ratio(2, 3), ratio(4, 5));
    std::printf("puts/s over the disk's fsyncs/s (same round): %.2fx group and %.2fx per put at 64 putters\n",
                over_disk(4), over_disk(5));
    return failed ? 1 : 0;
} catch (std::exception const& e) {
    std::fprintf(stderr, "hl7_bench_store: %s\n", e.what());
    return 2;
}
