// Test that header file is self-contained.
#include <hl7/tls.hpp>
#include <hl7/net/client_options.hpp>

#include "tls_test_support.hpp"

#include <asio/ssl/stream.hpp>

#include <catch2/catch.hpp>

#include <any>
#include <functional>
#include <optional>
#include <string>

// MLLP over TLS between our own client and server: mutual TLS, what the
// handler sees, every class of verification failure (typed on the client,
// reported on the server, harmless to the next client), reload.

using namespace hl7_tls_test;
using hl7::tls::client_certificates;
using hl7::tls::error;

namespace {

// What the server's handler saw of its connection.
struct seen
{
    std::optional<hl7::tls::session_info> session;
    std::string version;
    std::string cipher;
    bool has_peercert = false;
};

} // namespace

TEST_CASE("mutual TLS: AA, and both sides see version, cipher and the peer's certificate", "[tls]")
{
    asio::io_context ctx;
    seen s;
    std::optional<hl7::tls::session_info> client_side;
    std::string ack;
    event_log log;
    run(ctx, [&]() -> asio::awaitable<void> {
        auto options = loopback_options();
        options.on_error = log.hook();
        auto server = co_await hl7::start_hl7_tls_server(
            [&](hl7::stream_reader reader, hl7::stream_writer writer) -> asio::awaitable<void> {
                s.session = hl7::tls::get_session_info(reader);
                s.version = std::any_cast<std::string>(writer.get_extra_info("tls_version"));
                s.cipher = std::any_cast<std::string>(reader.get_extra_info("cipher"));
                s.has_peercert = reader.get_extra_info("peercert").has_value();
                co_await ack_handler(std::move(reader), std::move(writer));
            },
            options, server_tls("server", client_certificates::required));
        auto [reader, writer] = co_await hl7::open_hl7_tls_connection("localhost", server.port(), client_tls("client"));
        client_side = hl7::tls::get_session_info(reader);
        writer.writemessage(hl7::parse(sample_message("MTLS-1")));
        auto answer = co_await hl7::wait_for(reader.readmessage(), 20s);
        ack = answer["MSA.1"];
        writer.close();
        co_await writer.wait_closed();
        server.close();
        co_await server.wait_closed();
    });
    CHECK(ack == "AA");
    INFO(log.codes());
    CHECK(log.events.empty());
    REQUIRE(s.session);
    CHECK(s.session->version == "TLSv1.3");
    CHECK(s.version == "TLSv1.3");
    CHECK(!s.cipher.empty());
    CHECK(s.cipher == s.session->cipher);
    CHECK(s.has_peercert);
    REQUIRE(s.session->peer_certificate);
    CHECK(s.session->peer_certificate->subject == "CN=hl7-test-client");
    CHECK(s.session->peer_certificate->issuer == "CN=hl7 test CA");
    CHECK(s.session->peer_certificate->sha256_fingerprint == fingerprint("client"));
    CHECK(s.session->peer_certificate->verified);
    REQUIRE(client_side);
    REQUIRE(client_side->peer_certificate);
    CHECK(client_side->peer_certificate->subject == "CN=localhost");
    CHECK(client_side->peer_certificate->sha256_fingerprint == fingerprint("server"));
    CHECK(client_side->peer_certificate->verified);
}

namespace {

// An application's client context that speaks TLS 1.2 only (what an old
// device offers).
std::shared_ptr<asio::ssl::context>
tls12_only_client()
{
    auto context = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
    SSL_CTX_set_max_proto_version(context->native_handle(), TLS1_2_VERSION);
    context->set_verify_mode(asio::ssl::verify_peer);
    context->load_verify_file(cert("ca.pem"));
    return context;
}

} // namespace

TEST_CASE("TLS 1.2 only peers negotiate TLS 1.2 with an AEAD cipher of the preset", "[tls]")
{
    asio::io_context ctx;
    std::optional<hl7::tls::session_info> info;
    run(ctx, [&]() -> asio::awaitable<void> {
        auto server = co_await hl7::start_hl7_tls_server(ack_handler, loopback_options(), server_tls());
        auto [reader, writer] =
            co_await hl7::open_hl7_tls_connection("127.0.0.1", server.port(), tls12_only_client());
        info = hl7::tls::get_session_info(reader);
        writer.writemessage(hl7::parse(sample_message("TLS12")));
        auto answer = co_await hl7::wait_for(reader.readmessage(), 20s);
        CHECK(std::string(answer["MSA.1"]) == "AA");
        writer.close();
        server.close();
        co_await server.wait_closed();
    });
    REQUIRE(info);
    CHECK(info->version == "TLSv1.2");
    // The server's preset: ECDHE with AEAD ciphers only.
    CHECK(std::string(hl7::tls::detail::default_cipher_list).find(info->cipher) != std::string::npos);
    CHECK(info->cipher.rfind("ECDHE-", 0) == 0);
}

TEST_CASE("min_version tls1_3 refuses a TLS 1.2 client: no_common_protocol on both sides", "[tls][limits]")
{
    asio::io_context ctx;
    event_log log;
    std::error_code refused;
    bool reported = false;
    std::string fresh;
    run(ctx, [&]() -> asio::awaitable<void> {
        auto options = loopback_options();
        options.on_error = log.hook();
        auto tls = server_tls();
        tls.min_version = hl7::tls::version::tls1_3;
        auto server = co_await hl7::start_hl7_tls_server(ack_handler, options, tls);
        try {
            co_await hl7::open_hl7_tls_connection("127.0.0.1", server.port(), tls12_only_client());
        }
        catch (std::system_error const& e) {
            refused = e.code();
        }
        reported = co_await eventually([&] { return log.has(error::no_common_protocol); });
        fresh = co_await send_one(server.port(), client_tls(), "FRESH-13");
        server.close();
        co_await server.wait_closed();
    });
    CHECK(refused == error::no_common_protocol);
    CHECK(reported);
    CHECK(fresh == "AA"); // a TLS 1.3 client is served
}

TEST_CASE("cipher_list: a TLS 1.2 peer gets the one cipher the server allows", "[tls][limits]")
{
    asio::io_context ctx;
    std::optional<hl7::tls::session_info> info;
    run(ctx, [&]() -> asio::awaitable<void> {
        auto tls = server_tls();
        tls.cipher_list = "ECDHE-ECDSA-AES128-GCM-SHA256";
        auto server = co_await hl7::start_hl7_tls_server(ack_handler, loopback_options(), tls);
        auto [reader, writer] = co_await hl7::open_hl7_tls_connection("127.0.0.1", server.port(), tls12_only_client());
        info = hl7::tls::get_session_info(reader);
        writer.writemessage(hl7::parse(sample_message("CIPHER")));
        auto answer = co_await hl7::wait_for(reader.readmessage(), 20s);
        CHECK(std::string(answer["MSA.1"]) == "AA");
        writer.close();
        server.close();
        co_await server.wait_closed();
    });
    REQUIRE(info);
    CHECK(info->version == "TLSv1.2");
    CHECK(info->cipher == "ECDHE-ECDSA-AES128-GCM-SHA256");
}

namespace {

// The server's own settings (the preset), limited to TLS 1.2, where a
// client's cipher_list applies (TLS 1.3 suites are not chosen by it).
std::shared_ptr<asio::ssl::context>
tls12_only_server()
{
    auto context = hl7::tls::make_server_context(server_tls());
    SSL_CTX_set_max_proto_version(context->native_handle(), TLS1_2_VERSION);
    return context;
}

} // namespace

TEST_CASE("cipher_list on the client: the server's preset meets the client's one cipher, or refuses it", "[tls][limits]")
{
    asio::io_context ctx;
    event_log log;
    std::optional<hl7::tls::session_info> info;
    std::error_code refused;
    bool reported = false;
    std::string fresh;
    run(ctx, [&]() -> asio::awaitable<void> {
        auto options = loopback_options();
        options.on_error = log.hook();
        auto server = co_await hl7::start_hl7_tls_server(ack_handler, options, tls12_only_server());

        // One cipher of the preset (not its first choice): negotiated.
        auto chacha = client_tls();
        chacha.cipher_list = "ECDHE-ECDSA-CHACHA20-POLY1305";
        {
            auto [reader, writer] = co_await hl7::open_hl7_tls_connection("127.0.0.1", server.port(), chacha);
            info = hl7::tls::get_session_info(reader);
            writer.writemessage(hl7::parse(sample_message("CLIENT-CIPHER")));
            auto answer = co_await hl7::wait_for(reader.readmessage(), 20s);
            CHECK(std::string(answer["MSA.1"]) == "AA");
            writer.close();
        }

        // A cipher outside the preset (CBC, no AEAD): refused.
        auto cbc = client_tls();
        cbc.cipher_list = "ECDHE-ECDSA-AES128-SHA256";
        refused = co_await client_error(server.port(), cbc);
        reported = co_await eventually([&] { return log.has(error::no_common_protocol); });
        fresh = co_await send_one(server.port(), client_tls(), "FRESH-CIPHER");
        server.close();
        co_await server.wait_closed();
    });
    REQUIRE(info);
    CHECK(info->version == "TLSv1.2");
    CHECK(info->cipher == "ECDHE-ECDSA-CHACHA20-POLY1305");
    // The client hears only the server's handshake_failure alert, which does
    // not say why; the server, which saw no common cipher, reports it as such.
    CHECK(refused == error::handshake_failed);
    CHECK(reported);
    CHECK(fresh == "AA");
}

TEST_CASE("a plain TCP connection has no TLS information", "[tls]")
{
    asio::io_context ctx;
    bool empty = false;
    run(ctx, [&]() -> asio::awaitable<void> {
        auto server = co_await hl7::start_hl7_server(
            [&](hl7::stream_reader reader, hl7::stream_writer writer) -> asio::awaitable<void> {
                empty = !hl7::tls::get_session_info(reader) && !reader.get_extra_info("peercert").has_value() &&
                        !writer.get_extra_info("cipher").has_value();
                co_await ack_handler(std::move(reader), std::move(writer));
            },
            loopback_options());
        auto [reader, writer] = co_await hl7::open_hl7_connection("127.0.0.1", server.port());
        writer.writemessage(hl7::parse(sample_message()));
        co_await hl7::wait_for(reader.readmessage(), 20s);
        writer.close();
        server.close();
        co_await server.wait_closed();
    });
    CHECK(empty);
}

TEST_CASE("a reliable client's connect function built from the TLS client, permanent failures are told apart", "[tls]")
{
    // The shape a reconnecting sender takes: called again for every
    // (re)connection, on the caller's executor.
    using connect_function =
        std::function<asio::awaitable<std::pair<hl7::stream_reader, hl7::stream_writer>>(asio::any_io_executor)>;
    auto make_connect = [](std::string host, std::uint16_t port, hl7::tls_client_options tls) -> connect_function {
        // One context for every attempt: the CA and key files are read once.
        auto context = hl7::tls::make_client_context(tls);
        return [=](asio::any_io_executor) { return hl7::open_hl7_tls_connection(host, port, context, tls); };
    };
    asio::io_context ctx;
    int acked = 0;
    std::error_code wrong_ca;
    run(ctx, [&]() -> asio::awaitable<void> {
        auto server = co_await hl7::start_hl7_tls_server(ack_handler, loopback_options(), server_tls());
        auto connect = make_connect("localhost", server.port(), client_tls());
        for (int i = 0; i < 3; ++i) {
            auto [reader, writer] = co_await connect(co_await asio::this_coro::executor);
            writer.writemessage(hl7::parse(sample_message("RC" + std::to_string(i))));
            auto ack = co_await hl7::wait_for(reader.readmessage(), 20s);
            acked += ack["MSA.1"] == "AA";
            writer.close();
        }
        auto bad = make_connect("localhost", server.port(), client_tls("", "other_ca"));
        try {
            co_await bad(co_await asio::this_coro::executor);
        } catch (hl7::tls::tls_error const& e) {
            wrong_ca = e.code();
        }
        server.close();
        co_await server.wait_closed();
    });
    CHECK(acked == 3);
    CHECK(wrong_ca == error::certificate_unknown_ca);
    CHECK(hl7::tls::is_permanent(wrong_ca));
    CHECK(hl7::client_permanent_error(wrong_ca)); // the reliable client gives up at once
}

TEST_CASE("tls: hl7::client_permanent_error agrees with tls::is_permanent on every hl7::tls::error",
          "[tls][client]")
{
    // client_permanent_error cannot include OpenSSL, so it tells the two
    // apart by the category's default_error_condition; both rules must say
    // the same for every code, including ones added later.
    for (int v = static_cast<int>(error::handshake_failed); v <= static_cast<int>(error::certificate_load_failed); ++v) {
        std::error_code const ec = hl7::tls::make_error_code(static_cast<error>(v));
        INFO(ec.message());
        CHECK(hl7::client_permanent_error(ec) == hl7::tls::is_permanent(ec));
    }
}
