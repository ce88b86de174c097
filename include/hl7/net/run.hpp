#ifndef HL7_NET_RUN_HPP
#define HL7_NET_RUN_HPP

/** @file
    hl7::run(coroutine): a whole program's main loop in one call, as the
    seed document's `aiorun.run(main())` (and Python's `asyncio.run`).

    <!-- doc-test: namespace scope -->
    @code
    asio::awaitable<void> receive()
    {
        hl7::router router;
        router.route("*", [](hl7::message const& m) { return m.create_ack("AA"); });
        auto server = co_await hl7::start_hl7_server(router, {.port = 2575});
        try {
            co_await server.serve_forever();   // until SIGINT/SIGTERM
        } catch (std::system_error const&) {   // cancelled: closes the server
        }
        co_await server.wait_closed();         // answers in flight go out
    }

    int main() { return hl7::run(receive()); }
    @endcode

    - The coroutine runs on a strand of a fresh io_context, run by
      `run_options::threads` threads (the calling one included).
    - SIGINT and SIGTERM cancel it: the operation it awaits completes with
      `operation_aborted` (terminal cancellation). Only that operation: what
      the coroutine awaits afterwards runs normally (run() turns Asio's
      `throw_if_cancelled` off), so it can clean up and return, as after
      asyncio's CancelledError. A second signal stops the io_context at
      once, abandoning whatever is still running.
    - When the coroutine finishes, the io_context is stopped: work it
      started and did not await is abandoned (await it, e.g.
      `server.wait_closed()`, to let it finish).

    Exit status (what run() returns):

    | how the coroutine ended                              | status |
    |------------------------------------------------------|--------|
    | returned (void)                                       | 0 |
    | returned an int                                      | that int |
    | returned normally after a signal (it handled the cancellation) | 0, or its int |
    | ended by the cancellation it did not handle (`operation_aborted`) | 128 + signal: 130 (SIGINT), 143 (SIGTERM) |
    | a second signal stopped it                           | 128 + that signal |
    | threw anything else (reported on standard error)     | 1 |

    @par Threads
    The coroutine itself runs on a strand (a cancellation must reach it on
    its own executor). Work it starts on `co_await
    asio::this_coro::executor` is therefore serialised with it; to run
    independent work in parallel with `threads > 1`, spawn it on
    `asio::make_strand(asio::query(executor, asio::execution::context))`
    or on the io_context's own executor.
*/

#include <hl7/detail/asio_config.hpp>

#include <asio/awaitable.hpp>
#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/error.hpp>
#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <asio/strand.hpp>
#include <asio/this_coro.hpp>

#include <csignal>
#include <cstdio>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace hl7 {

/// How hl7::run runs its coroutine. Every member has an initializer.
struct run_options
{
    /// Threads running the io_context, the calling thread included. Default 1.
    unsigned threads = 1;

    /// Turn SIGINT and SIGTERM into cancellation of the coroutine (see the
    /// file comment). Default on.
    bool handle_signals = true;
};

namespace detail {

inline char const*
run_signal_name(int sig) noexcept
{
    switch (sig) {
    case SIGINT: return "SIGINT";
    case SIGTERM: return "SIGTERM";
    default: return "signal";
    }
}

// True when `e` is what an unhandled cancellation ends a coroutine with.
inline bool
is_cancellation(std::exception_ptr e) noexcept
{
    try {
        std::rethrow_exception(e);
    }
    catch (std::system_error const& x) {
        return x.code() == asio::error::operation_aborted || x.code() == std::errc::operation_canceled;
    }
    catch (...) {
    }
    return false;
}

inline void
report_unhandled(char const* where, std::exception_ptr e) noexcept
{
    std::string what = "unknown exception";
    try {
        std::rethrow_exception(e);
    }
    catch (std::exception const& x) {
        what = x.what();
    }
    catch (...) {
    }
    std::fprintf(stderr, "hl7::run: unhandled exception%s: %s\n", where, what.c_str());
    std::fflush(stderr);
}

// The coroutine as run() runs it: a cancellation ends only the operation
// it awaits, as in asyncio. (Asio's default, throw_if_cancelled, would
// also make every later co_await of a coroutine throw, so that nothing
// could be cleaned up after a signal.)
template<class T>
asio::awaitable<T>
run_main(asio::awaitable<T> main)
{
    co_await asio::this_coro::throw_if_cancelled(false);
    if constexpr (std::is_void_v<T>)
        co_await std::move(main);
    else
        co_return co_await std::move(main);
}

template<class T>
int
run_awaitable(asio::awaitable<T> main, run_options const& options)
{
    static_assert(std::is_void_v<T> || std::is_convertible_v<T, int>,
                  "hl7::run: the coroutine returns void or something convertible to int (the exit status)");
    unsigned const threads = options.threads ? options.threads : 1;
    // Declared before the io_context, which may still hold the coroutine
    // (abandoned by a forced stop) when it is destroyed: the operation the
    // coroutine awaited is attached to this signal's slot.
    asio::cancellation_signal cancel;
    std::function<void(std::error_code, int)> on_signal;
    asio::io_context ctx(static_cast<int>(threads));
    auto const strand = asio::make_strand(ctx);

    // Touched only on the strand (completion and signal handlers run there).
    std::optional<asio::signal_set> signals;
    bool finished = false;
    bool forced = false;
    int first_signal = 0;
    int last_signal = 0;
    std::exception_ptr error;
    int status = 0;

    if (options.handle_signals) {
        signals.emplace(strand, SIGINT, SIGTERM);
        on_signal = [&](std::error_code ec, int sig) {
            if (ec || finished)
                return;
            last_signal = sig;
            if (!first_signal) {
                first_signal = sig;
                cancel.emit(asio::cancellation_type::terminal);
                signals->async_wait(on_signal);
                return;
            }
            forced = true;
            std::fprintf(stderr, "hl7::run: %s again: stopping without waiting\n", run_signal_name(sig));
            std::fflush(stderr);
            ctx.stop();
        };
        signals->async_wait(on_signal);
    }

    asio::co_spawn(strand, run_main(std::move(main)),
                   asio::bind_cancellation_slot(cancel.slot(), [&](std::exception_ptr e, auto... value) {
                       finished = true;
                       error = e;
                       if constexpr (sizeof...(value) == 1)
                           if (!e)
                               status = (static_cast<int>(value), ...);
                       if (signals) {
                           std::error_code ignored;
                           signals->cancel(ignored);
                       }
                       ctx.stop(); // whatever the coroutine left running is abandoned
                   }));

    // A handler that throws out of run() (not the coroutine: co_spawn
    // catches that) stops everything.
    std::mutex mu;
    std::exception_ptr escaped;
    auto run_thread = [&] {
        try {
            ctx.run();
        }
        catch (...) {
            std::lock_guard lock(mu);
            if (!escaped)
                escaped = std::current_exception();
            ctx.stop();
        }
    };
    std::vector<std::thread> pool;
    pool.reserve(threads - 1);
    for (unsigned i = 1; i < threads; ++i)
        pool.emplace_back(run_thread);
    run_thread();
    for (auto& t : pool)
        t.join();

    if (forced)
        return 128 + last_signal;
    if (escaped) {
        report_unhandled(" in a handler", escaped);
        return 1;
    }
    if (!finished) {
        std::fprintf(stderr, "hl7::run: the io_context ran out of work before the coroutine finished\n");
        return 1;
    }
    if (error) {
        if (first_signal && is_cancellation(error))
            return 128 + first_signal;
        report_unhandled("", error);
        return 1;
    }
    return status;
}

} // namespace detail

/** Runs `main` to completion on a fresh io_context, SIGINT/SIGTERM
    cancelling it, and returns the exit status (see the file comment).

    `main` is the awaitable of a coroutine that has not started
    (`hl7::run(receive())`); it is moved into the operation.

    @par Errors
    Never throws for what the coroutine does: an unhandled exception is
    reported on standard error and gives status 1.
*/
template<class T>
int
run(asio::awaitable<T> main, run_options const& options = {})
{
    return detail::run_awaitable(std::move(main), options);
}

/** As run(main()), for a function (or lambda) returning the coroutine's
    awaitable: `hl7::run([&]() -> asio::awaitable<int> { ... })`. The
    function object lives until run() returns. */
template<class F>
    requires std::is_invocable_v<F&>
int
run(F&& main, run_options const& options = {})
{
    return detail::run_awaitable(main(), options);
}

} // namespace hl7

#endif
