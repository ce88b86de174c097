// Test that header file is self-contained.
#include <hl7/net/wait_for.hpp>

#include <hl7/mllp/stream.hpp>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>
#include <asio/local/connect_pair.hpp>
#include <asio/local/stream_protocol.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include "mllp_use_future.hpp"
#include <asio/write.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <string>

using namespace std::chrono_literals;
using hl7::mllp::error;
using local_socket = asio::local::stream_protocol::socket;
using clock_type = std::chrono::steady_clock;
constexpr auto tuple_awaitable = asio::experimental::as_tuple(asio::use_awaitable);

namespace {

template<class F>
auto
run(asio::io_context& ctx, F f)
{
    auto fut = asio::co_spawn(ctx, std::move(f), asio::use_future);
    ctx.run();
    ctx.restart();
    return fut.get();
}

// Sleeps for `d`; records whether it was cancelled.
asio::awaitable<int>
sleeper(clock_type::duration d, std::shared_ptr<bool> cancelled)
{
    asio::steady_timer t(co_await asio::this_coro::executor, d);
    auto [ec] = co_await t.async_wait(tuple_awaitable);
    *cancelled = (ec == asio::error::operation_aborted);
    co_return 7;
}

} // namespace

TEST_CASE("wait_for: returns the value when in time", "[mllp][wait_for]")
{
    asio::io_context ctx;
    auto cancelled = std::make_shared<bool>(false);
    int v = run(ctx, [&]() -> asio::awaitable<int> { co_return co_await hl7::wait_for(sleeper(1ms, cancelled), 5s); });
    CHECK(v == 7);
    CHECK_FALSE(*cancelled);
    // void awaitables too.
    run(ctx, [&]() -> asio::awaitable<void> {
        co_await hl7::wait_for(
            []() -> asio::awaitable<void> {
                asio::steady_timer t(co_await asio::this_coro::executor, 1ms);
                co_await t.async_wait(asio::use_awaitable);
            }(),
            5s);
    });
}

TEST_CASE("wait_for: times out, cancels the operation and waits for it", "[mllp][wait_for][timeout]")
{
    asio::io_context ctx;
    auto cancelled = std::make_shared<bool>(false);
    auto const t0 = clock_type::now();
    run(ctx, [&]() -> asio::awaitable<void> {
        try {
            co_await hl7::wait_for(sleeper(1h, cancelled), 50ms);
            FAIL("no timeout");
        } catch (hl7::mllp::timeout_error const& e) {
            CHECK(e.code() == error::timeout);
            CHECK(e.code() == std::errc::timed_out);
        }
        CHECK(*cancelled); // stopped before wait_for returned
    });
    auto const elapsed = clock_type::now() - t0;
    CHECK(elapsed >= 50ms);
    CHECK(elapsed < 5s);
}

TEST_CASE("wait_for: a closed peer is reported at once, not as a timeout", "[mllp][wait_for]")
{
    asio::io_context ctx;
    local_socket a(ctx), b(ctx);
    asio::local::connect_pair(a, b);
    hl7::mllp::stream<local_socket&> s(b);
    asio::write(a, asio::buffer(std::string("\x0bpartial")));
    a.close();
    auto const t0 = clock_type::now();
    run(ctx, [&]() -> asio::awaitable<void> {
        try {
            // The raw operation throws std::system_error with the code.
            co_await hl7::wait_for(
                [&]() -> asio::awaitable<std::string> {
                    co_return std::string(co_await s.async_read_block(asio::use_awaitable));
                }(),
                10s);
            FAIL("no error");
        } catch (hl7::mllp::timeout_error const&) {
            FAIL("reported as a timeout");
        } catch (std::system_error const& e) {
            CHECK(e.code() == error::incomplete_frame);
        }
    });
    CHECK(clock_type::now() - t0 < 5s);
}

TEST_CASE("wait_for: the stream stays usable after a timeout", "[mllp][wait_for][timeout]")
{
    asio::io_context ctx;
    local_socket a(ctx), b(ctx);
    asio::local::connect_pair(a, b);
    hl7::mllp::stream<local_socket&> s(b);
    asio::write(a, asio::buffer(std::string("\x0b" "first ")));
    run(ctx, [&]() -> asio::awaitable<void> {
        auto [ec, block] = co_await hl7::wait_for(s.async_read_block(tuple_awaitable), 30ms);
        CHECK(ec == error::timeout); // the error-code form returns the timeout
        CHECK(block.empty());
    });
    asio::write(a, asio::buffer(std::string("second\x1c\x0d")));
    std::string got = run(ctx, [&]() -> asio::awaitable<std::string> {
        co_return std::string(co_await hl7::wait_for(s.async_read_block(asio::use_awaitable), 5s));
    });
    CHECK(got == "first second");
}

TEST_CASE("wait_for: cancelling the caller is not a timeout", "[mllp][wait_for]")
{
    asio::io_context ctx;
    auto cancelled = std::make_shared<bool>(false);
    asio::cancellation_signal signal;
    std::exception_ptr outcome;
    // An operation that throws when cancelled (sleeper() would return 7).
    auto throwing_sleep = [cancelled]() -> asio::awaitable<int> {
        asio::steady_timer t(co_await asio::this_coro::executor, 1h);
        try {
            co_await t.async_wait(asio::use_awaitable);
        } catch (std::system_error const&) {
            *cancelled = true;
            throw;
        }
        co_return 1;
    };
    asio::co_spawn(
        ctx, [&]() -> asio::awaitable<int> { co_return co_await hl7::wait_for(throwing_sleep(), 1h); },
        asio::bind_cancellation_slot(signal.slot(), [&](std::exception_ptr e, int) { outcome = e; }));
    asio::steady_timer t(ctx, 20ms);
    t.async_wait([&](std::error_code) { signal.emit(asio::cancellation_type::terminal); });
    ctx.run();
    REQUIRE(outcome);
    try {
        std::rethrow_exception(outcome);
    } catch (hl7::mllp::timeout_error const&) {
        FAIL("reported as a timeout");
    } catch (std::system_error const& e) {
        CHECK(e.code() == asio::error::operation_aborted);
    }
    CHECK(*cancelled);
}

TEST_CASE("wait_for: exceptions pass through", "[mllp][wait_for]")
{
    asio::io_context ctx;
    CHECK_THROWS_WITH(run(ctx,
                          [&]() -> asio::awaitable<void> {
                              co_await hl7::wait_for(
                                  []() -> asio::awaitable<int> {
                                      throw std::runtime_error("boom");
                                      co_return 1;
                                  }(),
                                  5s);
                          }),
                      "boom");
}
