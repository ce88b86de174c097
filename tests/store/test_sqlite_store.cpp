// Test that header file is self-contained.
#include <hl7/store/sqlite.hpp>

#include "store_test_support.hpp"

#include <asio/post.hpp>

#include <catch2/catch.hpp>

#include <future>

using namespace store_test;
using hl7::store::error;
using hl7::store::put_status;

TEST_CASE("sqlite store: put, take, deliver through the public API", "[store][sqlite]")
{
    scratch_dir dir;
    asio::io_context ctx;
    run(ctx, [&]() -> asio::awaitable<void> {
        auto store = co_await hl7::store::open_sqlite_store(dir.file("s.db"));
        CHECK(store->description() == "sqlite:" + dir.file("s.db"));
        std::string const text = message_text("ID-1");
        auto r = co_await store->put(text, meta_of(text, "10.0.0.9:777"));
        CHECK(r.status == put_status::stored);
        CHECK(r.id == 1);
        auto m = co_await store->next(0s);
        REQUIRE(m);
        CHECK(m->id == r.id);
        CHECK(m->payload == text);
        CHECK(m->meta.control_id == "ID-1");
        CHECK(m->meta.sending_application == "LAB");
        CHECK(m->meta.sending_facility == "NORTH");
        CHECK(m->meta.message_type == "ADT^A01^ADT_A01");
        CHECK(m->meta.peer == "10.0.0.9:777");
        CHECK(m->attempts == 0);
        co_await store->delivered(m->id);
        auto none = co_await store->next(0s);
        CHECK_FALSE(none);
        auto st = co_await store->stats();
        CHECK(st.queued == 0);
        CHECK(st.delivered == 1);
        CHECK(st.dead == 0);
        CHECK(st.senders == 1);
        co_await store->close();
    });
}

TEST_CASE("sqlite store: messages survive close and reopen, in order", "[store][sqlite]")
{
    scratch_dir dir;
    asio::io_context ctx;
    std::string const path = dir.file("s.db");
    run(ctx, [&]() -> asio::awaitable<void> {
        auto store = co_await hl7::store::open_sqlite_store(path);
        for (int i = 0; i < 20; ++i) {
            std::string const text = message_text("R-" + std::to_string(i));
            auto r = co_await store->put(text, meta_of(text));
            CHECK(r.id == static_cast<std::uint64_t>(i + 1));
        }
        co_await store->close();
    });
    run(ctx, [&]() -> asio::awaitable<void> {
        auto store = co_await hl7::store::open_sqlite_store(path);
        for (int i = 0; i < 20; ++i) {
            auto m = co_await store->next(0s);
            REQUIRE(m);
            CHECK(m->meta.control_id == "R-" + std::to_string(i));
            CHECK(m->payload == message_text("R-" + std::to_string(i)));
            co_await store->delivered(m->id);
        }
        auto const v12 = co_await store->next(0s);
        CHECK_FALSE(v12);
        // Ids are never reused, also after messages left the queue.
        std::string const text = message_text("R-20");
        auto r = co_await store->put(text, meta_of(text));
        CHECK(r.id == 21);
        co_await store->close();
    });
}

TEST_CASE("sqlite store: duplicates within the window are absorbed and counted", "[store][sqlite][dedup]")
{
    scratch_dir dir;
    asio::io_context ctx;
    fake_clock clock;
    hl7::store::sqlite_options o;
    o.dedup_window = 1h;
    o.clock = clock.function();
    std::string const path = dir.file("s.db");
    run(ctx, [&]() -> asio::awaitable<void> {
        auto store = co_await hl7::store::open_sqlite_store(path, o);
        std::string const a = message_text("D-1");
        auto first = co_await store->put(a, meta_of(a));
        CHECK(first.status == put_status::stored);
        // The same message again: safe already, not stored twice.
        auto again = co_await store->put(a, meta_of(a));
        CHECK(again.status == put_status::duplicate);
        CHECK(again.id == first.id);
        // Same MSH-10 from another facility or application: a different message.
        std::string const other_facility = message_text("D-1", "LAB", "SOUTH");
        auto const v1 = co_await store->put(other_facility, meta_of(other_facility));
        CHECK(v1.status == put_status::stored);
        std::string const other_app = message_text("D-1", "RAD", "NORTH");
        auto const v2 = co_await store->put(other_app, meta_of(other_app));
        CHECK(v2.status == put_status::stored);
        // An empty MSH-10 is never a duplicate.
        std::string const no_id = message_text("");
        auto const v3 = co_await store->put(no_id, meta_of(no_id));
        CHECK(v3.status == put_status::stored);
        auto const v4 = co_await store->put(no_id, meta_of(no_id));
        CHECK(v4.status == put_status::stored);
        // Still a duplicate after it was delivered (within the window).
        auto m = co_await store->next(0s);
        REQUIRE(m);
        CHECK(m->id == first.id);
        co_await store->delivered(m->id);
        auto const v5 = co_await store->put(a, meta_of(a));
        CHECK(v5.status == put_status::duplicate);
        // Past the window: a new message.
        clock.advance(1h + 1s);
        auto late = co_await store->put(a, meta_of(a));
        CHECK(late.status == put_status::stored);
        CHECK(late.id != first.id);
        auto const v6 = co_await store->put(a, meta_of(a));
        CHECK(v6.status == put_status::duplicate);

        auto st = co_await store->stats();
        CHECK(st.duplicates == 3);
        CHECK(store->counters().duplicates == 3);
        CHECK(store->counters().stored == 6);
        co_await store->close();
    });
    // The count survives a restart, and so does the detection.
    run(ctx, [&]() -> asio::awaitable<void> {
        auto store = co_await hl7::store::open_sqlite_store(path, o);
        std::string const a = message_text("D-1");
        auto const v7 = co_await store->put(a, meta_of(a));
        CHECK(v7.status == put_status::duplicate);
        auto st = co_await store->stats();
        CHECK(st.duplicates == 4);
        co_await store->close();
    });
}

TEST_CASE("sqlite store: a zero dedup window stores every copy", "[store][sqlite][dedup]")
{
    scratch_dir dir;
    asio::io_context ctx;
    hl7::store::sqlite_options o;
    o.dedup_window = 0ms;
    run(ctx, [&]() -> asio::awaitable<void> {
        auto store = co_await hl7::store::open_sqlite_store(dir.file("s.db"), o);
        std::string const a = message_text("Z-1");
        auto const v8 = co_await store->put(a, meta_of(a));
        CHECK(v8.status == put_status::stored);
        auto const v9 = co_await store->put(a, meta_of(a));
        CHECK(v9.status == put_status::stored);
        auto const v10 = co_await store->stats();
        CHECK(v10.queued == 2);
        co_await store->close();
    });
}

TEST_CASE("sqlite store: duplicates inside one group commit", "[store][sqlite][dedup]")
{
    // Several copies queued together land in one transaction: the first is
    // stored, the others see it.
    scratch_dir dir;
    asio::io_context ctx;
    run(ctx, [&]() -> asio::awaitable<void> {
        auto store = co_await hl7::store::open_sqlite_store(dir.file("s.db"));
        std::string const a = message_text("G-1");
        std::vector<hl7::store::put_result> results(10);
        int done = 0;
        auto ex = co_await asio::this_coro::executor;
        for (int i = 0; i < 10; ++i)
            asio::co_spawn(
                ex,
                [&, i]() -> asio::awaitable<void> {
                    results[static_cast<std::size_t>(i)] = co_await store->put(a, meta_of(a));
                    ++done;
                },
                asio::detached);
        while (done < 10)
            co_await hl7_test::sleep_for(5ms);
        int stored = 0;
        for (auto const& r : results) {
            stored += r.status == put_status::stored;
            CHECK(r.id == 1);
        }
        CHECK(stored == 1);
        auto const v11 = co_await store->stats();
        CHECK(v11.queued == 1);
        co_await store->close();
    });
}

namespace {

// Puts 40 messages of one size while the database thread is held inside its
// first transaction (the store's clock blocks until every put is queued), so
// the other 39 (at least 36) wait together and the batch limits decide how
// many transactions take them. Returns the number of commits.
std::uint64_t
commits_for_40_queued_puts(scratch_dir const& dir, std::string const& name, hl7::store::sqlite_options options)
{
    std::atomic<bool> armed{false};
    std::promise<void> release;
    std::shared_future<void> released = release.get_future().share();
    options.clock = [&armed, released] {
        if (armed.exchange(false))
            released.wait();
        return std::chrono::system_clock::now();
    };
    std::uint64_t commits = 0;
    asio::io_context ctx;
    run(ctx, [&]() -> asio::awaitable<void> {
        auto store = co_await hl7::store::open_sqlite_store(dir.file(name), options);
        auto const before = store->counters().commits;
        armed = true;
        auto ex = co_await asio::this_coro::executor;
        int entered = 0, done = 0;
        for (int i = 10; i < 50; ++i)
            asio::co_spawn(
                ex,
                [&, i]() -> asio::awaitable<void> {
                    std::string const text = message_text("B-" + std::to_string(i));
                    ++entered; // the put is queued before this coroutine yields
                    auto r = co_await store->put(text, meta_of(text));
                    CHECK(r.status == put_status::stored);
                    ++done;
                },
                asio::detached);
        while (entered < 40)
            co_await asio::post(ex, asio::use_awaitable);
        release.set_value();
        while (done < 40)
            co_await hl7_test::sleep_for(5ms);
        commits = store->counters().commits - before;
        auto const st = co_await store->stats();
        CHECK(st.queued == 40);
        co_await store->close();
    });
    return commits;
}

} // namespace

TEST_CASE("sqlite store: one transaction takes at most max_batch puts and max_batch_bytes bytes", "[store][sqlite][limits]")
{
    scratch_dir dir;
    std::size_t const size = message_text("B-10").size();
    SECTION("defaults: the queued puts go in one transaction after the first")
    {
        CHECK(commits_for_40_queued_puts(dir, "d.db", {}) <= 2);
    }
    SECTION("max_batch 4: the first transaction took 1 to 4, then 4 each")
    {
        hl7::store::sqlite_options o;
        o.max_batch = 4;
        auto const commits = commits_for_40_queued_puts(dir, "n.db", o);
        CHECK(commits >= 10);
        CHECK(commits <= 11);
    }
    SECTION("max_batch_bytes of three messages: 3 each (1 to 3 in the first)")
    {
        hl7::store::sqlite_options o;
        o.max_batch_bytes = 3 * size + size / 2;
        CHECK(commits_for_40_queued_puts(dir, "b.db", o) == 14);
    }
    SECTION("max_batch_bytes below one message: one message still goes per transaction")
    {
        hl7::store::sqlite_options o;
        o.max_batch_bytes = 1;
        CHECK(commits_for_40_queued_puts(dir, "one.db", o) == 40);
    }
}
