// libFuzzer target: escape / unescape.
//
// Input: five bytes of delimiters, a selector byte, then text. unescape()
// must accept anything; escape() must produce text free of structural
// delimiters and terminators that unescapes back to the exact input.

#include <hl7/model/escape.hpp>
#include <hl7/model/separators.hpp>

#include "hl7_fuzz_support.hpp"

#include <cctype>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

using hl7_fuzz::printable;


} // namespace

extern "C" int
LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size)
{
    if (size < 6)
        return 0;
    hl7::separators seps;
    if (data[5] & 1) {
        seps.field = static_cast<char>(data[0]);
        seps.component = static_cast<char>(data[1]);
        seps.repetition = static_cast<char>(data[2]);
        seps.escape = static_cast<char>(data[3]);
        seps.subcomponent = static_cast<char>(data[4]);
        if (!seps.valid())
            seps = hl7::separators{};
    }
    std::string_view const text(reinterpret_cast<char const*>(data) + 6, size - 6);

    // Anything unescapes without trouble, and into bounded output: no
    // sequence expands by more than max_escape_repeat times its 4-byte
    // replacement.
    std::string const plain = hl7::unescape(text, seps);
    HL7_FUZZ_CHECK(plain.size() <= text.size() * (4 * hl7::max_escape_repeat + 1) + 1, printable(text));

    // With an application table too (names and replacements from the input).
    if (data[5] & 2) {
        hl7::escape_map app;
        std::size_t const cut = text.size() / 3;
        app.emplace(std::string(text.substr(0, cut % 5)), std::string(text.substr(cut, cut % 7)));
        app.emplace(".zz", "<z>");
        app.emplace("H", "<b>");
        (void)hl7::unescape(text, seps, app);
        (void)hl7::escape(text, seps, app);
    }

    // escape() is exact: every byte string round-trips, for every valid
    // delimiter set (escape.hpp falls back to \Xhh\ where a name would
    // contain the escape character).
    std::string const escaped = hl7::escape(text, seps);
    std::string const back = hl7::unescape(escaped, seps);
    HL7_FUZZ_CHECK(back == text, printable(text) + "\n escaped " + printable(escaped) + "\n back " + printable(back));
    // With letter or digit delimiters, escape sequence names (\F\, \X0D\,
    // \.br\) can themselves contain delimiters, so only other delimiters
    // promise escaped text free of structural bytes (see escape_safe).
    if (hl7_fuzz::escape_safe(seps)) {
        for (char c : escaped) {
            HL7_FUZZ_CHECK(c != seps.field && c != seps.component && c != seps.repetition &&
                               c != seps.subcomponent && c != '\r' && c != '\n',
                           "structural byte in escaped text: " + printable(escaped));
        }
        HL7_FUZZ_CHECK(hl7::escape(hl7::unescape(escaped, seps), seps) == escaped, printable(escaped));
        // Unescaping text that already holds delimiters keeps them: the
        // delimiters survive a round trip through escape.
        std::string const again = hl7::escape(plain, seps);
        HL7_FUZZ_CHECK(hl7::unescape(again, seps) == plain, printable(text));
    }
    return 0;
}
