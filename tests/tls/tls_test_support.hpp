// The TLS tests' client options built from the test certificates
// (tls_test_certs.hpp), shell helpers, an on_error log and small clients.

#ifndef HL7_TLS_TEST_SUPPORT_HPP
#define HL7_TLS_TEST_SUPPORT_HPP

#include <hl7/tls.hpp>

#include "mllp_net_helpers.hpp"
#include "tls_test_certs.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

namespace hl7_tls_test {

using namespace hl7_test;

/// Runs a shell command; its standard output.
inline std::string
shell(std::string const& cmd)
{
    std::string out;
    FILE* f = ::popen(cmd.c_str(), "r");
    if (!f)
        return out;
    std::array<char, 4096> buf{};
    while (std::size_t n = std::fread(buf.data(), 1, buf.size(), f))
        out.append(buf.data(), n);
    ::pclose(f);
    return out;
}

/// openssl's SHA-256 fingerprint of a PEM certificate ("AB:CD:...").
inline std::string
fingerprint(std::string const& name)
{
    std::string out = shell("openssl x509 -noout -fingerprint -sha256 -in '" + cert(name + ".pem") + "'");
    auto eq = out.find('=');
    if (eq == std::string::npos)
        return {};
    out = out.substr(eq + 1);
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r'))
        out.pop_back();
    return out;
}

/// Client settings: trusting `ca`, showing certificate `client` if not empty.
inline hl7::tls_client_options
client_tls(std::string const& client = "", std::string const& ca = "ca")
{
    hl7::tls_client_options o;
    o.ca_file = cert(ca + ".pem");
    if (!client.empty()) {
        o.certificate_chain_file = cert(client + ".pem");
        o.private_key_file = cert(client + ".key");
    }
    o.handshake_timeout = 20s;
    return o;
}

/// What a server reported through on_error (thread-safe).
struct event_log
{
    std::mutex mu;
    std::vector<hl7::server_event> events;

    std::function<void(hl7::server_event const&)>
    hook()
    {
        return [this](hl7::server_event const& e) {
            std::lock_guard lock(mu);
            events.push_back(e);
        };
    }

    std::size_t
    count(std::error_code ec)
    {
        std::lock_guard lock(mu);
        std::size_t n = 0;
        for (auto const& e : events)
            n += e.ec == ec;
        return n;
    }

    bool
    has(std::error_code ec)
    {
        return count(ec) != 0;
    }

    std::string
    codes()
    {
        std::lock_guard lock(mu);
        std::string s;
        for (auto const& e : events)
            s += e.ec.category().name() + std::string(":") + e.ec.message() + "; ";
        return s;
    }
};

/// Sends one message over TLS; MSA-1 of the answer.
inline asio::awaitable<std::string>
send_one(std::uint16_t port, hl7::tls_client_options tls, std::string control_id = "TLS-1",
         std::string host = "127.0.0.1")
{
    auto [reader, writer] = co_await hl7::open_hl7_tls_connection(host, port, tls);
    writer.writemessage(hl7::parse(sample_message(control_id)));
    co_await writer.drain();
    hl7::message ack = co_await hl7::wait_for(reader.readmessage(), 20s);
    writer.close();
    co_await writer.wait_closed();
    co_return std::string(ack["MSA.1"]);
}

/** The error a TLS client meets, in the handshake or (TLS 1.3: the server
    judges the client's certificate after the client's handshake) at its
    first read; no error if it got an answer. */
inline asio::awaitable<std::error_code>
client_error(std::uint16_t port, hl7::tls_client_options tls, std::string host = "127.0.0.1")
{
    try {
        co_await send_one(port, tls, "TLS-ERR", host);
    } catch (std::system_error const& e) {
        co_return e.code();
    }
    co_return std::error_code{};
}

/// Waits (bounded) until `pred()`; false if it never became true.
template<class Pred>
asio::awaitable<bool>
eventually(Pred pred, std::chrono::steady_clock::duration limit = 20s)
{
    auto const end = std::chrono::steady_clock::now() + limit;
    while (!pred()) {
        if (std::chrono::steady_clock::now() > end)
            co_return false;
        co_await sleep_for(10ms);
    }
    co_return true;
}

} // namespace hl7_tls_test

#endif
