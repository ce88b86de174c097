#ifndef HL7_STORE_SQLITE_OPTIONS_HPP
#define HL7_STORE_SQLITE_OPTIONS_HPP

// Settings and records of the SQLite store (hl7/store/sqlite.hpp). No SQLite
// and no Asio here.

#include <hl7/store/store.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace hl7::store {

/** Settings of an SQLite store. Every limit has a safe default; the
    durability settings (WAL, synchronous=FULL) are not options.
*/
struct sqlite_options
{
    // Every member has an initializer: g++ 12 warns (-Wmissing-field-initializers)
    // about designated initializers that skip a member without one.

    /// Create the file (and the schema) if it does not exist. Default on.
    /// Off: a missing file is `error::cannot_open`.
    bool create_if_missing = true;

    /** A message whose MSH-3, MSH-4 and MSH-10 match one stored this
        recently is a duplicate: acknowledged, not stored again. Default
        24 hours: senders resend within seconds to hours after a lost ACK,
        and a control id reused a day later is a new message for most
        feeds. Zero turns duplicate detection off. */
    std::chrono::milliseconds dedup_window = std::chrono::hours(24);

    /** Delivered messages are kept at least this long after delivery
        (never less than `dedup_window`, which needs them), then purged.
        Default 24 hours. */
    std::chrono::milliseconds retention = std::chrono::hours(24);

    /** How often delivered messages past their retention are purged (in
        chunks, between commits). Default 1 minute. Zero: never
        automatically (`sqlite_store::purge()` still works). */
    std::chrono::milliseconds purge_interval = std::chrono::minutes(1);

    /** How long a commit waits for another process holding the database's
        write lock (another receiver, a forwarder, `hl7_store requeue`)
        before its puts fail with `error::busy`. Default 5 s: well below a
        sender's usual ACK timeout (10-30 s), so the sender hears nothing
        and resends rather than timing out on a stuck store. */
    std::chrono::milliseconds busy_timeout = std::chrono::seconds(5);

    /** Most operations committed in one transaction (one fsync). Default
        1000. While a commit runs, further puts queue; the next transaction
        takes them all up to this: group commit. 1 commits every put on its
        own (the benchmark's peer). */
    std::size_t max_batch = 1000;

    /// Most message bytes in one transaction. Default 16 MiB (at least one message always goes).
    std::size_t max_batch_bytes = std::size_t{16} << 20;

    /** Most puts waiting for the database thread. A put beyond it fails at
        once with `error::queue_full` (the receiver answers nothing and the
        sender resends later) instead of waiting: failing keeps the memory
        bounded when the disk stalls, while waiting would let every
        connection's message pile up. Default 10,000, far above what group
        commit keeps queued when the disk works (about one batch). */
    std::size_t max_queue = 10000;

    /// Most message bytes waiting for the database thread (as `max_queue`). Default 256 MiB.
    std::size_t max_queue_bytes = std::size_t{256} << 20;

    /** Largest size of the database, in bytes (SQLite's `max_page_count`);
        a put that would pass it fails alone with `error::full` (the other
        puts of its transaction are stored) until delivered messages are
        purged. Consumers' updates (`delivered`, `dead`, requeue) may use a
        reserve of 2% more, so a full store can still be drained. The WAL
        file comes on top (a few MiB between checkpoints). Default 0: no
        limit but the disk. */
    std::uint64_t max_bytes = 0;

    /** How often a waiting `next()` looks for messages stored by another
        process (a receiver's puts in this process wake it at once).
        Default 200 ms. */
    std::chrono::milliseconds poll_interval = std::chrono::milliseconds(200);

    /** The wall clock for stored times, the duplicate window, retry times
        and retention. Default: `std::chrono::system_clock::now`. Tests pass
        a fake one; it must be callable from the database thread. */
    std::function<std::chrono::system_clock::time_point()> clock{};
};

/// Where a message is in its life.
enum class message_state {
    queued = 0,
    delivered = 1,
    dead = 2,
};

/// "queued", "delivered", "dead".
inline char const*
to_string(message_state s) noexcept
{
    switch (s) {
    case message_state::queued: return "queued";
    case message_state::delivered: return "delivered";
    case message_state::dead: return "dead";
    }
    return "?";
}

/// A message as `sqlite_store::list` shows it.
struct message_record
{
    std::uint64_t id = 0;
    message_state state = message_state::queued;
    metadata meta{};
    std::chrono::system_clock::time_point stored{};
    std::uint32_t attempts = 0;
    /// For queued messages held back by `retry_later`: when they may go.
    std::optional<std::chrono::system_clock::time_point> not_before{};
    /// When it was delivered or declared dead.
    std::optional<std::chrono::system_clock::time_point> settled{};
    std::string last_error{};
    /// The payload's size in bytes.
    std::uint64_t size = 0;
    /// The payload itself, only when asked for (`list_options::with_payload`).
    std::optional<std::string> payload{};
};

/// Which messages `sqlite_store::list` returns.
struct list_options
{
    message_state state = message_state::dead;
    /// Only ids above this (for paging).
    std::uint64_t after_id = 0;
    /// At most this many. Default 100.
    std::size_t limit = 100;
    /// Include the payloads (they may hold patient data). Default off.
    bool with_payload = false;
};

/// What this process's store object did since it was opened.
struct sqlite_counters
{
    /// Puts stored.
    std::uint64_t stored = 0;
    /// Puts found to be duplicates.
    std::uint64_t duplicates = 0;
    /// Transactions committed (each one fsync of the WAL).
    std::uint64_t commits = 0;
    /// Transactions that failed (their puts were reported failed).
    std::uint64_t failed_commits = 0;
    /// Puts refused at once because the queue was full.
    std::uint64_t queue_full = 0;
    /// Delivered messages purged after their retention.
    std::uint64_t purged = 0;
};

} // namespace hl7::store

#endif
