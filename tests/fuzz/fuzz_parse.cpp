// libFuzzer target: parse arbitrary bytes as a message, then check that the
// serialisation re-parses to the same model and is a fixed point.
//
// Input: byte 0 picks the parse options (see options_from_byte), the rest is
// the message text. The scanner's 16-byte delimiter scan, which the parser
// runs on, must also find exactly what a byte-by-byte reading finds.

#include <hl7/parser/detail/scanner.hpp>
#include <hl7/parser/parse.hpp>

#include "hl7_fuzz_support.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

namespace {

using hl7_fuzz::canonical;
using hl7_fuzz::printable;

// Walks every element of both messages and compares the raw text; value()
// runs the unescaper over every piece.
void
compare_models(hl7::message const& a, hl7::message const& b)
{
    HL7_FUZZ_CHECK(a.size() == b.size(), "segment counts differ");
    HL7_FUZZ_CHECK(a.delimiters() == b.delimiters(), "delimiters differ");
    std::size_t work = 0;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        auto const sa = a.segment_at(i);
        auto const sb = b.segment_at(i);
        HL7_FUZZ_CHECK(sa.raw() == sb.raw(), printable(sa.raw()) + " vs " + printable(sb.raw()));
        HL7_FUZZ_CHECK(sa.id() == sb.id(), printable(sa.id()));
        HL7_FUZZ_CHECK(sa.size() == sb.size(), printable(sa.raw()));
        HL7_FUZZ_CHECK(sa.position() == i, "position");
        HL7_FUZZ_CHECK(sa.raw().find('\r') == std::string_view::npos, "CR inside a segment");
        for (std::size_t f = 0; f <= sa.size() + 1; ++f) {
            auto const fa = sa.field(f);
            auto const fb = sb.field(f);
            HL7_FUZZ_CHECK(fa.raw() == fb.raw(), printable(fa.raw()));
            HL7_FUZZ_CHECK(fa.present() == (f <= sa.size()), "field presence");
            HL7_FUZZ_CHECK(fa.size() == fb.size(), "repetition counts");
            if (++work > 20000)
                continue; // bounded effort on huge inputs
            (void)fa.value();
            for (std::size_t r = 1; r <= fa.size() + 1; ++r) {
                auto const ra = fa.repetition(r);
                HL7_FUZZ_CHECK(ra.raw() == fb.repetition(r).raw(), printable(ra.raw()));
                (void)ra.value();
                for (std::size_t c = 1; c <= ra.size() + 1; ++c) {
                    auto const ca = ra.component(c);
                    HL7_FUZZ_CHECK(ca.raw() == fb.repetition(r).component(c).raw(), printable(ca.raw()));
                    (void)ca.value();
                    for (std::size_t s = 1; s <= ca.size(); ++s)
                        (void)ca.subcomponent(s).value();
                }
            }
        }
    }
}

// The delimiters and line breaks of `text` from every 7th start, found by
// delimiter_scanner::scan and byte by byte, with the delimiters its header
// declares (or the defaults).
void
check_scan(std::string_view text, hl7::parse_options const& opts)
{
    hl7::separators seps;
    std::size_t header_end = 0;
    if (!hl7::detail::starts_with_header_id(text) || hl7::detail::read_delimiters(text, seps, header_end))
        seps = hl7::separators{};
    auto const breaks = hl7::detail::line_breaks::for_options(opts.strict_terminators);
    hl7::detail::delimiter_scanner const scanner(seps, breaks);
    for (std::size_t start = 0; start <= text.size() && start < 64; start += 7) {
        std::size_t expect = start; // the first byte not yet accounted for
        auto plain_up_to = [&](std::size_t at) {
            for (; expect < at; ++expect) {
                char const c = text[expect];
                HL7_FUZZ_CHECK((!seps.is_delimiter(c) || c == seps.escape) && !breaks.is_break(c),
                               "scan skipped byte " + std::to_string(expect) + " of " + printable(text));
            }
        };
        auto on = [&](std::size_t at, unsigned char cls) {
            HL7_FUZZ_CHECK(at >= expect && at < text.size(), "scan out of order in " + printable(text));
            plain_up_to(at);
            char const c = text[at];
            unsigned char const want = c == seps.field          ? hl7::detail::byte_field
                                       : c == seps.repetition   ? hl7::detail::byte_repetition
                                       : c == seps.component    ? hl7::detail::byte_component
                                       : c == seps.subcomponent ? hl7::detail::byte_subcomponent
                                       : breaks.is_break(c)     ? hl7::detail::byte_break
                                                                : hl7::detail::byte_plain;
            HL7_FUZZ_CHECK(want != hl7::detail::byte_plain && cls == want,
                           "scan class at " + std::to_string(at) + " of " + printable(text));
            expect = at + 1;
            return cls != hl7::detail::byte_break;
        };
        std::size_t const end = scanner.scan(text, start, on);
        if (end == text.size())
            plain_up_to(text.size());
        else
            HL7_FUZZ_CHECK(expect == end + 1 && breaks.is_break(text[end]), "scan stopped early in " + printable(text));
    }
}

} // namespace

extern "C" int
LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size)
{
    if (size == 0)
        return 0;
    hl7::parse_options const opts = hl7_fuzz::options_from_byte(data[0]);
    std::string_view const text(reinterpret_cast<char const*>(data) + 1, size - 1);
    check_scan(text, opts);

    std::error_code ec;
    hl7::message const m = hl7::parse(text, ec, opts);
    if (ec) {
        HL7_FUZZ_CHECK(m.empty(), "failed parse left segments behind");
        HL7_FUZZ_CHECK(ec.category() == hl7::error_category(), ec.message());
        // The throwing overload reports the same error, inside the input.
        try {
            (void)hl7::parse(text, opts);
            HL7_FUZZ_CHECK(false, "throwing parse succeeded where the ec overload failed");
        }
        catch (hl7::parse_error const& e) {
            HL7_FUZZ_CHECK(e.code() == ec, e.what());
            HL7_FUZZ_CHECK(e.offset() <= text.size(), e.what());
        }
        return 0;
    }
    HL7_FUZZ_CHECK(!m.empty(), "successful parse of nothing");

    std::string const s1 = hl7::to_string(m);
    std::size_t crs = 0;
    for (char c : s1)
        crs += c == '\r';
    HL7_FUZZ_CHECK(crs == m.size(), "every segment is followed by exactly one CR: " + printable(s1));
    HL7_FUZZ_CHECK(s1.size() <= text.size() + 1, "serialisation grew");
    if (canonical(text, opts))
        HL7_FUZZ_CHECK(s1 == text, printable(text) + "\n=> " + printable(s1));

    // The serialisation re-parses (one byte more allowed: a final CR may
    // have been added) to the same model, and is a fixed point.
    hl7::parse_options reopts = opts;
    reopts.max_message_size = opts.max_message_size + 1;
    hl7::message const m2 = hl7::parse(s1, ec, reopts);
    HL7_FUZZ_CHECK(!ec, ec.message() + " re-parsing " + printable(s1));
    HL7_FUZZ_CHECK(hl7::to_string(m2) == s1, printable(s1));
    compare_models(m, m2);

    // Parsing into a message that already holds something gives the same.
    hl7::message reused = m2;
    hl7::parse_into(reused, text, ec, opts);
    HL7_FUZZ_CHECK(!ec, ec.message());
    HL7_FUZZ_CHECK(hl7::to_string(reused) == s1, "parse_into differs");

    // Copies and moves keep the text and the views working.
    hl7::message copy = m;
    hl7::message moved = std::move(copy);
    HL7_FUZZ_CHECK(hl7::to_string(moved) == s1, "copy/move differs");
    compare_models(m, moved);
    return 0;
}
