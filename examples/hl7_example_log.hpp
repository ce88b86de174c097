#ifndef HL7_EXAMPLES_HL7_EXAMPLE_LOG_HPP
#define HL7_EXAMPLES_HL7_EXAMPLE_LOG_HPP

// The log of the long-running bundled programs (hl7_receiver,
// hl7_forwarder): one line per event, UTC timestamp first, to stdout.
// Lifecycle and error lines are flushed at once; per-message lines are
// buffered and flushed every 100 ms, so that logging does not cost a
// system call per message under load.

#include <hl7/detail/asio_config.hpp>

#include <asio/awaitable.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <string>
#include <string_view>

namespace hl7_example {

/// Thread-safe: lines from several io threads do not interleave.
class logger
{
public:
    /// A line flushed at once (lifecycle, errors).
    void
    event(std::string_view text)
    {
        std::lock_guard lock(mutex_);
        append(text);
        flush_locked();
    }

    /// A per-message line, buffered (see `flush_log_periodically`).
    void
    message(std::string_view text)
    {
        std::lock_guard lock(mutex_);
        append(text);
        if (buffer_.size() > (64u << 10))
            flush_locked();
    }

    void
    flush()
    {
        std::lock_guard lock(mutex_);
        flush_locked();
    }

private:
    void
    append(std::string_view text)
    {
        using namespace std::chrono;
        auto const now = system_clock::now();
        std::time_t const t = system_clock::to_time_t(now);
        auto const ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
        std::tm tm{};
        gmtime_r(&t, &tm);
        char stamp[96];
        std::snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ ", tm.tm_year + 1900, tm.tm_mon + 1,
                      tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
        buffer_ += stamp;
        buffer_ += text;
        buffer_ += '\n';
    }

    void
    flush_locked()
    {
        if (!buffer_.empty()) {
            std::fwrite(buffer_.data(), 1, buffer_.size(), stdout);
            std::fflush(stdout);
            buffer_.clear();
        }
    }

    std::mutex mutex_;
    std::string buffer_;
};

/// Values copied from a message into the log must stay on one line and show
/// what they are even when they are not text.
inline std::string
log_safe(std::string_view v, std::size_t max = 64)
{
    std::string out;
    for (char c : v.substr(0, max)) {
        auto const u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02X", u);
            out += buf;
        }
        else
            out += c;
    }
    if (v.size() > max)
        out += "...";
    return out;
}

/// Flushes buffered log lines every 100 ms until `stop` is set.
inline asio::awaitable<void>
flush_log_periodically(logger& log, std::atomic<bool> const& stop)
{
    asio::steady_timer timer(co_await asio::this_coro::executor);
    while (!stop) {
        timer.expires_after(std::chrono::milliseconds(100));
        co_await timer.async_wait(asio::use_awaitable);
        log.flush();
    }
}

} // namespace hl7_example

#endif
