// Test that header file is self-contained.
#include <hl7/store/error.hpp>

#include <hl7/parser/parse.hpp>
#include <hl7/store/store.hpp>

#include <catch2/catch.hpp>

#include <set>
#include <string>

using hl7::store::error;

TEST_CASE("store error: every value has a name, a message and its condition", "[store][error]")
{
    std::set<std::string> messages;
    for (int v = static_cast<int>(error::full); v <= static_cast<int>(error::internal); ++v) {
        std::error_code const ec = hl7::store::make_error_code(static_cast<error>(v));
        CAPTURE(v);
        CHECK(std::string(ec.category().name()) == "hl7.store");
        CHECK(ec.message() != "hl7.store error");
        CHECK(messages.insert(ec.message()).second); // distinct
    }
    std::error_code ec = error::full;
    CHECK(ec == std::errc::no_space_on_device);
    ec = error::io_error;
    CHECK(ec == std::errc::io_error);
    ec = error::busy;
    CHECK(ec == std::errc::device_or_resource_busy);
    ec = error::read_only;
    CHECK(ec == std::errc::read_only_file_system);
    ec = error::closed;
    CHECK(ec != std::errc::no_space_on_device);
    CHECK(hl7::store::make_error_code(static_cast<error>(999)).message() == "hl7.store error");
}

TEST_CASE("store error: transient failures", "[store][error]")
{
    CHECK(hl7::store::is_transient(error::full));
    CHECK(hl7::store::is_transient(error::io_error));
    CHECK(hl7::store::is_transient(error::busy));
    CHECK(hl7::store::is_transient(error::queue_full));
    CHECK_FALSE(hl7::store::is_transient(error::closed));
    CHECK_FALSE(hl7::store::is_transient(error::corrupt));
    CHECK_FALSE(hl7::store::is_transient(error::schema_too_new));
    CHECK_FALSE(hl7::store::is_transient(std::error_code()));
}

TEST_CASE("store error: the exception's text names the detail and the cause", "[store][error]")
{
    hl7::store::store_error const e(error::full, "committing 3 messages to sqlite:/x.db: database or disk is full");
    std::string const what = e.what();
    CHECK(what.find("committing 3 messages to sqlite:/x.db") != std::string::npos);
    CHECK(what.find("the store is full") != std::string::npos);
    CHECK(e.code() == error::full);
}

TEST_CASE("store location: scheme and rest", "[store]")
{
    auto l = hl7::store::parse_store_location("sqlite:/var/lib/hl7/in.db");
    CHECK(l.scheme == "sqlite");
    CHECK(l.rest == "/var/lib/hl7/in.db");
    l = hl7::store::parse_store_location("sqlite:relative.db");
    CHECK(l.scheme == "sqlite");
    CHECK(l.rest == "relative.db");
    l = hl7::store::parse_store_location("nats://127.0.0.1:4222");
    CHECK(l.scheme == "nats");
    CHECK(l.rest == "//127.0.0.1:4222");
    l = hl7::store::parse_store_location("/plain/path.db");
    CHECK(l.scheme.empty());
    CHECK(l.rest == "/plain/path.db");
    l = hl7::store::parse_store_location("C:\\x.db");
    CHECK(l.scheme.empty());
    l = hl7::store::parse_store_location("weird path:x");
    CHECK(l.scheme.empty());
}

TEST_CASE("store metadata: from a parsed message, raw fields", "[store]")
{
    auto const msg = hl7::parse("MSH|^~\\&|GHH LAB^1.2.3^ISO|ELAB-3|OE|BLDG4|200202150930||ORU^R01^ORU_R01|CN\\T\\1|P|2.4\r"
                                "PID|1\r");
    auto const m = hl7::store::make_metadata(msg, "10.0.0.1:4000");
    CHECK(m.sending_application == "GHH LAB^1.2.3^ISO");
    CHECK(m.sending_facility == "ELAB-3");
    CHECK(m.control_id == "CN\\T\\1");
    CHECK(m.message_type == "ORU^R01^ORU_R01");
    CHECK(m.peer == "10.0.0.1:4000");
    CHECK(m.received.time_since_epoch().count() != 0);
}
