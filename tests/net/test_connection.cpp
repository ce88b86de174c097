// Test that header file is self-contained.
#include <hl7/net/connection.hpp>

#include "mllp_net_helpers.hpp"
#include "mllp_test_stream.hpp"

#include <hl7/model/ack.hpp>

#include <catch2/catch.hpp>

#include <string>
#include <vector>

// One connection over an in-memory stream (tests/support/mllp_test_stream.hpp):
// the reader and writer are the same types as over a socket; the stream
// scripts the input (chunks, short reads at any offset, errors) and captures
// the output. This stream has no direct send, so every write goes through
// the asynchronous write queue.

using namespace hl7_test;
using hl7::mllp::error;

namespace {

// The payloads in captured output, decoded by the frame layer.
std::vector<std::string>
frames_in(std::string const& output)
{
    hl7::mllp::frame_decoder d;
    d.put(output);
    d.put_eof();
    std::vector<std::string> out;
    std::error_code ec;
    while (auto p = d.next(ec))
        out.emplace_back(*p);
    return out;
}

// A connection with a server's limits over `stream` (what start_hl7_server
// makes of an accepted socket).
std::pair<hl7::stream_reader, hl7::stream_writer>
server_connection(mllp_test_stream stream, hl7::server_options const& o)
{
    auto c = std::make_shared<hl7::detail::connection<mllp_test_stream>>(
        std::move(stream), o.connection, std::make_shared<hl7::server_options const>(o));
    c->start();
    return {hl7::stream_reader(c), hl7::stream_writer(c)};
}

} // namespace

TEST_CASE("connection over a test stream: a sender's exchange, input split at every offset", "[net][connection]")
{
    std::string const ack = hl7::parse(sample_message("T1")).create_ack().to_string();
    std::string const wire = "\r\n" + frame(ack);
    for (std::size_t split = 0; split < wire.size(); ++split) {
        CAPTURE(split);
        asio::io_context ctx;
        mllp_test_stream stream(ctx.get_executor());
        auto peer = stream.handle();
        peer.hold_open();
        run(ctx, [&]() -> asio::awaitable<void> {
            auto [reader, writer] = hl7::make_hl7_connection(std::move(stream));
            CHECK(writer.peername().empty());
            CHECK(reader.sockname().empty());
            writer.writemessage(hl7::parse(sample_message("T1")));
            co_await writer.drain();
            CHECK(frames_in(peer.output()) == std::vector<std::string>{sample_message("T1")});
            // The answer arrives in two pieces.
            if (split != 0)
                peer.add_break(split);
            peer.add_input(wire);
            hl7::message reply = co_await reader.readmessage();
            CHECK(reply["MSA.2"] == "T1");
            CHECK(reader.last_block() == ack);
            peer.finish();
            bool const ended = co_await throws_as<hl7::mllp::incomplete_read_error>(reader.readblock());
            CHECK(ended);
        });
    }
}

TEST_CASE("connection over a test stream: a receiver's exchange with NAKs and oversized frames", "[net][connection]")
{
    asio::io_context ctx;
    mllp_test_stream stream(ctx.get_executor());
    auto peer = stream.handle();
    std::string const big(5000, 'x');
    // A good message, garbage, an oversized frame, junk, a good message, then
    // the peer closes in the middle of a frame.
    peer.add_input(frame(sample_message("A1")) + frame("not hl7") + frame(big) + "\r\n junk" +
                   frame(sample_message("A2")) + "\x0bMSH|^~\\&|cut");
    peer.add_break(10); // a short read inside the first frame
    hl7::connection_options options;
    options.max_frame_size = 4096;
    std::vector<std::string> seen;
    std::string partial;
    run(ctx, [&]() -> asio::awaitable<void> {
        auto [reader, writer] = hl7::make_hl7_connection(std::move(stream), options);
        for (;;) {
            hl7::message answer;
            try {
                auto msg = co_await reader.readmessage();
                seen.push_back("msg " + msg["MSH.10"]);
                answer = msg.create_ack();
            } catch (hl7::parse_error const& e) {
                seen.push_back("parse error");
                answer = hl7::make_nak(reader.last_block(), "AE", e.what());
            } catch (hl7::mllp::frame_too_large_error const&) {
                seen.push_back("too large");
                CHECK(reader.last_block().empty());
                answer = hl7::make_nak({}, "AR", "too large");
            } catch (hl7::mllp::incomplete_read_error const& e) {
                seen.push_back(e.code() == error::incomplete_frame ? "cut" : "end");
                partial = e.partial();
                break;
            }
            writer.writemessage(answer);
            co_await writer.drain();
        }
        writer.close();
        co_await writer.wait_closed();
    });
    CHECK(seen == std::vector<std::string>{"msg A1", "parse error", "too large", "msg A2", "cut"});
    CHECK(partial == "\x0bMSH|^~\\&|cut");
    auto const answers = frames_in(peer.output());
    REQUIRE(answers.size() == 4);
    CHECK(ack_fields(answers[0]) == std::pair<std::string, std::string>{"AA", "A1"});
    CHECK(ack_fields(answers[1]).first == "AE");
    CHECK(ack_fields(answers[2]).first == "AR");
    CHECK(ack_fields(answers[3]) == std::pair<std::string, std::string>{"AA", "A2"});
    CHECK_FALSE(peer.is_open());
}

TEST_CASE("connection over a test stream: short writes are completed from the queue", "[net][connection]")
{
    asio::io_context ctx;
    mllp_test_stream stream(ctx.get_executor());
    auto peer = stream.handle();
    peer.max_write(7);
    std::string const block(1000, 'w');
    run(ctx, [&]() -> asio::awaitable<void> {
        auto [reader, writer] = hl7::make_hl7_connection(std::move(stream));
        writer.writeblock(block);
        writer.writemessage(hl7::parse(sample_message("W")));
        CHECK(writer.write_buffer_size() == block.size() + 3 + sample_message("W").size() + 3);
        co_await writer.drain();
        CHECK(writer.write_buffer_size() == 0);
    });
    CHECK(frames_in(peer.output()) == std::vector<std::string>{block, sample_message("W")});
    CHECK(peer.writes() > 100);
}

TEST_CASE("connection over a test stream: injected errors", "[net][connection]")
{
    asio::io_context ctx;
    SECTION("a reset read is an incomplete read, and stays so")
    {
        mllp_test_stream stream(ctx.get_executor());
        auto peer = stream.handle();
        peer.add_input("\x0bMSH|^~\\&|");
        peer.fail_read(1, asio::error::connection_reset);
        run(ctx, [&]() -> asio::awaitable<void> {
            auto [reader, writer] = hl7::make_hl7_connection(std::move(stream));
            try {
                co_await reader.readmessage();
                FAIL("no error");
            } catch (hl7::mllp::incomplete_read_error const& e) {
                CHECK(e.code() == asio::error::connection_reset);
            }
            bool const again = co_await throws_as<hl7::mllp::incomplete_read_error>(reader.readblock());
            CHECK(again);
        });
    }
    SECTION("a failed write is reported by drain() and the next write, and closes")
    {
        mllp_test_stream stream(ctx.get_executor());
        auto peer = stream.handle();
        peer.hold_open();
        peer.fail_write(0, asio::error::broken_pipe);
        run(ctx, [&]() -> asio::awaitable<void> {
            auto [reader, writer] = hl7::make_hl7_connection(std::move(stream));
            writer.writeblock("lost");
            try {
                co_await writer.drain();
                FAIL("no error");
            } catch (std::system_error const& e) {
                CHECK(e.code() == asio::error::broken_pipe);
            }
            CHECK(writer.is_closing());
            CHECK_THROWS_AS(writer.writeblock("late"), std::system_error);
            bool const ended = co_await throws_as<hl7::mllp::incomplete_read_error>(reader.readblock());
            CHECK(ended);
            co_await writer.wait_closed();
        });
        CHECK_FALSE(peer.is_open());
        CHECK(peer.output().empty());
    }
    SECTION("a read in progress ends when the writer closes the connection")
    {
        mllp_test_stream stream(ctx.get_executor());
        auto peer = stream.handle();
        peer.hold_open();
        run(ctx, [&]() -> asio::awaitable<void> {
            auto [reader, writer] = hl7::make_hl7_connection(std::move(stream));
            auto ex = co_await asio::this_coro::executor;
            asio::co_spawn(ex, [w = writer]() mutable -> asio::awaitable<void> {
                co_await sleep_for(1ms);
                w.close();
            }, asio::detached);
            try {
                co_await reader.readblock();
                FAIL("no error");
            } catch (hl7::mllp::incomplete_read_error const& e) {
                CHECK(e.code() == error::connection_closed);
            }
        });
        CHECK_FALSE(peer.is_open());
    }
    SECTION("read_timeout leaves the connection usable")
    {
        mllp_test_stream stream(ctx.get_executor());
        auto peer = stream.handle();
        peer.hold_open();
        hl7::connection_options options;
        options.read_timeout = 20ms;
        run(ctx, [&]() -> asio::awaitable<void> {
            auto [reader, writer] = hl7::make_hl7_connection(std::move(stream), options);
            try {
                co_await reader.readblock();
                FAIL("no timeout");
            } catch (hl7::mllp::timeout_error const& e) {
                CHECK(e.code() == error::read_timeout);
            }
            CHECK_FALSE(peer.read_pending()); // the read was cancelled, not left behind
            peer.add_input(frame("after"));
            auto const got = co_await reader.readblock();
            CHECK(got == "after");
        });
    }
}

TEST_CASE("connection over a test stream: server limits", "[net][connection][limits]")
{
    asio::io_context ctx;
    hl7::server_options o;
    o.max_write_queue = 1000;
    SECTION("max_write_queue")
    {
        mllp_test_stream stream(ctx.get_executor());
        auto peer = stream.handle();
        peer.hold_open();
        peer.max_write(1); // the peer takes a byte per write: the queue grows
        run(ctx, [&]() -> asio::awaitable<void> {
            auto [reader, writer] = server_connection(std::move(stream), o);
            writer.writeblock(std::string(1500, 'a')); // one frame into an empty queue: accepted
            try {
                writer.writeblock("b");
                FAIL("no error");
            } catch (std::system_error const& e) {
                CHECK(e.code() == error::write_queue_full);
            }
            CHECK(writer.is_closing());
            bool const ended = co_await throws_as<hl7::mllp::incomplete_read_error>(reader.readblock());
            CHECK(ended);
        });
        CHECK_FALSE(peer.is_open());
    }
    SECTION("idle_timeout")
    {
        o.idle_timeout = 30ms;
        mllp_test_stream stream(ctx.get_executor());
        auto peer = stream.handle();
        peer.hold_open();
        run(ctx, [&]() -> asio::awaitable<void> {
            auto [reader, writer] = server_connection(std::move(stream), o);
            try {
                co_await hl7::wait_for(reader.readblock(), 10s);
                FAIL("no timeout");
            } catch (hl7::mllp::timeout_error const& e) {
                CHECK(e.code() == error::idle_timeout);
            }
            CHECK(writer.is_closing());
        });
        CHECK_FALSE(peer.is_open());
    }
}

TEST_CASE("connection over a test stream: a large message takes the frame's buffer", "[net][connection]")
{
    asio::io_context ctx;
    mllp_test_stream stream(ctx.get_executor());
    auto peer = stream.handle();
    std::string big = sample_message("BIG") + "OBX|2|ED|PDF^Report||" + std::string(300 * 1024, 'Q') + "\r";
    // In pieces, as from a socket; a small frame follows in the same read as its end.
    std::string const wire = frame(big) + frame(sample_message("SMALL"));
    for (std::size_t at = 1000; at < wire.size(); at += 65536)
        peer.add_break(at);
    peer.add_input(wire);
    run(ctx, [&]() -> asio::awaitable<void> {
        auto [reader, writer] = hl7::make_hl7_connection(std::move(stream));
        auto msg = co_await reader.readmessage();
        CHECK(msg["MSH.10"] == "BIG");
        CHECK(hl7::to_string(msg) == big);
        // No copy: the bytes last_block() shows are the message's own.
        CHECK(reader.last_block().size() == big.size());
        CHECK(reader.last_block().data() == msg.segment_at(1).raw().data());
        auto small = co_await reader.readmessage();
        CHECK(small["MSH.10"] == "SMALL");
        CHECK(msg["MSH.10"] == "BIG"); // the first message is untouched by the next read
    });
}

TEST_CASE("connection over a test stream: an unparsable large frame is still there for the NAK", "[net][connection]")
{
    asio::io_context ctx;
    mllp_test_stream stream(ctx.get_executor());
    auto peer = stream.handle();
    std::string const junk(200 * 1024, 'J');
    peer.add_break(4096);
    peer.add_input(frame(junk));
    run(ctx, [&]() -> asio::awaitable<void> {
        auto [reader, writer] = hl7::make_hl7_connection(std::move(stream));
        bool threw = false;
        try {
            co_await reader.readmessage();
        } catch (hl7::parse_error const&) {
            threw = true;
        }
        CHECK(threw);
        CHECK(reader.last_block() == junk);
    });
}
