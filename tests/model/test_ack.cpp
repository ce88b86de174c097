// Acknowledgements.
#include <hl7/model/ack.hpp>

#include <hl7/parser/parse.hpp>
#include <hl7_samples.hpp>

#include <catch2/catch.hpp>

#include <algorithm>

TEST_CASE("create_ack follows python-hl7's field mapping", "[ack]")
{
    auto const m = hl7::parse(hl7_test::oru_sample);
    auto const ack = m.create_ack();
    CHECK(ack["MSH.3"] == "GHH OE");
    CHECK(ack["MSH.4"] == "BLDG4");
    CHECK(ack["MSH.5"] == "GHH LAB");
    CHECK(ack["MSH.6"] == "ELAB-3");
    std::string const ts = ack["MSH.7"];
    CHECK(ts.size() == 14);
    CHECK(ts.rfind("20", 0) == 0);
    CHECK(std::all_of(ts.begin(), ts.end(), [](char c) { return c >= '0' && c <= '9'; }));
    CHECK(ack["MSH.8"] == "");
    CHECK(ack.segment("MSH")[9].raw() == "ACK^R01^ACK");
    CHECK(ack["MSH.10"].size() == 20);
    CHECK(ack["MSH.11"] == "P");
    CHECK(ack["MSH.12"] == "2.4");
    CHECK(ack.segment("MSA")[1].raw() == "AA");
    CHECK(ack.segment("MSA")[2].raw() == "CNTRL-3456");
    CHECK(ack.size() == 2);
    // The serialised form of python-hl7's documentation, bar time and id.
    std::string text = hl7::to_string(ack);
    text.replace(text.find(ack["MSH.7"]), 14, "<TS14>");
    text.replace(text.find(ack["MSH.10"]), 20, "MSGID0001");
    CHECK(text == "MSH|^~\\&|GHH OE|BLDG4|GHH LAB|ELAB-3|<TS14>||ACK^R01^ACK|MSGID0001|P|2.4\rMSA|AA|CNTRL-3456\r");
}

TEST_CASE("create_ack overrides and fresh ids", "[ack]")
{
    auto const m = hl7::parse(hl7_test::oru_sample);
    auto const ack = m.create_ack("AR", "MSGID0001", "MYAPP", "MYFAC");
    CHECK(ack["MSH.10"] == "MSGID0001");
    CHECK(ack["MSH.3"] == "MYAPP");
    CHECK(ack["MSH.4"] == "MYFAC");
    CHECK(ack["MSA.1"] == "AR");
    CHECK(m.create_ack()["MSH.10"] != m.create_ack()["MSH.10"]);
}

TEST_CASE("ack_options add MSA-3 and an ERR segment for errors", "[ack]")
{
    // The sample is v2.4: ERR-1 (ELD) carries location and code, MSA-6 the code.
    auto const m = hl7::parse(hl7_test::oru_sample);
    hl7::ack_options o;
    o.code = "AE";
    o.text = "PID-3 missing | bad";
    o.error_code = "101";
    o.error_location = "PID^1^3";
    auto const ack = m.create_ack(o);
    CHECK(ack["MSA.3"] == "PID-3 missing | bad");
    CHECK(ack.segment("MSA")[3].raw() == "PID-3 missing \\F\\ bad");
    CHECK(ack.segment("MSA")[6].raw() == "101^Required field missing^HL70357");
    REQUIRE(ack.has_segment("ERR"));
    CHECK(ack.segment("ERR")[1].raw() == "PID^1^3^101&Required field missing&HL70357");
    CHECK(ack.segment("ERR").size() == 1);

    // The same in v2.5: ERR-2 location, ERR-3 code, ERR-4 severity, ERR-8 text.
    auto m25 = m;
    m25.set("MSH.12", "2.5");
    auto const ack25 = m25.create_ack(o);
    CHECK(ack25.segment("ERR")[2].raw() == "PID^1^3");
    CHECK(ack25["ERR.3.1.1"] == "101");
    CHECK(ack25["ERR.3.1.2"] == "Required field missing");
    CHECK(ack25["ERR.3.1.3"] == "HL70357");
    CHECK(ack25["ERR.4"] == "E");
    CHECK(ack25["ERR.8"] == "PID-3 missing | bad");
    CHECK(ack25.segment("MSA").size() == 3);
    // A path says the same as the ERL.
    o.error_location = "PID.3";
    CHECK(m25.create_ack(o).segment("ERR")[2].raw() == "PID^1^3");
    o.error_location = "OBX2.5.1.2";
    CHECK(m25.create_ack(o).segment("ERR")[2].raw() == "OBX^2^5^1^2");
    CHECK(m.create_ack(o).segment("ERR")[1].raw() == "OBX^2^5^101&Required field missing&HL70357");
    o.error_location = "not a location";
    CHECK_THROWS_AS(m.create_ack(o), std::invalid_argument);
    o.error_location = "PID^x^3";
    CHECK_THROWS_AS(m.create_ack(o), std::invalid_argument);

    o.error_location.clear();
    o.code = "AA";
    o.text = "ok";
    auto const fine = m.create_ack(o);
    CHECK(!fine.has_segment("ERR"));
    CHECK(fine["MSA.3"] == "ok");

    o = {};
    o.code = "AR";
    CHECK(m25.create_ack(o)["ERR.3.1.1"] == "207");
    CHECK(m.create_ack(o).segment("ERR")[1].raw() == "^^^207&Application internal error&HL70357");
}

TEST_CASE("create_ack copes with short headers and no trigger", "[ack]")
{
    // No version: the default (2.5) shapes the ACK and fills MSH-11/MSH-12.
    auto const shortmsh = hl7::parse("MSH|^~\\&|A|B\rPID|1\r");
    auto const ack = shortmsh.create_ack();
    CHECK(ack.segment("MSH")[9].raw() == "ACK^^ACK");
    CHECK(ack["MSH.11"] == "P");
    CHECK(ack["MSH.12"] == "2.5");
    CHECK(ack["MSH.5"] == "A");
    CHECK(ack["MSA.2"] == "");
    hl7::ack_options old_style;
    old_style.default_version = "2.3";
    old_style.default_processing_id = "T";
    auto const ack23 = shortmsh.create_ack(old_style);
    CHECK(ack23.segment("MSH")[9].raw() == "ACK");
    CHECK(ack23["MSH.11"] == "T");
    CHECK(ack23["MSH.12"] == "2.3");
    auto const notrigger = hl7::parse("MSH|^~\\&|A|B|C|D|20240101||ADT|X1|P|2.3\r");
    CHECK(notrigger.create_ack().segment("MSH")[9].raw() == "ACK");
    CHECK(notrigger.create_ack()["MSA.2"] == "X1");
    hl7::message empty;
    CHECK_THROWS_AS(empty.create_ack(), hl7::path_error);
}

TEST_CASE("ACKs use the message's own delimiters", "[ack]")
{
    auto const m = hl7::parse(hl7_test::odd_delimiters_sample);
    auto const ack = m.create_ack();
    CHECK(hl7::to_string(ack).rfind("MSH#$*!%#RCV#RFAC#APP#FAC#", 0) == 0);
    CHECK(ack.segment("MSH")[9].raw() == "ACK$A04$ACK");
    CHECK(ack["MSA.2"] == "ID77");
}

TEST_CASE("make_nak answers what cannot be parsed", "[ack]")
{
    auto const nak = hl7::make_nak("MSH|^~\\&|S|SF|R|RF|2024||ADT^A01|CTRL9|P|2.5\r\x01\x02 junk", "AE", "bad segment");
    CHECK(nak["MSA.1"] == "AE");
    CHECK(nak["MSA.2"] == "CTRL9");
    CHECK(nak["MSA.3"] == "bad segment");
    CHECK(nak["MSH.3"] == "R");
    CHECK(nak.segment("MSH")[9].raw() == "ACK^A01^ACK");
    CHECK(nak["ERR.3.1.1"] == "207");
    CHECK(nak["MSH.11"] == "P");
    CHECK(nak["MSH.12"] == "2.5");
    // Leading blank lines, which parse() skips, do not hide the header.
    CHECK(hl7::make_nak("\r\n\nMSH|^~\\&|S|SF|R|RF|2024||ADT^A01|CTRL8|P|2.5\rPIDX", "AE", "x")["MSA.2"] == "CTRL8");

    for (std::string junk : {std::string(), std::string("hello"), std::string("MSH"), std::string("MSH|^^^^|x"),
                             std::string("\x0b\x1c\r"), std::string(1000, '\xff'), std::string("MSH|^~\\&|\x01|\r")}) {
        CAPTURE(junk);
        auto const n = hl7::make_nak(junk, "AR", "not HL7");
        CHECK(n["MSA.1"] == "AR");
        CHECK(n["MSA.3"] == "not HL7");
        CHECK(hl7::parse(hl7::to_string(n)).size() == 3);
        // A complete header even without one to copy from.
        CHECK(n["MSH.9"] == "ACK");
        CHECK(n.segment("MSH")[9].raw() == "ACK^^ACK");
        CHECK(n["MSH.10"].size() == 20);
        CHECK(n["MSH.11"] == "P");
        CHECK(n["MSH.12"] == "2.5");
        CHECK(n["ERR.4"] == "E");
    }
    // The defaults are configurable.
    hl7::ack_options o;
    o.code = "AR";
    o.text = "not HL7";
    o.default_version = "2.3.1";
    o.default_processing_id = "D";
    auto const n231 = hl7::make_nak("hello", o);
    CHECK(n231["MSH.11"] == "D");
    CHECK(n231["MSH.12"] == "2.3.1");
    CHECK(n231.segment("ERR")[1].raw() == "^^^207&Application internal error&HL70357");
    CHECK(n231.segment("MSA")[6].raw() == "207^Application internal error^HL70357");
}
