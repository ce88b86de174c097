#ifndef HL7_DETAIL_MESSAGE_BUILDER_HPP
#define HL7_DETAIL_MESSAGE_BUILDER_HPP

// The parse engine: one pass over a message's text that fills its flat index,
// reading the text through the scanner's rules (parser/detail/scanner.hpp).
// Used by hl7::parse and by the editing functions, which re-index the one
// segment they rewrite. Nothing here is API.

#include <hl7/model/detail/message_index.hpp>
#include <hl7/model/error.hpp>
#include <hl7/model/separators.hpp>
#include <hl7/parser/detail/scanner.hpp>
#include <hl7/parser/parse_options.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace hl7 {
class message;
} // namespace hl7

namespace hl7::detail {

struct parse_failure
{
    std::error_code ec;
    std::size_t offset = 0;
    std::size_t segment = 0;
};

// Records the fields and sub-field marks of one segment as the scanner
// finds their delimiters; stops at the line break, or after one field too
// many (the caller then reports too_many_fields).
struct field_indexer
{
    std::vector<field_rec>& fields;
    std::vector<std::uint32_t>& marks;
    std::size_t field_start;
    std::uint32_t mark_start;
    std::size_t field_limit;

    static_assert(byte_repetition - byte_field == repetition_mark && byte_component - byte_field == component_mark &&
                      byte_subcomponent - byte_field == subcomponent_mark,
                  "a delimiter's byte class gives its mark kind");

    HL7_DETAIL_ALWAYS_INLINE bool
    operator()(std::size_t at, unsigned char cls)
    {
        if (cls == byte_field) {
            finish(at);
            field_start = at + 1;
            mark_start = static_cast<std::uint32_t>(marks.size());
            return fields.size() <= field_limit;
        }
        if (cls == byte_break)
            return false;
        marks.push_back((static_cast<std::uint32_t>(at) << 2) | static_cast<std::uint32_t>(cls - byte_field));
        return true;
    }

    // The field that the delimiter or line break (or the end of the text) at `at` ends.
    HL7_DETAIL_ALWAYS_INLINE void
    finish(std::size_t at)
    {
        // Written in place: a field_rec built first and copied in was four
        // 4-byte stores read back as one 16-byte load, which the store
        // buffer cannot forward (clang -O2 lost ~20% of its parse speed there).
        field_rec& f = fields.emplace_back();
        f.begin = static_cast<std::uint32_t>(field_start);
        f.end = static_cast<std::uint32_t>(at);
        f.first_mark = mark_start;
        f.mark_count = static_cast<std::uint32_t>(marks.size()) - mark_start;
    }
};

struct message_builder
{
    // Index one segment of m.text_ starting at `begin` and ending at the
    // first terminator or the end of the text. Returns the offset where the
    // segment ended. On error, `fail` is set.
    HL7_DETAIL_FLATTEN static std::size_t index_segment(message& m, delimiter_scanner const& scanner, std::size_t begin,
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
