// Test that header file is self-contained.
#include <hl7/net/run.hpp>

#include "mllp_net_helpers.hpp"

#include <hl7/net/router.hpp>
#include <hl7/net/server.hpp>

#include <catch2/catch.hpp>

#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>

using namespace hl7_test;

namespace {

// A child process running `body` (whose return value is its exit status),
// with its standard error and a "ready" pipe readable by the parent.
struct child
{
    pid_t pid = -1;
    int ready_fd = -1;  // parent's end: the child writes when it is ready
    int stderr_fd = -1; // parent's end of the child's standard error

    explicit child(std::function<int(int ready)> const& body)
    {
        int ready[2], err[2];
        REQUIRE(::pipe(ready) == 0);
        REQUIRE(::pipe(err) == 0);
        pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            ::close(ready[0]);
            ::close(err[0]);
            ::dup2(err[1], 2);
            int status = 99;
            try {
                status = body(ready[1]);
            }
            catch (...) {
                status = 98;
            }
            std::fflush(stderr);
            ::_exit(status);
        }
        ::close(ready[1]);
        ::close(err[1]);
        ready_fd = ready[0];
        stderr_fd = err[0];
    }

    ~child()
    {
        if (pid > 0) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, nullptr, 0);
        }
        ::close(ready_fd);
        ::close(stderr_fd);
    }

    // Waits (20 s at most) for the child to say it is ready.
    bool
    wait_ready()
    {
        pollfd p{ready_fd, POLLIN, 0};
        if (::poll(&p, 1, 20'000) != 1)
            return false;
        char c;
        return ::read(ready_fd, &c, 1) == 1;
    }

    // The exit status, or -1 if the child did not exit normally within 20 s.
    int
    wait_exit()
    {
        for (int i = 0; i < 2000; ++i) {
            int st = 0;
            pid_t const r = ::waitpid(pid, &st, WNOHANG);
            if (r == pid) {
                pid = -1;
                return WIFEXITED(st) ? WEXITSTATUS(st) : -1000 - (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        return -1;
    }

    std::string
    error_output()
    {
        std::string out;
        char buf[512];
        for (;;) {
            pollfd p{stderr_fd, POLLIN, 0};
            if (::poll(&p, 1, 1000) != 1)
                break;
            auto const n = ::read(stderr_fd, buf, sizeof buf);
            if (n <= 0)
                break;
            out.append(buf, static_cast<std::size_t>(n));
        }
        return out;
    }
};

void
say_ready(int fd)
{
    char const c = 'r';
    (void)::write(fd, &c, 1);
}

} // namespace

TEST_CASE("run: the coroutine's result is the exit status", "[run]")
{
    CHECK(hl7::run([]() -> asio::awaitable<int> {
        co_await sleep_for(1ms);
        co_return 7;
    }) == 7);
    int steps = 0;
    CHECK(hl7::run([&]() -> asio::awaitable<void> {
        co_await sleep_for(1ms);
        ++steps;
    }) == 0);
    CHECK(steps == 1);
    // On several threads.
    CHECK(hl7::run(
              []() -> asio::awaitable<int> {
                  auto ex = co_await asio::this_coro::executor;
                  std::vector<std::future<void>> parts;
                  for (int i = 0; i < 8; ++i)
                      parts.push_back(asio::co_spawn(ex, sleep_for(2ms), asio::use_future));
                  co_await sleep_for(50ms);
                  co_return 3;
              },
              {.threads = 3, .handle_signals = false}) == 3);
}

TEST_CASE("run: an unhandled exception is reported and gives 1", "[run]")
{
    child c([](int) {
        return hl7::run([]() -> asio::awaitable<void> {
            co_await sleep_for(1ms);
            throw std::runtime_error("boom in main");
        });
    });
    CHECK(c.wait_exit() == 1);
    CHECK(c.error_output() == "hl7::run: unhandled exception: boom in main\n");
}

TEST_CASE("run: a cancellation the coroutine does not handle ends it with 128+signal", "[run][signals]")
{
    for (int sig : {SIGTERM, SIGINT}) {
        CAPTURE(sig);
        child c([](int ready) {
            return hl7::run([ready]() -> asio::awaitable<void> {
                asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::seconds(60));
                say_ready(ready);
                co_await t.async_wait(asio::use_awaitable);
            });
        });
        REQUIRE(c.wait_ready());
        ::kill(c.pid, sig);
        CHECK(c.wait_exit() == 128 + sig);
        CHECK(c.error_output().empty());
    }
}

TEST_CASE("run: a coroutine that handles the cancellation exits 0", "[run][signals]")
{
    child c([](int ready) {
        return hl7::run([ready]() -> asio::awaitable<int> {
            asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::seconds(60));
            say_ready(ready);
            try {
                co_await t.async_wait(asio::use_awaitable);
            }
            catch (std::system_error const& e) {
                if (e.code() != asio::error::operation_aborted)
                    co_return 5;
            }
            // Cleaning up still works after the cancellation.
            co_await sleep_for(5ms);
            std::fputs("cleaned up\n", stderr);
            co_return 0;
        });
    });
    REQUIRE(c.wait_ready());
    ::kill(c.pid, SIGINT);
    CHECK(c.wait_exit() == 0);
    CHECK(c.error_output() == "cleaned up\n");
}

TEST_CASE("run: a second signal stops at once", "[run][signals]")
{
    child c([](int ready) {
        return hl7::run([ready]() -> asio::awaitable<void> {
            asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::seconds(60));
            say_ready(ready);
            auto [ec] = co_await t.async_wait(as_tuple);
            // Ignores the cancellation and waits again, for a long time.
            t.expires_after(std::chrono::seconds(60));
            say_ready(ready);
            co_await t.async_wait(as_tuple);
            (void)ec;
        });
    });
    REQUIRE(c.wait_ready());
    ::kill(c.pid, SIGTERM);
    REQUIRE(c.wait_ready());
    ::kill(c.pid, SIGINT);
    CHECK(c.wait_exit() == 130);
    CHECK(c.error_output() == "hl7::run: SIGINT again: stopping without waiting\n");
}

TEST_CASE("run: a receiver as a complete program, stopped by SIGTERM", "[run][signals]")
{
    int port_pipe[2];
    REQUIRE(::pipe(port_pipe) == 0);
    child c([&](int ready) {
        ::close(port_pipe[0]);
        return hl7::run(
            [&]() -> asio::awaitable<int> {
                hl7::router router;
                router.route("*", [](hl7::message const& m) { return m.create_ack("AA"); });
                auto server = co_await hl7::start_hl7_server(router, loopback_options());
                std::uint16_t const port = server.port();
                (void)::write(port_pipe[1], &port, sizeof port);
                say_ready(ready);
                try {
                    co_await server.serve_forever();
                }
                catch (std::system_error const&) {
                }
                co_await server.wait_closed();
                co_return 0;
            },
            {.threads = 2});
    });
    ::close(port_pipe[1]);
    REQUIRE(c.wait_ready());
    std::uint16_t port = 0;
    REQUIRE(::read(port_pipe[0], &port, sizeof port) == sizeof port);
    ::close(port_pipe[0]);
    asio::io_context ctx;
    run(ctx, [&]() -> asio::awaitable<void> {
        auto [reader, writer] = co_await hl7::open_hl7_connection("127.0.0.1", port);
        writer.writeblock(sample_message("RUN-1"));
        auto ack = co_await hl7::wait_for(reader.readmessage(), 10s);
        CHECK(ack["MSA.1"] == "AA");
        CHECK(ack["MSA.2"] == "RUN-1");
        ::kill(c.pid, SIGTERM);
        // The server closes the connection as it shuts down.
        bool const ended = co_await throws_as<hl7::mllp::incomplete_read_error>(hl7::wait_for(reader.readmessage(), 10s));
        CHECK(ended);
    });
    CHECK(c.wait_exit() == 0);
}
