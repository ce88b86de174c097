#ifndef HL7_STORE_DETAIL_JETSTREAM_ENGINE_HPP
#define HL7_STORE_DETAIL_JETSTREAM_ENGINE_HPP

// The JetStream store's threads and its nats.c connection. Every nats.c
// call of the store runs on one of four threads of its own, never on the
// caller's (an I/O thread):
//
//   publisher  takes puts from a bounded queue and publishes them, each
//              with a reply subject of our own, up to max_in_flight unacked;
//   acker      reads the acknowledgements (PubAcks) from a synchronous
//              subscription on that reply prefix, times out puts, and fails
//              the in-flight ones at once when the connection drops;
//   fetcher    serves next(): pull requests to the durable consumer;
//   worker     opens the connection and the layout, settles messages
//              (ack, nak, term + dead letter), stats, purges, keeps taken
//              messages alive, and closes everything.
//
// Why not js_PublishMsgAsync: with it, nats.c calls back on a thread of
// its own with a pointer to us, and nothing in nats.c 3.4 tells when the
// last such callback has returned after the connection is closed, so the
// store could not be destroyed safely. It may also block the publishing
// thread (MaxPending stall) or write to the socket under the connection's
// lock. Publishing with our own reply subjects and reading the answers on
// our thread keeps every nats.c call here and no nats.c thread ever touches
// our memory. Results reach each caller through detail::completion (posted
// to the caller's executor, never run here).

#include <hl7/store/detail/completion.hpp>
#include <hl7/store/detail/jetstream_codec.hpp>
#include <hl7/store/error.hpp>
#include <hl7/store/jetstream_options.hpp>
#include <hl7/store/store.hpp>

#include <nats/nats.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <charconv>
#include <condition_variable>
#include <cstdlib>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

namespace hl7::store::detail::nats {

//--------------------------------------------------------------------------
// nats.c objects, owned.

struct deleter
{
    void operator()(natsOptions* p) const noexcept { natsOptions_Destroy(p); }
    void operator()(natsConnection* p) const noexcept { natsConnection_Destroy(p); }
    void operator()(jsCtx* p) const noexcept { jsCtx_Destroy(p); }
    void operator()(natsSubscription* p) const noexcept { natsSubscription_Destroy(p); }
    void operator()(natsMsg* p) const noexcept { natsMsg_Destroy(p); }
    void operator()(jsStreamInfo* p) const noexcept { jsStreamInfo_Destroy(p); }
    void operator()(jsConsumerInfo* p) const noexcept { jsConsumerInfo_Destroy(p); }
    void operator()(jsPubAck* p) const noexcept { jsPubAck_Destroy(p); }
    void operator()(jsMsgMetaData* p) const noexcept { jsMsgMetaData_Destroy(p); }
    void operator()(natsInbox* p) const noexcept { natsInbox_Destroy(p); }
};

template<class T>
using ptr = std::unique_ptr<T, deleter>;

inline std::int64_t
to_nanos(std::chrono::milliseconds d) noexcept
{
    return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
}

//--------------------------------------------------------------------------
// Errors: nats.c statuses and JetStream's API errors onto hl7::store::error.

/// nats.c's words for the last failure on this thread (with its own status text).
inline std::string
last_error_text(natsStatus s)
{
    natsStatus ignored = NATS_OK;
    char const* t = nats_GetLastError(&ignored);
    std::string text = natsStatus_GetText(s);
    if (t && *t && text.find(t) == std::string::npos) {
        text += ": ";
        text += t;
    }
    return text;
}

inline error
error_of_status(natsStatus s) noexcept
{
    switch (s) {
    case NATS_TIMEOUT: return error::timeout;
    case NATS_MAX_PAYLOAD: return error::too_large;
    case NATS_CONNECTION_CLOSED:
    case NATS_CONNECTION_DISCONNECTED:
    case NATS_NOT_YET_CONNECTED:
    case NATS_NO_SERVER:
    case NATS_STALE_CONNECTION:
    case NATS_NO_RESPONDERS:
    case NATS_IO_ERROR:
    case NATS_DRAINING:
    case NATS_MISSED_HEARTBEAT: return error::unavailable;
    default: return error::internal;
    }
}

/** JetStream's API error (`code` HTTP-like, `err_code` JetStream's own, the
    text) onto a store error. The codes are nats-server 2.9's
    (server/errors.json). */
inline error
error_of_api(int code, int err_code, std::string_view text) noexcept
{
    switch (err_code) {
    case 10077: // JSStreamStoreFailedF: the store's own error, e.g. "maximum bytes exceeded"
        return text.find("maximum") != std::string_view::npos ? error::full : error::io_error;
    case 10002: // JSAccountResourcesExceededErr
    case 10023: // JSInsufficientResourcesErr
    case 10028: // JSMemoryResourcesExceededErr
    case 10047: // JSStorageResourcesExceededErr
        return error::full;
    case 10054: // JSStreamMessageExceedsMaximumErr
    case 10097: // JSStreamHeaderExceedsMaximumErr
        return error::too_large;
    case 10008: // JSClusterNotAvailErr
    case 10118: // JSStreamOfflineErr
    case 10119: // JSConsumerOfflineErr
        return error::unavailable;
    case 10059: // JSStreamNotFoundErr
    case 10014: // JSConsumerNotFoundErr
        return error::cannot_open;
    default: break;
    }
    if (code == 503)
        return error::unavailable;
    if (code == 408)
        return error::timeout;
    return error::internal;
}

/// A failed nats.c call (with JetStream's error code when it gave one).
inline failure
call_failure(std::string const& what, natsStatus s, jsErrCode jerr = static_cast<jsErrCode>(0))
{
    std::string const text = last_error_text(s);
    error const e = jerr != 0 ? error_of_api(0, static_cast<int>(jerr), text) : error_of_status(s);
    std::string detail = what + ": " + text;
    if (jerr != 0)
        detail += " (JetStream error " + std::to_string(static_cast<int>(jerr)) + ")";
    return make_failure(e, std::move(detail));
}

//--------------------------------------------------------------------------
// Jobs and their states.

struct put_job
{
    std::string payload{};
    metadata meta{};
    completion<put_result> done{};
};

struct in_flight_put
{
    completion<put_result> done{};
    std::chrono::steady_clock::time_point deadline{};
};

/// A waiting next(): completed by the fetcher, or by cancellation.
struct fetch_request
{
    std::mutex mutex;
    completion<std::optional<stored_message>> done{};
    std::chrono::steady_clock::time_point deadline{};

    /// Completes unless already completed; false if it was.
    bool
    complete(failure f, std::optional<stored_message> m)
    {
        std::lock_guard lock(mutex);
        if (!done)
            return false;
        done.complete(std::move(f), std::move(m));
        return true;
    }

    bool
    finished()
    {
        std::lock_guard lock(mutex);
        return !done;
    }
};

enum class settle_kind { delivered, retry, dead };

struct settle_job
{
    std::uint64_t id = 0;
    settle_kind kind = settle_kind::delivered;
    std::chrono::milliseconds delay{};
    std::string reason{};
    completion<std::monostate> done{};
};

struct stats_job
{
    completion<store_stats> done{};
};

struct purge_job
{
    completion<std::uint64_t> done{};
};

using work_job = std::variant<settle_job, stats_job, purge_job>;

/// A message taken by next() and not settled yet.
struct taken_message
{
    ptr<natsMsg> msg{};
    std::string token{}; // the sender's subject token (for the dead letter)
    std::chrono::steady_clock::time_point last_progress{};
};

/// nats.c needs a callback to connect in the background; the store polls
/// the connection's status instead (see the file comment on callbacks).
inline void
on_connected_ignored(natsConnection*, void*)
{
}

//--------------------------------------------------------------------------

class engine
{
public:
    engine(std::string servers, jetstream_options options)
        : servers_(std::move(servers)), where_(redact_servers(servers_) + " stream " + options.stream),
          options_(std::move(options))
    {
        options_.max_in_flight = std::max<std::size_t>(options_.max_in_flight, 1);
        options_.max_queue = std::max<std::size_t>(options_.max_queue, 1);
        options_.retention = std::max(options_.retention, options_.dedup_window);
    }

    engine(engine const&) = delete;
    engine& operator=(engine const&) = delete;

    ~engine()
    {
        stop_and_join();
    }

    /// Starts the worker, which connects, checks the layout, starts the
    /// other threads and then completes `opened`.
    void
    start(completion<std::monostate> opened)
    {
        worker_ = std::thread([this, o = std::move(opened)]() mutable { worker_main(std::move(o)); });
    }

    std::string const&
    where() const noexcept
    {
        return where_;
    }

    jetstream_options const&
    options() const noexcept
    {
        return options_;
    }

    jetstream_counters
    counters() const noexcept
    {
        jetstream_counters c;
        c.stored = stored_.load(std::memory_order_relaxed);
        c.duplicates = duplicates_.load(std::memory_order_relaxed);
        c.failed = failed_.load(std::memory_order_relaxed);
        c.timeouts = timeouts_.load(std::memory_order_relaxed);
        c.unavailable = unavailable_.load(std::memory_order_relaxed);
        c.queue_full = queue_full_.load(std::memory_order_relaxed);
        c.taken = taken_count_.load(std::memory_order_relaxed);
        c.purged = purged_.load(std::memory_order_relaxed);
        return c;
    }

    /// True while the connection to a server is up (any thread, also
    /// while or after the store closes).
    bool
    connected() const noexcept
    {
        std::lock_guard lock(release_mutex_);
        return is_connected();
    }

    //----------------------------------------------------------------------
    // Called on the callers' threads: hand over, never wait.

    void
    put(put_job job)
    {
        if (job.meta.received == std::chrono::system_clock::time_point{})
            job.meta.received = std::chrono::system_clock::now();
        std::unique_lock lock(put_mutex_);
        if (puts_closed_) {
            lock.unlock();
            fail_put(job.done, make_failure(error::closed, where_ + " was closed"));
            return;
        }
        std::size_t const size = job.payload.size();
        if (!put_queue_.empty() &&
            (put_queue_.size() >= options_.max_queue || queued_bytes_ + size > options_.max_queue_bytes)) {
            lock.unlock();
            queue_full_.fetch_add(1, std::memory_order_relaxed);
            failed_.fetch_add(1, std::memory_order_relaxed);
            fail_put(job.done, make_failure(error::queue_full, where_ + ": " + std::to_string(options_.max_queue) +
                                                                   " puts or " +
                                                                   std::to_string(options_.max_queue_bytes) +
                                                                   " bytes already wait to be published"));
            return;
        }
        queued_bytes_ += size;
        put_queue_.push_back(std::move(job));
        lock.unlock();
        put_cv_.notify_all();
    }

    void
    next(std::shared_ptr<fetch_request> r)
    {
        {
            std::lock_guard lock(fetch_mutex_);
            if (!fetch_closed_) {
                fetch_queue_.push_back(std::move(r));
                fetch_cv_.notify_all();
                return;
            }
        }
        r->complete(make_failure(error::closed, where_ + " was closed"), std::nullopt);
    }

    void
    work(work_job job)
    {
        {
            std::lock_guard lock(work_mutex_);
            if (!closing_) {
                work_queue_.push_back(std::move(job));
                work_cv_.notify_all();
                return;
            }
        }
        std::visit([&](auto& j) { j.done.fail(make_failure(error::closed, where_ + " was closed")); }, job);
    }

    /** Stops taking operations; queued puts are still published and
        answered, waiting next() calls fail with `closed`; then everything
        is released and `done` completed (if it is set). Any thread. */
    void
    close(completion<std::monostate> done)
    {
        std::vector<std::shared_ptr<fetch_request>> waiting;
        {
            std::lock_guard lock(work_mutex_);
            if (finished_) {
                if (done)
                    done.succeed({});
                return;
            }
            if (done)
                close_waiters_.push_back(std::move(done));
            if (closing_)
                return;
            closing_ = true;
        }
        work_cv_.notify_all();
        {
            std::lock_guard lock(put_mutex_);
            puts_closed_ = true;
        }
        put_cv_.notify_all();
        {
            std::lock_guard lock(fetch_mutex_);
            fetch_closed_ = true;
            waiting.assign(fetch_queue_.begin(), fetch_queue_.end());
            fetch_queue_.clear();
        }
        fetch_cv_.notify_all();
        for (auto& r : waiting)
            r->complete(make_failure(error::closed, where_ + " was closed"), std::nullopt);
    }

    /// close() without waiting for its result, then joins the worker.
    /// Not from the worker thread itself.
    void
    stop_and_join()
    {
        if (!worker_.joinable())
            return;
        close(completion<std::monostate>{});
        worker_.join();
    }

private:
    //----------------------------------------------------------------------
    // Worker: open, jobs, periodic duties, close.

    void
    worker_main(completion<std::monostate> opened)
    {
        if (failure f = open_connection()) {
            release_nats();
            {
                std::lock_guard lock(work_mutex_);
                finished_ = true;
                closing_ = true;
            }
            {
                std::lock_guard lock(put_mutex_);
                puts_closed_ = true;
            }
            {
                std::lock_guard lock(fetch_mutex_);
                fetch_closed_ = true;
            }
            opened.fail(std::move(f));
            return;
        }
        publisher_ = std::thread([this] { publisher_main(); });
        acker_ = std::thread([this] { acker_main(); });
        fetcher_ = std::thread([this] { fetcher_main(); });
        opened.succeed({});

        using clock = std::chrono::steady_clock;
        auto next_tick = clock::now();
        auto next_layout_try = clock::now();
        auto last_purge = clock::now();
        for (;;) {
            std::optional<work_job> job;
            {
                std::unique_lock lock(work_mutex_);
                work_cv_.wait_until(lock, next_tick, [&] { return !work_queue_.empty() || closing_; });
                if (!work_queue_.empty()) {
                    job.emplace(std::move(work_queue_.front()));
                    work_queue_.pop_front();
                }
                else if (closing_) {
                    break;
                }
            }
            if (job)
                std::visit([&](auto& j) { run(j); }, *job);
            // Periodic duties, about every 250 ms (also between jobs, so a
            // steady flow of them does not starve the keep-alives).
            auto const now = clock::now();
            if (now < next_tick)
                continue;
            next_tick = now + std::chrono::milliseconds(250);
            if (!layout_ready_.load() && now >= next_layout_try && is_connected()) {
                // Opened while the cluster was unreachable: check (create) it now.
                next_layout_try = now + std::chrono::seconds(1);
                if (!ensure_layout())
                    layout_ready_.store(true);
            }
            keep_taken_alive(now);
            if (consuming_.load() && options_.purge_interval.count() > 0 && now - last_purge >= options_.purge_interval) {
                last_purge = now;
                (void)purge_settled();
            }
        }
        shut_down();
    }

    failure
    open_connection()
    {
        natsOptions* raw_opts = nullptr;
        natsStatus s = natsOptions_Create(&raw_opts);
        nopts_.reset(raw_opts);
        // natsOptions_SetURL takes one URL; a list goes to SetServers.
        std::vector<std::string> const urls = split_servers(servers_);
        if (urls.empty())
            return make_failure(error::cannot_open, "no NATS server given");
        std::vector<char const*> url_ptrs;
        for (auto const& u : urls)
            url_ptrs.push_back(u.c_str());
        if (s == NATS_OK)
            s = natsOptions_SetServers(raw_opts, url_ptrs.data(), static_cast<int>(url_ptrs.size()));
        if (s == NATS_OK)
            s = natsOptions_SetName(raw_opts, options_.connection_name.c_str());
        if (s == NATS_OK)
            s = natsOptions_SetTimeout(raw_opts, options_.connect_timeout.count());
        if (s == NATS_OK)
            s = natsOptions_SetAllowReconnect(raw_opts, true);
        if (s == NATS_OK)
            s = natsOptions_SetMaxReconnect(raw_opts, -1); // forever: the receiver recovers when the cluster does
        if (s == NATS_OK)
            s = natsOptions_SetReconnectWait(raw_opts, options_.reconnect_wait.count());
        if (s == NATS_OK)
            s = natsOptions_SetPingInterval(raw_opts, std::max<std::int64_t>(options_.ping_interval.count(), 1));
        if (s == NATS_OK)
            s = natsOptions_SetMaxPingsOut(raw_opts, 2);
        if (s == NATS_OK)
            s = natsOptions_SetFailRequestsOnDisconnect(raw_opts, true);
        // Write each publish at once from our thread: nats.c's flusher
        // otherwise waits 1 ms to coalesce, which caps one connection at
        // about 1,000 puts/s (measured: 1 putter, R3: 980/s buffered, 3,800/s
        // with this; 64 putters: the same either way).
        if (s == NATS_OK)
            s = natsOptions_SetSendAsap(raw_opts, true);
        if (s == NATS_OK)
            s = natsOptions_SetRetryOnFailedConnect(raw_opts, true, &on_connected_ignored, nullptr);
        if (s != NATS_OK)
            return make_failure(error::cannot_open, where_ + ": invalid connection settings: " + last_error_text(s));

        natsConnection* raw_nc = nullptr;
        s = natsConnection_Connect(&raw_nc, raw_opts);
        nc_.reset(raw_nc);
        if (s != NATS_OK && s != NATS_NOT_YET_CONNECTED)
            return make_failure(error_of_status(s) == error::unavailable ? error::unavailable : error::cannot_open,
                                where_ + ": cannot connect: " + last_error_text(s));
        if (s == NATS_NOT_YET_CONNECTED && options_.require_connection)
            return make_failure(error::unavailable, where_ + ": no server can be reached: " + last_error_text(s));

        jsOptions jo;
        jsOptions_Init(&jo);
        jo.Wait = options_.request_timeout.count();
        jsCtx* raw_js = nullptr;
        s = natsConnection_JetStream(&raw_js, nc_.get(), &jo);
        js_.reset(raw_js);
        if (s != NATS_OK)
            return call_failure(where_ + ": JetStream context", s);

        natsInbox* raw_inbox = nullptr;
        s = natsInbox_Create(&raw_inbox);
        ptr<natsInbox> inbox(raw_inbox);
        if (s != NATS_OK)
            return call_failure(where_ + ": inbox", s);
        inbox_ = raw_inbox;
        natsSubscription* raw_sub = nullptr;
        s = natsConnection_SubscribeSync(&raw_sub, nc_.get(), (inbox_ + ".*").c_str());
        reply_sub_.reset(raw_sub);
        if (s == NATS_OK)
            s = natsSubscription_SetPendingLimits(raw_sub, -1, -1); // bounded by max_in_flight
        if (s != NATS_OK)
            return call_failure(where_ + ": subscribing to the acknowledgements", s);

        if (s == NATS_OK && is_connected()) {
            failure f = ensure_layout();
            if (!f)
                layout_ready_.store(true);
            else if (options_.require_connection || (f.ec != error::unavailable && f.ec != error::timeout))
                return f;
        }
        return {};
    }

    /** Checks the streams and the consumer, creating what is missing (with
        `create_if_missing`). At open, any failure is returned; later ones
        are retried (the caller goes on). */
    failure
    ensure_layout()
    {
        if (failure f = ensure_stream(options_.stream, options_.subject_prefix + ".>", options_.max_bytes))
            return f;
        if (failure f = ensure_stream(options_.dead_stream, options_.dead_subject_prefix + ".>", options_.dead_max_bytes))
            return f;
        return ensure_consumer();
    }

    jsOptions
    request_options() const
    {
        jsOptions jo;
        jsOptions_Init(&jo);
        jo.Wait = options_.request_timeout.count();
        return jo;
    }

    /// The answer to a JetStream API request: the object, or why not.
    template<class T>
    struct api_result
    {
        ptr<T> value{};
        natsStatus status = NATS_OK;
        jsErrCode jerr = static_cast<jsErrCode>(0);

        bool
        is(int err_code) const noexcept
        {
            return static_cast<int>(jerr) == err_code;
        }
    };

    api_result<jsStreamInfo>
    stream_info(std::string const& name) const
    {
        jsOptions jo = request_options();
        api_result<jsStreamInfo> r;
        jsStreamInfo* raw = nullptr;
        r.status = js_GetStreamInfo(&raw, js_.get(), name.c_str(), &jo, &r.jerr);
        r.value.reset(raw);
        return r;
    }

    api_result<jsConsumerInfo>
    consumer_info() const
    {
        jsOptions jo = request_options();
        api_result<jsConsumerInfo> r;
        jsConsumerInfo* raw = nullptr;
        r.status = js_GetConsumerInfo(&raw, js_.get(), options_.stream.c_str(), options_.consumer.c_str(), &jo, &r.jerr);
        r.value.reset(raw);
        return r;
    }

    /// The servers the connection knows: those given and those the cluster
    /// announced.
    int
    known_servers() const
    {
        char** servers = nullptr;
        int count = 0;
        if (natsConnection_GetServers(nc_.get(), &servers, &count) != NATS_OK)
            return 0;
        for (int i = 0; i < count; ++i)
            std::free(servers[i]);
        std::free(servers);
        return count;
    }

    /// Layout errors that are not about availability are the settings' fault.
    static failure
    layout_failure(failure f)
    {
        if (f.ec == error::unavailable || f.ec == error::timeout)
            return f;
        return {make_error_code(error::cannot_open), std::move(f.text)};
    }

    failure
    ensure_stream(std::string const& name, std::string const& subject, std::int64_t max_bytes)
    {
        auto const found = stream_info(name);
        if (found.status == NATS_OK)
            return {};
        if (!found.is(10059 /* JSStreamNotFoundErr */))
            return layout_failure(call_failure(where_ + ": looking up stream " + name, found.status, found.jerr));
        if (!options_.create_if_missing)
            return make_failure(error::cannot_open,
                                where_ + ": stream " + name + " does not exist (create it with hl7_nats_setup)");
        jsStreamConfig cfg;
        jsStreamConfig_Init(&cfg);
        char const* subjects[] = {subject.c_str()};
        cfg.Name = name.c_str();
        cfg.Subjects = subjects;
        cfg.SubjectsLen = 1;
        cfg.Storage = js_FileStorage;
        cfg.Retention = js_LimitsPolicy; // settled messages stay for dedup and audit, purged by retention
        cfg.Discard = js_DiscardNew;     // a full stream refuses new messages, never drops old ones
        cfg.Replicas = options_.replicas;
        cfg.MaxBytes = max_bytes > 0 ? max_bytes : -1;
        cfg.MaxMsgs = -1;
        cfg.MaxAge = 0;
        cfg.MaxMsgSize = options_.max_message_size > 0 ? options_.max_message_size : -1;
        cfg.Duplicates = to_nanos(options_.dedup_window);
        jsOptions jo = request_options();
        jsErrCode jerr = static_cast<jsErrCode>(0);
        jsStreamInfo* raw = nullptr;
        natsStatus const s = js_AddStream(&raw, js_.get(), &cfg, &jo, &jerr);
        ptr<jsStreamInfo> info(raw);
        // 10058: created meanwhile by another store with other settings: use it.
        if (s == NATS_OK || static_cast<int>(jerr) == 10058)
            return {};
        failure f = call_failure(where_ + ": creating stream " + name, s, jerr);
        // 10005, no suitable peers for placement: with fewer servers than
        // replicas the settings are wrong; otherwise servers are missing now
        // (a cluster still forming, one down), which passes.
        if (static_cast<int>(jerr) == 10005 && known_servers() >= options_.replicas)
            return {make_error_code(error::unavailable), std::move(f.text)};
        return layout_failure(std::move(f));
    }

    failure
    ensure_consumer()
    {
        auto const found = consumer_info();
        if (found.status == NATS_OK)
            return {};
        if (!found.is(10014 /* JSConsumerNotFoundErr */))
            return layout_failure(
                call_failure(where_ + ": looking up consumer " + options_.consumer, found.status, found.jerr));
        if (!options_.create_if_missing)
            return {}; // only next() needs it, and says so
        jsConsumerConfig cc;
        jsConsumerConfig_Init(&cc);
        cc.Durable = options_.consumer.c_str();
        cc.AckPolicy = js_AckExplicit;
        cc.DeliverPolicy = js_DeliverAll;
        cc.AckWait = to_nanos(options_.ack_wait);
        cc.MaxAckPending = options_.max_ack_pending;
        cc.MaxDeliver = options_.max_deliver;
        jsOptions jo = request_options();
        jsErrCode jerr = static_cast<jsErrCode>(0);
        jsConsumerInfo* raw = nullptr;
        natsStatus const s = js_AddConsumer(&raw, js_.get(), options_.stream.c_str(), &cc, &jo, &jerr);
        ptr<jsConsumerInfo> info(raw);
        // 10013/10105: created meanwhile by another store: use it.
        if (s == NATS_OK || static_cast<int>(jerr) == 10013 || static_cast<int>(jerr) == 10105)
            return {};
        return layout_failure(call_failure(where_ + ": creating consumer " + options_.consumer, s, jerr));
    }

    void
    run(settle_job& j)
    {
        ptr<natsMsg> msg;
        std::string token;
        {
            std::lock_guard lock(taken_mutex_);
            auto it = taken_.find(j.id);
            if (it == taken_.end()) {
                j.done.fail(make_failure(error::unknown_message, where_ + ": message " + std::to_string(j.id) +
                                                                     " was not taken by this store object (or is settled)"));
                return;
            }
            // Taken out while settling, so keep_taken_alive leaves it alone; put back on failure.
            msg = std::move(it->second.msg);
            token = it->second.token;
            taken_.erase(it);
        }
        failure f = settle(j, msg.get(), token);
        if (f) {
            std::lock_guard lock(taken_mutex_);
            taken_message t;
            t.msg = std::move(msg);
            t.token = std::move(token);
            t.last_progress = std::chrono::steady_clock::now();
            taken_.emplace(j.id, std::move(t));
            j.done.fail(std::move(f));
            return;
        }
        j.done.succeed({});
    }

    failure
    settle(settle_job& j, natsMsg* msg, std::string const& token)
    {
        jsOptions jo = request_options(); // a Wait makes nats.c wait for the server's confirmation
        jsErrCode jerr = static_cast<jsErrCode>(0);
        std::string const what = where_ + ": message " + std::to_string(j.id);
        switch (j.kind) {
        case settle_kind::delivered: {
            natsStatus const s = natsMsg_AckSync(msg, &jo, &jerr);
            if (s != NATS_OK)
                return call_failure(what + ": acknowledging", s, jerr);
            forget_reason(j.id);
            return {};
        }
        case settle_kind::retry: {
            auto const delay = std::max<std::int64_t>(j.delay.count(), 0);
            natsStatus const s = delay > 0 ? natsMsg_NakWithDelay(msg, delay, &jo) : natsMsg_Nak(msg, &jo);
            if (s != NATS_OK)
                return call_failure(what + ": asking for redelivery", s);
            remember_reason(j.id, std::move(j.reason));
            return {};
        }
        case settle_kind::dead: {
            if (failure f = publish_dead_letter(j, msg, token))
                return f;
            natsStatus const s = natsMsg_Term(msg, &jo);
            if (s != NATS_OK)
                return call_failure(what + ": stored as a dead letter, but ending its delivery failed", s);
            forget_reason(j.id);
            return {};
        }
        }
        return {};
    }

    /** The dead letter: the message with its headers, the reason and where
        it came from, published to the dead-letter stream and acknowledged by
        it before the original is ended. Its id (stream and sequence) makes a
        second attempt after a failure a duplicate, not a second letter. */
    failure
    publish_dead_letter(settle_job const& j, natsMsg* original, std::string const& token)
    {
        std::string const subject = options_.dead_subject_prefix + "." + token;
        natsMsg* raw = nullptr;
        natsStatus s = natsMsg_Create(&raw, subject.c_str(), nullptr, natsMsg_GetData(original),
                                      natsMsg_GetDataLength(original));
        ptr<natsMsg> letter(raw);
        if (s != NATS_OK)
            return call_failure(where_ + ": building the dead letter", s);
        char const** keys = nullptr;
        int count = 0;
        if (natsMsgHeader_Keys(original, &keys, &count) == NATS_OK) {
            for (int i = 0; i < count; ++i) {
                std::string_view const key = keys[i];
                if (key == header_msg_id || key.starts_with("Nats-"))
                    continue;
                char const** values = nullptr;
                int n = 0;
                if (natsMsgHeader_Values(original, keys[i], &values, &n) == NATS_OK) {
                    for (int v = 0; v < n; ++v)
                        natsMsgHeader_Add(raw, keys[i], values[v]);
                    free(const_cast<char**>(values));
                }
            }
            free(const_cast<char**>(keys));
        }
        std::string const id = options_.stream + ":" + std::to_string(j.id);
        std::uint64_t deliveries = 0;
        {
            jsMsgMetaData* md = nullptr;
            if (natsMsg_GetMetaData(&md, original) == NATS_OK) {
                deliveries = md->NumDelivered;
                jsMsgMetaData_Destroy(md);
            }
        }
        natsMsgHeader_Set(raw, header_msg_id, id.c_str());
        natsMsgHeader_Set(raw, header_dead_reason, percent_encode(j.reason, keep_in_header).c_str());
        natsMsgHeader_Set(raw, header_dead_stream, options_.stream.c_str());
        natsMsgHeader_Set(raw, header_dead_sequence, std::to_string(j.id).c_str());
        natsMsgHeader_Set(raw, header_dead_deliveries, std::to_string(deliveries).c_str());

        jsPubOptions po;
        jsPubOptions_Init(&po);
        po.MaxWait = options_.request_timeout.count();
        jsPubAck* raw_ack = nullptr;
        jsErrCode jerr = static_cast<jsErrCode>(0);
        s = js_PublishMsg(&raw_ack, js_.get(), letter.get(), &po, &jerr);
        ptr<jsPubAck> ack(raw_ack);
        if (s != NATS_OK)
            return call_failure(where_ + ": publishing message " + std::to_string(j.id) + " to " + subject, s, jerr);
        return {};
    }

    void
    run(stats_job& j)
    {
        store_stats st;
        auto const stream_r = stream_info(options_.stream);
        if (stream_r.status != NATS_OK) {
            j.done.fail(call_failure(where_ + ": stream info", stream_r.status, stream_r.jerr));
            return;
        }
        auto const consumer_r = consumer_info();
        if (consumer_r.status != NATS_OK && !consumer_r.is(10014)) {
            j.done.fail(call_failure(where_ + ": consumer info", consumer_r.status, consumer_r.jerr));
            return;
        }
        auto const dead_r = stream_info(options_.dead_stream);
        if (dead_r.status != NATS_OK && !dead_r.is(10059)) {
            j.done.fail(call_failure(where_ + ": dead-letter stream info", dead_r.status, dead_r.jerr));
            return;
        }
        auto const& stream = stream_r.value;
        auto const& consumer = consumer_r.value;
        auto const& dead = dead_r.value;
        std::uint64_t const msgs = stream->State.Msgs;
        if (consumer) {
            // Everything after the consumer's ack floor, less what was acked
            // above it (out of order). The stream's last sequence comes from
            // the stream's leader, which has every acknowledged put; the
            // consumer's own pending count may lag it by a few milliseconds
            // when its leader is another server.
            std::uint64_t const floor = consumer->AckFloor.Stream;
            std::uint64_t const last = stream->State.LastSeq;
            std::uint64_t const delivered_above =
                consumer->Delivered.Stream > floor ? consumer->Delivered.Stream - floor : 0;
            std::uint64_t const pending = static_cast<std::uint64_t>(std::max<std::int64_t>(consumer->NumAckPending, 0));
            std::uint64_t const acked_above = delivered_above > pending ? delivered_above - pending : 0;
            std::uint64_t const after_floor = last > floor ? last - floor : 0;
            st.queued = after_floor > acked_above ? after_floor - acked_above : 0;
            st.retrying = static_cast<std::uint64_t>(std::max<std::int64_t>(consumer->NumRedelivered, 0));
        }
        else {
            st.queued = msgs; // no consumer yet: nothing was delivered
        }
        st.queued = std::min(st.queued, msgs);
        st.delivered = msgs - st.queued;
        st.dead = dead ? dead->State.Msgs : 0;
        st.duplicates = duplicates_.load(std::memory_order_relaxed);
        st.senders = static_cast<std::uint64_t>(std::max<std::int64_t>(stream->State.NumSubjects, 0));
        j.done.succeed(st);
    }

    void
    run(purge_job& j)
    {
        auto r = purge_settled();
        if (r.second)
            j.done.fail(std::move(r.second));
        else
            j.done.succeed(r.first);
    }

    /** Purges settled messages past their retention. The consumer's ack
        floor (every message up to it is settled) is sampled at each call;
        the stream is purged up to the floor seen at least `retention` ago,
        so what goes was settled, and stored, that long ago. */
    std::pair<std::uint64_t, failure>
    purge_settled()
    {
        auto const consumer_r = consumer_info();
        if (consumer_r.status != NATS_OK)
            return {0, call_failure(where_ + ": consumer info (purge)", consumer_r.status, consumer_r.jerr)};
        auto const& consumer = consumer_r.value;
        auto const now = std::chrono::steady_clock::now();
        floor_samples_.emplace_back(now, consumer->AckFloor.Stream);
        std::uint64_t floor = 0;
        bool have = false;
        while (!floor_samples_.empty() && now - floor_samples_.front().first >= options_.retention) {
            floor = floor_samples_.front().second;
            have = true;
            floor_samples_.pop_front();
        }
        if (have) // keep the one used: the floor does not go back
            floor_samples_.emplace_front(now - options_.retention, floor);
        if (!have || floor == 0)
            return {0, {}};

        auto const before_r = stream_info(options_.stream);
        if (before_r.status != NATS_OK)
            return {0, call_failure(where_ + ": stream info (purge)", before_r.status, before_r.jerr)};
        auto const& before = before_r.value;
        if (before->State.FirstSeq > floor)
            return {0, {}};
        jsOptions jo = request_options();
        jo.Stream.Purge.Sequence = floor + 1; // up to, not including
        jsErrCode jerr = static_cast<jsErrCode>(0);
        natsStatus const s = js_PurgeStream(js_.get(), options_.stream.c_str(), &jo, &jerr);
        if (s != NATS_OK)
            return {0, call_failure(where_ + ": purging up to " + std::to_string(floor), s, jerr)};
        std::uint64_t const purged = floor + 1 - before->State.FirstSeq;
        purged_.fetch_add(purged, std::memory_order_relaxed);
        return {purged, {}};
    }

    /// Tells the server a taken message is still being worked on, every
    /// third of ack_wait, so it is not handed to another consumer meanwhile.
    void
    keep_taken_alive(std::chrono::steady_clock::time_point now)
    {
        auto const every = std::max<std::chrono::steady_clock::duration>(options_.ack_wait / 3, std::chrono::milliseconds(100));
        std::lock_guard lock(taken_mutex_);
        for (auto& [id, t] : taken_) {
            if (now - t.last_progress >= every && t.msg) {
                if (natsMsg_InProgress(t.msg.get(), nullptr) == NATS_OK)
                    t.last_progress = now;
            }
        }
    }

    void
    remember_reason(std::uint64_t id, std::string reason)
    {
        std::lock_guard lock(taken_mutex_);
        reasons_[id] = std::move(reason);
        // Bounded: the oldest reasons go first (ids grow with time).
        while (reasons_.size() > 10000)
            reasons_.erase(reasons_.begin());
    }

    void
    forget_reason(std::uint64_t id)
    {
        std::lock_guard lock(taken_mutex_);
        reasons_.erase(id);
    }

    void
    shut_down()
    {
        if (publisher_.joinable())
            publisher_.join(); // publishes what was queued
        if (acker_.joinable())
            acker_.join(); // answers what was published
        if (fetcher_.joinable())
            fetcher_.join();
        {
            // Taken and never settled: hand them out again now rather than after ack_wait.
            std::lock_guard lock(taken_mutex_);
            bool naked = false;
            for (auto& [id, t] : taken_)
                if (t.msg && is_connected())
                    naked = natsMsg_Nak(t.msg.get(), nullptr) == NATS_OK || naked;
            if (naked)
                natsConnection_FlushTimeout(nc_.get(), 1000);
            taken_.clear();
        }
        release_nats();
        std::vector<completion<std::monostate>> waiters;
        {
            std::lock_guard lock(work_mutex_);
            finished_ = true;
            waiters.swap(close_waiters_);
        }
        for (auto& w : waiters)
            w.succeed({});
    }

    /// For the store's own threads, which all end before release_nats().
    bool
    is_connected() const noexcept
    {
        return nc_ && natsConnection_Status(nc_.get()) == NATS_CONN_STATUS_CONNECTED;
    }

    void
    release_nats()
    {
        // connected() may be called from any thread meanwhile.
        std::lock_guard lock(release_mutex_);
        pull_sub_.reset();
        reply_sub_.reset();
        js_.reset();
        nc_.reset(); // natsConnection_Destroy closes it first
        nopts_.reset();
    }

    //----------------------------------------------------------------------
    // Publisher and acker.

    static void
    fail_put(completion<put_result>& done, failure f)
    {
        done.fail(std::move(f));
    }

    void
    count_failure(failure const& f)
    {
        failed_.fetch_add(1, std::memory_order_relaxed);
        if (f.ec == error::timeout)
            timeouts_.fetch_add(1, std::memory_order_relaxed);
        else if (f.ec == error::unavailable)
            unavailable_.fetch_add(1, std::memory_order_relaxed);
    }

    void
    publisher_main()
    {
        std::unique_lock lock(put_mutex_);
        for (;;) {
            put_cv_.wait(lock, [&] {
                return (!put_queue_.empty() && in_flight_.size() < options_.max_in_flight) ||
                       (puts_closed_ && put_queue_.empty());
            });
            if (put_queue_.empty())
                break; // closed, and everything queued was published
            put_job job = std::move(put_queue_.front());
            put_queue_.pop_front();
            queued_bytes_ -= job.payload.size();
            std::uint64_t const n = ++next_reply_;
            lock.unlock();
            publish(n, std::move(job));
            lock.lock();
        }
        publisher_done_ = true;
    }

    void
    publish(std::uint64_t n, put_job job)
    {
        auto fail = [&](failure f) {
            count_failure(f);
            job.done.fail(std::move(f));
        };
        if (!is_connected()) {
            fail(make_failure(error::unavailable, where_ + ": not connected to any server"));
            return;
        }
        if (job.payload.size() > static_cast<std::size_t>(INT_MAX)) {
            fail(make_failure(error::too_large, where_ + ": " + std::to_string(job.payload.size()) + " bytes"));
            return;
        }
        std::string const subject = options_.subject_prefix + "." + jetstream_sender_token(job.meta);
        std::string const reply = inbox_ + "." + std::to_string(n);
        natsMsg* raw = nullptr;
        natsStatus s = natsMsg_Create(&raw, subject.c_str(), reply.c_str(), job.payload.data(),
                                      static_cast<int>(job.payload.size()));
        ptr<natsMsg> msg(raw);
        if (s == NATS_OK) {
            std::string const id = jetstream_message_id(job.meta);
            if (!id.empty())
                s = natsMsgHeader_Set(raw, header_msg_id, id.c_str());
        }
        auto const header = [&](char const* key, std::string const& value) {
            if (s == NATS_OK && !value.empty())
                s = natsMsgHeader_Set(raw, key, percent_encode(value, keep_in_header).c_str());
        };
        header(header_app, job.meta.sending_application);
        header(header_facility, job.meta.sending_facility);
        header(header_control_id, job.meta.control_id);
        header(header_type, job.meta.message_type);
        header(header_peer, job.meta.peer);
        header(header_received,
               std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(job.meta.received.time_since_epoch()).count()));
        if (s != NATS_OK) {
            fail(call_failure(where_ + ": building the message", s));
            return;
        }
        {
            // Registered before publishing: the answer may come at once.
            std::lock_guard lock(put_mutex_);
            in_flight_.emplace(n, in_flight_put{std::move(job.done), std::chrono::steady_clock::now() + options_.put_timeout});
        }
        s = natsConnection_PublishMsg(nc_.get(), raw);
        if (s != NATS_OK) {
            failure f = call_failure(where_ + ": publishing to " + subject, s);
            if (auto done = take_in_flight(n)) {
                count_failure(f);
                done->fail(std::move(f));
            }
        }
    }

    std::optional<completion<put_result>>
    take_in_flight(std::uint64_t n)
    {
        std::optional<completion<put_result>> done;
        {
            std::lock_guard lock(put_mutex_);
            auto it = in_flight_.find(n);
            if (it == in_flight_.end())
                return std::nullopt;
            done.emplace(std::move(it->second.done));
            in_flight_.erase(it);
        }
        put_cv_.notify_all(); // room for the publisher
        return done;
    }

    void
    acker_main()
    {
        using clock = std::chrono::steady_clock;
        for (;;) {
            std::int64_t wait_ms = 100;
            {
                std::lock_guard lock(put_mutex_);
                if (publisher_done_ && in_flight_.empty())
                    break;
                if (!in_flight_.empty()) {
                    auto const left = std::chrono::duration_cast<std::chrono::milliseconds>(
                                          in_flight_.begin()->second.deadline - clock::now())
                                          .count();
                    wait_ms = std::clamp<std::int64_t>(left, 1, 100);
                }
            }
            natsMsg* raw = nullptr;
            natsStatus const s = natsSubscription_NextMsg(&raw, reply_sub_.get(), wait_ms);
            ptr<natsMsg> reply(raw);
            if (s == NATS_OK)
                answer(reply.get());
            else if (s != NATS_TIMEOUT)
                std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms)); // no subscription now: do not spin
            expire(clock::now());
            if (!is_connected())
                fail_in_flight(make_failure(error::unavailable,
                                            where_ + ": the connection was lost before JetStream acknowledged the put"));
        }
    }

    void
    answer(natsMsg* reply)
    {
        std::string_view const subject = natsMsg_GetSubject(reply);
        if (subject.size() <= inbox_.size() + 1)
            return;
        std::uint64_t n = 0;
        auto const digits = subject.substr(inbox_.size() + 1);
        if (std::from_chars(digits.data(), digits.data() + digits.size(), n).ec != std::errc())
            return;
        auto done = take_in_flight(n);
        if (!done)
            return; // already timed out or failed
        auto fail = [&](failure f) {
            count_failure(f);
            done->fail(std::move(f));
        };
        if (natsMsg_IsNoResponders(reply)) {
            fail(make_failure(error::unavailable, where_ + ": no JetStream server answers for the stream's "
                                                           "subjects (no responders: no leader, or no such stream)"));
            return;
        }
        char const* data = natsMsg_GetData(reply);
        pub_ack const a = parse_pub_ack(std::string_view(data ? data : "", static_cast<std::size_t>(natsMsg_GetDataLength(reply))));
        if (!a.parsed) {
            fail(make_failure(error::internal, where_ + ": unexpected answer to a publish: " +
                                                   std::string(data ? data : "", static_cast<std::size_t>(natsMsg_GetDataLength(reply)))));
            return;
        }
        if (a.has_error) {
            fail(make_failure(error_of_api(a.code, a.err_code, a.description),
                              where_ + ": JetStream refused the message: " + a.description + " (error " +
                                  std::to_string(a.code) + "/" + std::to_string(a.err_code) + ")"));
            return;
        }
        if (a.stream != options_.stream) {
            // Stored, but where no forwarder of ours reads: do not call it safe.
            fail(make_failure(error::internal, where_ + ": the message went to stream " + a.stream +
                                                   ", which also captures " + options_.subject_prefix + ".>"));
            return;
        }
        put_result r;
        r.id = a.seq;
        r.status = a.duplicate ? put_status::duplicate : put_status::stored;
        (a.duplicate ? duplicates_ : stored_).fetch_add(1, std::memory_order_relaxed);
        done->succeed(r);
    }

    void
    expire(std::chrono::steady_clock::time_point now)
    {
        std::vector<completion<put_result>> expired;
        {
            std::lock_guard lock(put_mutex_);
            // Deadlines grow with the reply number: the oldest come first.
            while (!in_flight_.empty() && in_flight_.begin()->second.deadline <= now) {
                expired.push_back(std::move(in_flight_.begin()->second.done));
                in_flight_.erase(in_flight_.begin());
            }
        }
        if (expired.empty())
            return;
        put_cv_.notify_all();
        for (auto& done : expired) {
            failure f = make_failure(error::timeout, where_ + ": no acknowledgement from JetStream within " +
                                                         std::to_string(options_.put_timeout.count()) + " ms");
            count_failure(f);
            done.fail(std::move(f));
        }
    }

    void
    fail_in_flight(failure const& f)
    {
        std::map<std::uint64_t, in_flight_put> lost;
        {
            std::lock_guard lock(put_mutex_);
            lost.swap(in_flight_);
        }
        if (lost.empty())
            return;
        put_cv_.notify_all();
        for (auto& [n, p] : lost) {
            count_failure(f);
            p.done.fail(f);
        }
    }

    //----------------------------------------------------------------------
    // Fetcher.

    void
    fetcher_main()
    {
        for (;;) {
            std::shared_ptr<fetch_request> r;
            {
                std::unique_lock lock(fetch_mutex_);
                fetch_cv_.wait(lock, [&] { return !fetch_queue_.empty() || fetch_closed_; });
                if (fetch_closed_)
                    break;
                r = std::move(fetch_queue_.front());
                fetch_queue_.pop_front();
            }
            consuming_.store(true);
            serve(*r);
        }
    }

    bool
    fetch_closed()
    {
        std::lock_guard lock(fetch_mutex_);
        return fetch_closed_;
    }

    failure
    ensure_pull_subscription()
    {
        if (pull_sub_)
            return {};
        jsOptions jo = request_options();
        jsSubOptions so;
        jsSubOptions_Init(&so);
        so.Stream = options_.stream.c_str();
        so.Consumer = options_.consumer.c_str(); // bind: never create or delete it here
        jsErrCode jerr = static_cast<jsErrCode>(0);
        natsSubscription* raw = nullptr;
        natsStatus const s = js_PullSubscribe(&raw, js_.get(), nullptr, nullptr, &jo, &so, &jerr);
        if (s != NATS_OK)
            return call_failure(where_ + ": binding to consumer " + options_.consumer, s, jerr);
        pull_sub_.reset(raw);
        return {};
    }

    void
    serve(fetch_request& r)
    {
        using clock = std::chrono::steady_clock;
        for (;;) {
            if (r.finished())
                return; // cancelled
            if (fetch_closed()) {
                r.complete(make_failure(error::closed, where_ + " was closed"), std::nullopt);
                return;
            }
            auto const left = std::chrono::duration_cast<std::chrono::milliseconds>(r.deadline - clock::now());
            // Under 50 ms left (or next(0)): one look that does not wait for
            // a message, only for the server's "none".
            bool const last_look = left.count() < 50;
            failure f;
            if (!is_connected())
                f = make_failure(error::unavailable, where_ + ": not connected to any server");
            else
                f = ensure_pull_subscription();
            if (f.ec == error::cannot_open && options_.create_if_missing && !layout_ready_.load()) {
                // Opened before the cluster could be reached: the worker
                // creates the consumer as soon as it can; wait for it.
                f = make_failure(error::unavailable, f.text + " (not created yet)");
            }
            if (f && f.ec != error::unavailable && f.ec != error::timeout) {
                r.complete(std::move(f), std::nullopt); // e.g. no such consumer
                return;
            }
            if (!f) {
                jsFetchRequest fr;
                jsFetchRequest_Init(&fr);
                fr.Batch = 1;
                if (last_look) {
                    fr.NoWait = true;
                    fr.Expires = to_nanos(std::min(options_.request_timeout, std::chrono::milliseconds(2000)));
                }
                else {
                    // In slices, so close() and cancellation are noticed.
                    fr.Expires = to_nanos(std::min(left, std::chrono::milliseconds(1000)));
                }
                natsMsgList list{};
                natsStatus const s = natsSubscription_FetchRequest(&list, pull_sub_.get(), &fr);
                if (s == NATS_OK && list.Count > 0) {
                    ptr<natsMsg> msg(list.Msgs[0]);
                    list.Msgs[0] = nullptr;
                    natsMsgList_Destroy(&list);
                    deliver(r, std::move(msg));
                    return;
                }
                natsMsgList_Destroy(&list);
                if (s != NATS_OK && s != NATS_TIMEOUT && s != NATS_NOT_FOUND)
                    f = call_failure(where_ + ": fetching from consumer " + options_.consumer, s);
            }
            if (last_look || clock::now() >= r.deadline) {
                // Nothing came; a failure that lasted to the end is reported.
                r.complete(std::move(f), std::nullopt);
                return;
            }
            if (f) // failing (no connection, no leader): do not spin
                std::this_thread::sleep_for(std::min(std::chrono::milliseconds(250), left));
        }
    }

    void
    deliver(fetch_request& r, ptr<natsMsg> msg)
    {
        stored_message m;
        jsMsgMetaData* raw_md = nullptr;
        if (natsMsg_GetMetaData(&raw_md, msg.get()) == NATS_OK) {
            ptr<jsMsgMetaData> md(raw_md);
            m.id = md->Sequence.Stream;
            m.attempts = static_cast<std::uint32_t>(std::min<std::uint64_t>(md->NumDelivered > 0 ? md->NumDelivered - 1 : 0, UINT32_MAX));
            m.stored = std::chrono::system_clock::time_point(
                std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::nanoseconds(md->Timestamp)));
        }
        char const* data = natsMsg_GetData(msg.get());
        m.payload.assign(data ? data : "", static_cast<std::size_t>(natsMsg_GetDataLength(msg.get())));
        auto const header = [&](char const* key) -> std::string {
            char const* v = nullptr;
            if (natsMsgHeader_Get(msg.get(), key, &v) == NATS_OK && v)
                return percent_decode(v);
            return {};
        };
        m.meta.sending_application = header(header_app);
        m.meta.sending_facility = header(header_facility);
        m.meta.control_id = header(header_control_id);
        m.meta.message_type = header(header_type);
        m.meta.peer = header(header_peer);
        std::string const received = header(header_received);
        std::int64_t ms = 0;
        if (!received.empty() && std::from_chars(received.data(), received.data() + received.size(), ms).ec == std::errc())
            m.meta.received = std::chrono::system_clock::time_point(
                std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::milliseconds(ms)));
        std::string token;
        {
            std::string_view const subject = natsMsg_GetSubject(msg.get());
            auto const prefix = options_.subject_prefix.size() + 1;
            token = subject.size() > prefix ? std::string(subject.substr(prefix)) : std::string("~");
        }
        std::uint64_t const id = m.id;
        {
            std::lock_guard lock(taken_mutex_);
            if (auto it = reasons_.find(id); it != reasons_.end())
                m.last_error = it->second;
            taken_message t;
            t.msg = std::move(msg);
            t.token = std::move(token);
            t.last_progress = std::chrono::steady_clock::now();
            taken_[id] = std::move(t); // a redelivery replaces an older copy
        }
        taken_count_.fetch_add(1, std::memory_order_relaxed);
        if (!r.complete({}, std::move(m))) {
            // Cancelled meanwhile: give it back at once.
            ptr<natsMsg> back;
            {
                std::lock_guard lock(taken_mutex_);
                if (auto it = taken_.find(id); it != taken_.end()) {
                    back = std::move(it->second.msg);
                    taken_.erase(it);
                }
            }
            if (back)
                natsMsg_Nak(back.get(), nullptr);
        }
    }

    //----------------------------------------------------------------------

    std::string const servers_;
    std::string const where_;
    jetstream_options options_;

    // Set up by the worker before the other threads start; released by it
    // after they ended (under release_mutex_, for connected()).
    mutable std::mutex release_mutex_;
    ptr<natsOptions> nopts_;
    ptr<natsConnection> nc_;
    ptr<jsCtx> js_;
    std::string inbox_;
    ptr<natsSubscription> reply_sub_;
    // The fetcher's; never replaced while the store is open, since a taken
    // message refers to its subscription (nats.c acks through it).
    ptr<natsSubscription> pull_sub_;

    // Puts.
    std::mutex put_mutex_;
    std::condition_variable put_cv_;
    std::deque<put_job> put_queue_;
    std::size_t queued_bytes_ = 0;
    std::map<std::uint64_t, in_flight_put> in_flight_;
    std::uint64_t next_reply_ = 0;
    bool puts_closed_ = false;
    bool publisher_done_ = false;

    // next().
    std::mutex fetch_mutex_;
    std::condition_variable fetch_cv_;
    std::deque<std::shared_ptr<fetch_request>> fetch_queue_;
    bool fetch_closed_ = false;
    std::atomic<bool> consuming_{false};

    // Taken messages (fetcher adds, worker settles).
    std::mutex taken_mutex_;
    std::map<std::uint64_t, taken_message> taken_;
    std::map<std::uint64_t, std::string> reasons_;

    // Worker.
    std::mutex work_mutex_;
    std::condition_variable work_cv_;
    std::deque<work_job> work_queue_;
    bool closing_ = false;
    bool finished_ = false;
    std::vector<completion<std::monostate>> close_waiters_;
    std::atomic<bool> layout_ready_{false};
    std::deque<std::pair<std::chrono::steady_clock::time_point, std::uint64_t>> floor_samples_;

    std::atomic<std::uint64_t> stored_{0}, duplicates_{0}, failed_{0}, timeouts_{0}, unavailable_{0}, queue_full_{0},
        taken_count_{0}, purged_{0};

    std::thread publisher_, acker_, fetcher_;
    std::thread worker_; // last: started after everything above exists
};

} // namespace hl7::store::detail::nats

#endif
