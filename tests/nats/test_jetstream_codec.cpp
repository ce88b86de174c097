// Test that header file is self-contained.
#include <hl7/store/jetstream_options.hpp>

#include <hl7/parser/parse.hpp>
#include <hl7/store/detail/jetstream_codec.hpp>
#include <hl7/store/error.hpp>

#include <catch2/catch.hpp>

#include <set>
#include <string>

using namespace hl7::store;
using namespace hl7::store::detail;

namespace {

metadata
sender(std::string app, std::string facility, std::string control_id)
{
    metadata m;
    m.sending_application = std::move(app);
    m.sending_facility = std::move(facility);
    m.control_id = std::move(control_id);
    return m;
}

} // namespace

TEST_CASE("jetstream message id: MSH-3, MSH-4 and MSH-10, encoded and joined", "[nats][codec]")
{
    CHECK(jetstream_message_id(sender("LAB", "NORTH", "MSG00001")) == "LAB|NORTH|MSG00001");
    // Components stay readable; spaces, '|' and '%' are encoded.
    CHECK(jetstream_message_id(sender("GHH LAB^1.2.3^ISO", "ELAB-3", "CN\\T\\1")) ==
          "GHH%20LAB^1.2.3^ISO|ELAB-3|CN%5CT%5C1");
    CHECK(jetstream_message_id(sender("A|B", "C", "1")) == "A%7CB|C|1");
    CHECK(jetstream_message_id(sender("A%7CB", "C", "1")) == "A%257CB|C|1");
    // No MSH-10: no id, never a duplicate.
    CHECK(jetstream_message_id(sender("LAB", "NORTH", "")).empty());
    // Empty sender fields still give an id.
    CHECK(jetstream_message_id(sender("", "", "7")) == "||7");
}

TEST_CASE("jetstream message id: separators inside fields cannot make two keys collide", "[nats][codec]")
{
    // Each pair splits the same characters differently between the fields.
    std::set<std::string> ids;
    for (auto const& m : {sender("A|B", "C", "1"), sender("A", "B|C", "1"), sender("A", "B", "C|1"),
                          sender("A%7C", "B", "1"), sender("A", "%7CB", "1"), sender("AB", "", "C|1"),
                          sender("", "AB", "C|1"), sender("A\rB", "C", "1"), sender("A\xff", "B", "1")}) {
        auto const id = jetstream_message_id(m);
        CAPTURE(id);
        CHECK(ids.insert(id).second);
        // Only header-safe bytes: a NATS header value cannot carry CR, LF or controls.
        for (char c : id)
            CHECK((c > 0x20 && c < 0x7f));
    }
}

TEST_CASE("jetstream sender token: a valid subject token per sender", "[nats][codec]")
{
    CHECK(jetstream_sender_token(sender("LAB", "NORTH", "1")) == "LAB~NORTH");
    CHECK(jetstream_sender_token(sender("GHH LAB^1.2", "", "1")) == "GHH%20LAB%5E1%2E2~");
    CHECK(jetstream_sender_token(sender("", "", "1")) == "~");
    // A subject token may not hold '.', '*', '>' or white space.
    for (auto const& m : {sender("a.b", "c*d", "1"), sender("x>y", "tab\there", "1"), sender("\xe9t\xe9", "", "1")}) {
        auto const t = jetstream_sender_token(m);
        CAPTURE(t);
        CHECK(t.find_first_of(".*> \t\r\n") == std::string::npos);
        CHECK_FALSE(t.empty());
    }
    // The control id is not part of it: one subject per sender.
    CHECK(jetstream_sender_token(sender("LAB", "NORTH", "1")) == jetstream_sender_token(sender("LAB", "NORTH", "2")));
    // Distinct senders, distinct tokens.
    CHECK(jetstream_sender_token(sender("A~B", "C", "1")) != jetstream_sender_token(sender("A", "B~C", "1")));
}

TEST_CASE("jetstream sender token: long senders are hashed, never equal to a written-out token", "[nats][codec]")
{
    std::string const long_app(200, 'A');
    auto const t = jetstream_sender_token(sender(long_app, "F", "1"));
    CHECK(t.size() == 17);
    CHECK(t[0] == 'h');
    CHECK(t.find('~') == std::string::npos);
    CHECK(t == jetstream_sender_token(sender(long_app, "F", "2")));
    CHECK(t != jetstream_sender_token(sender(long_app, "G", "1")));
    // Just at the limit: written out.
    std::string const edge(max_plain_token - 1, 'B');
    CHECK(jetstream_sender_token(sender(edge, "", "1")) == edge + "~");
}

TEST_CASE("jetstream header values: percent encoding round-trips any bytes", "[nats][codec]")
{
    std::string all;
    for (int c = 0; c < 256; ++c)
        all += static_cast<char>(c);
    auto const enc = percent_encode(all, keep_in_header);
    for (char c : enc)
        CHECK((c > 0x20 && c < 0x7f));
    CHECK(percent_decode(enc) == all);
    CHECK(percent_decode("ADT^A01") == "ADT^A01");
    // Malformed escapes are kept as they stand.
    CHECK(percent_decode("50%") == "50%");
    CHECK(percent_decode("%zz%4") == "%zz%4");
    CHECK(percent_decode("%41%42") == "AB");
}

TEST_CASE("jetstream PubAck: stored, duplicate, error, and what is not one", "[nats][codec]")
{
    auto a = parse_pub_ack(R"({"stream":"HL7","seq":42})");
    CHECK(a.parsed);
    CHECK(a.stream == "HL7");
    CHECK(a.seq == 42);
    CHECK_FALSE(a.duplicate);
    CHECK_FALSE(a.has_error);

    // nats-server 2.9 writes the duplicate flag with a space.
    a = parse_pub_ack(R"({"stream":"HL7","seq":7,"duplicate": true})");
    CHECK(a.parsed);
    CHECK(a.duplicate);
    CHECK(a.seq == 7);

    a = parse_pub_ack(R"({"error":{"code":503,"err_code":10077,"description":"maximum bytes exceeded"},"stream":"HL7","seq":0})");
    CHECK(a.parsed);
    CHECK(a.has_error);
    CHECK(a.code == 503);
    CHECK(a.err_code == 10077);
    CHECK(a.description == "maximum bytes exceeded");

    // Members it does not know (nested or not) are skipped; escapes are decoded.
    a = parse_pub_ack(R"( { "x":[1,{"y":null}], "stream" : "S\"1", "domain":"hub", "seq": 3 } )");
    CHECK(a.parsed);
    CHECK(a.stream == "S\"1");
    CHECK(a.seq == 3);

    for (char const* bad : {"", "{", "[]", "null", R"({"stream":"S","seq":-1})", R"({"seq":1})",
                            R"({"stream":"S","seq":1} trailing)", R"({"stream":"S" "seq":1})"}) {
        CAPTURE(bad);
        CHECK_FALSE(parse_pub_ack(bad).parsed);
    }
}

TEST_CASE("jetstream server list: credentials are left out of descriptions", "[nats][codec]")
{
    CHECK(redact_servers("nats://u:secret@h1:4222,nats://h2:4222") == "nats://h1:4222,nats://h2:4222");
    CHECK(redact_servers("tok@h:1") == "h:1");
    CHECK(redact_servers("nats://127.0.0.1:4222") == "nats://127.0.0.1:4222");
}

TEST_CASE("store error: the network backends' values", "[nats][error]")
{
    std::error_code ec = error::unavailable;
    CHECK(std::string(ec.category().name()) == "hl7.store");
    CHECK(ec == std::errc::host_unreachable);
    CHECK(ec.message() != "hl7.store error");
    ec = error::timeout;
    CHECK(ec == std::errc::timed_out);
    CHECK(ec.message() != make_error_code(error::unavailable).message());
    CHECK(is_transient(error::unavailable));
    CHECK(is_transient(error::timeout));
    CHECK_FALSE(is_transient(error::cannot_open));
}
