#ifndef HL7_NET_DETAIL_CLIENT_FSM_HPP
#define HL7_NET_DETAIL_CLIENT_FSM_HPP

// The reliable client's policy as a sans-I/O state machine (Boost.Redis'
// reader_fsm idea): the queue, the window, matching ACKs by MSA-2, timeouts,
// retries, back-off and the fate of every message, with no socket, no timer
// and no clock of its own. The caller feeds it events with the current time
// and carries out the actions it returns; hl7::client does that over Asio,
// the tests do it with plain values and a fake clock.
//
//   inputs   submit, close, abandon, connected, connect_failed, frame,
//            connection_lost, write_failed, tick (time passed)
//   outputs  poll() -> action: connect, cancel_connect, close_connection,
//            complete (a message's outcome), event, unmatched_ack
//            next_write() -> the next message to write, if the window allows
//            next_deadline() -> when to call tick() at the latest
//
// Connections are numbered; an event about a connection that is no longer
// the current one is ignored, so a late read or connect result can never
// touch messages of a newer connection.

#include <hl7/net/client_error.hpp>
#include <hl7/net/client_options.hpp>
#include <hl7/model/ack_mode.hpp>
#include <hl7/mllp/error.hpp>
#include <hl7/parser/locate.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace hl7::detail {

class client_fsm
{
public:
    using clock = std::chrono::steady_clock;
    using time_point = clock::time_point;
    using duration = clock::duration;
    using message_id = std::uint64_t;
    using connection_id = std::uint64_t;

    /// Where the connection stands.
    enum class link {
        idle,        // no connection; one is made when a message waits
        connecting,  // attempt `current_connection()` under way
        connected,   // messages are written on `current_connection()`
        backing_off, // waiting until the back-off delay has passed
        closed,      // close() finished: every message has its outcome
    };

    struct action
    {
        enum class kind {
            connect,          // start attempt `conn`; report connected()/connect_failed()
            cancel_connect,   // give attempt `conn` up (timed out or closing); its result is ignored
            close_connection, // close `conn`: graceful (queued bytes first) or abort
            complete,         // message `id` has its `outcome`
            event,            // a connection `event` for client_options::on_event
            unmatched_ack,    // an ACK (`payload`) that matched nothing in flight; dropped
        };
        kind what = kind::event;
        connection_id conn = 0;
        bool graceful = false;
        message_id id = 0;
        send_outcome outcome{};
        client_event event{};
        std::string payload{};
    };

    /// A message to write now: the view is valid until the next call into the FSM.
    struct write_ref
    {
        message_id id = 0;
        std::string_view payload{};
        connection_id conn = 0;
    };

    explicit client_fsm(client_options const& options)
        : window_(std::max<std::size_t>(options.window, 1)),
          queue_limit_(std::max<std::size_t>(options.queue_limit, 1)),
          connect_timeout_(options.connect_timeout),
          ack_timeout_(options.ack_timeout),
          dead_peer_timeout_(options.dead_peer_timeout),
          max_retries_(options.max_retries),
          max_connect_failures_(options.max_connect_failures),
          retry_on_error_(options.retry_on_error),
          wait_for_application_ack_(options.wait_for_application_ack),
          backoff_(options.backoff),
          rng_(std::random_device{}())
    {
    }

    //----------------------------------------------------------------------
    // Inputs

    /** A new message (its serialised payload). Returns its id; its outcome
        comes later as a `complete` action (at once for a message without
        MSH-10 or after close()). Does not check `queue_full()`: waiting for
        room is the caller's back-pressure. */
    message_id
    submit(std::string payload, time_point now)
    {
        message_id const id = next_id_++;
        entry e;
        e.id = id;
        e.submitted = now;
        std::error_code ec;
        std::string_view const cid = hl7::locate(payload, "MSH.10", ec);
        e.control_id.assign(cid.data(), cid.size());
        e.payload = std::move(payload);
        if (ec || e.control_id.empty()) {
            complete_failed(e, make_error_code(client_error::missing_control_id), now);
            return id;
        }
        ack_requirements const req = requirements_of(e.payload);
        if (req.mode == ack_mode::enhanced && silent_on_success(req.accept) && silent_on_success(req.application)) {
            complete_failed(e, make_error_code(client_error::no_ack_requested), now);
            return id;
        }
        e.await_application = wait_for_application_ack_ && req.mode == ack_mode::enhanced &&
                              req.application == ack_condition::always;
        if (closing_ || link_ == link::closed) {
            complete_failed(e, make_error_code(client_error::client_closed), now);
            return id;
        }
        queue_.push_back(std::move(e));
        pump(now);
        return id;
    }

    /// True when `send()` should wait: `queue_limit` messages wait already.
    bool
    queue_full() const noexcept
    {
        return queue_.size() >= queue_limit_;
    }

    /** Nobody waits for message `id` any more (its sender was cancelled). A
        message still waiting (a retry included) is dropped; one in flight stays (its ACK must
        still be consumed) and its outcome is reported as usual. */
    void
    abandon(message_id id)
    {
        auto it = std::find_if(queue_.begin(), queue_.end(), [id](entry const& e) { return e.id == id; });
        if (it != queue_.end())
            queue_.erase(it);
    }

    /** Stop taking messages; keep sending what waits and awaiting ACKs until
        `deadline`, then give up the rest (`client_error::client_closed`).
        Ends with an `event` of kind `closed`. A second call can only bring
        the deadline forward. */
    void
    close(time_point deadline, time_point now)
    {
        if (link_ == link::closed)
            return;
        if (closing_ && deadline >= close_deadline_)
            return;
        closing_ = true;
        close_deadline_ = deadline;
        if (deadline <= now)
            give_up_all(now);
        else
            pump(now);
    }

    /** The next message to write on the current connection, moved into the
        window (its attempt counted), or nothing when the window is full, the
        queue empty, no connection is up, or the head of the queue has the
        MSH-10 of a message in flight. */
    std::optional<write_ref>
    next_write(time_point now)
    {
        if (link_ != link::connected || flight_.size() >= window_ || queue_.empty())
            return std::nullopt;
        entry& head = queue_.front();
        for (auto const& f : flight_)
            if (f.control_id == head.control_id)
                return std::nullopt;
        if (flight_.empty())
            rx_mark_ = now; // the dead-peer clock starts with the first write after a quiet spell
        flight_.push_back(std::move(head));
        queue_.pop_front();
        entry& e = flight_.back();
        ++e.attempts;
        e.written = now;
        return write_ref{e.id, e.payload, conn_};
    }

    /** The message last returned by next_write() was not written (the
        connection had failed): it goes back to the queue uncounted, and the
        connection is treated as lost with `ec`. */
    void
    write_failed(connection_id c, std::error_code ec, time_point now)
    {
        if (c != conn_ || link_ != link::connected)
            return;
        if (!flight_.empty()) {
            entry e = std::move(flight_.back());
            flight_.pop_back();
            --e.attempts;
            queue_.push_front(std::move(e));
        }
        drop_connection(ec, now);
    }

    /// Attempt `c` succeeded. False if it is stale: the caller must close that connection.
    bool
    connected(connection_id c, time_point now)
    {
        if (c != conn_ || link_ != link::connecting)
            return false;
        link_ = link::connected;
        connect_deadline_ = time_point::max();
        connect_failures_ = 0;
        progress_ = false;
        rx_mark_ = now;
        emit_event(client_event::kind::connected, {});
        pump(now);
        return true;
    }

    /// Attempt `c` failed with `ec`; `permanent`: retrying cannot help.
    void
    connect_failed(connection_id c, std::error_code ec, bool permanent, time_point now)
    {
        if (c != conn_ || link_ != link::connecting)
            return;
        connect_deadline_ = time_point::max();
        client_event ev;
        ev.what = client_event::kind::connect_failed;
        ev.reason = ec;
        ev.permanent = permanent;
        if (permanent) {
            ev.failures = failures_;
            push_event(ev);
            fail_waiting(ec, now);
            connect_failures_ = 0;
            link_ = link::idle;
            pump(now);
            return;
        }
        ++failures_;
        ++connect_failures_;
        ev.failures = failures_;
        push_event(ev);
        if (max_connect_failures_ != 0 && connect_failures_ >= max_connect_failures_) {
            fail_waiting(ec, now);
            connect_failures_ = 0;
        }
        after_failure(now);
    }

    /// A frame arrived on connection `c`.
    void
    frame(connection_id c, std::string_view payload, time_point now)
    {
        if (c != conn_ || link_ != link::connected)
            return;
        rx_mark_ = now;
        std::error_code ec;
        std::string_view const code = hl7::locate(payload, "MSA.1", ec);
        if (ec || !is_ack_code(code))
            return drop_connection(make_error_code(client_error::not_an_ack), now);
        std::string_view const acked = hl7::locate(payload, "MSA.2", ec);
        auto it = std::find_if(flight_.begin(), flight_.end(), [&](entry const& e) { return e.control_id == acked; });
        if (ec || it == flight_.end()) {
            action a;
            a.what = action::kind::unmatched_ack;
            a.conn = c;
            a.payload.assign(payload.data(), payload.size());
            actions_.push_back(std::move(a));
            return;
        }
        progress_ = true;
        failures_ = 0;
        if (code == "CA" && it->await_application) {
            // Committed; the outcome is the application ACK still to come.
            it->commit_code.assign(code.data(), code.size());
            return;
        }
        entry e = std::move(*it);
        flight_.erase(it);
        bool const error_answer = code == "AE" || code == "CE";
        if (error_answer && retry_on_error_ && e.attempts <= max_retries_) {
            e.last_error = {};
            e.commit_code.clear();
            queue_.push_front(std::move(e));
        } else {
            action a;
            a.what = action::kind::complete;
            a.id = e.id;
            a.outcome.fate = send_fate::acknowledged;
            a.outcome.ack_code.assign(code.data(), code.size());
            a.outcome.ack.assign(payload.data(), payload.size());
            a.outcome.commit_code = std::move(e.commit_code);
            a.outcome.control_id = std::move(e.control_id);
            a.outcome.attempts = e.attempts;
            a.outcome.round_trip = now - e.written;
            a.outcome.elapsed = now - e.submitted;
            actions_.push_back(std::move(a));
        }
        pump(now);
    }

    /// Connection `c` ended (the peer closed, a reset, a read or write error).
    void
    connection_lost(connection_id c, std::error_code ec, time_point now)
    {
        if (c != conn_ || link_ != link::connected)
            return;
        drop_connection(ec, now);
    }

    /// Time passed: fire whatever deadline is due. Call at next_deadline() (earlier is harmless).
    void
    tick(time_point now)
    {
        if (link_ == link::closed)
            return;
        if (closing_ && now >= close_deadline_)
            return give_up_all(now);
        switch (link_) {
        case link::connecting:
            if (now >= connect_deadline_) {
                push_action(action::kind::cancel_connect);
                connect_failed(conn_, mllp_connect_timeout(), false, now);
            }
            break;
        case link::connected:
            if (flight_.empty())
                break;
            if (ack_timeout_ > duration::zero() && now >= add(flight_.front().written, ack_timeout_))
                drop_connection(make_error_code(client_error::ack_timeout), now);
            else if (dead_peer_timeout_ > duration::zero() && now >= add(rx_mark_, dead_peer_timeout_))
                drop_connection(make_error_code(client_error::dead_peer), now);
            break;
        case link::backing_off:
            if (now >= retry_at_) {
                retry_at_ = time_point::max();
                link_ = link::idle;
                pump(now);
            }
            break;
        case link::idle:
        case link::closed: break;
        }
    }

    //----------------------------------------------------------------------
    // Outputs

    /// The next action to carry out, in order; nothing when there is none.
    std::optional<action>
    poll()
    {
        if (actions_.empty())
            return std::nullopt;
        action a = std::move(actions_.front());
        actions_.pop_front();
        return a;
    }

    /// When tick() must be called at the latest (time_point::max(): no deadline).
    time_point
    next_deadline() const noexcept
    {
        time_point t = time_point::max();
        if (link_ == link::closed)
            return t;
        if (closing_)
            t = close_deadline_;
        switch (link_) {
        case link::connecting: t = std::min(t, connect_deadline_); break;
        case link::connected:
            if (!flight_.empty()) {
                if (ack_timeout_ > duration::zero())
                    t = std::min(t, add(flight_.front().written, ack_timeout_));
                if (dead_peer_timeout_ > duration::zero())
                    t = std::min(t, add(rx_mark_, dead_peer_timeout_));
            }
            break;
        case link::backing_off: t = std::min(t, retry_at_); break;
        case link::idle:
        case link::closed: break;
        }
        return t;
    }

    //----------------------------------------------------------------------
    // Inspection

    link
    state() const noexcept
    {
        return link_;
    }

    connection_id
    current_connection() const noexcept
    {
        return conn_;
    }

    /// True while connection `c` is the one in use (connecting or connected).
    bool
    is_current(connection_id c) const noexcept
    {
        return c == conn_ && (link_ == link::connecting || link_ == link::connected);
    }

    std::size_t
    queued() const noexcept
    {
        return queue_.size();
    }

    std::size_t
    in_flight() const noexcept
    {
        return flight_.size();
    }

    bool
    is_closing() const noexcept
    {
        return closing_ || link_ == link::closed;
    }

    /** The nominal-with-jitter delay after `failures` failures in a row
        (see backoff_options); draws one random number. */
    duration
    backoff_delay(unsigned failures)
    {
        if (failures == 0)
            return duration::zero();
        double const mult = std::max(1.0, backoff_.multiplier);
        double const cap = static_cast<double>(std::max(backoff_.max, duration::zero()).count());
        double nominal = static_cast<double>(std::max(backoff_.initial, duration::zero()).count());
        for (unsigned i = 1; i < failures && nominal < cap; ++i)
            nominal *= mult;
        nominal = std::min(nominal, cap);
        double u = backoff_.random ? backoff_.random() : std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
        if (!(u >= 0.0))
            u = 0.0;
        u = std::min(u, 1.0);
        double const jitter = std::clamp(backoff_.jitter, 0.0, 1.0);
        return duration(static_cast<duration::rep>(std::llround(nominal * (1.0 - jitter * u))));
    }

private:
    struct entry
    {
        message_id id = 0;
        std::string payload{};
        std::string control_id{};
        unsigned attempts = 0;
        time_point submitted{};
        time_point written{};
        std::error_code last_error{};
        bool await_application = false; // the outcome is the application ACK, not the CA
        std::string commit_code{};       // the CA that came first, while awaiting the application ACK
    };

    // MSH-15, MSH-16 and MSH-12.1 of a payload (empty where absent).
    static ack_requirements
    requirements_of(std::string_view payload) noexcept
    {
        auto field = [payload](std::string_view path) {
            std::error_code ec;
            std::string_view const v = hl7::locate(payload, path, ec);
            return ec ? std::string_view{} : v;
        };
        return acknowledgement_requirements(field("MSH.15"), field("MSH.16"), field("MSH.12.1.1"));
    }

    // Whether a receiver that accepts the message sends nothing under `c`.
    static bool
    silent_on_success(ack_condition c) noexcept
    {
        return c == ack_condition::never || c == ack_condition::error_only;
    }

    static bool
    is_ack_code(std::string_view c) noexcept
    {
        return c == "AA" || c == "AE" || c == "AR" || c == "CA" || c == "CE" || c == "CR";
    }

    static std::error_code
    mllp_connect_timeout() noexcept
    {
        return mllp::make_error_code(mllp::error::connect_timeout);
    }

    static time_point
    add(time_point t, duration d) noexcept
    {
        if (t > time_point::max() - d)
            return time_point::max();
        return t + d;
    }

    void
    push_event(client_event const& ev)
    {
        action a;
        a.what = action::kind::event;
        a.conn = conn_;
        a.event = ev;
        actions_.push_back(std::move(a));
    }

    void
    emit_event(client_event::kind k, std::error_code reason)
    {
        client_event ev;
        ev.what = k;
        ev.reason = reason;
        ev.failures = failures_;
        push_event(ev);
    }

    // An outcome without an ACK: not sent if it was never written, else unknown.
    void
    complete_failed(entry& e, std::error_code reason, time_point now)
    {
        action a;
        a.what = action::kind::complete;
        a.id = e.id;
        a.outcome.fate = e.attempts == 0 ? send_fate::not_sent : send_fate::unknown;
        a.outcome.reason = reason;
        a.outcome.control_id = std::move(e.control_id);
        a.outcome.attempts = e.attempts;
        a.outcome.elapsed = now - e.submitted;
        actions_.push_back(std::move(a));
    }

    // Connect when a message waits and nothing is in the way; finish a close
    // once everything has its outcome.
    void
    pump(time_point now)
    {
        if (link_ == link::idle && !queue_.empty()) {
            ++conn_;
            link_ = link::connecting;
            connect_deadline_ = connect_timeout_ > duration::zero() ? add(now, connect_timeout_) : time_point::max();
            emit_event(client_event::kind::connecting, {});
            push_action(action::kind::connect);
        }
        if (closing_ && queue_.empty() && flight_.empty())
            finish_close();
    }

    void
    push_action(action::kind k, bool graceful = false)
    {
        action a;
        a.what = k;
        a.conn = conn_;
        a.graceful = graceful;
        actions_.push_back(std::move(a));
    }

    // The client is done: end the connection (or the attempt) and report it.
    void
    end_link(bool graceful)
    {
        if (link_ == link::connected)
            push_action(action::kind::close_connection, graceful);
        else if (link_ == link::connecting)
            push_action(action::kind::cancel_connect);
        link_ = link::closed;
        connect_deadline_ = retry_at_ = time_point::max();
        emit_event(client_event::kind::closed, {});
    }

    void
    finish_close()
    {
        end_link(true);
    }

    // The close deadline passed (or a close with no time left): everything
    // in flight is unknown, everything waiting not sent (or unknown if an
    // earlier attempt wrote it).
    void
    give_up_all(time_point now)
    {
        auto const reason = make_error_code(client_error::client_closed);
        for (auto& e : flight_)
            complete_failed(e, reason, now);
        flight_.clear();
        for (auto& e : queue_)
            complete_failed(e, reason, now);
        queue_.clear();
        end_link(false);
    }

    void
    fail_waiting(std::error_code ec, time_point now)
    {
        for (auto& e : queue_)
            complete_failed(e, ec, now);
        queue_.clear();
    }

    // The current connection is over (lost, or closed here for `reason`):
    // messages in flight are put back in order for a retry, or given up as
    // unknown once their retries are spent.
    void
    drop_connection(std::error_code reason, time_point now)
    {
        push_action(action::kind::close_connection);
        emit_event(client_event::kind::lost, reason);
        if (!progress_)
            ++failures_;
        std::vector<entry> retry;
        for (auto& e : flight_) {
            e.last_error = reason;
            e.commit_code.clear();
            if (e.attempts <= max_retries_)
                retry.push_back(std::move(e));
            else
                complete_failed(e, reason, now);
        }
        flight_.clear();
        for (auto it = retry.rbegin(); it != retry.rend(); ++it)
            queue_.push_front(std::move(*it));
        after_failure(now);
    }

    void
    after_failure(time_point now)
    {
        if (failures_ == 0) {
            link_ = link::idle;
        } else {
            duration const delay = backoff_delay(failures_);
            retry_at_ = add(now, delay);
            link_ = link::backing_off;
            client_event ev;
            ev.what = client_event::kind::backing_off;
            ev.delay = delay;
            ev.failures = failures_;
            push_event(ev);
        }
        pump(now);
    }

    // settings
    std::size_t window_;
    std::size_t queue_limit_;
    duration connect_timeout_;
    duration ack_timeout_;
    duration dead_peer_timeout_;
    unsigned max_retries_;
    unsigned max_connect_failures_;
    bool retry_on_error_;
    bool wait_for_application_ack_;
    backoff_options backoff_;
    std::minstd_rand rng_;

    // messages
    std::deque<entry> queue_;  // waiting, in order; retries go to the front
    std::deque<entry> flight_; // written on the current connection, in write order
    std::deque<action> actions_;
    message_id next_id_ = 1;

    // the connection
    link link_ = link::idle;
    connection_id conn_ = 0;
    bool progress_ = false;         // an ACK matched on the current connection
    unsigned failures_ = 0;         // failures in a row (back-off level)
    unsigned connect_failures_ = 0; // failed connection attempts in a row
    time_point connect_deadline_ = time_point::max();
    time_point retry_at_ = time_point::max();
    time_point rx_mark_{};

    // closing
    bool closing_ = false;
    time_point close_deadline_ = time_point::max();
};

} // namespace hl7::detail

#endif
