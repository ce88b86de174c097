// The text scanner (parser/detail/scanner.hpp): the one implementation of
// line breaks, segment ids, header delimiters, pieces and the delimiter scan
// that the parser, locate, batches and the model's editing and ACK code use.
#include <hl7/parser/detail/scanner.hpp>

#include <hl7/model/error.hpp>
#include <hl7/parser/parse.hpp>

#include <catch2/catch.hpp>

#include <cstddef>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

using namespace std::string_literals;
using hl7::detail::line_breaks;

namespace {

// The lines for_each_line reports, as "content" strings.
std::vector<std::string>
lines_of(std::string_view text, line_breaks b)
{
    std::vector<std::string> out;
    hl7::detail::for_each_line(text, b, [&](hl7::detail::line const& l) {
        out.emplace_back(text.substr(l.begin, l.end - l.begin));
        return true;
    });
    return out;
}

using strings = std::vector<std::string>;

} // namespace

TEST_CASE("scanner: lines end at CR, LF or CRLF, or at CR only when strict", "[scanner]")
{
    auto const any = line_breaks::any();
    auto const strict = line_breaks::for_options(true);
    CHECK(lines_of("A\rB\nC\r\nD", any) == strings{"A", "B", "C", "D"});
    CHECK(lines_of("A\r\rB\n\n", any) == strings{"A", "", "B", ""});
    CHECK(lines_of("A\rB\nC\r\nD", strict) == strings{"A", "B\nC", "\nD"});
    CHECK(lines_of("", any).empty());
    CHECK(lines_of("\r", any) == strings{""});

    CHECK(hl7::detail::find_break("ABC\nD\r", 0, any) == 3);
    CHECK(hl7::detail::find_break("ABC\nD\r", 0, strict) == 5);
    CHECK(hl7::detail::find_break("ABC", 1, any) == 3);
    CHECK(hl7::detail::find_break("ABC", 7, any) == 3);
    CHECK(hl7::detail::skip_breaks("\r\n\n\rX", 0, any) == 4);
    CHECK(hl7::detail::skip_breaks("\r\n\n\rX", 0, strict) == 1);
    CHECK(hl7::detail::break_size("\r\n", 0, any) == 2);
    CHECK(hl7::detail::break_size("\r\n", 0, strict) == 1);
    CHECK(hl7::detail::break_size("\r", 0, any) == 1);
    CHECK(hl7::detail::break_size("\n\r", 0, any) == 1);
}

TEST_CASE("scanner: locate's rule takes the terminator style from the first line", "[scanner]")
{
    // First line in CR (or CRLF): CR and CRLF end lines, a lone LF is data.
    auto const cr = line_breaks::detect("MSH|^~\\&|A\rPID|x\ny\r\nPV1", 4);
    CHECK(lines_of("MSH|^~\\&|A\rPID|x\ny\r\nPV1", cr) == strings{"MSH|^~\\&|A", "PID|x\ny", "PV1"});
    // First line in LF: LF ends lines, a CR is data.
    auto const lf = line_breaks::detect("MSH|^~\\&|A\nPID|x\ry\n", 4);
    CHECK(lines_of("MSH|^~\\&|A\nPID|x\ry\n", lf) == strings{"MSH|^~\\&|A", "PID|x\ry"});
    // No break at all: CR.
    CHECK(line_breaks::detect("MSH|^~\\&|A", 4).cr);
    CHECK(!line_breaks::detect("MSH|^~\\&|A", 4).lf);
}

TEST_CASE("scanner: segment ids, including field separators that are letters", "[scanner]")
{
    using hl7::detail::segment_id_length;
    auto const any = line_breaks::any();
    CHECK(segment_id_length("PID|1|2", '|', any) == 3);
    CHECK(segment_id_length("PID", '|', any) == 3);
    CHECK(segment_id_length("PID\rX", '|', any) == 3);
    CHECK(segment_id_length("ZPIDX|1", '|', any) == 5); // too long: runs to the separator
    CHECK(segment_id_length("P D|1", '|', any) == 3);   // not letters or digits: same
    CHECK(segment_id_length("|1", '|', any) == 0);
    CHECK(segment_id_length("AB\rC", '|', any) == 2);
    // A letter or digit field separator does not split an id it occurs in...
    CHECK(segment_id_length("MSHS^~\\&SAPP", 'S', any) == 3);
    CHECK(segment_id_length("PIDP1P2", 'P', any) == 3);
    CHECK(segment_id_length("PID1", '1', any) == 3);
    // ... but an id that is not three characters followed by it ends at its first occurrence.
    CHECK(segment_id_length("PXDP1", 'X', any) == 1);
    // A break byte that is data belongs to the id.
    CHECK(segment_id_length("PI\nD|", '|', line_breaks::for_options(true)) == 4);

    CHECK(hl7::detail::is_valid_segment_id("OBX"));
    CHECK(hl7::detail::is_valid_segment_id("zz1"));
    CHECK(!hl7::detail::is_valid_segment_id("OB"));
    CHECK(!hl7::detail::is_valid_segment_id("OBXX"));
    CHECK(!hl7::detail::is_valid_segment_id("O-X"));
    CHECK(hl7::detail::is_header_id("MSH"));
    CHECK(hl7::detail::is_header_id("BHS"));
    CHECK(hl7::detail::is_header_id("FHS"));
    CHECK(!hl7::detail::is_header_id("MSHX"));
    CHECK(!hl7::detail::is_header_id("BTS"));
    CHECK(hl7::detail::starts_with_header_id("MSH|^~"));
    CHECK(!hl7::detail::starts_with_header_id("MS"));
}

TEST_CASE("scanner: header delimiters", "[scanner]")
{
    hl7::separators s;
    std::size_t end = 0;
    CHECK(!hl7::detail::read_delimiters("MSH#$%*@#APP", s, end));
    CHECK(s.field == '#');
    CHECK(s.encoding_characters() == "$%*@");
    CHECK(end == 8);

    // Encoding characters left out keep their defaults; extra ones are ignored.
    CHECK(!hl7::detail::read_delimiters("MSH|^", s, end));
    CHECK(s.encoding_characters() == "^~\\&");
    CHECK(end == 5);
    CHECK(!hl7::detail::read_delimiters("MSH|^~\\&!!|A\r", s, end));
    CHECK(end == 10);

    CHECK(hl7::detail::read_delimiters("MSH", s, end) == hl7::error::truncated_header);
    CHECK(hl7::detail::read_delimiters("MSH\rPID", s, end) == hl7::error::truncated_header);
    CHECK(hl7::detail::read_delimiters("MSH|^^\\&", s, end) == hl7::error::invalid_delimiters);
}

TEST_CASE("scanner: the n-th piece of a value", "[scanner]")
{
    using hl7::detail::piece;
    CHECK(piece("a^b^^d", '^', 1) == "a");
    CHECK(piece("a^b^^d", '^', 2) == "b");
    CHECK(piece("a^b^^d", '^', 3).empty());
    CHECK(piece("a^b^^d", '^', 4) == "d");
    CHECK(piece("a^b^^d", '^', 5).data() == nullptr); // past the end: absent
    CHECK(piece("", '^', 1).empty());
    CHECK(piece("a^b", '^', 0).data() == nullptr);

    auto const span = hl7::detail::find_piece("ID|a^b|c", 3, 6, '^', 4);
    CHECK(!span.found);
    CHECK(span.pieces == 2); // what ensure_child appends separators for
    auto const inner = hl7::detail::find_piece("ID|a^b|c", 3, 6, '^', 2);
    CHECK(inner.found);
    CHECK(inner.begin == 5);
    CHECK(inner.end == 6);

    // Any source of separator positions: here a list, as the model's marks are.
    std::vector<std::size_t> cuts{2, 5};
    std::size_t next = 0;
    auto const from_list = hl7::detail::nth_piece(0, 9, 3, [&] { return next < cuts.size() ? cuts[next++] : hl7::detail::no_cut; });
    CHECK(from_list.found);
    CHECK(from_list.begin == 6);
    CHECK(from_list.end == 9);
}

TEST_CASE("scanner: fields of a segment's text", "[scanner]")
{
    using hl7::detail::segment_field;
    std::string_view const msh = "MSH|^~\\&|APP|FAC";
    CHECK(segment_field(msh, 3, '|', 0) == "MSH");
    CHECK(segment_field(msh, 3, '|', 1) == "|");
    CHECK(segment_field(msh, 3, '|', 2) == "^~\\&");
    CHECK(segment_field(msh, 3, '|', 3) == "APP");
    CHECK(segment_field(msh, 3, '|', 4) == "FAC");
    CHECK(segment_field(msh, 3, '|', 5).empty());
    CHECK(segment_field("PID|1||X", 3, '|', 3) == "X");
    CHECK(segment_field("PID", 3, '|', 1).empty());
    // Split after the id: the separator 'S' also occurs in "MSH".
    CHECK(segment_field("MSHS^~\\&SAPPSFAC", 3, 'S', 3) == "APP");
    CHECK(segment_field("MSHS^~\\&SAPPSFAC", 3, 'S', 4) == "FAC");
    CHECK(hl7::detail::field_piece(3, true) == 2);
    CHECK(hl7::detail::field_piece(3, false) == 3);
}

TEST_CASE("scanner: the delimiter scan finds what a byte-by-byte reading finds", "[scanner]")
{
    // Every length around the 16-byte blocks, every delimiter class, NUL
    // bytes as data, and stops at chosen delimiters.
    std::mt19937 rng(20240521);
    std::string const alphabet = "abc|^~&\\\r\n\0 "s;
    hl7::separators const seps;
    for (bool strict : {false, true}) {
        auto const breaks = line_breaks::for_options(strict);
        hl7::detail::delimiter_scanner const scanner(seps, breaks);
        for (int round = 0; round < 3000; ++round) {
            std::string text(rng() % 70, 'x');
            for (auto& c : text)
                if (rng() % 3 == 0)
                    c = alphabet[rng() % alphabet.size()];
            std::size_t const start = text.empty() ? 0 : rng() % (text.size() + 1);
            std::size_t const stop_after = rng() % 8; // refuse the k-th delimiter (8: none, mostly)

            std::vector<std::pair<std::size_t, unsigned char>> want;
            std::size_t want_end = text.size();
            for (std::size_t i = start; i < text.size(); ++i) {
                char const c = text[i];
                unsigned char cls = hl7::detail::byte_plain;
                if (c == seps.field)
                    cls = hl7::detail::byte_field;
                else if (c == seps.repetition)
                    cls = hl7::detail::byte_repetition;
                else if (c == seps.component)
                    cls = hl7::detail::byte_component;
                else if (c == seps.subcomponent)
                    cls = hl7::detail::byte_subcomponent;
                else if (breaks.is_break(c))
                    cls = hl7::detail::byte_break;
                if (cls == hl7::detail::byte_plain)
                    continue;
                want.emplace_back(i, cls);
                if (want.size() == stop_after + 1 && stop_after < 7) {
                    want_end = i;
                    break;
                }
            }

            std::vector<std::pair<std::size_t, unsigned char>> got;
            auto on = [&](std::size_t at, unsigned char cls) {
                got.emplace_back(at, cls);
                return !(got.size() == stop_after + 1 && stop_after < 7);
            };
            std::size_t const got_end = scanner.scan(text, start, on);
            CAPTURE(text, start, strict, stop_after);
            CHECK(got == want);
            CHECK(got_end == want_end);
        }
    }
}

TEST_CASE("scanner: NUL bytes are data to the parser", "[scanner]")
{
    std::string const text = "MSH|^~\\&|A\0B|C\rPID|1|\0\0|x^\0\r"s;
    auto const m = hl7::parse(text);
    CHECK(m.size() == 2);
    CHECK(m.segment("MSH")[3].raw() == "A\0B"s);
    CHECK(m.segment("PID")[2].raw() == "\0\0"s);
    CHECK(m.segment("PID")[3][1][2].raw() == "\0"s);
    CHECK(hl7::to_string(m) == text);
}

TEST_CASE("scanner: parse errors say where they are", "[scanner]")
{
    CHECK(hl7::error_position(42, 3) == "at byte 42 (segment 3)");
    CHECK(hl7::error_position(0, 0) == "at byte 0");

    // too_many_fields names the separator that ends the first field too many.
    hl7::parse_options o;
    o.max_fields = 3;
    std::error_code ec;
    std::size_t offset = 0;
    hl7::message m;
    hl7::parse_into(m, "MSH|^~\\&|A\rPID|1|2|3|4|5\r", ec, o, &offset);
    CHECK(ec == hl7::error::too_many_fields);
    CHECK(offset == 22);
    try {
        (void)hl7::parse("MSH|^~\\&|A\rPID|1|2|3|4|5\r", o);
        FAIL("no exception");
    }
    catch (hl7::parse_error const& e) {
        CHECK(std::string(e.what()).starts_with(e.code().message() + " at byte 22 (segment 2)"));
        CHECK(e.segment() == 2);
    }
}
