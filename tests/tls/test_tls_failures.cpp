#include <hl7/tls.hpp>

#include "tls_test_support.hpp"

#include <catch2/catch.hpp>

#include <string>

// Every class of verification failure: a typed hl7::tls::error on the
// client, a typed on_error report on the server, and the server still
// answers the next client.

using namespace hl7_tls_test;
using hl7::tls::client_certificates;
using hl7::tls::error;

namespace {

struct outcome
{
    std::error_code client;   // what the refused client met
    bool server_reported = false;
    std::string server_codes; // everything on_error saw
    std::string fresh;        // MSA-1 the next, good client got
};

outcome
refused_then_fresh(hl7::tls_server_options server, hl7::tls_client_options bad, std::error_code server_code,
                   hl7::tls_client_options good, std::string host = "127.0.0.1")
{
    asio::io_context ctx;
    outcome out;
    event_log log;
    run(ctx, [&]() -> asio::awaitable<void> {
        auto options = loopback_options();
        options.on_error = log.hook();
        auto srv = co_await hl7::start_hl7_tls_server(ack_handler, options, server);
        out.client = co_await client_error(srv.port(), bad, host);
        out.server_reported = co_await eventually([&] { return log.has(server_code); });
        out.fresh = co_await send_one(srv.port(), good, "FRESH", host);
        srv.close();
        co_await srv.wait_closed();
    });
    out.server_codes = log.codes();
    return out;
}

} // namespace

TEST_CASE("server certificate from an unknown CA: certificate_unknown_ca on both sides", "[tls][verify]")
{
    auto o = refused_then_fresh(server_tls("foreign"), client_tls(), error::certificate_unknown_ca,
                                client_tls("", "other_ca"));
    INFO(o.server_codes);
    CHECK(o.client == error::certificate_unknown_ca);
    CHECK(hl7::tls::is_permanent(o.client));
    CHECK(o.server_reported);
    CHECK(o.fresh == "AA");
}

TEST_CASE("the system CA store does not trust the test CA", "[tls][verify]")
{
    auto system_store = client_tls();
    system_store.ca_file = "";
    auto o = refused_then_fresh(server_tls(), system_store, error::certificate_unknown_ca, client_tls());
    CHECK(o.client == error::certificate_unknown_ca);
    CHECK(o.fresh == "AA");
}

TEST_CASE("expired server certificate: certificate_expired", "[tls][verify]")
{
    auto insecure = client_tls();
    insecure.insecure_no_verify = true;
    auto o = refused_then_fresh(server_tls("expired"), client_tls(), error::certificate_expired, insecure);
    INFO(o.server_codes);
    CHECK(o.client == error::certificate_expired);
    CHECK(o.server_reported);
    CHECK(o.fresh == "AA");
}

TEST_CASE("server certificate for another host: host_name_mismatch (name and address)", "[tls][verify]")
{
    auto right_name = client_tls();
    right_name.server_name = "wrong.example.org";
    SECTION("by address")
    {
        auto o = refused_then_fresh(server_tls("wrong_host"), client_tls(), error::certificate_invalid, right_name);
        INFO(o.server_codes);
        CHECK(o.client == error::host_name_mismatch);
        CHECK(o.server_reported);
        CHECK(o.fresh == "AA");
    }
    SECTION("by name")
    {
        auto o = refused_then_fresh(server_tls("wrong_host"), client_tls(), error::certificate_invalid, right_name,
                                    "localhost");
        INFO(o.server_codes);
        CHECK(o.client == error::host_name_mismatch);
        CHECK(o.fresh == "AA");
    }
    SECTION("server_name overrides the host")
    {
        auto other = client_tls();
        other.server_name = "not-localhost.example.org";
        auto o = refused_then_fresh(server_tls(), other, error::certificate_invalid, client_tls());
        CHECK(o.client == error::host_name_mismatch);
        CHECK(o.fresh == "AA");
    }
}

TEST_CASE("insecure_no_verify accepts what verification refuses", "[tls][verify]")
{
    auto insecure = client_tls("", "other_ca");
    insecure.insecure_no_verify = true;
    auto o = refused_then_fresh(server_tls("wrong_host"), client_tls(), error::certificate_invalid, insecure);
    CHECK(o.fresh == "AA");
}

TEST_CASE("mutual TLS, no client certificate: no_client_certificate on both sides", "[tls][verify][mtls]")
{
    auto o = refused_then_fresh(server_tls("server", client_certificates::required), client_tls(),
                                error::no_client_certificate, client_tls("client"));
    INFO(o.server_codes);
    CHECK(o.client == error::no_client_certificate);
    CHECK(o.server_reported);
    CHECK(o.fresh == "AA");
}

TEST_CASE("mutual TLS, client certificate from another CA: certificate_unknown_ca", "[tls][verify][mtls]")
{
    auto o = refused_then_fresh(server_tls("server", client_certificates::required), client_tls("foreign_client"),
                                error::certificate_unknown_ca, client_tls("client"));
    INFO(o.server_codes);
    CHECK(o.client == error::certificate_unknown_ca);
    CHECK(o.server_reported);
    CHECK(o.fresh == "AA");
}

TEST_CASE("mutual TLS, expired client certificate: certificate_expired", "[tls][verify][mtls]")
{
    auto o = refused_then_fresh(server_tls("server", client_certificates::required), client_tls("client_expired"),
                                error::certificate_expired, client_tls("client"));
    INFO(o.server_codes);
    CHECK(o.client == error::certificate_expired);
    CHECK(o.server_reported);
    CHECK(o.fresh == "AA");
}

TEST_CASE("optional client certificates: with none the client is served, a bad one is refused", "[tls][mtls]")
{
    auto o = refused_then_fresh(server_tls("server", client_certificates::optional), client_tls("foreign_client"),
                                error::certificate_unknown_ca, client_tls());
    INFO(o.server_codes);
    CHECK(o.client == error::certificate_unknown_ca);
    CHECK(o.fresh == "AA");
}

TEST_CASE("files that cannot be loaded: certificate_load_failed before anything listens", "[tls]")
{
    asio::io_context ctx;
    std::error_code missing, mismatched, client_missing;
    run(ctx, [&]() -> asio::awaitable<void> {
        auto bad = server_tls();
        bad.certificate_chain_file = cert("does-not-exist.pem");
        try {
            co_await hl7::start_hl7_tls_server(ack_handler, loopback_options(), bad);
        } catch (hl7::tls::tls_error const& e) {
            missing = e.code();
        }
        auto other_key = server_tls();
        other_key.private_key_file = cert("server2.key");
        try {
            co_await hl7::start_hl7_tls_server(ack_handler, loopback_options(), other_key);
        } catch (hl7::tls::tls_error const& e) {
            mismatched = e.code();
        }
        auto client = client_tls();
        client.ca_file = cert("nope.pem");
        try {
            co_await hl7::open_hl7_tls_connection("127.0.0.1", 1, client);
        } catch (hl7::tls::tls_error const& e) {
            client_missing = e.code();
        }
    });
    CHECK(missing == error::certificate_load_failed);
    CHECK(mismatched == error::certificate_load_failed);
    CHECK(client_missing == error::certificate_load_failed);
}

TEST_CASE("a certificate file holding leaf then intermediate is sent whole", "[tls][verify]")
{
    // The client trusts only the root: the leaf verifies only if the server
    // sends the intermediate along.
    asio::io_context ctx;
    std::string whole_chain;
    run(ctx, [&]() -> asio::awaitable<void> {
        auto srv = co_await hl7::start_hl7_tls_server(ack_handler, loopback_options(), server_tls("chained"));
        whole_chain = co_await send_one(srv.port(), client_tls());
        srv.close();
        co_await srv.wait_closed();
    });
    CHECK(whole_chain == "AA");
    // The same leaf without its intermediate does not verify.
    auto insecure = client_tls();
    insecure.insecure_no_verify = true;
    auto o = refused_then_fresh(server_tls("chained_leaf_only"), client_tls(), error::certificate_unknown_ca, insecure);
    CHECK(o.client == error::certificate_unknown_ca);
    CHECK(o.fresh == "AA");
}
