#ifndef HL7_MLLP_IMPL_FRAME_HPP
#define HL7_MLLP_IMPL_FRAME_HPP

// Definitions of async_read_frame / async_write_frame: Beast-style state
// machines run by asio::async_compose.

#include <hl7/detail/asio_config.hpp>
#include <hl7/mllp/error.hpp>
#include <hl7/mllp/frame.hpp>
#include <hl7/mllp/frame_decoder.hpp>

#include <asio/buffer.hpp>
#include <asio/compose.hpp>
#include <asio/error.hpp>
#include <asio/post.hpp>
#include <asio/write.hpp>

#include <algorithm>
#include <cstddef>
#include <string_view>
#include <system_error>
#include <utility>

namespace hl7::mllp {
namespace detail {

template<class AsyncReadStream>
class read_frame_op
{
public:
    read_frame_op(AsyncReadStream& stream, frame_decoder& decoder) noexcept : stream_(stream), decoder_(decoder) {}

    template<class Self>
    void
    operator()(Self& self, std::error_code ec = {}, std::size_t n = 0)
    {
        switch (state_) {
        case state::starting:
            if (decode()) {
                // Finished without I/O: post, so the handler never runs
                // inside the initiating call (Beast's cont_ rule).
                state_ = state::posted;
                asio::post(std::move(self));
                return;
            }
            state_ = state::reading;
            break;
        case state::reading:
            decoder_.commit(n);
            if (ec == asio::error::eof)
                decoder_.put_eof(); // translated by the decoder
            else if (ec)
                return self.complete(ec, std::string_view{});
            if (decode())
                return self.complete(ec_, payload_);
            break;
        case state::posted:
            return self.complete(ec_, payload_);
        }
        auto space = decoder_.prepare();
        stream_.async_read_some(asio::buffer(space.data(), space.size()), std::move(self));
    }

private:
    enum class state : unsigned char { starting, reading, posted };

    // True when the decoder produced a payload or an error.
    bool
    decode() noexcept
    {
        if (auto p = decoder_.next(ec_)) {
            payload_ = *p;
            return true;
        }
        return static_cast<bool>(ec_);
    }

    AsyncReadStream& stream_;
    frame_decoder& decoder_;
    std::error_code ec_;
    std::string_view payload_;
    state state_ = state::starting;
};

template<class AsyncWriteStream>
class write_frame_op
{
public:
    write_frame_op(AsyncWriteStream& stream, std::string_view payload) noexcept : stream_(stream), payload_(payload)
    {
    }

    template<class Self>
    void
    operator()(Self& self, std::error_code ec = {}, std::size_t n = 0)
    {
        if (!started_) {
            // Always at least three bytes, so async_write does I/O and the
            // handler cannot run inline.
            started_ = true;
            asio::async_write(stream_, frame_buffers(payload_), std::move(self));
            return;
        }
        std::size_t const payload_written = n > 1 ? std::min(n - 1, payload_.size()) : 0;
        self.complete(ec, payload_written);
    }

private:
    AsyncWriteStream& stream_;
    std::string_view payload_;
    bool started_ = false;
};

} // namespace detail

template<class AsyncReadStream, ASIO_COMPLETION_TOKEN_FOR(void(std::error_code, std::string_view)) ReadToken>
auto
async_read_frame(AsyncReadStream& stream, frame_decoder& decoder, ReadToken&& token)
{
    return asio::async_compose<ReadToken, void(std::error_code, std::string_view)>(
        detail::read_frame_op<AsyncReadStream>{stream, decoder}, token, stream);
}

template<class AsyncWriteStream, ASIO_COMPLETION_TOKEN_FOR(void(std::error_code, std::size_t)) WriteToken>
auto
async_write_frame(AsyncWriteStream& stream, std::string_view payload, WriteToken&& token)
{
    return asio::async_compose<WriteToken, void(std::error_code, std::size_t)>(
        detail::write_frame_op<AsyncWriteStream>{stream, payload}, token, stream);
}

} // namespace hl7::mllp

#endif
