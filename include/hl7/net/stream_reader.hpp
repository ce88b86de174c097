#ifndef HL7_STREAM_READER_HPP
#define HL7_STREAM_READER_HPP

// hl7::stream_reader: python-hl7's HL7StreamReader for Asio coroutines.

#include <hl7/detail/asio_config.hpp>
#include <hl7/net/endpoint.hpp>
#include <hl7/net/detail/connection.hpp>
#include <hl7/model/message.hpp>
#include <hl7/mllp/error.hpp>
#include <hl7/mllp/frame_decoder.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>

#include <any>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace hl7 {

/** The reading half of an MLLP connection (python-hl7's `HL7StreamReader`).

    Obtained from `open_hl7_connection()`, `open_hl7_unix_connection()`,
    `make_hl7_connection()` or as the first argument of a server's connection
    handler; copies share the connection. The same type whatever carries the
    connection (TCP, UNIX-domain socket, TLS, a test stream).

    @par Errors
    Reads throw, as python-hl7 does:
    @li `mllp::incomplete_read_error`: the stream ended: the peer closed
        (`mllp::error::end_of_stream`, or `incomplete_frame` with the cut-off
        bytes in `partial()`), the connection was reset (the OS code), or it
        was closed on this side (`connection_closed`, or the limit that closed
        it, e.g. `write_queue_full`). Further reads throw again.
    @li `mllp::invalid_block_error` (strict framing), `mllp::frame_too_large_error`:
        that frame was consumed and is lost; the next read continues with the
        next frame, so a handler can answer with a NAK and go on.
    @li `mllp::timeout_error`: `connection_options::read_timeout` (the
        connection stays usable) or a server limit (`idle_timeout`,
        `frame_timeout`, `handler_timeout`: the connection was closed).
    @li `hl7::parse_error` from `readmessage()` for a payload that is not a
        message; the frame was consumed and `last_block()` still holds it,
        e.g. for `hl7::make_nak()`.
    @li `std::system_error(operation_aborted)` when the awaiting coroutine is
        cancelled (e.g. by `hl7::wait_for`); no input is lost.

    @par Lifetimes
    Each operation keeps the connection alive until it completes.

    @par Thread safety
    Call from the connection's executor (`get_executor()`): the handler
    coroutine a server starts runs there; for clients it is the executor of
    the coroutine that called `open_hl7_connection`. One read at a time.
*/
class stream_reader
{
public:
    explicit stream_reader(std::shared_ptr<detail::connection_base> state) noexcept : state_(std::move(state)) {}

    /** Reads the next frame and parses it with `connection_options::parse`.
        A frame of 64 KiB or more is not copied: the message takes the
        buffer it was read into. */
    asio::awaitable<message>
    readmessage()
    {
        return detail::connection_base::read_message(state_);
    }

    /// Reads the next frame's payload, as bytes (any encoding; never decoded).
    asio::awaitable<std::string>
    readblock()
    {
        return detail::connection_base::read_block_copy(state_);
    }

    /// As readblock() without the copy: the view is valid until the next read.
    asio::awaitable<std::string_view>
    readblock_view()
    {
        return detail::connection_base::read_block(state_);
    }

    /** The payload of the last frame read, valid until the next read. After
        `readmessage()` threw `hl7::parse_error`, this is the unparsable
        payload (for a NAK); empty after an invalid or oversized frame. After
        a successful `readmessage()` it shows the bytes the message now holds:
        use it only while that message is alive and unchanged. */
    std::string_view
    last_block() const noexcept
    {
        return state_->last_block();
    }

    /// The peer's address (asyncio's `get_extra_info("peername")`); empty
    /// for streams that have none.
    endpoint
    peername() const
    {
        return state_->peer();
    }

    /// This side's address (`get_extra_info("sockname")`).
    endpoint
    sockname() const
    {
        return state_->local();
    }

    /** asyncio's `get_extra_info(name)`: `"peername"` and `"sockname"` (an
        `hl7::endpoint`), and whatever the stream's `hl7::stream_traits`
        answer (TLS facts, for example); an empty `std::any` otherwise. */
    std::any
    get_extra_info(std::string_view name) const
    {
        return state_->extra_info(name);
    }

    /// The decoder's statistics (junk skipped, frames restarted, ...).
    mllp::frame_decoder const&
    decoder() const noexcept
    {
        return state_->decoder();
    }

    asio::any_io_executor
    get_executor() const noexcept
    {
        return state_->get_executor();
    }

private:
    std::shared_ptr<detail::connection_base> state_;
};

} // namespace hl7

#endif
