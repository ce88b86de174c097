#ifndef HL7_NET_DETAIL_CONNECTION_POLICY_HPP
#define HL7_NET_DETAIL_CONNECTION_POLICY_HPP

// The rules of one connection, sans-I/O: its lifecycle, the server's time
// limits (idle, frame, handler, write), the write-queue limit and which
// error each operation reports. Events go in (with the time they happened),
// actions come out; the connection (net/detail/connection.hpp) carries them
// out and does nothing else on its own. No I/O, no clock: it is tested with
// plain values and a fake clock (tests/net/test_connection_policy.cpp).

#include <hl7/mllp/error.hpp>
#include <hl7/mllp/detail/transport_error.hpp>
#include <hl7/net/options.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <system_error>

namespace hl7::detail {

class connection_policy
{
public:
    using clock = std::chrono::steady_clock;
    using time_point = clock::time_point;
    using duration = clock::duration;

    /// The lifecycle: one value, changed only by `on()`.
    enum class status : std::uint8_t {
        open,    ///< serving; no read in progress
        reading, ///< a read is in progress (one at a time)
        closing, ///< close() was asked: what is queued goes out, then closed; nothing is read or queued
        closed,  ///< the transport is closed
    };

    /// Which limit the read deadline enforces.
    enum class read_clock : std::uint8_t {
        off,   ///< none (a frame was just delivered, or no server limits)
        idle,  ///< no frame has begun: `idle_timeout`
        frame, ///< a frame has begun: `frame_timeout`
    };

    struct event
    {
        enum class type : std::uint8_t {
            start,            ///< the connection starts (a server connection's idle clock starts)
            read_requested,   ///< the handler asks for the next frame
            read_wait,        ///< the read waits for bytes; `in_frame`: a frame has begun
            read_done,        ///< the read ended: `ec` clear (a frame) or why not
            handler_returned, ///< the server's handler returned
            queued,           ///< `bytes` more are queued behind the transport
            written,          ///< `bytes` of the queue were handed to the transport
            write_failed,     ///< the transport failed a write with `ec`
            close,            ///< graceful close: send what is queued, then close
            shutdown,         ///< the server shuts down
            abort,            ///< close at once; `ec` is what reads and writes then report
            tick,             ///< the watchdog fired
        };
        type what;
        time_point now{};
        std::size_t bytes = 0;
        std::error_code ec{};
        bool in_frame = false;
    };

    struct action
    {
        enum class type : std::uint8_t {
            none,
            start_write,    ///< write the queue (it was empty)
            close_graceful, ///< end output (FIN), then close the transport
            close_now,      ///< close the transport, dropping the queue
        };
        type what = type::none;
        /// The operation fails with `ec` (a read or a write refused, a read's error).
        bool refuse = false;
        /// A limit closed the connection: tell the server (`ec`).
        bool report = false;
        /// `handler_timeout`: cancel the handler's pending operation.
        bool cancel_handler = false;
        /// The queue emptied or failed: wake `drain()`.
        bool notify_drain = false;
        std::error_code ec{};
        /// After `start` and `tick`: when the watchdog fires next (max: never).
        time_point wake = time_point::max();
    };

    /** `limits`: the server's options (idle, frame, handler and write
        timeouts, `max_write_queue`), read where they are; they must outlive
        the policy. Null for a client connection, which has none. */
    explicit connection_policy(server_options const* limits = nullptr) noexcept : limits_(limits)
    {
        if (!limits_)
            return;
        // The watchdog wakes at least every `tick_` (the shortest limit), so
        // that a deadline set later (always at least `tick_` ahead) is never
        // earlier than its next wake: setting a deadline needs no timer call.
        for (auto d : {limits_->idle_timeout, limits_->frame_timeout, limits_->handler_timeout, limits_->write_timeout})
            if (d > duration::zero() && (tick_ == duration::zero() || d < tick_))
                tick_ = d;
    }

    /// The transition function: every change of state goes through here.
    action
    on(event const& e) noexcept
    {
        switch (e.what) {
        case event::type::start: return start(e.now);
        case event::type::read_requested: return read_requested(e.now);
        case event::type::read_wait: return read_wait(e.now, e.in_frame);
        case event::type::read_done: return read_done(e.now, e.ec);
        case event::type::handler_returned: handler_deadline_ = time_point::max(); return {};
        case event::type::queued: return queued(e.now, e.bytes);
        case event::type::written: return written(e.now, e.bytes);
        case event::type::write_failed: return write_failed(e.ec);
        case event::type::close: return close();
        case event::type::shutdown: return shutdown();
        case event::type::abort: return abort(e.ec);
        case event::type::tick: return tick(e.now);
        }
        return {};
    }

    //----------------------------------------------------------------------
    // Observers

    status
    state() const noexcept
    {
        return status_;
    }

    read_clock
    clock_running() const noexcept
    {
        return read_clock_;
    }

    /// True once close() or abort() was asked, or a failure or a limit closed it.
    bool
    is_closing() const noexcept
    {
        return status_ == status::closing || status_ == status::closed;
    }

    bool
    is_closed() const noexcept
    {
        return status_ == status::closed;
    }

    /// Bytes queued and not yet handed to the transport.
    std::size_t
    queued() const noexcept
    {
        return queued_;
    }

    /// Why a write must fail now (none: it may go ahead).
    std::error_code
    write_refusal() const noexcept
    {
        if (write_error_)
            return write_error_;
        if (is_closing())
            return mllp::make_error_code(mllp::error::connection_closed);
        return {};
    }

    /// The failure `drain()` reports (none: the queue is fine).
    std::error_code
    write_error() const noexcept
    {
        return write_error_;
    }

    /// Why this side closed the connection (a limit, a failed write, abort()).
    std::error_code
    close_reason() const noexcept
    {
        return reason_;
    }

    time_point
    read_deadline() const noexcept
    {
        return read_deadline_;
    }

    time_point
    handler_deadline() const noexcept
    {
        return handler_deadline_;
    }

    time_point
    write_deadline() const noexcept
    {
        return write_deadline_;
    }

private:
    static time_point
    after(time_point now, duration d) noexcept
    {
        if (d <= duration::zero())
            return time_point::max();
        return d > time_point::max() - now ? time_point::max() : now + d;
    }

    static action
    refuse(std::error_code ec) noexcept
    {
        action a;
        a.refuse = true;
        a.ec = ec;
        return a;
    }

    action
    start(time_point now) noexcept
    {
        action a;
        if (tick_ == duration::zero())
            return a; // no limits: no watchdog
        read_clock_ = read_clock::idle;
        read_deadline_ = after(now, limits_->idle_timeout);
        a.wake = after(now, tick_);
        return a;
    }

    action
    read_requested(time_point) noexcept
    {
        if (status_ == status::reading)
            return refuse(std::make_error_code(std::errc::operation_in_progress));
        handler_deadline_ = time_point::max(); // the handler is back for more
        if (reason_)
            return refuse(reason_);
        if (is_closing())
            return refuse(mllp::make_error_code(mllp::error::connection_closed));
        if (read_error_)
            return refuse(read_error_);
        status_ = status::reading;
        return {};
    }

    // Before each wait for bytes: an idle connection gets idle_timeout from
    // the start of the wait; once a frame has begun it gets frame_timeout
    // from then, for the whole frame (trickling bytes does not extend it).
    action
    read_wait(time_point now, bool in_frame) noexcept
    {
        if (!limits_)
            return {};
        if (in_frame) {
            if (read_clock_ != read_clock::frame) {
                read_clock_ = read_clock::frame;
                read_deadline_ = after(now, limits_->frame_timeout);
            }
        } else if (read_clock_ == read_clock::off) {
            read_clock_ = read_clock::idle;
            read_deadline_ = after(now, limits_->idle_timeout);
        }
        return {};
    }

    action
    read_done(time_point now, std::error_code ec) noexcept
    {
        if (status_ == status::reading)
            status_ = status::open;
        if (is_closing()) // this side closed it: say why, whatever the read saw
            return refuse(reason_ ? reason_ : mllp::make_error_code(mllp::error::connection_closed));
        using mllp::detail::failure;
        auto const kind = ec ? mllp::detail::classify(ec) : failure::other;
        if (!ec || kind == failure::invalid_block || kind == failure::frame_too_large) {
            // A frame, good or bad (a bad one wants an answer too, a NAK):
            // the read clocks stop, the handler's starts.
            read_clock_ = read_clock::off;
            read_deadline_ = time_point::max();
            if (limits_)
                handler_deadline_ = after(now, limits_->handler_timeout);
            return ec ? refuse(ec) : action{};
        }
        if (kind == failure::cancelled) {
            // The caller was cancelled (wait_for): nothing is lost and the
            // connection goes on; the clocks keep running.
            return refuse(ec);
        }
        read_clock_ = read_clock::off;
        read_deadline_ = time_point::max();
        if (ec.category() != mllp::error_category())
            read_error_ = ec; // a transport failure: no more reads (the peer's end is sticky in the decoder)
        return refuse(ec);
    }

    action
    queued(time_point now, std::size_t n) noexcept
    {
        if (limits_ && limits_->max_write_queue != 0 && queued_ != 0 && queued_ + n > limits_->max_write_queue) {
            action a = limit(mllp::error::write_queue_full);
            a.refuse = true;
            return a;
        }
        bool const was_empty = queued_ == 0;
        queued_ += n;
        if (!was_empty)
            return {};
        if (limits_)
            write_deadline_ = after(now, limits_->write_timeout);
        action a;
        a.what = action::type::start_write;
        return a;
    }

    action
    written(time_point now, std::size_t n) noexcept
    {
        if (status_ == status::closed)
            return {}; // a write that ended after an abort: its data is dropped
        queued_ -= std::min(queued_, n);
        if (queued_ != 0) {
            if (limits_)
                write_deadline_ = after(now, limits_->write_timeout); // progress
            return {};
        }
        write_deadline_ = time_point::max();
        action a;
        a.notify_drain = true;
        if (status_ == status::closing) {
            close_all();
            a.what = action::type::close_graceful;
        }
        return a;
    }

    action
    write_failed(std::error_code ec) noexcept
    {
        if (!write_error_)
            write_error_ = ec;
        queued_ = 0;
        action a;
        a.notify_drain = true;
        if (status_ != status::closed) {
            if (!reason_)
                reason_ = ec;
            close_all();
            a.what = action::type::close_now;
            a.ec = ec;
        }
        return a;
    }

    action
    close() noexcept
    {
        if (is_closing())
            return {};
        if (queued_ != 0) {
            status_ = status::closing; // the last written event closes it
            return {};
        }
        close_all();
        action a;
        a.what = action::type::close_graceful;
        return a;
    }

    // A handler waiting for a frame is ended now (its read fails with
    // connection_closed once queued data is sent); one busy with a message
    // may finish it and answer, and its next read fails.
    action
    shutdown() noexcept
    {
        if (status_ == status::closed)
            return {};
        if (!read_error_)
            read_error_ = mllp::make_error_code(mllp::error::connection_closed);
        if (status_ == status::reading)
            return close();
        return {};
    }

    action
    abort(std::error_code reason) noexcept
    {
        if (status_ == status::closed)
            return {};
        if (!reason_)
            reason_ = reason;
        if (!write_error_)
            write_error_ = reason;
        queued_ = 0;
        close_all();
        action a;
        a.what = action::type::close_now;
        a.ec = reason;
        a.notify_drain = true;
        return a;
    }

    action
    limit(mllp::error reason) noexcept
    {
        action a = abort(mllp::make_error_code(reason));
        a.report = a.what != action::type::none;
        return a;
    }

    action
    tick(time_point now) noexcept
    {
        if (status_ == status::closed || tick_ == duration::zero())
            return {};
        if (read_deadline_ <= now)
            return limit(read_clock_ == read_clock::frame ? mllp::error::frame_timeout : mllp::error::idle_timeout);
        if (handler_deadline_ <= now) {
            action a = limit(mllp::error::handler_timeout);
            a.cancel_handler = true;
            return a;
        }
        if (write_deadline_ <= now)
            return limit(mllp::error::write_timeout);
        action a;
        a.wake = std::min({read_deadline_, handler_deadline_, write_deadline_, after(now, tick_)});
        return a;
    }

    void
    close_all() noexcept
    {
        status_ = status::closed;
        read_deadline_ = handler_deadline_ = write_deadline_ = time_point::max();
    }

    server_options const* limits_;
    duration tick_{0};
    status status_ = status::open;
    read_clock read_clock_ = read_clock::off;
    time_point read_deadline_ = time_point::max();
    time_point handler_deadline_ = time_point::max();
    time_point write_deadline_ = time_point::max();
    std::size_t queued_ = 0;
    std::error_code reason_;      // why this side closed
    std::error_code read_error_;  // sticky: no more reads (transport failure, server shutdown)
    std::error_code write_error_; // sticky: what writes and drain() report
};

} // namespace hl7::detail

#endif
