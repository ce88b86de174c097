// hl7_bench_sender: messages per second from the bundled hl7_sender (the
// reliable client, hl7::client) against the bundled hl7_receiver, beside the
// benchmark's own loader (hl7_bench_mllp, one message in flight per
// connection) against the same receiver process, in the same run:
//
//   hl7_bench_mllp  1 connection  | hl7_sender --window 1 | hl7_sender --window 32
//   hl7_bench_mllp  8 connections | hl7_sender --connections 8 [--window 1 | 32]
//
// The receiver and the load generators are pinned to different cores
// (taskset) when the machine has two or more. Each configuration runs once
// per round, rounds back to back, and the best round is reported with every
// round's rate beside it, plus CPU microseconds per message of the receiver
// (/proc) and of the load generator (getrusage of the child; hl7_sender's
// start-up - reading and parsing the corpus - is measured separately and
// subtracted). Fails only when a run fails functionally (a non-zero exit: a
// message not acknowledged with AA, or a mismatched ACK in the loader).

#include "hl7_bench_common.hpp"
#include "hl7_bench_process.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <map>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#ifndef HL7_BENCH_SENDER
#define HL7_BENCH_SENDER "hl7_sender"
#endif
#ifndef HL7_BENCH_LOADER
#define HL7_BENCH_LOADER "hl7_bench_mllp"
#endif
#ifndef HL7_BENCH_EXAMPLE_RECEIVER
#define HL7_BENCH_EXAMPLE_RECEIVER "hl7_receiver"
#endif

namespace {

using namespace hl7_bench;

struct measurement
{
    bool ok = false;
    double rate = 0;          // messages (round trips) per second
    double messages = 0;      // messages in the run
    double receiver_us = -1;  // receiver CPU per message
    double generator_us = -1; // load generator CPU per message
    double receiver_busy = 0; // receiver CPU / wall time of the run
    std::string error;
};

struct config
{
    std::string key;
    std::string title;
    bool loader = false;
    int connections = 1;
    int window = 1;
};

class bench
{
public:
    bench(options const& opt) : opt_(opt)
    {
        int const cpus = static_cast<int>(::sysconf(_SC_NPROCESSORS_ONLN));
        pin_ = cpus >= 2 && ::access("/usr/bin/taskset", X_OK) == 0 && opt.str("pin") != "no";
        receiver_cpu_ = opt.str("receiver-cpu");
        generator_cpu_ = opt.str("generator-cpu");
        corpus_messages_ = load_records(opt.str("corpus")).messages.size();
    }

    bool
    pinned() const
    {
        return pin_;
    }

    void
    start_receiver()
    {
        port_ = pick_free_port();
        std::vector<std::string> argv;
        if (pin_)
            argv = {"/usr/bin/taskset", "-c", receiver_cpu_};
        for (auto a : {opt_.str("receiver"), std::string("--host"), std::string("127.0.0.1"), std::string("--port"),
                       std::to_string(port_), std::string("--quiet")})
            argv.push_back(a);
        receiver_ = child_process(argv, child_process::output::discard);
        if (!wait_connectable(port_, std::chrono::seconds(20)))
            throw std::runtime_error("hl7_receiver did not start (" + opt_.str("receiver") + ")");
    }

    void
    stop_receiver()
    {
        receiver_.stop();
    }

    // CPU hl7_sender spends before sending: reading and parsing the corpus.
    void
    measure_startup()
    {
        auto const dead = pick_free_port(); // nobody listens: it loads, fails to connect, exits 6
        std::string const cmd = prefix() + shell_quote(opt_.str("sender")) + " --port " + std::to_string(dead) +
                                " -q --loose " + shell_quote(opt_.str("corpus")) + " 2>/dev/null";
        double best = -1;
        for (int i = 0; i < 3; ++i) {
            double const c0 = children_cpu_seconds();
            int status = 0;
            run_capture(cmd, status);
            double const used = children_cpu_seconds() - c0;
            best = best < 0 ? used : std::min(best, used);
        }
        startup_cpu_ = best;
    }

    double
    startup_cpu() const
    {
        return startup_cpu_;
    }

    measurement
    run(config const& c, double duration, double expected_rate)
    {
        measurement m;
        double const r0 = process_cpu_seconds(receiver_.pid());
        double const c0 = children_cpu_seconds();
        auto const t0 = clock::now();
        int status = 0;
        std::string out;
        std::size_t repeat = 1;
        if (c.loader) {
            char d[32];
            std::snprintf(d, sizeof d, "%.2f", duration);
            // The same corpus as hl7_sender's: the loader is the peer it is compared with.
            out = run_capture(prefix() + shell_quote(opt_.str("loader")) + " --corpus " +
                                  shell_quote(opt_.str("corpus")) + " --targets port:" +
                                  std::to_string(port_) + " --connections " + std::to_string(c.connections) +
                                  " --big none --rounds 1 --duration " + d + " --max-trips 100000000" +
                                  // It pins itself (client CPU 1 by default), which would undo the taskset
                                  // and put it on the receiver's core.
                                  " --server-cpu -1 --client-cpu " + (pin_ ? generator_cpu_ : "-1") + " 2>&1",
                              status);
        } else {
            repeat = static_cast<std::size_t>(
                std::max(1.0, std::ceil(expected_rate * duration / static_cast<double>(corpus_messages_))));
            out = run_capture(prefix() + shell_quote(opt_.str("sender")) + " --port " + std::to_string(port_) +
                                  " -q --loose --timeout 30 --repeat " + std::to_string(repeat) + " --window " +
                                  std::to_string(c.window) + " --connections " + std::to_string(c.connections) + " " +
                                  shell_quote(opt_.str("corpus")) + " 2>&1",
                              status);
        }
        double const wall = seconds_since(t0);
        double const gen_cpu = children_cpu_seconds() - c0;
        double const r1 = process_cpu_seconds(receiver_.pid());
        if (status != 0) {
            m.error = "exit status " + std::to_string(status) + ": " + out.substr(0, 400);
            return m;
        }
        std::smatch match;
        if (c.loader) {
            // "  already running on port:N  corpus  8  <round trips/s> <MB/s> <p50> <p99> <max> <trips> <srv> <cli us>"
            static std::regex const row(
                R"(already running on port:\d+\s+corpus\s+\d+\s+(\d+)\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+(\d+)\s+[-\d.]+\s+([\d.]+))");
            if (!std::regex_search(out, match, row)) {
                m.error = "cannot read the loader's result: " + out.substr(0, 400);
                return m;
            }
            m.rate = std::stod(match[1]);
            m.messages = std::stod(match[2]);
            m.generator_us = std::stod(match[3]); // the loader's own CPU per round trip during the run
        } else {
            static std::regex const summary(
                R"(hl7_sender: (\d+) messages?: (\d+) sent, (\d+) AA, .*?; (\d+) msg/s)");
            if (!std::regex_search(out, match, summary) || match[1] != match[3]) {
                m.error = "not every message acknowledged AA: " + out.substr(0, 400);
                return m;
            }
            m.messages = std::stod(match[1]);
            m.rate = std::stod(match[4]);
            m.generator_us = 1e6 * std::max(0.0, gen_cpu - startup_cpu_) / m.messages;
        }
        double const run_seconds = m.rate > 0 ? m.messages / m.rate : wall;
        if (r0 >= 0 && r1 >= 0) {
            m.receiver_us = 1e6 * (r1 - r0) / m.messages;
            m.receiver_busy = (r1 - r0) / run_seconds;
        }
        m.ok = true;
        return m;
    }

private:
    std::string
    prefix() const
    {
        return pin_ ? "/usr/bin/taskset -c " + generator_cpu_ + " " : "";
    }

    options const& opt_;
    bool pin_ = false;
    std::string receiver_cpu_, generator_cpu_;
    child_process receiver_;
    std::uint16_t port_ = 0;
    double startup_cpu_ = 0;
    std::size_t corpus_messages_ = 0; // hl7_sender sends the corpus --repeat times
};

} // namespace

int
main(int argc, char** argv)
try {
    std::signal(SIGPIPE, SIG_IGN);
    options const opt(argc, argv,
                      {{"corpus", HL7_BENCH_CORPUS},
                       {"sender", HL7_BENCH_SENDER},
                       {"loader", HL7_BENCH_LOADER},
                       {"receiver", HL7_BENCH_EXAMPLE_RECEIVER},
                       {"duration", "2"},
                       {"rounds", "3"},
                       {"pin", "yes"},
                       {"receiver-cpu", "1"},
                       {"generator-cpu", "0"}});
    if (opt.help()) {
        opt.usage(argv[0]);
        return 0;
    }
    double const duration = opt.num("duration");
    int const rounds = std::max(1, static_cast<int>(opt.num("rounds")));

    std::vector<config> const configs{
        {"loader1", "hl7_bench_mllp (loader)", true, 1, 1},
        {"sender1", "hl7_sender --window 1", false, 1, 1},
        {"sender32", "hl7_sender --window 32", false, 1, 32},
        {"loader8", "hl7_bench_mllp (loader)", true, 8, 1},
        {"sender8", "hl7_sender --connections 8", false, 8, 1},
        {"sender8w32", "hl7_sender --connections 8 --window 32", false, 8, 32},
    };

    bench b(opt);
    b.start_receiver();
    b.measure_startup();
    std::printf("hl7_bench_sender: hl7_sender (hl7::client) and the bench loader (hl7_bench_mllp) against one "
                "hl7_receiver --quiet process;\n  corpus %s, %.1f s per run, best of %d rounds; %s\n"
                "  hl7_sender start-up (read + parse the corpus): %.0f ms CPU, subtracted from its CPU per message\n",
                opt.str("corpus").c_str(), duration, rounds,
                b.pinned() ? ("receiver on CPU " + opt.str("receiver-cpu") + ", load generators on CPU " +
                              opt.str("generator-cpu"))
                                 .c_str()
                           : "not pinned (one CPU or no taskset)",
                1e3 * b.startup_cpu());

    std::map<std::string, measurement> best;
    std::map<std::string, std::vector<double>> every;
    std::map<std::string, double> expected{{"sender1", 15000}, {"sender32", 40000}, {"sender8", 40000},
                                           {"sender8w32", 40000}};
    int failures = 0;
    for (int round = 1; round <= rounds; ++round) {
        std::printf("  round %d/%d ", round, rounds);
        std::fflush(stdout);
        for (auto const& c : configs) {
            auto m = b.run(c, duration, expected[c.key]);
            if (!m.ok) {
                ++failures;
                std::printf("\n  %s (%d connections) FAILED: %s\n", c.title.c_str(), c.connections, m.error.c_str());
                continue;
            }
            expected[c.key] = m.rate;
            every[c.key].push_back(m.rate);
            if (!best.count(c.key) || m.rate > best[c.key].rate)
                best[c.key] = m;
            std::printf(".");
            std::fflush(stdout);
        }
        std::printf("\n");
    }
    b.stop_receiver();

    std::printf("\n  %-40s %5s %6s %10s %9s %9s %9s %6s  %s\n", "load generator", "conns", "window", "msg/s",
                "vs loader", "rcv us", "gen us", "rcv%", "msg/s of every round");
    auto rate = [&](std::string const& k) { return best.count(k) ? best[k].rate : 0.0; };
    for (auto const& c : configs) {
        if (!best.count(c.key)) {
            std::printf("  %-40s %5d %6d   (failed)\n", c.title.c_str(), c.connections, c.window);
            continue;
        }
        auto const& m = best[c.key];
        double const base = rate(c.connections == 1 ? "loader1" : "loader8");
        std::printf("  %-40s %5d %6d %10.0f %9.2f %9.1f %9.1f %5.0f%%  %s\n", c.title.c_str(), c.connections,
                    c.window, m.rate, base > 0 ? m.rate / base : 0.0, m.receiver_us, m.generator_us,
                    100 * m.receiver_busy, every_text(every[c.key]).c_str());
    }
    std::printf("\n  rcv us / gen us: CPU microseconds per message of the receiver / of the load generator;\n"
                "  rcv%%: the receiver's share of one core during the run (near 100%%: the receiver limits the rate)\n");

    std::printf("\n  targets (issue 10), best rounds:\n");
    if (rate("sender1") > 0 && rate("sender32") > 0) {
        double const x = rate("sender32") / rate("sender1");
        std::printf("    window 32 / window 1 on one connection >= 4        : %.2f %s\n", x,
                    x >= 4 ? "(met)" : "(MISSED)");
    }
    if (rate("loader8") > 0 && rate("sender8") > 0) {
        double const x = rate("sender8") / rate("loader8");
        std::printf("    hl7_sender --connections 8 / loader at 8 >= 0.8    : %.2f %s\n", x,
                    x >= 0.8 ? "(met)" : "(MISSED)");
    }
    if (rate("loader8") > 0 && rate("sender8w32") > 0)
        std::printf("    hl7_sender --connections 8 --window 32 / loader at 8: %.2f\n",
                    rate("sender8w32") / rate("loader8"));
    return failures == 0 ? 0 : 1;
} catch (std::exception const& e) {
    std::fprintf(stderr, "hl7_bench_sender: %s\n", e.what());
    return 1;
}
