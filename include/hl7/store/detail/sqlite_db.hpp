#ifndef HL7_STORE_DETAIL_SQLITE_DB_HPP
#define HL7_STORE_DETAIL_SQLITE_DB_HPP

// A thin RAII layer over SQLite's C API for the store's database thread:
// a connection, prepared statements, and failures carrying SQLite's own
// words, mapped to hl7::store::error. Used by one thread only.

#include <hl7/store/error.hpp>

#include <sqlite3.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>

namespace hl7::store::detail {

/// The store error for an SQLite result code (primary or extended).
inline error
classify_sqlite(int rc) noexcept
{
    switch (rc & 0xff) {
    case SQLITE_FULL: return error::full;
    case SQLITE_IOERR: return error::io_error;
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return error::busy;
    case SQLITE_CORRUPT: return error::corrupt;
    case SQLITE_NOTADB: return error::not_a_store;
    case SQLITE_CANTOPEN: return error::cannot_open;
    case SQLITE_READONLY: return error::read_only;
    case SQLITE_TOOBIG: return error::too_large;
    case SQLITE_PERM:
    case SQLITE_AUTH: return error::cannot_open;
    default: return error::internal;
    }
}

inline char const*
sqlite_code_name(int rc) noexcept
{
    switch (rc & 0xff) {
    case SQLITE_ERROR: return "SQLITE_ERROR";
    case SQLITE_INTERNAL: return "SQLITE_INTERNAL";
    case SQLITE_PERM: return "SQLITE_PERM";
    case SQLITE_ABORT: return "SQLITE_ABORT";
    case SQLITE_BUSY: return "SQLITE_BUSY";
    case SQLITE_LOCKED: return "SQLITE_LOCKED";
    case SQLITE_NOMEM: return "SQLITE_NOMEM";
    case SQLITE_READONLY: return "SQLITE_READONLY";
    case SQLITE_INTERRUPT: return "SQLITE_INTERRUPT";
    case SQLITE_IOERR: return "SQLITE_IOERR";
    case SQLITE_CORRUPT: return "SQLITE_CORRUPT";
    case SQLITE_NOTFOUND: return "SQLITE_NOTFOUND";
    case SQLITE_FULL: return "SQLITE_FULL";
    case SQLITE_CANTOPEN: return "SQLITE_CANTOPEN";
    case SQLITE_PROTOCOL: return "SQLITE_PROTOCOL";
    case SQLITE_SCHEMA: return "SQLITE_SCHEMA";
    case SQLITE_TOOBIG: return "SQLITE_TOOBIG";
    case SQLITE_CONSTRAINT: return "SQLITE_CONSTRAINT";
    case SQLITE_MISMATCH: return "SQLITE_MISMATCH";
    case SQLITE_MISUSE: return "SQLITE_MISUSE";
    case SQLITE_AUTH: return "SQLITE_AUTH";
    case SQLITE_RANGE: return "SQLITE_RANGE";
    case SQLITE_NOTADB: return "SQLITE_NOTADB";
    default: return "SQLITE_?";
    }
}

/** A failed SQLite call: the result code, SQLite's message and what we were
    doing. Converted to `store_error` before it leaves the database thread. */
struct sqlite_failure
{
    int code = SQLITE_ERROR;
    std::string text{};

    /// `"<context>: <SQLite's message> (<code name>[: <errno text>])"`.
    std::string
    describe(std::string_view context) const
    {
        return std::string(context) + ": " + text;
    }
};

/// The names of the extended codes a store meets (storage and locking).
inline char const*
sqlite_extended_name(int rc) noexcept
{
    switch (rc) {
    case SQLITE_IOERR_READ: return "SQLITE_IOERR_READ";
    case SQLITE_IOERR_SHORT_READ: return "SQLITE_IOERR_SHORT_READ";
    case SQLITE_IOERR_WRITE: return "SQLITE_IOERR_WRITE";
    case SQLITE_IOERR_FSYNC: return "SQLITE_IOERR_FSYNC";
    case SQLITE_IOERR_DIR_FSYNC: return "SQLITE_IOERR_DIR_FSYNC";
    case SQLITE_IOERR_TRUNCATE: return "SQLITE_IOERR_TRUNCATE";
    case SQLITE_IOERR_FSTAT: return "SQLITE_IOERR_FSTAT";
    case SQLITE_IOERR_UNLOCK: return "SQLITE_IOERR_UNLOCK";
    case SQLITE_IOERR_RDLOCK: return "SQLITE_IOERR_RDLOCK";
    case SQLITE_IOERR_DELETE: return "SQLITE_IOERR_DELETE";
    case SQLITE_IOERR_NOMEM: return "SQLITE_IOERR_NOMEM";
    case SQLITE_IOERR_ACCESS: return "SQLITE_IOERR_ACCESS";
    case SQLITE_IOERR_LOCK: return "SQLITE_IOERR_LOCK";
    case SQLITE_IOERR_CLOSE: return "SQLITE_IOERR_CLOSE";
    case SQLITE_IOERR_SHMOPEN: return "SQLITE_IOERR_SHMOPEN";
    case SQLITE_IOERR_SHMSIZE: return "SQLITE_IOERR_SHMSIZE";
    case SQLITE_IOERR_SHMMAP: return "SQLITE_IOERR_SHMMAP";
    case SQLITE_IOERR_SEEK: return "SQLITE_IOERR_SEEK";
    case SQLITE_IOERR_MMAP: return "SQLITE_IOERR_MMAP";
    case SQLITE_BUSY_RECOVERY: return "SQLITE_BUSY_RECOVERY";
    case SQLITE_BUSY_SNAPSHOT: return "SQLITE_BUSY_SNAPSHOT";
    case SQLITE_BUSY_TIMEOUT: return "SQLITE_BUSY_TIMEOUT";
    case SQLITE_CANTOPEN_ISDIR: return "SQLITE_CANTOPEN_ISDIR";
    case SQLITE_CANTOPEN_FULLPATH: return "SQLITE_CANTOPEN_FULLPATH";
    case SQLITE_CORRUPT_INDEX: return "SQLITE_CORRUPT_INDEX";
    case SQLITE_CORRUPT_SEQUENCE: return "SQLITE_CORRUPT_SEQUENCE";
    case SQLITE_READONLY_RECOVERY: return "SQLITE_READONLY_RECOVERY";
    case SQLITE_READONLY_CANTLOCK: return "SQLITE_READONLY_CANTLOCK";
    case SQLITE_READONLY_DBMOVED: return "SQLITE_READONLY_DBMOVED";
    default: return nullptr;
    }
}

inline std::string
describe_sqlite(sqlite3* db, int rc)
{
    std::string s = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    s += " (";
    if (char const* ext = sqlite_extended_name(rc))
        s += ext;
    else {
        s += sqlite_code_name(rc);
        if (rc > 0xff)
            s += ", extended code " + std::to_string(rc);
    }
    if (db) {
        // The operating system's reason, when SQLite kept one (EIO, ENOSPC, EFBIG...).
        int const sys = sqlite3_system_errno(db);
        if (sys != 0 && ((rc & 0xff) == SQLITE_IOERR || (rc & 0xff) == SQLITE_FULL || (rc & 0xff) == SQLITE_CANTOPEN))
            s += std::string(": ") + std::strerror(sys);
    }
    s += ")";
    return s;
}

[[noreturn]] inline void
throw_sqlite(sqlite3* db, int rc)
{
    throw sqlite_failure{rc, describe_sqlite(db, rc)};
}

class sqlite_statement
{
public:
    sqlite_statement() = default;

    sqlite_statement(sqlite3* db, std::string_view sql) : db_(db)
    {
        int const rc = sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                                          &stmt_, nullptr);
        if (rc != SQLITE_OK)
            throw_sqlite(db, rc);
    }

    sqlite_statement(sqlite_statement&& o) noexcept
        : db_(std::exchange(o.db_, nullptr)), stmt_(std::exchange(o.stmt_, nullptr))
    {
    }

    sqlite_statement&
    operator=(sqlite_statement&& o) noexcept
    {
        if (this != &o) {
            sqlite3_finalize(stmt_);
            db_ = std::exchange(o.db_, nullptr);
            stmt_ = std::exchange(o.stmt_, nullptr);
        }
        return *this;
    }

    ~sqlite_statement()
    {
        sqlite3_finalize(stmt_);
    }

    explicit
    operator bool() const noexcept
    {
        return stmt_ != nullptr;
    }

    sqlite_statement&
    bind(int i, std::int64_t v)
    {
        check(sqlite3_bind_int64(stmt_, i, v));
        return *this;
    }

    /// Binds text without copying: `v` must stay valid until reset().
    sqlite_statement&
    bind_text(int i, std::string_view v)
    {
        check(sqlite3_bind_text64(stmt_, i, v.data(), v.size(), SQLITE_STATIC, SQLITE_UTF8));
        return *this;
    }

    /// Binds bytes without copying: `v` must stay valid until reset().
    sqlite_statement&
    bind_blob(int i, std::string_view v)
    {
        // A zero-length blob needs a non-null pointer to be a blob, not NULL.
        static char const empty = 0;
        check(sqlite3_bind_blob64(stmt_, i, v.empty() ? &empty : v.data(), v.size(), SQLITE_STATIC));
        return *this;
    }

    /// True while a row is available.
    bool
    step()
    {
        int const rc = sqlite3_step(stmt_);
        if (rc == SQLITE_ROW)
            return true;
        if (rc == SQLITE_DONE)
            return false;
        // sqlite3_step's code is the extended one with extended result codes on.
        throw_sqlite(db_, rc);
    }

    /// step() for statements that return no rows; resets afterwards, also
    /// when it fails (a statement left active keeps COMMIT from working).
    void
    run()
    {
        struct resetter
        {
            sqlite_statement& s;
            ~resetter() { s.reset(); }
        } r{*this};
        step();
    }

    void
    reset() noexcept
    {
        sqlite3_reset(stmt_);
        sqlite3_clear_bindings(stmt_);
    }

    std::int64_t
    column_int(int i) const noexcept
    {
        return sqlite3_column_int64(stmt_, i);
    }

    bool
    column_is_null(int i) const noexcept
    {
        return sqlite3_column_type(stmt_, i) == SQLITE_NULL;
    }

    std::string
    column_text(int i) const
    {
        auto const* p = reinterpret_cast<char const*>(sqlite3_column_text(stmt_, i));
        int const n = sqlite3_column_bytes(stmt_, i);
        return p ? std::string(p, static_cast<std::size_t>(n)) : std::string();
    }

    std::string
    column_blob(int i) const
    {
        auto const* p = static_cast<char const*>(sqlite3_column_blob(stmt_, i));
        int const n = sqlite3_column_bytes(stmt_, i);
        return p ? std::string(p, static_cast<std::size_t>(n)) : std::string();
    }

private:
    void
    check(int rc)
    {
        if (rc != SQLITE_OK)
            throw_sqlite(db_, rc);
    }

    sqlite3* db_ = nullptr;
    sqlite3_stmt* stmt_ = nullptr;
};

/// Resets a statement when leaving a scope (also on failure).
class statement_scope
{
public:
    explicit statement_scope(sqlite_statement& s) noexcept : s_(s) {}
    statement_scope(statement_scope const&) = delete;
    statement_scope& operator=(statement_scope const&) = delete;
    ~statement_scope() { s_.reset(); }

private:
    sqlite_statement& s_;
};

class sqlite_connection
{
public:
    sqlite_connection() = default;

    /// Opens `path`; `create` allows creating the file. Throws sqlite_failure.
    sqlite_connection(std::string const& path, bool create)
    {
        int const flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_NOMUTEX;
        int const rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
        if (rc != SQLITE_OK) {
            sqlite_failure f{rc, describe_sqlite(db_, rc)};
            sqlite3_close_v2(db_);
            db_ = nullptr;
            throw f;
        }
        sqlite3_extended_result_codes(db_, 1);
    }

    sqlite_connection(sqlite_connection&& o) noexcept : db_(std::exchange(o.db_, nullptr)) {}

    sqlite_connection&
    operator=(sqlite_connection&& o) noexcept
    {
        if (this != &o) {
            close();
            db_ = std::exchange(o.db_, nullptr);
        }
        return *this;
    }

    ~sqlite_connection()
    {
        close();
    }

    void
    close() noexcept
    {
        // _v2: statements still prepared are finalized by their owners later.
        if (db_)
            sqlite3_close_v2(std::exchange(db_, nullptr));
    }

    explicit
    operator bool() const noexcept
    {
        return db_ != nullptr;
    }

    sqlite3*
    get() const noexcept
    {
        return db_;
    }

    void
    exec(char const* sql)
    {
        int const rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
        if (rc != SQLITE_OK)
            throw_sqlite(db_, rc);
    }

    /// A single integer from a one-row query (a PRAGMA, a count).
    std::int64_t
    query_int(std::string_view sql)
    {
        sqlite_statement s(db_, sql);
        return s.step() ? s.column_int(0) : 0;
    }

    sqlite_statement
    prepare(std::string_view sql)
    {
        return sqlite_statement(db_, sql);
    }

    /// Rows changed by the last statement.
    std::int64_t
    changes() const noexcept
    {
        return sqlite3_changes64(db_);
    }

    std::int64_t
    last_insert_rowid() const noexcept
    {
        return sqlite3_last_insert_rowid(db_);
    }

    bool
    in_transaction() const noexcept
    {
        return db_ && !sqlite3_get_autocommit(db_);
    }

    /// Rolls back if a transaction is open (SQLite may already have).
    void
    rollback_quietly() noexcept
    {
        if (in_transaction())
            sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    }

private:
    sqlite3* db_ = nullptr;
};

} // namespace hl7::store::detail

#endif
