#ifndef HL7_MLLP_ERROR_HPP
#define HL7_MLLP_ERROR_HPP

// Errors of the MLLP layer (framing, I/O, limits and timeouts) and the typed
// exceptions the coroutine facade throws. No Asio here: the frame decoder and
// anyone who only wants to name these errors can include it cheaply.

#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

namespace hl7::mllp {

/** Errors of MLLP framing and of connections. Category `"hl7.mllp"`.

    Value 0 is never used (it means success). Every value maps to a portable
    `std::errc` condition where one fits, so `ec == std::errc::timed_out`
    holds for every timeout below. Codes from the operating system or Asio
    (connection reset, refused, ...) are passed through unchanged; only
    Asio's `eof` is translated, into `end_of_stream` or `incomplete_frame`.
    (Asio 1.22's own codes do not compare equal to `std::errc` values:
    compare them with `asio::error::...`.)
*/
enum class error {
    /// The peer closed the connection between frames (no frame was in progress).
    end_of_stream = 1,
    /// The peer closed the connection in the middle of a frame; the partial
    /// frame is lost (`incomplete_read_error::partial()` holds it).
    incomplete_frame,
    /// Bytes that do not form a frame: with `framing::strict`, a block that
    /// does not begin with the start block character VT (0x0B). That block
    /// has been consumed; the next read continues with the next frame.
    invalid_block,
    /// A frame's payload exceeded the size limit. The frame was discarded up
    /// to its end (memory stays bounded); the next read continues after it.
    frame_too_large,
    /// An operation did not finish in time (`hl7::wait_for`).
    timeout,
    /// Connecting did not finish within `connection_options::connect_timeout`.
    connect_timeout,
    /// No frame arrived within `connection_options::read_timeout`.
    read_timeout,
    /// The server closed a connection that sent no frame for `server_options::idle_timeout`.
    idle_timeout,
    /// The server closed a connection whose frame did not end within `server_options::frame_timeout`.
    frame_timeout,
    /// The server closed a connection whose handler held a received frame
    /// longer than `server_options::handler_timeout` without reading the next.
    handler_timeout,
    /// The peer accepted no queued byte for `server_options::write_timeout`
    /// (it stopped reading); the connection was closed.
    write_timeout,
    /// Queued, unsent data would exceed `server_options::max_write_queue`;
    /// the connection was closed.
    write_queue_full,
    /// The server already had `server_options::max_connections` connections;
    /// this one was closed at once.
    connection_limit,
    /// The connection was closed on this side (`close()`, server shutdown);
    /// no more frames can be read or written.
    connection_closed,
};

} // namespace hl7::mllp

template<>
struct std::is_error_code_enum<hl7::mllp::error> : std::true_type
{
};

namespace hl7::mllp {

namespace detail {

class error_category_impl final : public std::error_category
{
public:
    char const*
    name() const noexcept override
    {
        return "hl7.mllp";
    }

    std::string
    message(int ev) const override
    {
        switch (static_cast<error>(ev)) {
        case error::end_of_stream: return "peer closed the connection";
        case error::incomplete_frame: return "peer closed the connection in the middle of a frame";
        case error::invalid_block: return "Block does not begin with Start Block character <VT>";
        case error::frame_too_large: return "frame is larger than the size limit";
        case error::timeout: return "operation timed out";
        case error::connect_timeout: return "connect timed out";
        case error::read_timeout: return "no frame received within the read timeout";
        case error::idle_timeout: return "connection idle for too long";
        case error::frame_timeout: return "frame did not end within the frame timeout";
        case error::handler_timeout: return "handler did not finish the message within the handler timeout";
        case error::write_timeout: return "peer stopped reading (write timeout)";
        case error::write_queue_full: return "write queue exceeded its limit";
        case error::connection_limit: return "too many connections";
        case error::connection_closed: return "connection closed";
        }
        return "hl7.mllp error";
    }

    std::error_condition
    default_error_condition(int ev) const noexcept override
    {
        switch (static_cast<error>(ev)) {
        case error::invalid_block: return std::errc::bad_message;
        case error::frame_too_large: return std::errc::message_size;
        case error::timeout:
        case error::connect_timeout:
        case error::read_timeout:
        case error::idle_timeout:
        case error::frame_timeout:
        case error::handler_timeout:
        case error::write_timeout: return std::errc::timed_out;
        case error::write_queue_full: return std::errc::no_buffer_space;
        case error::connection_limit: return std::errc::connection_refused;
        case error::connection_closed: return std::errc::not_connected;
        default: return {ev, *this};
        }
    }
};

} // namespace detail

/// The `"hl7.mllp"` error category.
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

/// True for the codes that mean "took too long" (all map to `std::errc::timed_out`).
inline bool
is_timeout(std::error_code const& ec) noexcept
{
    return ec == std::errc::timed_out;
}

//--------------------------------------------------------------------------
// Exceptions thrown by the coroutine facade (stream_reader, stream_writer,
// open_hl7_connection, wait_for). Each is a std::system_error, so
// `catch (std::system_error const&)` plus `e.code()` works everywhere; the
// types mirror python-hl7 / asyncio so handlers can be written the same way.

/** The stream ended before a complete frame arrived (asyncio's
    `IncompleteReadError`). Thrown when the peer closed (`end_of_stream`,
    `incomplete_frame`), the connection was reset, or it was closed on this
    side (`connection_closed`, or the limit that closed it). `partial()` holds
    the bytes of the unfinished frame, if any. */
class incomplete_read_error : public std::system_error
{
public:
    explicit incomplete_read_error(std::error_code ec, std::string partial = {})
        : std::system_error(ec), partial_(std::move(partial))
    {
    }

    std::string const&
    partial() const noexcept
    {
        return partial_;
    }

private:
    std::string partial_;
};

/// A block that is not a frame (python-hl7's `InvalidBlockError`). The block
/// was consumed; reading again continues with the next frame.
class invalid_block_error : public std::system_error
{
public:
    explicit invalid_block_error(std::error_code ec = make_error_code(error::invalid_block))
        : std::system_error(ec)
    {
    }
};

/// A frame larger than the size limit (python-hl7 raises `ValueError`). The
/// frame was discarded; reading again continues with the next frame.
class frame_too_large_error : public std::system_error
{
public:
    explicit frame_too_large_error(std::error_code ec = make_error_code(error::frame_too_large))
        : std::system_error(ec)
    {
    }
};

/// An operation that did not finish in time (asyncio's `TimeoutError`). The
/// code says which limit: `timeout`, `connect_timeout`, `read_timeout`,
/// `idle_timeout`, `frame_timeout`, `handler_timeout` or `write_timeout`.
class timeout_error : public std::system_error
{
public:
    explicit timeout_error(std::error_code ec = make_error_code(error::timeout))
        : std::system_error(ec)
    {
    }
};

} // namespace hl7::mllp

#endif
