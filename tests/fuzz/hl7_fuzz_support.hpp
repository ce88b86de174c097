#ifndef HL7_TESTS_FUZZ_SUPPORT_HPP
#define HL7_TESTS_FUZZ_SUPPORT_HPP

// Helpers shared by the libFuzzer targets: a property check that aborts (so
// libFuzzer records the input as a crash), option variants picked from input
// bytes, and a printable dump of byte strings for the failure report.

#include <hl7/parser/parse_options.hpp>
#include <hl7/model/separators.hpp>

#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace hl7_fuzz {

inline std::string
printable(std::string_view s, std::size_t limit = 400)
{
    std::string out;
    static constexpr char hex[] = "0123456789abcdef";
    for (std::size_t i = 0; i < s.size() && i < limit; ++i) {
        auto const c = static_cast<unsigned char>(s[i]);
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            out += static_cast<char>(c);
        } else {
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    if (s.size() > limit)
        out += "...";
    return out;
}

[[noreturn]] inline void
fail(char const* file, int line, char const* what, std::string const& detail)
{
    std::fprintf(stderr, "\n%s:%d: property violated: %s\n%s\n", file, line, what, detail.c_str());
    std::fflush(stderr);
    std::abort();
}

/** Parse options chosen by one byte: each bit flips one leniency, and the
    high bits pick tight limits so the limit paths are exercised too. */
inline hl7::parse_options
options_from_byte(std::uint8_t b)
{
    hl7::parse_options o;
    o.strict_terminators = (b & 1) != 0;
    o.allow_empty_segments = (b & 2) == 0;
    o.validate_segment_ids = (b & 4) == 0;
    switch ((b >> 3) & 7) {
    case 1: o.max_segments = 3; break;
    case 2: o.max_fields = 4; break;
    case 3: o.max_message_size = 64; break;
    case 4: o.max_segments = 1; o.max_fields = 1; break;
    default: break;
    }
    return o;
}

/** False for delimiters that are letters, digits or '.': those collide with
    escape sequence names (\F\, \X0D\, \.br\), so escaping cannot be exact
    (reported; separators::valid() accepts them). */
inline bool
escape_safe(hl7::separators const& s)
{
    for (char c : {s.field, s.component, s.repetition, s.escape, s.subcomponent})
        if (std::isalnum(static_cast<unsigned char>(c)) || c == '.')
            return false;
    return true;
}

// True when parsing `text` loses nothing, so serialising must give it back
// byte for byte: CR-terminated segments, no blank lines, no LF acting as a
// terminator.
inline bool
canonical(std::string_view text, hl7::parse_options const& o)
{
    if (text.empty() || text.back() != '\r' || text.front() == '\r')
        return false;
    if (text.find("\r\r") != std::string_view::npos)
        return false;
    if (!o.strict_terminators && text.find('\n') != std::string_view::npos)
        return false;
    return true;
}

} // namespace hl7_fuzz

#define HL7_FUZZ_CHECK(cond, detail)                                       \
    do {                                                                   \
        if (!(cond))                                                       \
            ::hl7_fuzz::fail(__FILE__, __LINE__, #cond, (detail));         \
    } while (false)

#endif
