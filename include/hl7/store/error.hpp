#ifndef HL7_STORE_ERROR_HPP
#define HL7_STORE_ERROR_HPP

// Errors of the message store layer (category "hl7.store") and the exception
// the store's coroutines throw. No Asio and no SQLite here: a receiver that
// only names these errors includes this header cheaply.

#include <string>
#include <system_error>
#include <type_traits>

namespace hl7::store {

/** Why a store operation failed. Category `"hl7.store"`.

    Value 0 is never used (it means success). Every backend reports its
    failures with these values, so a receiver can decide what to do without
    knowing which backend it talks to; the exception's text (see
    `store_error`) carries the backend's own words and the file or server.

    A failed `put` never stored the message (no partial store): the caller
    must not acknowledge it. The failures marked *transient* go away by
    themselves (space freed, lock released, disk back); the store then works
    again on the next call, without being reopened.
*/
enum class error {
    /// The store has no room: the disk is full, or the store's own size
    /// limit (`sqlite_options::max_bytes`) is reached. Transient: freeing
    /// space (delivered messages purged, disk cleaned) makes puts work again.
    full = 1,
    /// Reading or writing the storage failed (EIO, a file-size limit, a
    /// vanished disk). Transient when the cause is; the backend reopens its
    /// files on the next operation.
    io_error,
    /// Another process held the store locked past the deadline
    /// (`sqlite_options::busy_timeout`). Transient.
    busy,
    /// The store's queue of pending operations is full
    /// (`sqlite_options::max_queue`): the storage cannot keep up. Transient;
    /// the caller should answer nothing and let the sender resend later.
    queue_full,
    /// The store was closed; no further operations are accepted.
    closed,
    /// The storage is damaged (a page or index does not read back as
    /// written). Not transient: restore from a backup or salvage the file.
    corrupt,
    /// The store was written by a newer version of this library (its
    /// schema version is higher than this one knows). Upgrade the program;
    /// the file is left untouched.
    schema_too_new,
    /// The file exists but is not a message store (another application's
    /// database, or not a database at all). It is left untouched.
    not_a_store,
    /// The store cannot be opened or created: a missing directory, no such
    /// file (when creating is off), too many open files.
    cannot_open,
    /// The storage is read-only (a read-only mount or file).
    read_only,
    /// One message is larger than the backend can store.
    too_large,
    /// The id given to `delivered`/`retry_later`/`dead` is not a message
    /// this consumer took (or it was already settled); nothing changed.
    unknown_message,
    /// Another consumer (another process) is already taking messages from
    /// this store; two would deliver every message twice.
    consumer_busy,
    /// Any other failure of the backend; the exception's text has its words.
    internal,
    /// The store's server or cluster cannot take the operation now: no
    /// connection to it, no server answering for the stream, no leader
    /// elected (network backends: `jetstream_store`). A put that fails so
    /// may still have been stored (the connection was lost after it was
    /// sent): the sender resends and duplicate detection absorbs the copy.
    /// Transient: the store reconnects by itself.
    unavailable,
    /// The store's server did not answer within the deadline (network
    /// backends: `jetstream_options::put_timeout`, `request_timeout`). As
    /// with `unavailable`, a put that timed out may still have been stored.
    /// Transient.
    timeout,
};

} // namespace hl7::store

template<>
struct std::is_error_code_enum<hl7::store::error> : std::true_type
{
};

namespace hl7::store {

namespace detail {

class error_category_impl final : public std::error_category
{
public:
    char const*
    name() const noexcept override
    {
        return "hl7.store";
    }

    std::string
    message(int ev) const override
    {
        switch (static_cast<error>(ev)) {
        case error::full: return "the store is full (disk full or size limit reached)";
        case error::io_error: return "the store's storage failed (I/O error)";
        case error::busy: return "the store was locked by another process past the deadline";
        case error::queue_full: return "the store's queue is full (storage too slow)";
        case error::closed: return "the store is closed";
        case error::corrupt: return "the store is corrupt";
        case error::schema_too_new: return "the store was written by a newer version (schema too new)";
        case error::not_a_store: return "the file is not a message store";
        case error::cannot_open: return "the store cannot be opened";
        case error::read_only: return "the store is read-only";
        case error::too_large: return "the message is too large for the store";
        case error::unknown_message: return "no such message taken from the store";
        case error::consumer_busy: return "another consumer is taking messages from this store";
        case error::internal: return "internal store error";
        case error::unavailable: return "the store's server or cluster is unavailable";
        case error::timeout: return "the store's server did not answer in time";
        }
        return "hl7.store error";
    }

    std::error_condition
    default_error_condition(int ev) const noexcept override
    {
        switch (static_cast<error>(ev)) {
        case error::full: return std::errc::no_space_on_device;
        case error::io_error: return std::errc::io_error;
        case error::busy: return std::errc::device_or_resource_busy;
        case error::queue_full: return std::errc::no_buffer_space;
        case error::read_only: return std::errc::read_only_file_system;
        case error::too_large: return std::errc::file_too_large;
        case error::consumer_busy: return std::errc::resource_unavailable_try_again;
        case error::unavailable: return std::errc::host_unreachable;
        case error::timeout: return std::errc::timed_out;
        default: return {ev, *this};
        }
    }
};

} // namespace detail

/// The `"hl7.store"` error category.
inline std::error_category const&
error_category() noexcept
{
    static detail::error_category_impl const category;
    return category;
}

inline std::error_code
make_error_code(error e) noexcept
{
    return {static_cast<int>(e), error_category()};
}

/** True for the failures that go away by themselves (`full`, `io_error`,
    `busy`, `queue_full`, `unavailable`, `timeout`): a receiver keeps
    serving and the next operation may work. */
inline bool
is_transient(std::error_code const& ec) noexcept
{
    return ec == error::full || ec == error::io_error || ec == error::busy || ec == error::queue_full ||
           ec == error::unavailable || ec == error::timeout;
}

/** What the store's coroutines throw: a `std::system_error` whose code is
    an `hl7::store::error` (or `asio::error::operation_aborted` when the
    awaiting coroutine was cancelled) and whose `what()` says what was being
    done, where, and the backend's own message, e.g.
    `"committing 12 messages to sqlite:/var/lib/hl7/in.db: database or disk
    is full (SQLITE_FULL): the store is full (disk full or size limit reached)"`.
*/
class store_error : public std::system_error
{
public:
    explicit store_error(std::error_code ec) : std::system_error(ec) {}

    store_error(std::error_code ec, std::string const& detail) : std::system_error(ec, detail) {}
};

} // namespace hl7::store

#endif
