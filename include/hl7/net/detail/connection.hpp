#ifndef HL7_NET_DETAIL_CONNECTION_HPP
#define HL7_NET_DETAIL_CONNECTION_HPP

// One MLLP connection over any AsyncStream, as its stream_reader and
// stream_writer share it (Beast's impl_ idea).
//
// connection_base is everything but the stream: the frame decoder, the write
// queue, the watchdog, the waiters, and the policy (connection_policy.hpp)
// whose actions it carries out. connection<AsyncStream> adds the stream and
// the four things that need its type: reading a frame (through
// mllp::async_read_frame), trying a send at once, writing asynchronously and
// closing. Reader and writer hold a connection_base, so they are plain types
// whatever carries the connection.
//
// Everything runs on the stream's executor: for server connections a strand
// of their own, so an io_context run by several threads is safe. The
// facade's functions must be called from that executor (the handler
// coroutine the server spawns runs there).

#include <hl7/detail/asio_config.hpp>
#include <hl7/mllp/error.hpp>
#include <hl7/mllp/frame.hpp>
#include <hl7/mllp/frame_decoder.hpp>
#include <hl7/mllp/detail/transport_error.hpp>
#include <hl7/model/message.hpp>
#include <hl7/net/endpoint.hpp>
#include <hl7/net/options.hpp>
#include <hl7/net/stream_traits.hpp>
#include <hl7/net/detail/connection_policy.hpp>
#include <hl7/net/detail/waiters.hpp>
#include <hl7/parser/parse.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/bind_cancellation_slot.hpp>
#include <asio/buffer.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/cancellation_state.hpp>
#include <asio/error.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <any>
#include <array>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

namespace hl7::detail {

class connection_base : public std::enable_shared_from_this<connection_base>
{
public:
    using clock = std::chrono::steady_clock;
    using event = connection_policy::event;
    using action = connection_policy::action;

    // Write buffers that grew past this are released once empty.
    static constexpr std::size_t shrink_threshold = std::size_t{4} << 20;

    connection_base(connection_base const&) = delete;
    connection_base& operator=(connection_base const&) = delete;
    virtual ~connection_base() = default;

    //----------------------------------------------------------------------
    // Reading. The coroutines take the connection by shared_ptr, so that it
    // lives as long as the operation whoever else lets it go.

    /// The next frame's payload; valid until the next read. Throws the
    /// typed exceptions (see stream_reader).
    static asio::awaitable<std::string_view>
    read_block(std::shared_ptr<connection_base> self)
    {
        auto const a = self->policy_.on({.what = event::type::read_requested, .now = clock::now()});
        if (a.refuse)
            mllp::detail::throw_read_error(a.ec);
        co_return co_await self->read_frame(self->options_.read_timeout);
    }

    static asio::awaitable<std::string>
    read_block_copy(std::shared_ptr<connection_base> self)
    {
        co_return std::string(co_await read_block(self));
    }

    /** The next frame, parsed. A payload of at least
        `frame_decoder::adopt_threshold` bytes is not copied: the message
        takes the buffer it was read into. */
    static asio::awaitable<message>
    read_message(std::shared_ptr<connection_base> self)
    {
        std::string_view const payload = co_await read_block(self);
        if (payload.size() < mllp::frame_decoder::adopt_threshold)
            co_return hl7::parse(payload, self->options_.parse);
        // last_block_ keeps showing these bytes: in last_text_ if the parse
        // throws (for a NAK), in the message's text if it succeeds.
        self->last_text_ = self->decoder_.take(payload);
        self->last_block_ = self->last_text_;
        co_return hl7::parse(std::move(self->last_text_), self->options_.parse);
    }

    std::string_view
    last_block() const noexcept
    {
        return last_block_;
    }

    //----------------------------------------------------------------------
    // Writing

    void
    write_block(std::string_view payload)
    {
        send(mllp::frame_buffers(payload));
    }

    void
    write_message(message const& m)
    {
        if (auto ec = policy_.write_refusal())
            mllp::detail::throw_write_error(ec);
        scratch_.clear();
        m.serialize_to(scratch_);
        send(mllp::frame_buffers(scratch_));
        if (scratch_.capacity() > shrink_threshold)
            std::string().swap(scratch_);
    }

    /// Waits until every queued byte was handed to the transport.
    static asio::awaitable<void>
    drain(std::shared_ptr<connection_base> self)
    {
        for (;;) {
            if (auto ec = self->policy_.write_error())
                mllp::detail::throw_write_error(ec);
            if (self->policy_.queued() == 0)
                co_return;
            co_await self->drain_waiters_.async_wait(asio::use_awaitable);
        }
    }

    /// Bytes queued and not yet handed to the transport.
    std::size_t
    write_buffer_size() const noexcept
    {
        return policy_.queued();
    }

    //----------------------------------------------------------------------
    // Closing

    /// Graceful: no more reads or writes; queued data is sent, then the stream is closed.
    void
    close()
    {
        apply(policy_.on({.what = event::type::close}));
    }

    /// At once, dropping queued data; `reason` is what reads/writes report.
    void
    abort(std::error_code reason)
    {
        apply(policy_.on({.what = event::type::abort, .ec = reason}));
    }

    bool
    is_closing() const noexcept
    {
        return policy_.is_closing();
    }

    static asio::awaitable<void>
    wait_closed(std::shared_ptr<connection_base> self)
    {
        if (!self->policy_.is_closed())
            co_await self->closed_waiters_.async_wait(asio::use_awaitable);
    }

    /// Why this side closed the connection (a limit, a failed write), if it did.
    std::error_code
    close_reason() const noexcept
    {
        return policy_.close_reason();
    }

    //----------------------------------------------------------------------
    // Facts

    endpoint const&
    peer() const noexcept
    {
        return peer_;
    }

    endpoint const&
    local() const noexcept
    {
        return local_;
    }

    /// asyncio's get_extra_info: "peername", "sockname", then what the
    /// stream's traits know.
    std::any
    extra_info(std::string_view name) const
    {
        if (name == "peername")
            return peer_;
        if (name == "sockname")
            return local_;
        return stream_info(name);
    }

    mllp::frame_decoder const&
    decoder() const noexcept
    {
        return decoder_;
    }

    connection_options const&
    options() const noexcept
    {
        return options_;
    }

    asio::any_io_executor
    get_executor() const noexcept
    {
        return executor_;
    }

    //----------------------------------------------------------------------
    // Hooks for the server

    /// Starts the watchdog (if any limit is on); the idle timeout counts from now.
    void
    start()
    {
        apply(policy_.on({.what = event::type::start, .now = clock::now()}));
    }

    /// The slot the handler coroutine is spawned with (handler_timeout cancels it).
    asio::cancellation_slot
    handler_cancellation_slot() noexcept
    {
        return handler_cancel_.slot();
    }

    /// Called with the reason when a limit closes the connection.
    void
    on_limit(std::function<void(std::error_code)> f)
    {
        on_limit_ = std::move(f);
    }

    /// Called once the stream is closed (at once if it already is).
    void
    on_closed(std::function<void()> f)
    {
        if (policy_.is_closed())
            f();
        else
            on_closed_ = std::move(f);
    }

    /// The handler returned: its time limit no longer applies.
    void
    handler_returned()
    {
        apply(policy_.on({.what = event::type::handler_returned}));
    }

    /// Server shutdown (see connection_policy::shutdown).
    void
    server_shutdown()
    {
        apply(policy_.on({.what = event::type::shutdown}));
    }

    //----------------------------------------------------------------------
    // For connection<AsyncStream>

    /// A read is about to wait for bytes.
    void
    on_read_wait(mllp::frame_decoder const& d)
    {
        apply(policy_.on({.what = event::type::read_wait, .now = clock::now(), .in_frame = d.in_frame()}));
    }

    /// The read ended: returns the payload or throws what the read reports.
    std::string_view
    finish_read(std::error_code ec, std::string_view payload)
    {
        auto const a = policy_.on({.what = event::type::read_done, .now = clock::now(), .ec = ec});
        if (!a.refuse) {
            last_block_ = payload;
            return payload;
        }
        last_block_ = {};
        mllp::detail::throw_read_error(a.ec, a.ec == mllp::error::incomplete_frame ? decoder_.partial()
                                                                                   : std::string_view{});
    }

    /// An asynchronous write of `n` bytes of inflight_ ended.
    void
    on_write(std::error_code ec, std::size_t n)
    {
        if (ec) {
            inflight_.clear();
            pending_.clear();
            apply(policy_.on({.what = event::type::write_failed, .ec = ec}));
            return;
        }
        offset_ += n;
        auto const a = policy_.on({.what = event::type::written, .now = clock::now(), .bytes = n});
        if (policy_.queued() == 0) { // all written (or dropped by an abort)
            release(inflight_);
            pending_.clear();
            offset_ = 0;
        } else if (offset_ == inflight_.size()) {
            release(inflight_);
            inflight_.swap(pending_);
            offset_ = 0;
        }
        if (!inflight_.empty())
            write_inflight();
        apply(a);
    }

protected:
    connection_base(asio::any_io_executor ex, connection_options const& options,
                    std::shared_ptr<server_options const> limits)
        : executor_(std::move(ex)),
          decoder_(options.max_frame_size, options.framing),
          options_(options),
          limits_(std::move(limits)),
          policy_(limits_.get()),
          watchdog_(executor_),
          drain_waiters_(executor_),
          closed_waiters_(executor_)
    {
    }

    void
    set_endpoints(endpoint peer, endpoint local)
    {
        peer_ = std::move(peer);
        local_ = std::move(local);
    }

    mllp::frame_decoder&
    decoder_for_read() noexcept
    {
        return decoder_;
    }

    /** Reads one frame (mllp::async_read_frame) and returns finish_read()'s
        result. A `timeout` above zero (connection_options::read_timeout)
        cancels this read when it runs out, and the read reports
        `read_timeout`; the connection stays usable. */
    virtual asio::awaitable<std::string_view> read_frame(clock::duration timeout) = 0;
    /// A send that does not wait; `would_block` when the stream cannot do that.
    virtual std::size_t try_send(std::span<asio::const_buffer const> buffers, std::error_code& ec) = 0;
    /// Starts an asynchronous write of `buffer`; its completion calls on_write().
    virtual void async_write_some(asio::const_buffer buffer) = 0;
    virtual void close_transport(bool graceful) noexcept = 0;
    virtual std::any stream_info(std::string_view name) const = 0;

private:
    // Carries out what the policy decided.
    void
    apply(action const& a)
    {
        switch (a.what) {
        case action::type::none: break;
        case action::type::start_write:
            inflight_.swap(pending_);
            offset_ = 0;
            write_inflight();
            break;
        case action::type::close_graceful: transport_closed(true); break;
        case action::type::close_now: transport_closed(false); break;
        }
        if (a.report && on_limit_)
            on_limit_(a.ec);
        if (a.cancel_handler)
            handler_cancel_.emit(asio::cancellation_type::terminal);
        if (a.notify_drain)
            drain_waiters_.notify_all();
        if (a.wake != clock::time_point::max())
            arm_watchdog(a.wake);
    }

    // Sends at once if nothing is queued and the stream can (one sendmsg,
    // no copy, like an asyncio transport); queues whatever it did not take.
    template<std::size_t N>
    void
    send(std::array<asio::const_buffer, N> const& buffers)
    {
        if (auto ec = policy_.write_refusal())
            mllp::detail::throw_write_error(ec);
        std::size_t const total = asio::buffer_size(buffers);
        std::size_t sent = 0;
        if (policy_.queued() == 0) {
            std::error_code ec;
            sent = try_send(buffers, ec);
            if (ec == asio::error::would_block || ec == asio::error::try_again) {
                sent = 0;
            } else if (ec) {
                // Reported by drain() (and the next write), as asyncio does.
                apply(policy_.on({.what = event::type::write_failed, .ec = ec}));
                return;
            }
            if (sent == total)
                return;
        }
        auto const a = policy_.on({.what = event::type::queued, .now = clock::now(), .bytes = total - sent});
        if (a.refuse) {
            apply(a);
            throw std::system_error(a.ec);
        }
        std::size_t skip = sent;
        for (auto const& b : buffers) {
            if (skip >= b.size()) {
                skip -= b.size();
                continue;
            }
            pending_.append(static_cast<char const*>(b.data()) + skip, b.size() - skip);
            skip = 0;
        }
        apply(a);
    }

    void
    write_inflight()
    {
        async_write_some(asio::buffer(inflight_.data() + offset_, inflight_.size() - offset_));
    }

    static void
    release(std::string& s) noexcept
    {
        s.clear();
        if (s.capacity() > shrink_threshold)
            std::string().swap(s);
    }

    void
    transport_closed(bool graceful)
    {
        close_transport(graceful); // pending operations end with operation_aborted
        watchdog_.cancel();
        pending_.clear(); // a write in flight keeps inflight_ until it ends
        drain_waiters_.notify_all();
        closed_waiters_.set();
        if (on_closed_) {
            auto f = std::move(on_closed_);
            on_closed_ = nullptr;
            f();
        }
    }

    // One timer per connection, woken when the policy says (see
    // connection_policy's tick_).
    void
    arm_watchdog(clock::time_point at)
    {
        watchdog_.expires_at(at);
        watchdog_.async_wait([self = shared_from_this()](std::error_code ec) {
            if (!ec)
                self->apply(self->policy_.on({.what = event::type::tick, .now = clock::now()}));
        });
    }

    asio::any_io_executor executor_;
    mllp::frame_decoder decoder_;
    connection_options options_;
    std::shared_ptr<server_options const> limits_; // the server's; null for clients
    connection_policy policy_;
    endpoint peer_;
    endpoint local_;

    std::string_view last_block_;
    std::string last_text_; // a payload taken from the decoder (see read_message)

    std::string pending_;  // frames queued behind the write in flight
    std::string inflight_; // the write in flight
    std::string scratch_;  // a message serialised
    std::size_t offset_ = 0;

    asio::steady_timer watchdog_;
    asio::cancellation_signal handler_cancel_;
    std::function<void(std::error_code)> on_limit_;
    std::function<void()> on_closed_;
    net_waiters drain_waiters_;
    net_waiters closed_waiters_;
};

/** The connection over a stream of type `AsyncStream` (moved in): a TCP or
    UNIX-domain socket, `asio::ssl::stream<...>` after its handshake, a test
    stream. What it needs beyond reading and writing comes from
    `hl7::stream_traits<AsyncStream>`. */
template<class AsyncStream>
class connection final : public connection_base
{
public:
    using stream_type = AsyncStream;
    using traits = stream_traits<AsyncStream>;

    connection(AsyncStream stream, connection_options const& options, std::shared_ptr<server_options const> limits = {})
        : connection_base(asio::any_io_executor(stream.get_executor()), options, std::move(limits)),
          stream_(std::move(stream))
    {
        traits::configure(stream_, options);
        set_endpoints(traits::peer(stream_), traits::local(stream_));
    }

    AsyncStream&
    stream() noexcept
    {
        return stream_;
    }

private:
    struct read_observer
    {
        connection* self;

        void
        operator()(mllp::frame_decoder const& d) const
        {
            self->on_read_wait(d);
        }
    };

    // What a read's timer shares with the read: its handler may run after
    // the read is over.
    struct read_timer_state
    {
        asio::cancellation_signal cancel;
        bool expired = false;
    };

    asio::awaitable<std::string_view>
    read_frame(clock::duration timeout) override
    {
        constexpr auto token = asio::experimental::as_tuple(asio::use_awaitable);
        if (timeout <= clock::duration::zero()) {
            auto [ec, payload] =
                co_await mllp::detail::async_read_frame(stream_, decoder_for_read(), read_observer{this}, token);
            co_return finish_read(ec, payload);
        }
        // The read listens to a signal of its own, which the timer and the
        // caller's cancellation (forwarded) both emit.
        auto state = std::make_shared<read_timer_state>();
        asio::cancellation_state const cs = co_await asio::this_coro::cancellation_state;
        auto caller = cs.slot();
        if (caller.is_connected())
            caller.assign([state](asio::cancellation_type type) { state->cancel.emit(type); });
        asio::steady_timer timer(get_executor(), timeout);
        timer.async_wait([state](std::error_code ec) {
            if (ec)
                return;
            state->expired = true;
            state->cancel.emit(asio::cancellation_type::terminal);
        });
        auto [ec, payload] = co_await mllp::detail::async_read_frame(
            stream_, decoder_for_read(), read_observer{this}, asio::bind_cancellation_slot(state->cancel.slot(), token));
        if (caller.is_connected())
            caller.clear();
        timer.cancel();
        if (state->expired && mllp::detail::classify(ec) == mllp::detail::failure::cancelled)
            ec = mllp::make_error_code(mllp::error::read_timeout);
        co_return finish_read(ec, payload);
    }

    std::size_t
    try_send(std::span<asio::const_buffer const> buffers, std::error_code& ec) override
    {
        return traits::try_send(stream_, buffers, ec);
    }

    void
    async_write_some(asio::const_buffer buffer) override
    {
        stream_.async_write_some(buffer, [self = shared_from_this()](std::error_code ec, std::size_t n) {
            self->on_write(ec, n);
        });
    }

    void
    close_transport(bool graceful) noexcept override
    {
        if (graceful)
            traits::shutdown(stream_);
        traits::close(stream_);
    }

    std::any
    stream_info(std::string_view name) const override
    {
        return traits::extra_info(stream_, name);
    }

    AsyncStream stream_;
};

} // namespace hl7::detail

#endif
