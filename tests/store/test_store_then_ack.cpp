// Test that header file is self-contained.
#include <hl7/store/store_then_ack.hpp>

// store_then_ack end to end: start_hl7_server + open_hl7_connection on
// loopback, a real SQLite file, and a second SQLite connection of the test's
// own that checks the message is on disk the moment its AA arrives.

#include "store_test_support.hpp"

#include <hl7/net.hpp>

#include <asio/detached.hpp>
#include <asio/strand.hpp>
#include <asio/thread_pool.hpp>

#include <catch2/catch.hpp>

#include <sqlite3.h>

#include <future>
#include <mutex>
#include <set>
#include <sstream>

using namespace store_test;
using hl7_test::loopback_options;
using hl7::store::error;

namespace {

/// Counts rows of the store file with MSH-10 `control_id`, through a connection of its own.
class store_probe
{
public:
    explicit store_probe(std::string const& path)
    {
        REQUIRE(sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
        REQUIRE(sqlite3_prepare_v2(db_, "SELECT count(*) FROM messages WHERE control_id = ?1", -1, &count_, nullptr) ==
                SQLITE_OK);
    }
    ~store_probe()
    {
        sqlite3_finalize(count_);
        sqlite3_close(db_);
    }

    int
    copies(std::string const& control_id)
    {
        sqlite3_reset(count_);
        sqlite3_bind_text(count_, 1, control_id.c_str(), -1, SQLITE_TRANSIENT);
        int n = -1;
        if (sqlite3_step(count_) == SQLITE_ROW)
            n = sqlite3_column_int(count_, 0);
        sqlite3_reset(count_);
        return n;
    }

    sqlite3* db_ = nullptr;
    sqlite3_stmt* count_ = nullptr;
};

/// Events, collected thread-safely.
struct event_log
{
    std::mutex mu;
    std::vector<hl7::store_event> events;

    std::function<void(hl7::store_event const&)>
    callback()
    {
        return [this](hl7::store_event const& e) {
            std::lock_guard lock(mu);
            events.push_back(e);
        };
    }

    std::vector<hl7::store_event>
    snapshot()
    {
        std::lock_guard lock(mu);
        return events;
    }
};

asio::awaitable<hl7::message>
send_and_read(hl7::stream_reader& reader, hl7::stream_writer& writer, std::string const& text)
{
    writer.writeblock(text);
    co_await writer.drain();
    co_return co_await hl7::wait_for(reader.readmessage(), 30s);
}

/// What a read ends with: the frame, or the error (end of stream...).
asio::awaitable<std::pair<std::string, std::error_code>>
read_or_error(hl7::stream_reader& reader)
{
    try {
        auto block = co_await hl7::wait_for(reader.readblock(), 30s);
        co_return std::pair{block, std::error_code()};
    }
    catch (std::system_error const& e) {
        co_return std::pair{std::string(), e.code()};
    }
}

/// Another process holding the store's write lock while it lives.
struct raw_lock
{
    explicit raw_lock(std::string const& path) : db(path) { db.must("BEGIN IMMEDIATE"); }
    ~raw_lock() { db.exec("ROLLBACK"); }
    raw_db db;
};

/// A receiver under test: a store and a server running store_then_ack on it.
struct test_receiver
{
    std::shared_ptr<hl7::store::sqlite_store> store;
    std::optional<hl7::server> server;

    std::uint16_t
    port() const
    {
        return server->port();
    }

    asio::awaitable<void>
    stop()
    {
        server->close();
        co_await server->wait_closed();
        co_await store->close();
    }
};

asio::awaitable<test_receiver>
start_receiver(std::string path, hl7::store_then_ack_options o, hl7::store::sqlite_options so = {},
               hl7::server_options server_options = loopback_options())
{
    test_receiver r;
    r.store = co_await hl7::store::open_sqlite_store(path, so);
    r.server.emplace(co_await hl7::start_hl7_server(hl7::store_then_ack_handler(r.store, std::move(o)),
                                                    std::move(server_options)));
    co_return r;
}

asio::awaitable<void>
hang_up(hl7::stream_writer& writer)
{
    writer.close();
    co_await writer.wait_closed();
}

} // namespace

TEST_CASE("store_then_ack: every AA arrives after its message is on disk", "[store][store_then_ack]")
{
    scratch_dir dir;
    std::string const path = dir.file("in.db");
    asio::io_context ctx;
    event_log log;
    run(ctx, [&]() -> asio::awaitable<void> {
        std::shared_ptr<hl7::store::message_store> store = co_await hl7::store::open_sqlite_store(path);
        hl7::store_then_ack_options o;
        o.on_event = log.callback();
        auto server = co_await hl7::start_hl7_server(hl7::store_then_ack_handler(store, o), loopback_options());
        store_probe probe(path);
        auto [reader, writer] = co_await hl7::open_hl7_connection("127.0.0.1", server.port());
        for (int i = 0; i < 30; ++i) {
            std::string const id = "SA-" + std::to_string(i);
            auto ack = co_await send_and_read(reader, writer, message_text(id));
            CHECK(ack["MSA.1"] == "AA");
            CHECK(ack["MSA.2"] == id);
            // Already committed when the AA was sent: another connection sees it.
            CHECK(probe.copies(id) == 1);
        }
        co_await hang_up(writer);
        server.close();
        co_await server.wait_closed();
        co_await store->close();
    });
    auto events = log.snapshot();
    REQUIRE(events.size() == 30);
    CHECK(events[0].what == hl7::store_event::kind::stored);
    CHECK(events[0].meta.control_id == "SA-0");
    CHECK(events[0].id == 1);
    CHECK(events[0].peer.rfind("127.0.0.1:", 0) == 0);
    CHECK(events[0].size == message_text("SA-0").size());
}

TEST_CASE("store_then_ack: a resent message is acknowledged and stored once", "[store][store_then_ack]")
{
    scratch_dir dir;
    std::string const path = dir.file("in.db");
    asio::io_context ctx;
    event_log log;
    run(ctx, [&]() -> asio::awaitable<void> {
        hl7::store_then_ack_options o;
        o.on_event = log.callback();
        auto rx = co_await start_receiver(path, o);
        auto& store = rx.store;
        std::string const text = message_text("DUP-1");
        for (int round = 0; round < 3; ++round) {
            // A new connection each time, as a sender does after a lost ACK.
            auto [reader, writer] = co_await hl7::open_hl7_connection("127.0.0.1", rx.port());
            auto ack = co_await send_and_read(reader, writer, text);
            CHECK(ack["MSA.1"] == "AA");
            CHECK(ack["MSA.2"] == "DUP-1");
            co_await hang_up(writer);
        }
        auto st = co_await store->stats();
        CHECK(st.queued == 1);
        CHECK(st.duplicates == 2);
        co_await rx.stop();
    });
    auto events = log.snapshot();
    REQUIRE(events.size() == 3);
    CHECK(events[0].what == hl7::store_event::kind::stored);
    CHECK(events[1].what == hl7::store_event::kind::duplicate);
    CHECK(events[2].what == hl7::store_event::kind::duplicate);
    CHECK(events[2].id == events[0].id);
}

TEST_CASE("store_then_ack: a payload that is not a message gets a NAK and is not stored", "[store][store_then_ack]")
{
    scratch_dir dir;
    std::string const path = dir.file("in.db");
    asio::io_context ctx;
    event_log log;
    run(ctx, [&]() -> asio::awaitable<void> {
        hl7::store_then_ack_options o;
        o.on_event = log.callback();
        auto rx = co_await start_receiver(path, o);
        auto& store = rx.store;
        auto [reader, writer] = co_await hl7::open_hl7_connection("127.0.0.1", rx.port());
        auto nak = co_await send_and_read(reader, writer, "this is not HL7");
        CHECK(nak["MSA.1"] == "AR");
        CHECK(nak["MSA.3"].find("parse error") != std::string::npos);
        // The connection goes on.
        auto ack = co_await send_and_read(reader, writer, message_text("AFTER-NAK"));
        CHECK(ack["MSA.1"] == "AA");
        auto st = co_await store->stats();
        CHECK(st.queued == 1);
        co_await hang_up(writer);
        co_await rx.stop();
    });
    auto events = log.snapshot();
    REQUIRE(events.size() == 2);
    CHECK(events[0].what == hl7::store_event::kind::rejected);
    CHECK(events[0].ec == hl7::error::no_header);
    CHECK(events[1].what == hl7::store_event::kind::stored);
}

TEST_CASE("store_then_ack: a frame over the size limit gets a NAK AR", "[store][store_then_ack]")
{
    scratch_dir dir;
    asio::io_context ctx;
    run(ctx, [&]() -> asio::awaitable<void> {
        auto so = loopback_options();
        so.connection.max_frame_size = 1024;
        auto rx = co_await start_receiver(dir.file("in.db"), {}, {}, so);
        auto& store = rx.store;
        auto [reader, writer] = co_await hl7::open_hl7_connection("127.0.0.1", rx.port());
        std::string big = message_text("BIG");
        big += "NTE|1||" + std::string(4000, 'x') + "\r";
        auto nak = co_await send_and_read(reader, writer, big);
        CHECK(nak["MSA.1"] == "AR");
        auto st = co_await store->stats();
        CHECK(st.queued == 0);
        co_await hang_up(writer);
        co_await rx.stop();
    });
}

TEST_CASE("store_then_ack: when the store fails the connection closes without an answer, and recovers",
          "[store][store_then_ack][failure]")
{
    scratch_dir dir;
    std::string const path = dir.file("in.db");
    asio::io_context ctx;
    event_log log;
    run(ctx, [&]() -> asio::awaitable<void> {
        hl7::store::sqlite_options so;
        so.busy_timeout = 200ms;
        hl7::store_then_ack_options o;
        o.on_event = log.callback();
        auto rx = co_await start_receiver(path, o, so);
        std::string const text = message_text("FAIL-1");
        {
            auto lock = std::make_unique<raw_lock>(path); // another process holds the database
            auto [reader, writer] = co_await hl7::open_hl7_connection("127.0.0.1", rx.port());
            writer.writeblock(text);
            co_await writer.drain();
            auto [block, ec] = co_await read_or_error(reader);
            CHECK(block.empty()); // no AA, no NAK: nothing at all
            CHECK(ec == hl7::mllp::error::end_of_stream);
            store_probe probe(path);
            CHECK(probe.copies("FAIL-1") == 0);
            co_await hang_up(writer);
        }
        // The lock is gone: the sender's resend is stored and acknowledged,
        // by the same receiver and store, nothing restarted.
        auto [reader, writer] = co_await hl7::open_hl7_connection("127.0.0.1", rx.port());
        auto ack = co_await send_and_read(reader, writer, text);
        CHECK(ack["MSA.1"] == "AA");
        store_probe probe(path);
        CHECK(probe.copies("FAIL-1") == 1);
        co_await hang_up(writer);
        co_await rx.stop();
    });
    auto events = log.snapshot();
    REQUIRE(events.size() == 2);
    CHECK(events[0].what == hl7::store_event::kind::store_failed);
    CHECK(events[0].ec == error::busy);
    CHECK(events[0].meta.control_id == "FAIL-1");
    CHECK(events[0].text.find("database is locked") != std::string::npos);
    CHECK(events[1].what == hl7::store_event::kind::stored);
}

TEST_CASE("store_then_ack: with the nak option a store failure is answered AE naming the cause",
          "[store][store_then_ack][failure]")
{
    scratch_dir dir;
    std::string const path = dir.file("in.db");
    asio::io_context ctx;
    run(ctx, [&]() -> asio::awaitable<void> {
        hl7::store::sqlite_options so;
        so.busy_timeout = 200ms;
        hl7::store_then_ack_options o;
        o.on_store_failure = hl7::store_failure_reply::nak;
        auto rx = co_await start_receiver(path, o, so);
        auto& store = rx.store;
        auto [reader, writer] = co_await hl7::open_hl7_connection("127.0.0.1", rx.port());
        std::string const text = message_text("AE-1");
        {
            raw_lock lock(path);
            auto ae = co_await send_and_read(reader, writer, text);
            CHECK(ae["MSA.1"] == "AE");
            CHECK(ae["MSA.2"] == "AE-1");
            CHECK(ae["MSA.3"].find("message not stored") != std::string::npos);
            CHECK(ae["MSA.3"].find("locked") != std::string::npos);
            CHECK(ae["ERR.3.1"] == "207");
            CHECK(ae["MSA.3"].find(path) == std::string::npos); // no internals on the wire
        }
        // Same connection, the lock released: stored and AA.
        auto ack = co_await send_and_read(reader, writer, text);
        CHECK(ack["MSA.1"] == "AA");
        auto st = co_await store->stats();
        CHECK(st.queued == 1);
        co_await hang_up(writer);
        co_await rx.stop();
    });
}

TEST_CASE("store_then_ack: a closed store gets no AA", "[store][store_then_ack][failure]")
{
    scratch_dir dir;
    asio::io_context ctx;
    event_log log;
    run(ctx, [&]() -> asio::awaitable<void> {
        hl7::store_then_ack_options o;
        o.on_event = log.callback();
        auto rx = co_await start_receiver(dir.file("in.db"), o);
        auto& store = rx.store;
        co_await store->close();
        auto [reader, writer] = co_await hl7::open_hl7_connection("127.0.0.1", rx.port());
        writer.writeblock(message_text("CL-1"));
        co_await writer.drain();
        auto [block, ec] = co_await read_or_error(reader);
        CHECK(block.empty());
        CHECK(ec == hl7::mllp::error::end_of_stream);
        co_await rx.stop(); // closing the store again is fine
    });
    auto events = log.snapshot();
    REQUIRE(events.size() == 1);
    CHECK(events[0].ec == error::closed);
}

TEST_CASE("store_then_ack: 16 connections on 4 io threads, every message stored once and acknowledged",
          "[store][store_then_ack][concurrency]")
{
    scratch_dir dir;
    std::string const path = dir.file("in.db");
    constexpr int connections = 16;
    constexpr int per_connection = 50;
    asio::thread_pool pool(4);
    std::promise<std::vector<std::string>> done;
    asio::co_spawn(
        pool,
        [&]() -> asio::awaitable<void> {
            std::vector<std::string> problems;
            auto store = co_await hl7::store::open_sqlite_store(path);
            auto server = co_await hl7::start_hl7_server(hl7::store_then_ack_handler(store), loopback_options());
            std::mutex mu;
            std::atomic<int> finished{0};
            for (int c = 0; c < connections; ++c) {
                asio::co_spawn(
                    asio::make_strand(pool),
                    [&, c]() -> asio::awaitable<void> {
                        auto [reader, writer] = co_await hl7::open_hl7_connection("127.0.0.1", server.port());
                        for (int i = 0; i < per_connection; ++i) {
                            std::string const id = "MT-" + std::to_string(c) + "-" + std::to_string(i);
                            auto ack = co_await send_and_read(reader, writer, message_text(id, "APP" + std::to_string(c % 4)));
                            if (ack["MSA.1"] != "AA" || ack["MSA.2"] != id) {
                                std::lock_guard lock(mu);
                                problems.push_back(id + ": " + ack["MSA.1"] + " " + ack["MSA.2"]);
                            }
                        }
                        writer.close();
                        co_await writer.wait_closed();
                        ++finished;
                    },
                    asio::detached);
            }
            while (finished < connections)
                co_await hl7_test::sleep_for(10ms);
            auto st = co_await store->stats();
            if (st.queued != connections * per_connection)
                problems.push_back("queued " + std::to_string(st.queued));
            auto const c = store->counters();
            if (c.commits >= c.stored)
                problems.push_back("no group commit: " + std::to_string(c.commits) + " commits");
            server.close();
            co_await server.wait_closed();
            co_await store->close();
            done.set_value(problems);
        },
        [&](std::exception_ptr e) {
            if (e)
                done.set_exception(e);
        });
    auto fut = done.get_future();
    REQUIRE(fut.wait_for(std::chrono::minutes(3)) == std::future_status::ready);
    auto const problems = fut.get();
    INFO((problems.empty() ? std::string() : problems.front()));
    CHECK(problems.empty());
    pool.join();
}

TEST_CASE("store_then_ack: the peer of a UNIX-domain connection is its socket path", "[store][store_then_ack]")
{
    // store_then_ack runs on the connecting side here, whose peername() is
    // the server's socket path; the server plays the sender. The peer text
    // was once built from address and port, which gave "0.0.0.0:0".
    scratch_dir dir;
    std::string const path = dir.file("in.db");
    std::string const socket = dir.file("peer.sock");
    asio::io_context ctx;
    event_log log;
    std::string ack_code;
    run(ctx, [&]() -> asio::awaitable<void> {
        std::shared_ptr<hl7::store::message_store> store = co_await hl7::store::open_sqlite_store(path);
        auto sender = [&](hl7::stream_reader reader, hl7::stream_writer writer) -> asio::awaitable<void> {
            auto ack = co_await send_and_read(reader, writer, message_text("UX-1"));
            ack_code = std::string(ack["MSA.1"]);
            co_await hang_up(writer);
        };
        auto server = co_await hl7::start_hl7_unix_server(sender, socket);
        auto [reader, writer] = co_await hl7::open_hl7_unix_connection(socket);
        hl7::store_then_ack_options o;
        o.on_event = log.callback();
        co_await hl7::store_then_ack(store, reader, writer, o);
        server.close();
        co_await server.wait_closed();
        co_await store->close();
    });
    CHECK(ack_code == "AA");
    auto events = log.snapshot();
    REQUIRE(events.size() == 1);
    CHECK(events[0].what == hl7::store_event::kind::stored);
    CHECK(events[0].peer == socket);
    CHECK(events[0].meta.peer == socket);
}

//--------------------------------------------------------------------------
// Header validation and enhanced acknowledgement mode (issue 13).

namespace {

/// message_text(id) asking for enhanced mode: MSH-15 `accept`, MSH-16 `application`.
std::string
enhanced_text(std::string const& id, std::string_view accept, std::string_view application)
{
    std::string m = message_text(id);
    std::string const end = "|P|2.5\r";
    auto const at = m.find(end);
    REQUIRE(at != std::string::npos);
    m.replace(at, end.size(), "|P|2.5|||" + std::string(accept) + "|" + std::string(application) + "\r");
    return m;
}

asio::awaitable<hl7::message>
read_ack(hl7::stream_reader& reader)
{
    co_return co_await hl7::wait_for(reader.readmessage(), 30s);
}

} // namespace

TEST_CASE("store_then_ack: enhanced mode sends CA only once the message is stored, then AA as MSH-16 asks",
          "[store][store_then_ack][enhanced]")
{
    scratch_dir dir;
    std::string const path = dir.file("in.db");
    asio::io_context ctx;
    event_log log;
    run(ctx, [&]() -> asio::awaitable<void> {
        hl7::store_then_ack_options o;
        o.on_event = log.callback();
        auto rx = co_await start_receiver(path, o);
        store_probe probe(path);
        auto [reader, writer] = co_await hl7::open_hl7_connection("127.0.0.1", rx.port());

        // AL/AL: the commit ACK, sent after the commit, then the application ACK.
        auto ca = co_await send_and_read(reader, writer, enhanced_text("EN-1", "AL", "AL"));
        CHECK(ca["MSA.1"] == "CA");
        CHECK(ca["MSA.2"] == "EN-1");
        CHECK(probe.copies("EN-1") == 1);
        auto aa = co_await read_ack(reader);
        CHECK(aa["MSA.1"] == "AA");
        CHECK(aa["MSA.2"] == "EN-1");
        CHECK(aa["MSH.10"] != ca["MSH.10"]); // a message of its own

        // Each case is followed by an original-mode message: the next frame
        // read is its AA, which proves nothing else was sent before it.
        // `codes`: space-separated (no braced lists as coroutine arguments, issue 7).
        auto const only = [&](std::string text, std::string id, std::string codes) -> asio::awaitable<void> {
            writer.writeblock(text);
            writer.writeblock(message_text(id + "-NEXT"));
            co_await writer.drain();
            std::istringstream expected(codes);
            for (std::string code; expected >> code;) {
                auto ack = co_await read_ack(reader);
                CHECK(ack["MSA.1"] == code);
                CHECK(ack["MSA.2"] == id);
            }
            auto next = co_await read_ack(reader);
            CHECK(next["MSA.1"] == "AA");
            CHECK(next["MSA.2"] == id + "-NEXT");
            CHECK(probe.copies(id) == 1);
        };
        co_await only(enhanced_text("EN-2", "NE", "AL"), "EN-2", "AA");
        co_await only(enhanced_text("EN-3", "AL", "NE"), "EN-3", "CA");
        co_await only(enhanced_text("EN-4", "ER", "AL"), "EN-4", "AA"); // ER: no CA for a success
        co_await only(enhanced_text("EN-5", "SU", "SU"), "EN-5", "CA AA");
        co_await only(enhanced_text("EN-6", "ER", "ER"), "EN-6", ""); // stored, nothing asked for
        co_await only(enhanced_text("EN-7", "", "AL"), "EN-7", "CA AA"); // empty MSH-15 in enhanced mode: AL

        // A resend (duplicate): answered the same way, stored once.
        auto ca2 = co_await send_and_read(reader, writer, enhanced_text("EN-1", "AL", "AL"));
        CHECK(ca2["MSA.1"] == "CA");
        auto aa2 = co_await read_ack(reader);
        CHECK(aa2["MSA.1"] == "AA");
        CHECK(aa2["MSA.2"] == "EN-1");
        CHECK(probe.copies("EN-1") == 1);
        co_await hang_up(writer);
        co_await rx.stop();
    });
    auto events = log.snapshot();
    REQUIRE(events.size() == 14);
    CHECK(events[0].what == hl7::store_event::kind::stored);
    CHECK(events[0].ack_codes == "CA AA");
    // EN-k (k >= 2) is event 2k - 3, its -NEXT message the one after it.
    CHECK(events[1].ack_codes == "AA");   // EN-2
    CHECK(events[3].ack_codes == "CA");   // EN-3
    CHECK(events[9].ack_codes.empty());   // EN-6
    CHECK(events[9].what == hl7::store_event::kind::stored);
    CHECK(events[10].ack_codes == "AA");  // EN-6-NEXT, original mode
    CHECK(events[13].what == hl7::store_event::kind::duplicate);
    CHECK(events[13].ack_codes == "CA AA");
}

TEST_CASE("store_then_ack: enhanced_mode off answers one AA whatever MSH-15/MSH-16 ask",
          "[store][store_then_ack][enhanced]")
{
    scratch_dir dir;
    asio::io_context ctx;
    run(ctx, [&]() -> asio::awaitable<void> {
        hl7::store_then_ack_options o;
        o.enhanced_mode = false;
        auto rx = co_await start_receiver(dir.file("in.db"), o);
        auto [reader, writer] = co_await hl7::open_hl7_connection("127.0.0.1", rx.port());
        writer.writeblock(enhanced_text("OM-1", "AL", "AL"));
        writer.writeblock(enhanced_text("OM-2", "NE", "NE"));
        co_await writer.drain();
        auto a1 = co_await read_ack(reader);
        CHECK(a1["MSA.1"] == "AA");
        CHECK(a1["MSA.2"] == "OM-1");
        auto a2 = co_await read_ack(reader);
        CHECK(a2["MSA.1"] == "AA");
        CHECK(a2["MSA.2"] == "OM-2");
        co_await hang_up(writer);
        co_await rx.stop();
    });
}

TEST_CASE("store_then_ack: a store failure in enhanced mode is answered CE, no application ACK",
          "[store][store_then_ack][enhanced][failure]")
{
    scratch_dir dir;
    std::string const path = dir.file("in.db");
    asio::io_context ctx;
    event_log log;
    run(ctx, [&]() -> asio::awaitable<void> {
        hl7::store::sqlite_options so;
        so.busy_timeout = 200ms;
        hl7::store_then_ack_options o;
        o.on_store_failure = hl7::store_failure_reply::nak;
        o.on_event = log.callback();
        auto rx = co_await start_receiver(path, o, so);
        auto [reader, writer] = co_await hl7::open_hl7_connection("127.0.0.1", rx.port());
        std::string const text = enhanced_text("CE-1", "AL", "AL");
        {
            raw_lock lock(path);
            auto ce = co_await send_and_read(reader, writer, text);
            CHECK(ce["MSA.1"] == "CE");
            CHECK(ce["MSA.2"] == "CE-1");
            CHECK(ce["MSA.3"].find("message not stored") != std::string::npos);
            CHECK(ce["ERR.3.1"] == "207");
        }
        // The resend is stored: CA then AA, and no AA was left over from the failure.
        auto ca = co_await send_and_read(reader, writer, text);
        CHECK(ca["MSA.1"] == "CA");
        auto aa = co_await read_ack(reader);
        CHECK(aa["MSA.1"] == "AA");
        store_probe probe(path);
        CHECK(probe.copies("CE-1") == 1);
        co_await hang_up(writer);
        co_await rx.stop();
    });
    auto events = log.snapshot();
    REQUIRE(events.size() == 2);
    CHECK(events[0].what == hl7::store_event::kind::store_failed);
    CHECK(events[0].ack_codes == "CE");
    CHECK(events[1].ack_codes == "CA AA");
}

TEST_CASE("store_then_ack: a header without MSH-9, MSH-10 or MSH-12 is refused naming the field and not stored",
          "[store][store_then_ack][validation]")
{
    scratch_dir dir;
    std::string const path = dir.file("in.db");
    asio::io_context ctx;
    event_log log;
    run(ctx, [&]() -> asio::awaitable<void> {
        hl7::store_then_ack_options o;
        o.on_event = log.callback();
        auto rx = co_await start_receiver(path, o);
        auto& store = rx.store;
        auto [reader, writer] = co_await hl7::open_hl7_connection("127.0.0.1", rx.port());

        auto bare = co_await send_and_read(reader, writer, "MSH|^~\\&|");
        CHECK(bare["MSA.1"] == "AR");
        CHECK(bare["MSA.3"].find("MSH-9") != std::string::npos);
        CHECK(bare["ERR.3.1"] == "101");
        CHECK(!bare["MSH.12"].empty()); // the NAK itself has a complete header

        auto no_id = co_await send_and_read(reader, writer,
                                            "MSH|^~\\&|LAB|NORTH|HIS|MAIN|20240101120000||ADT^A01||P|2.5\rPID|1\r");
        CHECK(no_id["MSA.1"] == "AR");
        CHECK(no_id["MSA.3"].find("MSH-10") != std::string::npos);

        auto no_version = co_await send_and_read(
            reader, writer, "MSH|^~\\&|LAB|NORTH|HIS|MAIN|20240101120000||ADT^A01|NV-1|P\rPID|1\r");
        CHECK(no_version["MSA.1"] == "AR");
        CHECK(no_version["MSA.2"] == "NV-1");
        CHECK(no_version["MSA.3"].find("MSH-12") != std::string::npos);

        // In enhanced mode the refusal is the commit ACK CR, and nothing follows it.
        std::string no_trigger = enhanced_text("NT-1", "AL", "AL");
        no_trigger.replace(no_trigger.find("ADT^A01^ADT_A01"), 15, "ADT");
        writer.writeblock(no_trigger);
        writer.writeblock(message_text("NT-NEXT"));
        co_await writer.drain();
        auto cr = co_await read_ack(reader);
        CHECK(cr["MSA.1"] == "CR");
        CHECK(cr["MSA.2"] == "NT-1");
        CHECK(cr["MSA.3"].find("MSH-9.2") != std::string::npos);
        auto next = co_await read_ack(reader);
        CHECK(next["MSA.1"] == "AA");
        CHECK(next["MSA.2"] == "NT-NEXT");

        auto st = co_await store->stats();
        CHECK(st.queued == 1); // only NT-NEXT
        co_await hang_up(writer);
        co_await rx.stop();
    });
    auto events = log.snapshot();
    REQUIRE(events.size() == 5);
    for (int i = 0; i < 4; ++i)
        CHECK(events[i].what == hl7::store_event::kind::refused);
    CHECK(events[0].ec == hl7::error::missing_message_type);
    CHECK(events[0].ack_codes == "AR");
    CHECK(events[1].ec == hl7::error::missing_control_id);
    CHECK(events[2].ec == hl7::error::missing_version);
    CHECK(events[2].meta.control_id == "NV-1");
    CHECK(events[3].ec == hl7::error::missing_trigger_event);
    CHECK(events[3].ack_codes == "CR");
    CHECK(events[4].what == hl7::store_event::kind::stored);
}

TEST_CASE("store_then_ack: lenient header rules store a message with only MSH-10", "[store][store_then_ack][validation]")
{
    scratch_dir dir;
    std::string const path = dir.file("in.db");
    asio::io_context ctx;
    run(ctx, [&]() -> asio::awaitable<void> {
        hl7::store_then_ack_options o;
        o.validation = hl7::header_rules::lenient();
        auto rx = co_await start_receiver(path, o);
        store_probe probe(path);
        auto [reader, writer] = co_await hl7::open_hl7_connection("127.0.0.1", rx.port());
        auto aa = co_await send_and_read(reader, writer, "MSH|^~\\&|LAB|NORTH|HIS|MAIN|20240101120000|||LN-1\rPID|1\r");
        CHECK(aa["MSA.1"] == "AA");
        CHECK(aa["MSA.2"] == "LN-1");
        CHECK(probe.copies("LN-1") == 1);
        // Without a control id nobody could match an AA: still refused.
        auto bare = co_await send_and_read(reader, writer, "MSH|^~\\&|");
        CHECK(bare["MSA.1"] == "AR");
        CHECK(bare["MSA.3"].find("MSH-10") != std::string::npos);
        co_await hang_up(writer);
        co_await rx.stop();
    });
}

TEST_CASE("store_then_ack: validate off stores a message whatever its header lacks", "[store][store_then_ack][validation]")
{
    scratch_dir dir;
    std::string const path = dir.file("in.db");
    asio::io_context ctx;
    run(ctx, [&]() -> asio::awaitable<void> {
        hl7::store_then_ack_options o;
        o.validate = false;
        auto rx = co_await start_receiver(path, o);
        store_probe probe(path);
        auto [reader, writer] = co_await hl7::open_hl7_connection("127.0.0.1", rx.port());
        auto aa = co_await send_and_read(reader, writer, "MSH|^~\\&|LAB|NORTH|HIS|MAIN|20240101120000||ADT|VO-1\rPID|1\r");
        CHECK(aa["MSA.1"] == "AA");
        CHECK(aa["MSA.2"] == "VO-1");
        CHECK(probe.copies("VO-1") == 1);
        co_await hang_up(writer);
        co_await rx.stop();
    });
}
