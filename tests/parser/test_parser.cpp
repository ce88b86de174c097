// Parsing: structure, delimiters, terminators, round trip, errors and limits.
#include <hl7/parser/parse.hpp>

#include <hl7_samples.hpp>

#include <catch2/catch.hpp>

#include <sstream>
#include <string>

using namespace std::string_literals;

TEST_CASE("parse builds segments and fields with MSH-1/MSH-2 as fields 1 and 2", "[parser]")
{
    auto const m = hl7::parse(hl7_test::oru_sample);
    REQUIRE(m.size() == 4);
    auto const msh = m.segment("MSH");
    CHECK(msh.id() == "MSH");
    CHECK(msh[1].raw() == "|");
    CHECK(msh[2].raw() == "^~\\&");
    CHECK(msh[3].raw() == "GHH LAB");
    CHECK(msh[9].raw() == "ORU^R01");
    CHECK(msh[9].component(2).raw() == "R01");
    CHECK(msh.size() == 12);
    CHECK(m.segment_at(2).id() == "PID");
    CHECK(m.segment("PID")[5].repetition(1).component(2).raw() == "EVE");
    CHECK(m.segment("PID")[5].size() == 1);
    CHECK(m.segment("PID")[5][1].size() == 7);
    CHECK(!m.segment("PID")[40].present());
    CHECK(m.segment("PID")[40].raw().empty());
}

TEST_CASE("iteration and segments(id) return segments in order", "[parser]")
{
    auto const m = hl7::parse(hl7_test::adt_sample);
    std::string ids;
    for (auto seg : m)
        ids += std::string(seg.id()) + ",";
    CHECK(ids == "MSH,EVN,PID,NK1,PV1,OBX,OBX,NTE,");
    auto const obx = m.segments("OBX");
    REQUIRE(obx.size() == 2);
    CHECK(obx[0][1].raw() == "1");
    CHECK(obx[1][1].raw() == "2");
    CHECK(m.segments("ZZZ").empty());
    CHECK(m.has_segment("NK1"));
    CHECK(!m.has_segment("ZZZ"));
    CHECK(std::distance(m.begin(), m.end()) == 8);
}

TEST_CASE("repetitions, components and sub-components", "[parser]")
{
    auto const m = hl7::parse(hl7_test::accessor_sample);
    auto const pid = m.segment("PID");
    CHECK(pid[4].size() == 2);
    CHECK(pid[4][1].raw() == "Repeat1");
    CHECK(pid[4][2].raw() == "Repeat2");
    CHECK(!pid[4][3].present());
    CHECK(pid[3][1].size() == 3);
    CHECK(pid[3][1][2].size() == 2);
    CHECK(pid[3][1][2].subcomponent(1).raw() == "Sub-Component1");
    CHECK(pid[3][1][2].subcomponent(2).raw() == "Sub-Component2");
    CHECK(pid[3][1][3].raw() == "Component3");
    CHECK(pid[1][1][1].subcomponent(1).raw() == "Field1");
}

TEST_CASE("round trip is exact for CR-terminated messages", "[parser][roundtrip]")
{
    for (auto const& s : hl7_test::all_samples()) {
        CAPTURE(s);
        auto const m = hl7::parse(s);
        CHECK(hl7::to_string(m) == s);
        std::ostringstream os;
        os << m;
        CHECK(os.str() == s);
    }
}

TEST_CASE("a header with nothing after MSH-2 is not mis-parsed", "[parser][roundtrip]")
{
    for (std::string s : {"MSH|^~\\&\r"s, "MSH|^~\\&\rPID|1\r"s, "MSH|^~\\&|\r"s}) {
        CAPTURE(s);
        auto const m = hl7::parse(s);
        CHECK(hl7::to_string(m) == s);
        CHECK(m["MSH.2"] == "^~\\&");
        CHECK(m["MSH.1"] == "|");
    }
    auto const m = hl7::parse("MSH|^~\\&\rPID|1\r");
    CHECK(m.segment("MSH").size() == 2);
    CHECK(m["PID.1"] == "1");
}

TEST_CASE("delimiters come from MSH-1 and MSH-2", "[parser][delimiters]")
{
    auto const m = hl7::parse(hl7_test::odd_delimiters_sample);
    auto const& d = m.delimiters();
    CHECK(d.field == '#');
    CHECK(d.component == '$');
    CHECK(d.repetition == '*');
    CHECK(d.escape == '!');
    CHECK(d.subcomponent == '%');
    CHECK(m["MSH.9.1.2"] == "A04");
    CHECK(m["MSH.10"] == "ID77");
    CHECK(m["PID.3.2.2.2"] == "S2");
    CHECK(m["PID.4"] == "#x");
    CHECK(hl7::to_string(m) == hl7_test::odd_delimiters_sample);

    SECTION("missing encoding characters default individually")
    {
        auto const a = hl7::parse("MSH|^\rPID|a~b^c&d\r");
        CHECK(a.delimiters().component == '^');
        CHECK(a.delimiters().repetition == '~');
        CHECK(a.delimiters().escape == '\\');
        CHECK(a.delimiters().subcomponent == '&');
        CHECK(a["PID.1.2.2.2"] == "d");
        auto const b = hl7::parse("MSH|$*\rPID|a*b$c&d\r");
        CHECK(b.delimiters().component == '$');
        CHECK(b.delimiters().repetition == '*');
        CHECK(b["PID.1.2.2"] == "c");
    }
    SECTION("extra characters such as the v2.7 truncation # are kept verbatim")
    {
        std::string const s = "MSH|^~\\&#|A|B\rPID|x#y\r";
        auto const t = hl7::parse(s);
        CHECK(t["MSH.2"] == "^~\\&#");
        CHECK(t["MSH.3"] == "A");
        CHECK(t["PID.1"] == "x#y");
        CHECK(hl7::to_string(t) == s);
    }
    SECTION("any byte may be the field separator")
    {
        std::string const s = "MSH\x7f^~\\&\x7f" "A\x7f" "B\rPID\x7f" "1\x7f" "2\r";
        auto const t = hl7::parse(s);
        CHECK(t["PID.2"] == "2");
        CHECK(t["MSH.4"] == "B");
        CHECK(hl7::to_string(t) == s);
    }
}

TEST_CASE("BHS and FHS are headers like MSH", "[parser]")
{
    auto const m = hl7::parse("BHS|^~\\&|APP\rMSH|^~\\&|X\r");
    CHECK(m["BHS.1"] == "|");
    CHECK(m["BHS.2"] == "^~\\&");
    CHECK(m["BHS.3"] == "APP");
    CHECK(m["MSH.3"] == "X");
}

TEST_CASE("LF and CRLF end segments unless strict, output always uses CR", "[parser][terminators]")
{
    std::string const cr = "MSH|^~\\&|A\rPID|1||X\rOBX|1\r";
    for (std::string s : {"MSH|^~\\&|A\nPID|1||X\nOBX|1\n"s, "MSH|^~\\&|A\r\nPID|1||X\r\nOBX|1\r\n"s,
                          "MSH|^~\\&|A\nPID|1||X\r\nOBX|1"s}) {
        CAPTURE(s);
        auto const m = hl7::parse(s);
        REQUIRE(m.size() == 3);
        CHECK(m["PID.3"] == "X");
        CHECK(m.segments("OBX").size() == 1);
        CHECK(hl7::to_string(m) == cr);
    }
    SECTION("strict keeps CR only: LF is data")
    {
        hl7::parse_options strict;
        strict.strict_terminators = true;
        auto const m = hl7::parse("MSH|^~\\&|A\rPID|1||X\nY\r", strict);
        REQUIRE(m.size() == 2);
        CHECK(m["PID.3"] == "X\nY");
        CHECK_THROWS_AS(hl7::parse("MSH|^~\\&|A\nPID|1\r", strict).segment("PID"), hl7::path_error);
    }
}

TEST_CASE("empty lines are skipped by default and an error when disallowed", "[parser][errors]")
{
    std::string const s = "\r\nMSH|^~\\&|A\r\rPID|1\r\n\r\n";
    auto const m = hl7::parse(s);
    CHECK(m.size() == 2);
    CHECK(hl7::to_string(m) == "MSH|^~\\&|A\rPID|1\r");
    hl7::parse_options o;
    o.allow_empty_segments = false;
    try {
        (void)hl7::parse("MSH|^~\\&|A\r\rPID|1\r", o);
        FAIL("no error");
    }
    catch (hl7::parse_error const& e) {
        CHECK(e.code() == hl7::error::empty_segment);
        CHECK(e.offset() == 11);
        CHECK(e.segment() == 2);
    }
}

TEST_CASE("non-ASCII bytes pass through untouched", "[parser][encoding]")
{
    std::string const latin1 = "MSH|^~\\&|A\rPID|1||M\xfcller^Zo\xeb\r";
    auto const a = hl7::parse(latin1);
    CHECK(a["PID.3.1"] == "M\xfcller");
    CHECK(hl7::to_string(a) == latin1);
    auto const b = hl7::parse(hl7_test::adt_sample);
    CHECK(b["PID.5.1.1"] == "Müller");
    CHECK(b["PID.5.1.2"] == "Zoë");
}

namespace {

hl7::error
parse_error_of(std::string const& s, hl7::parse_options const& o = {})
{
    try {
        (void)hl7::parse(s, o);
    }
    catch (hl7::parse_error const& e) {
        CHECK(std::string(e.what()).find("at byte") != std::string::npos);
        return static_cast<hl7::error>(e.code().value());
    }
    return hl7::error{};
}

} // namespace

TEST_CASE("malformed input gives a typed error", "[parser][errors]")
{
    CHECK(parse_error_of("") == hl7::error::empty_message);
    CHECK(parse_error_of("\r\n\r") == hl7::error::empty_message);
    CHECK(parse_error_of("M") == hl7::error::truncated_header);
    CHECK(parse_error_of("MS") == hl7::error::truncated_header);
    CHECK(parse_error_of("MSH") == hl7::error::truncated_header);
    CHECK(parse_error_of("MSH\rPID|1") == hl7::error::truncated_header);
    CHECK(parse_error_of("PID|1||2\r") == hl7::error::no_header);
    CHECK(parse_error_of("\x0bMSH|^~\\&|A\r\x1c\r") == hl7::error::no_header);
    CHECK(parse_error_of("hello world") == hl7::error::no_header);
    CHECK(parse_error_of("MSH|^^\\&|A\r") == hl7::error::invalid_delimiters);
    CHECK(parse_error_of("MSH|^~^&|A\r") == hl7::error::invalid_delimiters);
    CHECK(parse_error_of("MSH|~\r") == hl7::error::invalid_delimiters); // '~' as component collides with the default repetition
    CHECK(parse_error_of("MSH|^~\\&|A\r\x01\x02junk|x\r") == hl7::error::invalid_segment_id);
    CHECK(parse_error_of("MSH|^~\\&|A\rPIDX|1\r") == hl7::error::invalid_segment_id);
    CHECK(parse_error_of("MSH|^~\\&|A\r|1\r") == hl7::error::empty_segment);

    std::error_code ec;
    auto const m = hl7::parse("PID|1", ec);
    CHECK(ec == hl7::error::no_header);
    CHECK(m.empty());
    auto const ok = hl7::parse(hl7_test::oru_sample, ec);
    CHECK(!ec);
    CHECK(ok.size() == 4);
}

TEST_CASE("segment ids may be unvalidated on request", "[parser]")
{
    hl7::parse_options o;
    o.validate_segment_ids = false;
    auto const m = hl7::parse("MSH|^~\\&|A\rZZZZ|1\r", o);
    CHECK(m.segment("ZZZZ")[1].raw() == "1");
}

TEST_CASE("limits are enforced with clear errors", "[parser][limits]")
{
    hl7::parse_options o;
    o.max_message_size = 20;
    CHECK(parse_error_of("MSH|^~\\&|A\rPID|1234567890\r", o) == hl7::error::message_too_large);
    o = {};
    o.max_segments = 2;
    CHECK(parse_error_of("MSH|^~\\&|A\rPID|1\r", o) == hl7::error{});
    CHECK(parse_error_of("MSH|^~\\&|A\rPID|1\rPV1|1\r", o) == hl7::error::too_many_segments);
    o = {};
    o.max_fields = 3;
    CHECK(parse_error_of("MSH|^~\\&|A\rPID|1|2|3\r", o) == hl7::error{});
    CHECK(parse_error_of("MSH|^~\\&|A\rPID|1|2|3|4\r", o) == hl7::error::too_many_fields);
    // MSH-1 and MSH-2 count as fields.
    CHECK(parse_error_of("MSH|^~\\&|A\rPID|1\r", o) == hl7::error{});
    CHECK(parse_error_of("MSH|^~\\&|A|B\rPID|1\r", o) == hl7::error::too_many_fields);

    std::error_code ec;
    (void)hl7::parse(std::string(100, '|'), ec);
    CHECK(ec == hl7::error::no_header);
    CHECK(hl7::make_error_code(hl7::error::message_too_large) == std::errc::message_size);
}

TEST_CASE("every prefix of every sample parses or fails cleanly", "[parser][grind]")
{
    for (auto const& s : hl7_test::all_samples()) {
        for (std::size_t n = 0; n <= s.size(); ++n) {
            CAPTURE(n);
            std::error_code ec;
            auto const m = hl7::parse(std::string_view(s).substr(0, n), ec);
            if (ec) {
                CHECK(m.empty());
                continue;
            }
            // What parsed re-serialises to the prefix, plus a final CR when
            // the prefix ended inside a segment.
            std::string expect = s.substr(0, n);
            if (expect.back() != '\r')
                expect += '\r';
            CHECK(hl7::to_string(m) == expect);
        }
    }
}

TEST_CASE("binary junk never crashes the parser", "[parser][grind]")
{
    std::uint32_t state = 12345;
    auto next = [&] {
        state = state * 1103515245u + 12345u;
        return static_cast<char>(state >> 16);
    };
    for (int round = 0; round < 2000; ++round) {
        std::string s = round % 2 ? "MSH|^~\\&|" : "";
        std::size_t const len = static_cast<std::size_t>(round % 97);
        for (std::size_t i = 0; i < len; ++i) {
            char c = next();
            // Bias towards delimiters and terminators.
            switch (c & 7) {
            case 0: c = '|'; break;
            case 1: c = '\r'; break;
            case 2: c = '^'; break;
            default: break;
            }
            s += c;
        }
        std::error_code ec;
        auto const m = hl7::parse(s, ec);
        if (!ec) {
            auto const again = hl7::parse(hl7::to_string(m), ec);
            CHECK(!ec);
            CHECK(hl7::to_string(again) == hl7::to_string(m));
        }
    }
}

TEST_CASE("parse_into reuses a message", "[parser]")
{
    hl7::message m;
    std::error_code ec;
    std::size_t offset = 0;
    hl7::parse_into(m, hl7_test::oru_sample, ec);
    REQUIRE(!ec);
    CHECK(m["MSH.10"] == "CNTRL-3456");
    hl7::parse_into(m, "MSH|^~\\&|A\rPID|1\r", ec);
    REQUIRE(!ec);
    CHECK(m.size() == 2);
    hl7::parse_into(m, "MSH|^~\\&|A\r\rPIDX", ec, {}, &offset);
    CHECK(ec == hl7::error::invalid_segment_id);
    CHECK(offset == 12);
    CHECK(m.empty());
}
