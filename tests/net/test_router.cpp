// Test that header file is self-contained.
#include <hl7/net/router.hpp>

#include "mllp_net_helpers.hpp"
#include "threaded_server.hpp"

#include <hl7/net/client.hpp>
#include <hl7/net/open_connection.hpp>
#include <hl7/net/server.hpp>

#include <asio/strand.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

using namespace hl7_test;

namespace {

// A message of `type` (e.g. "ADT^A01") with control id `id` and extra MSH fields after MSH-12.
std::string
msg(std::string const& type, std::string const& id, std::string const& version = "2.5", std::string const& after12 = {})
{
    return "MSH|^~\\&|SND|SFAC|RCV|RFAC|20240101120000||" + type + "|" + id + "|P|" + version + after12 +
           "\rPID|1||PATIENT-SECRET^^^HOSP||DOE^JANE\r";
}

// Events seen by a router, from any thread.
struct event_log
{
    std::mutex mu;
    std::vector<hl7::router_event> events;

    std::function<void(hl7::router_event const&)>
    hook()
    {
        return [this](hl7::router_event const& e) {
            std::lock_guard lock(mu);
            events.push_back(e);
        };
    }

    std::vector<hl7::router_event>
    all()
    {
        std::lock_guard lock(mu);
        return events;
    }
};

// Sends `payload` on a connection and returns the next message read (10 s bound).
asio::awaitable<hl7::message>
exchange(hl7::stream_reader& reader, hl7::stream_writer& writer, std::string const& payload)
{
    writer.writeblock(payload);
    co_await writer.drain();
    co_return co_await hl7::wait_for(reader.readmessage(), 10s);
}

} // namespace

TEST_CASE("router: routed messages reach their handler and get its ACK", "[router]")
{
    asio::io_context ctx;
    event_log log;
    hl7::router_options o;
    o.on_event = log.hook();
    hl7::router router(o);
    std::atomic<int> adt{0}, oru{0}, any{0};
    router.route("ADT^A01", [&](hl7::message const& m) {
        ++adt;
        return m.create_ack("AA");
    });
    router.route("ORU^*", [&](hl7::message const& m) -> asio::awaitable<hl7::message> {
        ++oru;
        co_await sleep_for(1ms);
        hl7::ack_options ae;
        ae.code = "AE";
        ae.text = "result not wanted";
        co_return m.create_ack(ae);
    });
    router.route("*", [&](hl7::message const&) { ++any; });

    run(ctx, [&]() -> asio::awaitable<void> {
        auto server = co_await hl7::start_hl7_server(router, loopback_options());
        auto [reader, writer] = co_await hl7::open_hl7_connection("127.0.0.1", server.port());
        auto a1 = co_await exchange(reader, writer, msg("ADT^A01^ADT_A01", "R-1"));
        CHECK(a1["MSA.1"] == "AA");
        CHECK(a1["MSA.2"] == "R-1");
        auto a2 = co_await exchange(reader, writer, msg("ORU^R01", "R-2", "2.3"));
        CHECK(a2["MSA.1"] == "AE");
        CHECK(a2["MSA.3"] == "result not wanted");
        CHECK(a2.segment("MSH")[9].raw() == "ACK^R01"); // v2.3 shape
        auto a3 = co_await exchange(reader, writer, msg("SIU^S12", "R-3"));
        CHECK(a3["MSA.1"] == "AA");
        CHECK(a3["MSA.2"] == "R-3");
        writer.close();
        co_await writer.wait_closed();
        server.close();
        co_await server.wait_closed();
    });
    CHECK(adt == 1);
    CHECK(oru == 1);
    CHECK(any == 1);
    auto const events = log.all();
    REQUIRE(events.size() == 3);
    CHECK(events[0].what == hl7::router_event::kind::acknowledged);
    CHECK(events[0].control_id == "R-1");
    CHECK(events[0].message_type == "ADT^A01^ADT_A01");
    CHECK(events[0].ack_codes == "AA");
    CHECK(events[1].ack_codes == "AE");
}

TEST_CASE("router: the most specific route wins", "[router]")
{
    asio::io_context ctx;
    hl7::router router;
    std::vector<std::string> hits;
    auto tag = [&](std::string name) {
        return [&hits, name](hl7::message const& m) {
            hits.push_back(name);
            return m.create_ack("AA");
        };
    };
    router.route("*", tag("any")).route("ADT", tag("adt")).route("*^A08", tag("a08")).route("ADT^A08", tag("adt-a08"));
    CHECK_THROWS_AS(router.route("ADT^*", tag("again")), std::invalid_argument);
    CHECK_THROWS_AS(router.route("AD T", tag("bad")), std::invalid_argument);
    CHECK_THROWS_AS(router.route("ADT^A01^X", tag("bad")), std::invalid_argument);
    CHECK_THROWS_AS(router.route("", tag("bad")), std::invalid_argument);
    run(ctx, [&]() -> asio::awaitable<void> {
        auto server = co_await hl7::start_hl7_server(router, loopback_options());
        auto [reader, writer] = co_await hl7::open_hl7_connection("127.0.0.1", server.port());
        for (auto const& [type, id] : {std::pair{"ADT^A08", "1"}, {"ADT^A01", "2"}, {"ORM^A08", "3"}, {"ORM^O01", "4"}}) {
            auto ack = co_await exchange(reader, writer, msg(type, id));
            CHECK(ack["MSA.1"] == "AA");
        }
        server.close();
        co_await server.wait_closed();
    });
    CHECK(hits == std::vector<std::string>{"adt-a08", "adt", "a08", "any"});
}

TEST_CASE("router: unrouted types get AR 200, unrouted events AR 201", "[router]")
{
    asio::io_context ctx;
    event_log log;
    hl7::router_options o;
    o.on_event = log.hook();
    hl7::router router(o);
    router.route("ADT^A01", [](hl7::message const& m) { return m.create_ack("AA"); });
    run(ctx, [&]() -> asio::awaitable<void> {
        auto server = co_await hl7::start_hl7_server(router, loopback_options());
        auto [reader, writer] = co_await hl7::open_hl7_connection("127.0.0.1", server.port());
        auto type = co_await exchange(reader, writer, msg("ORU^R01", "U-1"));
        CHECK(type["MSA.1"] == "AR");
        CHECK(type["MSA.2"] == "U-1");
        CHECK(type["ERR.3.1.1"] == "200");
        CHECK(type["ERR.3.1.2"] == "Unsupported message type");
        CHECK(type.segment("ERR")[2].raw() == "MSH^1^9");
        auto event = co_await exchange(reader, writer, msg("ADT^A08", "U-2"));
        CHECK(event["MSA.1"] == "AR");
        CHECK(event["ERR.3.1.1"] == "201");
        CHECK(event["ERR.3.1.2"] == "Unsupported event code");
        // v2.4: the same in ERR-1 (ELD) and MSA-6.
        auto old = co_await exchange(reader, writer, msg("ADT^A08", "U-3", "2.4"));
        CHECK(old.segment("ERR")[1].raw() == "MSH^1^9^201&Unsupported event code&HL70357");
        CHECK(old.segment("MSA")[6].raw() == "201^Unsupported event code^HL70357");
        // The connection goes on.
        auto ok = co_await exchange(reader, writer, msg("ADT^A01", "U-4"));
        CHECK(ok["MSA.1"] == "AA");
        server.close();
        co_await server.wait_closed();
    });
    auto const events = log.all();
    REQUIRE(events.size() == 4);
    CHECK(events[0].what == hl7::router_event::kind::rejected);
    CHECK(events[0].cause == "no route for message type ORU");
    CHECK(events[1].cause == "no route for event A08");
    CHECK(events[3].what == hl7::router_event::kind::acknowledged);
}

TEST_CASE("router: a handler's exception is answered AE 207 and reported", "[router]")
{
    asio::io_context ctx;
    event_log log;
    hl7::router_options o;
    o.on_event = log.hook();
    hl7::router router(o);
    router.route("ADT^*", [](hl7::message const& m) -> asio::awaitable<hl7::message> {
        co_await sleep_for(1ms);
        (void)m.get("ZZZ.5.1.1"); // the newcomer's ADT without the segment
        co_return m.create_ack("AA");
    });
    router.route("ORU^*", [](hl7::message const&) -> hl7::message { throw 42; });
    router.route("ORM^*", [](hl7::message const&) { return hl7::message(); });
    run(ctx, [&]() -> asio::awaitable<void> {
        auto server = co_await hl7::start_hl7_server(router, loopback_options());
        auto [reader, writer] = co_await hl7::open_hl7_connection("127.0.0.1", server.port());
        auto ae = co_await exchange(reader, writer, msg("ADT^A01", "E-1"));
        CHECK(ae["MSA.1"] == "AE");
        CHECK(ae["MSA.2"] == "E-1");
        CHECK(ae["ERR.3.1.1"] == "207");
        CHECK(ae["ERR.4"] == "E");
        CHECK(ae["ERR.8"] == "segment not found: ZZZ.5.1.1");
        auto odd = co_await exchange(reader, writer, msg("ORU^R01", "E-2"));
        CHECK(odd["MSA.1"] == "AE");
        CHECK(odd["ERR.8"] == "unknown exception");
        auto empty = co_await exchange(reader, writer, msg("ORM^O01", "E-3"));
        CHECK(empty["MSA.1"] == "AE");
        CHECK(empty["MSA.2"] == "E-3");
        // Still serving.
        auto again = co_await exchange(reader, writer, msg("ORM^O01", "E-4"));
        CHECK(again["MSA.1"] == "AE");
        server.close();
        co_await server.wait_closed();
    });
    auto const events = log.all();
    REQUIRE(events.size() == 4);
    CHECK(events[0].what == hl7::router_event::kind::handler_failed);
    CHECK(events[0].cause == "segment not found: ZZZ.5.1.1");
    CHECK(events[0].ec == hl7::error::segment_not_found);
    CHECK(events[0].ack_codes == "AE");
    // Metadata only: nothing of the message's contents in the report.
    std::string const line = hl7::to_string(events[0]);
    CHECK(line.find("PATIENT-SECRET") == std::string::npos);
    CHECK(line.find("DOE") == std::string::npos);
    CHECK(line.find("ADT^A01 control id E-1: handler failed: segment not found: ZZZ.5.1.1; sent AE") !=
          std::string::npos);
    CHECK(events[2].cause == "the handler's answer has no MSA segment");
}

TEST_CASE("router: incomplete headers are rejected naming the field, never AA", "[router]")
{
    asio::io_context ctx;
    event_log log;
    hl7::router_options o;
    o.on_event = log.hook();
    hl7::router router(o);
    std::atomic<int> calls{0};
    router.route("*", [&](hl7::message const& m) {
        ++calls;
        return m.create_ack("AA");
    });
    hl7::router_options lenient_options;
    lenient_options.validation = hl7::header_rules::lenient();
    lenient_options.on_event = log.hook();
    hl7::router lenient(lenient_options);
    lenient.route("*", [&](hl7::message const& m) {
        ++calls;
        return m.create_ack("AA");
    });
    run(ctx, [&]() -> asio::awaitable<void> {
        auto server = co_await hl7::start_hl7_server(router, loopback_options());
        auto [reader, writer] = co_await hl7::open_hl7_connection("127.0.0.1", server.port());
        // The frame: just "MSH|".
        auto bare = co_await exchange(reader, writer, "MSH|");
        CHECK(bare["MSA.1"] == "AR");
        CHECK(bare["MSA.3"] == "message type (MSH-9) is missing");
        CHECK(bare["ERR.3.1.1"] == "101");
        CHECK(bare["MSH.12"] == "2.5");
        CHECK(bare["MSH.11"] == "P");
        auto no_id = co_await exchange(reader, writer, msg("ADT^A01", ""));
        CHECK(no_id["MSA.1"] == "AR");
        CHECK(no_id["MSA.3"] == "message control id (MSH-10) is missing");
        CHECK(no_id.segment("ERR")[2].raw() == "MSH^1^10");
        auto no_version = co_await exchange(reader, writer, msg("ADT^A01", "V-1", ""));
        CHECK(no_version["MSA.1"] == "AR");
        CHECK(no_version["MSA.2"] == "V-1");
        CHECK(no_version["MSA.3"] == "version id (MSH-12) is missing");

        auto lenient_server = co_await hl7::start_hl7_server(lenient, loopback_options());
        auto [r2, w2] = co_await hl7::open_hl7_connection("127.0.0.1", lenient_server.port());
        auto fine = co_await exchange(r2, w2, msg("ADT", "V-2", ""));
        CHECK(fine["MSA.1"] == "AA");
        auto still = co_await exchange(r2, w2, msg("ADT^A01", ""));
        CHECK(still["MSA.1"] == "AR");
        server.close();
        lenient_server.close();
        co_await server.wait_closed();
        co_await lenient_server.wait_closed();
    });
    CHECK(calls == 1);
    auto const events = log.all();
    REQUIRE(events.size() == 5);
    CHECK(events[0].what == hl7::router_event::kind::rejected);
    CHECK(events[0].ec == hl7::error::missing_message_type);
    CHECK(events[1].ec == hl7::error::missing_control_id);
}

TEST_CASE("router: unparsable payloads and oversized frames get NAKs", "[router]")
{
    asio::io_context ctx;
    event_log log;
    hl7::router_options o;
    o.on_event = log.hook();
    hl7::router router(o);
    router.route("*", [](hl7::message const& m) { return m.create_ack("AA"); });
    auto options = loopback_options();
    options.connection.max_frame_size = 4096;
    run(ctx, [&]() -> asio::awaitable<void> {
        auto server = co_await hl7::start_hl7_server(router, options);
        auto [reader, writer] = co_await hl7::open_hl7_connection("127.0.0.1", server.port());
        auto junk = co_await exchange(reader, writer, "this is not HL7");
        CHECK(junk["MSA.1"] == "AR");
        CHECK(junk["MSA.3"].starts_with("message does not start with an MSH segment"));
        auto inner = co_await exchange(reader, writer, msg("ADT^A01", "N-1") + "P!D|1\r");
        CHECK(inner["MSA.1"] == "AE");
        CHECK(inner["MSA.2"] == "N-1");
        auto big = co_await exchange(reader, writer, msg("ADT^A01", "N-2") + "NTE|1||" + std::string(5000, 'x') + "\r");
        CHECK(big["MSA.1"] == "AR");
        CHECK(big["MSA.3"] == "frame is larger than the size limit");
        auto ok = co_await exchange(reader, writer, msg("ADT^A01", "N-3"));
        CHECK(ok["MSA.1"] == "AA");
        server.close();
        co_await server.wait_closed();
    });
    auto const events = log.all();
    REQUIRE(events.size() == 4);
    CHECK(events[0].what == hl7::router_event::kind::unparsable);
    CHECK(events[0].ec == hl7::error::no_header);
    CHECK(events[1].ec == hl7::error::invalid_segment_id);
    CHECK(events[2].what == hl7::router_event::kind::oversized);
}

TEST_CASE("router: enhanced mode sends the commit ACK and the application ACK as asked", "[router][enhanced]")
{
    asio::io_context ctx;
    hl7::router router;
    std::atomic<int> calls{0};
    router.route("ADT^*", [&](hl7::message const& m) -> asio::awaitable<hl7::message> {
        ++calls;
        co_await sleep_for(1ms);
        co_return m.create_ack("AA");
    });
    router.route("ORU^*", [&](hl7::message const&) -> hl7::message {
        ++calls;
        throw std::runtime_error("database down");
    });
    run(ctx, [&]() -> asio::awaitable<void> {
        auto server = co_await hl7::start_hl7_server(router, loopback_options());
        auto [reader, writer] = co_await hl7::open_hl7_connection("127.0.0.1", server.port());

        // AL/AL: CA first, then the application ACK as a message of its own.
        auto ca = co_await exchange(reader, writer, msg("ADT^A01", "X-1", "2.5", "|||AL|AL"));
        CHECK(ca["MSA.1"] == "CA");
        CHECK(ca["MSA.2"] == "X-1");
        auto aa = co_await hl7::wait_for(reader.readmessage(), 10s);
        CHECK(aa["MSA.1"] == "AA");
        CHECK(aa["MSA.2"] == "X-1");
        CHECK(aa["MSH.10"] != ca["MSH.10"]);
        CHECK(aa["MSH.10"] != "X-1");

        // AL/NE: the commit ACK only. The next answer is for the next message.
        auto only_ca = co_await exchange(reader, writer, msg("ADT^A01", "X-2", "2.5", "|||AL|NE"));
        CHECK(only_ca["MSA.1"] == "CA");
        CHECK(only_ca["MSA.2"] == "X-2");
        // NE/AL: the application ACK only.
        auto only_aa = co_await exchange(reader, writer, msg("ADT^A01", "X-3", "2.5", "|||NE|AL"));
        CHECK(only_aa["MSA.1"] == "AA");
        CHECK(only_aa["MSA.2"] == "X-3");
        // ER/ER on success: nothing; then an original-mode message is answered.
        writer.writeblock(msg("ADT^A01", "X-4", "2.5", "|||ER|ER"));
        auto next = co_await exchange(reader, writer, msg("ADT^A01", "X-5"));
        CHECK(next["MSA.1"] == "AA");
        CHECK(next["MSA.2"] == "X-5");
        // ER/ER when the handler fails: the AE only.
        auto ae = co_await exchange(reader, writer, msg("ORU^R01", "X-6", "2.5", "|||ER|ER"));
        CHECK(ae["MSA.1"] == "AE");
        CHECK(ae["MSA.2"] == "X-6");
        CHECK(ae["ERR.8"] == "database down");
        // AL/AL when the handler fails: CA, then AE.
        auto ca7 = co_await exchange(reader, writer, msg("ORU^R01", "X-7", "2.5", "|||AL|AL"));
        CHECK(ca7["MSA.1"] == "CA");
        auto ae7 = co_await hl7::wait_for(reader.readmessage(), 10s);
        CHECK(ae7["MSA.1"] == "AE");
        CHECK(ae7["MSA.2"] == "X-7");
        // Rejections are commit-level: CR, and no application ACK.
        auto cr = co_await exchange(reader, writer, msg("SIU^S12", "X-8", "2.5", "|||AL|AL"));
        CHECK(cr["MSA.1"] == "CR");
        CHECK(cr["ERR.3.1.1"] == "200");
        auto cr2 = co_await exchange(reader, writer, msg("ADT^A01", "", "2.5", "|||AL|AL"));
        CHECK(cr2["MSA.1"] == "CR");
        // SU on a rejection: silence, then the next answer.
        writer.writeblock(msg("SIU^S12", "X-9", "2.5", "|||SU|SU"));
        auto after = co_await exchange(reader, writer, msg("ADT^A01", "X-10"));
        CHECK(after["MSA.2"] == "X-10");
        server.close();
        co_await server.wait_closed();
    });
    CHECK(calls == 8);
}

TEST_CASE("router and client: enhanced mode end to end, the client waits for the application ACK", "[router][enhanced][client]")
{
    asio::io_context ctx;
    hl7::router router;
    router.route("ADT^*", [](hl7::message const& m) -> asio::awaitable<hl7::message> {
        co_await sleep_for(1ms); // the CA is on the wire before the handler answers
        co_return m.create_ack("AA");
    });
    router.route("ORU^*", [](hl7::message const&) -> hl7::message { throw std::runtime_error("database down"); });

    struct expected
    {
        std::string payload, ack_code, commit_code;
        hl7::send_fate fate = hl7::send_fate::acknowledged;
    };
    std::vector<expected> const cases{
        {msg("ADT^A01", "E-1", "2.5", "|||AL|AL"), "AA", "CA"},
        {msg("ORU^R01", "E-2", "2.5", "|||AL|AL"), "AE", "CA"},
        {msg("ADT^A01", "E-3", "2.5", "|||AL|NE"), "CA", ""},
        {msg("ADT^A01", "E-4", "2.5", "|||NE|AL"), "AA", ""},
        {msg("SIU^S12", "E-5", "2.5", "|||AL|AL"), "CR", ""},
        {msg("ADT^A01", "E-6", "2.5", "|||AL"), "AA", "CA"}, // MSH-16 empty in enhanced mode: AL
        {msg("ADT^A01", "E-7", "2.3", "|||SU|AL"), "AA", "CA"},
        {msg("ADT^A01", "E-8"), "AA", ""}, // original mode on the same connection
        {msg("ADT^A01", "E-9", "2.5", "|||ER|ER"), "", "", hl7::send_fate::not_sent},
    };
    std::vector<hl7::send_outcome> outcomes(cases.size());
    std::atomic<int> unmatched{0};
    run(ctx, [&]() -> asio::awaitable<void> {
        auto server = co_await hl7::start_hl7_server(router, loopback_options());
        hl7::client_options o;
        o.window = 4; // CA and application ACKs of several messages interleave on the wire
        o.on_unmatched_ack = [&](std::string_view) { ++unmatched; };
        hl7::client c(ctx.get_executor(), "127.0.0.1", server.port(), o);
        std::size_t pending = cases.size();
        asio::steady_timer done(ctx, std::chrono::steady_clock::time_point::max());
        for (std::size_t i = 0; i < cases.size(); ++i)
            c.async_send_block(cases[i].payload, [&, i](std::exception_ptr, hl7::send_outcome r) {
                outcomes[i] = std::move(r);
                if (--pending == 0)
                    done.cancel();
            });
        co_await done.async_wait(as_tuple);
        co_await c.close();
        server.close();
        co_await server.wait_closed();
    });
    for (std::size_t i = 0; i < cases.size(); ++i) {
        INFO("case " << i + 1);
        CHECK(outcomes[i].fate == cases[i].fate);
        CHECK(outcomes[i].ack_code == cases[i].ack_code);
        CHECK(outcomes[i].commit_code == cases[i].commit_code);
        CHECK(outcomes[i].control_id == "E-" + std::to_string(i + 1));
    }
    CHECK(outcomes[1].ack.find("database down") != std::string::npos);
    CHECK(outcomes[8].reason == hl7::client_error::no_ack_requested);
    CHECK(unmatched == 0);
}

TEST_CASE("router: enhanced mode can be turned off", "[router][enhanced]")
{
    asio::io_context ctx;
    hl7::router_options o;
    o.enhanced_mode = false;
    hl7::router router(o);
    router.route("*", [](hl7::message const& m) { return m.create_ack("AA"); });
    run(ctx, [&]() -> asio::awaitable<void> {
        auto server = co_await hl7::start_hl7_server(router, loopback_options());
        auto [reader, writer] = co_await hl7::open_hl7_connection("127.0.0.1", server.port());
        auto aa = co_await exchange(reader, writer, msg("ADT^A01", "O-1", "2.5", "|||AL|AL"));
        CHECK(aa["MSA.1"] == "AA");
        auto next = co_await exchange(reader, writer, msg("ADT^A01", "O-2"));
        CHECK(next["MSA.2"] == "O-2");
        server.close();
        co_await server.wait_closed();
    });
}

TEST_CASE("router: duplicates are answered without processing them again", "[router][duplicates]")
{
    asio::io_context ctx;
    event_log log;
    hl7::router_options o;
    o.duplicates = std::make_shared<hl7::duplicate_window>();
    o.on_event = log.hook();
    hl7::router router(o);
    std::atomic<int> calls{0};
    router.route("ADT^*", [&](hl7::message const& m) {
        ++calls;
        return m.create_ack(m.control_id() == "D-2" ? "AE" : "AA");
    });
    run(ctx, [&]() -> asio::awaitable<void> {
        auto server = co_await hl7::start_hl7_server(router, loopback_options());
        {
            auto [reader, writer] = co_await hl7::open_hl7_connection("127.0.0.1", server.port());
            // (Never co_await inside a Catch assertion: await into a local first.)
            auto const first = co_await exchange(reader, writer, msg("ADT^A01", "D-1"));
            CHECK(first["MSA.1"] == "AA");
            auto const second = co_await exchange(reader, writer, msg("ADT^A01", "D-2"));
            CHECK(second["MSA.1"] == "AE");
            writer.close();
            co_await writer.wait_closed();
        }
        // The sender lost the ACKs and resends on a new connection.
        auto [reader, writer] = co_await hl7::open_hl7_connection("127.0.0.1", server.port());
        auto dup = co_await exchange(reader, writer, msg("ADT^A01", "D-1"));
        CHECK(dup["MSA.1"] == "AA");
        CHECK(dup["MSA.2"] == "D-1");
        // An AE is not remembered: the resend is processed again.
        auto const again = co_await exchange(reader, writer, msg("ADT^A01", "D-2"));
        CHECK(again["MSA.1"] == "AE");
        // Same control id from another sender: not a duplicate.
        std::string other = msg("ADT^A01", "D-1");
        other.replace(other.find("SND"), 3, "OTHER");
        auto const other_ack = co_await exchange(reader, writer, other);
        CHECK(other_ack["MSA.1"] == "AA");
        // Enhanced mode: CA and AA, still no processing.
        auto ca = co_await exchange(reader, writer, msg("ADT^A01", "D-1", "2.5", "|||AL|AL"));
        CHECK(ca["MSA.1"] == "CA");
        auto aa = co_await hl7::wait_for(reader.readmessage(), 10s);
        CHECK(aa["MSA.1"] == "AA");
        server.close();
        co_await server.wait_closed();
    });
    CHECK(calls == 4);
    CHECK(o.duplicates->duplicates() == 2);
    auto const events = log.all();
    REQUIRE(events.size() == 6);
    CHECK(events[2].what == hl7::router_event::kind::duplicate);
    CHECK(events[2].ack_codes == "AA");
    CHECK(events[5].ack_codes == "CA AA");
}

TEST_CASE("router: a handler cancelled by the server's limit is not answered", "[router]")
{
    asio::io_context ctx;
    event_log log;
    hl7::router_options o;
    o.on_event = log.hook();
    hl7::router router(o);
    router.route("*", [](hl7::message const& m) -> asio::awaitable<hl7::message> {
        co_await sleep_for(30s);
        co_return m.create_ack("AA");
    });
    auto options = loopback_options();
    options.handler_timeout = 200ms;
    run(ctx, [&]() -> asio::awaitable<void> {
        auto server = co_await hl7::start_hl7_server(router, options);
        auto s = co_await raw_connect(server.port());
        co_await raw_send(s, frame(msg("ADT^A01", "C-1")));
        auto [received, ec] = co_await raw_read_to_end(s);
        CHECK(received.empty()); // no AE for a cancellation
        CHECK(ec);
        server.close();
        co_await server.wait_closed();
    });
    for (auto const& e : log.all())
        CHECK(e.what != hl7::router_event::kind::handler_failed);
}

TEST_CASE("router: several io threads, many connections", "[router][threads]")
{
    event_log log;
    hl7::router_options o;
    o.on_event = log.hook();
    o.duplicates = std::make_shared<hl7::duplicate_window>();
    hl7::router router(o);
    std::atomic<int> calls{0};
    router.route("ADT^A01", [&](hl7::message const& m) -> asio::awaitable<hl7::message> {
        ++calls;
        co_await sleep_for(1ms);
        co_return m.create_ack("AA");
    });
    router.route("ORU^*", [&](hl7::message const&) -> hl7::message {
        ++calls;
        throw std::runtime_error("no");
    });

    constexpr int connections = 8;
    constexpr int per_connection = 40;
    std::atomic<int> good{0};
    run_threaded_server(
        4, [&] { return hl7::start_hl7_server(router, loopback_options()); }, connections,
        [&](std::uint16_t port, int c) -> asio::awaitable<void> {
            auto [reader, writer] = co_await hl7::open_hl7_connection("127.0.0.1", port);
            for (int i = 0; i < per_connection; ++i) {
                std::string const id = "T" + std::to_string(c) + "-" + std::to_string(i);
                bool const fail = i % 10 == 9;
                auto ack = co_await exchange(reader, writer, msg(fail ? "ORU^R01" : "ADT^A01", id));
                if (ack["MSA.2"] == id && ack["MSA.1"] == (fail ? "AE" : "AA"))
                    ++good;
            }
            writer.close();
            co_await writer.wait_closed();
        });
    CHECK(good == connections * per_connection);
    CHECK(calls == connections * per_connection);
    auto const events = log.all();
    CHECK(events.size() == static_cast<std::size_t>(connections * per_connection));
    int failed = 0;
    for (auto const& e : events)
        failed += e.what == hl7::router_event::kind::handler_failed;
    CHECK(failed == connections * per_connection / 10);
    CHECK(o.duplicates->size() == static_cast<std::size_t>(connections * per_connection * 9 / 10));
}

TEST_CASE("router: the default report goes to standard error", "[router]")
{
    hl7::router_event e;
    e.what = hl7::router_event::kind::rejected;
    e.control_id = "C\x01" "1";
    e.message_type = "ADT^A01";
    e.ack_codes = "AR";
    e.cause = "no route for message type ADT";
    std::string const line = hl7::to_string(e);
    CHECK(line.find(" ADT^A01 control id C\x01" "1: rejected: no route for message type ADT; sent AR") !=
          std::string::npos);
    CHECK(hl7::detail::log_safe("a\rb\\c") == "a\\x0Db\\x5Cc");
    CHECK(hl7::detail::log_safe(std::string(100, 'x')).size() == 67);
}
