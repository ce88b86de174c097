// hl7_bench_mllp: MLLP round trips (send a message, await its ACK) from
// client connections built on this library, against
//   (a) hl7's receiver: parse + create_ack() per message (a separate process),
//   (b) python-hl7's asyncio receiver (the seed document's, /usr/bin/python3),
//   (c) a raw epoll echo that answers each frame with a fixed ACK (the ceiling).
// Prints round trips/s, MB/s and p50/p99 latency at 1, 8 and 64 connections
// and for 1 MiB messages, and the ratios. Every run is bounded in time and
// count. Exits non-zero only when something is functionally wrong (an ACK
// that does not acknowledge the message sent, a dropped connection).

#include <hl7/parser/locate.hpp>
#include <hl7/mllp/stream.hpp>
#if __has_include(<hl7/net/open_connection.hpp>)
#include <hl7/net/open_connection.hpp>
#define HL7_BENCH_HAVE_CLIENT 1
#endif

#include "hl7_bench_common.hpp"
#include "hl7_bench_process.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#ifndef HL7_BENCH_ECHO
#define HL7_BENCH_ECHO "hl7_bench_echo"
#endif
#ifndef HL7_BENCH_EXAMPLE_RECEIVER
#define HL7_BENCH_EXAMPLE_RECEIVER "" // examples/hl7_receiver, when built
#endif
#ifndef HL7_BENCH_RECEIVER
#define HL7_BENCH_RECEIVER "hl7_bench_receiver"
#endif

namespace {

using namespace hl7_bench;
using asio::ip::tcp;
constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);

int failures = 0;

#if __has_include(<hl7/net/server.hpp>)
constexpr bool have_facade = true;
#else
constexpr bool have_facade = false;
#endif
#ifdef HL7_BENCH_HAVE_CLIENT
constexpr bool have_client = true;
#else
constexpr bool have_client = false;
#endif

struct workload
{
    corpus c;
    std::vector<std::string_view> ids; // MSH-10 of each message
};

workload
load_workload(std::string const& path)
{
    workload w{load_records(path), {}};
    for (auto m : w.c.messages) {
        std::error_code ec;
        auto id = hl7::locate(m, "MSH.10", ec);
        if (ec || id.empty())
            throw std::runtime_error("a corpus message has no MSH-10");
        w.ids.push_back(id);
    }
    return w;
}

struct result
{
    bool ran = false;
    std::size_t trips = 0;
    std::size_t bytes = 0; // message bytes sent in completed round trips
    double seconds = 0;
    double p50_ms = 0, p99_ms = 0, max_ms = 0;
    std::size_t failed = 0;
    std::string first_error;
    double client_cpu = -1; // CPU seconds of this (client) process during the run
    double server_cpu = -1; // CPU seconds of the server process during the run
    std::vector<double> group_cpu; // CPU seconds of each --port-cpu group during the run (-1: unknown)

    double rate() const { return seconds > 0 ? static_cast<double>(trips) / seconds : 0; }
    double mb_per_s() const { return seconds > 0 ? static_cast<double>(bytes) / seconds / 1e6 : 0; }
};

struct run_state
{
    clock::time_point deadline;
    std::size_t max_trips = 0;
    std::size_t trips = 0;
    std::size_t bytes = 0;
    bool stop = false;
    std::size_t failed = 0;
    std::string first_error;
    int running = 0;
    clock::time_point finished{};

    void fail(std::string what)
    {
        if (failed++ == 0)
            first_error = std::move(what);
        stop = true;
    }
};

using mllp_stream = hl7::mllp::stream<tcp::socket>;

// Checks one reply and counts the round trip; false ends the loop.
bool
account(run_state& st, workload const& w, std::size_t index, bool check, std::string_view block,
        clock::time_point t0, std::vector<float>& lat)
{
    auto const t1 = clock::now();
    lat.push_back(std::chrono::duration<float, std::micro>(t1 - t0).count());
    std::error_code ec;
    auto const msa2 = hl7::locate(block, "MSA.2", ec);
    if (ec) {
        st.fail("the reply is not an ACK (no MSA): " + std::string(block.substr(0, 120)));
        return false;
    }
    if (check && (msa2 != w.ids[index] || hl7::locate(block, "MSA.1", ec) != "AA")) {
        st.fail("ACK mismatch: sent MSH-10 " + std::string(w.ids[index]) + ", got MSA " +
                std::string(hl7::locate(block, "MSA", ec)));
        return false;
    }
    ++st.trips;
    st.bytes += w.c.messages[index].size();
    if (t1 >= st.deadline || st.trips >= st.max_trips)
        st.stop = true;
    return true;
}

// The lower layer: one mllp::stream per connection, write a frame, read a frame.
asio::awaitable<void>
mllp_client_loop(mllp_stream& s, workload const& w, run_state& st, std::size_t index, bool check,
                 std::vector<float>& lat)
{
    std::size_t const n = w.c.messages.size();
    while (!st.stop) {
        auto const t0 = clock::now();
        auto [wec, written] = co_await s.async_write_block(w.c.messages[index], use_tuple);
        if (wec) {
            st.fail("write: " + wec.message());
            break;
        }
        auto [rec, block] = co_await s.async_read_block(use_tuple);
        if (rec) {
            if (!st.stop || rec != asio::error::operation_aborted)
                st.fail("read: " + rec.message());
            break;
        }
        if (!account(st, w, index, check, block, t0, lat))
            break;
        index = (index + 1) % n;
    }
    std::error_code ignored;
    s.next_layer().shutdown(tcp::socket::shutdown_both, ignored);
    s.next_layer().close(ignored);
    if (--st.running == 0)
        st.finished = clock::now();
}

#ifdef HL7_BENCH_HAVE_CLIENT
// The facade: python-hl7's pattern (writeblock, drain, read the ACK), with
// readblock_view so the client does not parse or copy what it checks.
asio::awaitable<void>
facade_client_loop(hl7::stream_reader reader, hl7::stream_writer writer, workload const& w, run_state& st,
                   std::size_t index, bool check, std::vector<float>& lat)
{
    std::size_t const n = w.c.messages.size();
    try {
        while (!st.stop) {
            auto const t0 = clock::now();
            writer.writeblock(w.c.messages[index]);
            co_await writer.drain();
            std::string_view const block = co_await reader.readblock_view();
            if (!account(st, w, index, check, block, t0, lat))
                break;
            index = (index + 1) % n;
        }
    }
    catch (std::exception const& e) {
        if (!st.stop)
            st.fail(std::string("facade client: ") + e.what());
    }
    writer.close();
    if (--st.running == 0)
        st.finished = clock::now();
}
#endif

/** Processes this program did not start whose CPU is measured during the
    runs against "port:N" targets (--port-cpu), by group: e.g. the receivers,
    NATS servers and HAProxy of a scale-out deployment behind that port. */
struct cpu_group
{
    std::string name;
    std::vector<pid_t> pids;
};

/// The non-empty items of `text` between `sep`s.
std::vector<std::string>
split_list(std::string const& text, char sep)
{
    std::vector<std::string> out;
    std::stringstream in(text);
    for (std::string item; std::getline(in, item, sep);)
        if (!item.empty())
            out.push_back(item);
    return out;
}

/// CPU seconds used so far by every process of `g`; -1 if one is unknown (gone).
double
group_cpu_seconds(cpu_group const& g)
{
    double sum = 0;
    for (pid_t pid : g.pids) {
        double const s = process_cpu_seconds(pid);
        if (s < 0)
            return -1;
        sum += s;
    }
    return sum;
}

/// "receivers=1+2,nats=3+4+5" -> groups; throws on a malformed list.
std::vector<cpu_group>
parse_cpu_groups(std::string const& text)
{
    std::vector<cpu_group> out;
    for (auto const& item : split_list(text, ',')) {
        auto const eq = item.find('=');
        if (eq == std::string::npos || eq == 0)
            throw std::runtime_error("--port-cpu: expected NAME=PID[+PID...], got " + item);
        cpu_group g{item.substr(0, eq), {}};
        for (auto const& pid : split_list(item.substr(eq + 1), '+'))
            g.pids.push_back(static_cast<pid_t>(std::stoi(pid)));
        if (g.pids.empty())
            throw std::runtime_error("--port-cpu: no pid for " + g.name);
        out.push_back(std::move(g));
    }
    return out;
}

result
run_config(std::string const& client, std::uint16_t port, pid_t server_pid, workload const& w, int connections,
           double duration, std::size_t max_trips, bool check, std::vector<cpu_group> const& groups)
{
    result r;
    double const client_cpu0 = self_cpu_seconds();
    double const server_cpu0 = process_cpu_seconds(server_pid);
    std::vector<double> group_cpu0;
    for (auto const& g : groups)
        group_cpu0.push_back(group_cpu_seconds(g));
    asio::io_context io(1);
    tcp::endpoint const ep(asio::ip::make_address("127.0.0.1"), port);
    std::vector<std::unique_ptr<mllp_stream>> streams;
    run_state st;
    st.max_trips = max_trips;
    std::vector<std::vector<float>> lat(static_cast<std::size_t>(connections));
    for (auto& v : lat)
        v.reserve(1 << 16);
    std::size_t const n = w.c.messages.size();
    auto const run_for = std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(duration));
    clock::time_point start{};
    bool started = false;
    bool setup_done = false;

    // Connect every connection first, then start the clock and the loops.
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            auto const first_index = [&](int i) { return (static_cast<std::size_t>(i) * 7919) % n; };
            if (client == "mllp") {
                for (int i = 0; i < connections; ++i) {
                    auto s = std::make_unique<mllp_stream>(io);
                    co_await s->next_layer().async_connect(ep, asio::use_awaitable);
                    s->next_layer().set_option(tcp::no_delay(true));
                    s->decoder().max_frame_size(64 << 20);
                    streams.push_back(std::move(s));
                }
                start = clock::now();
                st.deadline = start + run_for;
                started = true;
                for (int i = 0; i < connections; ++i) {
                    ++st.running;
                    asio::co_spawn(io,
                                   mllp_client_loop(*streams[static_cast<std::size_t>(i)], w, st, first_index(i), check,
                                                    lat[static_cast<std::size_t>(i)]),
                                   asio::detached);
                }
            }
#ifdef HL7_BENCH_HAVE_CLIENT
            else if (client == "facade") {
                hl7::connection_options o;
                o.max_frame_size = 64 << 20;
                std::vector<std::pair<hl7::stream_reader, hl7::stream_writer>> pairs;
                for (int i = 0; i < connections; ++i)
                    pairs.push_back(co_await hl7::open_hl7_connection("127.0.0.1", port, o));
                start = clock::now();
                st.deadline = start + run_for;
                started = true;
                for (int i = 0; i < connections; ++i) {
                    ++st.running;
                    auto& [reader, writer] = pairs[static_cast<std::size_t>(i)];
                    asio::co_spawn(io,
                                   facade_client_loop(reader, writer, w, st, first_index(i), check,
                                                      lat[static_cast<std::size_t>(i)]),
                                   asio::detached);
                }
            }
#endif
            else
                throw std::runtime_error("unknown or unavailable --client " + client);
        },
        [&](std::exception_ptr e) {
            setup_done = true;
            if (!e)
                return;
            try {
                std::rethrow_exception(e);
            }
            catch (std::exception const& x) {
                st.fail(std::string("connect: ") + x.what());
            }
        });
    // Watchdog: a server that stops answering (or a connect that hangs) must
    // not hang the benchmark: past connect + run + 15 s, stop everything.
    asio::steady_timer watchdog(io);
    watchdog.expires_after(run_for + std::chrono::seconds(35));
    watchdog.async_wait([&](std::error_code ec) {
        if (ec)
            return;
        st.fail(started ? "timeout: the server stopped answering" : "timeout: connecting took too long");
        io.stop();
    });
    // Cancel the watchdog once every client loop has finished.
    asio::steady_timer poll(io);
    std::function<void(std::error_code)> check_done = [&](std::error_code) {
        if ((started && st.running == 0) || (setup_done && !started)) {
            watchdog.cancel();
            return;
        }
        poll.expires_after(std::chrono::milliseconds(20));
        poll.async_wait(check_done);
    };
    poll.expires_after(std::chrono::milliseconds(20));
    poll.async_wait(check_done);
    io.run();
    if (!started || st.running != 0) {
        r.failed = 1;
        r.first_error = st.failed ? st.first_error : "the run did not finish";
        return r;
    }

    r.ran = true;
    r.seconds = std::chrono::duration<double>(st.finished - start).count();
    r.client_cpu = self_cpu_seconds() - client_cpu0;
    double const server_cpu1 = process_cpu_seconds(server_pid);
    if (server_cpu0 >= 0 && server_cpu1 >= 0)
        r.server_cpu = server_cpu1 - server_cpu0;
    for (std::size_t i = 0; i < groups.size(); ++i) {
        double const now = group_cpu_seconds(groups[i]);
        r.group_cpu.push_back(now >= 0 && group_cpu0[i] >= 0 ? now - group_cpu0[i] : -1);
    }
    r.trips = st.trips;
    r.bytes = st.bytes;
    r.failed = st.failed;
    r.first_error = st.first_error;
    std::vector<float> all;
    for (auto const& v : lat)
        all.insert(all.end(), v.begin(), v.end());
    if (!all.empty()) {
        auto pct = [&](double p) {
            auto k = static_cast<std::size_t>(p * static_cast<double>(all.size() - 1));
            std::nth_element(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(k), all.end());
            return all[k] / 1000.0;
        };
        r.p50_ms = pct(0.50);
        r.p99_ms = pct(0.99);
        r.max_ms = *std::max_element(all.begin(), all.end()) / 1000.0;
    }
    return r;
}

struct server_spec
{
    std::string key;   // echo, hl7, python
    std::string title;
    std::vector<std::string> argv;
    bool prints_port;  // else: pass --port/positional, picked here
    bool check;        // MSA-2 must equal the MSH-10 sent
};

struct running_server
{
    child_process proc;
    std::uint16_t port = 0;
};

std::optional<running_server>
start_server(server_spec const& spec, int cpu)
{
    running_server s;
    auto argv = spec.argv;
    if (argv.empty()) {
        // An external server, "port:N": nothing to start (its CPU is not measured).
        s.port = static_cast<std::uint16_t>(std::atoi(spec.key.c_str() + 5));
    }
    else if (spec.prints_port) {
        s.proc = child_process(argv, child_process::output::capture, cpu);
        std::string const line = s.proc.read_line(std::chrono::seconds(20));
        s.port = static_cast<std::uint16_t>(std::atoi(line.c_str()));
    }
    else {
        s.port = pick_free_port();
        argv.push_back("--host");
        argv.push_back("127.0.0.1");
        argv.push_back("--port");
        argv.push_back(std::to_string(s.port));
        s.proc = child_process(argv, child_process::output::discard, cpu);
    }
    if (s.port == 0 || !wait_connectable(s.port, std::chrono::seconds(20))) {
        std::printf("  could not start %s (%s)\n", spec.title.c_str(), spec.argv.front().c_str());
        return std::nullopt;
    }
    return s;
}

std::vector<int>
parse_list(std::string const& s)
{
    std::vector<int> out;
    for (auto const& item : split_list(s, ','))
        out.push_back(std::stoi(item));
    return out;
}

void
print_row(std::string const& target, std::string const& load, int conns, result const& r,
          std::vector<double> const& rates)
{
    if (!r.ran) {
        std::printf("  %-30s %-8s %5d   (not run: %s)\n", target.c_str(), load.c_str(), conns, r.first_error.c_str());
        return;
    }
    double const trips = static_cast<double>(std::max<std::size_t>(r.trips, 1));
    std::printf("  %-30s %-8s %5d %12.0f %10.1f %9.3f %9.3f %9.3f %9zu %8.1f %8.1f %7.0f%%  %s%s\n", target.c_str(),
                load.c_str(), conns, r.rate(), r.mb_per_s(), r.p50_ms, r.p99_ms, r.max_ms, r.trips,
                r.server_cpu >= 0 ? 1e6 * r.server_cpu / trips : -1.0, 1e6 * r.client_cpu / trips,
                100 * r.client_cpu / r.seconds, every_text(rates).c_str(), r.failed ? "  FAILED" : "");
    if (r.failed)
        std::printf("      error: %s\n", r.first_error.c_str());
    std::fflush(stdout);
}

} // namespace

int
main(int argc, char** argv)
try {
    std::signal(SIGPIPE, SIG_IGN);
    options const opt(argc, argv,
                      {{"corpus", HL7_BENCH_CORPUS},
                       {"big", HL7_BENCH_BIG_CORPUS},
                       {"python", HL7_BENCH_PYTHON},
                       {"echo", HL7_BENCH_ECHO},
                       {"client", have_client ? "facade" : "mllp"},
                       {"example-receiver", HL7_BENCH_EXAMPLE_RECEIVER},
                       {"example-args", "--quiet"},
                       {"receiver", HL7_BENCH_RECEIVER},
                       {"targets", "echo,hl7,hl7facade,hl7mllp,python"},
                       {"connections", "1,8,64"},
                       {"big-connections", "1"},
                       {"python-connections", "1,8,64"},
                       {"duration", "1"},
                       {"python-duration", "1"},
                       {"rounds", "3"},
                       {"max-trips", "2000000"},
                       {"server-cpu", "0"},
                       {"client-cpu", "1"},
                       {"port-cpu", ""}});
    if (opt.help()) {
        opt.usage(argv[0]);
        std::printf(
            "\n  --client mllp|facade: the client side, hl7::mllp::stream (lower layer) or open_hl7_connection +\n"
            "      stream_writer::writeblock/drain + stream_reader::readblock_view\n"
            "  --targets: any of\n"
            "      echo       hl7_bench_echo: raw epoll, a fixed ACK per frame, no parsing (the ceiling)\n"
            "      hl7        examples/hl7_receiver (--example-receiver, run with --example-args), else as hl7facade\n"
            "      hl7facade  hl7_bench_receiver --api facade: start_hl7_server, readmessage, create_ack, writemessage, drain\n"
            "      hl7waitfor as hl7facade, each drain() inside hl7::wait_for(..., 10s)\n"
            "      hl7mllp    hl7_bench_receiver --api mllp: the same work on hl7::mllp::stream\n"
            "      python     python_receiver.py: python-hl7's asyncio receiver under --python\n"
            "      port:N     a receiver already listening on 127.0.0.1:N (e.g. to profile it)\n"
            "      receiver:PATH  another build of examples/hl7_receiver (e.g. before a change), run with --example-args\n"
            "      store:STORE    examples/hl7_receiver --store STORE (AA after commit, e.g. store:sqlite:/tmp/b.db),\n"
            "                     with --example-args; ratio row \"hl7 --store / hl7\"\n"
            "  --big none skips the 1 MiB messages; lists are comma-separated connection counts\n"
            "  --server-cpu / --client-cpu: the CPU every server process / this client is pinned to, so that\n"
            "      they never compete for one core (-1: not pinned; both are ignored on a single-CPU machine)\n"
            "  --port-cpu NAME=PID[+PID...],...: processes behind the port:N targets (not started here, not\n"
            "      pinned here) whose CPU is measured during those runs, by group; an extra table shows it\n");
        return 0;
    }
    double const duration = opt.num("duration");
    double const py_duration = opt.num("python-duration");
    auto const max_trips = static_cast<std::size_t>(opt.num("max-trips"));
    auto const conns = parse_list(opt.str("connections"));
    auto const big_conns = parse_list(opt.str("big-connections"));
    auto const py_conns = parse_list(opt.str("python-connections"));

    auto const port_groups = parse_cpu_groups(opt.str("port-cpu"));
    auto const w = load_workload(opt.str("corpus"));
    std::optional<workload> big;
    if (opt.str("big") != "none")
        big = load_workload(opt.str("big"));

    std::string const client = opt.str("client");
    if (client != "mllp" && !(client == "facade" && have_client))
        throw std::runtime_error("--client must be mllp" + std::string(have_client ? " or facade" : ""));

    std::vector<server_spec> specs;
    std::stringstream tl(opt.str("targets"));
    std::string key;
    bool const have_example = !opt.str("example-receiver").empty();
    auto facade_spec = [&](std::string const& k) {
        return server_spec{k, "hl7 (start_hl7_server)", {opt.str("receiver"), "--api", "facade"}, true, true};
    };
    while (std::getline(tl, key, ',')) {
        if (key == "echo")
            specs.push_back({"echo", "raw echo (epoll, fixed ACK)", {opt.str("echo")}, true, false});
        else if (key == "hl7" && have_example) {
            server_spec spec{"hl7", "hl7 (examples/hl7_receiver)", {opt.str("example-receiver")}, false, true};
            std::stringstream args(opt.str("example-args"));
            for (std::string a; args >> a;)
                spec.argv.push_back(a);
            specs.push_back(spec);
        }
        else if (key == "hl7" || key == "hl7facade") {
            if (!have_facade) {
                std::printf("(<hl7/net/server.hpp> was not available when this was built: skipping target %s)\n", key.c_str());
                continue;
            }
            if (key == "hl7facade" && !have_example)
                continue; // "hl7" is already this receiver
            specs.push_back(facade_spec(key));
        }
        else if (key == "hl7waitfor" && have_facade)
            specs.push_back({"hl7waitfor", "hl7 (facade, wait_for(drain))", {opt.str("receiver"), "--api", "facade-wait-for"}, true, true});
        else if (key == "hl7mllp")
            specs.push_back({"hl7mllp", "hl7 (mllp::stream layer)", {opt.str("receiver"), "--api", "mllp"}, true, true});
        else if (key.rfind("port:", 0) == 0)
            specs.push_back({key, "already running on " + key, {}, true, true});
        else if (key.rfind("store:", 0) == 0 && have_example) {
            // The bundled receiver in durable mode (AA after the commit),
            // measured beside the plain one ("hl7") in the same rounds.
            server_spec spec{"store", "hl7_receiver --store " + key.substr(6), {opt.str("example-receiver")}, false, true};
            std::stringstream args(opt.str("example-args"));
            for (std::string a; args >> a;)
                spec.argv.push_back(a);
            spec.argv.push_back("--store");
            spec.argv.push_back(key.substr(6));
            // The corpus is sent over and over with the same MSH-10s: without
            // this, all but the first copy would be duplicates, not stored.
            spec.argv.push_back("--dedup-window");
            spec.argv.push_back("0");
            // The corpus asks for enhanced mode (MSH-15 AL, MSH-16 NE), which
            // the durable receiver honours with a CA; the plain receiver
            // answers AA in original mode: compare like with like.
            spec.argv.push_back("--ack-mode");
            spec.argv.push_back("original");
            specs.push_back(spec);
        }
        else if (key.rfind("receiver:", 0) == 0) {
            // Another build of the bundled receiver (e.g. before a change),
            // measured in the same rounds as the others.
            server_spec spec{key, "receiver " + key.substr(9), {key.substr(9)}, false, true};
            std::stringstream args(opt.str("example-args"));
            for (std::string a; args >> a;)
                spec.argv.push_back(a);
            specs.push_back(spec);
        }
        else if (key == "python")
            specs.push_back({"python",
                             "python-hl7 asyncio receiver",
                             {opt.str("python"), std::string(HL7_BENCH_SCRIPT_DIR) + "/python_receiver.py"},
                             true,
                             true});
        else
            throw std::runtime_error("unknown target " + key);
    }

    std::printf("hl7_bench_mllp: %zu messages (%.1f MB, mean %.0f bytes)%s; one client thread (%s);\n"
                "each connection sends a message and awaits its ACK; %.1f s per run (python %.1f s), at most "
                "%zu round trips per run;\n"
                "best of %d rounds, each running every server at every configuration\n",
                w.c.messages.size(), static_cast<double>(w.c.bytes) / 1e6,
                static_cast<double>(w.c.bytes) / static_cast<double>(w.c.messages.size()),
                big ? (", plus " + std::to_string(big->c.messages.size()) + " messages of ~1 MiB").c_str() : "",
                client == "mllp" ? "hl7::mllp::stream over tcp::socket" : "open_hl7_connection, writeblock, drain, readblock_view",
                duration, py_duration, max_trips, static_cast<int>(opt.num("rounds")));
    std::printf("\n  srv/cli us: CPU microseconds per round trip used by the server process / by this client "
                "(from /proc and getrusage);\n  cli%%: the client's share of one core (near 100%%: the client, not the "
                "server, limits the rate)\n");

    // Every server runs for the whole benchmark (idle ones cost nothing), and
    // the configurations are measured in rounds, each round running every
    // target once per configuration back to back: on a shared machine the
    // load drifts, and this way it drifts for all targets alike. The best
    // round of each (target, configuration) is reported.
    // Server and client on different cores: otherwise the scheduler decides
    // how the two share one, and the rates measure that, not the server.
    int server_cpu = static_cast<int>(opt.num("server-cpu"));
    int client_cpu = static_cast<int>(opt.num("client-cpu"));
    if (::sysconf(_SC_NPROCESSORS_ONLN) < 2)
        server_cpu = client_cpu = -1;
    if (!can_pin_to_cpu(server_cpu)) {
        std::printf("  (cannot pin the servers to CPU %d: not pinned)\n", server_cpu);
        server_cpu = -1;
    }
    if (!pin_to_cpu(client_cpu)) {
        std::printf("  (could not pin the client to CPU %d: not pinned)\n", client_cpu);
        client_cpu = -1;
    }
    if (server_cpu >= 0 || client_cpu >= 0)
        std::printf("  servers pinned to CPU %d, client to CPU %d (-1: not pinned)\n", server_cpu, client_cpu);
    std::vector<std::optional<running_server>> servers;
    for (auto const& spec : specs)
        servers.push_back(start_server(spec, server_cpu));

    struct config
    {
        workload const* wl;
        std::string load;
        int conns;
        std::string key() const { return load + "/" + std::to_string(conns); }
    };
    std::vector<config> configs;
    for (int c : conns)
        configs.push_back({&w, "corpus", c});
    if (big)
        for (int c : big_conns)
            configs.push_back({&*big, "1 MiB", c});
    // Python at connection counts only it is asked for.
    for (int c : py_conns)
        if (std::find(conns.begin(), conns.end(), c) == conns.end())
            configs.push_back({&w, "corpus", c});

    std::map<std::pair<std::string, std::string>, result> results; // (target, load/conns)
    std::map<std::pair<std::string, std::string>, std::vector<double>> all_rates;
    std::map<std::string, std::size_t> all_trips; // target -> round trips in every round
    int const rounds = std::max(1, static_cast<int>(opt.num("rounds")));
    for (int round = 1; round <= rounds; ++round) {
        std::printf("  round %d/%d ", round, rounds);
        std::fflush(stdout);
        for (auto const& cfg : configs) {
            for (std::size_t t = 0; t < specs.size(); ++t) {
                auto const& spec = specs[t];
                bool const is_python = spec.key == "python";
                bool const wanted_conns = is_python ? std::find(py_conns.begin(), py_conns.end(), cfg.conns) != py_conns.end()
                                                    : (cfg.load == "corpus"
                                                           ? std::find(conns.begin(), conns.end(), cfg.conns) != conns.end()
                                                           : true);
                if (!wanted_conns)
                    continue;
                auto& server = servers[t];
                result r;
                if (!server)
                    r.first_error = "server did not start";
                else if (!spec.argv.empty() && !server->proc.running())
                    r.first_error = "server process exited";
                else
                    r = run_config(client, server->port, server->proc.pid(), *cfg.wl, cfg.conns,
                                   is_python ? py_duration : duration, max_trips, spec.check,
                                   spec.argv.empty() ? port_groups : std::vector<cpu_group>{});
                all_trips[spec.key] += r.trips;
                if (r.failed || !r.ran) {
                    ++failures;
                    std::printf("\n  %s %s/%d FAILED: %s\n", spec.title.c_str(), cfg.load.c_str(), cfg.conns,
                                r.first_error.c_str());
                }
                auto const k = std::make_pair(spec.key, cfg.key());
                all_rates[k].push_back(r.rate());
                auto it = results.find(k);
                if (it == results.end() || (r.ran && !r.failed && r.rate() > it->second.rate()) || !it->second.ran)
                    results[k] = r;
                std::printf(".");
                std::fflush(stdout);
            }
        }
        std::printf("\n");
    }
    for (auto& s : servers)
        if (s)
            s->proc.stop();

    std::printf("\n  %-30s %-8s %5s %12s %10s %9s %9s %9s %9s %8s %8s %8s  %s\n", "server", "messages", "conns",
                "round trips/s", "MB/s", "p50 ms", "p99 ms", "max ms", "trips", "srv us", "cli us", "cli%",
                "round trips/s of every round");
    for (auto const& spec : specs) {
        for (auto const& cfg : configs) {
            auto it = results.find({spec.key, cfg.key()});
            if (it == results.end())
                continue;
            print_row(spec.title, cfg.load, cfg.conns, it->second, all_rates[{spec.key, cfg.key()}]);
        }
    }

    auto ratio = [&](std::string const& a, std::string const& b, std::string const& cfg) -> std::string {
        auto ia = results.find({a, cfg});
        auto ib = results.find({b, cfg});
        if (ia == results.end() || ib == results.end() || !ia->second.ran || !ib->second.ran || ib->second.rate() <= 0)
            return "     n/a";
        char buf[32];
        std::snprintf(buf, sizeof buf, "%8.2f", ia->second.rate() / ib->second.rate());
        return buf;
    };
    std::printf("\n  ratios (round trips/s)      ");
    std::vector<std::string> cfgs;
    for (int c : conns)
        cfgs.push_back("corpus/" + std::to_string(c));
    if (big)
        for (int c : big_conns)
            cfgs.push_back("1 MiB/" + std::to_string(c));
    for (auto const& c : cfgs)
        std::printf(" %10s", c.c_str());
    std::printf("\n  hl7 / raw echo              ");
    for (auto const& c : cfgs)
        std::printf("   %s", ratio("hl7", "echo", c).c_str());
    std::printf("\n  hl7facade / raw echo        ");
    for (auto const& c : cfgs)
        std::printf("   %s", ratio("hl7facade", "echo", c).c_str());
    std::printf("\n  hl7 mllp layer / raw echo   ");
    for (auto const& c : cfgs)
        std::printf("   %s", ratio("hl7mllp", "echo", c).c_str());
    std::printf("\n  hl7 / python-hl7            ");
    for (auto const& c : cfgs)
        std::printf("   %s", ratio("hl7", "python", c).c_str());
    std::printf("\n  hl7 --store / hl7           ");
    for (auto const& c : cfgs)
        std::printf("   %s", ratio("store", "hl7", c).c_str());
    std::printf("\n  python-hl7 / raw echo       ");
    for (auto const& c : cfgs)
        std::printf("   %s", ratio("python", "echo", c).c_str());
    for (auto const& spec : specs) {
        if (!spec.argv.empty() || spec.key.rfind("port:", 0) != 0)
            continue;
        std::printf("\n  %-28s", (spec.key + " / hl7").c_str());
        for (auto const& c : cfgs)
            std::printf("   %s", ratio(spec.key, "hl7", c).c_str());
        std::printf("\n  %-28s", (spec.key + " / hl7 --store").c_str());
        for (auto const& c : cfgs)
            std::printf("   %s", ratio(spec.key, "store", c).c_str());
    }
    auto cpu_ratio = [&](std::string const& a, std::string const& b, std::string const& cfg) -> std::string {
        auto ia = results.find({a, cfg});
        auto ib = results.find({b, cfg});
        if (ia == results.end() || ib == results.end() || !ia->second.ran || !ib->second.ran ||
            ia->second.server_cpu <= 0 || ib->second.server_cpu <= 0 || !ia->second.trips || !ib->second.trips)
            return "     n/a";
        double const pa = ia->second.server_cpu / static_cast<double>(ia->second.trips);
        double const pb = ib->second.server_cpu / static_cast<double>(ib->second.trips);
        char buf[32];
        std::snprintf(buf, sizeof buf, "%8.2f", pa / pb);
        return buf;
    };
    std::printf("\n\n  server CPU per round trip (less noisy on a shared machine; lower is better)");
    std::printf("\n  hl7 / raw echo              ");
    for (auto const& c : cfgs)
        std::printf("   %s", cpu_ratio("hl7", "echo", c).c_str());
    std::printf("\n  hl7facade / raw echo        ");
    for (auto const& c : cfgs)
        std::printf("   %s", cpu_ratio("hl7facade", "echo", c).c_str());
    std::printf("\n  hl7 mllp layer / raw echo   ");
    for (auto const& c : cfgs)
        std::printf("   %s", cpu_ratio("hl7mllp", "echo", c).c_str());
    std::printf("\n  python-hl7 / hl7            ");
    for (auto const& c : cfgs)
        std::printf("   %s", cpu_ratio("python", "hl7", c).c_str());
    std::printf("\n  hl7 --store / hl7           ");
    for (auto const& c : cfgs)
        std::printf("   %s", cpu_ratio("store", "hl7", c).c_str());
    bool const any_port_target =
        std::any_of(specs.begin(), specs.end(), [](server_spec const& sp) { return sp.argv.empty(); });
    if (!port_groups.empty() && any_port_target) {
        // Where the time goes behind a port:N target: CPU per round trip of
        // each group, and its share of one core, in the same (best) round as
        // the rate above; the client is this program (the load generator).
        std::printf("\n\n  CPU per round trip behind the port targets, us (share of one core), best round:\n  %-30s %-8s %5s",
                    "server", "messages", "conns");
        for (auto const& g : port_groups)
            std::printf(" %18s", (g.name + " (" + std::to_string(g.pids.size()) + ")").c_str());
        std::printf(" %18s %18s\n", "servers", "load generator");
        for (auto const& spec : specs) {
            if (!spec.argv.empty())
                continue;
            for (auto const& cfg : configs) {
                auto it = results.find({spec.key, cfg.key()});
                if (it == results.end() || !it->second.ran || it->second.trips == 0)
                    continue;
                auto const& r = it->second;
                double const trips = static_cast<double>(r.trips);
                auto cell = [&](double cpu) {
                    char buf[64];
                    if (cpu < 0)
                        std::snprintf(buf, sizeof buf, "%18s", "n/a");
                    else
                        std::snprintf(buf, sizeof buf, "%10.1f (%3.0f%%)", 1e6 * cpu / trips, 100 * cpu / r.seconds);
                    return std::string(buf);
                };
                std::printf("  %-30s %-8s %5d", spec.title.c_str(), cfg.load.c_str(), cfg.conns);
                double servers = 0; // every group: what the servers' CPU did per round trip
                for (double g : r.group_cpu) {
                    std::printf(" %s", cell(g).c_str());
                    servers = g < 0 || servers < 0 ? -1 : servers + g;
                }
                std::printf(" %s %s\n", cell(servers).c_str(), cell(r.client_cpu).c_str());
            }
            std::printf("  %s: %zu round trips acknowledged over all rounds\n", spec.key.c_str(), all_trips[spec.key]);
        }
        std::printf("  (the groups' share can pass 100%%: a group has several processes and threads)");
    }
    if (results.count({"store", "corpus/64"}))
        std::printf("\n\n  issue 11 (group commit): round trips/s with --store / without, at 64 connections: %s "
                    "(target >= 0.5)",
                    ratio("store", "hl7", "corpus/64").c_str());
    std::printf("\n\n  targets (issue 3), best rounds:\n");
    auto verdict = [&](std::string const& key, std::string const& title) {
        auto get = [&](std::string const& k, std::string const& cfg) -> result const* {
            auto it = results.find({k, cfg});
            return it != results.end() && it->second.ran && !it->second.failed ? &it->second : nullptr;
        };
        std::printf("    %s:\n", title.c_str());
        for (int c : {8, 64}) {
            auto const cfg = "corpus/" + std::to_string(c);
            auto const* h = get(key, cfg);
            auto const* e = get("echo", cfg);
            if (h && e)
                std::printf("      >= 0.60 x raw echo at %2d connections : %.2f %s\n", c, h->rate() / e->rate(),
                            h->rate() / e->rate() >= 0.6 ? "(met)" : "(MISSED)");
        }
        if (auto const* h = get(key, "corpus/8"))
            std::printf("      p99 < 2 ms at 8 connections          : %.3f ms %s\n", h->p99_ms,
                        h->p99_ms < 2 ? "(met)" : "(MISSED)");
        for (int c : big_conns) {
            auto const cfg = "1 MiB/" + std::to_string(c);
            auto const* h = get(key, cfg);
            auto const* e = get("echo", cfg);
            if (h && e)
                std::printf("      1 MiB >= 0.50 x raw echo (%d conn)    : %.2f (%.0f vs %.0f MB/s) %s\n", c,
                            h->rate() / e->rate(), h->mb_per_s(), e->mb_per_s(),
                            h->rate() / e->rate() >= 0.5 ? "(met)" : "(MISSED)");
        }
    };
    for (auto const& spec : specs)
        if (spec.key.rfind("hl7", 0) == 0)
            verdict(spec.key, spec.title);

    if (failures) {
        std::printf("\n%d configuration(s) FAILED functionally\n", failures);
        return 1;
    }
    std::printf("\nall round trips acknowledged correctly\n");
    return 0;
}
catch (std::exception const& e) {
    std::fprintf(stderr, "hl7_bench_mllp: %s\n", e.what());
    return 2;
}
