// Regression tests for the bugs the fuzzers (tests/fuzz) found in the
// message model, one test per finding, each with the fuzzer's reproducer.
// The same inputs are in tests/fuzz/corpus/<target>/regress-*.
#include <hl7/parser/parse.hpp>

#include <hl7/model/ack.hpp>
#include <hl7/model/escape.hpp>
#include <hl7/parser/locate.hpp>
#include <hl7/model/message.hpp>

#include <catch2/catch.hpp>

#include <string>
#include <string_view>

// fuzz_parse: value() of a repetition or component that is not there bound a
// reference to a null separators pointer (UBSan: "reference binding to null
// pointer of type 'const separators'" in component_view::value). It read ""
// by luck in optimised builds.
TEST_CASE("regression: value() of absent repetitions and components", "[regression][model]")
{
    hl7::message const m = hl7::parse("MSH|\r");
    auto const seg = m.segment_at(1);
    CHECK(seg.field(5).value().empty());
    CHECK(seg.field(5).repetition(1).value().empty());
    CHECK(seg.field(5).repetition(2).component(3).value().empty());
    CHECK(seg.field(5).component(1).subcomponent(2).value().empty());
    hl7::message const oru = hl7::parse("MSH|^~\\&|A\rPID|1||123^^^H~456\r");
    auto const pid = oru.segment("PID");
    CHECK(pid.field(3).repetition(3).value().empty());
    CHECK(pid.field(3).repetition(1).component(9).value().empty());
    CHECK(pid.field(3).repetition(2).component(1).value() == "456");
}

// fuzz_path: with strict_terminators an LF is data. After enough edits the
// message compacts itself by re-indexing every segment, which treated LF as
// a terminator, failed silently and left an empty record in place of the
// segment: its text was lost and segment_view::size() read 4294967295.
TEST_CASE("regression: edits keep segments that hold LF as data (strict terminators)", "[regression][model]")
{
    hl7::parse_options o;
    o.strict_terminators = true;
    std::string const nte = "NTE|1||line one\nline two";
    hl7::message m = hl7::parse("MSH|^~\\&|A|B\r" + nte + "\rPID|1||" + std::string(200, 'x') + "\r", o);
    REQUIRE(m.get("NTE.3") == "line one\nline two");
    for (int i = 0; i < 40; ++i)
        m.set("PID.3", std::string(200, static_cast<char>('a' + i % 26)));
    REQUIRE(m.size() == 3);
    CHECK(m.segment_at(2).raw() == nte);
    CHECK(m.segment_at(2).size() == 3);
    CHECK(m.get("NTE.3") == "line one\nline two");
    // Editing the segment with the LF works too, and it re-parses the same.
    m.set("NTE.1", "2");
    CHECK(m.get("NTE.3") == "line one\nline two");
    hl7::message const again = hl7::parse(hl7::to_string(m), o);
    CHECK(hl7::to_string(again) == hl7::to_string(m));
}

// fuzz_ack: a letter as field separator is a valid delimiter set, but the
// ACK built in it ("MSA" + 'M' + ...) split its own segment id: create_ack()
// threw hl7::parse_error ("empty segment"), which a receiver does not expect
// from a message that parsed.
TEST_CASE("regression: create_ack with a letter as field separator", "[regression][model]")
{
    std::string const text = "MSHM^~\\&MAPPMFACMRCVMRFACM20240101MMADT^A01MID-LETTERMPM2.5\r";
    hl7::message const m = hl7::parse(text);
    hl7::message ack;
    REQUIRE_NOTHROW(ack = m.create_ack());
    REQUIRE(ack.size() == 2);
    CHECK(ack.segment_at(1).id() == "MSH");
    CHECK(ack.segment_at(2).id() == "MSA");
    CHECK(ack.segment_at(2).field(1).raw() == "AA");
    CHECK(ack.segment_at(2).field(2).raw() == "ID-LETTER");
    CHECK(hl7::to_string(hl7::parse(hl7::to_string(ack))) == hl7::to_string(ack));
    // The fuzzer's input: a bare header with 'M' as field separator.
    hl7::message const tiny = hl7::parse("MSHM");
    REQUIRE_NOTHROW((void)tiny.create_ack("CA"));
    // make_nak answers the same header.
    hl7::message const nak = hl7::make_nak(text, "AR", "rejected");
    CHECK(nak.segment_at(2).id() == "MSA");
}

// fuzz_ack: a message parsed with strict_terminators can hold LF in MSH
// fields; create_ack() copied them verbatim, so the ACK split into extra
// segments (MSA no longer second - or a sender could inject segments into
// our ACK) or failed to parse.
TEST_CASE("regression: create_ack never carries CR or LF from the message", "[regression][model]")
{
    hl7::parse_options o;
    o.strict_terminators = true;
    o.validate_segment_ids = false;
    hl7::message const m =
        hl7::parse("MSH|^~\\&|APP\nMSA|FAC|RCV|RFAC|20240101||ADT^A01\nX|ID-1|P|2.5\r", o);
    hl7::message const ack = m.create_ack();
    std::string const wire = hl7::to_string(ack);
    CHECK(wire.find('\n') == std::string::npos);
    hl7::message const back = hl7::parse(wire);
    REQUIRE(back.size() == 2);
    CHECK(back.segment_at(2).id() == "MSA");
    CHECK(back.segment_at(2).field(2).raw() == "ID-1");
    CHECK(back.get("MSH.5") == "APP\nMSA"); // kept, as an escape sequence
    // The fuzzer's input: field separator 0xFF, MSH-3 an LF.
    hl7::parse_options all;
    all.strict_terminators = true;
    all.allow_empty_segments = false;
    all.validate_segment_ids = false;
    all.max_segments = 3;
    hl7::message const tiny = hl7::parse("MSH\xff\xff\n", all);
    hl7::message tiny_ack;
    REQUIRE_NOTHROW(tiny_ack = tiny.create_ack("AE"));
    CHECK(hl7::to_string(tiny_ack).find('\n') == std::string::npos);
}

// fuzz_locate: locate() returned the segment id (and MSH-1/MSH-2) for paths
// below them ("MSH.0.2"), where the model and locate's own documentation
// say positions below a plain value read empty.
TEST_CASE("regression: locate does not split the segment id, MSH-1 or MSH-2", "[regression][model]")
{
    std::string const text = "MSH|||F\r";
    hl7::message const m = hl7::parse(text);
    for (char const* path : {"MSH.0", "MSH.0.1", "MSH.0.2", "MSH.0.1.2", "MSH.1", "MSH.1.2", "MSH.2", "MSH.2.2",
                             "MSH.2.1.1.1"}) {
        INFO(path);
        CHECK(hl7::locate(text, path) == m.raw(path));
    }
    CHECK(hl7::locate(text, "MSH.0") == "MSH");
    CHECK(hl7::locate(text, "MSH.0.2").empty());
    CHECK(hl7::locate("MSH\xa9", "MSH.0.2").empty()); // the fuzzer's input
}

// fuzz_locate / fuzz_path: with a letter as field separator that also occurs
// in the segment id (MSH with 'M' or 'S'), locate() and set() split the id
// itself and addressed the wrong field.
TEST_CASE("regression: a field separator that occurs in the segment id", "[regression][model]")
{
    std::string const text = "MSHM^~\\&MAPPMFACMRCVMRFAC\rPIDM1MMDOE^JOHN\r";
    hl7::message m = hl7::parse(text);
    CHECK(m.raw("MSH.3") == "APP");
    CHECK(hl7::locate(text, "MSH.3") == "APP");
    CHECK(hl7::locate(text, "MSH.6") == "RFAC");
    CHECK(hl7::locate(text, "PID.3") == "DOE^JOHN");
    m.set("MSH.12", "2.5");
    CHECK(m.raw("MSH.12") == "2.5");
    CHECK(m.raw("MSH.3") == "APP");

    // fuzz_path's input: an FHS whose field separator is 'S'.
    hl7::message f = hl7::parse("FHSS^~\\&SAPPS\r");
    f.set("FHS.12", std::string(300, 'x'));
    CHECK(f.raw("FHS.12") == std::string(300, 'x'));
    CHECK(f.raw("FHS.3") == "APP");
}

// fuzz_escape: with the escape character a letter used in sequence names
// ('X' here), escape() wrote sequences unescape() could not read back.
TEST_CASE("regression: escape round trip with a letter as escape character", "[regression][model]")
{
    hl7::separators s;
    s.field = '|';
    s.component = '~';
    s.repetition = '\\';
    s.escape = 'X';
    s.subcomponent = '0';
    REQUIRE(s.valid());
    std::string const text("0A\\|^~\\&\x81\x81\x00\x00`@\x00\x0e\xb9\x90\x81", 19);
    CHECK(hl7::unescape(hl7::escape(text, s), s) == text);
}
