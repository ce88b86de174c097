#ifndef HL7_TESTS_MLLP_NET_HELPERS_HPP
#define HL7_TESTS_MLLP_NET_HELPERS_HPP

// Helpers for the MLLP client/server tests: running a coroutine to
// completion, a loopback server configuration, the document's receiver,
// raw MLLP peers for misbehaving on purpose, and RLIMIT_NOFILE.

#include <hl7/net.hpp>
#include <hl7/model/message.hpp>
#include <hl7/parser/parse.hpp>

#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include "mllp_use_future.hpp"
#include <asio/write.hpp>

#include <sys/resource.h>

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

namespace hl7_test {

using namespace std::chrono_literals;
using tcp = asio::ip::tcp;
inline constexpr auto as_tuple = asio::experimental::as_tuple(asio::use_awaitable);

/// The document's message with MSH-10 = `control_id`.
inline std::string
sample_message(std::string_view control_id = "CNTRL-3456")
{
    std::string m = "MSH|^~\\&|GHH LAB|ELAB-3|GHH OE|BLDG4|200202150930||ORU^R01|";
    m += control_id;
    m += "|P|2.4\r"
         "PID|||555-44-4444||EVERYWOMAN^EVE^E^^^^L|JONES|196203520|F|||153 FERNWOOD DR.^^STATESVILLE^OH^35292"
         "||(206)3345232|(206)752-121||||AC555444444||67-A4335^OH^20030520\r"
         "OBR|1|845439^GHH OE|1045813^GHH LAB|1554-5^GLUCOSE|||200202150730|||||||||555-55-5555^PRIMARY^PATRICIA "
         "P^^^^MD^^LEVEL SEVEN HEALTHCARE, INC.|||||||||F||||||444-44-4444^HIPPOCRATES^HOWARD H^^^^MD\r"
         "OBX|1|SN|1554-5^GLUCOSE^POST 12H CFST:MCNC:PT:SER/PLAS:QN||^182|mg/dl|70_105|H|||F\r";
    return m;
}

inline std::string
frame(std::string_view payload)
{
    return "\x0b" + std::string(payload) + "\x1c\x0d";
}

/// Runs `f` (a coroutine function) on `ctx` until it and everything it
/// started is done; rethrows its exception (Catch sees it).
template<class F>
auto
run(asio::io_context& ctx, F f)
{
    auto fut = asio::co_spawn(ctx, std::move(f), asio::use_future);
    ctx.run();
    ctx.restart();
    return fut.get();
}

inline asio::awaitable<void>
sleep_for(std::chrono::steady_clock::duration d)
{
    asio::steady_timer t(co_await asio::this_coro::executor, d);
    co_await t.async_wait(as_tuple);
}

/// Loopback, port 0, default limits otherwise.
inline hl7::server_options
loopback_options()
{
    hl7::server_options o;
    o.host = "127.0.0.1";
    o.port = 0;
    return o;
}

/// The document's receiver: ACK every message until the peer goes away.
inline asio::awaitable<void>
ack_handler(hl7::stream_reader reader, hl7::stream_writer writer)
{
    bool ended = false;
    try {
        while (!writer.is_closing()) {
            hl7::message msg = co_await reader.readmessage();
            writer.writemessage(msg.create_ack());
            co_await writer.drain();
        }
    } catch (hl7::mllp::incomplete_read_error const&) {
        ended = true; // (no co_await inside a handler in C++)
    }
    if (ended && !writer.is_closing()) {
        writer.close();
        co_await writer.wait_closed();
    }
}

/// A raw TCP peer on `port` for sending arbitrary bytes.
inline asio::awaitable<tcp::socket>
raw_connect(std::uint16_t port)
{
    tcp::socket s(co_await asio::this_coro::executor);
    co_await s.async_connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), asio::use_awaitable);
    s.set_option(tcp::no_delay(true));
    co_return s;
}

inline asio::awaitable<void>
raw_send(tcp::socket& s, std::string_view bytes)
{
    co_await asio::async_write(s, asio::buffer(bytes.data(), bytes.size()), asio::use_awaitable);
}

/// Reads until the peer closes (or fails); returns what arrived and why it ended.
inline asio::awaitable<std::pair<std::string, std::error_code>>
raw_read_to_end(tcp::socket& s)
{
    std::string all;
    char buf[4096];
    for (;;) {
        auto [ec, n] = co_await s.async_read_some(asio::buffer(buf), as_tuple);
        all.append(buf, n);
        if (ec)
            co_return std::pair{all, ec};
    }
}

/** True if awaiting `op` throws `E`. Never co_await inside a Catch
    assertion macro (GCC 12 + Catch 2 hang when a suspension point sits in
    the assertion's full-expression): await into a local, then assert. */
template<class E, class T>
asio::awaitable<bool>
throws_as(asio::awaitable<T> op)
{
    try {
        co_await std::move(op);
    } catch (E const&) {
        co_return true;
    } catch (...) {
        co_return false;
    }
    co_return false;
}

/// MSA-1 and MSA-2 of an ACK payload.
inline std::pair<std::string, std::string>
ack_fields(std::string_view payload)
{
    auto ack = hl7::parse(payload);
    return {ack["MSA.1"], ack["MSA.2"]};
}

/// Raises the soft RLIMIT_NOFILE to at least `wanted` (up to the hard
/// limit); returns the resulting soft limit.
inline rlim_t
raise_open_files(rlim_t wanted)
{
    rlimit lim{};
    if (getrlimit(RLIMIT_NOFILE, &lim) != 0)
        return 0;
    if (lim.rlim_cur < wanted) {
        lim.rlim_cur = std::min(wanted, lim.rlim_max);
        setrlimit(RLIMIT_NOFILE, &lim);
        getrlimit(RLIMIT_NOFILE, &lim);
    }
    return lim.rlim_cur;
}

} // namespace hl7_test

#endif
