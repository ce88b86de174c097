#ifndef HL7_STORE_JETSTREAM_HPP
#define HL7_STORE_JETSTREAM_HPP

// hl7::store::jetstream_store: the message store on a NATS JetStream
// cluster. Link the CMake target hl7::nats (it brings nats.c).

#include <hl7/detail/asio_config.hpp>
#include <hl7/store/detail/completion.hpp>
#include <hl7/store/detail/jetstream_engine.hpp>
#include <hl7/store/error.hpp>
#include <hl7/store/jetstream_options.hpp>
#include <hl7/store/store.hpp>

#include <asio/awaitable.hpp>
#include <asio/error.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace hl7::store {

/** A message store on a NATS JetStream cluster (see `message_store` for
    the contract); open it with `open_jetstream_store()`. Several receivers
    put into one stream and several forwarders take from one durable
    consumer, each in its own process, and any one server of a 3-node
    cluster may fail.

    @par What an acknowledgement guarantees (nats-server 2.9)
    `put` completes when the stream's leader answers the publish (the
    PubAck). In a clustered stream the leader answers only after the
    message's Raft entry was committed, i.e. a majority of the stream's
    replicas (2 of 3 with `replicas` 3) appended it to their Raft log, and
    the leader applied it to the stream. Every server writes each entry to
    its log file with write(2) as it stores it (nats-server 2.9.10 creates
    those stores with `AsyncFlush: false`), so the message is in the
    operating system of two machines. It is *not* fsynced: 2.9 syncs a
    stream's files every 2 minutes and a Raft log's every 5 minutes (fixed
    in the code, `server/stream.go` and `server/jetstream_cluster.go`; the
    `sync_interval` setting arrived in 2.10). So an acknowledged message
    survives the crash or SIGKILL of any number of server processes and the
    loss of any one machine; it can be lost if two of the three machines
    lose power (or their kernels crash) within those minutes. Put the
    servers in separate failure domains (power, racks, zones).

    @par Duplicates
    Each put carries `Nats-Msg-Id` = MSH-3, MSH-4, MSH-10 (see
    `jetstream_message_id`); within the stream's duplicate window
    (`jetstream_options::dedup_window`) JetStream stores a resend once and
    answers it as a duplicate with the first copy's sequence:
    `put_status::duplicate` with that id. No id, and so no duplicate
    detection, when MSH-10 is empty.

    @par Failures
    No connection, no stream: `error::unavailable`; no answer within
    `put_timeout` (also while a new leader is elected after one died, 4-9 s
    in 2.9): `error::timeout`; a full stream: `error::full`; a
    message above the limits: `error::too_large`. A put that failed may
    still have been stored (it was sent before the connection dropped):
    the sender resends, and the duplicate window absorbs the copy. The
    store reconnects by itself forever, so a receiver recovers when the
    cluster does.

    @par Threads
    No nats.c call runs on the caller's thread: puts go through a bounded
    queue to the store's publishing thread (`max_queue`, then
    `error::queue_full` at once), which keeps up to `max_in_flight`
    publishes unacknowledged; acknowledgements are read by another thread
    of the store, and next() and settling run on two more. Results are
    posted to each caller's executor. nats.c's own threads never call into
    the store.

    @par Consumers and order
    `next()` takes from the durable pull consumer (explicit acks,
    `ack_wait`, `max_ack_pending`, `max_deliver`); `delivered` acks,
    `retry_later` naks with a delay, `dead` publishes the message to the
    dead-letter stream (with the reason in `Hl7-Dead-Reason`), waits for
    its acknowledgement, then terminates the original. Several forwarders,
    in any processes, may share the consumer; each message goes to one of
    them at a time. With `max_ack_pending` 1 (the default) the consumer has
    at most one message out at a time across all of them, and a message
    waiting for its retry (a nak with delay stays pending) holds everything
    behind it: strict order for every sender, at the price of one delivery
    at a time and of one sender's stuck message holding back the others
    (SQLite holds back only that sender). With more, messages are handed
    out in parallel and redeliveries overtake: no order at all. Messages
    are published per sender (`<subject_prefix>.<sender token>`), so a
    consumer per sender (filtered on its subject, `max_ack_pending` 1)
    would give per-sender order with parallel senders; not built yet.
    A message taken and not settled stays with its taker while the store
    object lives (it tells the server every third of `ack_wait`); if the
    taker dies, the server hands it out again after `ack_wait`. Delivery
    is at least once.

    @par Differences from the SQLite store
    `stored_message::last_error` is known only to the store object that
    was given the reason; `store_stats::duplicates` counts this object's
    puts only; `store_stats::retrying` counts messages delivered more than
    once and not yet settled; `store_stats::queued` is what follows the
    consumer's ack floor in the stream (asked of the stream's leader, so a
    put acknowledged before `stats()` is in it), less what was acked out of
    order; `store_stats::delivered` counts settled
    messages still kept (dead letters included, whose copies are also in
    `dead`); `store_stats::senders` counts senders with messages still in
    the stream.

    @par Thread safety
    Every member function may be called from any thread.

    @par Lifetime
    `co_await close()` before the last reference goes; otherwise the
    destructor closes and blocks until queued puts are answered.
*/
class jetstream_store final : public message_store
{
public:
    /// Use open_jetstream_store(): the engine must be started.
    explicit jetstream_store(std::shared_ptr<detail::nats::engine> engine) noexcept : engine_(std::move(engine)) {}

    jetstream_store(jetstream_store const&) = delete;
    jetstream_store& operator=(jetstream_store const&) = delete;

    ~jetstream_store() override
    {
        engine_->stop_and_join();
    }

    /** Publishes the message and completes when JetStream acknowledged it
        (stored, or a duplicate). `id` is its stream sequence.

        @par Errors
        `unavailable`, `timeout`, `full`, `too_large`, `queue_full`,
        `closed`, `internal`: not acknowledged (but maybe stored, see
        Failures).
        @par Cancellation
        Not cancellable (see `message_store::put`).
    */
    asio::awaitable<put_result>
    put(std::string payload, metadata meta) override
    {
        detail::nats::put_job job;
        job.payload = std::move(payload);
        job.meta = std::move(meta);
        return put_impl(engine_, std::move(job));
    }

    /** Takes the next message from the consumer, waiting up to `max_wait`.

        @par Errors
        `closed`; `unavailable` when the cluster could not be asked during
        the whole wait; `cannot_open` when the consumer does not exist.
        @par Cancellation
        Ends the wait with `asio::error::operation_aborted`; a message that
        arrives after that is given back to the server at once (a nak).
    */
    asio::awaitable<std::optional<stored_message>>
    next(std::chrono::steady_clock::duration max_wait) override
    {
        return next_impl(engine_, max_wait);
    }

    /// Acknowledges `id` (waits for the consumer's leader to confirm).
    asio::awaitable<void>
    delivered(std::uint64_t id) override
    {
        detail::nats::settle_job j;
        j.id = id;
        j.kind = detail::nats::settle_kind::delivered;
        return settle(engine_, std::move(j));
    }

    /// Naks `id` with `delay`: the server hands it out again after it.
    asio::awaitable<void>
    retry_later(std::uint64_t id, std::chrono::milliseconds delay, std::string reason) override
    {
        detail::nats::settle_job j;
        j.id = id;
        j.kind = detail::nats::settle_kind::retry;
        j.delay = delay;
        j.reason = std::move(reason);
        return settle(engine_, std::move(j));
    }

    /// Publishes `id` to the dead-letter stream with `reason`, then terminates it.
    asio::awaitable<void>
    dead(std::uint64_t id, std::string reason) override
    {
        detail::nats::settle_job j;
        j.id = id;
        j.kind = detail::nats::settle_kind::dead;
        j.reason = std::move(reason);
        return settle(engine_, std::move(j));
    }

    /// From the stream, consumer and dead-letter stream infos (see Differences).
    asio::awaitable<store_stats>
    stats() override
    {
        detail::nats::stats_job j;
        return work<store_stats>(engine_, std::move(j));
    }

    asio::awaitable<void>
    close() override
    {
        return close_impl(engine_);
    }

    /// The servers (without credentials) and the stream, e.g. `nats://10.0.0.1:4222 stream HL7`.
    std::string
    description() const override
    {
        return engine_->where();
    }

    //----------------------------------------------------------------------

    /** Purges settled messages past `jetstream_options::retention` now (a
        consuming store also does it every `purge_interval`); returns how
        many. The first call only notes the consumer's progress: messages
        go once they were settled at least `retention` before a call. */
    asio::awaitable<std::uint64_t>
    purge()
    {
        detail::nats::purge_job j;
        return work<std::uint64_t>(engine_, std::move(j));
    }

    /// What this object did since it was opened (any thread, no waiting).
    jetstream_counters
    counters() const noexcept
    {
        return engine_->counters();
    }

    /// True while connected to a server (any thread, no waiting).
    bool
    connected() const noexcept
    {
        return engine_->connected();
    }

    jetstream_options const&
    options() const noexcept
    {
        return engine_->options();
    }

private:
    using engine_ptr = std::shared_ptr<detail::nats::engine>;

    static asio::awaitable<put_result>
    put_impl(engine_ptr engine, detail::nats::put_job job)
    {
        co_return co_await detail::await_completion<put_result>([&](detail::completion<put_result> c) {
            job.done = std::move(c);
            engine->put(std::move(job));
        });
    }

    template<class T, class Job>
    static asio::awaitable<T>
    work(engine_ptr engine, Job job)
    {
        co_return co_await detail::await_completion<T>([&](detail::completion<T> c) {
            job.done = std::move(c);
            engine->work(std::move(job));
        });
    }

    static asio::awaitable<void>
    settle(engine_ptr engine, detail::nats::settle_job job)
    {
        co_await work<std::monostate>(std::move(engine), std::move(job));
    }

    static asio::awaitable<void>
    close_impl(engine_ptr engine)
    {
        co_await detail::await_completion<std::monostate>(
            [&](detail::completion<std::monostate> c) { engine->close(std::move(c)); });
    }

    static asio::awaitable<std::optional<stored_message>>
    next_impl(engine_ptr engine, std::chrono::steady_clock::duration max_wait)
    {
        using std::chrono::steady_clock;
        auto const start = steady_clock::now();
        auto r = std::make_shared<detail::nats::fetch_request>();
        r->deadline = max_wait >= steady_clock::time_point::max() - start ? steady_clock::time_point::max()
                                                                           : start + max_wait;
        co_return co_await detail::await_completion<std::optional<stored_message>>(
            [&](detail::completion<std::optional<stored_message>> c) {
                // Installed before the fetcher can complete it (see completion::on_cancel).
                c.on_cancel([r] {
                    r->complete({make_error_code(asio::error::operation_aborted), {}}, std::nullopt);
                });
                {
                    std::lock_guard lock(r->mutex);
                    r->done = std::move(c);
                }
                engine->next(r);
            });
    }

    engine_ptr engine_;
};

namespace detail::nats {

inline asio::awaitable<std::shared_ptr<jetstream_store>>
open_jetstream_store_impl(std::shared_ptr<engine> e)
{
    co_await await_completion<std::monostate>([&](completion<std::monostate> c) { e->start(std::move(c)); });
    co_return std::make_shared<jetstream_store>(std::move(e));
}

} // namespace detail::nats

/** Opens a JetStream store on the cluster at `servers`: one or more NATS
    URLs separated by commas (`nats://10.0.0.1:4222,nats://10.0.0.2:4222`;
    user and password may be given as `nats://user:pass@host:port`). The
    client connects to one of them, learns the others from the cluster, and
    moves to another when its server goes away.

    <!-- doc-test: coroutine body -->
    @code
    auto store = co_await hl7::store::open_jetstream_store("nats://127.0.0.1:4222");
    auto r = co_await store->put(hl7::to_string(msg), hl7::store::make_metadata(msg, "127.0.0.1:40000"));
    @endcode

    With the cluster reachable, the streams and the consumer are checked and
    created when missing (`create_if_missing`). Without it, the store is
    returned anyway (unless `require_connection`): it keeps connecting, puts
    fail with `unavailable` meanwhile, and the layout is checked once
    connected.

    @par Errors
    Throws `store_error`: `cannot_open` (an invalid URL, a stream or
    consumer that cannot be created with these settings, e.g. 3 replicas on
    a single server, or is missing with `create_if_missing` off),
    `unavailable` (no server reachable with `require_connection`, or none
    answering for JetStream).
*/
inline asio::awaitable<std::shared_ptr<jetstream_store>>
open_jetstream_store(std::string servers, jetstream_options options = {})
{
    return detail::nats::open_jetstream_store_impl(
        std::make_shared<detail::nats::engine>(std::move(servers), std::move(options)));
}

} // namespace hl7::store

#endif
