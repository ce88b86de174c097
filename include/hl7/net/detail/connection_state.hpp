#ifndef HL7_DETAIL_CONNECTION_STATE_HPP
#define HL7_DETAIL_CONNECTION_STATE_HPP

// The state one MLLP connection's stream_reader and stream_writer share
// (Beast's impl_ idea): socket, frame decoder, write queue, the watchdog that
// enforces the server's limits, and the events drain()/wait_closed() wait on.
//
// Everything here runs on the socket's executor: for server connections a
// strand of their own, so an io_context run by several threads is safe. The
// facade's functions must be called from that executor (the handler
// coroutine the server spawns runs there).

#include <hl7/detail/asio_config.hpp>
#include <hl7/net/options.hpp>
#include <hl7/net/detail/waiters.hpp>
#include <hl7/mllp/error.hpp>
#include <hl7/mllp/detail/transport_error.hpp>
#include <hl7/mllp/frame.hpp>
#include <hl7/mllp/frame_decoder.hpp>
#include <hl7/net/wait_for.hpp>

#include <asio/awaitable.hpp>
#include <asio/buffer.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/error.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

namespace hl7::detail {

/// The server's per-connection policies (server_options); zero = off.
struct connection_limits
{
    std::chrono::steady_clock::duration idle_timeout{0};
    std::chrono::steady_clock::duration frame_timeout{0};
    std::chrono::steady_clock::duration handler_timeout{0};
    std::chrono::steady_clock::duration write_timeout{0};
    std::size_t max_write_queue = 0;
};

class connection_state : public std::enable_shared_from_this<connection_state>
{
public:
    using socket_type = asio::ip::tcp::socket;
    using clock = std::chrono::steady_clock;

    // Buffers that grew past this are released once empty.
    static constexpr std::size_t shrink_threshold = std::size_t{4} << 20;

    connection_state(socket_type socket, connection_options const& options, connection_limits const& limits = {})
        : socket_(std::move(socket)),
          decoder_(options.max_frame_size, options.framing),
          options_(options),
          limits_(limits),
          watchdog_(socket_.get_executor()),
          drain_waiters_(socket_.get_executor()),
          closed_waiters_(socket_.get_executor())
    {
        std::error_code ec;
        peer_ = socket_.remote_endpoint(ec);
        local_ = socket_.local_endpoint(ec);
        if (options.no_delay)
            socket_.set_option(asio::ip::tcp::no_delay(true), ec);
        // Non-blocking for the direct send in write_block() (what an asyncio
        // transport does): a frame usually leaves in the call itself.
        socket_.non_blocking(true, ec);
        for (auto d : {limits_.idle_timeout, limits_.frame_timeout, limits_.handler_timeout, limits_.write_timeout})
            if (d > clock::duration::zero() && (tick_ == clock::duration::zero() || d < tick_))
                tick_ = d;
    }

    connection_state(connection_state const&) = delete;
    connection_state& operator=(connection_state const&) = delete;

    /// Starts the watchdog (if any limit is on); the idle timeout counts from now.
    void
    start()
    {
        if (tick_ == clock::duration::zero())
            return;
        if (limits_.idle_timeout > clock::duration::zero()) {
            idle_armed_ = true;
            policy_deadline_ = clock::now() + limits_.idle_timeout;
            policy_reason_ = mllp::error::idle_timeout;
        }
        arm_watchdog(clock::now() + tick_);
    }

    asio::any_io_executor
    get_executor() noexcept
    {
        return socket_.get_executor();
    }

    connection_options const&
    options() const noexcept
    {
        return options_;
    }

    asio::ip::tcp::endpoint
    peer() const noexcept
    {
        return peer_;
    }

    asio::ip::tcp::endpoint
    local() const noexcept
    {
        return local_;
    }

    mllp::frame_decoder const&
    decoder() const noexcept
    {
        return decoder_;
    }

    //----------------------------------------------------------------------
    // Reading

    /// The next frame's payload; valid until the next read. Throws the
    /// typed exceptions (see stream_reader).
    asio::awaitable<std::string_view>
    read_block()
    {
        if (options_.read_timeout > clock::duration::zero()) {
            try {
                co_return co_await hl7::wait_for(read_block_impl(), options_.read_timeout);
            } catch (mllp::timeout_error const& e) {
                if (e.code() == mllp::error::timeout)
                    throw mllp::timeout_error(mllp::make_error_code(mllp::error::read_timeout));
                throw;
            }
        }
        co_return co_await read_block_impl();
    }

    /// The payload of the last frame read (empty after a bad one).
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
        check_writable();
        send_or_queue(mllp::frame_buffers(payload));
    }

    template<class Message>
    void
    write_message(Message const& m)
    {
        check_writable();
        scratch_.clear();
        scratch_.push_back(mllp::start_block);
        m.serialize_to(scratch_);
        scratch_.push_back(mllp::end_block);
        scratch_.push_back(mllp::carriage_return);
        send_or_queue(std::array<asio::const_buffer, 1>{asio::buffer(scratch_)});
        if (scratch_.capacity() > shrink_threshold)
            std::string().swap(scratch_);
    }

    /// Waits until every queued byte was handed to the operating system.
    asio::awaitable<void>
    drain()
    {
        auto self = shared_from_this();
        for (;;) {
            if (write_error_)
                throw_write_error(write_error_);
            if (queued_ == 0)
                co_return;
            co_await drain_waiters_.async_wait(asio::use_awaitable);
        }
    }

    /// Bytes queued and not yet handed to the operating system.
    std::size_t
    write_buffer_size() const noexcept
    {
        return queued_;
    }

    //----------------------------------------------------------------------
    // Closing

    /// Graceful: no more reads or writes; queued data is sent, then the socket is closed.
    void
    close()
    {
        if (closing_)
            return;
        closing_ = true;
        if (!writing_)
            finish_close();
    }

    /// At once, dropping queued data; `reason` is what reads/writes report.
    void
    abort(std::error_code reason)
    {
        if (closed_)
            return;
        if (!close_reason_)
            close_reason_ = reason;
        if (!write_error_)
            write_error_ = reason;
        closing_ = true;
        close_socket(false);
    }

    bool
    is_closing() const noexcept
    {
        return closing_;
    }

    bool
    is_closed() const noexcept
    {
        return closed_;
    }

    asio::awaitable<void>
    wait_closed()
    {
        auto self = shared_from_this();
        if (!closed_)
            co_await closed_waiters_.async_wait(asio::use_awaitable);
    }

    /// Why this side closed the connection (a limit, a failed write), if it did.
    std::error_code
    close_reason() const noexcept
    {
        return close_reason_;
    }

    //----------------------------------------------------------------------
    // Hooks for the server

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

    /// Called once the socket is closed (at once if it already is).
    void
    on_closed(std::function<void()> f)
    {
        if (closed_)
            f();
        else
            on_closed_ = std::move(f);
    }

    /// The handler returned: its time limit no longer applies.
    void
    handler_returned() noexcept
    {
        handler_deadline_ = clock::time_point::max();
    }

    /// Server shutdown: a handler waiting for a frame is ended now (its read
    /// throws connection_closed once queued data is sent); one busy with a
    /// message may finish it and answer, and its next read throws.
    void
    server_shutdown()
    {
        if (closed_)
            return;
        if (!read_error_)
            read_error_ = mllp::error::connection_closed;
        if (reading_)
            close();
    }

private:
    struct flag_guard
    {
        bool& flag;
        ~flag_guard() { flag = false; }
    };

    asio::awaitable<std::string_view>
    read_block_impl()
    {
        auto self = shared_from_this();
        if (reading_)
            throw std::system_error(std::make_error_code(std::errc::operation_in_progress));
        handler_deadline_ = clock::time_point::max(); // the handler is back for more
        for (;;) {
            if (close_reason_)
                mllp::detail::throw_read_error(close_reason_);
            if (closing_)
                mllp::detail::throw_read_error(mllp::error::connection_closed);
            if (read_error_)
                mllp::detail::throw_read_error(read_error_);

            std::error_code ec;
            if (auto payload = decoder_.next(ec)) {
                frame_done();
                last_block_ = *payload;
                co_return *payload;
            }
            if (ec) {
                last_block_ = {};
                if (ec == mllp::error::invalid_block || ec == mllp::error::frame_too_large) {
                    frame_done(); // a bad frame wants an answer too (a NAK)
                    mllp::detail::throw_read_error(ec);
                }
                policy_deadline_ = clock::time_point::max();
                mllp::detail::throw_read_error(ec, decoder_.partial()); // the peer closed
            }

            arm_read_deadline();
            auto space = decoder_.prepare();
            flag_guard guard{reading_};
            reading_ = true;
            auto [rec, n] = co_await socket_.async_read_some(asio::buffer(space.data(), space.size()),
                                                             asio::experimental::as_tuple(asio::use_awaitable));
            decoder_.commit(n);
            if (!rec)
                continue;
            if (rec == asio::error::eof) {
                decoder_.put_eof(); // the decoder says whether a frame was cut off
                continue;
            }
            policy_deadline_ = clock::time_point::max();
            if (close_reason_)
                mllp::detail::throw_read_error(close_reason_);
            if (closing_)
                mllp::detail::throw_read_error(mllp::error::connection_closed);
            if (rec == asio::error::operation_aborted)
                throw std::system_error(rec); // the caller was cancelled (e.g. wait_for)
            read_error_ = rec;
            throw_transport_error(rec);
        }
    }

    // Asio 1.22's system category does not map to std::errc, so compare with
    // its own enumerators: a reset or aborted connection is an incomplete
    // read (the stream ended), anything else a plain std::system_error.
    [[noreturn]] static void
    throw_transport_error(std::error_code ec)
    {
        if (ec == asio::error::connection_reset || ec == asio::error::connection_aborted ||
            ec == asio::error::broken_pipe || ec == asio::error::not_connected || ec == asio::error::shut_down ||
            ec == asio::error::timed_out)
            throw mllp::incomplete_read_error(ec);
        mllp::detail::throw_read_error(ec);
    }

    // A frame (good or bad) came out: the handler's clock starts, the read clocks stop.
    void
    frame_done()
    {
        idle_armed_ = frame_armed_ = false;
        policy_deadline_ = clock::time_point::max();
        if (limits_.handler_timeout > clock::duration::zero())
            handler_deadline_ = clock::now() + limits_.handler_timeout;
    }

    // Before each read: an idle connection gets idle_timeout from the start
    // of the wait; once a frame has begun it gets frame_timeout from then,
    // for the whole frame (trickling bytes does not extend it).
    void
    arm_read_deadline()
    {
        if (limits_.idle_timeout == clock::duration::zero() && limits_.frame_timeout == clock::duration::zero())
            return;
        if (decoder_.in_frame()) {
            if (!frame_armed_) {
                frame_armed_ = true;
                policy_deadline_ = limits_.frame_timeout > clock::duration::zero()
                                       ? clock::now() + limits_.frame_timeout
                                       : clock::time_point::max();
                policy_reason_ = mllp::error::frame_timeout;
            }
        } else if (!idle_armed_) {
            idle_armed_ = true;
            policy_deadline_ = limits_.idle_timeout > clock::duration::zero() ? clock::now() + limits_.idle_timeout
                                                                              : clock::time_point::max();
            policy_reason_ = mllp::error::idle_timeout;
        }
    }

    // The watchdog: one timer per connection. It fires at the earliest
    // deadline but at least every tick_ (the shortest limit). A deadline set
    // later is at least tick_ in the future, so it can never be earlier than
    // the pending expiry: setting deadlines is a plain store, no timer call.
    void
    arm_watchdog(clock::time_point at)
    {
        watchdog_.expires_at(at);
        watchdog_.async_wait([self = shared_from_this()](std::error_code ec) { self->on_watchdog(ec); });
    }

    void
    on_watchdog(std::error_code ec)
    {
        if (ec || closed_)
            return;
        auto const now = clock::now();
        if (policy_deadline_ <= now)
            return limit_reached(policy_reason_);
        if (handler_deadline_ <= now) {
            limit_reached(mllp::error::handler_timeout);
            handler_cancel_.emit(asio::cancellation_type::terminal);
            return;
        }
        if (write_deadline_ <= now)
            return limit_reached(mllp::error::write_timeout);
        arm_watchdog(std::min({policy_deadline_, handler_deadline_, write_deadline_, now + tick_}));
    }

    void
    limit_reached(mllp::error reason)
    {
        auto const ec = mllp::make_error_code(reason);
        if (on_limit_ && !closed_)
            on_limit_(ec);
        abort(ec);
    }

    void
    check_writable() const
    {
        if (write_error_)
            throw_write_error(write_error_);
        if (closing_)
            throw std::system_error(mllp::make_error_code(mllp::error::connection_closed));
    }

    [[noreturn]] static void
    throw_write_error(std::error_code ec)
    {
        if (mllp::is_timeout(ec))
            throw mllp::timeout_error(ec);
        throw std::system_error(ec);
    }

    // Sends at once if nothing is queued (one sendmsg, no copy); queues
    // whatever the socket did not take.
    template<class Buffers>
    void
    send_or_queue(Buffers const& buffers)
    {
        std::size_t const total = asio::buffer_size(buffers);
        std::size_t sent = 0;
        if (!writing_) {
            std::error_code ec;
            sent = socket_.write_some(buffers, ec);
            if (ec == asio::error::would_block || ec == asio::error::try_again) {
                sent = 0;
            } else if (ec) {
                fail_write(ec); // reported by drain(), as asyncio does
                return;
            }
            if (sent == total)
                return;
        }
        std::size_t const rest = total - sent;
        if (limits_.max_write_queue != 0 && queued_ != 0 && queued_ + rest > limits_.max_write_queue) {
            limit_reached(mllp::error::write_queue_full);
            throw std::system_error(mllp::make_error_code(mllp::error::write_queue_full));
        }
        std::size_t skip = sent;
        for (auto it = asio::buffer_sequence_begin(buffers); it != asio::buffer_sequence_end(buffers); ++it) {
            asio::const_buffer b(*it);
            if (skip >= b.size()) {
                skip -= b.size();
                continue;
            }
            pending_.append(static_cast<char const*>(b.data()) + skip, b.size() - skip);
            skip = 0;
        }
        queued_ += rest;
        if (!writing_)
            start_write();
    }

    void
    start_write()
    {
        inflight_.swap(pending_);
        pending_.clear();
        offset_ = 0;
        writing_ = true;
        if (limits_.write_timeout > clock::duration::zero())
            write_deadline_ = clock::now() + limits_.write_timeout;
        do_write();
    }

    void
    do_write()
    {
        socket_.async_write_some(asio::buffer(inflight_.data() + offset_, inflight_.size() - offset_),
                                 [self = shared_from_this()](std::error_code ec, std::size_t n) { self->on_write(ec, n); });
    }

    void
    on_write(std::error_code ec, std::size_t n)
    {
        offset_ += n;
        queued_ -= std::min(queued_, n);
        if (ec) {
            writing_ = false;
            inflight_.clear();
            fail_write(close_reason_ ? close_reason_ : ec);
            return;
        }
        if (closed_) { // aborted meanwhile; the data is dropped
            writing_ = false;
            queued_ = 0;
            pending_.clear();
            return;
        }
        if (limits_.write_timeout > clock::duration::zero())
            write_deadline_ = clock::now() + limits_.write_timeout; // progress
        if (offset_ < inflight_.size())
            return do_write();
        inflight_.clear();
        if (inflight_.capacity() > shrink_threshold)
            std::string().swap(inflight_);
        if (!pending_.empty())
            return start_write();
        writing_ = false;
        write_deadline_ = clock::time_point::max();
        drain_waiters_.notify_all();
        if (closing_)
            finish_close();
    }

    void
    fail_write(std::error_code ec)
    {
        if (!write_error_)
            write_error_ = ec;
        queued_ = 0;
        pending_.clear();
        if (!closed_) {
            if (!close_reason_)
                close_reason_ = ec;
            closing_ = true;
            close_socket(false);
        }
        drain_waiters_.notify_all();
    }

    void
    finish_close()
    {
        close_socket(true);
    }

    void
    close_socket(bool graceful)
    {
        if (closed_)
            return;
        closed_ = true;
        std::error_code ignored;
        if (graceful)
            socket_.shutdown(socket_type::shutdown_send, ignored);
        socket_.close(ignored); // pending operations end with operation_aborted
        watchdog_.cancel();
        policy_deadline_ = handler_deadline_ = write_deadline_ = clock::time_point::max();
        if (!writing_) {
            queued_ = 0;
            pending_.clear();
        }
        drain_waiters_.notify_all();
        closed_waiters_.set();
        if (on_closed_) {
            auto f = std::move(on_closed_);
            on_closed_ = nullptr;
            f();
        }
    }

    socket_type socket_;
    mllp::frame_decoder decoder_;
    connection_options options_;
    connection_limits limits_;
    asio::ip::tcp::endpoint peer_;
    asio::ip::tcp::endpoint local_;

    // read side
    std::string_view last_block_;
    std::error_code read_error_; // sticky: the connection cannot be read any more
    bool reading_ = false;
    bool idle_armed_ = false;
    bool frame_armed_ = false;

    // write side
    std::string pending_;  // frames queued behind the write in flight
    std::string inflight_; // the write in flight
    std::string scratch_;  // a message serialised with its framing
    std::size_t offset_ = 0;
    std::size_t queued_ = 0;
    std::error_code write_error_;
    bool writing_ = false;

    // lifecycle
    bool closing_ = false;
    bool closed_ = false;
    std::error_code close_reason_;

    // limits
    clock::duration tick_{0};
    clock::time_point policy_deadline_ = clock::time_point::max();
    clock::time_point handler_deadline_ = clock::time_point::max();
    clock::time_point write_deadline_ = clock::time_point::max();
    mllp::error policy_reason_ = mllp::error::idle_timeout;
    asio::steady_timer watchdog_;
    asio::cancellation_signal handler_cancel_;
    std::function<void(std::error_code)> on_limit_;
    std::function<void()> on_closed_;

    net_waiters drain_waiters_;
    net_waiters closed_waiters_;
};

} // namespace hl7::detail

#endif
