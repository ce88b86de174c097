// A handler's failure is never silent: with no on_error, the server writes
// one line per event to standard error (issue 13: an ADT without PID made a
// handler throw, and the connection closed with nothing logged).
#include <hl7/net/server.hpp>

#include "mllp_net_helpers.hpp"

#include <hl7/net/open_connection.hpp>

#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <unistd.h>

using namespace hl7_test;
using namespace std::chrono_literals;

namespace {

// Standard error sent to a file for the lifetime of the object.
class stderr_capture
{
public:
    stderr_capture() : path_("hl7_stderr_capture_" + std::to_string(::getpid()) + ".txt")
    {
        std::fflush(stderr);
        saved_ = ::dup(2);
        std::FILE* f = std::fopen(path_.c_str(), "w");
        REQUIRE(f);
        ::dup2(::fileno(f), 2);
        std::fclose(f);
    }

    ~stderr_capture()
    {
        restore();
        std::remove(path_.c_str());
    }

    std::string
    text()
    {
        restore();
        std::ifstream in(path_);
        std::stringstream ss;
        ss << in.rdbuf();
        return ss.str();
    }

private:
    void
    restore()
    {
        if (saved_ < 0)
            return;
        std::fflush(stderr);
        ::dup2(saved_, 2);
        ::close(saved_);
        saved_ = -1;
    }

    std::string path_;
    int saved_ = -1;
};

asio::awaitable<void>
throwing_handler(hl7::stream_reader reader, hl7::stream_writer)
{
    hl7::message m = co_await reader.readmessage();
    throw std::runtime_error("no PID segment in " + std::string(m["MSH.10"]));
}

} // namespace

TEST_CASE("server: a handler's exception is reported on stderr when on_error is empty", "[mllp][server]")
{
    stderr_capture capture;
    asio::io_context ctx;
    run(ctx, [&]() -> asio::awaitable<void> {
        auto server = co_await hl7::start_hl7_server(throwing_handler, loopback_options());
        auto [reader, writer] = co_await hl7::open_hl7_connection("127.0.0.1", server.port());
        writer.writemessage(hl7::parse(sample_message("REPORT-1")));
        co_await writer.drain();
        // The handler throws: the server closes the connection without an answer.
        CHECK_THROWS_AS(co_await hl7::wait_for(reader.readmessage(), 10s), hl7::mllp::incomplete_read_error);
        writer.close();
        server.close();
        co_await server.wait_closed();
    });
    std::string const text = capture.text();
    CHECK(text.find("hl7 server: 127.0.0.1:") != std::string::npos);
    CHECK(text.find("handler failed: no PID segment in REPORT-1") != std::string::npos);
}

TEST_CASE("server: describe(server_event) names the peer and the cause", "[mllp][server]")
{
    hl7::server_event limit{.peer = {}, .ec = hl7::mllp::make_error_code(hl7::mllp::error::idle_timeout), .exception = {}};
    CHECK(hl7::describe(limit) == limit.ec.message());

    hl7::server_event failed{};
    failed.exception = std::make_exception_ptr(std::runtime_error("boom"));
    CHECK(hl7::describe(failed) == "handler failed: boom");
}
