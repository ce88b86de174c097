// Test that header file is self-contained.
#include <hl7/mllp/frame.hpp>

#include "mllp_test_stream.hpp"

#include <asio/bind_cancellation_slot.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>
#include <asio/local/connect_pair.hpp>
#include <asio/local/stream_protocol.hpp>
#include <asio/read.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include "mllp_use_future.hpp"
#include <asio/write.hpp>

#include <catch2/catch.hpp>

#include <functional>
#include <string>
#include <thread>
#include <vector>

using hl7::mllp::error;
using hl7::mllp::frame_decoder;
using hl7_test::mllp_test_stream;
using local_socket = asio::local::stream_protocol::socket;
constexpr auto tuple_awaitable = asio::experimental::as_tuple(asio::use_awaitable);

namespace {

std::string
frame(std::string_view payload)
{
    return "\x0b" + std::string(payload) + "\x1c\x0d";
}

struct read_result
{
    std::string payload;
    std::error_code ec;
    bool operator==(read_result const&) const = default;
};

std::ostream&
operator<<(std::ostream& os, read_result const& r)
{
    return os << "{" << r.ec.message() << ", " << r.payload.size() << " bytes}";
}

// Reads frames with callbacks until end of stream; checks no handler runs inline.
std::vector<read_result>
read_all(mllp_test_stream& s, frame_decoder& d, asio::io_context& ctx)
{
    std::vector<read_result> out;
    bool inline_completion = false;
    bool initiating = false;
    std::function<void()> next = [&] {
        initiating = true;
        hl7::mllp::async_read_frame(s, d, [&](std::error_code ec, std::string_view p) {
            inline_completion = inline_completion || initiating;
            out.push_back({std::string(p), ec});
            if (ec != error::end_of_stream && ec != error::incomplete_frame)
                next();
        });
        initiating = false;
    };
    next();
    ctx.run();
    ctx.restart();
    CHECK_FALSE(inline_completion);
    return out;
}

std::string const msg1 = "MSH|^~\\&|A|B|C|D|200202150930||ORU^R01|CNTRL-1|P|2.4\rPID|||555-44-4444\r";
std::string const msg2 = "MSH|^~\\&|X|Y|Z|W|200202150930||ADT^A01|CNTRL-2|P|2.5\r";

} // namespace

TEST_CASE("async_read_frame: every split offset through a stream, callbacks", "[mllp][frame][grind]")
{
    asio::io_context ctx;
    std::string const wire = "\r\n" + frame(msg1) + frame("") + "\n" + frame(msg2);
    std::vector<read_result> const expected{
        {msg1, {}}, {"", {}}, {msg2, {}}, {"", make_error_code(error::end_of_stream)}};
    for (std::size_t split = 0; split < wire.size(); ++split) {
        CAPTURE(split);
        mllp_test_stream s(ctx.get_executor());
        s.add_input(std::string_view(wire).substr(0, split));
        s.add_input(std::string_view(wire).substr(split));
        frame_decoder d;
        REQUIRE(read_all(s, d, ctx) == expected);
    }
    // One byte per read.
    mllp_test_stream s(ctx.get_executor());
    for (char c : wire)
        s.add_input(std::string_view(&c, 1));
    frame_decoder d;
    CHECK(read_all(s, d, ctx) == expected);
    CHECK(s.reads() == wire.size() + 1);
}

TEST_CASE("async_read_frame: coalesced frames need one read, complete one per call", "[mllp][frame]")
{
    asio::io_context ctx;
    mllp_test_stream s(ctx.get_executor());
    s.add_input(frame(msg1) + frame(msg2) + frame("x"));
    frame_decoder d;
    auto out = read_all(s, d, ctx);
    CHECK(out == std::vector<read_result>{
                     {msg1, {}}, {msg2, {}}, {"x", {}}, {"", make_error_code(error::end_of_stream)}});
    CHECK(s.reads() == 2); // the frames, then end of file
}

TEST_CASE("async_read_frame: errors", "[mllp][frame]")
{
    asio::io_context ctx;
    SECTION("peer closes mid-frame: incomplete_frame, partial kept")
    {
        mllp_test_stream s(ctx.get_executor());
        s.add_input(frame("a") + "\x0bMSH|half");
        frame_decoder d;
        auto out = read_all(s, d, ctx);
        CHECK(out == std::vector<read_result>{{"a", {}}, {"", make_error_code(error::incomplete_frame)}});
        CHECK(d.partial() == "\x0bMSH|half");
    }
    SECTION("oversized and invalid frames are reported, reading goes on")
    {
        mllp_test_stream s(ctx.get_executor());
        s.add_input(frame(std::string(100, 'x')) + "junk\x1c\x0d" + frame("ok"));
        frame_decoder d(50, hl7::mllp::framing::strict);
        auto out = read_all(s, d, ctx);
        CHECK(out == std::vector<read_result>{{"", make_error_code(error::frame_too_large)},
                                              {"", make_error_code(error::invalid_block)},
                                              {"ok", {}},
                                              {"", make_error_code(error::end_of_stream)}});
    }
    SECTION("stream errors pass through unchanged")
    {
        mllp_test_stream s(ctx.get_executor());
        s.add_input("\x0bpart");
        s.fail_with(asio::error::connection_reset);
        frame_decoder d;
        std::error_code got;
        hl7::mllp::async_read_frame(s, d, [&](std::error_code ec, std::string_view) { got = ec; });
        ctx.run();
        CHECK(got == asio::error::connection_reset);
        CHECK(d.in_frame()); // the partial frame is still there
    }
}

TEST_CASE("async_write_frame: one gather write, exact bytes", "[mllp][frame]")
{
    asio::io_context ctx;
    mllp_test_stream s(ctx.get_executor());
    std::string const payload = "MSH|^~\\&|\xc3\xa9\xff\x00|\r" + std::string(1, '\0');
    std::size_t written = 0;
    bool initiating = true, inline_completion = false;
    hl7::mllp::async_write_frame(s, payload, [&](std::error_code ec, std::size_t n) {
        inline_completion = initiating;
        CHECK_FALSE(ec);
        written = n;
    });
    initiating = false;
    ctx.run();
    CHECK_FALSE(inline_completion);
    CHECK(written == payload.size());
    CHECK(s.output() == frame(payload));
    CHECK(s.writes() == 1);

    auto bufs = hl7::mllp::frame_buffers(payload);
    CHECK(bufs[1].data() == payload.data()); // no copy
    CHECK(asio::buffer_size(bufs) == payload.size() + 3);
}

TEST_CASE("async frame ops over a socket pair with use_awaitable and use_future", "[mllp][frame]")
{
    asio::io_context ctx;
    local_socket a(ctx), b(ctx);
    asio::local::connect_pair(a, b);
    std::string const big(3 << 20, '\xe9'); // 3 MiB of non-ASCII

    auto fut = asio::co_spawn(
        ctx,
        [&]() -> asio::awaitable<std::vector<std::string>> {
            co_await hl7::mllp::async_write_frame(a, msg1, asio::use_awaitable);
            auto [ec, n] = co_await hl7::mllp::async_write_frame(a, big, tuple_awaitable);
            CHECK_FALSE(ec);
            CHECK(n == big.size());
            co_return std::vector<std::string>{};
        },
        asio::use_future);
    auto reader = asio::co_spawn(
        ctx,
        [&]() -> asio::awaitable<std::vector<std::string>> {
            frame_decoder d;
            std::vector<std::string> got;
            for (int i = 0; i < 2; ++i)
                got.emplace_back(co_await hl7::mllp::async_read_frame(b, d, asio::use_awaitable));
            co_return got;
        },
        asio::use_future);
    ctx.run();
    fut.get();
    auto got = reader.get();
    REQUIRE(got.size() == 2);
    CHECK(got[0] == msg1);
    CHECK(got[1] == big);

    // use_future from another thread while the io_context runs.
    ctx.restart();
    auto work = asio::make_work_guard(ctx);
    std::thread runner([&] { ctx.run(); });
    frame_decoder d;
    auto wf = hl7::mllp::async_write_frame(a, msg2, asio::use_future);
    std::string received(hl7::mllp::async_read_frame(b, d, asio::use_future).get());
    CHECK(wf.get() == msg2.size());
    CHECK(received == msg2);
    work.reset();
    ctx.stop();
    runner.join();
}

TEST_CASE("async_read_frame: per-operation cancellation loses no input", "[mllp][frame]")
{
    asio::io_context ctx;
    local_socket a(ctx), b(ctx);
    asio::local::connect_pair(a, b);
    frame_decoder d;
    asio::cancellation_signal cancel;
    std::error_code first;
    // Half a frame arrives, then the read is cancelled.
    asio::write(a, asio::buffer(std::string("\x0bMSH|first half ")));
    hl7::mllp::async_read_frame(b, d, asio::bind_cancellation_slot(cancel.slot(), [&](std::error_code ec, std::string_view) {
                                    first = ec;
                                }));
    asio::steady_timer t(ctx, std::chrono::milliseconds(20));
    t.async_wait([&](std::error_code) { cancel.emit(asio::cancellation_type::terminal); });
    ctx.run();
    ctx.restart();
    CHECK(first == asio::error::operation_aborted);
    CHECK(d.in_frame());
    // The rest arrives; the next read returns the whole frame.
    asio::write(a, asio::buffer(std::string("second half\x1c\x0d")));
    std::string got;
    hl7::mllp::async_read_frame(b, d, [&](std::error_code ec, std::string_view p) {
        CHECK_FALSE(ec);
        got = p;
    });
    ctx.run();
    CHECK(got == "MSH|first half second half");
}
