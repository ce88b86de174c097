#ifndef HL7_TESTS_STORE_TEST_SUPPORT_HPP
#define HL7_TESTS_STORE_TEST_SUPPORT_HPP

// Helpers for the store tests: a scratch directory, a fake wall clock,
// messages from given senders, and running a coroutine to completion.

#include <hl7/model/message.hpp>
#include <hl7/parser/parse.hpp>
#include <hl7/store/sqlite.hpp>

#include "mllp_net_helpers.hpp"
#include "store_test_messages.hpp"

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>

#include <sqlite3.h>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <utility>
#include <vector>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

namespace store_test {

using namespace std::chrono_literals;
using hl7_test::message_text;
using hl7_test::meta_of;
using hl7_test::run;
using hl7_test::store_error_of;

/// A fresh directory, removed with everything in it at the end.
class scratch_dir
{
public:
    scratch_dir()
    {
        std::string tmpl = (std::filesystem::temp_directory_path() / "hl7-store-test-XXXXXX").string();
        if (!mkdtemp(tmpl.data()))
            throw std::runtime_error("mkdtemp failed");
        path_ = tmpl;
    }
    scratch_dir(scratch_dir const&) = delete;
    scratch_dir& operator=(scratch_dir const&) = delete;
    ~scratch_dir()
    {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }

    std::string
    file(std::string_view name) const
    {
        return (path_ / name).string();
    }

    std::filesystem::path const&
    path() const noexcept
    {
        return path_;
    }

private:
    std::filesystem::path path_;
};

/// A wall clock the test moves by hand; safe to read from the store's thread.
class fake_clock
{
public:
    fake_clock() : ms_(std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch()).count())
    {
    }

    void
    advance(std::chrono::milliseconds d)
    {
        ms_ += d.count();
    }

    std::chrono::system_clock::time_point
    now() const
    {
        return std::chrono::system_clock::time_point(
            std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::milliseconds(ms_.load())));
    }

    /// For sqlite_options::clock (the clock must outlive the store).
    std::function<std::chrono::system_clock::time_point()>
    function()
    {
        return [this] { return now(); };
    }

private:
    std::atomic<std::int64_t> ms_;
};

/// Opens a store at `path` with `options` (throws store_error).
inline std::shared_ptr<hl7::store::sqlite_store>
open_store(asio::io_context& ctx, std::string const& path, hl7::store::sqlite_options options = {})
{
    return run(ctx, [&]() -> asio::awaitable<std::shared_ptr<hl7::store::sqlite_store>> {
        co_return co_await hl7::store::open_sqlite_store(path, options);
    });
}

/** A plain SQLite connection of the test's own: another process's view of
    the store file (to hold its lock, read it, or damage it). */
class raw_db
{
public:
    explicit raw_db(std::string const& path, int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)
    {
        if (sqlite3_open_v2(path.c_str(), &db_, flags, nullptr) != SQLITE_OK)
            throw std::runtime_error("cannot open " + path);
        sqlite3_busy_timeout(db_, 10000);
    }
    raw_db(raw_db const&) = delete;
    raw_db& operator=(raw_db const&) = delete;
    ~raw_db() { sqlite3_close(db_); }

    /// SQLite's result code.
    int
    exec(char const* sql)
    {
        return sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
    }

    /// Throws unless it works.
    void
    must(char const* sql)
    {
        char* err = nullptr;
        int const rc = sqlite3_exec(db_, sql, nullptr, nullptr, &err);
        std::string const text = err ? err : "";
        sqlite3_free(err);
        if (rc != SQLITE_OK)
            throw std::runtime_error(std::string(sql) + ": " + text);
    }

    /// The last column of every row, one row per line.
    std::string
    text(char const* sql)
    {
        sqlite3_stmt* s = nullptr;
        if (sqlite3_prepare_v2(db_, sql, -1, &s, nullptr) != SQLITE_OK)
            throw std::runtime_error(std::string(sql) + ": " + sqlite3_errmsg(db_));
        std::string out;
        while (sqlite3_step(s) == SQLITE_ROW) {
            if (!out.empty())
                out += '\n';
            auto const* t = sqlite3_column_text(s, sqlite3_column_count(s) - 1);
            out += t ? reinterpret_cast<char const*>(t) : "";
        }
        sqlite3_finalize(s);
        return out;
    }

    sqlite3*
    get() const noexcept
    {
        return db_;
    }

private:
    sqlite3* db_ = nullptr;
};

//--------------------------------------------------------------------------
// Child processes: the test binary itself, running one hidden test case
// (tagged [.child]) that reads its instructions from the environment. Used
// where a test needs a process of its own: to be killed, or to have its
// file-size limit lowered.

extern "C" char** environ;

inline std::string
self_executable()
{
    return std::filesystem::read_symlink("/proc/self/exe").string();
}

/** Starts this binary running the test case `test_name`, with `env` added to
    the environment and its output going to `output_file`. */
inline pid_t
spawn_child_test(std::string const& test_name, std::vector<std::pair<std::string, std::string>> const& env,
                 std::string const& output_file)
{
    std::string const exe = self_executable();
    std::vector<std::string> env_strings;
    for (char** e = environ; *e; ++e)
        env_strings.emplace_back(*e);
    for (auto const& [k, v] : env)
        env_strings.push_back(k + "=" + v);
    std::vector<char*> envp;
    for (auto& e : env_strings)
        envp.push_back(e.data());
    envp.push_back(nullptr);
    std::string name = test_name;
    std::string exe_arg = exe;
    char* argv[] = {exe_arg.data(), name.data(), nullptr};

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, output_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    pid_t pid = -1;
    int const rc = posix_spawn(&pid, exe.c_str(), &actions, nullptr, argv, envp.data());
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0)
        throw std::runtime_error("posix_spawn failed");
    return pid;
}

/// Waits for a child: its exit code, or minus the signal that ended it.
inline int
wait_child(pid_t pid)
{
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return -WTERMSIG(status);
    return -1000;
}

inline std::string
read_file(std::string const& path)
{
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

/// What a program printed and how it ended.
struct program_result
{
    int exit_code = -1;
    std::string out;
    std::string err;
};

/** Runs `exe` with `args` to the end; `scratch` is a directory for its
    output files. */
inline program_result
run_program(std::string const& exe, std::vector<std::string> args, std::filesystem::path const& scratch)
{
    std::string const out_file = (scratch / "program.out").string();
    std::string const err_file = (scratch / "program.err").string();
    std::vector<std::string> argv_strings;
    argv_strings.push_back(exe);
    for (auto& a : args)
        argv_strings.push_back(std::move(a));
    std::vector<char*> argv;
    for (auto& a : argv_strings)
        argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, 2, err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid = -1;
    int const rc = posix_spawn(&pid, exe.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0)
        throw std::runtime_error("posix_spawn " + exe + " failed");
    program_result r;
    r.exit_code = wait_child(pid);
    r.out = read_file(out_file);
    r.err = read_file(err_file);
    return r;
}


/// The value of an environment variable, empty if unset.
inline std::string
env_or_empty(char const* name)
{
    char const* v = std::getenv(name);
    return v ? v : "";
}

} // namespace store_test

#endif
