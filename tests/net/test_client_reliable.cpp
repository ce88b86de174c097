// Test that header file is self-contained.
#include <hl7/net/client.hpp>

#include "mllp_net_helpers.hpp"
#include "scripted_receiver.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <future>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

// hl7::client against a scripted misbehaving receiver over loopback TCP.
// Timeouts are short (hundreds of ms) but every check is about outcomes,
// never about how long something took; the back-off is checked on the
// delays the client announces (computed with an injected random source).

using namespace hl7_test;
using hl7::client_error;
using hl7::send_fate;
using ev = hl7::client_event::kind;

namespace {

using outcomes = std::map<std::string, hl7::send_outcome>;

hl7::client_options
fast_options()
{
    hl7::client_options o;
    o.ack_timeout = 400ms;
    o.connect_timeout = 5s;
    o.max_retries = 2;
    o.backoff.initial = 10ms;
    o.backoff.max = 80ms;
    o.backoff.jitter = 0;
    return o;
}

// Sends every id (each message in its own operation, in order) and waits
// for all outcomes.
asio::awaitable<outcomes>
send_all_impl(hl7::client& c, std::vector<std::string> ids)
{
    outcomes out;
    std::size_t pending = ids.size();
    asio::steady_timer done(co_await asio::this_coro::executor, std::chrono::steady_clock::time_point::max());
    for (auto const& id : ids)
        c.async_send_block(sample_message(id), [&, id](std::exception_ptr e, hl7::send_outcome o) {
            if (e)
                o.reason = std::make_error_code(std::errc::io_error);
            out[id] = std::move(o);
            if (--pending == 0)
                done.cancel();
        });
    if (pending != 0)
        co_await done.async_wait(as_tuple);
    co_return out;
}

// A plain function (issue 7): callers pass braced lists, which a GCC 12
// coroutine parameter must never be initialised from.
asio::awaitable<outcomes>
send_all(hl7::client& c, std::vector<std::string> ids)
{
    return send_all_impl(c, std::move(ids));
}

// A connect function's attempt that fails with `ec`.
asio::awaitable<hl7::client_connection>
fail_connect(std::error_code ec)
{
    co_await sleep_for(0ms);
    throw std::system_error(ec);
}

// What must hold whatever the receiver did.
void
check_invariants(outcomes const& out, scripted_receiver const& r)
{
    for (auto const& [id, o] : out) {
        CAPTURE(id, hl7::to_string(o.fate), o.ack_code, o.attempts, o.reason.message());
        CHECK(o.control_id == id);
        int const got = r.received.count(id) ? r.received.at(id) : 0;
        // Never more copies at the receiver than writes: duplicates only
        // come from resends, and resends only follow an attempt of unknown fate.
        CHECK(got <= static_cast<int>(o.attempts));
        switch (o.fate) {
        case send_fate::acknowledged: {
            auto const [code, acked] = ack_fields(o.ack); // its own ACK, nobody else's
            CHECK(acked == id);
            CHECK(code == o.ack_code);
            CHECK(got >= 1);
            CHECK_FALSE(o.reason);
            break;
        }
        case send_fate::not_sent:
            CHECK(o.attempts == 0);
            CHECK(got == 0);
            CHECK(o.reason);
            break;
        case send_fate::unknown:
            CHECK(o.attempts >= 1);
            CHECK(o.reason);
            break;
        }
    }
}

// An hl7 server with `handler` on an io_context run by three threads.
struct threaded_server
{
    asio::io_context ctx;
    asio::executor_work_guard<asio::io_context::executor_type> work = asio::make_work_guard(ctx);
    std::vector<std::thread> io;
    std::optional<hl7::server> server;

    explicit threaded_server(hl7::client_connected_cb handler)
    {
        for (int i = 0; i < 3; ++i)
            io.emplace_back([this] { ctx.run(); });
        asio::co_spawn(
            ctx,
            [this, handler]() -> asio::awaitable<void> {
                server.emplace(co_await hl7::start_hl7_server(handler, loopback_options()));
            },
            asio::use_future)
            .get();
    }

    ~threaded_server()
    {
        asio::post(ctx, [this] { server->close(); });
        work.reset();
        for (auto& t : io)
            t.join();
    }

    std::uint16_t
    port() const
    {
        return server->port();
    }
};

// A receiver that reads and never answers.
asio::awaitable<void>
silent_handler(hl7::stream_reader reader, hl7::stream_writer writer)
{
    try {
        for (;;)
            co_await reader.readblock();
    } catch (std::exception const&) {
    }
    writer.close();
}

struct fixture
{
    asio::io_context ctx;
    scripted_receiver receiver{ctx};
    std::vector<hl7::client_event> events;
    std::vector<std::string> unmatched;

    hl7::client_options
    options(hl7::client_options o = fast_options())
    {
        o.on_event = [this](hl7::client_event const& e) { events.push_back(e); };
        o.on_unmatched_ack = [this](std::string_view a) { unmatched.emplace_back(a); };
        return o;
    }

    outcomes
    run(hl7::client_options o, std::vector<std::string> ids)
    {
        hl7::client c(ctx.get_executor(), "127.0.0.1", receiver.port(), options(std::move(o)));
        outcomes out = hl7_test::run(ctx, [&]() -> asio::awaitable<outcomes> {
            auto r = co_await send_all(c, ids);
            co_await c.close(2s);
            receiver.stop();
            co_return r;
        });
        check_invariants(out, receiver);
        return out;
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

TEST_CASE("client: every message acknowledged, window 1 and 32", "[client]")
{
    auto const window = GENERATE(std::size_t{1}, std::size_t{32});
    CAPTURE(window);
    fixture f;
    auto o = fast_options();
    o.window = window;
    std::vector<std::string> ids;
    for (int i = 0; i < 200; ++i)
        ids.push_back("OK-" + std::to_string(i));
    auto out = f.run(o, ids);
    REQUIRE(out.size() == ids.size());
    for (auto const& id : ids) {
        CAPTURE(id);
        CHECK(out[id].accepted());
        CHECK(out[id].attempts == 1);
        CHECK(f.receiver.received[id] == 1);
    }
    CHECK(f.receiver.connections == 1);
    CHECK(f.count(ev::connected) == 1);
    CHECK(f.count(ev::closed) == 1);
    CHECK(f.unmatched.empty());
    // Written in order on the one connection.
    std::vector<std::string> order;
    for (auto const& [conn, id] : f.receiver.arrivals)
        order.push_back(id);
    CHECK(order == ids);
}

TEST_CASE("client: receiver closes before the ACK", "[client][misbehaving]")
{
    fixture f;
    f.receiver.script = [](std::string const& id, int nth, int) {
        return id == "M2" && nth == 1 ? cue{cue::kind::close_before_ack} : cue{};
    };
    auto out = f.run(fast_options(), {"M1", "M2", "M3"});
    CHECK(out["M1"].accepted());
    CHECK(out["M1"].attempts == 1);
    CHECK(out["M2"].accepted());
    CHECK(out["M2"].attempts == 2); // resent with its MSH-10
    CHECK(f.receiver.received["M2"] == 2);
    CHECK(out["M3"].accepted());
    CHECK(out["M3"].attempts == 1);
    REQUIRE(f.count(ev::lost) == 1);
    for (auto const& e : f.events)
        if (e.what == ev::lost)
            CHECK(e.reason == hl7::mllp::error::end_of_stream); // a close, not a timeout
    CHECK(f.count(ev::backing_off) == 0); // the connection had made progress (M1)

    SECTION("without retries the fate is unknown, and the next message is unaffected")
    {
        fixture g;
        g.receiver.script = [](std::string const& id, int, int) {
            return id == "M2" ? cue{cue::kind::close_before_ack} : cue{};
        };
        auto o = fast_options();
        o.max_retries = 0;
        auto r = g.run(o, {"M1", "M2", "M3"});
        CHECK(r["M2"].fate == send_fate::unknown);
        CHECK(r["M2"].reason == hl7::mllp::error::end_of_stream);
        CHECK_FALSE(hl7::mllp::is_timeout(r["M2"].reason));
        CHECK(r["M3"].accepted());
        CHECK(g.receiver.received["M2"] == 1);
    }
}

TEST_CASE("client: receiver closes after reading half a frame", "[client][misbehaving]")
{
    fixture f;
    auto const half = sample_message("H1").size() / 2;
    f.receiver.cut_after = [half](int conn) { return conn == 1 ? half : std::size_t{0}; };
    auto out = f.run(fast_options(), {"H1", "H2"});
    CHECK(out["H1"].accepted());
    CHECK(out["H1"].attempts == 2);
    CHECK(f.receiver.received["H1"] == 1); // the half frame never counted as a message
    CHECK(out["H2"].accepted());
    CHECK(f.count(ev::lost) == 1);
    CHECK(f.count(ev::backing_off) == 1); // lost before any ACK: back off
}

TEST_CASE("client: a late ACK is never matched to another message", "[client][misbehaving]")
{
    fixture f;
    // L1's ACK comes 600 ms late, past the 400 ms timeout: the client has
    // closed that connection by then, so the receiver sends it first thing
    // on the next connection, just before answering L2.
    f.receiver.script = [](std::string const& id, int, int) {
        if (id == "L1")
            return cue{cue::kind::late_ack, "AA", 600ms};
        return cue{};
    };
    auto o = fast_options();
    o.max_retries = 0;
    hl7::client c(f.ctx.get_executor(), "127.0.0.1", f.receiver.port(), f.options(o));
    auto out = run(f.ctx, [&]() -> asio::awaitable<outcomes> {
        std::vector<std::string> const ids_L1{"L1"};
        auto r = co_await send_all(c, ids_L1);
        co_await sleep_for(400ms); // the late ACK is sent into the closed connection
        std::vector<std::string> const ids_L2{"L2"};
        auto r2 = co_await send_all(c, ids_L2);
        r.merge(r2);
        co_await c.close(2s);
        f.receiver.stop();
        co_return r;
    });
    check_invariants(out, f.receiver);
    CHECK(out["L1"].fate == send_fate::unknown);
    CHECK(out["L1"].reason == client_error::ack_timeout);
    CHECK(hl7::mllp::is_timeout(out["L1"].reason));
    CHECK(out["L2"].accepted());
    CHECK(ack_fields(out["L2"].ack).second == "L2");
    REQUIRE(f.unmatched.size() == 1);
    CHECK(ack_fields(f.unmatched[0]).second == "L1");
}

TEST_CASE("client: late ACK with retries: the resend is acknowledged, once", "[client][misbehaving]")
{
    fixture f;
    f.receiver.script = [](std::string const& id, int nth, int) {
        if (id == "R1" && nth == 1)
            return cue{cue::kind::late_ack, "AA", 600ms};
        return cue{};
    };
    auto out = f.run(fast_options(), {"R1", "R2"});
    CHECK(out["R1"].accepted());
    CHECK(out["R1"].attempts == 2);
    CHECK(out["R2"].accepted());
    CHECK(out["R2"].attempts == 1);
    CHECK(f.receiver.received["R1"] == 2);
}

TEST_CASE("client: wrong MSA-2 and double answers go to the callback", "[client][misbehaving]")
{
    fixture f;
    f.receiver.script = [](std::string const& id, int nth, int) {
        if (id == "W1" && nth == 1)
            return cue{cue::kind::wrong_id};
        if (id == "W2")
            return cue{cue::kind::twice};
        return cue{};
    };
    auto out = f.run(fast_options(), {"W1", "W2", "W3"});
    CHECK(out["W1"].accepted());
    CHECK(out["W1"].attempts == 2); // timed out waiting for its own ACK, resent
    CHECK(out["W2"].accepted());
    CHECK(out["W2"].attempts == 1);
    CHECK(out["W3"].accepted());
    REQUIRE(f.unmatched.size() == 2);
    CHECK(ack_fields(f.unmatched[0]).second == "WRONG-W1");
    CHECK(ack_fields(f.unmatched[1]).second == "W2"); // the duplicate
}

TEST_CASE("client: AE and AR are answers, AE resent only with retry_on_error", "[client][misbehaving]")
{
    fixture f;
    f.receiver.script = [](std::string const& id, int nth, int) {
        if (id == "E1")
            return cue{cue::kind::ack, nth == 1 ? "AE" : "AA"};
        if (id == "R1")
            return cue{cue::kind::ack, "AR"};
        return cue{};
    };
    SECTION("default")
    {
        auto out = f.run(fast_options(), {"E1", "R1"});
        CHECK(out["E1"].fate == send_fate::acknowledged);
        CHECK(out["E1"].ack_code == "AE");
        CHECK(out["E1"].attempts == 1);
        CHECK(out["R1"].ack_code == "AR");
        CHECK(out["R1"].attempts == 1);
        CHECK_FALSE(out["R1"].accepted());
    }
    SECTION("retry_on_error")
    {
        auto o = fast_options();
        o.retry_on_error = true;
        auto out = f.run(o, {"E1", "R1"});
        CHECK(out["E1"].ack_code == "AA");
        CHECK(out["E1"].attempts == 2);
        CHECK(out["R1"].ack_code == "AR"); // never resent
        CHECK(out["R1"].attempts == 1);
        CHECK(f.receiver.received["R1"] == 1);
    }
}

TEST_CASE("client: an answer that is not HL7 closes the connection and the message is retried", "[client][misbehaving]")
{
    fixture f;
    f.receiver.script = [](std::string const& id, int nth, int) {
        return id == "N1" && nth == 1 ? cue{cue::kind::not_hl7} : cue{};
    };
    auto out = f.run(fast_options(), {"N1", "N2"});
    CHECK(out["N1"].accepted());
    CHECK(out["N1"].attempts == 2);
    CHECK(out["N2"].accepted());
    REQUIRE(f.count(ev::lost) == 1);
    for (auto const& e : f.events)
        if (e.what == ev::lost)
            CHECK(e.reason == client_error::not_an_ack);
    CHECK(f.receiver.connections == 2);
}

TEST_CASE("client: accepts and never answers", "[client][misbehaving]")
{
    fixture f;
    f.receiver.script = [](std::string const&, int, int) { return cue{cue::kind::silent}; };
    auto o = fast_options();
    o.max_retries = 1;
    o.window = 2;
    auto out = f.run(o, {"S1", "S2", "S3"});
    for (auto id : {"S1", "S2"}) {
        CAPTURE(id);
        CHECK(out[id].fate == send_fate::unknown);
        CHECK(out[id].reason == client_error::ack_timeout);
        CHECK(out[id].attempts == 2);
        CHECK(f.receiver.received[id] == 2);
    }
    // S3 was written once the first two were given up.
    CHECK(out["S3"].fate == send_fate::unknown);
    CHECK(out["S3"].attempts == 2);

    SECTION("dead-peer timeout")
    {
        fixture g;
        g.receiver.script = [](std::string const&, int, int) { return cue{cue::kind::silent}; };
        auto d = fast_options();
        d.ack_timeout = 30s;
        d.dead_peer_timeout = 300ms;
        d.max_retries = 0;
        auto r = g.run(d, {"DP"});
        CHECK(r["DP"].fate == send_fate::unknown);
        CHECK(r["DP"].reason == client_error::dead_peer);
    }
}

TEST_CASE("client: refuses connections for a while, back-off follows the policy", "[client][misbehaving][backoff]")
{
    fixture f;
    f.receiver.stop_listening();
    auto o = fast_options();
    o.backoff.initial = 20ms;
    o.backoff.max = 100ms;
    o.backoff.jitter = 0.5;
    o.backoff.random = [] { return 0.5; }; // 75 % of the nominal delay
    o.max_connect_failures = 0;
    // Come back after the fifth refusal (on the client's strand, which is
    // this single-threaded io_context).
    auto opts = f.options(o);
    auto record = opts.on_event;
    opts.on_event = [&, record](hl7::client_event const& e) {
        record(e);
        if (e.what == ev::connect_failed && e.failures == 5)
            f.receiver.start_listening();
    };
    hl7::client c(f.ctx.get_executor(), "127.0.0.1", f.receiver.port(), opts);
    auto out = run(f.ctx, [&]() -> asio::awaitable<outcomes> {
        std::vector<std::string> const ids_B1{"B1", "B2"};
        auto r = co_await send_all(c, ids_B1);
        co_await c.close(2s);
        f.receiver.stop();
        co_return r;
    });
    check_invariants(out, f.receiver);
    CHECK(out["B1"].accepted());
    CHECK(out["B2"].accepted());
    CHECK(out["B1"].attempts == 1); // never written while refused
    std::vector<std::chrono::milliseconds> delays;
    for (auto const& e : f.events) {
        if (e.what == ev::connect_failed)
            CHECK(e.reason == asio::error::connection_refused);
        if (e.what == ev::backing_off)
            delays.push_back(std::chrono::duration_cast<std::chrono::milliseconds>(e.delay));
    }
    using ms = std::chrono::milliseconds;
    CHECK(delays == std::vector<ms>{ms(15), ms(30), ms(60), ms(75), ms(75)});
    CHECK(f.count(ev::connected) == 1);
}

TEST_CASE("client: connecting fails for good: not sent, at once or after max_connect_failures", "[client]")
{
    asio::io_context ctx;
    std::vector<hl7::client_event> events;
    auto o = fast_options();
    o.on_event = [&](hl7::client_event const& e) { events.push_back(e); };

    SECTION("a permanent error (unknown host) is not retried")
    {
        int attempts = 0;
        hl7::client c(ctx.get_executor(),
                      [&]() {
                          ++attempts;
                          return fail_connect(asio::error::host_not_found);
                      },
                      o);
        auto out = run(ctx, [&]() -> asio::awaitable<outcomes> {
            std::vector<std::string> const ids_P1{"P1", "P2"};
            auto r = co_await send_all(c, ids_P1);
            co_await c.close(1s);
            co_return r;
        });
        CHECK(attempts == 1);
        for (auto id : {"P1", "P2"}) {
            CHECK(out[id].fate == send_fate::not_sent);
            CHECK(out[id].reason == asio::error::host_not_found);
        }
        REQUIRE(!events.empty());
        CHECK(std::none_of(events.begin(), events.end(), [](auto const& e) { return e.what == ev::backing_off; }));
        CHECK(std::any_of(events.begin(), events.end(), [](auto const& e) { return e.permanent; }));
    }
    SECTION("refused: retried with back-off, then given up")
    {
        std::uint16_t free_port;
        {
            tcp::acceptor a(ctx, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
            free_port = a.local_endpoint().port();
        }
        o.max_connect_failures = 3;
        hl7::client c(ctx.get_executor(), "127.0.0.1", free_port, o);
        auto out = run(ctx, [&]() -> asio::awaitable<outcomes> {
            std::vector<std::string> const ids_F1{"F1"};
            auto r = co_await send_all(c, ids_F1);
            co_await c.close(1s);
            co_return r;
        });
        CHECK(out["F1"].fate == send_fate::not_sent);
        CHECK(out["F1"].reason == asio::error::connection_refused);
        CHECK(std::count_if(events.begin(), events.end(), [](auto const& e) { return e.what == ev::connect_failed; }) ==
              3);
    }
    SECTION("connect timeout: the attempt is cancelled")
    {
        bool cancelled = false;
        o.connect_timeout = 200ms;
        o.max_connect_failures = 1;
        hl7::client c(ctx.get_executor(),
                      [&]() -> asio::awaitable<hl7::client_connection> {
                          asio::steady_timer t(co_await asio::this_coro::executor, 1h);
                          auto [ec] = co_await t.async_wait(as_tuple);
                          cancelled = ec == asio::error::operation_aborted;
                          throw std::system_error(ec ? ec : std::make_error_code(std::errc::io_error));
                      },
                      o);
        auto out = run(ctx, [&]() -> asio::awaitable<outcomes> {
            std::vector<std::string> const ids_T1{"T1"};
            auto r = co_await send_all(c, ids_T1);
            co_await c.close(1s);
            co_return r;
        });
        CHECK(cancelled);
        CHECK(out["T1"].fate == send_fate::not_sent);
        CHECK(out["T1"].reason == hl7::mllp::error::connect_timeout);
    }
}

TEST_CASE("client: close() drains in flight within its deadline, then reports the rest", "[client][close]")
{
    fixture f;
    f.receiver.script = [](std::string const& id, int, int) {
        return id.rfind("SLOW", 0) == 0 ? cue{cue::kind::late_ack, "AA", 100ms} : cue{cue::kind::silent};
    };
    auto o = fast_options();
    o.window = 2;
    o.ack_timeout = 0s;
    hl7::client c(f.ctx.get_executor(), "127.0.0.1", f.receiver.port(), f.options(o));
    outcomes out;
    run(f.ctx, [&]() -> asio::awaitable<void> {
        for (auto id : {"SLOW1", "SLOW2", "HANG1", "HANG2", "WAIT1"})
            c.async_send_block(sample_message(id), [&out, id](std::exception_ptr, hl7::send_outcome r) { out[id] = r; });
        co_await sleep_for(50ms); // SLOW1 and SLOW2 in flight
        co_await c.close(1s);
        // After close: not sent.
        auto late = co_await c.send_block(sample_message("AFTER"));
        out["AFTER"] = late;
        f.receiver.stop();
    });
    check_invariants(out, f.receiver);
    CHECK(out["SLOW1"].accepted()); // drained
    CHECK(out["SLOW2"].accepted());
    CHECK(out["HANG1"].fate == send_fate::unknown); // in flight at the deadline
    CHECK(out["HANG1"].reason == client_error::client_closed);
    CHECK(out["HANG2"].fate == send_fate::unknown);
    CHECK(out["WAIT1"].fate == send_fate::not_sent); // never written
    CHECK(out["WAIT1"].reason == client_error::client_closed);
    CHECK(out["AFTER"].fate == send_fate::not_sent);
    CHECK(out["AFTER"].reason == client_error::client_closed);
    CHECK(f.count(ev::closed) == 1);
}

TEST_CASE("client: a full queue makes send() wait, order is kept", "[client]")
{
    asio::io_context ctx;
    auto o = fast_options();
    o.queue_limit = 1;
    std::vector<std::string> ids;
    for (int i = 0; i < 20; ++i)
        ids.push_back("BP-" + std::to_string(i));
    std::vector<std::string> order;
    run(ctx, [&]() -> asio::awaitable<void> {
        auto server = co_await hl7::start_hl7_server(ack_handler, loopback_options());
        hl7::client c(ctx.get_executor(), "127.0.0.1", server.port(), o);
        std::size_t pending = ids.size();
        asio::steady_timer done(ctx, std::chrono::steady_clock::time_point::max());
        for (auto const& id : ids)
            c.async_send_block(sample_message(id), [&, id](std::exception_ptr, hl7::send_outcome r) {
                CHECK(r.accepted());
                order.push_back(r.control_id);
                if (--pending == 0)
                    done.cancel();
            });
        co_await done.async_wait(as_tuple);
        co_await c.close();
        server.close();
        co_await server.wait_closed();
    });
    CHECK(order == ids);
}

TEST_CASE("client: cancelling send(): waiting for room, and in flight", "[client]")
{
    asio::io_context ctx;
    scripted_receiver silent(ctx);
    silent.script = [](std::string const&, int, int) { return cue{cue::kind::silent}; };
    auto o = fast_options();
    o.queue_limit = 1;
    o.ack_timeout = 0s;
    std::vector<std::string> unmatched;
    run(ctx, [&]() -> asio::awaitable<void> {
        hl7::client c(ctx.get_executor(), "127.0.0.1", silent.port(), o);
        c.async_send_block(sample_message("IN-FLIGHT"), [](std::exception_ptr, hl7::send_outcome) {});
        c.async_send_block(sample_message("QUEUED"), [](std::exception_ptr, hl7::send_outcome) {});
        co_await sleep_for(50ms);
        // The queue is full: this send waits for room, and is cancelled there.
        bool const timed_out =
            co_await throws_as<hl7::mllp::timeout_error>(hl7::wait_for(c.send_block(sample_message("WAITING")), 100ms));
        CHECK(timed_out);
        co_await c.close(0s);

        // In flight, then cancelled: the outcome is lost to the caller, the
        // message stays in flight and the client goes on.
        hl7::client c2(ctx.get_executor(), "127.0.0.1", silent.port(), o);
        bool const timed_out2 =
            co_await throws_as<hl7::mllp::timeout_error>(hl7::wait_for(c2.send_block(sample_message("X")), 200ms));
        CHECK(timed_out2);
        auto const r = co_await c2.send_block("MSH|^~\\&|A|B|C|D|2024||ADT^A01||P|2.5\r");
        CHECK(r.reason == client_error::missing_control_id);
        co_await c2.close(0s);
        silent.stop();
    });
    CHECK(silent.received.count("WAITING") == 0);
    CHECK(silent.received["IN-FLIGHT"] == 1);
    CHECK(silent.received["X"] == 1);
}

TEST_CASE("client: send() from many threads, io_context on several threads", "[client][threads]")
{
    threaded_server ts(ack_handler);
    auto& ctx = ts.ctx;
    auto const port = ts.port();
    std::atomic<int> connected{0};
    auto o = fast_options();
    o.window = 8;
    o.ack_timeout = 10s;
    o.on_event = [&](hl7::client_event const& e) {
        if (e.what == ev::connected)
            ++connected;
    };
    {
        hl7::client c(ctx.get_executor(), "127.0.0.1", port, o);
        std::vector<std::thread> senders;
        std::atomic<int> accepted{0};
        for (int t = 0; t < 4; ++t)
            senders.emplace_back([&, t] {
                std::vector<std::future<hl7::send_outcome>> futures;
                for (int i = 0; i < 50; ++i)
                    futures.push_back(c.async_send_block(
                        sample_message("T" + std::to_string(t) + "-" + std::to_string(i)), asio::use_future));
                for (auto& f : futures)
                    accepted += f.get().accepted();
            });
        for (auto& s : senders)
            s.join();
        CHECK(accepted == 200);
        c.async_close(5s, asio::use_future).get();
    }
    CHECK(connected == 1);
}

TEST_CASE("client: cancelling sends from other strands, io_context on several threads", "[client][threads]")
{
    threaded_server ts(silent_handler);
    auto& ctx = ts.ctx;
    auto o = fast_options();
    o.window = 4;
    o.queue_limit = 2;
    o.ack_timeout = 0s;
    {
        hl7::client c(ctx.get_executor(), "127.0.0.1", ts.port(), o);
        std::atomic<int> timed_out{0};
        std::vector<std::future<void>> callers;
        for (int k = 0; k < 12; ++k)
            callers.push_back(asio::co_spawn(
                asio::make_strand(ctx),
                [&, k]() -> asio::awaitable<void> {
                    // Some wait in flight, some for room in the queue: all are cancelled by the timeout.
                    bool const t = co_await throws_as<hl7::mllp::timeout_error>(
                        hl7::wait_for(c.send_block(sample_message("C-" + std::to_string(k))), 50ms));
                    timed_out += t;
                },
                asio::use_future));
        for (auto& f : callers)
            f.get();
        CHECK(timed_out == 12);
        c.async_close(0s, asio::use_future).get();
    }
}
