// The SQLite store's file: recognised, versioned, migrated, refused when
// it is not ours or too new, and left untouched then.
#include <hl7/store/detail/sqlite_schema.hpp>

#include "store_test_support.hpp"

#include <catch2/catch.hpp>

#include <sqlite3.h>

#include <fstream>
#include <iterator>

using namespace store_test;
using hl7::store::error;

namespace {

std::string
file_bytes(std::string const& path)
{
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

std::error_code
open_error(asio::io_context& ctx, std::string const& path, hl7::store::sqlite_options o, std::string* what = nullptr)
{
    try {
        auto s = open_store(ctx, path, o);
    }
    catch (hl7::store::store_error const& e) {
        if (what)
            *what = e.what();
        return e.code();
    }
    return {};
}

} // namespace

TEST_CASE("sqlite schema: a new store is marked, versioned and in WAL mode", "[store][sqlite][schema]")
{
    scratch_dir dir;
    asio::io_context ctx;
    std::string const path = dir.file("s.db");
    open_store(ctx, path).reset();
    raw_db db(path);
    CHECK(db.text("PRAGMA application_id") == std::to_string(hl7::store::detail::sqlite_application_id));
    CHECK(db.text("PRAGMA user_version") == std::to_string(hl7::store::detail::schema_version));
    CHECK(db.text("PRAGMA journal_mode") == "wal");
}

TEST_CASE("sqlite schema: the duplicate check and the queue use their indexes", "[store][sqlite][schema]")
{
    // What keeps the checks fast however many old messages there are.
    scratch_dir dir;
    asio::io_context ctx;
    std::string const path = dir.file("s.db");
    open_store(ctx, path).reset();
    raw_db db(path);
    auto const dedup = db.text("EXPLAIN QUERY PLAN SELECT id FROM messages WHERE sender_id = 1 AND control_id = 'x' "
                               "AND control_id <> '' AND stored_at >= 0 LIMIT 1");
    CAPTURE(dedup);
    CHECK(dedup.find("messages_dedup") != std::string::npos);
    auto const heads = db.text("EXPLAIN QUERY PLAN SELECT m.id, m.sender_id, m.not_before FROM senders s JOIN "
                               "messages m ON m.id = (SELECT q.id FROM messages q WHERE q.sender_id = s.id AND "
                               "q.state = 0 ORDER BY q.id LIMIT 1)");
    CAPTURE(heads);
    CHECK(heads.find("messages_queue") != std::string::npos);
    CHECK(heads.find("SCAN m") == std::string::npos); // messages found by rowid, not scanned
}

TEST_CASE("sqlite schema: a store of a newer version is refused and left untouched", "[store][sqlite][schema]")
{
    scratch_dir dir;
    asio::io_context ctx;
    std::string const path = dir.file("s.db");
    {
        auto s = open_store(ctx, path);
        run(ctx, [&]() -> asio::awaitable<void> {
            std::string const text = message_text("N-1");
            co_await s->put(text, meta_of(text));
            co_await s->close();
        });
    }
    {
        raw_db db(path);
        db.must("PRAGMA user_version = 99");
    }
    auto const before = file_bytes(path);
    std::string what;
    CHECK(open_error(ctx, path, {}, &what) == error::schema_too_new);
    CHECK(what.find("schema version 99") != std::string::npos);
    CHECK(what.find("upgrade") != std::string::npos);
    CHECK(file_bytes(path) == before);
}

TEST_CASE("sqlite schema: another application's database is refused and left untouched", "[store][sqlite][schema]")
{
    scratch_dir dir;
    asio::io_context ctx;
    std::string const path = dir.file("other.db");
    {
        raw_db db(path);
        db.must("CREATE TABLE patients (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO patients VALUES (1, 'x')");
    }
    auto const before = file_bytes(path);
    std::string what;
    CHECK(open_error(ctx, path, {}, &what) == error::not_a_store);
    CHECK(what.find("another application") != std::string::npos);
    CHECK(file_bytes(path) == before);
    raw_db db(path);
    CHECK(db.text("PRAGMA journal_mode") == "delete"); // not switched to WAL
}

TEST_CASE("sqlite schema: a file that is not a database is refused", "[store][sqlite][schema]")
{
    scratch_dir dir;
    asio::io_context ctx;
    std::string const path = dir.file("notes.txt");
    {
        std::ofstream out(path, std::ios::binary);
        for (int i = 0; i < 200; ++i)
            out << "This is a text file, not a database. Line " << i << "\n";
    }
    auto const before = file_bytes(path);
    std::string what;
    CHECK(open_error(ctx, path, {}, &what) == error::not_a_store);
    CHECK(what.find(path) != std::string::npos);
    CHECK(file_bytes(path) == before);
}

TEST_CASE("sqlite schema: missing directory, or missing file without create", "[store][sqlite][schema]")
{
    scratch_dir dir;
    asio::io_context ctx;
    std::string what;
    CHECK(open_error(ctx, dir.file("no/such/dir/s.db"), {}, &what) == error::cannot_open);
    CHECK(what.find("no/such/dir/s.db") != std::string::npos);
    hl7::store::sqlite_options o;
    o.create_if_missing = false;
    CHECK(open_error(ctx, dir.file("absent.db"), o) == error::cannot_open);
    CHECK_FALSE(std::filesystem::exists(dir.file("absent.db")));
}

TEST_CASE("sqlite schema: migrations run in order, once, keeping the data", "[store][sqlite][schema]")
{
    // The runner with a made-up version 2 on top of the real version 1.
    scratch_dir dir;
    asio::io_context ctx;
    std::string const path = dir.file("s.db");
    {
        auto s = open_store(ctx, path);
        run(ctx, [&]() -> asio::awaitable<void> {
            std::string const text = message_text("M-1");
            co_await s->put(text, meta_of(text));
            co_await s->close();
        });
    }
    namespace d = hl7::store::detail;
    d::schema_migration const v2[] = {
        {1, d::schema_v1},
        {2, "ALTER TABLE messages ADD COLUMN note TEXT NOT NULL DEFAULT 'migrated'"},
    };
    {
        d::sqlite_connection c(path, false);
        d::migrate_schema(c, path, v2);
        CHECK(c.query_int("PRAGMA user_version") == 2);
        d::migrate_schema(c, path, v2); // nothing left to do
    }
    raw_db db(path);
    CHECK(db.text("SELECT control_id FROM messages") == "M-1");
    CHECK(db.text("SELECT note FROM messages") == "migrated");
    // This library (version 1) now refuses the file.
    CHECK(open_error(ctx, path, {}) == error::schema_too_new);
}

TEST_CASE("sqlite schema: an empty file is initialised from scratch", "[store][sqlite][schema]")
{
    scratch_dir dir;
    asio::io_context ctx;
    std::string const path = dir.file("empty.db");
    std::ofstream(path).close(); // zero bytes: SQLite treats it as an empty database
    auto s = open_store(ctx, path);
    run(ctx, [&]() -> asio::awaitable<void> {
        std::string const text = message_text("E-1");
        auto r = co_await s->put(text, meta_of(text));
        CHECK(r.id == 1);
        co_await s->close();
    });
}
