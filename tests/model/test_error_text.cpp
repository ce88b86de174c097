// Exception texts say each thing once ("segment not found: PID.5.1.1", not
// "segment not found: PID.5.1.1: segment not found").
#include <hl7/model/error.hpp>

#include <hl7/model/datetime.hpp>
#include <hl7/model/message.hpp>
#include <hl7/parser/batch.hpp>
#include <hl7/parser/locate.hpp>
#include <hl7/parser/parse.hpp>

#include <catch2/catch.hpp>

#include <functional>
#include <set>
#include <system_error>
#include <string>

namespace {

std::size_t occurrences(std::string const& text, std::string const& part)
{
    std::size_t n = 0;
    for (std::size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1))
        ++n;
    return n;
}

// Runs `f`, which must throw E; returns what() after checking that the
// code's message appears in it at most once (batch texts may say it in
// their own words).
template<class E>
std::string thrown_text(std::function<void()> const& f)
{
    try {
        f();
    }
    catch (E const& e) {
        std::string const what = e.what();
        CHECK(occurrences(what, e.code().message()) <= 1);
        return what;
    }
    FAIL("nothing thrown");
    return {};
}

std::string const adt = "MSH|^~\\&|A|B|C|D|20240101||ADT^A01|X1|P|2.5\rEVN|A01\r";

} // namespace

TEST_CASE("path errors name the path once", "[error][text]")
{
    auto const m = hl7::parse(adt);
    CHECK(thrown_text<hl7::path_error>([&] { (void)m.get("PID.5.1.1"); }) == "segment not found: PID.5.1.1");
    CHECK(thrown_text<hl7::path_error>([&] { (void)m["PID.5.1.1"]; }) == "segment not found: PID.5.1.1");
    CHECK(thrown_text<hl7::path_error>([&] { (void)m.raw("PID.3"); }) == "segment not found: PID.3");
    CHECK(thrown_text<hl7::path_error>([&] { (void)m.segment("ZZZ"); }) == "segment not found: ZZZ");
    CHECK(thrown_text<hl7::path_error>([&] { (void)m.segment("EVN", 2); }) == "segment not found: EVN2");
    CHECK(thrown_text<hl7::path_error>([&] { (void)m.segment_at(9); }) == "index out of range: segment 9");
    CHECK(thrown_text<hl7::path_error>([&] { (void)m.get("PID.x"); }) == "invalid field path: PID.x");
    CHECK(thrown_text<hl7::path_error>([&] { (void)m.extract_field("PID", 1, 3); }) ==
          "segment not found: PID.3.1.1.1");
    auto edit = m;
    CHECK(thrown_text<hl7::path_error>([&] { edit.set("MSH.1", "#"); }) == "MSH-1 and MSH-2 cannot be edited: MSH.1");
    CHECK(thrown_text<hl7::path_error>([&] { edit.remove_segment(7); }) == "index out of range: segment 7");
    CHECK(thrown_text<hl7::path_error>([&] { edit.append_repetition("PID.3", "x"); }) == "segment not found: PID.3");
    CHECK(thrown_text<hl7::path_error>([&] { (void)hl7::parse_path("P"); }) == "invalid field path: P");
    CHECK(thrown_text<hl7::path_error>([&] { (void)hl7::locate(adt, "PID.3"); }) == "segment not found: PID.3");
    // The exception still says what std::system_error says about its code.
    try {
        (void)m.get("PID.5.1.1");
    }
    catch (std::system_error const& e) {
        CHECK(e.code() == hl7::error::segment_not_found);
    }
}

TEST_CASE("parse errors say the problem once, with where", "[error][text]")
{
    CHECK(thrown_text<hl7::parse_error>([] { (void)hl7::parse("MSH|^~\\&|A\rP!D|1\r"); }) ==
          "segment id is not three letters or digits at byte 11 (segment 2)");
    CHECK(thrown_text<hl7::parse_error>([] { (void)hl7::parse(""); }) == "message is empty at byte 0");
    CHECK(thrown_text<hl7::parse_error>([] { (void)hl7::parse("PID|1\r"); }) ==
          "message does not start with an MSH segment at byte 0 (segment 1)");
    auto m = hl7::parse(adt);
    CHECK(thrown_text<hl7::parse_error>([&] { m.append_segment("PID|1\rPID|2"); }) ==
          "segment text contains a segment terminator at byte 5 (segment 3)");
    hl7::message fresh;
    CHECK(thrown_text<hl7::parse_error>([&] { fresh.append_segment("MSH|^^^^|"); }) ==
          "header declares invalid or repeated delimiters at byte 3 (segment 1)");
    // Built by callers with their own text: kept as given.
    hl7::parse_error const own(make_error_code(hl7::error::empty_segment), 4, 2, "my text");
    CHECK(std::string(own.what()) == "my text");
    hl7::parse_error const composed(make_error_code(hl7::error::empty_segment), 4, 2);
    CHECK(std::string(composed.what()) == "empty segment at byte 4 (segment 2)");
    // Copies keep the text.
    hl7::parse_error const copy = composed;
    CHECK(std::string(copy.what()) == composed.what());
}

TEST_CASE("batch errors say the problem once", "[error][text]")
{
    std::string const two_bhs = "BHS|^~\\&\rBHS|^~\\&\r" + adt;
    CHECK(thrown_text<hl7::batch_error>([&] { (void)hl7::parse_batch(two_bhs); }) ==
          "batch cannot have more than one BHS segment at byte 9 (segment 2)");
    std::string const early = "PID|1\r" + adt;
    CHECK(thrown_text<hl7::batch_error>([&] { (void)hl7::parse_batch(early); }) ==
          "segment received before message header at byte 0 (segment 1)");
    // A message inside a batch that does not parse: its problem, and where.
    std::string const bad_inner = "BHS|^~\\&\r" + adt + "P!D|1\r";
    std::string const text = thrown_text<hl7::parse_error>([&] { (void)hl7::parse_batch(bad_inner); });
    CHECK(text.starts_with("segment id is not three letters or digits in the message starting at byte 9, at byte"));
    hl7::parse_options tight;
    tight.max_message_size = 10;
    CHECK(thrown_text<hl7::parse_error>([&] { (void)hl7::parse_batch(two_bhs, tight); }).starts_with(
        "input of "));
}

TEST_CASE("datetime errors quote the value once", "[error][text]")
{
    CHECK(thrown_text<hl7::datetime_error>([] { (void)hl7::parse_datetime("2014-03-11"); }) ==
          "malformed HL7 date/time: '2014-03-11'");
}

TEST_CASE("every hl7::error has a message of its own", "[error]")
{
    std::set<std::string> seen;
    for (int v = 1; v <= static_cast<int>(hl7::error::unrepresentable_character); ++v) {
        std::string const text = make_error_code(static_cast<hl7::error>(v)).message();
        CAPTURE(v, text);
        CHECK(text != "hl7 error");
        CHECK(seen.insert(text).second);
    }
    CHECK(make_error_code(hl7::error::invalid_character) == std::errc::illegal_byte_sequence);
}
