#ifndef HL7_NET_CLIENT_HPP
#define HL7_NET_CLIENT_HPP

// hl7::client: the reliable sender. Matches each ACK to its message by
// MSA-2, keeps a window of messages in flight on one connection, reconnects
// with back-off, retries per policy and reports every message's fate.

#include <hl7/detail/asio_config.hpp>
#include <hl7/net/client_error.hpp>
#include <hl7/net/client_options.hpp>
#include <hl7/net/detail/client_fsm.hpp>
#include <hl7/net/open_connection.hpp>
#include <hl7/net/stream_reader.hpp>
#include <hl7/net/stream_writer.hpp>
#include <hl7/model/message.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/associated_allocator.hpp>
#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/awaitable.hpp>
#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/error.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/use_awaitable.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <utility>

namespace hl7 {

/// One connection as the client uses it: the facade's reader and writer.
using client_connection = std::pair<stream_reader, stream_writer>;

/** Makes one connection. The client calls it for every attempt, on its own
    executor (a strand), and bounds it by `client_options::connect_timeout`
    (cancelling it when the time is up). Throw `std::system_error` with the
    cause on failure; `client_options::is_permanent` decides whether to
    retry. TLS or UNIX-domain connections plug in here. */
using connect_function = std::function<asio::awaitable<client_connection>()>;

/// The default connect function: TCP to `host`:`port` with open_hl7_connection().
inline connect_function
tcp_connect(std::string host, std::uint16_t port, connection_options options = {})
{
    return [host = std::move(host), port, options]() { return open_hl7_connection(host, port, options); };
}

namespace detail {

// A send() or close() waiting on the strand: a timer that never expires,
// cancelled to wake it.
struct client_waiter
{
    explicit client_waiter(asio::strand<asio::any_io_executor> const& s)
        : timer(s, std::chrono::steady_clock::time_point::max())
    {
    }
    asio::steady_timer timer;
    std::optional<send_outcome> outcome{};
    bool cancelled = false; // the caller cancelled (per-operation cancellation)
    bool woken = false;     // room in the queue was reserved for it
};

// The caller's completion handler without its cancellation slot: the client
// handles cancellation itself, on its strand. (Asio 1.22's co_spawn would
// run the slot's handler on whatever thread emits the signal.)
template<class Handler>
struct client_completion
{
    Handler handler;
    asio::cancellation_slot slot;
    asio::any_io_executor fallback;

    using executor_type = asio::associated_executor_t<Handler, asio::any_io_executor>;
    executor_type
    get_executor() const noexcept
    {
        return asio::get_associated_executor(handler, fallback);
    }

    using allocator_type = asio::associated_allocator_t<Handler>;
    allocator_type
    get_allocator() const noexcept
    {
        return asio::get_associated_allocator(handler);
    }

    template<class... Args>
    void
    operator()(Args&&... args)
    {
        if (slot.is_connected())
            slot.clear();
        std::move(handler)(std::forward<Args>(args)...);
    }
};

class client_impl : public std::enable_shared_from_this<client_impl>
{
public:
    using clock = std::chrono::steady_clock;
    using strand_type = asio::strand<asio::any_io_executor>;
    using fsm = client_fsm;

    client_impl(asio::any_io_executor const& ex, connect_function connect, client_options options)
        : strand_(asio::make_strand(ex)),
          options_(std::move(options)),
          connect_(std::move(connect)),
          fsm_(options_),
          timer_(strand_)
    {
    }

    strand_type const&
    strand() const noexcept
    {
        return strand_;
    }

    //----------------------------------------------------------------------
    // Operations (coroutines on the strand)

    static asio::awaitable<send_outcome>
    send_op(std::shared_ptr<client_impl> self, std::string payload, std::shared_ptr<client_waiter> w)
    {
        constexpr auto as_tuple = asio::experimental::as_tuple(asio::use_awaitable);
        client_impl& s = *self;
        // Back-pressure: wait for room, first come first served.
        while (!w->cancelled && !s.fsm_.is_closing() && s.fsm_.queued() + s.reserved_ >= s.queue_limit()) {
            s.space_waiters_.push_back(w);
            co_await w->timer.async_wait(as_tuple);
            if (w->woken) {
                w->woken = false;
                --s.reserved_;
            }
        }
        if (w->cancelled) {
            s.forget_space_waiter(w);
            s.release_space();
            throw std::system_error(asio::error::operation_aborted);
        }
        auto const id = s.fsm_.submit(std::move(payload), clock::now());
        s.waiters_.emplace(id, w);
        s.dispatch();
        if (!w->outcome && !w->cancelled)
            co_await w->timer.async_wait(as_tuple);
        if (!w->outcome) { // cancelled: nobody waits for it any more
            s.waiters_.erase(id);
            s.fsm_.abandon(id);
            s.dispatch();
            throw std::system_error(asio::error::operation_aborted);
        }
        co_return std::move(*w->outcome);
    }

    static asio::awaitable<void>
    close_op(std::shared_ptr<client_impl> self, clock::duration drain)
    {
        constexpr auto as_tuple = asio::experimental::as_tuple(asio::use_awaitable);
        client_impl& s = *self;
        auto const now = clock::now();
        auto const deadline = drain > clock::time_point::max() - now ? clock::time_point::max() : now + drain;
        s.fsm_.close(deadline, now);
        s.dispatch();
        if (!s.closed_) {
            auto w = std::make_shared<client_waiter>(s.strand_);
            s.close_waiters_.push_back(w);
            co_await w->timer.async_wait(as_tuple);
        }
    }

    // The per-operation cancellation of a send(), posted to the strand.
    void
    cancel(std::shared_ptr<client_waiter> const& w)
    {
        if (w->outcome || w->cancelled)
            return;
        w->cancelled = true;
        w->timer.cancel();
    }

    // The client object went away without close(): give everything up now.
    void
    close_now()
    {
        fsm_.close(clock::now(), clock::now());
        dispatch();
    }

private:
    struct link
    {
        fsm::connection_id id = 0;
        std::optional<stream_writer> writer{};
    };

    struct connect_result
    {
        std::error_code ec{};
        std::optional<client_connection> connection{};
    };

    std::size_t
    queue_limit() const noexcept
    {
        return std::max<std::size_t>(options_.queue_limit, 1);
    }

    // Carries out the state machine's actions and writes what the window
    // allows, until there is nothing left; then re-arms the timer and wakes
    // senders waiting for room. Re-entrant calls (from a callback) fold in.
    void
    dispatch()
    {
        if (dispatching_)
            return;
        dispatching_ = true;
        for (;;) {
            if (auto a = fsm_.poll()) {
                execute(*a);
                continue;
            }
            if (link_.writer) {
                if (auto w = fsm_.next_write(clock::now())) {
                    write(*w);
                    continue;
                }
            }
            break;
        }
        dispatching_ = false;
        arm_timer();
        release_space();
    }

    void
    execute(fsm::action& a)
    {
        using kind = fsm::action::kind;
        switch (a.what) {
        case kind::connect: start_connect(a.conn); break;
        case kind::cancel_connect:
            if (connect_cancel_ && connecting_ == a.conn)
                connect_cancel_->emit(asio::cancellation_type::terminal);
            break;
        case kind::close_connection: close_link(a.conn, a.graceful); break;
        case kind::complete: {
            auto it = waiters_.find(a.id);
            if (it != waiters_.end()) {
                it->second->outcome = std::move(a.outcome);
                it->second->timer.cancel();
                waiters_.erase(it);
            }
            break;
        }
        case kind::event:
            if (a.event.what == client_event::kind::closed)
                on_closed();
            if (options_.on_event) {
                try {
                    options_.on_event(a.event);
                } catch (...) { // a callback must not break the client
                }
            }
            break;
        case kind::unmatched_ack:
            if (options_.on_unmatched_ack) {
                try {
                    options_.on_unmatched_ack(a.payload);
                } catch (...) {
                }
            }
            break;
        }
    }

    // The facade is used here and in start_connect/read_loop/close_link only.
    void
    write(fsm::write_ref const& w)
    {
        try {
            link_.writer->writeblock(w.payload);
        } catch (std::system_error const& e) {
            fsm_.write_failed(w.conn, e.code(), clock::now());
        }
    }

    void
    close_link(fsm::connection_id c, bool graceful)
    {
        if (!link_.writer || link_.id != c)
            return;
        if (graceful)
            link_.writer->close();
        else
            link_.writer->abort();
        link_ = {};
    }

    void
    start_connect(fsm::connection_id c)
    {
        auto signal = std::make_shared<asio::cancellation_signal>();
        connect_cancel_ = signal;
        connecting_ = c;
        auto self = shared_from_this();
        asio::co_spawn(strand_, connect_op(self),
                       asio::bind_cancellation_slot(signal->slot(),
                                                    [self, c, signal](std::exception_ptr, connect_result r) {
                                                        self->on_connect_result(c, std::move(r));
                                                    }));
    }

    static asio::awaitable<connect_result>
    connect_op(std::shared_ptr<client_impl> self)
    {
        connect_result r;
        try {
            r.connection.emplace(co_await self->connect_());
        } catch (std::system_error const& e) {
            r.ec = e.code();
        } catch (std::exception const&) {
            r.ec = std::make_error_code(std::errc::io_error);
        }
        co_return r;
    }

    void
    on_connect_result(fsm::connection_id c, connect_result r)
    {
        if (connecting_ == c)
            connect_cancel_.reset();
        auto const now = clock::now();
        if (r.connection) {
            if (fsm_.connected(c, now)) {
                link_.id = c;
                link_.writer.emplace(r.connection->second);
                auto self = shared_from_this();
                stream_reader reader = r.connection->first;
                asio::co_spawn(strand_, read_loop(self, reader, c), asio::detached);
            } else {
                r.connection->second.abort(); // timed out or closed meanwhile
            }
        } else {
            bool const permanent =
                options_.is_permanent ? options_.is_permanent(r.ec) : client_permanent_error(r.ec);
            fsm_.connect_failed(c, r.ec, permanent, now);
        }
        dispatch();
    }

    static asio::awaitable<void>
    read_loop(std::shared_ptr<client_impl> self, stream_reader reader, fsm::connection_id c)
    {
        for (;;) {
            std::error_code ec;
            std::string_view block;
            try {
                block = co_await reader.readblock_view();
            } catch (std::system_error const& e) {
                ec = e.code();
            } catch (std::exception const&) {
                ec = std::make_error_code(std::errc::io_error);
            }
            if (!self->fsm_.is_current(c))
                co_return;
            if (ec) {
                self->fsm_.connection_lost(c, ec, clock::now());
                self->dispatch();
                co_return;
            }
            self->fsm_.frame(c, block, clock::now());
            self->dispatch();
        }
    }

    // One timer for every deadline, armed lazily: only re-armed when the
    // next deadline moves earlier (ACKs usually move it later; a wake-up at
    // a stale deadline just finds nothing due and re-arms).
    void
    arm_timer()
    {
        auto const d = fsm_.next_deadline();
        if (closed_ || d == clock::time_point::max())
            return;
        if (timer_armed_ && timer_at_ <= d)
            return;
        timer_armed_ = true;
        timer_at_ = d;
        auto const gen = ++timer_gen_;
        timer_.expires_at(d);
        timer_.async_wait([self = shared_from_this(), gen](std::error_code ec) {
            if (gen != self->timer_gen_)
                return; // superseded by a newer arm
            self->timer_armed_ = false;
            if (ec)
                return;
            self->fsm_.tick(clock::now());
            self->dispatch();
        });
    }

    // Wakes senders waiting for room, one per free slot.
    void
    release_space()
    {
        bool const closing = fsm_.is_closing();
        while (!space_waiters_.empty() && (closing || fsm_.queued() + reserved_ < queue_limit())) {
            auto w = std::move(space_waiters_.front());
            space_waiters_.pop_front();
            w->woken = true;
            ++reserved_;
            w->timer.cancel();
        }
    }

    void
    forget_space_waiter(std::shared_ptr<client_waiter> const& w)
    {
        auto it = std::find(space_waiters_.begin(), space_waiters_.end(), w);
        if (it != space_waiters_.end())
            space_waiters_.erase(it);
    }

    void
    on_closed()
    {
        closed_ = true;
        ++timer_gen_;
        timer_.cancel();
        for (auto& w : close_waiters_)
            w->timer.cancel();
        close_waiters_.clear();
    }

    strand_type strand_;
    client_options options_;
    connect_function connect_;
    fsm fsm_;

    link link_{};
    std::shared_ptr<asio::cancellation_signal> connect_cancel_{};
    fsm::connection_id connecting_ = 0;

    std::unordered_map<fsm::message_id, std::shared_ptr<client_waiter>> waiters_{};
    std::deque<std::shared_ptr<client_waiter>> space_waiters_{};
    std::size_t reserved_ = 0; // slots promised to woken senders
    std::vector<std::shared_ptr<client_waiter>> close_waiters_{};

    asio::steady_timer timer_;
    clock::time_point timer_at_{};
    std::uint64_t timer_gen_ = 0;
    bool timer_armed_ = false;

    bool dispatching_ = false;
    bool closed_ = false;
};

} // namespace detail

/** A reliable MLLP sender: `co_await client.send(msg)` returns that
    message's outcome.

    <!-- doc-test: coroutine body -->
    @code
    #include <iostream>

    hl7::client client(co_await asio::this_coro::executor, "127.0.0.1", 2575);
    hl7::send_outcome r = co_await client.send(msg);
    if (r.accepted())                                 // AA (or CA)
        std::cout << "accepted\n";
    else if (r.fate == hl7::send_fate::acknowledged)  // AE/AR: r.ack_code, r.ack
        std::cout << "refused: " << r.ack_code << "\n";
    else                                              // not_sent / unknown: r.reason
        std::cout << "failed: " << r.reason.message() << "\n";
    co_await client.close();                          // drains what is in flight
    @endcode

    - **Matching**: an ACK acknowledges a message only when its MSA-2 equals
      the message's MSH-10. Anything else (late, duplicate, wrong id) goes to
      `client_options::on_unmatched_ack` and is dropped. An answer that is
      not an ACK closes the connection; the messages in flight are retried.
    - **Window and queue**: `client_options::window` messages in flight on one
      connection, written in order (1 by default); up to `queue_limit`
      waiting in front; `send()` waits while the queue is full.
    - **Connection**: made when a message waits (lazily), through the
      connect function (TCP by default); lost connections are remade with
      exponential back-off and jitter (`client_options::backoff`); changes are
      reported to `client_options::on_event`.
    - **Retries and fate**: a message written and not acknowledged when its
      connection is lost, its ACK times out or the answer is not an ACK is
      written again (same MSH-10) up to `max_retries` times; then its fate is
      `send_fate::unknown`. A message never written is `not_sent`. AE/CE is
      resent only with `retry_on_error`; AR/CR never.

    @par Errors
    `send()` does not throw for delivery problems: they are outcomes, with a
    typed `reason` (`client_error::ack_timeout`, `mllp::error::end_of_stream`,
    the OS code of a reset or a refused connection, ...). It throws
    `std::system_error(operation_aborted)` only when the awaiting operation
    is cancelled (e.g. by `hl7::wait_for`): a message still waiting is then
    dropped; one already written stays in flight and its outcome is lost to
    the caller.

    @par Thread safety
    `send()`, `async_send()`, `close()` may be called from any thread,
    concurrently: each posts to the client's strand, where all of its work
    runs (the connection included) and from where the callbacks are called.
    Moving or destroying the client object itself must not race with calls.

    @par Lifetimes
    The client's work keeps its state alive; destroying the client object
    gives up what is still waiting or in flight (`client_error::client_closed`)
    and closes the connection. Call `close()` first to drain.
*/
class client
{
public:
    using executor_type = asio::strand<asio::any_io_executor>;

    /// A client of the MLLP receiver at `host`:`port` over TCP.
    client(asio::any_io_executor const& ex, std::string host, std::uint16_t port, client_options options = {})
    {
        connection_options copts = options.connection;
        copts.connect_timeout = options.connect_timeout;
        impl_ = std::make_shared<detail::client_impl>(ex, tcp_connect(std::move(host), port, copts),
                                                      std::move(options));
    }

    /// A client that makes its connections with `connect` (TLS, UNIX sockets, tests).
    client(asio::any_io_executor const& ex, connect_function connect, client_options options = {})
        : impl_(std::make_shared<detail::client_impl>(ex, std::move(connect), std::move(options)))
    {
    }

    client(client const&) = delete;
    client& operator=(client const&) = delete;
    client(client&&) noexcept = default;

    client&
    operator=(client&& other) noexcept
    {
        if (this != &other) {
            abandon();
            impl_ = std::move(other.impl_);
        }
        return *this;
    }

    ~client() { abandon(); }

    /// The strand the client runs on (callbacks are called there).
    executor_type
    get_executor() const noexcept
    {
        return impl_->strand();
    }

    /** send() with any completion token: `void(std::exception_ptr, send_outcome)`.
        A plain callback is called on the client's strand. */
    template<class CompletionToken>
    auto
    async_send(message const& m, CompletionToken&& token)
    {
        std::string payload = m.to_string();
        return async_send_block(std::move(payload), std::forward<CompletionToken>(token));
    }

    /// async_send() for a serialised payload.
    template<class CompletionToken>
    auto
    async_send_block(std::string payload, CompletionToken&& token)
    {
        return asio::async_initiate<CompletionToken, void(std::exception_ptr, send_outcome)>(
            [](auto handler, std::shared_ptr<detail::client_impl> impl, std::string payload) {
                using handler_type = std::decay_t<decltype(handler)>;
                auto waiter = std::make_shared<detail::client_waiter>(impl->strand());
                auto slot = asio::get_associated_cancellation_slot(handler);
                if (slot.is_connected())
                    slot.assign([impl, waiter](asio::cancellation_type type) {
                        if (type != asio::cancellation_type::none)
                            asio::post(impl->strand(), [impl, waiter] { impl->cancel(waiter); });
                    });
                asio::co_spawn(impl->strand(), detail::client_impl::send_op(impl, std::move(payload), waiter),
                               detail::client_completion<handler_type>{std::move(handler), slot,
                                                                       asio::any_io_executor(impl->strand())});
            },
            token, impl_, std::move(payload));
    }

    /// close() with any completion token: `void(std::exception_ptr)`.
    template<class CompletionToken>
    auto
    async_close(std::chrono::steady_clock::duration drain, CompletionToken&& token)
    {
        return asio::async_initiate<CompletionToken, void(std::exception_ptr)>(
            [](auto handler, std::shared_ptr<detail::client_impl> impl, std::chrono::steady_clock::duration d) {
                using handler_type = std::decay_t<decltype(handler)>;
                asio::co_spawn(impl->strand(), detail::client_impl::close_op(impl, d),
                               detail::client_completion<handler_type>{std::move(handler), {},
                                                                       asio::any_io_executor(impl->strand())});
            },
            token, impl_, drain);
    }

    /** Sends `m` (serialised now) and returns its outcome.

        Waits while the queue is full (back-pressure), then until the message
        is acknowledged or given up. See the class documentation for what
        the outcome can be.

        @par Cancellation
        Terminal cancellation of the awaiting coroutine (e.g. `hl7::wait_for`)
        ends the wait with `std::system_error(operation_aborted)`.
    */
    asio::awaitable<send_outcome>
    send(message const& m)
    {
        std::string payload = m.to_string();
        return async_send_block(std::move(payload), asio::use_awaitable);
    }

    /// As send(), for a payload already serialised (its MSH-10 is read from it).
    asio::awaitable<send_outcome>
    send_block(std::string payload)
    {
        return async_send_block(std::move(payload), asio::use_awaitable);
    }

    /** Stops taking messages (a later send() is `not_sent`,
        `client_error::client_closed`), keeps sending what waits and awaiting
        ACKs for at most `drain`, then gives up the rest (in flight:
        `unknown`; waiting: `not_sent`) and closes the connection. Returns
        when every message has its outcome. */
    asio::awaitable<void>
    close(std::chrono::steady_clock::duration drain = std::chrono::seconds(10))
    {
        return async_close(drain, asio::use_awaitable);
    }

private:
    void
    abandon() noexcept
    {
        if (!impl_)
            return;
        try {
            asio::post(impl_->strand(), [impl = impl_] { impl->close_now(); });
        } catch (...) { // posting can only fail for lack of memory
        }
        impl_.reset();
    }

    std::shared_ptr<detail::client_impl> impl_;
};

} // namespace hl7

#endif
