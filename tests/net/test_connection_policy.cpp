// Test that header file is self-contained.
#include <hl7/net/detail/connection_policy.hpp>

#include <asio/error.hpp>

#include <catch2/catch.hpp>

#include <chrono>

// The connection's rules without a socket or a clock: events with made-up
// times in, actions out (a fake clock is just a time_point we advance).

using namespace std::chrono_literals;
using hl7::detail::connection_policy;
using hl7::mllp::error;
using event = connection_policy::event;
using action = connection_policy::action;
using type = event::type;
using status = connection_policy::status;
using clock_type = connection_policy::clock;

namespace {

clock_type::time_point const t0 = clock_type::time_point() + 1000h; // any fixed time
constexpr auto never = clock_type::time_point::max();

hl7::server_options
limits()
{
    hl7::server_options o;
    o.idle_timeout = 10s;
    o.frame_timeout = 4s;
    o.handler_timeout = 3s;
    o.write_timeout = 2s;
    o.max_write_queue = 1000;
    return o;
}

// One event, the way the connection sends it.
action
on(connection_policy& p, type what, clock_type::time_point now = t0, std::size_t bytes = 0, std::error_code ec = {},
   bool in_frame = false)
{
    return p.on({.what = what, .now = now, .bytes = bytes, .ec = ec, .in_frame = in_frame});
}

action
tick(connection_policy& p, clock_type::time_point now)
{
    return on(p, type::tick, now);
}

// A limit closed the connection: close at once, report why.
void
check_limit(action const& a, error reason)
{
    CHECK(a.what == action::type::close_now);
    CHECK(a.report);
    CHECK(a.ec == reason);
    CHECK(a.wake == never);
}

// A whole request: the handler asks, the read waits, a frame arrives.
void
one_frame(connection_policy& p, clock_type::time_point at)
{
    REQUIRE_FALSE(on(p, type::read_requested, at).refuse);
    on(p, type::read_wait, at, 0, {}, false);
    REQUIRE_FALSE(on(p, type::read_done, at).refuse);
}

} // namespace

TEST_CASE("connection policy: a client connection has no limits and no watchdog", "[net][policy]")
{
    connection_policy p; // no server options
    auto a = on(p, type::start);
    CHECK(a.wake == never);
    CHECK(p.state() == status::open);

    CHECK_FALSE(on(p, type::read_requested).refuse);
    CHECK(p.state() == status::reading);
    // One read at a time.
    auto busy = on(p, type::read_requested);
    CHECK(busy.refuse);
    CHECK(busy.ec == std::errc::operation_in_progress);
    on(p, type::read_wait, t0 + 1h, 0, {}, true);
    CHECK(p.read_deadline() == never);
    CHECK_FALSE(on(p, type::read_done, t0 + 2h).refuse);
    CHECK(p.state() == status::open);
    CHECK(p.handler_deadline() == never);

    // Any amount may be queued; time never runs out.
    CHECK(on(p, type::queued, t0, 10'000'000).what == action::type::start_write);
    CHECK(on(p, type::queued, t0, 10'000'000).what == action::type::none);
    CHECK(p.queued() == 20'000'000);
    CHECK(p.write_deadline() == never);
    CHECK(tick(p, t0 + 1000h).what == action::type::none);
    auto done = on(p, type::written, t0, 20'000'000);
    CHECK(done.notify_drain);
    CHECK(p.queued() == 0);
}

TEST_CASE("connection policy: the watchdog wakes at least every shortest limit", "[net][policy]")
{
    auto o = limits();
    connection_policy p(&o);
    auto a = on(p, type::start);
    CHECK(a.wake == t0 + 2s); // write_timeout is the shortest
    CHECK(p.clock_running() == connection_policy::read_clock::idle);
    CHECK(p.read_deadline() == t0 + 10s);
    // Nothing due: wake again at the earliest deadline or one tick from now.
    auto b = tick(p, t0 + 2s);
    CHECK(b.what == action::type::none);
    CHECK(b.wake == t0 + 4s);
    auto c = tick(p, t0 + 9s);
    CHECK(c.wake == t0 + 10s);

    // Off limits do not count; all off: no watchdog at all.
    hl7::server_options off;
    off.idle_timeout = off.frame_timeout = off.handler_timeout = off.write_timeout = 0s;
    connection_policy q(&off);
    CHECK(on(q, type::start).wake == never);
    CHECK(tick(q, t0 + 1000h).what == action::type::none);
    off.idle_timeout = 7s;
    connection_policy r(&off);
    CHECK(on(r, type::start).wake == t0 + 7s);
}

TEST_CASE("connection policy: idle_timeout counts from accept, then from each wait after a frame", "[net][policy]")
{
    auto o = limits();
    SECTION("silent from the start")
    {
        connection_policy p(&o);
        on(p, type::start);
        // The handler's first wait does not restart the idle clock.
        on(p, type::read_requested, t0 + 5s);
        on(p, type::read_wait, t0 + 5s, 0, {}, false);
        CHECK(p.read_deadline() == t0 + 10s);
        CHECK(tick(p, t0 + 10s - 1ns).what == action::type::none);
        check_limit(tick(p, t0 + 10s), error::idle_timeout);
        CHECK(p.state() == status::closed);
        CHECK(p.close_reason() == error::idle_timeout);
        // What the pending read and later operations report.
        auto r = on(p, type::read_done, t0 + 10s, 0, asio::error::operation_aborted);
        CHECK(r.refuse);
        CHECK(r.ec == error::idle_timeout);
        CHECK(on(p, type::read_requested, t0 + 11s).ec == error::idle_timeout);
        CHECK(p.write_refusal() == error::idle_timeout);
        CHECK(p.write_error() == error::idle_timeout);
        CHECK(tick(p, t0 + 12s).what == action::type::none); // closed: the watchdog stops
    }
    SECTION("a peer that talks more often than the limit stays")
    {
        connection_policy p(&o);
        on(p, type::start);
        auto now = t0;
        on(p, type::read_requested, now);
        on(p, type::read_wait, now, 0, {}, false);
        for (int i = 0; i < 50; ++i) {
            now += 6s; // the next frame arrives 6 s into the wait
            CHECK(tick(p, now - 1s).what == action::type::none);
            REQUIRE_FALSE(on(p, type::read_done, now).refuse);
            CHECK(p.handler_deadline() == now + 3s);
            now += 1s; // the handler answers in a second and waits again
            on(p, type::read_requested, now);
            on(p, type::read_wait, now, 0, {}, false);
            CHECK(p.read_deadline() == now + 10s); // from the start of this wait
        }
        CHECK(p.state() == status::reading);
    }
    SECTION("a cancelled read keeps the clock running")
    {
        connection_policy p(&o);
        on(p, type::start);
        on(p, type::read_requested, t0 + 1s);
        on(p, type::read_wait, t0 + 1s, 0, {}, false);
        auto c = on(p, type::read_done, t0 + 3s, 0, asio::error::operation_aborted);
        CHECK(c.refuse);
        CHECK(c.ec == asio::error::operation_aborted);
        CHECK(p.state() == status::open);
        // Reading again is fine (the cancellation is not sticky) ...
        CHECK_FALSE(on(p, type::read_requested, t0 + 4s).refuse);
        on(p, type::read_wait, t0 + 4s, 0, {}, false);
        // ... but the connection was idle all along.
        check_limit(tick(p, t0 + 10s), error::idle_timeout);
    }
}

TEST_CASE("connection policy: frame_timeout runs from the frame's first wait and is not extended", "[net][policy]")
{
    auto o = limits();
    connection_policy p(&o);
    on(p, type::start);
    on(p, type::read_requested, t0 + 1s);
    on(p, type::read_wait, t0 + 1s, 0, {}, false);
    // Bytes of a frame arrived; the read waits for the rest from t0 + 2s on.
    on(p, type::read_wait, t0 + 2s, 0, {}, true);
    CHECK(p.clock_running() == connection_policy::read_clock::frame);
    CHECK(p.read_deadline() == t0 + 6s);
    // Trickling bytes (more waits inside the frame) do not extend it.
    for (auto t = t0 + 3s; t < t0 + 6s; t += 500ms) {
        on(p, type::read_wait, t, 0, {}, true);
        CHECK(tick(p, t).what == action::type::none);
    }
    check_limit(tick(p, t0 + 6s), error::frame_timeout);

    // The frame timeout replaces the idle one even if that would be later.
    hl7::server_options only_frame;
    only_frame.idle_timeout = 0s;
    only_frame.frame_timeout = 1s;
    connection_policy q(&only_frame);
    on(q, type::start);
    CHECK(q.read_deadline() == never);
    on(q, type::read_requested, t0);
    on(q, type::read_wait, t0 + 30s, 0, {}, true);
    check_limit(tick(q, t0 + 31s), error::frame_timeout);
}

TEST_CASE("connection policy: handler_timeout from a delivered frame until the handler reads again", "[net][policy]")
{
    auto o = limits();
    SECTION("stuck handler: cancelled and closed")
    {
        connection_policy p(&o);
        on(p, type::start);
        one_frame(p, t0 + 1s);
        CHECK(p.clock_running() == connection_policy::read_clock::off);
        CHECK(p.read_deadline() == never);
        CHECK(p.handler_deadline() == t0 + 4s);
        CHECK(tick(p, t0 + 3s).what == action::type::none);
        auto a = tick(p, t0 + 4s);
        check_limit(a, error::handler_timeout);
        CHECK(a.cancel_handler);
    }
    SECTION("reading again, or returning, stops it")
    {
        connection_policy p(&o);
        on(p, type::start);
        one_frame(p, t0);
        on(p, type::read_requested, t0 + 2s);
        CHECK(p.handler_deadline() == never);
        on(p, type::read_done, t0 + 2s); // next frame
        CHECK(p.handler_deadline() == t0 + 5s);
        on(p, type::handler_returned);
        CHECK(p.handler_deadline() == never);
        // Even a refused read means the handler is back.
        on(p, type::read_requested, t0 + 3s);
        on(p, type::read_done, t0 + 3s);
        on(p, type::close);
        on(p, type::read_requested, t0 + 4s);
        CHECK(p.handler_deadline() == never);
    }
    SECTION("a bad frame (NAK) starts it too; the peer's end does not")
    {
        connection_policy p(&o);
        on(p, type::start);
        on(p, type::read_requested, t0);
        auto bad = on(p, type::read_done, t0, 0, error::frame_too_large);
        CHECK(bad.refuse);
        CHECK(bad.ec == error::frame_too_large);
        CHECK(p.handler_deadline() == t0 + 3s);
        on(p, type::read_requested, t0 + 1s);
        auto inv = on(p, type::read_done, t0 + 1s, 0, error::invalid_block);
        CHECK(inv.ec == error::invalid_block);
        CHECK(p.handler_deadline() == t0 + 4s);
        on(p, type::read_requested, t0 + 2s);
        auto end = on(p, type::read_done, t0 + 2s, 0, error::end_of_stream);
        CHECK(end.ec == error::end_of_stream);
        CHECK(p.handler_deadline() == never);
        CHECK(p.read_deadline() == never);
        // The end is the decoder's to repeat: the policy lets the next read through.
        CHECK_FALSE(on(p, type::read_requested, t0 + 3s).refuse);
    }
}

TEST_CASE("connection policy: write queue, write_timeout and max_write_queue", "[net][policy]")
{
    auto o = limits();
    SECTION("progress refreshes write_timeout; a stalled peer is cut off")
    {
        connection_policy p(&o);
        on(p, type::start);
        auto a = on(p, type::queued, t0, 600);
        CHECK(a.what == action::type::start_write);
        CHECK(p.write_deadline() == t0 + 2s);
        // More behind the write in flight: no new write, same deadline.
        CHECK(on(p, type::queued, t0 + 1s, 300).what == action::type::none);
        CHECK(p.write_deadline() == t0 + 2s);
        on(p, type::written, t0 + 1500ms, 100);
        CHECK(p.write_deadline() == t0 + 3500ms);
        CHECK(p.queued() == 800);
        CHECK(tick(p, t0 + 3s).what == action::type::none);
        check_limit(tick(p, t0 + 3500ms), error::write_timeout);
        CHECK(p.queued() == 0);
        CHECK(p.write_error() == error::write_timeout);
        // A write that ends after the abort changes nothing.
        CHECK(on(p, type::written, t0 + 4s, 800).what == action::type::none);
    }
    SECTION("an emptied queue wakes drain() and stops the write clock")
    {
        connection_policy p(&o);
        on(p, type::queued, t0, 10);
        auto a = on(p, type::written, t0, 10);
        CHECK(a.notify_drain);
        CHECK(a.what == action::type::none);
        CHECK(p.write_deadline() == never);
    }
    SECTION("max_write_queue: one frame into an empty queue always fits; more is refused")
    {
        connection_policy p(&o);
        on(p, type::start);
        CHECK(on(p, type::queued, t0, 5000).what == action::type::start_write); // over the limit, but alone
        on(p, type::written, t0, 4500);
        CHECK_FALSE(on(p, type::queued, t0, 500).refuse); // exactly the limit
        auto a = on(p, type::queued, t0, 1);
        CHECK(a.refuse);
        check_limit(a, error::write_queue_full);
        CHECK(p.is_closed());
        CHECK(p.write_refusal() == error::write_queue_full);
        // The read that was pending reports the same reason.
        CHECK(on(p, type::read_done, t0, 0, asio::error::operation_aborted).ec == error::write_queue_full);
    }
    SECTION("a failed write closes at once and is what drain() and writes report")
    {
        connection_policy p(&o);
        on(p, type::queued, t0, 100);
        auto a = on(p, type::write_failed, t0, 0, asio::error::broken_pipe);
        CHECK(a.what == action::type::close_now);
        CHECK(a.notify_drain);
        CHECK_FALSE(a.report); // not a limit
        CHECK(p.write_error() == asio::error::broken_pipe);
        CHECK(p.close_reason() == asio::error::broken_pipe);
        CHECK(p.queued() == 0);
        // After an abort, the aborted write's error does not replace the reason.
        connection_policy q(&o);
        on(q, type::queued, t0, 100);
        on(q, type::abort, t0, 0, error::connection_closed);
        auto late = on(q, type::write_failed, t0, 0, asio::error::operation_aborted);
        CHECK(late.what == action::type::none);
        CHECK(q.write_error() == error::connection_closed);
    }
}

TEST_CASE("connection policy: close, abort and the lifecycle", "[net][policy]")
{
    auto o = limits();
    SECTION("close with nothing queued: a graceful close now")
    {
        connection_policy p(&o);
        auto a = on(p, type::close);
        CHECK(a.what == action::type::close_graceful);
        CHECK(p.state() == status::closed);
        CHECK(p.is_closing());
        CHECK_FALSE(p.close_reason()); // closed on request, not for a reason
        CHECK(on(p, type::read_requested).ec == error::connection_closed);
        CHECK(p.write_refusal() == error::connection_closed);
        CHECK_FALSE(p.write_error()); // drain() after a clean close succeeds
        CHECK(on(p, type::close).what == action::type::none); // idempotent
    }
    SECTION("close with data queued: flush first (bounded by write_timeout), then close")
    {
        connection_policy p(&o);
        on(p, type::queued, t0, 100);
        CHECK(on(p, type::close, t0).what == action::type::none);
        CHECK(p.state() == status::closing);
        CHECK(p.is_closing());
        CHECK(p.write_refusal() == error::connection_closed);
        CHECK(on(p, type::written, t0, 60).what == action::type::none);
        auto a = on(p, type::written, t0, 40);
        CHECK(a.what == action::type::close_graceful);
        CHECK(a.notify_drain);
        CHECK(p.state() == status::closed);

        connection_policy q(&o);
        on(q, type::start);
        on(q, type::queued, t0, 100);
        on(q, type::close, t0);
        check_limit(tick(q, t0 + 2s), error::write_timeout);
    }
    SECTION("abort: at once, with a reason every operation reports")
    {
        connection_policy p(&o);
        on(p, type::queued, t0, 100);
        auto a = on(p, type::abort, t0, 0, error::connection_closed);
        CHECK(a.what == action::type::close_now);
        CHECK(a.notify_drain);
        CHECK_FALSE(a.report);
        CHECK(p.queued() == 0);
        CHECK(p.write_error() == error::connection_closed);
        CHECK(on(p, type::abort, t0, 0, error::idle_timeout).what == action::type::none);
        CHECK(p.close_reason() == error::connection_closed); // the first reason stays
    }
    SECTION("server shutdown: a waiting read ends now, a busy handler may answer first")
    {
        connection_policy waiting(&o);
        on(waiting, type::read_requested);
        auto a = on(waiting, type::shutdown);
        CHECK(a.what == action::type::close_graceful);
        CHECK(on(waiting, type::read_done, t0, 0, asio::error::operation_aborted).ec == error::connection_closed);

        connection_policy busy(&o);
        one_frame(busy, t0);
        CHECK(on(busy, type::shutdown).what == action::type::none);
        CHECK_FALSE(busy.is_closing());
        CHECK_FALSE(busy.write_refusal()); // the answer may still be written
        CHECK(on(busy, type::queued, t0, 50).what == action::type::start_write);
        auto next = on(busy, type::read_requested);
        CHECK(next.refuse);
        CHECK(next.ec == error::connection_closed);
        // The handler returns: the server closes, after the answer is out.
        on(busy, type::handler_returned);
        CHECK(on(busy, type::close).what == action::type::none);
        CHECK(on(busy, type::written, t0, 50).what == action::type::close_graceful);
    }
    SECTION("a transport failure ends reading for good; the peer's end is the decoder's")
    {
        connection_policy p(&o);
        on(p, type::read_requested);
        auto a = on(p, type::read_done, t0, 0, asio::error::connection_reset);
        CHECK(a.ec == asio::error::connection_reset);
        CHECK(on(p, type::read_requested).ec == asio::error::connection_reset);
        CHECK_FALSE(p.is_closing()); // the handler closes, or returns
    }
    SECTION("a frame that arrives after close() is not delivered")
    {
        connection_policy p(&o);
        on(p, type::read_requested);
        on(p, type::queued, t0, 10);
        on(p, type::close);
        auto a = on(p, type::read_done);
        CHECK(a.refuse);
        CHECK(a.ec == error::connection_closed);
    }
}

TEST_CASE("connection policy: deadlines saturate instead of overflowing", "[net][policy]")
{
    hl7::server_options o;
    o.idle_timeout = clock_type::duration::max();
    o.frame_timeout = o.handler_timeout = o.write_timeout = 0s;
    connection_policy p(&o);
    on(p, type::start);
    CHECK(p.read_deadline() == never);
    CHECK(tick(p, t0 + 1000000h).what == action::type::none);
}
