// A server and its clients on one io_context run by several threads: the
// shape in which coroutines suspend on one thread and resume on another.
#ifndef HL7_TEST_THREADED_SERVER_HPP
#define HL7_TEST_THREADED_SERVER_HPP

#include <hl7/net/server.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/strand.hpp>
#include <asio/use_future.hpp>

#include <cstdint>
#include <exception>
#include <future>
#include <optional>
#include <thread>
#include <vector>

namespace hl7_test {

/** Starts the server `start()` returns (an awaitable<hl7::server>) on an
    io_context run by `threads` threads, runs `client(port, c)` (an
    awaitable<void>) for c in [0, connections), each on a strand of its own,
    waits for all of them (rethrowing the first failure), then closes the
    server and joins the threads. */
template<class Start, class Client>
void
run_threaded_server(int threads, Start start, int connections, Client client)
{
    asio::io_context ctx;
    std::promise<std::uint16_t> port_promise;
    std::optional<hl7::server> server;
    asio::co_spawn(
        ctx,
        [&]() -> asio::awaitable<void> {
            try {
                server.emplace(co_await start());
                port_promise.set_value(server->port());
            }
            catch (...) {
                port_promise.set_exception(std::current_exception());
            }
        },
        asio::detached);
    auto work = asio::make_work_guard(ctx);
    std::vector<std::thread> runners;
    for (int i = 0; i < threads; ++i)
        runners.emplace_back([&] { ctx.run(); });
    std::uint16_t port = 0;
    try {
        port = port_promise.get_future().get();
    }
    catch (...) {
        work.reset();
        for (auto& t : runners)
            t.join();
        throw;
    }

    std::vector<std::future<void>> clients;
    for (int c = 0; c < connections; ++c)
        clients.push_back(asio::co_spawn(asio::make_strand(ctx), client(port, c), asio::use_future));
    std::exception_ptr failure;
    for (auto& f : clients) {
        try {
            f.get();
        }
        catch (...) {
            if (!failure)
                failure = std::current_exception();
        }
    }
    asio::post(ctx, [&] { server->close(); });
    work.reset();
    for (auto& t : runners)
        t.join();
    if (failure)
        std::rethrow_exception(failure);
}

} // namespace hl7_test

#endif
