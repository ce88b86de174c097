// The JetStream store when servers die: a node killed under load, the
// whole cluster stopped and restarted, no cluster at all at start, and a
// consumer whose leader is killed. Real nats-server processes, SIGKILL.

#include <hl7/store/jetstream.hpp>

#include "nats_test_support.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/steady_timer.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace hl7_nats_test;
using hl7::store::error;
using hl7::store::put_status;
using clock_type = std::chrono::steady_clock;

namespace {

asio::awaitable<void>
pause(std::chrono::steady_clock::duration d)
{
    asio::steady_timer t(co_await asio::this_coro::executor, d);
    co_await t.async_wait(asio::use_awaitable);
}

bool
is_outage(std::error_code const& ec)
{
    return ec == error::unavailable || ec == error::timeout;
}

/// What a run of resending putters saw.
struct put_log
{
    /// MSH-10 -> the acknowledged result.
    std::map<std::string, hl7::store::put_result> acked;
    /// When each acknowledgement came.
    std::vector<clock_type::time_point> ack_times;
    /// Failures by error (value of hl7::store::error, or -1 for anything else).
    std::map<int, int> failures;
    /// The longest any single put took to fail.
    clock_type::duration slowest_failure{};
};

/** A sender that resends a message until it is acknowledged (as an MLLP
    sender does after a lost ACK), then sends the next, until `stop`. */
asio::awaitable<void>
resending_putter(std::shared_ptr<hl7::store::jetstream_store> store, int k, std::atomic<bool>& stop, put_log& log)
{
    for (int i = 0; !stop.load(); ++i) {
        std::string const id = "K" + std::to_string(k) + "-" + std::to_string(i);
        std::string const m = message_text(id, "LAB" + std::to_string(k));
        for (;;) {
            auto const start = clock_type::now();
            std::error_code ec;
            try {
                auto const meta = meta_of(m);
                auto const r = co_await store->put(m, meta);
                log.acked[id] = r;
                log.ack_times.push_back(clock_type::now());
                break;
            }
            catch (hl7::store::store_error const& e) {
                ec = e.code();
            }
            log.slowest_failure = std::max(log.slowest_failure, clock_type::now() - start);
            log.failures[ec.category() == hl7::store::error_category() ? ec.value() : -1]++;
            co_await pause(100ms);
        }
    }
}

/** Puts `m` as a sender would after a failure: again every 200 ms until
    the store takes it (stored, or a duplicate of an earlier try that was
    stored after all), for up to `within`. Every failure must be an outage.
    Returns the last status, or nullopt if it never went. */
asio::awaitable<std::optional<put_status>>
put_until_safe(std::shared_ptr<hl7::store::jetstream_store> store, std::string m,
               clock_type::duration within = 60s)
{
    auto const until = clock_type::now() + within;
    while (clock_type::now() < until) {
        try {
            auto const meta = meta_of(m);
            auto const r = co_await store->put(m, meta);
            co_return r.status;
        }
        catch (hl7::store::store_error const& e) {
            CHECK(is_outage(e.code()));
        }
        co_await pause(200ms);
    }
    co_return std::nullopt;
}

/** Every message in `stream`, by its Nats-Msg-Id: how often it is there and
    at which sequence (the last one seen). */
std::map<std::string, std::pair<int, std::uint64_t>>
stream_contents(raw_client& raw, std::string const& stream)
{
    std::map<std::string, std::pair<int, std::uint64_t>> out;
    auto const st = raw.state(stream);
    for (std::uint64_t seq = st.FirstSeq; seq <= st.LastSeq && st.Msgs > 0; ++seq) {
        auto const m = raw.get(stream, seq);
        if (!m)
            continue;
        auto const id = m->header("Nats-Msg-Id").value_or("<none>");
        auto& e = out[id];
        ++e.first;
        e.second = seq;
    }
    return out;
}

} // namespace

TEST_CASE("jetstream failures: puts go on through a SIGKILL of the stream leader, every acknowledged message is "
          "stored exactly once",
          "[nats][cluster][kill]")
{
    cluster c;
    c.start();
    asio::io_context ctx;
    auto store = open_store(ctx, c.urls(), test_options());
    raw_client raw(c.url(0));
    std::atomic<bool> stop{false};
    put_log log;
    clock_type::time_point killed_at{};
    std::size_t acked_before_kill = 0;
    std::string leader;

    run(ctx, [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        int const putters = 8;
        int running = putters;
        for (int k = 0; k < putters; ++k)
            asio::co_spawn(
                ex,
                [&, k]() -> asio::awaitable<void> {
                    co_await resending_putter(store, k, stop, log);
                    --running;
                },
                asio::detached);
        while (log.acked.size() < 300)
            co_await pause(20ms);
        // The stream's leader, so the kill forces an election.
        leader = raw.stream_leader("HL7");
        auto const victim = c.index_of(leader);
        REQUIRE(victim < c.size());
        acked_before_kill = log.acked.size();
        killed_at = clock_type::now();
        c.kill(victim);
        // Until puts have gone on for a while after the election (bounded).
        auto const give_up = clock_type::now() + 90s;
        while (clock_type::now() < give_up &&
               std::count_if(log.ack_times.begin(), log.ack_times.end(),
                             [&](auto t) { return t > killed_at + 1s; }) < 300)
            co_await pause(50ms);
        c.start_node(victim);
        co_await pause(1s);
        stop = true;
        while (running > 0)
            co_await pause(20ms);
        co_await store->close();
    });

    auto const after_kill = std::count_if(log.ack_times.begin(), log.ack_times.end(),
                                          [&](auto t) { return t > killed_at + 1s; });
    // The longest time without any acknowledgement around the kill: the election.
    clock_type::duration gap{};
    auto times = log.ack_times;
    std::sort(times.begin(), times.end());
    for (std::size_t i = 1; i < times.size(); ++i)
        if (times[i] > killed_at)
            gap = std::max(gap, times[i] - std::max(times[i - 1], killed_at));
    std::string failures;
    for (auto const& [code, n] : log.failures)
        failures += " " + (code < 0 ? std::string("other") : hl7::store::make_error_code(static_cast<error>(code)).message()) +
                    "=" + std::to_string(n);
    WARN("killed stream leader " << leader << " after " << acked_before_kill << " acks; " << log.acked.size()
                                 << " acknowledged in all, " << after_kill << " after the kill; longest pause "
                                 << std::chrono::duration_cast<std::chrono::milliseconds>(gap).count()
                                 << " ms; failures:" << (failures.empty() ? " none" : failures)
                                 << "; slowest failure "
                                 << std::chrono::duration_cast<std::chrono::milliseconds>(log.slowest_failure).count()
                                 << " ms");
    CHECK(after_kill >= 300);
    CHECK(gap < 30s);
    // Failures are typed outages, each within the put timeout (plus slack for a loaded machine).
    for (auto const& [code, n] : log.failures) {
        CAPTURE(code, n);
        CHECK((code == static_cast<int>(error::unavailable) || code == static_cast<int>(error::timeout)));
    }
    CHECK(log.slowest_failure < test_options().put_timeout + 3s);

    // Every acknowledged message is in the stream exactly once, at the
    // sequence the put returned; nothing is there that was not acknowledged
    // (every failed put was resent until it was).
    raw_client after(c.urls());
    auto const contents = stream_contents(after, "HL7");
    std::size_t checked = 0;
    for (auto const& [control_id, r] : log.acked) {
        auto const key = "LAB" + control_id.substr(1, control_id.find('-') - 1) + "|NORTH|" + control_id;
        auto const it = contents.find(key);
        REQUIRE(it != contents.end());
        CHECK(it->second.first == 1);
        CHECK(it->second.second == r.id);
        ++checked;
    }
    CHECK(checked == log.acked.size());
    CHECK(contents.size() == log.acked.size());
}

TEST_CASE("jetstream failures: the whole cluster stopped: puts fail with typed errors in bounded time, then work "
          "after the restart",
          "[nats][cluster][kill]")
{
    cluster c;
    c.start();
    asio::io_context ctx;
    auto store = open_store(ctx, c.urls(), test_options());
    run(ctx, [&]() -> asio::awaitable<void> {
        for (int i = 0; i < 10; ++i) {
            std::string const m = message_text("BEFORE" + std::to_string(i));
            auto const r = co_await store->put(m, meta_of(m));
            CHECK(r.status == put_status::stored);
        }
    });

    for (std::size_t i = 0; i < c.size(); ++i)
        c.kill(i);

    int attempts = 0;
    clock_type::duration slowest{};
    run(ctx, [&]() -> asio::awaitable<void> {
        auto const until = clock_type::now() + 3s;
        while (clock_type::now() < until) {
            std::string const m = message_text("DOWN" + std::to_string(attempts));
            auto const start = clock_type::now();
            std::error_code ec;
            try {
                auto const meta = meta_of(m);
                (void)co_await store->put(m, meta);
            }
            catch (hl7::store::store_error const& e) {
                ec = e.code();
            }
            slowest = std::max(slowest, clock_type::now() - start);
            CHECK(is_outage(ec)); // never a success while no server runs
            ++attempts;
            co_await pause(100ms);
        }
        // Taking fails the same way (after its wait).
        std::error_code ec;
        try {
            (void)co_await store->next(500ms);
        }
        catch (hl7::store::store_error const& e) {
            ec = e.code();
        }
        CHECK(is_outage(ec));
    });
    CHECK(attempts >= 3);
    CHECK(slowest < test_options().put_timeout + 2s);
    CHECK_FALSE(store->connected());

    c.start();
    clock_type::duration recovery{};
    run(ctx, [&]() -> asio::awaitable<void> {
        auto const restarted = clock_type::now();
        auto const status = co_await put_until_safe(store, message_text("AFTER1"));
        recovery = clock_type::now() - restarted;
        CHECK(status == put_status::stored);
        // What was acknowledged before the stop is still there, in order.
        for (int i = 0; i < 10; ++i) {
            std::optional<hl7::store::stored_message> t;
            for (int tries = 0; !t && tries < 20; ++tries) {
                try {
                    t = co_await store->next(2s);
                }
                catch (hl7::store::store_error const& e) {
                    CHECK(is_outage(e.code()));
                }
            }
            REQUIRE(t);
            CHECK(t->meta.control_id == "BEFORE" + std::to_string(i));
            co_await store->delivered(t->id);
        }
        co_await store->close();
    });
    WARN("stopped the whole cluster: " << attempts << " puts failed, slowest in "
                                       << std::chrono::duration_cast<std::chrono::milliseconds>(slowest).count()
                                       << " ms; first put stored "
                                       << std::chrono::duration_cast<std::chrono::milliseconds>(recovery).count()
                                       << " ms after the restart");
    raw_client raw(c.urls());
    CHECK(raw.state("HL7").Msgs == 11);
}

TEST_CASE("jetstream failures: no cluster at start: opening, then puts, fail typed, they work once it is up",
          "[nats][cluster][kill]")
{
    cluster c; // configured, not started
    asio::io_context ctx;
    auto strict = test_options();
    strict.require_connection = true;
    auto const before = clock_type::now();
    CHECK(store_error_of([&] { open_store(ctx, c.urls(), strict); }) == error::unavailable);
    CHECK(clock_type::now() - before < 10s);

    auto store = open_store(ctx, c.urls(), test_options()); // returned, still connecting
    CHECK_FALSE(store->connected());
    run(ctx, [&]() -> asio::awaitable<void> {
        std::string const m = message_text("EARLY1");
        auto const start = clock_type::now();
        std::error_code ec;
        try {
            auto const meta = meta_of(m);
            (void)co_await store->put(m, meta);
        }
        catch (hl7::store::store_error const& e) {
            ec = e.code();
        }
        CHECK(ec == error::unavailable);
        CHECK(clock_type::now() - start < 2s);
    });

    c.start();
    run(ctx, [&]() -> asio::awaitable<void> {
        // Connecting, or the layout not yet created: outages until it is.
        auto const status = co_await put_until_safe(store, message_text("LATE1"));
        CHECK(status == put_status::stored);
        auto const t = co_await store->next(10s);
        REQUIRE(t);
        CHECK(t->meta.control_id == "LATE1");
        co_await store->delivered(t->id);
        co_await store->close();
    });
}

TEST_CASE("jetstream failures: a server missing at start: the R3 stream cannot be placed yet, which is unavailable "
          "(not the settings' fault), and puts work once the cluster is whole",
          "[nats][cluster][kill]")
{
    cluster c;
    c.start_nodes({0, 1}); // a quorum: JetStream answers, but an R3 stream has only two servers
    asio::io_context ctx;
    auto strict = test_options();
    strict.require_connection = true;
    CHECK(store_error_of([&] { open_store(ctx, c.urls(), strict); }) == error::unavailable);

    auto store = open_store(ctx, c.urls(), test_options()); // returned; the stream is created later
    c.start();
    run(ctx, [&]() -> asio::awaitable<void> {
        auto const status = co_await put_until_safe(store, message_text("WHOLE1"));
        CHECK(status == put_status::stored);
        co_await store->close();
    });
}

TEST_CASE("jetstream failures: the consumer goes on when its leader is SIGKILLed", "[nats][cluster][kill]")
{
    cluster c;
    c.start();
    asio::io_context ctx;
    auto store = open_store(ctx, c.urls(), test_options());
    raw_client raw(c.url(0));
    int const n = 30;
    std::set<std::string> expected, seen;
    int redeliveries = 0;
    std::string leader;
    run(ctx, [&]() -> asio::awaitable<void> {
        for (int i = 0; i < n; ++i) {
            std::string const m = message_text("C" + std::to_string(i));
            auto const meta = meta_of(m);
            (void)co_await store->put(m, meta);
            expected.insert("C" + std::to_string(i));
        }
        auto const deadline = clock_type::now() + 120s;
        bool killed = false;
        std::size_t victim = c.size();
        while (seen.size() < expected.size() && clock_type::now() < deadline) {
            if (!killed && seen.size() == 10) {
                leader = raw.consumer_leader("HL7", "hl7-forwarder");
                victim = c.index_of(leader);
                REQUIRE(victim < c.size());
                c.kill(victim);
                killed = true;
            }
            std::optional<hl7::store::stored_message> t;
            bool failed = false;
            try {
                t = co_await store->next(2s);
            }
            catch (hl7::store::store_error const& e) {
                CHECK(is_outage(e.code()));
                failed = true;
            }
            if (failed)
                co_await pause(200ms);
            if (!t)
                continue;
            if (!seen.insert(t->meta.control_id).second)
                ++redeliveries; // its acknowledgement was lost with the leader
            // Settle it, riding out the election.
            for (int tries = 0; tries < 100; ++tries) {
                try {
                    co_await store->delivered(t->id);
                    break;
                }
                catch (hl7::store::store_error const& e) {
                    if (e.code() == error::unknown_message)
                        break;
                    CHECK(is_outage(e.code()));
                }
                co_await pause(200ms);
            }
        }
        CHECK(killed);
        if (victim < c.size())
            c.start_node(victim);
        co_await store->close();
    });
    WARN("killed consumer leader " << leader << "; " << seen.size() << " of " << n << " delivered, " << redeliveries
                                   << " handed out twice");
    CHECK(seen == expected);
}

TEST_CASE("jetstream failures: a cluster that stops answering: puts time out, typed, then work again",
          "[nats][cluster][kill]")
{
    cluster c;
    c.start();
    asio::io_context ctx;
    auto options = test_options();
    options.put_timeout = 1s;
    options.ping_interval = 30s; // the connection stays up: only the answers stop
    auto store = open_store(ctx, c.urls(), options);
    run(ctx, [&]() -> asio::awaitable<void> {
        std::string const m = message_text("WARM1");
        auto const meta = meta_of(m);
        (void)co_await store->put(m, meta);
    });
    for (std::size_t i = 0; i < c.size(); ++i)
        c.freeze(i);
    run(ctx, [&]() -> asio::awaitable<void> {
        std::string const m = message_text("FROZEN1");
        auto const start = clock_type::now();
        std::error_code ec;
        try {
            auto const meta = meta_of(m);
            (void)co_await store->put(m, meta);
        }
        catch (hl7::store::store_error const& e) {
            ec = e.code();
        }
        auto const took = clock_type::now() - start;
        CHECK(ec == error::timeout);
        CHECK(took >= 900ms);
        CHECK(took < 4s);
    });
    CHECK(store->counters().timeouts == 1);
    for (std::size_t i = 0; i < c.size(); ++i)
        c.thaw(i);
    run(ctx, [&]() -> asio::awaitable<void> {
        // The frozen put may have been stored after all: resending it is a
        // duplicate then, and either answer means it is safe.
        auto const status = co_await put_until_safe(store, message_text("FROZEN1"), 30s);
        CHECK(status.has_value());
        co_await store->close();
    });
    raw_client raw(c.urls());
    CHECK(raw.state("HL7").Msgs == 2); // WARM1 and FROZEN1, once
}
