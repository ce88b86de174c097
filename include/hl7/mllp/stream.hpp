#ifndef HL7_MLLP_STREAM_HPP
#define HL7_MLLP_STREAM_HPP

// hl7::mllp::stream<NextLayer>: an MLLP block stream over any stream layer,
// shaped like Beast's websocket::stream.

#include <hl7/detail/asio_config.hpp>
#include <hl7/mllp/error.hpp>
#include <hl7/mllp/frame.hpp>
#include <hl7/mllp/frame_decoder.hpp>
#include <hl7/mllp/detail/read_step.hpp>
#include <hl7/mllp/detail/transport_error.hpp>

#include <asio/async_result.hpp>
#include <asio/buffer.hpp>
#include <asio/write.hpp>

#include <algorithm>
#include <cstddef>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

namespace hl7::mllp {

/** Reads and writes MLLP blocks (frame payloads) over a stream layer.

    `NextLayer` is any stream with `async_read_some`/`async_write_some` (and
    `read_some`/`write_some` for the synchronous calls): `tcp::socket`,
    `local::stream_protocol::socket`, `ssl::stream<tcp::socket>`, or a
    reference to one (`stream<tcp::socket&>`), which leaves ownership with the
    caller. The stream holds a `frame_decoder` for input that arrived ahead of
    the current block.

    @par Thread safety
    Distinct objects: safe. Shared objects: unsafe. At most one read and one
    write may be outstanding at a time, started from the stream's executor
    (or its strand, when the io_context runs on several threads).

    @par Lifetimes
    Must not be moved or destroyed while operations are outstanding.
*/
template<class NextLayer>
class stream
{
public:
    using next_layer_type = std::remove_reference_t<NextLayer>;
    using executor_type = typename next_layer_type::executor_type;

    /// Constructs the next layer from `args` (e.g. an executor, an io_context or a socket).
    template<class... Args>
    explicit stream(Args&&... args) : next_layer_(std::forward<Args>(args)...)
    {
    }

    stream(stream&&) = default;
    stream& operator=(stream&&) = default;

    executor_type
    get_executor() noexcept
    {
        return next_layer_.get_executor();
    }

    next_layer_type&
    next_layer() noexcept
    {
        return next_layer_;
    }

    next_layer_type const&
    next_layer() const noexcept
    {
        return next_layer_;
    }

    /// The decoder: limit (`max_frame_size`, default 16 MiB), junk policy
    /// (`policy`, default lenient), statistics.
    frame_decoder&
    decoder() noexcept
    {
        return decoder_;
    }

    frame_decoder const&
    decoder() const noexcept
    {
        return decoder_;
    }

    /** Reads the next block (a frame's payload).

        Completion signature: @code void(std::error_code ec, std::string_view block) @endcode
        `block` stays valid until the next read. Errors, cancellation and
        the no-inline guarantee are those of `async_read_frame`.
    */
    template<ASIO_COMPLETION_TOKEN_FOR(void(std::error_code, std::string_view)) ReadToken =
                 asio::default_completion_token_t<executor_type>>
    auto
    async_read_block(ReadToken&& token = asio::default_completion_token_t<executor_type>())
    {
        return async_read_frame(next_layer_, decoder_, std::forward<ReadToken>(token));
    }

    /** Writes `block` as one frame with a single gather write (no copy).

        Completion signature: @code void(std::error_code ec, std::size_t block_bytes_written) @endcode
        The bytes `block` refers to must stay valid until completion.
    */
    template<ASIO_COMPLETION_TOKEN_FOR(void(std::error_code, std::size_t)) WriteToken =
                 asio::default_completion_token_t<executor_type>>
    auto
    async_write_block(std::string_view block,
                      WriteToken&& token = asio::default_completion_token_t<executor_type>())
    {
        return async_write_frame(next_layer_, block, std::forward<WriteToken>(token));
    }

    /// Blocking read of the next block; errors as `async_read_block`.
    std::string_view
    read_block(std::error_code& ec)
    {
        // The steps of the asynchronous read, carried out with blocking reads.
        auto step = detail::first_step(decoder_);
        while (step.what == detail::read_step::kind::read) {
            std::size_t const n = next_layer_.read_some(asio::buffer(step.buffer.data(), step.buffer.size()), ec);
            step = detail::after_read(decoder_, ec, n);
        }
        ec = step.ec;
        return step.payload;
    }

    /// Blocking read of the next block; throws the typed exceptions of the
    /// coroutine facade (`incomplete_read_error`, `invalid_block_error`, ...).
    std::string_view
    read_block()
    {
        std::error_code ec;
        auto block = read_block(ec);
        if (ec)
            detail::throw_read_error(ec, decoder_.partial());
        return block;
    }

    /// Blocking write of one frame; returns the block bytes written.
    std::size_t
    write_block(std::string_view block, std::error_code& ec)
    {
        std::size_t const n = asio::write(next_layer_, frame_buffers(block), ec);
        return n > 1 ? std::min(n - 1, block.size()) : 0;
    }

    /// Blocking write of one frame; throws std::system_error on failure.
    void
    write_block(std::string_view block)
    {
        std::error_code ec;
        write_block(block, ec);
        if (ec)
            throw std::system_error(ec);
    }

private:
    NextLayer next_layer_;
    frame_decoder decoder_;
};

} // namespace hl7::mllp

#endif
