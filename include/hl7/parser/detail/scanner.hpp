#ifndef HL7_PARSER_DETAIL_SCANNER_HPP
#define HL7_PARSER_DETAIL_SCANNER_HPP

// The text rules of HL7 v2, each written once: which bytes end a line, what
// a segment id is, where a header declares its delimiters, which piece of a
// value a position names, and the byte classes the parse engine scans for.
// The parse engine (message_builder), locate, batches, paths and the
// model's editing and ACK code read text only through these. Nothing here
// is API.

#include <hl7/model/error.hpp>
#include <hl7/model/separators.hpp>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <cstddef>
#include <cstring>
#include <string_view>
#include <system_error>

// Where the parse engine's speed depends on inlining, it is forced: at -O2
// (RelWithDebInfo, what distributions build) GCC 12 leaves the per-delimiter
// step and std::vector::push_back as calls, and parses about 30% slower
// than at -O3.
#if defined(__GNUC__)
#define HL7_DETAIL_ALWAYS_INLINE [[gnu::always_inline]] inline
#define HL7_DETAIL_FLATTEN [[gnu::flatten]]
#else
#define HL7_DETAIL_ALWAYS_INLINE inline
#define HL7_DETAIL_FLATTEN
#endif

namespace hl7::detail {

//--------------------------------------------------------------------------
// Line breaks

/** Which bytes end a line (a segment). */
struct line_breaks
{
    bool cr = true;   // CR ends a line
    bool lf = true;   // LF ends a line
    bool crlf = true; // CR followed by LF is one break (else a break and an empty line, or an LF of data)

    /// CR, LF or CRLF: the parser's default.
    static constexpr line_breaks
    any() noexcept
    {
        return {true, true, true};
    }

    /// As hl7::parse_options::strict_terminators asks: CR only, LF is data.
    static constexpr line_breaks
    for_options(bool strict_terminators) noexcept
    {
        return strict_terminators ? line_breaks{true, false, false} : any();
    }

    /** locate's rule, taken from the first break at or after `from`: a first
        line that ends in CR means CR or CRLF end lines and an LF alone is
        data (so CR-terminated messages may carry LF in their values); one
        that ends in LF means LF ends lines and a CR is data; no break at all
        reads as CR. */
    static constexpr line_breaks
    detect(std::string_view text, std::size_t from) noexcept
    {
        for (std::size_t i = from; i < text.size(); ++i)
            if (text[i] == '\n')
                return {false, true, false};
            else if (text[i] == '\r')
                break;
        return {true, false, true};
    }

    constexpr bool
    is_break(char c) const noexcept
    {
        return (c == '\r' && cr) || (c == '\n' && lf);
    }
};

/// Length of the break at `text[pos]` (a break byte): 2 for a CRLF read as one, else 1.
constexpr std::size_t
break_size(std::string_view text, std::size_t pos, line_breaks b) noexcept
{
    return text[pos] == '\r' && b.crlf && pos + 1 < text.size() && text[pos + 1] == '\n' ? 2 : 1;
}

/// The first line break at or after `pos`, or text.size().
inline std::size_t
find_break(std::string_view text, std::size_t pos, line_breaks b) noexcept
{
    if (pos >= text.size())
        return text.size();
    if (b.cr != b.lf) {
        // One break byte: memchr is the fastest scan there is.
        auto const* hit = static_cast<char const*>(std::memchr(text.data() + pos, b.cr ? '\r' : '\n', text.size() - pos));
        return hit ? static_cast<std::size_t>(hit - text.data()) : text.size();
    }
    if (!b.cr)
        return text.size();
    while (pos < text.size() && !b.is_break(text[pos]))
        ++pos;
    return pos;
}

/// The first byte at or after `pos` that is not a line break: past empty lines.
constexpr std::size_t
skip_breaks(std::string_view text, std::size_t pos, line_breaks b) noexcept
{
    while (pos < text.size() && b.is_break(text[pos]))
        ++pos;
    return pos;
}

/// One line of a text: its content [begin, end), and where the next line starts.
struct line
{
    std::size_t begin;
    std::size_t end;
    std::size_t next;
};

/// The line that starts at `pos`; the next one starts after one break.
inline line
line_at(std::string_view text, std::size_t pos, line_breaks b) noexcept
{
    std::size_t const end = find_break(text, pos, b);
    return {pos, end, end < text.size() ? end + break_size(text, end, b) : end};
}

/** Calls `f(line)` for every line of `text`, empty ones included, until it
    returns false. */
template<class F>
void
for_each_line(std::string_view text, line_breaks b, F&& f)
{
    for (std::size_t pos = 0; pos < text.size();) {
        line const l = line_at(text, pos, b);
        if (!f(l))
            return;
        pos = l.next;
    }
}

//--------------------------------------------------------------------------
// Segment ids and fields

constexpr bool
is_id_char(char c) noexcept
{
    return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z');
}

/// Three ASCII letters or digits (what parse_options::validate_segment_ids asks for).
constexpr bool
is_valid_segment_id(std::string_view id) noexcept
{
    return id.size() == 3 && is_id_char(id[0]) && is_id_char(id[1]) && is_id_char(id[2]);
}

/// MSH, BHS or FHS: the segments whose fields 1 and 2 declare the delimiters.
constexpr bool
is_header_id(std::string_view id) noexcept
{
    return id.size() == 3 && ((id[0] == 'M' && id[1] == 'S' && id[2] == 'H') ||
                              ((id[0] == 'B' || id[0] == 'F') && id[1] == 'H' && id[2] == 'S'));
}

/// True when `text` begins with MSH, BHS or FHS.
constexpr bool
starts_with_header_id(std::string_view text) noexcept
{
    return is_header_id(text.substr(0, 3));
}

/// The first field separator or line break at or after `pos`, or text.size(): where a field ends.
constexpr std::size_t
field_end(std::string_view text, std::size_t pos, char field_sep, line_breaks b) noexcept
{
    while (pos < text.size() && text[pos] != field_sep && !b.is_break(text[pos]))
        ++pos;
    return pos;
}

/** The length of the segment id at the start of `text` (a segment, possibly
    followed by more text).

    Three letters or digits followed by the field separator, a line break or
    the end are the id, even when the field separator is itself a letter or
    digit that occurs in them ("MSHS^~\&S..." declares 'S'). Anything else
    runs to the first field separator or line break, an id that
    parse_options::validate_segment_ids rejects (and that is empty when the
    segment starts with the field separator).
*/
constexpr std::size_t
segment_id_length(std::string_view text, char field_sep, line_breaks b) noexcept
{
    if (is_valid_segment_id(text.substr(0, 3)) && field_end(text, 3, field_sep, b) == 3)
        return 3;
    return field_end(text, 0, field_sep, b);
}

/** Reads the delimiters declared by the header segment at the start of
    `text` (which begins with MSH, BHS or FHS). `header_fields_end` receives
    the offset where MSH-2 ends. */
inline std::error_code
read_delimiters(std::string_view text, separators& out, std::size_t& header_fields_end) noexcept
{
    if (text.size() < 4 || line_breaks::any().is_break(text[3]))
        return make_error_code(error::truncated_header);
    separators s;
    s.field = text[3];
    std::size_t const end = field_end(text, 4, s.field, line_breaks::any());
    // Encoding characters left out keep their defaults; extra ones are ignored.
    char* const slots[4] = {&s.component, &s.repetition, &s.escape, &s.subcomponent};
    for (std::size_t k = 0; k < 4 && 4 + k < end; ++k)
        *slots[k] = text[4 + k];
    if (!s.valid())
        return make_error_code(error::invalid_delimiters);
    out = s;
    header_fields_end = end;
    return {};
}

//--------------------------------------------------------------------------
// Pieces: the n-th part of a value split by a separator

inline constexpr std::size_t no_cut = std::string_view::npos;

/// Where a piece lies; `found` false past the last piece, with `pieces` the number there are.
struct piece_span
{
    std::size_t begin;
    std::size_t end;
    std::size_t pieces;
    bool found;
};

/** Piece `index` (1-based) of the range [begin, end), cut at the separator
    positions `next_cut()` returns in increasing order (no_cut after the
    last). Fields, repetitions, components and sub-components are all
    pieces, whether the separators are found in text or in the index. */
template<class NextCut>
HL7_DETAIL_ALWAYS_INLINE constexpr piece_span
nth_piece(std::size_t begin, std::size_t end, std::size_t index, NextCut&& next_cut)
{
    std::size_t start = begin;
    for (std::size_t seen = 1;; ++seen) {
        std::size_t const cut = next_cut();
        if (seen == index)
            return {start, cut == no_cut ? end : cut, seen, true};
        if (cut == no_cut)
            return {end, end, seen, false};
        start = cut + 1;
    }
}

/// Where piece `index` (1-based) of text[begin, end) split on `sep` lies.
constexpr piece_span
find_piece(std::string_view text, std::size_t begin, std::size_t end, char sep, std::size_t index) noexcept
{
    std::string_view const range = text.substr(0, end);
    std::size_t from = begin;
    return nth_piece(begin, end, index, [&] {
        std::size_t const at = range.find(sep, from);
        if (at != std::string_view::npos)
            from = at + 1;
        return at; // npos is no_cut
    });
}

/// Piece `index` (1-based) of `text` split on `sep`; empty past the end.
constexpr std::string_view
piece(std::string_view text, char sep, std::size_t index) noexcept
{
    auto const span = find_piece(text, 0, text.size(), sep, index);
    return span.found ? text.substr(span.begin, span.end - span.begin) : std::string_view();
}

/** Which piece after the segment id field `field` (>= 1) is: in a header,
    field 1 is the field separator itself, so piece k is field k+1. */
constexpr std::size_t
field_piece(std::size_t field, bool header) noexcept
{
    return header ? field - 1 : field;
}

/** Field `field` of the segment text `seg` (no line break in it) whose id
    is `id_length` bytes long, raw: field 0 is the id, and in a header
    field 1 the field separator. Fields are split after the id, since a
    letter used as field separator may occur in it. Empty past the end. */
constexpr std::string_view
segment_field(std::string_view seg, std::size_t id_length, char field_sep, std::size_t field) noexcept
{
    bool const header = is_header_id(seg.substr(0, id_length));
    if (field == 0)
        return seg.substr(0, id_length);
    if (header && field == 1)
        return seg.substr(id_length, 1);
    std::string_view const rest = id_length < seg.size() ? seg.substr(id_length + 1) : std::string_view();
    return piece(rest, field_sep, field_piece(field, header));
}

//--------------------------------------------------------------------------
// Byte classes and the delimiter scan of the parse engine

enum byte_class : unsigned char {
    byte_plain = 0,
    byte_field,
    byte_repetition,
    byte_component,
    byte_subcomponent,
    byte_break, // a line break (CR; LF unless it is data)
};

/** Finds the delimiters and line breaks of a message's text: a byte table
    for single bytes, and 16 bytes at a time where SSE2 is available.

    HL7 fields are short (a delimiter every 5 to 10 bytes), so the scan
    hands every delimiter of a 16-byte block to its caller from one bit mask
    rather than stopping per byte. */
class delimiter_scanner
{
public:
    delimiter_scanner(separators const& s, line_breaks b) noexcept : breaks_(b)
    {
        std::memset(cls_, byte_plain, sizeof cls_);
        cls_[static_cast<unsigned char>(s.field)] = byte_field;
        cls_[static_cast<unsigned char>(s.repetition)] = byte_repetition;
        cls_[static_cast<unsigned char>(s.component)] = byte_component;
        cls_[static_cast<unsigned char>(s.subcomponent)] = byte_subcomponent;
        if (b.cr)
            cls_[static_cast<unsigned char>('\r')] = byte_break;
        if (b.lf)
            cls_[static_cast<unsigned char>('\n')] = byte_break;
#if defined(__SSE2__)
        field_ = _mm_set1_epi8(s.field);
        repetition_ = _mm_set1_epi8(s.repetition);
        component_ = _mm_set1_epi8(s.component);
        subcomponent_ = _mm_set1_epi8(s.subcomponent);
        // A break byte that is data compares as the field separator again.
        cr_ = _mm_set1_epi8(b.cr ? '\r' : s.field);
        lf_ = _mm_set1_epi8(b.lf ? '\n' : s.field);
#endif
    }

    line_breaks breaks() const noexcept { return breaks_; }

    /** Calls `on(position, class)` for each delimiter and line break of
        `text` from `pos` on, in order, until `on` returns false; returns
        the position of the byte it refused, or text.size(). */
    template<class OnByte>
    HL7_DETAIL_ALWAYS_INLINE std::size_t
    scan(std::string_view text, std::size_t pos, OnByte& on) const
    {
        char const* const d = text.data();
        std::size_t const n = text.size();
#if defined(__SSE2__)
        for (; pos + 16 <= n; pos += 16) {
            __m128i const b = _mm_loadu_si128(reinterpret_cast<__m128i const*>(d + pos));
            __m128i const hit = _mm_or_si128(
                _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(b, field_), _mm_cmpeq_epi8(b, component_)),
                             _mm_or_si128(_mm_cmpeq_epi8(b, repetition_), _mm_cmpeq_epi8(b, subcomponent_))),
                _mm_or_si128(_mm_cmpeq_epi8(b, cr_), _mm_cmpeq_epi8(b, lf_)));
            for (unsigned mask = static_cast<unsigned>(_mm_movemask_epi8(hit)); mask; mask &= mask - 1) {
                std::size_t const at = pos + static_cast<std::size_t>(__builtin_ctz(mask));
                if (!on(at, cls_[static_cast<unsigned char>(d[at])]))
                    return at;
            }
        }
#endif
        for (; pos < n; ++pos) {
            unsigned char const c = cls_[static_cast<unsigned char>(d[pos])];
            if (c != byte_plain && !on(pos, c))
                return pos;
        }
        return n;
    }

private:
    line_breaks breaks_;
    unsigned char cls_[256];
#if defined(__SSE2__)
    __m128i field_, repetition_, component_, subcomponent_, cr_, lf_;
#endif
};

} // namespace hl7::detail

#endif
