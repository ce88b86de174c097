#ifndef HL7_TESTS_BENCH_HL7_BENCH_STORE_HPP
#define HL7_TESTS_BENCH_HL7_BENCH_STORE_HPP

// The load of the store benchmarks (hl7_bench_store, hl7_bench_nats):
// concurrent putters, each putting one message after another into a
// hl7::store::message_store for a fixed time, with the put latency as the
// putters saw it. Not part of the library.

#include "hl7_bench_common.hpp"

#include <hl7/store/store.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <exception>
#include <string>
#include <vector>

namespace hl7_bench {

/// An ORU of `size` bytes (at least its fixed segments) with MSH-10 `control_id`.
inline std::string
store_message(std::string const& control_id, std::size_t size)
{
    std::string m = "MSH|^~\\&|LAB|NORTH|HIS|MAIN|20240101120000||ORU^R01^ORU_R01|" + control_id +
                    "|P|2.5\rPID|1||12345^^^HOSP^MR||DOE^JOHN\rOBX|1|TX|NOTE||";
    if (m.size() + 1 < size)
        m.append(size - m.size() - 1, 'x');
    m += '\r';
    return m;
}

/// What one run of putters did; `failed` means functionally wrong.
struct put_run
{
    std::uint64_t puts = 0;
    double seconds = 0;
    double p50_ms = 0, p99_ms = 0;
    bool failed = false;
    std::string failure{};

    void
    fail(std::string why)
    {
        if (!failed) {
            failed = true;
            failure = std::move(why);
        }
    }

    /// A co_spawn completion handler that records an escaped exception.
    auto
    on_exception()
    {
        return [this](std::exception_ptr e) {
            if (!e)
                return;
            try {
                std::rethrow_exception(e);
            }
            catch (std::exception const& x) {
                fail(x.what());
            }
        };
    }
};

/** `putters` coroutines on the calling coroutine's executor, putting into
    `store` for `seconds`. Putter p's i-th message has MSH-10
    `prefix` + p + "-" + i and comes from sending application
    "LAB" + (p % `senders`); a put that is not `stored` fails the run. Fills
    `r` (puts, wall seconds, latency percentiles). */
inline asio::awaitable<void>
put_for(hl7::store::message_store& store, std::size_t putters, double seconds, std::size_t size, std::string prefix,
        std::size_t senders, put_run& r)
{
    std::vector<double> latencies;
    latencies.reserve(1 << 16);
    auto const t0 = clock::now();
    auto const stop = t0 + std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(seconds));
    std::size_t running = putters;
    auto ex = co_await asio::this_coro::executor;
    for (std::size_t p = 0; p < putters; ++p) {
        asio::co_spawn(
            ex,
            [&, p]() -> asio::awaitable<void> {
                for (std::size_t i = 0; clock::now() < stop && !r.failed; ++i) {
                    std::string const id = prefix + std::to_string(p) + "-" + std::to_string(i);
                    hl7::store::metadata meta;
                    meta.sending_application = senders > 1 ? "LAB" + std::to_string(p % senders) : "LAB";
                    meta.sending_facility = "NORTH";
                    meta.control_id = id;
                    meta.message_type = "ORU^R01^ORU_R01";
                    meta.peer = "127.0.0.1:" + std::to_string(p);
                    auto const s = clock::now();
                    try {
                        auto res = co_await store.put(store_message(id, size), std::move(meta));
                        if (res.status != hl7::store::put_status::stored)
                            r.fail(id + " was not stored");
                    }
                    catch (std::exception const& e) {
                        r.fail(e.what());
                    }
                    latencies.push_back(std::chrono::duration<double, std::milli>(clock::now() - s).count());
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
    r.seconds = seconds_since(t0);
    std::sort(latencies.begin(), latencies.end());
    r.p50_ms = percentile_of_sorted(latencies, 50);
    r.p99_ms = percentile_of_sorted(latencies, 99);
}

/** Measures every cell once per round, `rounds` rounds back to back (a
    shared machine's disk and CPUs change speed from one moment to the next:
    each round sees every cell under the same weather, and per-round ratios
    compare like with like). `run(c)` measures cell `c` and returns a put_run
    (or a type derived from it); `title(c)` names the cell in a failure line;
    `round_start(round)` returns the text after "round N:". Each round is one
    line of puts/s. Returns, per cell, its result in every round; sets
    `failed` if any run failed. */
template<class Run, class Title, class RoundStart>
auto
run_rounds(int rounds, std::size_t cells, Run run, Title title, RoundStart round_start, bool& failed)
{
    using result = decltype(run(std::size_t{}));
    std::vector<std::vector<result>> per_cell(cells);
    for (int round = 0; round < rounds; ++round) {
        std::printf("round %d:%s", round + 1, std::string(round_start(round)).c_str());
        for (std::size_t c = 0; c < cells; ++c) {
            result r = run(c);
            std::printf(" %.0f", static_cast<double>(r.puts) / r.seconds);
            std::fflush(stdout);
            if (r.failed) {
                std::printf("\n  FAILED (%s): %s\n", std::string(title(c)).c_str(), r.failure.c_str());
                failed = true;
            }
            per_cell[c].push_back(std::move(r));
        }
        std::printf(" puts/s\n");
    }
    return per_cell;
}

/// Puts per second of one run.
inline double
put_rate(put_run const& r)
{
    return static_cast<double>(r.puts) / r.seconds;
}

} // namespace hl7_bench

#endif
