// Test that header file is self-contained.
#include <hl7/store/jetstream.hpp>

#include "nats_test_support.hpp"

#include <asio/detached.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>

#include <catch2/catch.hpp>

#include <set>
#include <string>
#include <vector>

using namespace hl7_nats_test;
using hl7::store::error;
using hl7::store::put_status;

TEST_CASE("jetstream store: put, next, delivered through the interface", "[nats][cluster]")
{
    cluster c;
    c.start();
    asio::io_context ctx;
    std::shared_ptr<hl7::store::message_store> store = open_store(ctx, c.urls(), test_options());
    CHECK(store->description().find("stream HL7") != std::string::npos);

    std::string const m1 = message_text("MSG1");
    std::string const m2 = message_text("MSG2", "GHH LAB^1.2.3^ISO", "ELAB-3");
    run(ctx, [&]() -> asio::awaitable<void> {
        auto meta = meta_of(m1, "10.1.2.3:5000");
        auto const r1 = co_await store->put(m1, meta);
        CHECK(r1.status == put_status::stored);
        auto const r2 = co_await store->put(m2, meta_of(m2));
        CHECK(r2.status == put_status::stored);
        CHECK(r2.id > r1.id);

        auto const s = co_await store->stats();
        CHECK(s.queued == 2);
        CHECK(s.delivered == 0);
        CHECK(s.dead == 0);
        CHECK(s.senders == 2);

        auto t = co_await store->next(5s);
        REQUIRE(t);
        CHECK(t->id == r1.id);
        CHECK(t->payload == m1);
        CHECK(t->attempts == 0);
        CHECK(t->meta.sending_application == "LAB");
        CHECK(t->meta.sending_facility == "NORTH");
        CHECK(t->meta.control_id == "MSG1");
        CHECK(t->meta.message_type == "ADT^A01^ADT_A01");
        CHECK(t->meta.peer == "10.1.2.3:5000");
        auto const received_ms = std::chrono::duration_cast<std::chrono::milliseconds>(meta.received.time_since_epoch());
        CHECK(std::chrono::duration_cast<std::chrono::milliseconds>(t->meta.received.time_since_epoch()) == received_ms);
        CHECK(t->stored >= meta.received - 5s);
        co_await store->delivered(t->id);

        t = co_await store->next(5s);
        REQUIRE(t);
        CHECK(t->id == r2.id);
        CHECK(t->meta.sending_application == "GHH LAB^1.2.3^ISO");
        CHECK(t->meta.sending_facility == "ELAB-3");
        co_await store->delivered(t->id);

        // Nothing more: next() waits, then says so.
        auto const before = std::chrono::steady_clock::now();
        auto none = co_await store->next(300ms);
        CHECK_FALSE(none);
        CHECK(std::chrono::steady_clock::now() - before >= 250ms);
        none = co_await store->next(0s);
        CHECK_FALSE(none);

        auto const s2 = co_await store->stats();
        CHECK(s2.queued == 0);
        CHECK(s2.delivered == 2);

        // Settling twice, or what was never taken: unknown_message.
        std::error_code ec;
        try {
            co_await store->delivered(r1.id);
        }
        catch (hl7::store::store_error const& e) {
            ec = e.code();
        }
        CHECK(ec == error::unknown_message);
        co_await store->close();
    });

    // What JetStream holds: the payload, on the sender's subject, with the id header.
    raw_client raw(c.urls());
    auto const first = raw.get("HL7", 1);
    REQUIRE(first);
    CHECK(first->data == m1);
    CHECK(first->subject == "hl7.in.LAB~NORTH");
    CHECK(first->header("Nats-Msg-Id") == "LAB|NORTH|MSG1");
    auto const second = raw.get("HL7", 2);
    REQUIRE(second);
    CHECK(second->subject == "hl7.in.GHH%20LAB%5E1%2E2%2E3%5EISO~ELAB-3");
}

TEST_CASE("jetstream store: a resent message is a duplicate, stored once", "[nats][cluster]")
{
    cluster c;
    c.start();
    asio::io_context ctx;
    auto store = open_store(ctx, c.urls(), test_options());
    std::string const m = message_text("DUP1");
    std::string const other = message_text("DUP2");
    std::string const no_id = message_text("");
    run(ctx, [&]() -> asio::awaitable<void> {
        auto const a = co_await store->put(m, meta_of(m));
        auto const b = co_await store->put(m, meta_of(m));
        CHECK(a.status == put_status::stored);
        CHECK(b.status == put_status::duplicate);
        CHECK(b.id == a.id); // the first copy's sequence
        // The same MSH-10 from another sender is another message.
        std::string const elsewhere = message_text("DUP1", "LAB", "SOUTH");
        auto const c2 = co_await store->put(elsewhere, meta_of(elsewhere));
        CHECK(c2.status == put_status::stored);
        auto const d = co_await store->put(other, meta_of(other));
        CHECK(d.status == put_status::stored);
        // No MSH-10: never a duplicate.
        auto const e1 = co_await store->put(no_id, meta_of(no_id));
        auto const e2 = co_await store->put(no_id, meta_of(no_id));
        CHECK(e1.status == put_status::stored);
        CHECK(e2.status == put_status::stored);
        CHECK(e2.id != e1.id);

        auto const s = co_await store->stats();
        CHECK(s.queued == 5);
        CHECK(s.duplicates == 1);
        co_await store->close();
    });
    CHECK(store->counters().stored == 5);
    CHECK(store->counters().duplicates == 1);
    raw_client raw(c.urls());
    CHECK(raw.state("HL7").Msgs == 5);
    CHECK_FALSE(raw.get("HL7", 5)->header("Nats-Msg-Id"));
}

TEST_CASE("jetstream store: retry_later hands the message out again after the delay, before later ones",
          "[nats][cluster]")
{
    cluster c;
    c.start();
    asio::io_context ctx;
    auto store = open_store(ctx, c.urls(), test_options()); // max_ack_pending 1: strict order
    run(ctx, [&]() -> asio::awaitable<void> {
        std::vector<std::uint64_t> ids;
        for (int i = 1; i <= 3; ++i) {
            std::string const m = message_text("ORD" + std::to_string(i), i == 2 ? "OTHER" : "LAB");
            auto const r = co_await store->put(m, meta_of(m));
            ids.push_back(r.id);
        }
        auto t = co_await store->next(5s);
        REQUIRE(t);
        CHECK(t->id == ids[0]);
        auto const nak_time = std::chrono::steady_clock::now();
        co_await store->retry_later(t->id, 700ms, "downstream said AE");
        // The first message again, after its delay; nothing overtakes it.
        t = co_await store->next(10s);
        REQUIRE(t);
        CHECK(t->id == ids[0]);
        CHECK(std::chrono::steady_clock::now() - nak_time >= 600ms);
        CHECK(t->attempts == 1);
        CHECK(t->last_error == "downstream said AE");
        co_await store->delivered(t->id);
        for (int i = 1; i < 3; ++i) {
            t = co_await store->next(5s);
            REQUIRE(t);
            CHECK(t->id == ids[static_cast<std::size_t>(i)]);
            CHECK(t->attempts == 0);
            co_await store->delivered(t->id);
        }
        // A zero delay: at once.
        std::string const m = message_text("ORD4");
        auto const r = co_await store->put(m, meta_of(m));
        t = co_await store->next(5s);
        REQUIRE(t);
        co_await store->retry_later(t->id, 0ms, "try again");
        t = co_await store->next(5s);
        REQUIRE(t);
        CHECK(t->id == r.id);
        CHECK(t->attempts == 1);
        co_await store->delivered(t->id);
        co_await store->close();
    });
}

TEST_CASE("jetstream store: dead publishes to the dead-letter stream with the reason and ends delivery",
          "[nats][cluster]")
{
    cluster c;
    c.start();
    asio::io_context ctx;
    auto store = open_store(ctx, c.urls(), test_options());
    std::string const m = message_text("POISON1");
    std::string const next_one = message_text("FINE1");
    std::uint64_t dead_id = 0;
    run(ctx, [&]() -> asio::awaitable<void> {
        auto const r = co_await store->put(m, meta_of(m, "10.9.9.9:1"));
        dead_id = r.id;
        (void)co_await store->put(next_one, meta_of(next_one));
        auto t = co_await store->next(5s);
        REQUIRE(t);
        co_await store->retry_later(t->id, 0ms, "AR: unknown patient");
        t = co_await store->next(5s);
        REQUIRE(t);
        CHECK(t->id == dead_id);
        co_await store->dead(t->id, "rejected 2 times: AR\nunknown patient");
        // The next message, not the dead one.
        t = co_await store->next(5s);
        REQUIRE(t);
        CHECK(t->payload == next_one);
        co_await store->delivered(t->id);
        auto const none = co_await store->next(300ms);
        CHECK_FALSE(none);
        auto const s = co_await store->stats();
        CHECK(s.dead == 1);
        CHECK(s.queued == 0);
        co_await store->close();
    });
    raw_client raw(c.urls());
    auto const letter = raw.get("HL7_DEAD", 1);
    REQUIRE(letter);
    CHECK(letter->data == m);
    CHECK(letter->subject == "hl7.dead.LAB~NORTH");
    REQUIRE(letter->header("Hl7-Dead-Reason"));
    CHECK(hl7::store::detail::percent_decode(*letter->header("Hl7-Dead-Reason")) == "rejected 2 times: AR\nunknown patient");
    CHECK(letter->header("Hl7-Dead-Sequence") == std::to_string(dead_id));
    CHECK(letter->header("Hl7-Dead-Stream") == "HL7");
    CHECK(letter->header("Hl7-Dead-Deliveries") == "2");
    CHECK(letter->header("Hl7-Control-Id") == "POISON1");
    CHECK(letter->header("Hl7-Peer") == "10.9.9.9:1");
}

TEST_CASE("jetstream store: two store objects sharing the durable consumer get disjoint messages",
          "[nats][cluster]")
{
    cluster c;
    c.start();
    for (std::int64_t max_ack_pending : {std::int64_t{1}, std::int64_t{64}}) {
        CAPTURE(max_ack_pending);
        asio::io_context ctx;
        auto options = test_options();
        // A stream per round: a new consumer starts at the stream's beginning.
        options.stream = "SHARED" + std::to_string(max_ack_pending);
        options.subject_prefix = "shared" + std::to_string(max_ack_pending) + ".in";
        options.dead_stream = options.stream + "_DEAD";
        options.dead_subject_prefix = "shared" + std::to_string(max_ack_pending) + ".dead";
        options.max_ack_pending = max_ack_pending;
        auto receiver = open_store(ctx, c.urls(), options);
        auto a = open_store(ctx, c.urls(), options);
        auto b = open_store(ctx, c.urls(), options);
        int const n = 60;
        std::set<std::uint64_t> got_a, got_b, all;
        run(ctx, [&]() -> asio::awaitable<void> {
            // Each round starts after what the previous one left in the stream.
            auto const s = co_await receiver->stats();
            CHECK(s.queued == 0);
            for (int i = 0; i < n; ++i) {
                std::string const m = message_text("SH" + std::to_string(max_ack_pending) + "-" + std::to_string(i));
                auto const r = co_await receiver->put(m, meta_of(m));
                all.insert(r.id);
            }
        });
        std::size_t taken = 0;
        auto consume = [&](std::shared_ptr<hl7::store::jetstream_store> s,
                           std::set<std::uint64_t>& got) -> asio::awaitable<void> {
            while (taken < static_cast<std::size_t>(n)) {
                auto t = co_await s->next(500ms);
                if (!t)
                    continue;
                CHECK(got.insert(t->id).second);
                ++taken;
                co_await s->delivered(t->id);
            }
        };
        run(ctx, [&]() -> asio::awaitable<void> {
            using namespace asio::experimental::awaitable_operators;
            co_await (consume(a, got_a) && consume(b, got_b));
        });
        for (auto id : got_a)
            CHECK(got_b.count(id) == 0);
        std::set<std::uint64_t> both = got_a;
        both.insert(got_b.begin(), got_b.end());
        CHECK(both == all);
        CHECK_FALSE(got_a.empty());
        CHECK_FALSE(got_b.empty());
        close_store(ctx, a);
        close_store(ctx, b);
        close_store(ctx, receiver);
    }
}

TEST_CASE("jetstream store: a cancelled next() takes nothing", "[nats][cluster]")
{
    cluster c;
    c.start();
    asio::io_context ctx;
    auto store = open_store(ctx, c.urls(), test_options());
    std::string const m = message_text("CANCEL1");
    run(ctx, [&]() -> asio::awaitable<void> {
        using namespace asio::experimental::awaitable_operators;
        asio::steady_timer timer(co_await asio::this_coro::executor, 200ms);
        auto const before = std::chrono::steady_clock::now();
        auto r = co_await (store->next(30s) || timer.async_wait(asio::use_awaitable));
        CHECK(r.index() == 1); // the timer won; the wait was cancelled
        CHECK(std::chrono::steady_clock::now() - before < 5s);
        // Put while the cancelled fetch may still be out: the message is not lost.
        (void)co_await store->put(m, meta_of(m));
        auto t = co_await store->next(10s);
        REQUIRE(t);
        CHECK(t->payload == m);
        co_await store->delivered(t->id);
        co_await store->close();
    });
}

TEST_CASE("jetstream store: limits give typed errors (too large, full) and the store goes on", "[nats][cluster]")
{
    cluster c(3, "64KB");
    c.start();
    asio::io_context ctx;
    auto options = test_options();
    options.max_message_size = 4000;
    options.max_bytes = 16 * 1024;
    auto store = open_store(ctx, c.urls(), options);
    run(ctx, [&]() -> asio::awaitable<void> {
        // Above the stream's max_message_size: refused by JetStream.
        std::string big = message_text("BIG1");
        big += "NTE|1||" + std::string(5000, 'x') + "\r";
        std::error_code ec;
        try {
            (void)co_await store->put(big, meta_of(big));
        }
        catch (hl7::store::store_error const& e) {
            ec = e.code();
        }
        CHECK(ec == error::too_large);
        // Above the server's max_payload: refused by the client.
        std::string huge = message_text("HUGE1");
        huge += "NTE|1||" + std::string(70000, 'y') + "\r";
        ec = {};
        try {
            (void)co_await store->put(huge, meta_of(huge));
        }
        catch (hl7::store::store_error const& e) {
            ec = e.code();
        }
        CHECK(ec == error::too_large);
        // Fill the stream: refused as full, never dropping old messages.
        int stored = 0;
        ec = {};
        for (int i = 0; i < 100 && !ec; ++i) {
            std::string m = message_text("FILL" + std::to_string(i));
            m += "NTE|1||" + std::string(1000, 'z') + "\r";
            try {
                (void)co_await store->put(m, meta_of(m));
                ++stored;
            }
            catch (hl7::store::store_error const& e) {
                ec = e.code();
            }
        }
        CHECK(ec == error::full);
        CHECK(stored > 5);
        auto const s = co_await store->stats();
        CHECK(s.queued == static_cast<std::uint64_t>(stored));
        co_await store->close();
    });
}

TEST_CASE("jetstream store: close answers queued puts, then refuses everything", "[nats][cluster]")
{
    cluster c;
    c.start();
    asio::io_context ctx;
    auto store = open_store(ctx, c.urls(), test_options());
    int answered = 0;
    run(ctx, [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        for (int i = 0; i < 50; ++i)
            asio::co_spawn(
                ex,
                [&, i]() -> asio::awaitable<void> {
                    std::string const m = message_text("CL" + std::to_string(i));
                    auto r = co_await store->put(m, meta_of(m));
                    CHECK(r.status == put_status::stored);
                    ++answered;
                },
                asio::detached);
        co_await store->close();
        co_await store->close(); // idempotent
    });
    CHECK(answered == 50);
    CHECK(store_error_of([&] {
              run(ctx, [&]() -> asio::awaitable<void> {
                  std::string const m = message_text("LATE");
                  (void)co_await store->put(m, meta_of(m));
              });
          }) == error::closed);
    CHECK(store_error_of([&] {
              run(ctx, [&]() -> asio::awaitable<void> { (void)co_await store->next(1s); });
          }) == error::closed);
    CHECK(store_error_of([&] {
              run(ctx, [&]() -> asio::awaitable<void> { (void)co_await store->stats(); });
          }) == error::closed);
    raw_client raw(c.urls());
    CHECK(raw.state("HL7").Msgs == 50);
}

TEST_CASE("jetstream store: settled messages are purged after their retention, never unsettled ones",
          "[nats][cluster]")
{
    cluster c;
    c.start();
    asio::io_context ctx;
    auto options = test_options();
    options.dedup_window = 1s;
    options.retention = 1s;
    options.purge_interval = 0ms; // by hand only
    auto store = open_store(ctx, c.urls(), options);
    run(ctx, [&]() -> asio::awaitable<void> {
        for (int i = 0; i < 5; ++i) {
            std::string const m = message_text("PG" + std::to_string(i));
            (void)co_await store->put(m, meta_of(m));
        }
        for (int i = 0; i < 3; ++i) {
            auto t = co_await store->next(5s);
            REQUIRE(t);
            co_await store->delivered(t->id);
        }
        auto const first = co_await store->purge();
        CHECK(first == 0); // the first call notes the progress
        asio::steady_timer timer(co_await asio::this_coro::executor, 1200ms);
        co_await timer.async_wait(asio::use_awaitable);
        auto const second = co_await store->purge();
        CHECK(second == 3);
        auto const s = co_await store->stats();
        CHECK(s.delivered == 0);
        CHECK(s.queued == 2);
        // The two left are still there to take.
        for (int i = 0; i < 2; ++i) {
            auto t = co_await store->next(5s);
            REQUIRE(t);
            co_await store->delivered(t->id);
        }
        co_await store->close();
    });
    CHECK(store->counters().purged == 3);
    raw_client raw(c.urls());
    auto const st = raw.state("HL7");
    CHECK(st.Msgs == 2);
    CHECK(st.FirstSeq == 4);
}

TEST_CASE("jetstream store: opening with settings the cluster cannot meet is cannot_open", "[nats][cluster]")
{
    cluster c(1);
    c.start();
    asio::io_context ctx;
    // Three replicas on a single server.
    CHECK(store_error_of([&] { open_store(ctx, c.urls(), test_options(3)); }) == error::cannot_open);
    // No stream, and not allowed to create it.
    auto options = test_options(1);
    options.create_if_missing = false;
    options.stream = "MISSING";
    options.subject_prefix = "missing.in";
    CHECK(store_error_of([&] { open_store(ctx, c.urls(), options); }) == error::cannot_open);
    // A single server and one replica: fine.
    auto store = open_store(ctx, c.urls(), test_options(1));
    run(ctx, [&]() -> asio::awaitable<void> {
        std::string const m = message_text("R1");
        auto const r = co_await store->put(m, meta_of(m));
        CHECK(r.status == put_status::stored);
        co_await store->close();
    });
}

namespace {

// 100 puts handed over before any acknowledgement can come back, with one
// publish in flight and a queue of one put (`options` says in puts or in
// bytes): at least half are refused at once with queue_full, the rest stored.
void
check_full_put_queue(hl7::store::jetstream_options options)
{
    cluster c;
    c.start();
    asio::io_context ctx;
    options.max_in_flight = 1;
    auto store = open_store(ctx, c.urls(), options);
    int stored = 0, refused = 0, other = 0;
    run(ctx, [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        int running = 100;
        // All handed to the store before any acknowledgement can come back.
        for (int i = 0; i < 100; ++i)
            asio::co_spawn(
                ex,
                [&, i]() -> asio::awaitable<void> {
                    std::string const m = message_text("Q" + std::to_string(i));
                    try {
                        auto const meta = meta_of(m);
                        (void)co_await store->put(m, meta);
                        ++stored;
                    }
                    catch (hl7::store::store_error const& e) {
                        ++(e.code() == error::queue_full ? refused : other);
                    }
                    --running;
                },
                asio::detached);
        asio::steady_timer t(ex);
        while (running > 0) {
            t.expires_after(10ms);
            co_await t.async_wait(asio::use_awaitable);
        }
        co_await store->close();
    });
    CHECK(other == 0);
    CHECK(stored >= 1);
    CHECK(refused >= 50);
    CHECK(stored + refused == 100);
    CHECK(store->counters().queue_full == static_cast<std::uint64_t>(refused));
    raw_client raw(c.urls());
    CHECK(raw.state("HL7").Msgs == static_cast<std::uint64_t>(stored));
}

} // namespace

TEST_CASE("jetstream store: a full put queue refuses at once with queue_full", "[nats][cluster]")
{
    auto options = test_options();
    options.max_queue = 1;
    check_full_put_queue(options);
}

TEST_CASE("jetstream store: a put queue full in bytes refuses at once with queue_full", "[nats][cluster]")
{
    auto options = test_options();
    options.max_queue = 100000;
    options.max_queue_bytes = message_text("Q10").size() * 3 / 2; // one put, not two
    check_full_put_queue(options);
}
