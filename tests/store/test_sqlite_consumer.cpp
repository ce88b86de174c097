// The consuming side of the SQLite store: order per sender, retry, dead
// letters, requeue, waiting, cancellation, one consumer per file.
#include <hl7/store/sqlite.hpp>

#include "store_test_support.hpp"

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/detached.hpp>

#include <catch2/catch.hpp>

#include <optional>
#include <vector>

using namespace store_test;
using hl7::store::error;
using hl7::store::put_status;

namespace {

asio::awaitable<std::uint64_t>
put_msg(hl7::store::message_store& store, std::string const& id, std::string const& app)
{
    std::string const text = message_text(id, app);
    auto r = co_await store.put(text, meta_of(text));
    co_return r.id;
}

asio::awaitable<std::string>
next_id(hl7::store::message_store& store)
{
    auto m = co_await store.next(0s);
    co_return m ? m->meta.control_id : std::string("(none)");
}

template<class T>
asio::awaitable<std::error_code>
error_of(asio::awaitable<T> op)
{
    try {
        co_await std::move(op);
    }
    catch (std::system_error const& e) {
        co_return e.code();
    }
    co_return std::error_code();
}

} // namespace

TEST_CASE("sqlite store: each sender's order holds through taking, retry and dead letters", "[store][sqlite][order]")
{
    scratch_dir dir;
    asio::io_context ctx;
    fake_clock clock;
    hl7::store::sqlite_options o;
    o.clock = clock.function();
    run(ctx, [&]() -> asio::awaitable<void> {
        auto store = co_await hl7::store::open_sqlite_store(dir.file("s.db"), o);
        auto& s = *store;
        auto const a1 = co_await put_msg(s, "A1", "A");
        co_await put_msg(s, "A2", "A");
        co_await put_msg(s, "A3", "A");
        auto const b1 = co_await put_msg(s, "B1", "B");
        co_await put_msg(s, "B2", "B");

        // Oldest first; a sender whose message is out waits.
        auto t1 = co_await next_id(s);
        CHECK(t1 == "A1");
        auto t2 = co_await next_id(s);
        CHECK(t2 == "B1");
        auto t3 = co_await next_id(s);
        CHECK(t3 == "(none)");

        // A1 failed: retry in 10 s; A2 and A3 wait behind it.
        co_await s.retry_later(a1, 10s, "connection refused");
        auto t4 = co_await next_id(s);
        CHECK(t4 == "(none)");
        auto st = co_await s.stats();
        CHECK(st.queued == 5);
        CHECK(st.retrying == 1);

        co_await s.delivered(b1);
        auto t5 = co_await next_id(s);
        CHECK(t5 == "B2");

        clock.advance(10s);
        auto again = co_await s.next(0s);
        REQUIRE(again);
        CHECK(again->meta.control_id == "A1");
        CHECK(again->attempts == 1);
        CHECK(again->last_error == "connection refused");

        // Given up: it no longer holds its sender back.
        co_await s.dead(a1, "rejected with AR three times");
        auto t6 = co_await next_id(s);
        CHECK(t6 == "A2");

        st = co_await s.stats();
        CHECK(st.dead == 1);
        CHECK(st.delivered == 1);
        CHECK(st.queued == 3); // A2 (taken), A3, B2 (taken)
        CHECK(st.retrying == 0);
        co_await s.close();
    });
}

TEST_CASE("sqlite store: a taken message that is never settled comes back after a restart", "[store][sqlite][order]")
{
    scratch_dir dir;
    asio::io_context ctx;
    std::string const path = dir.file("s.db");
    run(ctx, [&]() -> asio::awaitable<void> {
        auto store = co_await hl7::store::open_sqlite_store(path);
        co_await put_msg(*store, "X1", "A");
        co_await put_msg(*store, "X2", "A");
        auto t = co_await next_id(*store);
        CHECK(t == "X1");
        co_await store->close(); // the consumer "crashed" before settling
    });
    run(ctx, [&]() -> asio::awaitable<void> {
        auto store = co_await hl7::store::open_sqlite_store(path);
        auto t = co_await next_id(*store);
        CHECK(t == "X1"); // at least once
        co_await store->close();
    });
}

TEST_CASE("sqlite store: settling a message not taken is refused and changes nothing", "[store][sqlite]")
{
    scratch_dir dir;
    asio::io_context ctx;
    run(ctx, [&]() -> asio::awaitable<void> {
        auto store = co_await hl7::store::open_sqlite_store(dir.file("s.db"));
        auto const id = co_await put_msg(*store, "U1", "A");
        auto e1 = co_await error_of(store->delivered(id));
        CHECK(e1 == error::unknown_message);
        auto e2 = co_await error_of(store->dead(999, "x"));
        CHECK(e2 == error::unknown_message);
        auto m = co_await store->next(0s);
        REQUIRE(m);
        co_await store->delivered(m->id);
        auto e3 = co_await error_of(store->delivered(m->id)); // twice
        CHECK(e3 == error::unknown_message);
        auto e4 = co_await error_of(store->retry_later(m->id, 1s, "late"));
        CHECK(e4 == error::unknown_message);
        auto st = co_await store->stats();
        CHECK(st.delivered == 1);
        CHECK(st.queued == 0);
        co_await store->close();
    });
}

TEST_CASE("sqlite store: one consumer per file", "[store][sqlite]")
{
    scratch_dir dir;
    asio::io_context ctx;
    std::string const path = dir.file("s.db");
    run(ctx, [&]() -> asio::awaitable<void> {
        auto first = co_await hl7::store::open_sqlite_store(path);
        auto second = co_await hl7::store::open_sqlite_store(path);
        co_await put_msg(*second, "C1", "A"); // putting is shared
        auto m = co_await first->next(0s);
        CHECK(m);
        std::string what;
        try {
            co_await second->next(0s);
        }
        catch (hl7::store::store_error const& e) {
            CHECK(e.code() == error::consumer_busy);
            what = e.what();
        }
        CHECK(what.find("consumer.lock") != std::string::npos);
        co_await first->close();
        // The lock went with the first consumer.
        auto m2 = co_await second->next(0s);
        CHECK(m2);
        co_await second->close();
    });
}

TEST_CASE("sqlite store: a waiting next() wakes for a put in this process", "[store][sqlite][wait]")
{
    scratch_dir dir;
    asio::io_context ctx;
    hl7::store::sqlite_options o;
    o.poll_interval = std::chrono::hours(1); // only the wake-up can end the wait
    run(ctx, [&]() -> asio::awaitable<void> {
        auto store = co_await hl7::store::open_sqlite_store(dir.file("s.db"), o);
        auto ex = co_await asio::this_coro::executor;
        asio::co_spawn(
            ex,
            [&]() -> asio::awaitable<void> {
                co_await hl7_test::sleep_for(50ms);
                co_await put_msg(*store, "W1", "A");
            },
            asio::detached);
        auto const start = std::chrono::steady_clock::now();
        auto m = co_await store->next(std::chrono::minutes(5));
        REQUIRE(m);
        CHECK(m->meta.control_id == "W1");
        CHECK(std::chrono::steady_clock::now() - start < std::chrono::minutes(1));
        co_await store->close();
    });
}

TEST_CASE("sqlite store: a waiting next() finds messages stored by another process", "[store][sqlite][wait]")
{
    // A second store object on the same file stands for the receiver
    // process: no in-process wake-up, only polling.
    scratch_dir dir;
    asio::io_context ctx;
    hl7::store::sqlite_options o;
    o.poll_interval = 20ms;
    run(ctx, [&]() -> asio::awaitable<void> {
        auto consumer = co_await hl7::store::open_sqlite_store(dir.file("s.db"), o);
        auto producer = co_await hl7::store::open_sqlite_store(dir.file("s.db"));
        auto ex = co_await asio::this_coro::executor;
        asio::co_spawn(
            ex,
            [&]() -> asio::awaitable<void> {
                co_await hl7_test::sleep_for(50ms);
                co_await put_msg(*producer, "P1", "A");
            },
            asio::detached);
        auto m = co_await consumer->next(std::chrono::minutes(5));
        REQUIRE(m);
        CHECK(m->meta.control_id == "P1");
        co_await producer->close();
        co_await consumer->close();
    });
}

TEST_CASE("sqlite store: next() waits for a retry time, not longer and not less", "[store][sqlite][wait]")
{
    scratch_dir dir;
    asio::io_context ctx;
    hl7::store::sqlite_options o;
    o.poll_interval = std::chrono::hours(1); // the retry time alone must end the wait
    run(ctx, [&]() -> asio::awaitable<void> {
        auto store = co_await hl7::store::open_sqlite_store(dir.file("s.db"), o);
        co_await put_msg(*store, "T1", "A");
        auto m = co_await store->next(0s);
        REQUIRE(m);
        auto const start = std::chrono::steady_clock::now();
        co_await store->retry_later(m->id, 300ms, "busy");
        auto again = co_await store->next(std::chrono::minutes(5));
        auto const waited = std::chrono::steady_clock::now() - start;
        REQUIRE(again);
        CHECK(again->id == m->id);
        CHECK(waited >= 290ms); // never before its time (ms resolution)
        CHECK(waited < std::chrono::minutes(1));
        co_await store->close();
    });
}

TEST_CASE("sqlite store: next() with nothing to take times out empty", "[store][sqlite][wait]")
{
    scratch_dir dir;
    asio::io_context ctx;
    run(ctx, [&]() -> asio::awaitable<void> {
        auto store = co_await hl7::store::open_sqlite_store(dir.file("s.db"));
        auto m = co_await store->next(100ms);
        CHECK_FALSE(m);
        co_await store->close();
    });
}

TEST_CASE("sqlite store: cancelling a waiting next() ends it", "[store][sqlite][wait]")
{
    scratch_dir dir;
    asio::io_context ctx;
    hl7::store::sqlite_options o;
    o.poll_interval = std::chrono::hours(1);
    run(ctx, [&]() -> asio::awaitable<void> {
        auto store = co_await hl7::store::open_sqlite_store(dir.file("s.db"), o);
        auto ex = co_await asio::this_coro::executor;
        asio::cancellation_signal signal;
        std::optional<std::error_code> result;
        asio::co_spawn(
            ex,
            [&]() -> asio::awaitable<void> {
                try {
                    co_await store->next(std::chrono::hours(1));
                    result = std::error_code();
                }
                catch (std::system_error const& e) {
                    result = e.code();
                }
            },
            asio::bind_cancellation_slot(signal.slot(), asio::detached));
        co_await hl7_test::sleep_for(50ms);
        CHECK_FALSE(result);
        signal.emit(asio::cancellation_type::terminal);
        for (int i = 0; i < 1000 && !result; ++i)
            co_await hl7_test::sleep_for(5ms);
        REQUIRE(result);
        CHECK(*result == asio::error::operation_aborted);
        // Nothing was taken: a put is still there for the next consumer call.
        co_await put_msg(*store, "K1", "A");
        auto m = co_await store->next(0s);
        CHECK(m);
        co_await store->close();
    });
}

TEST_CASE("sqlite store: close() ends waiting consumers and refuses later work", "[store][sqlite]")
{
    scratch_dir dir;
    asio::io_context ctx;
    hl7::store::sqlite_options o;
    o.poll_interval = std::chrono::hours(1);
    run(ctx, [&]() -> asio::awaitable<void> {
        auto store = co_await hl7::store::open_sqlite_store(dir.file("s.db"), o);
        auto ex = co_await asio::this_coro::executor;
        std::optional<std::error_code> waiting;
        asio::co_spawn(
            ex,
            [&]() -> asio::awaitable<void> {
                waiting = co_await error_of(store->next(std::chrono::hours(1)));
            },
            asio::detached);
        co_await hl7_test::sleep_for(50ms);
        co_await store->close();
        for (int i = 0; i < 1000 && !waiting; ++i)
            co_await hl7_test::sleep_for(5ms);
        REQUIRE(waiting);
        CHECK(*waiting == error::closed);
        std::string const text = message_text("late");
        auto e = co_await error_of(store->put(text, meta_of(text)));
        CHECK(e == error::closed);
        co_await store->close(); // idempotent
    });
}

TEST_CASE("sqlite store: dead letters are listed and requeued", "[store][sqlite][admin]")
{
    scratch_dir dir;
    asio::io_context ctx;
    run(ctx, [&]() -> asio::awaitable<void> {
        auto store = co_await hl7::store::open_sqlite_store(dir.file("s.db"));
        std::vector<std::uint64_t> ids;
        for (int i = 0; i < 4; ++i)
            ids.push_back(co_await put_msg(*store, "DL" + std::to_string(i), "S" + std::to_string(i)));
        for (int i = 0; i < 4; ++i) {
            auto m = co_await store->next(0s);
            REQUIRE(m);
            if (i < 3)
                co_await store->dead(m->id, "AR: unknown patient " + std::to_string(i));
            else
                co_await store->delivered(m->id);
        }
        auto dead = co_await store->list();
        REQUIRE(dead.size() == 3);
        CHECK(dead[0].id == ids[0]);
        CHECK(dead[0].state == hl7::store::message_state::dead);
        CHECK(dead[0].meta.control_id == "DL0");
        CHECK(dead[0].meta.sending_application == "S0");
        CHECK(dead[0].attempts == 1);
        CHECK(dead[0].last_error == "AR: unknown patient 0");
        CHECK(dead[0].settled);
        CHECK(dead[0].size == message_text("DL0", "S0").size());
        CHECK_FALSE(dead[0].payload); // contents only when asked
        hl7::store::list_options with;
        with.with_payload = true;
        with.after_id = ids[0];
        with.limit = 1;
        auto page = co_await store->list(with);
        REQUIRE(page.size() == 1);
        CHECK(page[0].id == ids[1]);
        REQUIRE(page[0].payload);
        CHECK(*page[0].payload == message_text("DL1", "S1"));

        // By id: a dead letter is requeued, anything else is not.
        // (Named vectors: g++ 12 cannot keep an initializer list across co_await.)
        std::vector<std::uint64_t> const some{ids[1], ids[3], 12345};
        auto r1 = co_await store->requeue(some);
        std::vector<std::uint64_t> const expected1{ids[1]};
        CHECK(r1 == expected1);
        auto back = co_await store->next(0s);
        REQUIRE(back);
        CHECK(back->id == ids[1]);
        CHECK(back->attempts == 0);
        co_await store->delivered(back->id);
        // All of them.
        auto r2 = co_await store->requeue();
        std::vector<std::uint64_t> const expected2{ids[0], ids[2]};
        CHECK(r2 == expected2);
        auto st = co_await store->stats();
        CHECK(st.dead == 0);
        CHECK(st.queued == 2);
        CHECK(st.delivered == 2);
        co_await store->close();
    });
}

TEST_CASE("sqlite store: delivered messages are purged after the retention, nothing else", "[store][sqlite][admin]")
{
    scratch_dir dir;
    asio::io_context ctx;
    fake_clock clock;
    hl7::store::sqlite_options o;
    o.clock = clock.function();
    o.dedup_window = 1h;
    o.retention = 10min; // less than the window: the window wins
    run(ctx, [&]() -> asio::awaitable<void> {
        auto store = co_await hl7::store::open_sqlite_store(dir.file("s.db"), o);
        for (int i = 0; i < 5; ++i)
            co_await put_msg(*store, "PG" + std::to_string(i), "S" + std::to_string(i));
        for (int i = 0; i < 3; ++i) {
            auto m = co_await store->next(0s);
            REQUIRE(m);
            if (i < 2)
                co_await store->delivered(m->id);
            else
                co_await store->dead(m->id, "no");
        }
        clock.advance(30min);
        auto n0 = co_await store->purge();
        CHECK(n0 == 0); // inside the dedup window
        clock.advance(31min);
        auto n1 = co_await store->purge();
        CHECK(n1 == 2);
        auto st = co_await store->stats();
        CHECK(st.delivered == 0);
        CHECK(st.dead == 1);
        CHECK(st.queued == 2);
        CHECK(store->counters().purged == 2);
        co_await store->close();
    });
}
