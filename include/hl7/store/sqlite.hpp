#ifndef HL7_STORE_SQLITE_HPP
#define HL7_STORE_SQLITE_HPP

// hl7::store::sqlite_store: the embedded message store, one SQLite file.
// Link the CMake target hl7::sqlite (it brings SQLite::SQLite3).

#include <hl7/detail/asio_config.hpp>
#include <hl7/store/detail/completion.hpp>
#include <hl7/store/detail/sqlite_engine.hpp>
#include <hl7/store/error.hpp>
#include <hl7/store/sqlite_options.hpp>
#include <hl7/store/store.hpp>

#include <asio/awaitable.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace hl7::store {

/** A message store in one SQLite file (see `message_store` for the
    contract); open it with `open_sqlite_store()`.

    @par Durability
    The database is in WAL mode with `synchronous=FULL`: COMMIT returns only
    after the WAL is fsynced, so a put that completed survives a crash of
    the process, of the machine, or a power loss (on storage that honours
    fsync). After a crash, the next open replays the WAL (SQLite's own
    recovery); nothing else is needed.

    @par Group commit
    All database work runs on one thread of the store's own, never on the
    caller's. Operations that queue while a commit is in progress are
    committed together in the next transaction (up to `max_batch` and
    `max_batch_bytes`): one fsync for all of them, so many connections
    share each disk flush instead of each waiting for its own.

    @par Duplicates
    Within `dedup_window`, a put with the same MSH-3, MSH-4 and non-empty
    MSH-10 as a stored message returns `put_status::duplicate` with the
    earlier id and stores nothing (one index probe; old entries do not slow
    it). Counted, also across restarts (`store_stats::duplicates`).

    @par Failures
    A failed commit fails every put of its transaction with the cause
    (`full`, `io_error`, `busy`, ...) and none of them is stored. The store
    stays usable: the next commit tries again (after an I/O error, with a
    freshly opened connection), so it recovers by itself when the cause
    goes away.

    @par Consumers
    One consumer per file: the first `next()` takes an exclusive lock on
    `PATH-consumer.lock` (released on close or when the process dies); a
    second process or store object gets `consumer_busy`. Messages stored by
    other processes (e.g. a receiver) are seen within `poll_interval`.

    @par Thread safety
    Every member function may be called from any thread.

    @par Lifetime
    `co_await close()` before the last reference goes; otherwise the
    destructor closes and blocks until the queued operations are done.
*/
class sqlite_store final : public message_store
{
public:
    /// Use open_sqlite_store(): the engine must be started and the database open.
    explicit sqlite_store(std::shared_ptr<detail::sqlite_engine> engine) noexcept : engine_(std::move(engine)) {}

    sqlite_store(sqlite_store const&) = delete;
    sqlite_store& operator=(sqlite_store const&) = delete;

    ~sqlite_store() override
    {
        engine_->stop_and_join();
    }

    asio::awaitable<put_result>
    put(std::string payload, metadata meta) override
    {
        detail::put_request r{std::move(payload), std::move(meta)};
        return submit<put_result>(engine_, std::move(r));
    }

    asio::awaitable<std::optional<stored_message>>
    next(std::chrono::steady_clock::duration max_wait) override
    {
        return next_impl(engine_, max_wait);
    }

    asio::awaitable<void>
    delivered(std::uint64_t id) override
    {
        detail::settle_request r;
        r.id = id;
        r.kind = detail::settle_kind::delivered;
        return settle(engine_, std::move(r));
    }

    asio::awaitable<void>
    retry_later(std::uint64_t id, std::chrono::milliseconds delay, std::string reason) override
    {
        detail::settle_request r;
        r.id = id;
        r.kind = detail::settle_kind::retry;
        r.delay = delay;
        r.reason = std::move(reason);
        return settle(engine_, std::move(r));
    }

    asio::awaitable<void>
    dead(std::uint64_t id, std::string reason) override
    {
        detail::settle_request r;
        r.id = id;
        r.kind = detail::settle_kind::dead;
        r.reason = std::move(reason);
        return settle(engine_, std::move(r));
    }

    asio::awaitable<store_stats>
    stats() override
    {
        detail::stats_request r;
        return submit<store_stats>(engine_, std::move(r));
    }

    asio::awaitable<void>
    close() override
    {
        return close_impl(engine_);
    }

    std::string
    description() const override
    {
        return engine_->where();
    }

    //----------------------------------------------------------------------
    // Administration (hl7_store).

    /// Messages in one state, oldest first (see `list_options`).
    asio::awaitable<std::vector<message_record>>
    list(list_options options = {})
    {
        detail::list_request r;
        r.query = options;
        return submit<std::vector<message_record>>(engine_, std::move(r));
    }

    /** Puts dead letters back in the queue (attempts reset to 0): those in
        `ids`, or all when `ids` is empty. Returns the ids requeued; an id
        that is not a dead letter is left out. */
    asio::awaitable<std::vector<std::uint64_t>>
    requeue(std::vector<std::uint64_t> ids = {})
    {
        detail::requeue_request r;
        r.ids = std::move(ids);
        return submit<std::vector<std::uint64_t>>(engine_, std::move(r));
    }

    /// Deletes delivered messages past their retention now (it also happens
    /// every `purge_interval`); returns how many.
    asio::awaitable<std::uint64_t>
    purge()
    {
        detail::purge_request r;
        return submit<std::uint64_t>(engine_, std::move(r));
    }

    /// What this object did since it was opened (any thread, no waiting).
    sqlite_counters
    counters() const noexcept
    {
        return engine_->counters();
    }

    std::string const&
    path() const noexcept
    {
        return engine_->path();
    }

private:
    template<class T, class Request>
    static asio::awaitable<T>
    submit(std::shared_ptr<detail::sqlite_engine> engine, Request r)
    {
        co_return co_await detail::await_completion<T>([&](detail::completion<T> c) {
            r.done = std::move(c);
            engine->submit(std::move(r));
        });
    }

    static asio::awaitable<void>
    settle(std::shared_ptr<detail::sqlite_engine> engine, detail::settle_request r)
    {
        co_await submit<std::monostate>(std::move(engine), std::move(r));
    }

    static asio::awaitable<void>
    close_impl(std::shared_ptr<detail::sqlite_engine> engine)
    {
        co_await detail::await_completion<std::monostate>(
            [&](detail::completion<std::monostate> c) { engine->close(std::move(c)); });
    }

    static asio::awaitable<std::optional<stored_message>>
    next_impl(std::shared_ptr<detail::sqlite_engine> engine, std::chrono::steady_clock::duration max_wait)
    {
        using std::chrono::steady_clock;
        auto const start = steady_clock::now();
        auto const deadline = max_wait >= steady_clock::time_point::max() - start ? steady_clock::time_point::max()
                                                                                  : start + max_wait;
        for (;;) {
            // Read before looking, so a commit in between is not missed.
            auto const seen = engine->wakeups().generation();
            // (A named request: g++ 12 destroys a braced temporary passed to a coroutine twice.)
            detail::take_request take;
            detail::take_result r = co_await submit<detail::take_result>(engine, std::move(take));
            if (r.message)
                co_return std::move(r.message);
            auto const now = steady_clock::now();
            if (now >= deadline)
                co_return std::nullopt;
            auto until = std::min(deadline, now + engine->options().poll_interval);
            if (r.next_due) {
                auto const due_in = std::max(*r.next_due - engine->now(), std::chrono::system_clock::duration::zero());
                until = std::min(until, now + std::chrono::duration_cast<steady_clock::duration>(due_in));
            }
            co_await engine->wakeups().wait(seen, until);
        }
    }

    std::shared_ptr<detail::sqlite_engine> engine_;
};

namespace detail {

inline asio::awaitable<std::shared_ptr<sqlite_store>>
open_sqlite_store_impl(std::shared_ptr<sqlite_engine> engine)
{
    co_await await_completion<std::monostate>([&](completion<std::monostate> c) { engine->start(std::move(c)); });
    co_return std::make_shared<sqlite_store>(std::move(engine));
}

} // namespace detail

/** Opens (by default creating) the SQLite store at `path`.

    <!-- doc-test: coroutine body -->
    @code
    auto store = co_await hl7::store::open_sqlite_store("/var/lib/hl7/in.db");
    auto r = co_await store->put(hl7::to_string(msg), hl7::store::make_metadata(msg, "127.0.0.1:40000"));
    @endcode

    The file is opened, recovered (WAL replay after a crash), checked and
    migrated on the store's own thread. A new file gets the current schema;
    an older one is migrated in one transaction.

    @par Errors
    Throws `store_error`: `cannot_open` (no such directory; no such file
    with `create_if_missing` off), `not_a_store` (another application's
    database, or not a database), `schema_too_new` (written by a newer
    version), `corrupt`, `read_only`, `busy` (another process held the
    write lock past `busy_timeout` while the schema had to be created).
*/
inline asio::awaitable<std::shared_ptr<sqlite_store>>
open_sqlite_store(std::string path, sqlite_options options = {})
{
    return detail::open_sqlite_store_impl(std::make_shared<detail::sqlite_engine>(std::move(path), std::move(options)));
}

} // namespace hl7::store

#endif
