// The SQLite store under concurrency: an io_context run by 4 threads, 64
// putters on their own strands and a consumer at the same time. Results are
// checked on the main thread (Catch is not thread-safe). Run under TSan too.
#include <hl7/store/sqlite.hpp>

#include "store_test_support.hpp"

#include <asio/detached.hpp>
#include <asio/strand.hpp>
#include <asio/thread_pool.hpp>

#include <catch2/catch.hpp>

#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>

using namespace store_test;
using hl7::store::put_status;

TEST_CASE("sqlite concurrency: 64 putters and a consumer on 4 threads", "[store][sqlite][concurrency]")
{
    scratch_dir dir;
    constexpr int putters = 64;
    constexpr int per_putter = 40;

    asio::io_context setup;
    auto store = open_store(setup, dir.file("s.db"));

    asio::thread_pool pool(4);
    std::mutex mu;
    std::map<std::string, hl7::store::put_result> results; // control id -> first result
    std::vector<std::string> problems;
    std::atomic<int> duplicates_seen{0};
    std::atomic<int> putters_done{0};
    std::set<std::string> delivered;
    std::promise<void> consumer_done;

    for (int p = 0; p < putters; ++p) {
        asio::co_spawn(
            asio::make_strand(pool),
            [&, p]() -> asio::awaitable<void> {
                // Two senders, so order per sender is exercised across putters.
                std::string const app = p % 2 ? "ODD" : "EVEN";
                for (int i = 0; i < per_putter; ++i) {
                    std::string const id = "P" + std::to_string(p) + "-" + std::to_string(i);
                    std::string const text = message_text(id, app);
                    try {
                        auto r = co_await store->put(text, meta_of(text));
                        std::lock_guard lock(mu);
                        if (r.status != put_status::stored)
                            problems.push_back(id + " was not stored");
                        results.emplace(id, r);
                    }
                    catch (std::exception const& e) {
                        std::lock_guard lock(mu);
                        problems.push_back(id + ": " + e.what());
                    }
                    if (i % 10 == 9) {
                        // A resend of an earlier message: a duplicate.
                        std::string const old = "P" + std::to_string(p) + "-" + std::to_string(i - 5);
                        std::string const old_text = message_text(old, app);
                        auto r = co_await store->put(old_text, meta_of(old_text));
                        if (r.status == put_status::duplicate)
                            ++duplicates_seen;
                        else {
                            std::lock_guard lock(mu);
                            problems.push_back(old + " resent was stored again");
                        }
                    }
                }
                ++putters_done;
            },
            asio::detached);
    }

    // The consumer: takes and delivers until everything is delivered,
    // sending every 7th message to retry once.
    asio::co_spawn(
        asio::make_strand(pool),
        [&]() -> asio::awaitable<void> {
            std::map<std::string, std::uint64_t> last_id_per_sender;
            std::set<std::string> retried;
            while (delivered.size() < static_cast<std::size_t>(putters * per_putter)) {
                auto m = co_await store->next(50ms);
                if (!m) {
                    std::lock_guard lock(mu);
                    if (putters_done == putters && delivered.size() >= results.size())
                        break;
                    continue;
                }
                auto const& sender = m->meta.sending_application;
                if (m->id % 7 == 0 && !retried.contains(m->meta.control_id)) {
                    retried.insert(m->meta.control_id);
                    co_await store->retry_later(m->id, 1ms, "try again");
                    continue;
                }
                // Per sender, ids come in increasing order.
                if (last_id_per_sender[sender] >= m->id) {
                    std::lock_guard lock(mu);
                    problems.push_back("order broken for " + sender + " at " + std::to_string(m->id));
                }
                last_id_per_sender[sender] = m->id;
                co_await store->delivered(m->id);
                delivered.insert(m->meta.control_id);
            }
            consumer_done.set_value();
        },
        asio::detached);

    auto const status = consumer_done.get_future().wait_for(std::chrono::minutes(3));
    REQUIRE(status == std::future_status::ready);
    pool.join();

    INFO((problems.empty() ? std::string() : problems.front()));
    CHECK(problems.empty());
    CHECK(results.size() == static_cast<std::size_t>(putters * per_putter));
    CHECK(delivered.size() == static_cast<std::size_t>(putters * per_putter));
    CHECK(duplicates_seen == putters * (per_putter / 10));
    auto const c = store->counters();
    CHECK(c.stored == static_cast<std::uint64_t>(putters * per_putter));
    CHECK(c.duplicates == static_cast<std::uint64_t>(putters * (per_putter / 10)));
    // Group commit: far fewer transactions than operations.
    std::uint64_t const operations = c.stored + c.duplicates + delivered.size();
    WARN("operations " << operations << " in " << c.commits << " commits");
    CHECK(c.commits < operations);
    // Ids are distinct.
    std::set<std::uint64_t> ids;
    for (auto const& [id, r] : results)
        ids.insert(r.id);
    CHECK(ids.size() == results.size());

    run(setup, [&]() -> asio::awaitable<void> {
        auto st = co_await store->stats();
        CHECK(st.queued == 0);
        CHECK(st.delivered == static_cast<std::uint64_t>(putters * per_putter));
        co_await store->close();
    });
}
