#ifndef HL7_STORE_DETAIL_SQLITE_ENGINE_HPP
#define HL7_STORE_DETAIL_SQLITE_ENGINE_HPP

// The SQLite store's database thread: one thread, one connection, a queue
// of requests in front. Every database call of the store runs here, never
// on an I/O thread. Writes (puts, settles, requeues) that are queued
// together go into one transaction: one fsync for all of them (group
// commit). Results go back to each caller's executor through
// detail::completion (posted, never run here).

#include <hl7/store/detail/completion.hpp>
#include <hl7/store/detail/notifier.hpp>
#include <hl7/store/detail/sqlite_db.hpp>
#include <hl7/store/detail/sqlite_schema.hpp>
#include <hl7/store/error.hpp>
#include <hl7/store/sqlite_options.hpp>
#include <hl7/store/store.hpp>

#include <fcntl.h>
#include <pthread.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <deque>
#include <exception>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

namespace hl7::store::detail {

//--------------------------------------------------------------------------
// Requests to the database thread. Each carries its completion; the thread
// fills in the result and completes it after the commit (or the failure).

struct put_request
{
    std::string payload;
    metadata meta;
    completion<put_result> done{};
    put_result result{};
    failure own_error{}; // this message only (full, too large); the rest of the batch goes on
};

enum class settle_kind { delivered, retry, dead };

struct settle_request
{
    std::uint64_t id = 0;
    settle_kind kind = settle_kind::delivered;
    std::chrono::milliseconds delay{};
    std::string reason{};
    completion<std::monostate> done{};
    failure own_error{}; // not taken by this consumer
};

struct requeue_request
{
    std::vector<std::uint64_t> ids{}; // empty: every dead letter
    completion<std::vector<std::uint64_t>> done{};
    std::vector<std::uint64_t> result{};
};

struct take_result
{
    std::optional<stored_message> message{};
    /// Earliest retry time of a sender held back by retry_later (to wait for).
    std::optional<std::chrono::system_clock::time_point> next_due{};
};

struct take_request
{
    completion<take_result> done{};
};

struct stats_request
{
    completion<store_stats> done{};
};

struct list_request
{
    list_options query{};
    completion<std::vector<message_record>> done{};
};

struct purge_request
{
    completion<std::uint64_t> done{};
};

using request = std::variant<put_request, settle_request, requeue_request, take_request, stats_request, list_request,
                             purge_request>;

inline bool
is_write(request const& r) noexcept
{
    return std::holds_alternative<put_request>(r) || std::holds_alternative<settle_request>(r) ||
           std::holds_alternative<requeue_request>(r);
}

inline void
fail_request(request& r, failure const& f)
{
    std::visit([&](auto& x) { x.done.fail(f); }, r);
}

inline std::int64_t
to_ms(std::chrono::system_clock::time_point t) noexcept
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

inline std::chrono::system_clock::time_point
from_ms(std::int64_t ms) noexcept
{
    return std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::milliseconds(ms)));
}

//--------------------------------------------------------------------------

class sqlite_engine
{
public:
    sqlite_engine(std::string path, sqlite_options options)
        : path_(std::move(path)), where_("sqlite:" + path_), options_(std::move(options))
    {
        options_.max_batch = std::max<std::size_t>(options_.max_batch, 1);
        options_.max_queue = std::max<std::size_t>(options_.max_queue, 1);
    }

    sqlite_engine(sqlite_engine const&) = delete;
    sqlite_engine& operator=(sqlite_engine const&) = delete;

    ~sqlite_engine()
    {
        stop_and_join();
    }

    /// Starts the thread, which opens the database and then completes `opened`.
    void
    start(completion<std::monostate> opened)
    {
        thread_ = std::thread([this, o = std::move(opened)]() mutable { thread_main(std::move(o)); });
    }

    /// Hands `r` to the database thread (any thread). Fails it at once with
    /// `closed` after close(), or `queue_full` past the queue limits.
    void
    submit(request r)
    {
        std::unique_lock lock(mutex_);
        if (stopping_) {
            lock.unlock();
            fail_request(r, make_failure(error::closed, where_ + " was closed"));
            return;
        }
        if (auto* p = std::get_if<put_request>(&r)) {
            std::size_t const size = p->payload.size();
            if (queued_puts_ > 0 &&
                (queued_puts_ >= options_.max_queue || queued_bytes_ + size > options_.max_queue_bytes)) {
                lock.unlock();
                counters_.queue_full.fetch_add(1, std::memory_order_relaxed);
                fail_request(r, make_failure(error::queue_full,
                                             where_ + ": " + std::to_string(options_.max_queue) + " puts or " +
                                                 std::to_string(options_.max_queue_bytes) +
                                                 " bytes already wait for the disk"));
                return;
            }
            ++queued_puts_;
            queued_bytes_ += size;
        }
        queue_.push_back(std::move(r));
        lock.unlock();
        cv_.notify_one();
    }

    /// Stops taking requests; the thread finishes the queued ones, closes
    /// the database and then completes `done`. Any thread.
    void
    close(completion<std::monostate> done)
    {
        {
            std::lock_guard lock(mutex_);
            if (!finished_) {
                stopping_ = true;
                close_waiters_.push_back(std::move(done));
            }
        }
        if (done) // already finished
            done.succeed({});
        cv_.notify_one();
        wakeups_.close();
    }

    /// close() without waiting for the result, then joins the thread.
    /// Blocks until the queued requests are done. Not from the database thread.
    void
    stop_and_join()
    {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        cv_.notify_one();
        wakeups_.close();
        if (thread_.joinable())
            thread_.join();
    }

    notifier&
    wakeups() noexcept
    {
        return wakeups_;
    }

    std::string const&
    where() const noexcept
    {
        return where_;
    }

    std::string const&
    path() const noexcept
    {
        return path_;
    }

    sqlite_options const&
    options() const noexcept
    {
        return options_;
    }

    std::chrono::system_clock::time_point
    now() const
    {
        return options_.clock ? options_.clock() : std::chrono::system_clock::now();
    }

    sqlite_counters
    counters() const noexcept
    {
        sqlite_counters c;
        c.stored = counters_.stored.load(std::memory_order_relaxed);
        c.duplicates = counters_.duplicates.load(std::memory_order_relaxed);
        c.commits = counters_.commits.load(std::memory_order_relaxed);
        c.failed_commits = counters_.failed_commits.load(std::memory_order_relaxed);
        c.queue_full = counters_.queue_full.load(std::memory_order_relaxed);
        c.purged = counters_.purged.load(std::memory_order_relaxed);
        return c;
    }

private:
    //----------------------------------------------------------------------
    // The thread.

    void
    thread_main(completion<std::monostate> opened)
    {
        pthread_setname_np(pthread_self(), "hl7-sqlite");
        try {
            ensure_open();
            opened.succeed({});
        }
        catch (...) {
            opened.fail(current_failure("opening"));
            finish();
            return;
        }
        schedule_purge();

        std::vector<request> batch;
        for (;;) {
            {
                std::unique_lock lock(mutex_);
                cv_.wait_until(lock, next_purge_, [&] { return stopping_ || !queue_.empty(); });
                if (queue_.empty() && stopping_)
                    break;
                take_batch(batch);
            }
            if (!batch.empty())
                process(batch);
            batch.clear();
            if (std::chrono::steady_clock::now() >= next_purge_) {
                if (options_.purge_interval.count() > 0) {
                    try {
                        purge();
                    }
                    catch (...) {
                        // Busy or failing storage: try again next interval.
                    }
                }
                schedule_purge();
            }
        }
        finish();
    }

    void
    schedule_purge()
    {
        // Zero turns the automatic purge off; the thread then wakes daily for nothing.
        auto const interval = options_.purge_interval.count() > 0
                                  ? std::chrono::duration_cast<std::chrono::steady_clock::duration>(options_.purge_interval)
                                  : std::chrono::steady_clock::duration(std::chrono::hours(24));
        next_purge_ = std::chrono::steady_clock::now() + interval;
    }

    // Called with mutex_ held.
    void
    take_batch(std::vector<request>& batch)
    {
        std::size_t bytes = 0;
        while (!queue_.empty() && batch.size() < options_.max_batch) {
            auto& front = queue_.front();
            std::size_t size = 0;
            if (auto* p = std::get_if<put_request>(&front))
                size = p->payload.size();
            if (!batch.empty() && bytes + size > options_.max_batch_bytes)
                break;
            if (std::holds_alternative<put_request>(front)) {
                --queued_puts_;
                queued_bytes_ -= size;
            }
            bytes += size;
            batch.push_back(std::move(front));
            queue_.pop_front();
        }
    }

    void
    finish()
    {
        stmts_ = {};
        db_.close();
        if (lock_fd_ >= 0) {
            ::close(lock_fd_);
            lock_fd_ = -1;
        }
        std::vector<completion<std::monostate>> waiters;
        std::deque<request> rest;
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
            finished_ = true;
            waiters.swap(close_waiters_);
            rest.swap(queue_); // only when opening failed
        }
        for (auto& r : rest)
            fail_request(r, make_failure(error::closed, where_ + " was closed"));
        wakeups_.close();
        for (auto& w : waiters)
            w.succeed({});
    }

    //----------------------------------------------------------------------
    // Opening, and reopening after the storage failed.

    struct statements
    {
        sqlite_statement begin, commit, savepoint, release, rollback_to;
        sqlite_statement limit_puts, limit_reserve; // set only with max_bytes
        sqlite_statement find_sender, add_sender, dedup, insert, count_duplicates;
        sqlite_statement delivered, retry, dead;
        sqlite_statement heads, load;
    };

    void
    ensure_open()
    {
        if (db_ && !reopen_)
            return;
        stmts_ = {};
        db_.close();
        sender_cache_.clear();
        sqlite_connection db(path_, options_.create_if_missing);
        sqlite3_busy_timeout(db.get(), static_cast<int>(std::min<std::int64_t>(
                                           options_.busy_timeout.count(), std::numeric_limits<int>::max())));
        // Nothing is changed in a file that is not ours.
        check_schema(db, where_, schema_migrations);
        {
            auto s = db.prepare("PRAGMA journal_mode = WAL");
            std::string const mode = s.step() ? s.column_text(0) : std::string();
            if (mode != "wal")
                throw store_error(make_error_code(error::internal),
                                  where_ + ": the file cannot be switched to WAL mode (journal mode is \"" + mode +
                                      "\")");
        }
        // In WAL mode, FULL syncs the WAL at every commit: a transaction is
        // durable (power loss included) when COMMIT returns. NORMAL would
        // sync only at checkpoints and could lose the last commits.
        db.exec("PRAGMA synchronous = FULL");
        // The WAL is reused after each checkpoint; keep it from staying huge after a burst.
        db.exec("PRAGMA journal_size_limit = 67108864");
        std::int64_t limit_pages = 0;
        if (options_.max_bytes > 0) {
            std::int64_t const page = std::max<std::int64_t>(db.query_int("PRAGMA page_size"), 1);
            limit_pages = std::max<std::int64_t>(
                1, static_cast<std::int64_t>(std::min<std::uint64_t>(options_.max_bytes / static_cast<std::uint64_t>(page),
                                                                     std::numeric_limits<std::int32_t>::max())));
        }
        migrate_schema(db, where_, schema_migrations);

        statements s;
        s.begin = db.prepare("BEGIN IMMEDIATE");
        s.commit = db.prepare("COMMIT");
        s.savepoint = db.prepare("SAVEPOINT put");
        s.release = db.prepare("RELEASE put");
        s.rollback_to = db.prepare("ROLLBACK TO put");
        if (limit_pages > 0) {
            // The reserve: 2% (at least 64 pages) for consumers' updates.
            std::int64_t const reserve = std::max<std::int64_t>(64, limit_pages / 50);
            s.limit_puts = db.prepare("PRAGMA max_page_count = " + std::to_string(limit_pages));
            s.limit_reserve = db.prepare("PRAGMA max_page_count = " + std::to_string(limit_pages + reserve));
            s.limit_reserve.run();
        }
        s.find_sender = db.prepare("SELECT id FROM senders WHERE application = ?1 AND facility = ?2");
        s.add_sender = db.prepare("INSERT INTO senders (application, facility) VALUES (?1, ?2)");
        // `control_id <> ''` lets SQLite use the partial index.
        s.dedup = db.prepare("SELECT id FROM messages WHERE sender_id = ?1 AND control_id = ?2 AND control_id <> '' "
                             "AND stored_at >= ?3 LIMIT 1");
        s.insert = db.prepare("INSERT INTO messages (sender_id, control_id, message_type, peer, received_at, "
                              "stored_at, payload) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
        s.count_duplicates = db.prepare("UPDATE counters SET value = value + ?1 WHERE name = 'duplicates'");
        s.delivered = db.prepare("UPDATE messages SET state = 1, settled_at = ?2 WHERE id = ?1 AND state = 0");
        s.retry = db.prepare("UPDATE messages SET attempts = attempts + 1, not_before = ?2, last_error = ?3 "
                             "WHERE id = ?1 AND state = 0");
        s.dead = db.prepare("UPDATE messages SET state = 2, attempts = attempts + 1, settled_at = ?2, "
                            "last_error = ?3 WHERE id = ?1 AND state = 0");
        // Each sender's oldest queued message: one probe of the queue index per sender.
        s.heads = db.prepare("SELECT m.id, m.sender_id, m.not_before FROM senders s JOIN messages m ON m.id = "
                             "(SELECT q.id FROM messages q WHERE q.sender_id = s.id AND q.state = 0 "
                             "ORDER BY q.id LIMIT 1)");
        s.load = db.prepare(std::string("SELECT ") + metadata_columns +
                            ", m.stored_at, m.attempts, m.last_error, m.payload FROM messages m "
                            "JOIN senders s ON s.id = m.sender_id WHERE m.id = ?1 AND m.state = 0");
        db_ = std::move(db);
        stmts_ = std::move(s);
        max_length_ = static_cast<std::size_t>(sqlite3_limit(db_.get(), SQLITE_LIMIT_LENGTH, -1));
        reopen_ = false;
    }

    // The current exception as a failure, with `doing` and the store named.
    failure
    current_failure(std::string const& doing)
    {
        try {
            throw;
        }
        catch (sqlite_failure const& f) {
            auto const e = classify_sqlite(f.code);
            // After the storage itself failed, start afresh with a new
            // connection: SQLite's caches may not match the files any more.
            if (e == error::io_error || e == error::corrupt || e == error::cannot_open || e == error::not_a_store)
                reopen_ = true;
            return make_failure(e, f.describe(doing + " " + where_));
        }
        catch (store_error const& x) {
            // Ours: the text already names the store. what() ends with the
            // code's message, which the receiving store_error adds again.
            std::string text = x.what();
            std::string const tail = ": " + x.code().message();
            if (text.size() >= tail.size() && text.compare(text.size() - tail.size(), tail.size(), tail) == 0)
                text.resize(text.size() - tail.size());
            return {x.code(), text};
        }
        catch (std::exception const& x) {
            return make_failure(error::internal, doing + " " + where_ + ": " + x.what());
        }
        catch (...) {
            return make_failure(error::internal, doing + " " + where_);
        }
    }

    //----------------------------------------------------------------------
    // One batch: its writes in one transaction, then its reads.

    void
    process(std::vector<request>& batch)
    {
        std::size_t puts = 0, others = 0;
        for (auto& r : batch) {
            if (std::holds_alternative<put_request>(r))
                ++puts;
            else if (is_write(r))
                ++others;
        }
        if (puts + others > 0)
            write_batch(batch, puts, others);
        for (auto& r : batch)
            if (!is_write(r))
                read(r);
    }

    void
    write_batch(std::vector<request>& batch, std::size_t puts, std::size_t others)
    {
        failure failed;
        std::uint64_t duplicates = 0;
        new_senders_.clear();
        try {
            ensure_open();
            stmts_.begin.run();
            // Consumers' updates first, allowed a little above max_bytes: a
            // full store must still let its messages be delivered (and then
            // purged), or it would stay full for ever.
            if (stmts_.limit_reserve)
                stmts_.limit_reserve.run();
            for (auto& r : batch) {
                if (auto* s = std::get_if<settle_request>(&r))
                    apply_settle(*s);
                else if (auto* q = std::get_if<requeue_request>(&r))
                    apply_requeue(*q);
            }
            if (stmts_.limit_puts)
                stmts_.limit_puts.run();
            for (auto& r : batch)
                if (auto* p = std::get_if<put_request>(&r))
                    apply_put_isolated(*p, duplicates);
            if (stmts_.limit_reserve)
                stmts_.limit_reserve.run();
            if (duplicates > 0) {
                statement_scope scope(stmts_.count_duplicates);
                stmts_.count_duplicates.bind(1, static_cast<std::int64_t>(duplicates)).step();
            }
            stmts_.commit.run();
            counters_.commits.fetch_add(1, std::memory_order_relaxed);
        }
        catch (...) {
            if (db_)
                db_.rollback_quietly();
            std::string doing = "committing ";
            if (puts > 0)
                doing += std::to_string(puts) + (puts == 1 ? " message" : " messages");
            if (others > 0)
                doing += std::string(puts > 0 ? " and " : "") + std::to_string(others) +
                         (others == 1 ? " update" : " updates");
            doing += " to";
            failed = current_failure(doing);
            counters_.failed_commits.fetch_add(1, std::memory_order_relaxed);
            new_senders_.clear();
        }
        for (auto& [key, id] : new_senders_)
            sender_cache_.emplace(key, id);
        new_senders_.clear();

        bool changed = false;
        for (auto& r : batch) {
            if (auto* p = std::get_if<put_request>(&r)) {
                if (failed)
                    p->done.fail(failed);
                else if (p->own_error)
                    p->done.fail(p->own_error);
                else {
                    if (p->result.status == put_status::stored) {
                        counters_.stored.fetch_add(1, std::memory_order_relaxed);
                        changed = true;
                    }
                    else
                        counters_.duplicates.fetch_add(1, std::memory_order_relaxed);
                    p->done.succeed(p->result);
                }
            }
            else if (auto* s = std::get_if<settle_request>(&r)) {
                if (failed)
                    s->done.fail(failed); // still taken: the consumer may settle it again
                else if (s->own_error)
                    s->done.fail(s->own_error);
                else {
                    release(s->id);
                    changed = true;
                    s->done.succeed({});
                }
            }
            else if (auto* q = std::get_if<requeue_request>(&r)) {
                if (failed)
                    q->done.fail(failed);
                else {
                    changed = changed || !q->result.empty();
                    q->done.succeed(std::move(q->result));
                }
            }
        }
        if (changed)
            wakeups_.notify_all();
    }

    std::int64_t
    sender_id(std::string const& application, std::string const& facility)
    {
        std::string key = application;
        key += '\0';
        key += facility;
        if (auto it = sender_cache_.find(key); it != sender_cache_.end())
            return it->second;
        if (auto it = new_senders_.find(key); it != new_senders_.end())
            return it->second;
        std::int64_t id = 0;
        {
            statement_scope scope(stmts_.find_sender);
            if (stmts_.find_sender.bind_text(1, application).bind_text(2, facility).step())
                id = stmts_.find_sender.column_int(0);
        }
        if (id == 0) {
            statement_scope scope(stmts_.add_sender);
            stmts_.add_sender.bind_text(1, application).bind_text(2, facility).step();
            id = db_.last_insert_rowid();
            // Known only once committed: a rolled-back id must not be cached.
            added_sender_ = key;
            new_senders_.emplace(std::move(key), id);
        }
        else
            sender_cache_.emplace(std::move(key), id);
        return id;
    }

    // A put that finds the store full (or the message too large) fails
    // alone: the others of the batch are still committed.
    void
    apply_put_isolated(put_request& p, std::uint64_t& duplicates)
    {
        stmts_.savepoint.run();
        added_sender_.reset();
        std::uint64_t dups = 0;
        try {
            apply_put(p, dups);
            stmts_.release.run();
            duplicates += dups;
        }
        catch (sqlite_failure const& f) {
            auto const e = classify_sqlite(f.code);
            // Anything else, or SQLite already rolled the whole transaction
            // back: the batch fails as a whole.
            if ((e != error::full && e != error::too_large) || !db_.in_transaction())
                throw;
            stmts_.rollback_to.run();
            stmts_.release.run();
            if (added_sender_)
                new_senders_.erase(*added_sender_);
            p.own_error = make_failure(e, f.describe("storing a message of " + std::to_string(p.payload.size()) +
                                                     " bytes in " + where_));
        }
    }

    void
    apply_put(put_request& p, std::uint64_t& duplicates)
    {
        if (p.payload.size() > max_length_) {
            p.own_error = make_failure(error::too_large, "storing a message of " + std::to_string(p.payload.size()) +
                                                             " bytes in " + where_ + ": the limit is " +
                                                             std::to_string(max_length_) + " bytes");
            return;
        }
        auto const now = now_ms();
        std::int64_t const sender = sender_id(p.meta.sending_application, p.meta.sending_facility);
        if (!p.meta.control_id.empty() && options_.dedup_window.count() > 0) {
            statement_scope scope(stmts_.dedup);
            stmts_.dedup.bind(1, sender).bind_text(2, p.meta.control_id).bind(3, now - options_.dedup_window.count());
            if (stmts_.dedup.step()) {
                p.result = {put_status::duplicate, static_cast<std::uint64_t>(stmts_.dedup.column_int(0))};
                ++duplicates;
                return;
            }
        }
        auto const received = p.meta.received == std::chrono::system_clock::time_point{} ? now : to_ms(p.meta.received);
        statement_scope scope(stmts_.insert);
        stmts_.insert.bind(1, sender)
            .bind_text(2, p.meta.control_id)
            .bind_text(3, p.meta.message_type)
            .bind_text(4, p.meta.peer)
            .bind(5, received)
            .bind(6, now)
            .bind_blob(7, p.payload)
            .step();
        p.result = {put_status::stored, static_cast<std::uint64_t>(db_.last_insert_rowid())};
    }

    void
    apply_settle(settle_request& s)
    {
        if (!taken_.contains(s.id)) {
            s.own_error = make_failure(error::unknown_message, "settling message " + std::to_string(s.id) + " in " +
                                                                   where_ + ": it was not taken by this consumer");
            return;
        }
        auto const now = now_ms();
        sqlite_statement* st = nullptr;
        switch (s.kind) {
        case settle_kind::delivered:
            st = &stmts_.delivered;
            st->bind(2, now);
            break;
        case settle_kind::retry:
            st = &stmts_.retry;
            st->bind(2, now + std::max<std::int64_t>(s.delay.count(), 0)).bind_text(3, s.reason);
            break;
        case settle_kind::dead:
            st = &stmts_.dead;
            st->bind(2, now).bind_text(3, s.reason);
            break;
        }
        statement_scope scope(*st);
        st->bind(1, static_cast<std::int64_t>(s.id)).step();
        if (db_.changes() == 0)
            s.own_error = make_failure(error::unknown_message,
                                       "settling message " + std::to_string(s.id) + " in " + where_ + ": it is not queued");
    }

    void
    apply_requeue(requeue_request& q)
    {
        if (q.ids.empty()) {
            auto sel = db_.prepare("SELECT id FROM messages WHERE state = 2 ORDER BY id");
            while (sel.step())
                q.ids.push_back(static_cast<std::uint64_t>(sel.column_int(0)));
        }
        auto upd = db_.prepare("UPDATE messages SET state = 0, attempts = 0, not_before = 0, settled_at = NULL "
                               "WHERE id = ?1 AND state = 2");
        for (auto id : q.ids) {
            statement_scope scope(upd);
            upd.bind(1, static_cast<std::int64_t>(id)).step();
            if (db_.changes() > 0)
                q.result.push_back(id);
        }
    }

    void
    release(std::uint64_t id)
    {
        if (auto it = taken_.find(id); it != taken_.end()) {
            busy_senders_.erase(it->second);
            taken_.erase(it);
        }
    }

    std::int64_t
    now_ms() const
    {
        return to_ms(now());
    }

    //----------------------------------------------------------------------
    // Reads (and the purge, which commits on its own).

    void
    read(request& r)
    {
        std::visit(
            [&](auto& x) {
                using T = std::decay_t<decltype(x)>;
                if constexpr (std::is_same_v<T, take_request>)
                    run_read(x, "taking a message from", [&] { return take(); });
                else if constexpr (std::is_same_v<T, stats_request>)
                    run_read(x, "counting messages in", [&] { return stats(); });
                else if constexpr (std::is_same_v<T, list_request>)
                    run_read(x, "listing messages in", [&] { return list(x.query); });
                else if constexpr (std::is_same_v<T, purge_request>)
                    run_read(x, "purging delivered messages from", [&] { return purge(); });
            },
            r);
    }

    template<class Request, class F>
    void
    run_read(Request& r, char const* doing, F f)
    {
        try {
            ensure_open();
            auto result = f();
            r.done.succeed(std::move(result));
        }
        catch (...) {
            r.done.fail(current_failure(doing));
        }
    }

    void
    lock_consumer()
    {
        if (lock_fd_ >= 0)
            return;
        std::string const lock_path = path_ + "-consumer.lock";
        int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
            throw store_error(make_error_code(error::cannot_open),
                              "creating the consumer lock " + lock_path + ": " + std::strerror(errno));
        if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
            int const err = errno;
            ::close(fd);
            if (err == EWOULDBLOCK)
                throw store_error(make_error_code(error::consumer_busy),
                                  where_ + " is already consumed by another process or store object (" + lock_path +
                                      " is locked)");
            throw store_error(make_error_code(error::cannot_open),
                              "locking " + lock_path + ": " + std::strerror(err));
        }
        lock_fd_ = fd;
    }

    take_result
    take()
    {
        lock_consumer();
        auto const now = now_ms();
        std::optional<std::int64_t> best, best_sender, due;
        {
            statement_scope scope(stmts_.heads);
            while (stmts_.heads.step()) {
                std::int64_t const id = stmts_.heads.column_int(0);
                std::int64_t const sender = stmts_.heads.column_int(1);
                std::int64_t const not_before = stmts_.heads.column_int(2);
                if (busy_senders_.contains(sender))
                    continue; // its head is taken: the sender's order holds the rest back
                if (not_before <= now) {
                    if (!best || id < *best) {
                        best = id;
                        best_sender = sender;
                    }
                }
                else if (!due || not_before < *due)
                    due = not_before;
            }
        }
        take_result r;
        if (due)
            r.next_due = from_ms(*due);
        if (!best)
            return r;
        statement_scope scope(stmts_.load);
        if (!stmts_.load.bind(1, *best).step())
            return r;
        auto& s = stmts_.load;
        stored_message m;
        m.id = static_cast<std::uint64_t>(*best);
        m.meta = read_metadata(s, 0);
        m.stored = from_ms(s.column_int(6));
        m.attempts = static_cast<std::uint32_t>(s.column_int(7));
        m.last_error = s.column_text(8);
        m.payload = s.column_blob(9);
        taken_.emplace(m.id, *best_sender);
        busy_senders_.insert(*best_sender);
        r.message = std::move(m);
        return r;
    }

    // The metadata as stored, in the order read_metadata() reads it.
    static constexpr char const metadata_columns[] =
        "s.application, s.facility, m.control_id, m.message_type, m.peer, m.received_at";

    static metadata
    read_metadata(sqlite_statement const& s, int first)
    {
        metadata m;
        m.sending_application = s.column_text(first);
        m.sending_facility = s.column_text(first + 1);
        m.control_id = s.column_text(first + 2);
        m.message_type = s.column_text(first + 3);
        m.peer = s.column_text(first + 4);
        m.received = from_ms(s.column_int(first + 5));
        return m;
    }

    store_stats
    stats()
    {
        store_stats st;
        auto count = [&](char const* sql, std::int64_t arg = 0) {
            auto s = db_.prepare(sql);
            if (arg != 0)
                s.bind(1, arg);
            return s.step() ? static_cast<std::uint64_t>(s.column_int(0)) : std::uint64_t{0};
        };
        // One read transaction, so the counts agree with each other.
        db_.exec("BEGIN");
        try {
            st.queued = count("SELECT count(*) FROM messages WHERE state = 0");
            st.retrying = count("SELECT count(*) FROM messages WHERE state = 0 AND not_before > ?1", now_ms());
            st.dead = count("SELECT count(*) FROM messages WHERE state = 2");
            st.delivered = count("SELECT count(*) FROM messages WHERE state = 1");
            st.duplicates = count("SELECT value FROM counters WHERE name = 'duplicates'");
            st.senders = count("SELECT count(*) FROM senders");
            db_.exec("COMMIT");
        }
        catch (...) {
            db_.rollback_quietly();
            throw;
        }
        return st;
    }

    std::vector<message_record>
    list(list_options const& q)
    {
        std::vector<message_record> out;
        auto s = db_.prepare(std::string("SELECT m.id, m.state, ") + metadata_columns +
                             ", m.stored_at, m.attempts, m.not_before, m.settled_at, m.last_error, length(m.payload)" +
                             (q.with_payload ? ", m.payload" : "") +
                             " FROM messages m JOIN senders s ON s.id = m.sender_id "
                             "WHERE m.state = ?1 AND m.id > ?2 ORDER BY m.id LIMIT ?3");
        s.bind(1, static_cast<std::int64_t>(q.state))
            .bind(2, static_cast<std::int64_t>(std::min<std::uint64_t>(q.after_id, std::numeric_limits<std::int64_t>::max())))
            .bind(3, static_cast<std::int64_t>(std::min<std::size_t>(q.limit, std::numeric_limits<std::int64_t>::max())));
        while (s.step()) {
            message_record m;
            m.id = static_cast<std::uint64_t>(s.column_int(0));
            m.state = static_cast<message_state>(s.column_int(1));
            m.meta = read_metadata(s, 2);
            m.stored = from_ms(s.column_int(8));
            m.attempts = static_cast<std::uint32_t>(s.column_int(9));
            if (m.state == message_state::queued && s.column_int(10) > 0)
                m.not_before = from_ms(s.column_int(10));
            if (!s.column_is_null(11))
                m.settled = from_ms(s.column_int(11));
            m.last_error = s.column_text(12);
            m.size = static_cast<std::uint64_t>(s.column_int(13));
            if (q.with_payload)
                m.payload = s.column_blob(14);
            out.push_back(std::move(m));
        }
        return out;
    }

    // Deletes delivered messages past their retention, a chunk per
    // transaction so puts are not held up behind one long delete.
    std::uint64_t
    purge()
    {
        ensure_open();
        auto const keep = std::max(options_.retention, options_.dedup_window);
        std::int64_t const cutoff = now_ms() - keep.count();
        constexpr std::int64_t chunk = 1000;
        auto del = db_.prepare("DELETE FROM messages WHERE id IN (SELECT id FROM messages WHERE state = 1 AND "
                               "settled_at < ?1 ORDER BY settled_at LIMIT ?2)");
        std::uint64_t total = 0;
        for (;;) {
            stmts_.begin.run();
            std::int64_t n = 0;
            try {
                statement_scope scope(del);
                del.bind(1, cutoff).bind(2, chunk).step();
                n = db_.changes();
                stmts_.commit.run();
            }
            catch (...) {
                db_.rollback_quietly();
                throw;
            }
            total += static_cast<std::uint64_t>(n);
            counters_.purged.fetch_add(static_cast<std::uint64_t>(n), std::memory_order_relaxed);
            if (n < chunk)
                break;
            std::lock_guard lock(mutex_);
            if (!queue_.empty())
                break; // the rest next time: puts first
        }
        return total;
    }

    //----------------------------------------------------------------------

    std::string const path_;
    std::string const where_;
    sqlite_options options_;

    // Shared with submitting threads.
    std::mutex mutex_;
    std::condition_variable cv_;
    std::deque<request> queue_;
    std::size_t queued_puts_ = 0;
    std::size_t queued_bytes_ = 0;
    bool stopping_ = false;
    bool finished_ = false;
    std::vector<completion<std::monostate>> close_waiters_;
    notifier wakeups_;

    struct atomic_counters
    {
        std::atomic<std::uint64_t> stored{0}, duplicates{0}, commits{0}, failed_commits{0}, queue_full{0}, purged{0};
    };
    atomic_counters counters_;

    // The database thread's own.
    sqlite_connection db_;
    statements stmts_;
    bool reopen_ = false;
    std::size_t max_length_ = 0;
    std::unordered_map<std::string, std::int64_t> sender_cache_;
    std::unordered_map<std::string, std::int64_t> new_senders_;
    std::optional<std::string> added_sender_; // by the put being applied
    std::unordered_map<std::uint64_t, std::int64_t> taken_; // message id -> sender id
    std::unordered_set<std::int64_t> busy_senders_;
    int lock_fd_ = -1;
    std::chrono::steady_clock::time_point next_purge_{};

    std::thread thread_; // last: started after everything above exists
};

} // namespace hl7::store::detail

#endif
