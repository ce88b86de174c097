#ifndef HL7_STORE_DETAIL_SQLITE_SCHEMA_HPP
#define HL7_STORE_DETAIL_SQLITE_SCHEMA_HPP

// The SQLite store's schema and its versions.
//
// A store file is recognised by PRAGMA application_id (0x484C3753, "HL7S")
// and versioned by PRAGMA user_version. Opening a file runs, in one
// transaction, every migration above the file's version; a file whose
// version is higher than this library's is refused (schema_too_new) and
// left untouched, as is a database of another application (not_a_store).
//
// To change the schema: append a migration (its SQL brings version N-1 to
// N) and never edit a released one.

#include <hl7/store/detail/sqlite_db.hpp>
#include <hl7/store/error.hpp>

#include <cstdint>
#include <span>
#include <string>

namespace hl7::store::detail {

inline constexpr std::int64_t sqlite_application_id = 0x484C3753; // "HL7S"

struct schema_migration
{
    std::int64_t to_version;
    char const* sql;
};

// Version 1.
//  senders   one row per (MSH-3, MSH-4): the ordering and dedup key.
//  messages  state 0 queued, 1 delivered, 2 dead. Times are Unix
//            milliseconds. The payload is the last column so reading the
//            metadata of a large message does not touch its overflow pages.
//            AUTOINCREMENT: ids are never reused, even after a purge, so an
//            id in a log always names one message.
//  counters  totals kept across restarts (duplicates absorbed).
// Indexes are partial, so each costs only for the rows it serves:
//  dedup     (sender, MSH-10, time) for messages with an MSH-10: the
//            duplicate check is one index probe however old the table is.
//  queue     (sender, id) of queued messages: each sender's head.
//  dead      dead letters in id order (listing, requeue).
//  purge     delivered messages by settle time (retention).
inline constexpr char const schema_v1[] = R"sql(
CREATE TABLE senders (
    id          INTEGER PRIMARY KEY,
    application TEXT NOT NULL,
    facility    TEXT NOT NULL,
    UNIQUE (application, facility)
);
CREATE TABLE messages (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    sender_id    INTEGER NOT NULL REFERENCES senders (id),
    control_id   TEXT NOT NULL,
    message_type TEXT NOT NULL,
    peer         TEXT NOT NULL,
    received_at  INTEGER NOT NULL,
    stored_at    INTEGER NOT NULL,
    state        INTEGER NOT NULL DEFAULT 0,
    attempts     INTEGER NOT NULL DEFAULT 0,
    not_before   INTEGER NOT NULL DEFAULT 0,
    settled_at   INTEGER,
    last_error   TEXT NOT NULL DEFAULT '',
    payload      BLOB NOT NULL
);
CREATE INDEX messages_dedup ON messages (sender_id, control_id, stored_at) WHERE control_id <> '';
CREATE INDEX messages_queue ON messages (sender_id, id) WHERE state = 0;
CREATE INDEX messages_dead ON messages (id) WHERE state = 2;
CREATE INDEX messages_purge ON messages (settled_at) WHERE state = 1;
CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO counters (name, value) VALUES ('duplicates', 0);
)sql";

inline constexpr schema_migration schema_migrations[] = {
    {1, schema_v1},
};

/// The version this library writes.
inline constexpr std::int64_t schema_version = 1;

namespace schema_detail {

struct file_state
{
    std::int64_t application_id = 0;
    std::int64_t version = 0;
    std::int64_t objects = 0;
};

inline file_state
inspect(sqlite_connection& db)
{
    return {db.query_int("PRAGMA application_id"), db.query_int("PRAGMA user_version"),
            db.query_int("SELECT count(*) FROM sqlite_master")};
}

inline void
check(file_state const& f, std::int64_t target, std::string const& where)
{
    bool const empty = f.application_id == 0 && f.version == 0 && f.objects == 0;
    if (f.application_id != sqlite_application_id && !empty)
        throw store_error(make_error_code(error::not_a_store),
                          where + " holds a database of another application (application_id " +
                              std::to_string(f.application_id) + ")");
    if (f.version > target)
        throw store_error(make_error_code(error::schema_too_new),
                          where + " has schema version " + std::to_string(f.version) +
                              "; this program knows versions up to " + std::to_string(target) +
                              " (upgrade the program; the file was not changed)");
}

} // namespace schema_detail

/** Throws unless the database on `db` is empty or a store of a version up
    to the last of `migrations`: `store_error` with `not_a_store` or
    `schema_too_new`; `sqlite_failure` for SQLite's own failures (a file that
    is not a database at all gives SQLITE_NOTADB). Changes nothing. */
inline void
check_schema(sqlite_connection& db, std::string const& where, std::span<schema_migration const> migrations)
{
    std::int64_t const target = migrations.empty() ? 0 : migrations.back().to_version;
    schema_detail::check(schema_detail::inspect(db), target, where);
}

/** Brings the database on `db` to the last version of `migrations`
    (creating it when empty) in one transaction, after the checks of
    check_schema(). `where` names the store in messages. */
inline void
migrate_schema(sqlite_connection& db, std::string const& where, std::span<schema_migration const> migrations)
{
    std::int64_t const target = migrations.empty() ? 0 : migrations.back().to_version;
    auto f = schema_detail::inspect(db);
    schema_detail::check(f, target, where);
    if (f.version == target)
        return;

    // Another process may be migrating too: decide again under the write lock.
    db.exec("BEGIN IMMEDIATE");
    try {
        f = schema_detail::inspect(db);
        schema_detail::check(f, target, where);
        for (auto const& m : migrations) {
            if (m.to_version <= f.version)
                continue;
            db.exec(m.sql);
            db.exec(("PRAGMA user_version = " + std::to_string(m.to_version)).c_str());
        }
        db.exec(("PRAGMA application_id = " + std::to_string(sqlite_application_id)).c_str());
        db.exec("COMMIT");
    }
    catch (...) {
        db.rollback_quietly();
        throw;
    }
}

} // namespace hl7::store::detail

#endif
