#ifndef HL7_MLLP_FRAME_HPP
#define HL7_MLLP_FRAME_HPP

// MLLP frame read/write as Asio composed operations over any AsyncStream
// (tcp::socket, local::stream_protocol::socket, ssl::stream<...>), usable
// with any completion token: callbacks, use_awaitable, as_tuple(use_awaitable),
// use_future, ... They report std::error_codes and never throw.

#include <hl7/detail/asio_config.hpp>
#include <hl7/mllp/error.hpp>
#include <hl7/mllp/frame_decoder.hpp>

#include <asio/async_result.hpp>
#include <asio/buffer.hpp>

#include <array>
#include <cstddef>
#include <string_view>
#include <system_error>

namespace hl7::mllp {

namespace detail {
inline constexpr char frame_header[1] = {start_block};
inline constexpr char frame_trailer[2] = {end_block, carriage_return};
} // namespace detail

/** The three buffers of a frame around `payload`: VT, the payload, FS CR.

    For one gather write (`asio::async_write(s, frame_buffers(p), ...)`)
    without copying the payload. The first and last buffers refer to static
    storage; the middle one to `payload`, which must outlive the write.
*/
inline std::array<asio::const_buffer, 3>
frame_buffers(std::string_view payload) noexcept
{
    return {asio::const_buffer(detail::frame_header, sizeof detail::frame_header),
            asio::const_buffer(payload.data(), payload.size()),
            asio::const_buffer(detail::frame_trailer, sizeof detail::frame_trailer)};
}

/** Reads one MLLP frame from `stream` through `decoder`.

    Returns at once (without I/O, but never inline: the handler is posted)
    if the decoder already holds a complete frame or an error, so frames
    that arrived coalesced in one read come out one per call. Otherwise it
    reads into the decoder's buffer (`async_read_some`, no copy) until a
    frame or an error is complete.

    @param stream An AsyncReadStream. Only one read may be outstanding on it.
    @param decoder Holds partial input between calls, the size limit and the
        junk policy. Use one decoder per stream, for the life of the stream.
    @param token The completion token. The completion signature is
    @code void(std::error_code ec, std::string_view payload) @endcode

    @par Errors
    @li `error::invalid_block`, `error::frame_too_large`: that frame was
        consumed; call again for the next one.
    @li `error::end_of_stream` (the peer closed between frames),
        `error::incomplete_frame` (it closed inside one; `decoder.partial()`
        holds the bytes): the translation of Asio's `eof`.
    @li anything else from the stream (reset, `operation_aborted`, ...) as is.

    @par Lifetimes
    `stream` and `decoder` must outlive the operation. `payload` points into
    the decoder and stays valid until the decoder is used again.

    @par Cancellation
    Supports terminal and partial cancellation through the token's
    cancellation slot (forwarded to `async_read_some`); no input is lost: the
    decoder keeps every byte read so far and the next call continues.
*/
template<class AsyncReadStream,
         ASIO_COMPLETION_TOKEN_FOR(void(std::error_code, std::string_view)) ReadToken =
             asio::default_completion_token_t<typename AsyncReadStream::executor_type>>
auto
async_read_frame(AsyncReadStream& stream, frame_decoder& decoder,
                 ReadToken&& token = asio::default_completion_token_t<typename AsyncReadStream::executor_type>());

/** Writes `payload` as one MLLP frame: a single gather write of VT, the
    payload and FS CR (`asio::async_write`, no copy of the payload).

    @param stream An AsyncWriteStream. Only one write may be outstanding on it.
    @param payload The frame's content. It is sent as bytes, unchanged and
        unchecked (a payload containing FS CR would end the frame early).
    @param token The completion token. The completion signature is
    @code void(std::error_code ec, std::size_t payload_bytes_written) @endcode

    @par Lifetimes
    `stream` and the bytes `payload` refers to must outlive the operation.

    @par Cancellation
    As `asio::async_write`: cancellation may leave a partial frame on the
    wire, after which the connection should be closed.
*/
template<class AsyncWriteStream,
         ASIO_COMPLETION_TOKEN_FOR(void(std::error_code, std::size_t)) WriteToken =
             asio::default_completion_token_t<typename AsyncWriteStream::executor_type>>
auto
async_write_frame(AsyncWriteStream& stream, std::string_view payload,
                  WriteToken&& token = asio::default_completion_token_t<typename AsyncWriteStream::executor_type>());

} // namespace hl7::mllp

#include <hl7/mllp/impl/frame.hpp>

#endif
