#ifndef HL7_DETAIL_MESSAGE_BUILDER_HPP
#define HL7_DETAIL_MESSAGE_BUILDER_HPP

// The parse engine: one pass over a message's text that fills its flat index.
// Used by hl7::parse and by the editing functions, which re-index the one
// segment they rewrite. Nothing here is API.

#include <hl7/model/detail/message_index.hpp>
#include <hl7/model/error.hpp>
#include <hl7/parser/parse_options.hpp>
#include <hl7/model/separators.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <system_error>

namespace hl7 {
class message;
} // namespace hl7

namespace hl7::detail {

// Byte classes for the scanning loop.
enum : unsigned char {
    byte_plain = 0,
    byte_field,
    byte_repetition,
    byte_component,
    byte_subcomponent,
    byte_terminator, // CR, or LF unless strict
    byte_nul,        // possibly the end sentinel
};

struct byte_table
{
    unsigned char cls[256];

    byte_table(separators const& s, bool strict_terminators) noexcept
    {
        std::memset(cls, byte_plain, sizeof cls);
        cls[static_cast<unsigned char>(s.field)] = byte_field;
        cls[static_cast<unsigned char>(s.repetition)] = byte_repetition;
        cls[static_cast<unsigned char>(s.component)] = byte_component;
        cls[static_cast<unsigned char>(s.subcomponent)] = byte_subcomponent;
        cls[static_cast<unsigned char>('\r')] = byte_terminator;
        if (!strict_terminators)
            cls[static_cast<unsigned char>('\n')] = byte_terminator;
        cls[0] = byte_nul;
    }
};

inline bool
is_header_id(char const* p) noexcept
{
    return (p[0] == 'M' && p[1] == 'S' && p[2] == 'H') || (p[0] == 'B' && p[1] == 'H' && p[2] == 'S') ||
           (p[0] == 'F' && p[1] == 'H' && p[2] == 'S');
}

inline bool
is_id_char(char c) noexcept
{
    return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z');
}

struct parse_failure
{
    std::error_code ec;
    std::size_t offset = 0;
    std::size_t segment = 0;
};

/** Reads the delimiters of the header segment starting at `p` (which must
    begin with MSH, BHS or FHS, with at least 3 bytes available). */
inline std::error_code
read_delimiters(char const* p, std::size_t n, separators& out, std::size_t& header_fields_end) noexcept
{
    if (n < 4 || p[3] == '\r' || p[3] == '\n')
        return make_error_code(error::truncated_header);
    separators s;
    s.field = p[3];
    std::size_t i = 4;
    char enc[4] = {'^', '~', '\\', '&'};
    std::size_t k = 0;
    while (i < n && p[i] != s.field && p[i] != '\r' && p[i] != '\n') {
        if (k < 4)
            enc[k] = p[i];
        ++k;
        ++i;
    }
    s.component = enc[0];
    s.repetition = enc[1];
    s.escape = enc[2];
    s.subcomponent = enc[3];
    if (!s.valid())
        return make_error_code(error::invalid_delimiters);
    out = s;
    header_fields_end = i;
    return {};
}

struct message_builder
{
    // Index one segment of m.text_ starting at `begin` and ending at the
    // first terminator or the end of the text. Returns the offset where the
    // segment ended. On error, `fail` is set.
    static std::size_t index_segment(message& m, byte_table const& table, std::size_t begin,
                                     parse_options const& opts, parse_failure& fail);

    static parse_failure parse(message& m, std::string_view text, parse_options const& opts);

    // As parse(), but the message takes `text`'s buffer instead of copying
    // it; on failure `text` is left as it was. Defined in parser/parse.hpp.
    static parse_failure adopt(message& m, std::string& text, parse_options const& opts);

    // Append `text` (one segment) to the message text and index it; the new
    // record is returned, not inserted into the segment list.
    static segment_rec append_indexed(message& m, std::string_view text, parse_failure& fail);
};

} // namespace hl7::detail

#endif
