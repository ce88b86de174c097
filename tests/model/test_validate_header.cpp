// Header validation: a message that cannot be identified is rejected, naming
// the missing field, never accepted.
#include <hl7/model/validate_header.hpp>

#include <hl7/parser/parse.hpp>

#include <catch2/catch.hpp>

#include <string>

namespace {

std::string header(std::string const& msh9, std::string const& msh10, std::string const& msh11,
                   std::string const& msh12)
{
    return "MSH|^~\\&|SND|SFAC|RCV|RFAC|20240101||" + msh9 + "|" + msh10 + "|" + msh11 + "|" + msh12 + "\rPID|1\r";
}

} // namespace

TEST_CASE("validate_header names the first missing field", "[validate]")
{
    CHECK(!hl7::validate_header(hl7::parse(header("ADT^A01", "C1", "P", "2.5"))));
    CHECK(hl7::validate_header(hl7::parse(header("", "C1", "P", "2.5"))) == hl7::error::missing_message_type);
    CHECK(hl7::validate_header(hl7::parse(header("^A01", "C1", "P", "2.5"))) == hl7::error::missing_message_type);
    CHECK(hl7::validate_header(hl7::parse(header("ADT", "C1", "P", "2.5"))) == hl7::error::missing_trigger_event);
    CHECK(hl7::validate_header(hl7::parse(header("ADT^A01", "", "P", "2.5"))) == hl7::error::missing_control_id);
    CHECK(hl7::validate_header(hl7::parse(header("ADT^A01", "C1", "", "2.5"))) == hl7::error::missing_processing_id);
    CHECK(hl7::validate_header(hl7::parse(header("ADT^A01", "C1", "P", ""))) == hl7::error::missing_version);
    // The case: a header that is just "MSH|".
    auto const bare = hl7::parse("MSH|");
    auto const ec = hl7::validate_header(bare);
    CHECK(ec == hl7::error::missing_message_type);
    CHECK(ec.message() == "message type (MSH-9) is missing");
    // An ACK needs no trigger event.
    CHECK(!hl7::validate_header(hl7::parse(header("ACK", "C1", "P", "2.3"))));
    // A batch header is no message header.
    CHECK(hl7::validate_header(hl7::parse("BHS|^~\\&|A\r")) == hl7::error::not_a_message_header);
    CHECK(hl7::validate_header(hl7::message()) == hl7::error::not_a_message_header);
}

TEST_CASE("validate_header is configurable for lenient feeds", "[validate]")
{
    auto const no_version = hl7::parse(header("ADT", "C1", "", ""));
    CHECK(hl7::validate_header(no_version) == hl7::error::missing_trigger_event);
    CHECK(!hl7::validate_header(no_version, hl7::header_rules::lenient()));
    // Lenient still needs the control id: without it no ACK can be matched.
    CHECK(hl7::validate_header(hl7::parse(header("", "", "", "")), hl7::header_rules::lenient()) ==
          hl7::error::missing_control_id);
    hl7::header_rules rules;
    rules.require_trigger_event = false;
    rules.require_processing_id = false;
    CHECK(hl7::validate_header(no_version, rules) == hl7::error::missing_version);
    // Known versions only, when asked.
    hl7::header_rules known{.require_known_version = true};
    CHECK(!hl7::validate_header(hl7::parse(header("ADT^A01", "C1", "P", "2.5.1")), known));
    CHECK(!hl7::validate_header(hl7::parse(header("ADT^A01", "C1", "P", "2.3^^")), known));
    CHECK(hl7::validate_header(hl7::parse(header("ADT^A01", "C1", "P", "3.0")), known) ==
          hl7::error::unsupported_version);
    CHECK(!hl7::validate_header(hl7::parse(header("ADT^A01", "C1", "P", "3.0"))));
}

TEST_CASE("make_header_nak rejects naming the field, in the message's version", "[validate][ack]")
{
    auto const m = hl7::parse(header("ADT^A01", "", "P", "2.5"));
    auto const ec = hl7::validate_header(m);
    REQUIRE(ec == hl7::error::missing_control_id);
    auto const info = hl7::describe_header_error(ec);
    CHECK(info.field == "MSH-10");
    auto const nak = hl7::make_header_nak(m, ec);
    CHECK(nak["MSA.1"] == "AR");
    CHECK(nak["MSA.2"] == "");
    CHECK(nak["MSA.3"] == "message control id (MSH-10) is missing");
    CHECK(nak.segment("ERR")[2].raw() == "MSH^1^10");
    CHECK(nak["ERR.3.1.1"] == "101");
    CHECK(nak["ERR.3.1.2"] == "Required field missing");
    CHECK(nak["ERR.4"] == "E");
    CHECK(nak.segment("MSH")[9].raw() == "ACK^A01^ACK");

    // v2.3: ERR-1 (ELD) names it; CR in enhanced mode.
    auto const m23 = hl7::parse(header("ADT", "C7", "P", "2.3"));
    auto const ec23 = hl7::validate_header(m23);
    REQUIRE(ec23 == hl7::error::missing_trigger_event);
    auto const cr = hl7::make_header_nak(m23, ec23, "CR");
    CHECK(cr["MSA.1"] == "CR");
    CHECK(cr["MSA.2"] == "C7");
    CHECK(cr.segment("ERR")[1].raw() == "MSH^1^9^101&Required field missing&HL70357");

    // No version: the default rules; an unsupported one: code 203.
    auto const bare = hl7::parse("MSH|");
    auto const bare_nak = hl7::make_header_nak(bare, hl7::validate_header(bare));
    CHECK(bare_nak["MSA.1"] == "AR");
    CHECK(bare_nak["MSH.12"] == "2.5");
    CHECK(bare_nak["MSH.11"] == "P");
    CHECK(bare_nak["ERR.3.1.1"] == "101");
    CHECK(bare_nak.segment("ERR")[2].raw() == "MSH^1^9");
    auto const v3 = hl7::parse(header("ADT^A01", "C1", "P", "3.0"));
    auto const nak3 =
        hl7::make_header_nak(v3, hl7::validate_header(v3, hl7::header_rules{.require_known_version = true}));
    CHECK(nak3["ERR.3.1.1"] == "203");
    CHECK(nak3["MSH.12"] == "3.0");

    // A batch header: answered from defaults.
    auto const bhs = hl7::parse("BHS|^~\\&|A\r");
    auto const bhs_nak = hl7::make_header_nak(bhs, hl7::validate_header(bhs));
    CHECK(bhs_nak["ERR.3.1.1"] == "100");
    CHECK(bhs_nak["MSA.1"] == "AR");
}
