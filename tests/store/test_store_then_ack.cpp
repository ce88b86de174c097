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
