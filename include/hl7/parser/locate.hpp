#ifndef HL7_LOCATE_HPP
#define HL7_LOCATE_HPP

// Zero-copy lookup of one element in unparsed text: for routers and filters
// that need MSH-10 or PID-3 of a message without building the model.

#include <hl7/model/error.hpp>
#include <hl7/model/path.hpp>
#include <hl7/model/separators.hpp>
#include <hl7/parser/detail/scanner.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <system_error>

namespace hl7 {

/** The raw (escaped) text of the element at `path` in the unparsed message
    `text`, as a view into `text`: `locate(text, "MSH.10")`, `"PID.3.1"`.

    Reads the delimiters from the MSH at the start of `text` and scans only
    as far as the segment it needs, so it costs a fraction of a parse. An
    element that is absent reads as empty; a missing segment, a malformed
    path or text that does not start with MSH sets `ec`
    (`segment_not_found`, `invalid_path`, `no_header`/`truncated_header`/
    `invalid_delimiters`). Unlike message::get, there is no "path too deep"
    check: positions below a plain value read as empty. Segments may end in
    CR, LF or CRLF.
*/
inline std::string_view
locate(std::string_view text, std::string_view path_text, std::error_code& ec) noexcept
{
    path const p = parse_path(path_text, ec);
    if (ec)
        return {};
    if (p.depth == 0) {
        ec = make_error_code(error::invalid_path);
        return {};
    }
    if (!detail::starts_with_header_id(text)) {
        ec = make_error_code(error::no_header);
        return {};
    }
    separators seps;
    std::size_t header_end = 0;
    if ((ec = detail::read_delimiters(text, seps, header_end)))
        return {};

    detail::line_breaks const breaks = detail::line_breaks::detect(text, header_end);
    std::size_t seen = 0;
    for (std::size_t pos = 0; pos < text.size();) {
        detail::line const l = detail::line_at(text, pos, breaks);
        pos = l.next;
        std::string_view const seg = text.substr(l.begin, l.end - l.begin);
        std::size_t const id_len = detail::segment_id_length(seg, seps.field, breaks);
        if (seg.substr(0, id_len) != p.segment || ++seen != p.segment_num)
            continue;
        std::string_view f = detail::segment_field(seg, id_len, seps.field, p.field);
        // The segment id, MSH-1 and MSH-2 are never split: below them only
        // position 1 exists, as in the parsed model.
        if (p.field == 0 || (detail::is_header_id(seg.substr(0, id_len)) && p.field <= 2)) {
            bool const first = (p.depth < 2 || p.repetition == 1) && (p.depth < 3 || p.component == 1) &&
                               (p.depth < 4 || p.subcomponent == 1);
            return first ? f : std::string_view();
        }
        if (p.depth >= 2)
            f = detail::piece(f, seps.repetition, p.repetition);
        if (p.depth >= 3)
            f = detail::piece(f, seps.component, p.component);
        if (p.depth >= 4)
            f = detail::piece(f, seps.subcomponent, p.subcomponent);
        return f;
    }
    ec = make_error_code(error::segment_not_found);
    return {};
}

/// As locate(text, path, ec), throwing path_error on failure.
inline std::string_view
locate(std::string_view text, std::string_view path_text)
{
    std::error_code ec;
    auto v = locate(text, path_text, ec);
    if (ec)
        throw path_error(ec, std::string(path_text));
    return v;
}

} // namespace hl7

#endif
