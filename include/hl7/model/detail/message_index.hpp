#ifndef HL7_DETAIL_MESSAGE_INDEX_HPP
#define HL7_DETAIL_MESSAGE_INDEX_HPP

// The flat index a parsed message keeps over its own text. Nothing here is API.
//
// A message is one std::string plus three vectors of offsets into it:
// segments, fields (with the segment id as field 0), and "marks" - the
// positions of repetition, component and sub-component delimiters inside
// fields. Sub-field levels are ranges between marks of one kind, so the
// whole five-level tree is present without one allocation per node.

#include <hl7/model/escape.hpp>
#include <hl7/model/separators.hpp>
#include <hl7/parser/detail/scanner.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace hl7::detail {

struct segment_rec
{
    std::uint32_t begin;       // offset of the segment id
    std::uint32_t end;         // one past the last byte, before the terminator
    std::uint32_t first_field; // index into the field records
    std::uint32_t field_count; // including field 0, the segment id
};

struct field_rec
{
    std::uint32_t begin;
    std::uint32_t end;
    std::uint32_t first_mark; // index into the marks
    std::uint32_t mark_count;
};

// A mark is (offset << 2) | kind. Kinds are the level a delimiter separates.
inline constexpr std::uint32_t repetition_mark = 1;
inline constexpr std::uint32_t component_mark = 2;
inline constexpr std::uint32_t subcomponent_mark = 3;

constexpr std::uint32_t
mark_kind(std::uint32_t mark) noexcept
{
    return mark & 3u;
}

constexpr std::uint32_t
mark_offset(std::uint32_t mark) noexcept
{
    return mark >> 2;
}

// Offsets are stored in 30 bits next to the mark kind.
inline constexpr std::size_t max_indexed_size = (std::size_t{1} << 30) - 1;

// A range of the message text and the marks inside it: one field,
// repetition or component.
struct node
{
    char const* text = nullptr; // base of the message text
    std::uint32_t begin = 0;
    std::uint32_t end = 0;
    std::uint32_t const* marks = nullptr;
    std::uint32_t mark_count = 0;
    separators const* seps = nullptr;
    bool raw_only = false; // MSH-1/MSH-2: never unescaped

    std::string_view
    raw() const noexcept
    {
        return text ? std::string_view(text + begin, end - begin) : std::string_view();
    }

    std::size_t
    count(std::uint32_t kind) const noexcept
    {
        std::size_t n = 0;
        for (std::uint32_t i = 0; i < mark_count; ++i)
            n += mark_kind(marks[i]) == kind;
        return n;
    }

    // Child `index` (1-based) among the pieces separated by marks of `kind`;
    // an empty node (present() false) past the end.
    node
    child(std::uint32_t kind, std::size_t index) const noexcept
    {
        // The marks inside piece k are those between the cuts that bound it:
        // [first, last) once the piece is found.
        std::uint32_t i = 0, first = 0, last = 0;
        auto const span = nth_piece(begin, end, index, [&]() -> std::size_t {
            first = i;
            while (i < mark_count && mark_kind(marks[i]) != kind)
                ++i;
            last = i;
            return i < mark_count ? mark_offset(marks[i++]) : no_cut;
        });
        if (!span.found)
            return node{};
        node out = *this;
        out.begin = static_cast<std::uint32_t>(span.begin);
        out.end = static_cast<std::uint32_t>(span.end);
        out.marks = marks + first;
        out.mark_count = last - first;
        return out;
    }

    bool present() const noexcept { return text != nullptr; }

    // The text with escape sequences decoded ("" when absent; MSH-1/MSH-2 raw).
    std::string
    decoded() const
    {
        if (!present())
            return {};
        return raw_only ? std::string(raw()) : hl7::unescape(raw(), *seps);
    }
};

} // namespace hl7::detail

#endif
