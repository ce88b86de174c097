// Test that header file is self-contained.
#include <hl7/net/detail/client_fsm.hpp>

#include <catch2/catch.hpp>

#include <map>
#include <string>
#include <vector>

// The reliable client's policy with plain values and a fake clock: no
// socket, no timer, no sleeping. Time is a time_point the test moves.

namespace {

using namespace std::chrono_literals;
using fsm_t = hl7::detail::client_fsm;
using action = fsm_t::action;
using kind = action::kind;
using ev = hl7::client_event::kind;
using hl7::client_error;
using hl7::send_fate;

std::string
msg(std::string const& id)
{
    return "MSH|^~\\&|SND|SF|RCV|RF|20240101||ADT^A01|" + id + "|P|2.5\rPID|1||42\r";
}

std::string
ack(std::string const& code, std::string const& id)
{
    return "MSH|^~\\&|RCV|RF|SND|SF|20240101||ACK^A01^ACK|A-" + id + "|P|2.5\rMSA|" + code + "|" + id + "\r";
}

struct harness
{
    hl7::client_options options;
    fsm_t fsm;
    fsm_t::time_point now = fsm_t::time_point{} + 1h;
    std::map<fsm_t::message_id, hl7::send_outcome> outcomes;
    std::vector<hl7::client_event> events;
    std::vector<std::string> unmatched;
    std::vector<fsm_t::connection_id> connects, closes, cancels;

    explicit harness(hl7::client_options o = defaults()) : options(o), fsm(options) {}

    static hl7::client_options
    defaults()
    {
        hl7::client_options o;
        o.backoff.random = [] { return 0.0; }; // no jitter unless a test wants it
        return o;
    }

    // Carries out every pending action (records them).
    void
    drain()
    {
        while (auto a = fsm.poll()) {
            switch (a->what) {
            case kind::connect: connects.push_back(a->conn); break;
            case kind::cancel_connect: cancels.push_back(a->conn); break;
            case kind::close_connection: closes.push_back(a->conn); break;
            case kind::complete:
                REQUIRE(outcomes.count(a->id) == 0); // one outcome per message
                outcomes[a->id] = a->outcome;
                break;
            case kind::event: events.push_back(a->event); break;
            case kind::unmatched_ack: unmatched.push_back(a->payload); break;
            }
        }
    }

    fsm_t::message_id
    submit(std::string const& id)
    {
        auto const m = fsm.submit(msg(id), now);
        drain();
        return m;
    }

    // Connects the pending attempt.
    fsm_t::connection_id
    connect()
    {
        REQUIRE(fsm.state() == fsm_t::link::connecting);
        auto const c = fsm.current_connection();
        REQUIRE(fsm.connected(c, now));
        drain();
        return c;
    }

    // Writes whatever the window allows; returns the control ids written.
    std::vector<fsm_t::message_id>
    write_all()
    {
        std::vector<fsm_t::message_id> ids;
        while (auto w = fsm.next_write(now))
            ids.push_back(w->id);
        drain();
        return ids;
    }

    void
    answer(std::string const& code, std::string const& id)
    {
        fsm.frame(fsm.current_connection(), ack(code, id), now);
        drain();
    }

    void
    advance(fsm_t::duration d)
    {
        now += d;
        fsm.tick(now);
        drain();
    }

    std::size_t
    count(ev k) const
    {
        std::size_t n = 0;
        for (auto const& e : events)
            n += e.what == k;
        return n;
    }
};

} // namespace

TEST_CASE("client_fsm: window 1 writes the next message only after the previous ACK", "[client][fsm]")
{
    harness h;
    auto const m1 = h.submit("ID1");
    auto const m2 = h.submit("ID2");
    REQUIRE(h.connects.size() == 1); // one connection for both
    CHECK(h.events.front().what == ev::connecting);
    CHECK(h.write_all().empty()); // not connected yet
    h.connect();
    CHECK(h.write_all() == std::vector{m1});
    CHECK(h.write_all().empty()); // window 1
    h.answer("AA", "ID1");
    REQUIRE(h.outcomes.count(m1));
    CHECK(h.outcomes[m1].fate == send_fate::acknowledged);
    CHECK(h.outcomes[m1].ack_code == "AA");
    CHECK(h.outcomes[m1].control_id == "ID1");
    CHECK(h.outcomes[m1].attempts == 1);
    CHECK(h.outcomes[m1].accepted());
    CHECK(h.outcomes[m1].ack == ack("AA", "ID1"));
    CHECK(h.write_all() == std::vector{m2});
    h.now += 5ms;
    h.answer("AA", "ID2");
    CHECK(h.outcomes[m2].round_trip == 5ms);
    CHECK(h.fsm.in_flight() == 0);
    CHECK(h.fsm.state() == fsm_t::link::connected);
}

TEST_CASE("client_fsm: a window of N, ACKs matched by MSA-2 in any order", "[client][fsm]")
{
    auto o = harness::defaults();
    o.window = 3;
    harness h(o);
    std::vector<fsm_t::message_id> ids;
    for (int i = 1; i <= 5; ++i)
        ids.push_back(h.submit("W" + std::to_string(i)));
    h.connect();
    CHECK(h.write_all() == std::vector{ids[0], ids[1], ids[2]});
    h.answer("AA", "W2"); // out of order
    CHECK(h.outcomes.count(ids[1]) == 1);
    CHECK(h.outcomes.count(ids[0]) == 0);
    CHECK(h.write_all() == std::vector{ids[3]});
    h.answer("AE", "W1");
    h.answer("AR", "W3");
    CHECK(h.outcomes[ids[0]].ack_code == "AE");
    CHECK(h.outcomes[ids[2]].ack_code == "AR");
    CHECK_FALSE(h.outcomes[ids[0]].accepted());
    CHECK(h.write_all() == std::vector{ids[4]});
}

TEST_CASE("client_fsm: two messages with one MSH-10 are never in flight together", "[client][fsm]")
{
    auto o = harness::defaults();
    o.window = 4;
    harness h(o);
    auto const a = h.submit("SAME");
    auto const b = h.submit("SAME");
    auto const c = h.submit("OTHER");
    h.connect();
    CHECK(h.write_all() == std::vector{a}); // b waits, and c behind it (order kept)
    h.answer("AA", "SAME");
    CHECK(h.outcomes[a].fate == send_fate::acknowledged);
    CHECK(h.outcomes.count(b) == 0);
    CHECK(h.write_all() == std::vector{b, c});
    h.answer("AA", "SAME");
    CHECK(h.outcomes[b].fate == send_fate::acknowledged);
}

TEST_CASE("client_fsm: unmatched, late and duplicate ACKs go to the callback, never to another message", "[client][fsm]")
{
    auto o = harness::defaults();
    o.max_retries = 0;
    o.ack_timeout = 1s;
    harness h(o);
    auto const m1 = h.submit("ONE");
    auto const m2 = h.submit("TWO");
    auto const c1 = h.connect();
    h.write_all();

    // A wrong MSA-2: dropped, the message is still waiting for its own.
    h.answer("AA", "NOT-SENT");
    REQUIRE(h.unmatched.size() == 1);
    CHECK(h.unmatched[0] == ack("AA", "NOT-SENT"));
    CHECK(h.outcomes.empty());

    // No ACK within the timeout: the connection is closed, the message's
    // fate is unknown (no retries), and the next one goes on a new connection.
    h.advance(999ms);
    CHECK(h.outcomes.empty());
    h.advance(1ms);
    REQUIRE(h.outcomes.count(m1));
    CHECK(h.outcomes[m1].fate == send_fate::unknown);
    CHECK(h.outcomes[m1].reason == client_error::ack_timeout);
    CHECK(h.outcomes[m1].reason == std::errc::timed_out);
    CHECK(h.outcomes[m1].ack_code.empty());
    CHECK(h.closes == std::vector{c1});
    CHECK(h.count(ev::lost) == 1);
    CHECK(h.events.back().what == ev::backing_off); // the connection made no progress

    // The late ACK on the old connection is ignored outright.
    h.fsm.frame(c1, ack("AA", "ONE"), h.now);
    h.drain();
    CHECK(h.unmatched.size() == 1);

    h.advance(h.fsm.next_deadline() - h.now);
    auto const c2 = h.connect();
    CHECK(c2 != c1);
    CHECK(h.write_all() == std::vector{m2});
    // The late ACK of ONE arrives on the new connection: still not TWO's.
    h.answer("AA", "ONE");
    CHECK(h.unmatched.size() == 2);
    CHECK(h.outcomes.count(m2) == 0);
    h.answer("AA", "TWO");
    CHECK(h.outcomes[m2].fate == send_fate::acknowledged);
    // Answered twice: the second is a duplicate.
    h.answer("AA", "TWO");
    CHECK(h.unmatched.size() == 3);
    CHECK(h.outcomes.size() == 2);
}

TEST_CASE("client_fsm: AE is an answer unless retry_on_error, AR is never retried", "[client][fsm]")
{
    SECTION("default: AE reported")
    {
        harness h;
        auto const m = h.submit("E1");
        h.connect();
        h.write_all();
        h.answer("AE", "E1");
        CHECK(h.outcomes[m].fate == send_fate::acknowledged);
        CHECK(h.outcomes[m].ack_code == "AE");
        CHECK(h.outcomes[m].attempts == 1);
    }
    SECTION("retry_on_error: AE resent with its MSH-10, within max_retries")
    {
        auto o = harness::defaults();
        o.retry_on_error = true;
        o.max_retries = 2;
        harness h(o);
        auto const m = h.submit("E2");
        auto const r = h.submit("R1");
        h.connect();
        CHECK(h.write_all() == std::vector{m});
        h.answer("AE", "E2");
        CHECK(h.outcomes.count(m) == 0);
        CHECK(h.write_all() == std::vector{m}); // resent before the next message
        h.answer("CE", "E2");
        CHECK(h.write_all() == std::vector{m});
        h.answer("AE", "E2"); // third answer: retries spent
        CHECK(h.outcomes[m].ack_code == "AE");
        CHECK(h.outcomes[m].attempts == 3);
        CHECK(h.write_all() == std::vector{r});
        h.answer("AR", "R1");
        CHECK(h.outcomes[r].ack_code == "AR");
        CHECK(h.outcomes[r].attempts == 1);
        h.answer("CR", "R1");
        CHECK(h.unmatched.size() == 1);
    }
}

TEST_CASE("client_fsm: an answer that is not an ACK closes the connection, retried per policy", "[client][fsm]")
{
    auto o = harness::defaults();
    o.max_retries = 1;
    harness h(o);
    auto const m = h.submit("N1");
    auto const c1 = h.connect();
    h.write_all();
    h.fsm.frame(c1, "this is not HL7", h.now);
    h.drain();
    CHECK(h.closes == std::vector{c1});
    CHECK(h.events[h.events.size() - 2].what == ev::lost);
    CHECK(h.events[h.events.size() - 2].reason == client_error::not_an_ack);
    h.advance(h.fsm.next_deadline() - h.now);
    auto const c2 = h.connect();
    CHECK(h.write_all() == std::vector{m});
    // An HL7 message without MSA, then MSA with a code that is no ACK code.
    h.fsm.frame(c2, msg("N1"), h.now);
    h.drain();
    REQUIRE(h.outcomes.count(m));
    CHECK(h.outcomes[m].fate == send_fate::unknown);
    CHECK(h.outcomes[m].reason == client_error::not_an_ack);
    CHECK(h.outcomes[m].attempts == 2);

    harness k;
    k.submit("N2");
    auto const c = k.connect();
    k.write_all();
    k.fsm.frame(c, ack("XX", "N2"), k.now);
    k.drain();
    CHECK(k.closes == std::vector{c});
}

TEST_CASE("client_fsm: a lost connection retries what was in flight, in order, keeping MSH-10", "[client][fsm]")
{
    auto o = harness::defaults();
    o.window = 2;
    o.max_retries = 1;
    harness h(o);
    auto const a = h.submit("L1");
    auto const b = h.submit("L2");
    auto const c = h.submit("L3");
    auto const c1 = h.connect();
    CHECK(h.write_all() == std::vector{a, b});
    h.answer("AA", "L1"); // progress on this connection
    CHECK(h.write_all() == std::vector{c});
    h.fsm.connection_lost(c1, std::make_error_code(std::errc::connection_reset), h.now);
    h.drain();
    // Progress was made: reconnect at once, no back-off.
    CHECK(h.count(ev::backing_off) == 0);
    CHECK(h.fsm.state() == fsm_t::link::connecting);
    h.connect();
    CHECK(h.write_all() == std::vector{b, c});
    h.fsm.connection_lost(h.fsm.current_connection(), std::make_error_code(std::errc::connection_reset), h.now);
    h.drain();
    // Second loss: retries spent, fate unknown, the reason is the reset (not a timeout).
    for (auto id : {b, c}) {
        REQUIRE(h.outcomes.count(id));
        CHECK(h.outcomes[id].fate == send_fate::unknown);
        CHECK(h.outcomes[id].attempts == 2);
        CHECK(h.outcomes[id].reason == std::errc::connection_reset);
        CHECK(h.outcomes[id].reason != std::errc::timed_out);
    }
}

TEST_CASE("client_fsm: write_failed puts the message back uncounted", "[client][fsm]")
{
    auto o = harness::defaults();
    o.max_retries = 0;
    harness h(o);
    auto const m = h.submit("WF");
    auto const c1 = h.connect();
    auto w = h.fsm.next_write(h.now);
    REQUIRE(w);
    CHECK(w->payload == msg("WF"));
    h.fsm.write_failed(c1, std::make_error_code(std::errc::broken_pipe), h.now);
    h.drain();
    CHECK(h.outcomes.count(m) == 0); // not written: not a spent attempt
    h.advance(h.fsm.next_deadline() - h.now);
    h.connect();
    CHECK(h.write_all() == std::vector{m});
    h.answer("AA", "WF");
    CHECK(h.outcomes[m].attempts == 1);
}

TEST_CASE("client_fsm: back-off doubles from initial to max with jitter, on the fake clock", "[client][fsm][backoff]")
{
    auto o = harness::defaults();
    o.backoff.initial = 100ms;
    o.backoff.max = 1s;
    o.backoff.jitter = 0.5;
    o.max_connect_failures = 0; // keep trying
    std::vector<double> draws{0.0, 0.5, 1.0 - 1e-12, 0.25, 0.0, 0.0, 0.0};
    std::size_t next = 0;
    o.backoff.random = [&] { return draws.at(next++); };
    harness h(o);
    h.submit("B1");
    std::vector<fsm_t::duration> expected{
        100ms,                                     // u = 0: no jitter
        150ms,                                     // 200 ms * (1 - 0.5 * 0.5)
        std::chrono::nanoseconds(200'000'000),     // 400 ms * (1 - 0.5 * ~1)
        std::chrono::nanoseconds(700'000'000),     // 800 ms * (1 - 0.5 * 0.25)
        1s,                                        // 1.6 s capped at 1 s
        1s,
    };
    for (std::size_t i = 0; i < expected.size(); ++i) {
        CAPTURE(i);
        REQUIRE(h.fsm.state() == fsm_t::link::connecting);
        auto const before = h.connects.size();
        h.fsm.connect_failed(h.fsm.current_connection(), std::make_error_code(std::errc::connection_refused), false,
                             h.now);
        h.drain();
        REQUIRE(h.events.back().what == ev::backing_off);
        auto const delay = h.events.back().delay;
        CHECK(std::chrono::abs(delay - expected[i]) <= 1us);
        CHECK(h.events.back().failures == i + 1);
        CHECK(h.fsm.next_deadline() == h.now + delay);
        // Nothing happens before the delay is over ...
        h.advance(delay - 1ns);
        CHECK(h.connects.size() == before);
        // ... and a new attempt starts when it is.
        h.advance(1ns);
        CHECK(h.connects.size() == before + 1);
    }
    // An ACK resets the back-off: a later loss reconnects at once.
    auto const m = h.fsm.queued();
    CHECK(m == 1);
    auto const c = h.connect();
    h.write_all();
    h.answer("AA", "B1");
    h.submit("B2");
    h.write_all();
    h.fsm.connection_lost(c, std::make_error_code(std::errc::connection_reset), h.now);
    h.drain();
    CHECK(h.fsm.state() == fsm_t::link::connecting);
}

TEST_CASE("client_fsm: default jitter stays within [80 %, 100 %] of the nominal delay", "[client][fsm][backoff]")
{
    hl7::client_options o; // the real random source
    fsm_t f(o);
    for (int i = 0; i < 200; ++i) {
        auto const d = f.backoff_delay(3); // nominal 400 ms
        CHECK(d <= 400ms);
        CHECK(d >= 320ms);
    }
    CHECK(f.backoff_delay(0) == fsm_t::duration::zero());
    CHECK(f.backoff_delay(1000) <= 30s); // capped, no overflow
}

TEST_CASE("client_fsm: connect timeout, too many connect failures, permanent errors", "[client][fsm]")
{
    SECTION("connect timeout: the attempt is cancelled and counts as a failure")
    {
        auto o = harness::defaults();
        o.connect_timeout = 2s;
        harness h(o);
        auto const m = h.submit("CT");
        auto const c1 = h.fsm.current_connection();
        CHECK(h.fsm.next_deadline() == h.now + 2s);
        h.advance(2s);
        CHECK(h.cancels == std::vector{c1});
        REQUIRE(h.count(ev::connect_failed) == 1);
        CHECK(h.events[h.events.size() - 2].reason == hl7::mllp::error::connect_timeout);
        CHECK(h.events.back().what == ev::backing_off);
        CHECK(h.outcomes.count(m) == 0);
        // The attempt's late success is refused: it is stale.
        CHECK_FALSE(h.fsm.connected(c1, h.now));
    }
    SECTION("max_connect_failures: what waits is not sent, with the last error")
    {
        auto o = harness::defaults();
        o.max_connect_failures = 3;
        harness h(o);
        auto const a = h.submit("CF1");
        auto const b = h.submit("CF2");
        for (int i = 0; i < 3; ++i) {
            REQUIRE(h.fsm.state() == fsm_t::link::connecting);
            h.fsm.connect_failed(h.fsm.current_connection(), std::make_error_code(std::errc::connection_refused),
                                 false, h.now);
            h.drain();
            if (i < 2)
                h.advance(h.fsm.next_deadline() - h.now);
        }
        for (auto id : {a, b}) {
            REQUIRE(h.outcomes.count(id));
            CHECK(h.outcomes[id].fate == send_fate::not_sent);
            CHECK(h.outcomes[id].attempts == 0);
            CHECK(h.outcomes[id].reason == std::errc::connection_refused);
        }
        // Nothing waits: no new attempt after the back-off.
        h.advance(1min);
        CHECK(h.connects.size() == 3);
        // The next message starts over.
        h.submit("CF3");
        CHECK(h.connects.size() == 4);
    }
    SECTION("permanent error: given up at once, no back-off; written messages are unknown")
    {
        auto o = harness::defaults();
        o.max_retries = 2;
        harness h(o);
        auto const a = h.submit("P1");
        auto const b = h.submit("P2");
        auto const c1 = h.connect();
        h.write_all();
        h.fsm.connection_lost(c1, hl7::mllp::make_error_code(hl7::mllp::error::end_of_stream), h.now);
        h.drain();
        h.advance(h.fsm.next_deadline() - h.now);
        h.fsm.connect_failed(h.fsm.current_connection(), std::make_error_code(std::errc::permission_denied), true,
                             h.now);
        h.drain();
        CHECK(h.events.back().what == ev::connect_failed);
        CHECK(h.events.back().permanent);
        CHECK(h.outcomes[a].fate == send_fate::unknown); // written once before
        CHECK(h.outcomes[a].attempts == 1);
        CHECK(h.outcomes[b].fate == send_fate::not_sent);
        CHECK(h.outcomes[b].reason == std::errc::permission_denied);
        CHECK(h.fsm.state() == fsm_t::link::idle);
        CHECK(h.fsm.next_deadline() == fsm_t::time_point::max());
    }
}

TEST_CASE("client_fsm: dead-peer timeout counts from the last frame", "[client][fsm]")
{
    auto o = harness::defaults();
    o.window = 2;
    o.ack_timeout = 10s;
    o.dead_peer_timeout = 3s;
    o.max_retries = 0;
    harness h(o);
    auto const a = h.submit("D1");
    auto const b = h.submit("D2");
    h.connect();
    h.write_all();
    h.advance(2s);
    h.answer("AA", "D1"); // a frame: the peer is alive
    h.advance(2s);
    CHECK(h.outcomes.count(b) == 0);
    h.advance(1s);
    REQUIRE(h.outcomes.count(b));
    CHECK(h.outcomes[a].fate == send_fate::acknowledged);
    CHECK(h.outcomes[b].fate == send_fate::unknown);
    CHECK(h.outcomes[b].reason == client_error::dead_peer);
}

TEST_CASE("client_fsm: close drains in flight within the deadline, then reports the rest", "[client][fsm][close]")
{
    SECTION("everything acknowledged before the deadline: graceful close")
    {
        harness h;
        auto const a = h.submit("C1");
        auto const b = h.submit("C2");
        auto const c = h.connect();
        h.write_all();
        h.fsm.close(h.now + 5s, h.now);
        h.drain();
        CHECK(h.count(ev::closed) == 0);
        auto const late = h.fsm.submit(msg("C3"), h.now);
        h.drain();
        CHECK(h.outcomes[late].fate == send_fate::not_sent);
        CHECK(h.outcomes[late].reason == client_error::client_closed);
        h.answer("AA", "C1");
        CHECK(h.write_all() == std::vector{b}); // what waited still goes
        h.answer("AA", "C2");
        CHECK(h.outcomes[a].accepted());
        CHECK(h.outcomes[b].accepted());
        CHECK(h.closes == std::vector{c});
        CHECK(h.count(ev::closed) == 1);
        CHECK(h.fsm.state() == fsm_t::link::closed);
        CHECK(h.fsm.next_deadline() == fsm_t::time_point::max());
    }
    SECTION("deadline passes: in flight unknown, waiting not sent")
    {
        auto o = harness::defaults();
        o.ack_timeout = 0s; // only the close deadline applies
        harness h(o);
        auto const a = h.submit("C4");
        auto const b = h.submit("C5");
        h.connect();
        h.write_all();
        h.fsm.close(h.now + 1s, h.now);
        h.drain();
        CHECK(h.fsm.next_deadline() == h.now + 1s);
        h.advance(1s);
        CHECK(h.outcomes[a].fate == send_fate::unknown);
        CHECK(h.outcomes[a].reason == client_error::client_closed);
        CHECK(h.outcomes[b].fate == send_fate::not_sent);
        CHECK(h.outcomes[b].reason == client_error::client_closed);
        CHECK(h.count(ev::closed) == 1);
        // A late ACK after closing changes nothing.
        h.answer("AA", "C4");
        CHECK(h.outcomes[a].fate == send_fate::unknown);
    }
    SECTION("closing while backing off or connecting")
    {
        harness h;
        auto const a = h.submit("C6");
        h.fsm.close(h.now + 1s, h.now);
        h.drain();
        h.advance(1s);
        CHECK(h.cancels.size() == 1);
        CHECK(h.outcomes[a].fate == send_fate::not_sent);
    }
}

TEST_CASE("client_fsm: a message without MSH-10 is not sent, queue_full, abandon", "[client][fsm]")
{
    auto o = harness::defaults();
    o.queue_limit = 2;
    harness h(o);
    auto const bad = h.fsm.submit("MSH|^~\\&|A|B|C|D|2024||ADT^A01||P|2.5\r", h.now);
    auto const junk = h.fsm.submit("not hl7 at all", h.now);
    h.drain();
    CHECK(h.outcomes[bad].fate == send_fate::not_sent);
    CHECK(h.outcomes[bad].reason == client_error::missing_control_id);
    CHECK(h.outcomes[junk].reason == client_error::missing_control_id);
    CHECK(h.outcomes[bad].reason == std::errc::invalid_argument); // a reason in the message itself
    CHECK(h.connects.empty());
    CHECK_FALSE(h.fsm.queue_full());
    auto const a = h.submit("Q1");
    CHECK_FALSE(h.fsm.queue_full());
    auto const b = h.submit("Q2");
    CHECK(h.fsm.queue_full());
    h.fsm.abandon(b);
    CHECK_FALSE(h.fsm.queue_full());
    h.connect();
    CHECK(h.write_all() == std::vector{a});
    h.fsm.abandon(a); // in flight: stays, its ACK is still consumed
    h.answer("AA", "Q1");
    CHECK(h.unmatched.empty());
    CHECK(h.outcomes.count(b) == 0);
}

TEST_CASE("client_fsm: fates: written and unanswered is unknown, never written is not sent", "[client][fsm]")
{
    auto o = harness::defaults();
    o.max_retries = 0;
    o.max_connect_failures = 1;
    harness h(o);
    auto const a = h.submit("F1");
    auto const b = h.submit("F2");
    auto const c1 = h.connect();
    h.write_all();
    h.fsm.connection_lost(c1, hl7::mllp::make_error_code(hl7::mllp::error::incomplete_frame), h.now);
    h.drain();
    CHECK(h.outcomes[a].fate == send_fate::unknown);
    CHECK(h.outcomes[a].reason == hl7::mllp::error::incomplete_frame);
    h.advance(h.fsm.next_deadline() - h.now);
    h.fsm.connect_failed(h.fsm.current_connection(), hl7::mllp::make_error_code(hl7::mllp::error::connect_timeout),
                         false, h.now);
    h.drain();
    CHECK(h.outcomes[b].fate == send_fate::not_sent);
    CHECK(h.outcomes[b].reason == hl7::mllp::error::connect_timeout);
}

namespace {

// A message in enhanced acknowledgement mode: MSH-15 `accept`, MSH-16 `application`.
std::string
enhanced_msg(std::string const& id, std::string const& accept, std::string const& application,
             std::string const& version = "2.5")
{
    return "MSH|^~\\&|SND|SF|RCV|RF|20240101||ADT^A01|" + id + "|P|" + version + "|||" + accept + "|" + application +
           "\rPID|1||42\r";
}

fsm_t::message_id
submit_payload(harness& h, std::string const& payload)
{
    auto const m = h.fsm.submit(payload, h.now);
    h.drain();
    return m;
}

} // namespace

TEST_CASE("client_fsm: enhanced mode, MSH-16 AL: the outcome is the application ACK after the CA", "[client][fsm][enhanced]")
{
    SECTION("CA then AA; the message keeps its place in the window until the AA")
    {
        harness h;
        auto const m = submit_payload(h, enhanced_msg("N1", "AL", "AL"));
        auto const next = h.submit("N2");
        h.connect();
        CHECK(h.write_all() == std::vector{m});
        h.answer("CA", "N1");
        CHECK(h.outcomes.count(m) == 0);
        CHECK(h.fsm.in_flight() == 1);
        CHECK(h.write_all().empty()); // window 1: N2 waits for N1's application ACK
        h.answer("AA", "N1");
        REQUIRE(h.outcomes.count(m) == 1);
        CHECK(h.outcomes[m].fate == send_fate::acknowledged);
        CHECK(h.outcomes[m].ack_code == "AA");
        CHECK(h.outcomes[m].commit_code == "CA");
        CHECK(h.outcomes[m].accepted());
        CHECK(h.outcomes[m].ack.find("MSA|AA|N1") != std::string::npos);
        CHECK(h.write_all() == std::vector{next});
        h.answer("AA", "N2");
        CHECK(h.outcomes[next].commit_code.empty()); // original mode
        CHECK(h.unmatched.empty());
    }
    SECTION("an empty MSH-16 with MSH-15 given counts as AL")
    {
        harness h;
        auto const m = submit_payload(h, enhanced_msg("N3", "AL", ""));
        h.connect();
        h.write_all();
        h.answer("CA", "N3");
        CHECK(h.outcomes.count(m) == 0);
        h.answer("AE", "N3");
        CHECK(h.outcomes[m].ack_code == "AE");
        CHECK(h.outcomes[m].commit_code == "CA");
        CHECK_FALSE(h.outcomes[m].accepted());
    }
    SECTION("MSH-15 NE: only the application ACK comes, and ends it")
    {
        harness h;
        auto const m = submit_payload(h, enhanced_msg("N4", "NE", "AL"));
        h.connect();
        h.write_all();
        h.answer("AA", "N4");
        CHECK(h.outcomes[m].ack_code == "AA");
        CHECK(h.outcomes[m].commit_code.empty());
    }
    SECTION("CR and CE end it at once: no application ACK follows a refused commit")
    {
        harness h;
        auto const r = submit_payload(h, enhanced_msg("N5", "AL", "AL"));
        auto const e = submit_payload(h, enhanced_msg("N6", "AL", "AL"));
        h.connect();
        h.write_all();
        h.answer("CR", "N5");
        CHECK(h.outcomes[r].ack_code == "CR");
        CHECK(h.outcomes[r].commit_code.empty());
        h.write_all();
        h.answer("CE", "N6");
        CHECK(h.outcomes[e].ack_code == "CE");
        CHECK_FALSE(h.outcomes[e].accepted());
    }
    SECTION("retry_on_error: an AE after the CA resends the message; the resend's CA counts afresh")
    {
        auto o = harness::defaults();
        o.retry_on_error = true;
        harness h(o);
        auto const m = submit_payload(h, enhanced_msg("N7", "AL", "AL"));
        h.connect();
        CHECK(h.write_all() == std::vector{m});
        h.answer("CA", "N7");
        h.answer("AE", "N7");
        CHECK(h.outcomes.count(m) == 0);
        CHECK(h.write_all() == std::vector{m});
        h.answer("AA", "N7"); // the resend answered without a CA this time
        CHECK(h.outcomes[m].ack_code == "AA");
        CHECK(h.outcomes[m].commit_code.empty());
        CHECK(h.outcomes[m].attempts == 2);
    }
    SECTION("the ACK timeout covers the wait for the application ACK")
    {
        auto o = harness::defaults();
        o.ack_timeout = 5s;
        o.max_retries = 0;
        harness h(o);
        auto const m = submit_payload(h, enhanced_msg("N8", "AL", "AL"));
        h.connect();
        h.write_all();
        h.advance(3s);
        h.answer("CA", "N8");
        h.advance(3s); // 6 s after the write
        REQUIRE(h.outcomes.count(m) == 1);
        CHECK(h.outcomes[m].fate == send_fate::unknown);
        CHECK(h.outcomes[m].reason == client_error::ack_timeout);
        CHECK(h.outcomes[m].commit_code.empty()); // not acknowledged: no codes
    }
    SECTION("a connection lost between the CA and the application ACK resends the message")
    {
        harness h;
        auto const m = submit_payload(h, enhanced_msg("N9", "AL", "AL"));
        auto const c1 = h.connect();
        h.write_all();
        h.answer("CA", "N9");
        h.fsm.connection_lost(c1, std::make_error_code(std::errc::connection_reset), h.now);
        h.drain();
        CHECK(h.outcomes.count(m) == 0);
        h.connect(); // the CA made progress: reconnect at once
        CHECK(h.write_all() == std::vector{m});
        h.answer("CA", "N9");
        h.answer("AA", "N9");
        CHECK(h.outcomes[m].ack_code == "AA");
        CHECK(h.outcomes[m].commit_code == "CA");
        CHECK(h.outcomes[m].attempts == 2);
    }
}

TEST_CASE("client_fsm: enhanced mode, when the commit ACK ends a message", "[client][fsm][enhanced]")
{
    SECTION("MSH-16 NE, ER or SU: the CA ends it; a later application ACK is unmatched")
    {
        for (std::string const app : {"NE", "ER", "SU"}) {
            harness h;
            auto const m = submit_payload(h, enhanced_msg("C-" + app, "AL", app));
            h.connect();
            h.write_all();
            h.answer("CA", "C-" + app);
            REQUIRE(h.outcomes.count(m) == 1);
            CHECK(h.outcomes[m].ack_code == "CA");
            CHECK(h.outcomes[m].commit_code.empty());
            CHECK(h.outcomes[m].accepted());
            h.answer("AA", "C-" + app);
            CHECK(h.unmatched.size() == 1);
        }
    }
    SECTION("wait_for_application_ack off: the CA ends it even for MSH-16 AL")
    {
        auto o = harness::defaults();
        o.wait_for_application_ack = false;
        harness h(o);
        auto const m = submit_payload(h, enhanced_msg("W1", "AL", "AL"));
        h.connect();
        h.write_all();
        h.answer("CA", "W1");
        CHECK(h.outcomes[m].ack_code == "CA");
        h.answer("AA", "W1");
        CHECK(h.unmatched.size() == 1);
    }
    SECTION("v2.1 has no enhanced mode: MSH-15/MSH-16 are ignored and AA ends it")
    {
        harness h;
        auto const m = submit_payload(h, enhanced_msg("V1", "NE", "NE", "2.1"));
        h.connect();
        h.write_all();
        h.answer("AA", "V1");
        CHECK(h.outcomes[m].ack_code == "AA");
    }
}

TEST_CASE("client_fsm: enhanced mode, a message asking for no acknowledgement of success is not sent", "[client][fsm][enhanced]")
{
    harness h;
    std::vector<fsm_t::message_id> refused;
    for (auto const& [accept, application] : std::vector<std::pair<std::string, std::string>>{
             {"NE", "NE"}, {"ER", "NE"}, {"NE", "ER"}, {"ER", "ER"}})
        refused.push_back(submit_payload(h, enhanced_msg("S-" + accept + application, accept, application)));
    for (auto id : refused) {
        REQUIRE(h.outcomes.count(id) == 1);
        CHECK(h.outcomes[id].fate == send_fate::not_sent);
        CHECK(h.outcomes[id].reason == client_error::no_ack_requested);
        CHECK(h.outcomes[id].reason == std::errc::invalid_argument);
    }
    CHECK(h.connects.empty());
    // Any one of them asking for success is enough: SU on either side, or AL.
    auto const su = submit_payload(h, enhanced_msg("S-SU", "SU", "NE"));
    auto const al = submit_payload(h, enhanced_msg("S-AL", "ER", "SU"));
    CHECK(h.outcomes.count(su) == 0);
    CHECK(h.outcomes.count(al) == 0);
    CHECK(h.connects.size() == 1);
}
