#ifndef HL7_STREAM_WRITER_HPP
#define HL7_STREAM_WRITER_HPP

// hl7::stream_writer: python-hl7's HL7StreamWriter for Asio coroutines.

#include <hl7/detail/asio_config.hpp>
#include <hl7/net/endpoint.hpp>
#include <hl7/net/detail/connection.hpp>
#include <hl7/model/message.hpp>
#include <hl7/mllp/error.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>

#include <any>
#include <cstddef>
#include <memory>
#include <string_view>
#include <utility>

namespace hl7 {

/** The writing half of an MLLP connection (python-hl7's `HL7StreamWriter`).

    `writemessage()`/`writeblock()` never block and never wait: like an
    asyncio transport, on a socket the frame is sent at once if the socket
    takes it (usually all of it, in one system call) and the rest is queued
    and sent in the background, whether or not anyone awaits `drain()`.
    On other streams (TLS) every frame is queued and written in the
    background.

    @par Back-pressure
    `drain()` waits until everything queued so far has been handed to the
    operating system (it returns at once when nothing is queued). A handler
    that awaits `drain()` after each answer is therefore slowed to the pace
    of its peer and holds at most one answer in memory. On server
    connections two limits bound the rest (see `server_options`):
    `max_write_queue` (a write that would queue more closes the connection)
    and `write_timeout` (queued data the peer does not take for that long
    closes it). Client connections have neither: drain() is the bound.

    @par Errors
    `writemessage()`/`writeblock()` throw `std::system_error` if the writer
    is closing (`mllp::error::connection_closed`) or the connection already
    failed (its error; `mllp::timeout_error` for a timeout), and
    `mllp::error::write_queue_full` when they hit the limit. A failure found
    by the background write is reported by the next `drain()` (and write),
    as asyncio does.

    @par Thread safety
    Call from the connection's executor (see `stream_reader`).
*/
class stream_writer
{
public:
    explicit stream_writer(std::shared_ptr<detail::connection_base> state) noexcept : state_(std::move(state)) {}

    /// Queues `m` (serialised, segments ending in CR) as one frame.
    void
    writemessage(message const& m)
    {
        state_->write_message(m);
    }

    /// Queues `block` as one frame; the bytes are copied only if they cannot be sent at once.
    void
    writeblock(std::string_view block)
    {
        state_->write_block(block);
    }

    /// Waits until every queued byte is on its way (see Back-pressure).
    asio::awaitable<void>
    drain()
    {
        return detail::connection_base::drain(state_);
    }

    /** Closes the connection: no more writes, queued frames are still sent,
        then the stream is closed (reads then throw
        `incomplete_read_error(connection_closed)`). */
    void
    close()
    {
        state_->close();
    }

    /// Closes at once, dropping queued frames (asyncio's `transport.abort()`).
    void
    abort()
    {
        state_->abort(mllp::make_error_code(mllp::error::connection_closed));
    }

    /// Waits until the stream is closed (after close(), abort(), a failure or a server limit).
    asio::awaitable<void>
    wait_closed()
    {
        return detail::connection_base::wait_closed(state_);
    }

    /// True once close() or abort() was called, or the connection failed or
    /// was closed by a limit. (A peer that closed its side is seen by reads.)
    bool
    is_closing() const noexcept
    {
        return state_->is_closing();
    }

    /// Bytes queued and not yet handed to the operating system.
    std::size_t
    write_buffer_size() const noexcept
    {
        return state_->write_buffer_size();
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

    /// asyncio's `get_extra_info(name)`; see `stream_reader::get_extra_info`.
    std::any
    get_extra_info(std::string_view name) const
    {
        return state_->extra_info(name);
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
