#ifndef HL7_STORE_STORE_HPP
#define HL7_STORE_STORE_HPP

// hl7::store::message_store: where a receiver puts a message before it
// acknowledges it, and where a forwarder takes it from. Backends: SQLite
// (hl7/store/sqlite.hpp, target hl7::sqlite); others fit the same interface.

#include <hl7/detail/asio_config.hpp>
#include <hl7/model/message.hpp>
#include <hl7/store/error.hpp>

#include <asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace hl7::store {

/** What the store keeps about a message besides its bytes.

    The sender (MSH-3 sending application, MSH-4 sending facility) and
    MSH-10 (message control id) are the duplicate-detection key and the
    sender is the ordering key (see `message_store`). The values are the raw
    fields as they appear in the message (components and escapes included),
    so a resent message yields the same key byte for byte.
*/
struct metadata
{
    /// MSH-3, raw.
    std::string sending_application{};
    /// MSH-4, raw.
    std::string sending_facility{};
    /// MSH-10, raw. Empty: the message is never treated as a duplicate.
    std::string control_id{};
    /// MSH-9, raw (e.g. `ADT^A01^ADT_A01`); informational.
    std::string message_type{};
    /// Where the message came from (e.g. `10.1.2.3:50312`); informational.
    std::string peer{};
    /// When the message was received. The default (the clock's epoch)
    /// means "now": the store fills in the time it accepted the put.
    std::chrono::system_clock::time_point received{};
};

/** The metadata of a parsed message: MSH-3, MSH-4, MSH-10 and MSH-9 raw,
    `peer` and `received` as given. A message without those fields gives
    empty values (never throws for a message that parsed). */
inline metadata
make_metadata(message const& msg, std::string peer = {},
              std::chrono::system_clock::time_point received = std::chrono::system_clock::now())
{
    metadata m;
    if (msg.has_segment("MSH")) {
        auto const msh = msg.segment("MSH");
        m.sending_application = std::string(msh.field(3).raw());
        m.sending_facility = std::string(msh.field(4).raw());
        m.message_type = std::string(msh.field(9).raw());
        m.control_id = std::string(msh.field(10).raw());
    }
    m.peer = std::move(peer);
    m.received = received;
    return m;
}

/// What `put` did with a message; both mean "safe, acknowledge it".
enum class put_status {
    /// Durably stored now.
    stored,
    /// Already stored within the duplicate window (same MSH-3, MSH-4 and
    /// MSH-10): not stored again; counted in `store_stats::duplicates`.
    duplicate,
};

struct put_result
{
    put_status status = put_status::stored;
    /// The message's id in the store; for a duplicate, the id of the copy
    /// stored earlier.
    std::uint64_t id = 0;
};

/// A message taken by a consumer (`message_store::next`).
struct stored_message
{
    /// Identifies the message in `delivered`/`retry_later`/`dead`. Ids
    /// grow in the order messages were stored and are never reused.
    std::uint64_t id = 0;
    /// The bytes as received (the MLLP payload).
    std::string payload{};
    metadata meta{};
    /// When the store committed it.
    std::chrono::system_clock::time_point stored{};
    /// Failed delivery attempts so far (`retry_later` or `dead` calls).
    std::uint32_t attempts = 0;
    /// The reason given with the last `retry_later`, if any.
    std::string last_error{};
};

/// Counts by state (`message_store::stats`).
struct store_stats
{
    /// Waiting for delivery, including `retrying` and messages taken but not yet settled.
    std::uint64_t queued = 0;
    /// Of `queued`: waiting for the time set by `retry_later`.
    std::uint64_t retrying = 0;
    /// Delivered and still kept (for duplicate detection and audit; purged after the retention time).
    std::uint64_t delivered = 0;
    /// Dead letters: given up on (`dead`), kept until requeued.
    std::uint64_t dead = 0;
    /// Duplicates absorbed since the store was created.
    std::uint64_t duplicates = 0;
    /// Distinct senders (MSH-3, MSH-4) ever seen.
    std::uint64_t senders = 0;
};

/** A durable queue of HL7 messages: receivers put, forwarders take.

    @par Putting
    `co_await put(payload, meta)` returns only once the message is durable
    (for SQLite: committed and fsynced) or was already stored (a duplicate);
    either way the message is safe and the sender may be acknowledged. On
    failure it throws `store_error` and the message is not stored: the
    caller must not acknowledge it.

    @par Taking, in order
    `co_await next(max_wait)` hands out the oldest message that may go now,
    and the consumer settles it with exactly one of `delivered`,
    `retry_later` or `dead`. Order is kept per sender (MSH-3, MSH-4): while
    a sender's message is taken and not settled, or waits for its retry
    time, no later message of that sender is handed out; messages of other
    senders are. A message marked dead no longer holds its sender back.
    A message taken but never settled (the consumer crashed) is handed out
    again once the store is reopened: delivery is at least once, and a
    receiver drops the duplicate by its MSH-10. Until then it holds its
    sender back, so a consumer that gives up on a message without a verdict
    must still settle it (`retry_later(id, 0ms, why)` hands it out again).

    @par Thread safety
    Every function may be called from any thread and from several
    coroutines at once. Each awaiting coroutine resumes on its own executor;
    backend threads never touch the caller's I/O objects.

    @par Lifetime
    A backend may complete operations from a thread of its own: close the
    store (or destroy it, which waits for its thread) before destroying the
    io_context its callers run on.

    @par Errors
    Every operation throws `store_error` (see `hl7::store::error`).

    @par Why coroutines, not completion tokens
    A virtual function cannot be a template over completion tokens, and
    Asio 1.22 has no `any_completion_handler` to erase one; `asio::awaitable<T>`
    is a concrete type, so a backend is an ordinary derived class and the
    receiver and forwarder are written once against this interface. The
    price is one coroutine frame per call, nothing next to an fsync.
*/
class message_store
{
public:
    virtual ~message_store() = default;

    /** Stores `payload` (the message's bytes, any encoding) durably.

        @par Errors
        `full`, `io_error`, `busy`, `queue_full`, `too_large`, `closed`,
        `corrupt`, `read_only`, `internal`: not stored.
        @par Cancellation
        Not cancellable: once handed to the backend the put runs to its end
        (bounded by the backend's lock deadline), so its result is known.
    */
    virtual asio::awaitable<put_result>
    put(std::string payload, metadata meta) = 0;

    /** Takes the next message that may be delivered now (see Taking, in
        order), waiting up to `max_wait` for one; `std::nullopt` if none came.
        Zero means "do not wait".

        @par Errors
        `closed` (also when the store is closed while waiting),
        `consumer_busy`, the storage errors.
        @par Cancellation
        Cancelling the awaiting coroutine ends the wait with
        `asio::error::operation_aborted`; nothing is taken.
    */
    virtual asio::awaitable<std::optional<stored_message>>
    next(std::chrono::steady_clock::duration max_wait) = 0;

    /// The message `id` (taken by this consumer) was delivered: it leaves the queue.
    virtual asio::awaitable<void>
    delivered(std::uint64_t id) = 0;

    /** Delivering `id` failed; hand it out again after `delay`. Its sender's
        later messages wait too. `reason` is kept for the operator. */
    virtual asio::awaitable<void>
    retry_later(std::uint64_t id, std::chrono::milliseconds delay, std::string reason) = 0;

    /// Gives up on `id`: it becomes a dead letter (kept, listed, requeueable), with `reason`.
    virtual asio::awaitable<void>
    dead(std::uint64_t id, std::string reason) = 0;

    /// Counts by state.
    virtual asio::awaitable<store_stats>
    stats() = 0;

    /** Closes the store: operations already handed to it finish (queued
        puts are committed and answered), later ones and waiting `next`
        calls fail with `closed`; completes when the backend has released
        its resources. Idempotent. */
    virtual asio::awaitable<void>
    close() = 0;

    /// What this store is, for logs (e.g. `sqlite:/var/lib/hl7/in.db`).
    virtual std::string
    description() const = 0;
};

/** A store location split as `scheme:rest` (`sqlite:/var/lib/x.db` gives
    `{"sqlite", "/var/lib/x.db"}`; `nats://host:4222` gives
    `{"nats", "//host:4222"}`). No scheme gives an empty scheme. */
struct store_location
{
    std::string scheme{};
    std::string rest{};
};

inline store_location
parse_store_location(std::string_view text)
{
    auto const colon = text.find(':');
    // A single letter before ':' is a Windows drive, not a scheme.
    if (colon == std::string_view::npos || colon < 2)
        return {{}, std::string(text)};
    for (char c : text.substr(0, colon))
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' || c == '-' ||
              c == '.'))
            return {{}, std::string(text)};
    return {std::string(text.substr(0, colon)), std::string(text.substr(colon + 1))};
}

} // namespace hl7::store

#endif
