// Servers and clients whose coroutines suspend on one io thread and resume
// on another.
//
// clang 16 may keep the address of a thread-local variable computed before a
// co_await and use it after the coroutine resumed on another thread
// (llvm-project issues 47179 and 63022). Asio keeps each thread's cache of
// coroutine frames behind such a variable, so two threads then share one
// cache without a lock and corrupt the heap: "router: several io threads"
// crashed 31 times in 300 runs built with clang++-16 -O2 (none with g++).
// hl7's headers and the Asio::Asio target make Asio read that variable
// through pthread_getspecific under clang, which is never cached.
#include <hl7/net/server.hpp>
#include <hl7/net/wait_for.hpp>

#include "mllp_net_helpers.hpp"
#include "threaded_server.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <string>

using namespace hl7_test;
using namespace std::chrono_literals;

namespace {

// ACKs every message after a pause, so that the handler, too, resumes on
// whichever thread runs its timer.
asio::awaitable<void>
slow_ack_handler(hl7::stream_reader reader, hl7::stream_writer writer)
{
    try {
        for (;;) {
            hl7::message msg = co_await reader.readmessage();
            co_await sleep_for(100us);
            writer.writemessage(msg.create_ack());
            co_await writer.drain();
        }
    }
    catch (hl7::mllp::incomplete_read_error const&) {
    }
}

} // namespace

TEST_CASE("io threads: a server and its clients on four io threads (clang thread-local caching)", "[threads]")
{
    constexpr int rounds = 4;
    constexpr int connections = 8;
    constexpr int per_connection = 150;
    for (int round = 0; round < rounds; ++round) {
        std::atomic<int> good{0};
        run_threaded_server(
            4, [] { return hl7::start_hl7_server(slow_ack_handler, loopback_options()); }, connections,
            [&](std::uint16_t port, int c) -> asio::awaitable<void> {
                auto [reader, writer] = co_await hl7::open_hl7_connection("127.0.0.1", port);
                for (int i = 0; i < per_connection; ++i) {
                    std::string const id = "T" + std::to_string(c) + "-" + std::to_string(i);
                    writer.writeblock(sample_message(id));
                    co_await writer.drain();
                    auto ack = co_await hl7::wait_for(reader.readmessage(), 10s);
                    if (ack["MSA.2"] == id)
                        ++good;
                }
                writer.close();
                co_await writer.wait_closed();
            });
        CHECK(good == connections * per_connection);
    }
}
