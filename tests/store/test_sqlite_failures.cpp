// The SQLite store when its storage fails, with real SQLite: full (the
// size limit), locked past the deadline, I/O errors (a file-size limit in a
// child process), a full queue, corruption. Every put either is stored and
// says so, or fails with the cause and is not stored; the store recovers by
// itself when the cause goes away.
#include <hl7/store/sqlite.hpp>

#include "store_test_support.hpp"

#include <asio/detached.hpp>

#include <catch2/catch.hpp>

#include <sqlite3.h>
#include <sys/resource.h>

#include <csignal>
#include <fstream>
#include <iostream>
#include <map>
#include <set>

using namespace store_test;
using hl7::store::error;
using hl7::store::put_status;

namespace {

/// A message with a bulky NTE, so a few of them fill a small store.
std::string
bulky_message(std::string const& id, std::size_t bulk = 4000)
{
    std::string m = message_text(id);
    m += "NTE|1||";
    m.append(bulk, 'x');
    m += '\r';
    return m;
}

struct put_outcomes
{
    std::set<std::string> stored;
    std::map<std::string, std::error_code> failed;
    std::vector<std::string> texts; // what() of failures
};

/// `writers` coroutines put distinct messages until each saw `failures_each` failures (or `max_each` puts).
asio::awaitable<put_outcomes>
put_until_failing(hl7::store::message_store& store, std::string prefix, int writers, int failures_each, int max_each)
{
    put_outcomes out;
    int running = writers;
    auto ex = co_await asio::this_coro::executor;
    for (int w = 0; w < writers; ++w) {
        asio::co_spawn(
            ex,
            [&, w]() -> asio::awaitable<void> {
                int failures = 0;
                for (int i = 0; i < max_each && failures < failures_each; ++i) {
                    std::string const id = prefix + std::to_string(w) + "-" + std::to_string(i);
                    std::string const text = bulky_message(id);
                    try {
                        auto r = co_await store.put(text, meta_of(text));
                        if (r.status == put_status::stored)
                            out.stored.insert(id);
                    }
                    catch (hl7::store::store_error const& e) {
                        ++failures;
                        out.failed[id] = e.code();
                        out.texts.emplace_back(e.what());
                    }
                }
                --running;
            },
            asio::detached);
    }
    while (running > 0)
        co_await hl7_test::sleep_for(5ms);
    co_return out;
}

/// The control ids of the queued messages.
asio::awaitable<std::set<std::string>>
queued_ids(hl7::store::sqlite_store& store)
{
    hl7::store::list_options q;
    q.state = hl7::store::message_state::queued;
    q.limit = 1000000;
    auto records = co_await store.list(q);
    std::set<std::string> ids;
    for (auto const& r : records)
        ids.insert(r.meta.control_id);
    co_return ids;
}

} // namespace

TEST_CASE("sqlite failures: a full store fails the puts that do not fit, alone, and recovers when drained",
          "[store][sqlite][failure]")
{
    scratch_dir dir;
    asio::io_context ctx;
    fake_clock clock;
    hl7::store::sqlite_options o;
    o.max_bytes = 256 * 1024;
    o.clock = clock.function();
    o.dedup_window = 1min;
    o.retention = 1min;
    run(ctx, [&]() -> asio::awaitable<void> {
        auto store = co_await hl7::store::open_sqlite_store(dir.file("s.db"), o);
        auto out = co_await put_until_failing(*store, "F", 8, 3, 500);
        CAPTURE(out.stored.size(), out.failed.size());
        REQUIRE(out.failed.size() > 0);
        CHECK(out.stored.size() > 10);
        for (auto const& [id, ec] : out.failed)
            CHECK(ec == error::full);
        REQUIRE_FALSE(out.texts.empty());
        CAPTURE(out.texts.front());
        CHECK(out.texts.front().find("SQLITE_FULL") != std::string::npos);
        CHECK(out.texts.front().find(dir.file("s.db")) != std::string::npos);
        CHECK(out.texts.front().find("the store is full") != std::string::npos);
        // Exactly what was reported stored is there.
        auto const queued = co_await queued_ids(*store);
        CHECK(queued == out.stored);

        // One message may still fit where a whole batch did not; the store
        // stays full until it is drained, and keeps saying so.
        std::error_code still;
        for (int i = 0; i < 100 && !still; ++i) {
            std::string const id = "probe-" + std::to_string(i);
            std::string const probe = bulky_message(id);
            try {
                co_await store->put(probe, meta_of(probe));
                out.stored.insert(id);
            }
            catch (hl7::store::store_error const& e) {
                still = e.code();
            }
        }
        CHECK(still == error::full);

        // The forwarder can still drain a full store (the reserve), and
        // purging makes room: puts work again, without reopening.
        std::size_t delivered = 0;
        while (auto m = co_await store->next(0s)) {
            co_await store->delivered(m->id);
            ++delivered;
        }
        CHECK(delivered == out.stored.size());
        clock.advance(2min);
        auto const purged = co_await store->purge();
        CHECK(purged == delivered);
        std::string const after = bulky_message("after-1");
        auto r = co_await store->put(after, meta_of(after));
        CHECK(r.status == put_status::stored);
        co_await store->close();
    });
}

TEST_CASE("sqlite failures: locked by another connection past the deadline, then released", "[store][sqlite][failure]")
{
    scratch_dir dir;
    asio::io_context ctx;
    std::string const path = dir.file("s.db");
    hl7::store::sqlite_options o;
    o.busy_timeout = 300ms;
    run(ctx, [&]() -> asio::awaitable<void> {
        auto store = co_await hl7::store::open_sqlite_store(path, o);
        std::string const first = message_text("L-0");
        co_await store->put(first, meta_of(first));

        raw_db other(path);
        REQUIRE(other.exec("BEGIN IMMEDIATE") == SQLITE_OK); // holds the write lock

        std::string const text = message_text("L-1");
        auto const start = std::chrono::steady_clock::now();
        std::error_code ec;
        std::string what;
        try {
            co_await store->put(text, meta_of(text));
        }
        catch (hl7::store::store_error const& e) {
            ec = e.code();
            what = e.what();
        }
        auto const waited = std::chrono::steady_clock::now() - start;
        CHECK(ec == error::busy);
        CAPTURE(what);
        CHECK(what.find("database is locked") != std::string::npos);
        CHECK(what.find("SQLITE_BUSY") != std::string::npos);
        CHECK(waited >= 250ms); // it did wait for the lock first
        CHECK(waited < 60s);
        // Reading is not blocked by a writer (WAL).
        auto st = co_await store->stats();
        CHECK(st.queued == 1);

        REQUIRE(other.exec("COMMIT") == SQLITE_OK);
        auto r = co_await store->put(text, meta_of(text));
        CHECK(r.status == put_status::stored); // not a duplicate: the failed put stored nothing
        auto st2 = co_await store->stats();
        CHECK(st2.queued == 2);
        co_await store->close();
    });
}

namespace {

// Six puts while another process holds the write lock: with room for one
// put at the writer and one queued (`o` says in puts or in bytes), at least
// four are refused at once with queue_full, and once the lock goes, the
// others are stored.
void
check_puts_beyond_queue_limit(hl7::store::sqlite_options o)
{
    scratch_dir dir;
    asio::io_context ctx;
    std::string const path = dir.file("s.db");
    o.busy_timeout = 5s;
    run(ctx, [&]() -> asio::awaitable<void> {
        auto store = co_await hl7::store::open_sqlite_store(path, o);
        auto other = std::make_unique<raw_db>(path);
        REQUIRE(other->exec("BEGIN IMMEDIATE") == SQLITE_OK); // the writer will wait on it

        auto ex = co_await asio::this_coro::executor;
        std::map<std::string, std::error_code> results;
        for (int i = 0; i < 6; ++i) {
            asio::co_spawn(
                ex,
                [&, i]() -> asio::awaitable<void> {
                    std::string const id = "Q-" + std::to_string(i);
                    std::string const text = message_text(id);
                    try {
                        co_await store->put(text, meta_of(text));
                        results[id] = {};
                    }
                    catch (hl7::store::store_error const& e) {
                        results[id] = e.code();
                    }
                },
                asio::detached);
        }
        // While the lock is held, at most one put is with the writer and
        // one queued; the others are refused at once.
        for (int i = 0; i < 2000 && results.size() < 4; ++i)
            co_await hl7_test::sleep_for(5ms);
        REQUIRE(results.size() >= 4);
        for (auto const& [id, ec] : results)
            CHECK(ec == error::queue_full);
        CHECK(store->counters().queue_full >= 4);
        other.reset(); // releases the lock (rolls back)
        for (int i = 0; i < 2000 && results.size() < 6; ++i)
            co_await hl7_test::sleep_for(5ms);
        REQUIRE(results.size() == 6);
        std::set<std::string> ok;
        for (auto const& [id, ec] : results)
            if (!ec)
                ok.insert(id);
        CHECK(ok.size() >= 1);
        CHECK(ok.size() <= 2);
        CHECK(co_await queued_ids(*store) == ok);
        co_await store->close();
    });
}

} // namespace

TEST_CASE("sqlite failures: puts beyond the queue limit fail at once with queue_full", "[store][sqlite][failure]")
{
    hl7::store::sqlite_options o;
    o.max_queue = 1;
    check_puts_beyond_queue_limit(o);
}

TEST_CASE("sqlite failures: puts beyond the queue's byte limit fail at once with queue_full", "[store][sqlite][failure]")
{
    hl7::store::sqlite_options o;
    o.max_queue = 1000;
    // Room for one message and a half: the same as one put queued.
    o.max_queue_bytes = message_text("Q-0").size() * 3 / 2;
    check_puts_beyond_queue_limit(o);
}

TEST_CASE("sqlite failures: a corrupt file is reported as corrupt", "[store][sqlite][failure]")
{
    scratch_dir dir;
    asio::io_context ctx;
    std::string const path = dir.file("s.db");
    run(ctx, [&]() -> asio::awaitable<void> {
        auto store = co_await hl7::store::open_sqlite_store(path);
        for (int i = 0; i < 300; ++i) {
            std::string const text = bulky_message("C-" + std::to_string(i), 500);
            co_await store->put(text, meta_of(text));
        }
        co_await store->close(); // checkpointed into the main file
    });
    {
        // Trash pages 2..20, keeping the header page (the file still looks like a store).
        std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(4096);
        std::string junk(4096 * 19, '\xA5');
        f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
    }
    std::error_code ec;
    std::string what;
    try {
        auto store = open_store(ctx, path);
        run(ctx, [&]() -> asio::awaitable<void> {
            co_await store->stats();
            co_await store->next(0s);
            co_await store->close();
        });
    }
    catch (hl7::store::store_error const& e) {
        ec = e.code();
        what = e.what();
    }
    CAPTURE(what);
    CHECK(ec == error::corrupt);
    CHECK(what.find("SQLITE_CORRUPT") != std::string::npos);
}

//--------------------------------------------------------------------------
// A real I/O error: the file-size limit (RLIMIT_FSIZE, SIGXFSZ ignored)
// makes write() fail with EFBIG, which SQLite reports as SQLITE_IOERR_WRITE.
// In a child process, so the limit touches nothing else.

TEST_CASE("sqlite failures (child): file-size limit", "[.child][fsize]")
{
    std::string const dir_path = env_or_empty("HL7_STORE_CHILD_DIR");
    if (dir_path.empty())
        return; // only run by the test below
    std::signal(SIGXFSZ, SIG_IGN);
    std::string const path = dir_path + "/s.db";
    asio::io_context ctx;
    run(ctx, [&]() -> asio::awaitable<void> {
        auto store = co_await hl7::store::open_sqlite_store(path);
        for (int i = 0; i < 20; ++i) {
            std::string const text = bulky_message("base-" + std::to_string(i));
            co_await store->put(text, meta_of(text));
        }
        std::error_code size_ec;
        auto const wal = std::filesystem::file_size(path + "-wal", size_ec);
        auto const db = std::filesystem::file_size(path, size_ec);
        rlimit saved{};
        REQUIRE(getrlimit(RLIMIT_FSIZE, &saved) == 0);
        rlimit lowered = saved;
        lowered.rlim_cur = std::max(wal, db) + 64 * 1024;
        REQUIRE(setrlimit(RLIMIT_FSIZE, &lowered) == 0);

        auto out = co_await put_until_failing(*store, "IO", 4, 2, 200);
        CAPTURE(out.stored.size(), out.failed.size());
        REQUIRE(out.failed.size() > 0);
        for (auto const& [id, ec] : out.failed)
            CHECK((ec == error::io_error || ec == error::full));
        CAPTURE(out.texts.front());
        std::cout << "first failure: " << out.texts.front() << std::endl;
        // EFBIG from write(): SQLite's "disk I/O error", the write variant.
        CHECK(out.texts.front().find("SQLITE_IOERR_WRITE") != std::string::npos);

        // The limit goes away: the next put works, no reopen by the caller.
        REQUIRE(setrlimit(RLIMIT_FSIZE, &saved) == 0);
        std::string const after = bulky_message("after-io");
        auto r = co_await store->put(after, meta_of(after));
        CHECK(r.status == put_status::stored);
        out.stored.insert("after-io");
        for (int i = 0; i < 20; ++i)
            out.stored.insert("base-" + std::to_string(i));
        CHECK(co_await queued_ids(*store) == out.stored);
        co_await store->close();

        // And after a restart: exactly what was reported stored.
        auto again = co_await hl7::store::open_sqlite_store(path);
        CHECK(co_await queued_ids(*again) == out.stored);
        co_await again->close();
    });
}

TEST_CASE("sqlite failures: an I/O error (file-size limit) fails the puts, which work again when it is lifted",
          "[store][sqlite][failure]")
{
    scratch_dir dir;
    std::string const log = dir.file("child.log");
    pid_t const pid = spawn_child_test("sqlite failures (child): file-size limit",
                                       {{"HL7_STORE_CHILD_DIR", dir.path().string()}}, log);
    int const rc = wait_child(pid);
    std::string const output = read_file(log);
    INFO(output);
    CHECK(rc == 0);
    CHECK(output.find("All tests passed") != std::string::npos);
    CHECK(output.find("first failure:") != std::string::npos);
}
