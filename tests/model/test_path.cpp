// Reading by path: python-hl7's accessor rules and documented examples.
#include <hl7/model/path.hpp>

#include <hl7/parser/parse.hpp>
#include <hl7_samples.hpp>

#include <catch2/catch.hpp>

TEST_CASE("parse_path reads python-hl7's key forms", "[path]")
{
    auto p = hl7::parse_path("PID.F3.R1.C2.S2");
    CHECK(p.segment == "PID");
    CHECK(p.segment_num == 1);
    CHECK(p.field == 3);
    CHECK(p.repetition == 1);
    CHECK(p.component == 2);
    CHECK(p.subcomponent == 2);
    CHECK(p.depth == 4);
    CHECK(hl7::to_string(p) == "PID.3.1.2.2");

    p = hl7::parse_path("OBX2.5");
    CHECK(p.segment == "OBX");
    CHECK(p.segment_num == 2);
    CHECK(p.field == 5);
    CHECK(p.depth == 1);
    CHECK(hl7::to_string(p) == "OBX2.5");

    p = hl7::parse_path("pid.f3.r2");
    CHECK(p.segment == "pid");
    CHECK(p.repetition == 2);

    for (char const* bad : {"", "PI", "PID.", "PID..1", "PID.R3", "PID.3.0", "PID.3.1.1.1.1", "PID.x", "PID0.1",
                            "PIDx.1", "P-D.1", "PID.3.C1", "PID.-3"}) {
        CAPTURE(bad);
        std::error_code ec;
        (void)hl7::parse_path(bad, ec);
        CHECK(ec == hl7::error::invalid_path);
        CHECK_THROWS_AS(hl7::parse_path(bad), hl7::path_error);
    }
}

TEST_CASE("python-hl7 accessor documentation examples", "[path][python-hl7]")
{
    auto const h = hl7::parse(hl7_test::accessor_sample);
    CHECK(h["PID.F1.R1"] == "Field1");
    CHECK(h["PID.F2.R1.C1"] == "Component1");
    CHECK(h.extract_field("PID", 1, 2, 1, 1) == "Component1");
    // Deeper tree than path: follow first children.
    CHECK(h["PID.F3.R1.C2"] == "Sub-Component1");
    CHECK(h["PID.F3.R1.C2.S2"] == "Sub-Component2");
    // Tree ends early, remaining positions all 1: the leaf is returned.
    CHECK(h["PID.F1.R1.C1.S1"] == "Field1");
    // Absent parts are blank.
    CHECK(h["PID.F10.R1"] == "");
    CHECK(h["PID.F4.R2"] == "Repeat2");
    CHECK(h["PID.F4"] == "Repeat1");
    CHECK(h["PID.3"] == "Component1");
    CHECK(h["PID.3.1.3"] == "Component3");
}

TEST_CASE("where python-hl7 raises, absent parts read as blank", "[path][python-hl7]")
{
    auto const h = hl7::parse(hl7_test::accessor_sample);
    // python-hl7 0.4.5 raises "Field reaches leaf node" / bare IndexError
    // here; its own documentation says the result is blank.
    CHECK(h["PID.F1.R1.C2"] == "");
    CHECK(h["PID.F1.R2"] == "");
    CHECK(h["PID.F4.R3"] == "");
    CHECK(h["PID.F4.R3.C2"] == "");
    CHECK(h["PID.F10.R1.C2"] == "");
    CHECK(h["PID.F2.R1.C5"] == "");
    CHECK(h["PID.F2.R1.C5.S2"] == "");
    CHECK(h["PID.F3.R1.C2.S9"] == "");
}

TEST_CASE("values are unescaped, MSH-1 and MSH-2 are raw", "[path]")
{
    auto const m = hl7::parse(hl7_test::adt_sample);
    CHECK(m["MSH.1"] == "|");
    CHECK(m["MSH.2"] == "^~\\&");
    CHECK(m["OBX.5"] == "Line one\rLine two & more | pipe");
    CHECK(m.raw("OBX.5") == "Line one\\.br\\Line two \\T\\ more \\F\\ pipe");
    CHECK(m["NTE.3"] == "Comment with \\ backslash and ^ caret");
    CHECK(m["OBX2.6.1.2"] == "kilogram");
    CHECK(m["OBX2.6"] == "kg");
    CHECK(m["PID.3.2.4"] == "USSSA");
    CHECK(m["PID.0"] == "PID");
    CHECK(m["MSH.9.1.3"] == "ADT_A01");

    auto const doc = hl7::parse("MSH|^~\\&|\rPID|Field1|\\F\\|\r");
    CHECK(doc.segment("PID")[2].raw() == "\\F\\");
    CHECK(doc.unescape(doc.segment("PID")[2].raw()) == "|");
    CHECK(doc["PID.F2.R1"] == "|");
    CHECK(doc.segment("PID")[2].value() == "|");
}

TEST_CASE("path errors name the path", "[path][errors]")
{
    auto const m = hl7::parse(hl7_test::oru_sample);
    try {
        (void)m["ZZZ.1"];
        FAIL("no error");
    }
    catch (hl7::path_error const& e) {
        CHECK(e.code() == hl7::error::segment_not_found);
        CHECK(e.path() == "ZZZ.1");
        CHECK(std::string(e.what()).find("ZZZ.1") != std::string::npos);
    }
    CHECK_THROWS_AS(m["OBX2.1"], hl7::path_error);
    CHECK_THROWS_AS(m["PID"], hl7::path_error);
    CHECK_THROWS_AS(m["PID.3.0"], hl7::path_error);
    CHECK_THROWS_AS(m.segment("ZZZ"), hl7::path_error);
    CHECK_THROWS_AS(m.segment_at(0), hl7::path_error);
    CHECK_THROWS_AS(m.segment_at(5), hl7::path_error);
    std::error_code ec;
    CHECK(m.get("PID.5.1.2", ec) == "EVE");
    CHECK(!ec);
    CHECK(m.get("ZZZ.1", ec).empty());
    CHECK(ec == hl7::error::segment_not_found);
    CHECK(m.raw("PID..", ec).empty());
    CHECK(ec == hl7::error::invalid_path);
}

TEST_CASE("nth segment by path", "[path]")
{
    auto const m = hl7::parse("MSH|^~\\&|A\rOBX|1|a\rNTE|x\rOBX|2|b\rOBX|3|c\r");
    CHECK(m["OBX.2"] == "a");
    CHECK(m["OBX1.2"] == "a");
    CHECK(m["OBX2.2"] == "b");
    CHECK(m["OBX3.2"] == "c");
    CHECK(m.segment("OBX", 3)[2].raw() == "c");
    CHECK(m.extract_field("OBX", 2, 2) == "b");
}
