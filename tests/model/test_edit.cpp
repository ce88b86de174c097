// Editing and building messages.
#include <hl7/model/message.hpp>

#include <hl7/parser/parse.hpp>
#include <hl7_samples.hpp>

#include <catch2/catch.hpp>

TEST_CASE("set writes at any depth and creates missing parts", "[edit]")
{
    auto m = hl7::parse("MSH|^~\\&|A\rPID|1\r");
    m.set("PID.F5.R1.C2", "JOHN");
    CHECK(hl7::to_string(m) == "MSH|^~\\&|A\rPID|1||||^JOHN\r");
    m.set("PID.5.1.1", "DOE");
    CHECK(m["PID.5.1.2"] == "JOHN");
    CHECK(m["PID.5"] == "DOE");
    m.set("PID.3.2.4.2", "X");
    CHECK(m.segment("PID")[3].raw() == "~^^^&X");
    m.set("PID.8", "F");
    CHECK(hl7::to_string(m) == "MSH|^~\\&|A\rPID|1||~^^^&X||DOE^JOHN|||F\r");
    // A field path replaces the whole field, verbatim.
    m.set("PID.5", "SMITH^JANE^Q");
    CHECK(m["PID.5.1.3"] == "Q");
    m.set("MSH.10", "CTRL1");
    CHECK(m["MSH.10"] == "CTRL1");
    CHECK(m.raw("MSH.3") == "A");
    CHECK(hl7::to_string(hl7::parse(hl7::to_string(m))) == hl7::to_string(m));
}

TEST_CASE("writing below a plain value restructures it (python-hl7 issue #55)", "[edit]")
{
    auto m = hl7::parse("MSH|^~\\&|A\rPID|1||12345\r");
    m.set("PID.3.1.4", "MR");
    CHECK(m.segment("PID")[3].raw() == "12345^^^MR");
    m.set("PID.3.2", "999");
    CHECK(m.segment("PID")[3].raw() == "12345^^^MR~999");
    m.set("PID.3.2.1.3", "S");
    CHECK(m.segment("PID")[3].raw() == "12345^^^MR~999&&S");
}

TEST_CASE("set_escaped escapes, MSH-1/MSH-2 are read-only, missing segments are errors", "[edit][errors]")
{
    auto m = hl7::parse("MSH|^~\\&|A\rNTE|1\r");
    m.set_escaped("NTE.3", "a|b^c&d~e\\f");
    CHECK(m.raw("NTE.3") == "a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f");
    CHECK(m["NTE.3"] == "a|b^c&d~e\\f");
    try {
        m.set("MSH.2", "x");
        FAIL("no error");
    }
    catch (hl7::path_error const& e) {
        CHECK(e.code() == hl7::error::read_only_field);
    }
    CHECK_THROWS_AS(m.set("MSH.1", "#"), hl7::path_error);
    CHECK_THROWS_AS(m.set("ZZZ.1", "x"), hl7::path_error);
    CHECK_THROWS_AS(m.set("NTE.0", "x"), hl7::path_error);
    CHECK_THROWS_AS(m.set("NTE.3", "a\rb"), hl7::path_error);
    CHECK(hl7::to_string(m) == "MSH|^~\\&|A\rNTE|1||a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f\r");
}

TEST_CASE("python-hl7's assignment documentation example", "[edit][python-hl7]")
{
    hl7::message response;
    response.append_segment("MSH");
    response.append_segment("MSA");
    CHECK(hl7::to_string(response) == "MSH|^~\\&\rMSA\r");
    response.set("MSH.F9.R1.C1", "ORU");
    response.set("MSH.F9.R1.C2", "R01");
    response.set("MSH.F9.R1.C3", "");
    response.set("MSH.F12.R1", "2.4");
    response.set("MSA.F1.R1", "AA");
    response.set("MSA.F3.R1", "Application Message");
    CHECK(hl7::to_string(response) == "MSH|^~\\&|||||||ORU^R01^|||2.4\rMSA|AA||Application Message\r");
    response.assign_field("AE", "MSA", 1, 1, 1);
    CHECK(response["MSA.1"] == "AE");
    response.assign_field("X", "MSA", 1, 4);
    CHECK(response["MSA.4"] == "X");
}

TEST_CASE("building a message from scratch", "[edit][build]")
{
    hl7::message m;
    m.append_segment("MSH");
    m.set("MSH.3", "SENDER");
    m.set("MSH.9", "ADT^A01^ADT_A01");
    m.set("MSH.10", "MSG0001");
    m.set("MSH.12", "2.5");
    m.append_segment("PID|1");
    m.set("PID.3.1.1", "12345");
    m.set("PID.3.1.5", "MR");
    m.set_escaped("PID.5.1.1", "O'Brien & Sons");
    m.append_segment("PV1|1|I");
    CHECK(hl7::to_string(m) ==
          "MSH|^~\\&|SENDER||||||ADT^A01^ADT_A01|MSG0001||2.5\r"
          "PID|1||12345^^^^MR||O'Brien \\T\\ Sons\r"
          "PV1|1|I\r");
    CHECK(m["PID.5"] == "O'Brien & Sons");

    SECTION("with other delimiters")
    {
        hl7::separators s;
        s.field = '#';
        s.component = '$';
        hl7::message odd(s);
        odd.append_segment("MSH");
        odd.set("MSH.9.1.2", "A04");
        CHECK(hl7::to_string(odd) == "MSH#$~\\&#######$A04\r");
        CHECK(hl7::parse(hl7::to_string(odd))["MSH.9.1.2"] == "A04");
    }
    SECTION("a full header sets the delimiters of an empty message")
    {
        hl7::message fromtext;
        fromtext.append_segment("MSH#$*!%#APP");
        CHECK(fromtext.delimiters().field == '#');
        fromtext.append_segment("PID#1$2");
        CHECK(fromtext["PID.1.1.2"] == "2");
    }
}

TEST_CASE("inserting and removing segments", "[edit]")
{
    auto m = hl7::parse("MSH|^~\\&|A\rPID|1\rOBX|1\rNTE|a\rOBX|2\rNTE|b\r");
    m.insert_segment(2, "EVN|A01");
    CHECK(m.segment_at(2).id() == "EVN");
    CHECK(m.segment_at(3).id() == "PID");
    CHECK(m.remove_segments("NTE") == 2);
    CHECK(hl7::to_string(m) == "MSH|^~\\&|A\rEVN|A01\rPID|1\rOBX|1\rOBX|2\r");
    m.remove_segment(2);
    CHECK(hl7::to_string(m) == "MSH|^~\\&|A\rPID|1\rOBX|1\rOBX|2\r");
    m.insert_segment(m.size() + 1, "ZZ1|end");
    CHECK(m.segment_at(m.size()).id() == "ZZ1");
    CHECK_THROWS_AS(m.insert_segment(0, "X"), hl7::path_error);
    CHECK_THROWS_AS(m.insert_segment(99, "ZZ2"), hl7::path_error);
    CHECK_THROWS_AS(m.remove_segment(99), hl7::path_error);
    CHECK_THROWS_AS(m.append_segment("BAD SEGMENT"), hl7::parse_error);
    CHECK_THROWS_AS(m.append_segment("ZZ3|a\rZZ4|b"), hl7::parse_error);
    CHECK_THROWS_AS(m.append_segment(""), hl7::parse_error);
    CHECK(hl7::to_string(m) == "MSH|^~\\&|A\rPID|1\rOBX|1\rOBX|2\rZZ1|end\r");
}

TEST_CASE("many edits keep memory bounded and results right", "[edit]")
{
    auto m = hl7::parse(hl7_test::oru_sample);
    for (int i = 0; i < 5000; ++i)
        m.set("PID.3", std::to_string(i));
    CHECK(m["PID.3"] == "4999");
    CHECK(m["OBX.5.1.2"] == "182");
    CHECK(hl7::to_string(m).size() < 2 * hl7_test::oru_sample.size());
    for (int i = 0; i < 300; ++i) {
        m.append_segment("NTE|" + std::to_string(i));
        m.remove_segment(m.size());
    }
    CHECK(m.size() == 4);
    auto const again = hl7::parse(hl7::to_string(m));
    CHECK(again["PID.3"] == "4999");
}

TEST_CASE("edits preserve other segments across compaction", "[edit]")
{
    auto m = hl7::parse(hl7_test::adt_sample);
    std::string const before = hl7::to_string(m);
    for (int i = 0; i < 200; ++i)
        m.set("EVN.2", std::string(static_cast<std::size_t>(100 + i), 'x'));
    m.set("EVN.2", "200708181123");
    CHECK(hl7::to_string(m) == before);
}
