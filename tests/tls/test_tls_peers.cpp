#include <hl7/tls.hpp>

#include "tls_test_support.hpp"

#include <catch2/catch.hpp>

#include <cstdio>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <thread>

// Foreign TLS peers: python-hl7's asyncio client and server with Python's
// ssl module (both directions, mutual TLS included), and openssl s_client.

using namespace hl7_tls_test;
using hl7::tls::client_certificates;

namespace {

std::string
python_peer(std::string const& args)
{
    return std::string(HL7_SYSTEM_PYTHON) + " -u '" + HL7_TLS_PYTHON_PEER + "' " + args + " 2>&1";
}

// Runs our TLS server on its own thread while `peer` (a shell command) runs
// to its end on this one; the command's output and what the handler saw.
struct served
{
    std::string output;
    std::string subject; // the client certificate's subject, as the handler saw it
    std::string control_id;
};

served
serve_while(hl7::tls_server_options tls, std::function<std::string(std::uint16_t)> const& peer_command,
            bool one_message = false, event_log* log = nullptr)
{
    asio::io_context ctx;
    served out;
    std::promise<std::uint16_t> port;
    std::shared_ptr<hl7::tls_server> server;
    auto handler = [&](hl7::stream_reader reader, hl7::stream_writer writer) -> asio::awaitable<void> {
        auto info = hl7::tls::get_session_info(reader);
        if (info && info->peer_certificate)
            out.subject = info->peer_certificate->subject;
        if (!one_message) {
            co_await ack_handler(std::move(reader), std::move(writer));
            co_return;
        }
        hl7::message msg = co_await reader.readmessage();
        out.control_id = msg["MSH.10"];
        writer.writemessage(msg.create_ack());
        co_await writer.drain(); // then the handler returns: the connection closes
    };
    std::thread io([&] {
        run(ctx, [&]() -> asio::awaitable<void> {
            auto options = loopback_options();
            if (log)
                options.on_error = log->hook();
            server = std::make_shared<hl7::tls_server>(co_await hl7::start_hl7_tls_server(handler, options, tls));
            port.set_value(server->port());
            co_await server->wait_closed();
        });
    });
    auto const p = port.get_future().get();
    out.output = shell(peer_command(p));
    asio::post(ctx, [&] { server->close(); });
    io.join();
    return out;
}

} // namespace

TEST_CASE("python-hl7 client with Python's ssl -> our TLS server", "[tls][interop]")
{
    auto out = serve_while(server_tls(), [](std::uint16_t port) {
        return python_peer("client " + std::to_string(port) + " '" + cert("ca.pem") + "'");
    });
    INFO(out.output);
    CHECK(out.output.find("ACK AA PY-TLS") != std::string::npos);
    CHECK(out.subject.empty()); // no client certificate asked for
}

TEST_CASE("python-hl7 client with a client certificate -> our server requiring one (mutual TLS)", "[tls][interop][mtls]")
{
    auto out = serve_while(server_tls("server", client_certificates::required), [](std::uint16_t port) {
        return python_peer("client " + std::to_string(port) + " '" + cert("ca.pem") + "' '" + cert("client.pem") +
                           "' '" + cert("client.key") + "'");
    });
    INFO(out.output);
    CHECK(out.output.find("ACK AA PY-TLS") != std::string::npos);
    CHECK(out.subject == "CN=hl7-test-client");
}

TEST_CASE("python-hl7 client without a certificate is refused by our server requiring one", "[tls][interop][mtls]")
{
    event_log log;
    auto out = serve_while(
        server_tls("server", client_certificates::required),
        [](std::uint16_t port) { return python_peer("client " + std::to_string(port) + " '" + cert("ca.pem") + "'"); },
        false, &log);
    INFO(out.output);
    INFO(log.codes());
    // asyncio reports the server's alert as a lost connection (or an SSL error).
    CHECK(out.output.find("ACK AA") == std::string::npos);
    CHECK((out.output.find("Connection lost") != std::string::npos || out.output.find("SSL") != std::string::npos));
    CHECK(log.has(hl7::tls::error::no_client_certificate));
}

namespace {

// Starts the Python server (args after "server"), runs our client against
// it; returns the client's MSA-1 (or the error) and the server's output.
std::pair<std::string, std::string>
to_python_server(std::string const& args, hl7::tls_client_options tls)
{
    FILE* py = ::popen(python_peer("server " + args).c_str(), "r");
    REQUIRE(py != nullptr);
    char line[256] = {};
    std::string first = std::fgets(line, sizeof line, py) ? line : "";
    std::string result;
    if (first.rfind("PORT ", 0) == 0) {
        auto const port = static_cast<std::uint16_t>(std::stoi(first.substr(5)));
        asio::io_context ctx;
        try {
            result = run(ctx, [&]() -> asio::awaitable<std::string> { co_return co_await send_one(port, tls, "CPP-TLS"); });
        } catch (std::exception const& e) {
            result = std::string("error: ") + e.what();
        }
    }
    std::string rest = first;
    while (std::fgets(line, sizeof line, py))
        rest += line;
    ::pclose(py);
    return {result, rest};
}

} // namespace

TEST_CASE("our TLS client -> python-hl7 server with Python's ssl", "[tls][interop]")
{
    auto [ack, output] = to_python_server("'" + cert("server.pem") + "' '" + cert("server.key") + "'", client_tls());
    INFO(output);
    CHECK(ack == "AA");
    CHECK(output.find("GOT CPP-TLS -") != std::string::npos);
}

TEST_CASE("our TLS client with a client certificate -> python-hl7 server requiring one (mutual TLS)", "[tls][interop][mtls]")
{
    auto [ack, output] = to_python_server(
        "'" + cert("server.pem") + "' '" + cert("server.key") + "' '" + cert("ca.pem") + "'", client_tls("client"));
    INFO(output);
    CHECK(ack == "AA");
    CHECK(output.find("GOT CPP-TLS hl7-test-client") != std::string::npos);
}

TEST_CASE("openssl s_client sends a framed message over mutual TLS and gets its ACK", "[tls][interop][mtls]")
{
    std::string const message = sample_message("S-CLIENT");
    std::string const framed_file = cert("s_client_frame.bin");
    {
        std::FILE* f = std::fopen(framed_file.c_str(), "wb");
        REQUIRE(f != nullptr);
        std::string const framed = frame(message);
        std::fwrite(framed.data(), 1, framed.size(), f);
        std::fclose(f);
    }
    auto out = serve_while(
        server_tls("server", client_certificates::required),
        [&](std::uint16_t port) {
            // -ign_eof: keep reading after our input ends, until the server
            // closes (its handler answers one message and returns).
            return "timeout 30 openssl s_client -quiet -ign_eof -connect 127.0.0.1:" + std::to_string(port) +
                   " -servername localhost -verify_hostname localhost -verify_return_error -CAfile '" +
                   cert("ca.pem") + "' -cert '" + cert("client.pem") + "' -key '" + cert("client.key") + "' < '" +
                   framed_file + "' 2>/dev/null";
        },
        true);
    CHECK(out.control_id == "S-CLIENT");
    CHECK(out.subject == "CN=hl7-test-client");
    auto start = out.output.find('\x0b');
    auto end = out.output.find("\x1c\x0d");
    REQUIRE(start != std::string::npos);
    REQUIRE(end != std::string::npos);
    auto [code, id] = ack_fields(out.output.substr(start + 1, end - start - 1));
    CHECK(code == "AA");
    CHECK(id == "S-CLIENT");
}
