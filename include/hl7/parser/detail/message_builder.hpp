#ifndef HL7_DETAIL_MESSAGE_BUILDER_HPP
#define HL7_DETAIL_MESSAGE_BUILDER_HPP

// The parse engine: one pass over a message's text that fills its flat index.
// Used by hl7::parse and by the editing functions, which re-index the one
// segment they rewrite. Nothing here is API.

#include <hl7/model/detail/message_index.hpp>
#include <hl7/model/error.hpp>
#include <hl7/model/separators.hpp>
#include <hl7/parser/detail/scanner.hpp>
#include <hl7/parser/parse_options.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
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
    line_breaks breaks;

    byte_table(separators const& s, bool strict_terminators) noexcept
        : breaks(line_breaks::for_options(strict_terminators))
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

struct parse_failure
{
    std::error_code ec;
    std::size_t offset = 0;
    std::size_t segment = 0;
};

struct message_builder
{
    // Index one segment of m.text_ starting at `begin` and ending at the
    // first terminator or the end of the text. Returns the offset where the
    // segment ended. On error, `fail` is set.
    static std::size_t index_segment(message& m, byte_table const& table, std::size_t begin,
                                     parse_options const& opts, parse_failure& fail);

    static parse_failure parse(message& m, std::string_view text, parse_options const& opts);

    // Append `text` (one segment) to the message text and index it; the new
    // record is returned, not inserted into the segment list.
    static segment_rec append_indexed(message& m, std::string_view text, parse_failure& fail);
};

} // namespace hl7::detail

#endif
