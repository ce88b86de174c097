#ifndef HL7_MLLP_IMPL_FRAME_HPP
#define HL7_MLLP_IMPL_FRAME_HPP

// Definitions of async_read_frame / async_write_frame: Beast-style state
// machines run by asio::async_compose. The read carries out the steps of
// detail/read_step.hpp, the one read loop of the MLLP layer.

#include <hl7/detail/asio_config.hpp>
#include <hl7/mllp/error.hpp>
#include <hl7/mllp/frame.hpp>
#include <hl7/mllp/frame_decoder.hpp>
#include <hl7/mllp/detail/read_step.hpp>

#include <asio/buffer.hpp>
#include <asio/compose.hpp>
#include <asio/post.hpp>
#include <asio/write.hpp>

#include <algorithm>
#include <cstddef>
#include <string_view>
#include <system_error>
#include <utility>

namespace hl7::mllp {
namespace detail {

/// The observer of the plain async_read_frame: nothing to observe.
struct no_read_observer
{
    void
    operator()(frame_decoder const&) const noexcept
    {
    }
};

// Carries out read_step's decisions; `observer(decoder)` runs before each
// read from the stream (the connection starts its frame and idle clocks there).
template<class AsyncReadStream, class ReadObserver>
class read_frame_op
{
public:
    read_frame_op(AsyncReadStream& stream, frame_decoder& decoder, ReadObserver observer) noexcept
        : stream_(stream), decoder_(decoder), observer_(std::move(observer))
    {
    }

    template<class Self>
    void
    operator()(Self& self, std::error_code ec = {}, std::size_t n = 0)
    {
        switch (state_) {
        case state::starting:
            step_ = first_step(decoder_);
            if (step_.what != read_step::kind::read) {
                // Finished without I/O: post, so the handler never runs
                // inside the initiating call (Beast's cont_ rule).
                state_ = state::posted;
                asio::post(std::move(self));
                return;
            }
            state_ = state::reading;
            break;
        case state::reading:
            step_ = after_read(decoder_, ec, n);
            if (step_.what != read_step::kind::read)
                return self.complete(step_.ec, step_.payload);
            break;
        case state::posted:
            return self.complete(step_.ec, step_.payload);
        }
        observer_(static_cast<frame_decoder const&>(decoder_));
        stream_.async_read_some(asio::buffer(step_.buffer.data(), step_.buffer.size()), std::move(self));
    }

private:
    enum class state : unsigned char { starting, reading, posted };

    AsyncReadStream& stream_;
    frame_decoder& decoder_;
    ReadObserver observer_;
    read_step step_;
    state state_ = state::starting;
};

/// async_read_frame with an observer called before each read from the stream.
template<class AsyncReadStream, class ReadObserver, class ReadToken>
auto
async_read_frame(AsyncReadStream& stream, frame_decoder& decoder, ReadObserver observer, ReadToken&& token)
{
    return asio::async_compose<ReadToken, void(std::error_code, std::string_view)>(
        read_frame_op<AsyncReadStream, ReadObserver>{stream, decoder, std::move(observer)}, token, stream);
}

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
    return detail::async_read_frame(stream, decoder, detail::no_read_observer{}, std::forward<ReadToken>(token));
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
