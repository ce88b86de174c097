#ifndef HL7_TESTS_STORE_TEST_SUPPORT_HPP
#define HL7_TESTS_STORE_TEST_SUPPORT_HPP

// Helpers for the store tests: a scratch directory, a fake wall clock,
// messages from given senders, and running a coroutine to completion.

#include <hl7/model/message.hpp>
#include <hl7/parser/parse.hpp>
#include <hl7/store/sqlite.hpp>

#include "mllp_net_helpers.hpp"

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

namespace store_test {

using namespace std::chrono_literals;
using hl7_test::run;

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

/// A small ADT message from `app`/`facility` with MSH-10 `control_id`.
inline std::string
message_text(std::string_view control_id, std::string_view app = "LAB", std::string_view facility = "NORTH")
{
    std::string m = "MSH|^~\\&|";
    m += app;
    m += '|';
    m += facility;
    m += "|HIS|MAIN|20240101120000||ADT^A01^ADT_A01|";
    m += control_id;
    m += "|P|2.5\rPID|1||12345^^^HOSP^MR||DOE^JOHN\r";
    return m;
}

inline hl7::store::metadata
meta_of(std::string const& text, std::string peer = "127.0.0.1:1")
{
    return hl7::store::make_metadata(hl7::parse(text), std::move(peer));
}

/// Opens a store at `path` with `options` (throws store_error).
inline std::shared_ptr<hl7::store::sqlite_store>
open_store(asio::io_context& ctx, std::string const& path, hl7::store::sqlite_options options = {})
{
    return run(ctx, [&]() -> asio::awaitable<std::shared_ptr<hl7::store::sqlite_store>> {
        co_return co_await hl7::store::open_sqlite_store(path, options);
    });
}

/// The error code a store_error thrown by `f` carries (empty if none).
template<class F>
std::error_code
store_error_of(F&& f)
{
    try {
        f();
    }
    catch (hl7::store::store_error const& e) {
        return e.code();
    }
    return {};
}

} // namespace store_test

#endif
