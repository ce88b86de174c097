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

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <string>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

struct config
{
    std::string dir = ".";
    int rounds = 3;
    double seconds = 1.0;
    std::size_t size = 1000;
    int putter_cpu = 0;
    int store_cpu = 1;
};

bool
pin_this_thread(int cpu)
{
    if (cpu < 0)
        return false;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
}

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
    auto const t0 = clock_type::now();
    while (std::chrono::duration<double>(clock_type::now() - t0).count() < seconds) {
        if (::write(fd, block.data(), block.size()) != static_cast<ssize_t>(block.size()) || ::fdatasync(fd) != 0)
            break;
        ++n;
    }
    double const elapsed = std::chrono::duration<double>(clock_type::now() - t0).count();
    ::close(fd);
    ::unlink(path.c_str());
    return static_cast<double>(n) / elapsed;
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
    std::size_t putters = 0;
    bool group = true;
    std::uint64_t puts = 0;
    std::uint64_t commits = 0;
    double seconds = 0;
    double p50_ms = 0, p99_ms = 0;
    bool failed = false;
    std::string failure;
};

result
run_cell(config const& cfg, std::size_t putters, bool group, int cell)
{
    result r;
    r.putters = putters;
    r.group = group;
    std::string const path = cfg.dir + "/hl7-bench-store-" + std::to_string(cell) + ".db";
    for (char const* suffix : {"", "-wal", "-shm"})
        std::filesystem::remove(path + suffix);

    hl7::store::sqlite_options o;
    o.max_batch = group ? 1000 : 1;
    o.dedup_window = std::chrono::hours(24);

    asio::io_context ctx;
    std::vector<double> latencies;
    latencies.reserve(1 << 16);
    asio::co_spawn(
        ctx,
        [&]() -> asio::awaitable<void> {
            // The store's thread is started from here: pinned to store_cpu,
            // then this (the putters') thread moves to putter_cpu.
            pin_this_thread(cfg.store_cpu);
            auto store = co_await hl7::store::open_sqlite_store(path, o);
            pin_this_thread(cfg.putter_cpu);
            auto const start_commits = store->counters().commits;
            auto const t0 = clock_type::now();
            auto const stop = t0 + std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(cfg.seconds));
            std::size_t running = putters;
            auto ex = co_await asio::this_coro::executor;
            for (std::size_t p = 0; p < putters; ++p) {
                asio::co_spawn(
                    ex,
                    [&, p]() -> asio::awaitable<void> {
                        for (std::size_t i = 0; clock_type::now() < stop && !r.failed; ++i) {
                            std::string const id = "B" + std::to_string(p) + "-" + std::to_string(i);
                            std::string text = bench_message(id, cfg.size);
                            hl7::store::metadata meta;
                            meta.sending_application = "LAB";
                            meta.sending_facility = "NORTH";
                            meta.control_id = id;
                            meta.message_type = "ORU^R01^ORU_R01";
                            meta.peer = "127.0.0.1:" + std::to_string(p);
                            auto const s = clock_type::now();
                            try {
                                auto res = co_await store->put(std::move(text), std::move(meta));
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
            r.commits = store->counters().commits - start_commits;
            auto st = co_await store->stats();
            if (!r.failed && st.queued != r.puts) {
                r.failed = true;
                r.failure = "the store holds " + std::to_string(st.queued) + " messages, " + std::to_string(r.puts) +
                            " were put";
            }
            co_await store->close();
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
    pin_this_thread(cfg.putter_cpu);
    std::sort(latencies.begin(), latencies.end());
    if (!latencies.empty()) {
        r.p50_ms = latencies[latencies.size() / 2];
        r.p99_ms = latencies[std::min(latencies.size() - 1, latencies.size() * 99 / 100)];
    }
    for (char const* suffix : {"", "-wal", "-shm", "-consumer.lock"})
        std::filesystem::remove(path + suffix);
    return r;
}

void
usage()
{
    std::printf("usage: hl7_bench_store [--dir DIR] [--rounds R] [--seconds S] [--size BYTES] [--putter-cpu N] "
                "[--store-cpu N]\n");
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
        else if (a == "--putter-cpu")
            cfg.putter_cpu = std::stoi(value());
        else if (a == "--store-cpu")
            cfg.store_cpu = std::stoi(value());
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
        cfg.putter_cpu = cfg.store_cpu = -1;

    std::printf("hl7_bench_store: %s, %zu-byte messages, %d rounds of %.1f s per cell, %ld CPUs (putters on CPU %d, "
                "store on CPU %d)\n\n",
                std::filesystem::absolute(cfg.dir).c_str(), cfg.size, cfg.rounds, cfg.seconds, cpus, cfg.putter_cpu,
                cfg.store_cpu);

    struct cell_spec
    {
        std::size_t putters;
        bool group;
    };
    std::vector<cell_spec> const cells{{1, true}, {1, false}, {8, true}, {8, false}, {64, true}, {64, false}};
    std::vector<std::vector<result>> per_cell(cells.size());
    std::vector<double> ceilings;
    bool failed = false;
    int file = 0;
    for (int round = 0; round < cfg.rounds; ++round) {
        ceilings.push_back(fsync_rate(cfg.dir, std::min(cfg.seconds, 1.0)));
        std::printf("round %d: disk %.0f fsyncs/s;", round + 1, ceilings.back());
        for (std::size_t c = 0; c < cells.size(); ++c) {
            auto r = run_cell(cfg, cells[c].putters, cells[c].group, file++);
            std::printf(" %.0f", static_cast<double>(r.puts) / r.seconds);
            std::fflush(stdout);
            if (r.failed) {
                std::printf("\n  FAILED (%zu putters, %s): %s\n", r.putters, r.group ? "group" : "per put",
                            r.failure.c_str());
                failed = true;
            }
            per_cell[c].push_back(std::move(r));
        }
        std::printf(" puts/s\n");
    }

    auto median = [](std::vector<double> v) {
        std::sort(v.begin(), v.end());
        return v.empty() ? 0.0 : v[v.size() / 2];
    };
    auto rate = [](result const& r) { return static_cast<double>(r.puts) / r.seconds; };

    std::printf("\ndisk ceiling: %.0f fsyncs/s median (4 KiB write + fdatasync in a loop, same directory; range %.0f-%.0f)\n\n",
                median(ceilings), *std::min_element(ceilings.begin(), ceilings.end()),
                *std::max_element(ceilings.begin(), ceilings.end()));
    std::printf("%-8s %-8s %10s %17s %10s %12s %8s %8s\n", "putters", "commit", "puts/s", "(range)", "commits/s",
                "puts/commit", "p50 ms", "p99 ms");
    for (std::size_t c = 0; c < cells.size(); ++c) {
        std::vector<double> puts, commits, per_commit, p50, p99;
        for (auto const& r : per_cell[c]) {
            puts.push_back(rate(r));
            commits.push_back(static_cast<double>(r.commits) / r.seconds);
            per_commit.push_back(r.commits ? static_cast<double>(r.puts) / static_cast<double>(r.commits) : 0.0);
            p50.push_back(r.p50_ms);
            p99.push_back(r.p99_ms);
        }
        char range[64];
        std::snprintf(range, sizeof range, "(%.0f-%.0f)", *std::min_element(puts.begin(), puts.end()),
                      *std::max_element(puts.begin(), puts.end()));
        std::printf("%-8zu %-8s %10.0f %17s %10.0f %12.1f %8.2f %8.2f\n", cells[c].putters,
                    cells[c].group ? "group" : "per put", median(puts), range, median(commits), median(per_commit),
                    median(p50), median(p99));
    }

    // Ratios within a round (same disk weather), then the median.
    auto ratio = [&](std::size_t a, std::size_t b) {
        std::vector<double> v;
        for (int round = 0; round < cfg.rounds; ++round)
            v.push_back(rate(per_cell[a][static_cast<std::size_t>(round)]) /
                        std::max(rate(per_cell[b][static_cast<std::size_t>(round)]), 1e-9));
        return median(v);
    };
    auto over_disk = [&](std::size_t a) {
        std::vector<double> v;
        for (int round = 0; round < cfg.rounds; ++round)
            v.push_back(rate(per_cell[a][static_cast<std::size_t>(round)]) /
                        std::max(ceilings[static_cast<std::size_t>(round)], 1e-9));
        return median(v);
    };
    std::printf("\ngroup commit / one transaction per put (median of per-round ratios): %.1fx at 1, %.1fx at 8, %.1fx "
                "at 64 putters\n",
                ratio(0, 1), ratio(2, 3), ratio(4, 5));
    std::printf("puts/s over the disk's fsyncs/s (same round): %.2fx group and %.2fx per put at 64 putters\n",
                over_disk(4), over_disk(5));
    return failed ? 1 : 0;
}
