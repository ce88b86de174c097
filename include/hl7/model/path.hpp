#ifndef HL7_PATH_HPP
#define HL7_PATH_HPP

#include <hl7/model/error.hpp>
#include <hl7/parser/detail/scanner.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <system_error>

namespace hl7 {

/** A parsed accessor path such as `PID.F3.R1.C2.S1`, `PID.3.1` or `OBX2.5`.

    The segment id is the first three characters; digits after it select the
    nth segment with that id (`OBX2` is the second OBX, default 1). Then up to
    four dot-separated 1-based numbers: field, repetition, component and
    sub-component, each optionally prefixed with `F`, `R`, `C`, `S` (either
    case) in its own position. A number left out is 0 ("not given"). Field 0
    is the segment id itself.
*/
struct path
{
    std::string_view segment;
    std::size_t segment_num = 1;
    std::size_t field = 0;
    std::size_t repetition = 0;
    std::size_t component = 0;
    std::size_t subcomponent = 0;

    /// How many of field/repetition/component/sub-component were given.
    int depth = 0;
};

namespace detail {

inline bool
parse_path_number(std::string_view part, char prefix, std::size_t& out) noexcept
{
    if (!part.empty() && (part.front() == prefix || part.front() == prefix + ('a' - 'A')))
        part.remove_prefix(1);
    if (part.empty() || part.size() > 9)
        return false;
    std::size_t value = 0;
    for (char c : part) {
        if (c < '0' || c > '9')
            return false;
        value = value * 10 + static_cast<std::size_t>(c - '0');
    }
    out = value;
    return true;
}

} // namespace detail

/** A path from numbers, as python-hl7's extract_field/assign_field take
    them: 0 means "not given"; the depth is that of the last position given,
    and positions above it that were not given count as 1. */
inline path
make_path(std::string_view segment, std::size_t segment_num, std::size_t field, std::size_t repetition = 0,
          std::size_t component = 0, std::size_t subcomponent = 0) noexcept
{
    path p;
    p.segment = segment;
    p.segment_num = segment_num ? segment_num : 1;
    p.field = field;
    p.depth = subcomponent ? 4 : component ? 3 : repetition ? 2 : 1;
    p.repetition = repetition ? repetition : (p.depth >= 2 ? 1 : 0);
    p.component = component ? component : (p.depth >= 3 ? 1 : 0);
    p.subcomponent = subcomponent;
    return p;
}

/** Read `text` as a path. On error `ec` is `hl7::error::invalid_path` and the
    result is unspecified. The returned segment view points into `text`. */
inline path
parse_path(std::string_view text, std::error_code& ec) noexcept
{
    ec = {};
    path p;
    auto bad = [&] {
        ec = make_error_code(error::invalid_path);
        return p;
    };
    auto dot = text.find('.');
    std::string_view head = text.substr(0, dot);
    if (head.size() < 3)
        return bad();
    p.segment = head.substr(0, 3);
    if (!detail::is_valid_segment_id(p.segment))
        return bad();
    if (head.size() > 3) {
        if (!detail::parse_path_number(head.substr(3), '\0', p.segment_num) || p.segment_num == 0 ||
            head[3] < '0' || head[3] > '9')
            return bad();
    }
    if (dot == std::string_view::npos)
        return p;

    static constexpr char prefixes[4] = {'F', 'R', 'C', 'S'};
    std::size_t* slots[4] = {&p.field, &p.repetition, &p.component, &p.subcomponent};
    std::string_view rest = text.substr(dot + 1);
    for (int level = 0;; ++level) {
        if (level == 4)
            return bad();
        auto next = rest.find('.');
        if (!detail::parse_path_number(rest.substr(0, next), prefixes[level], *slots[level]))
            return bad();
        // Field 0 is the segment id; below field level positions are 1-based.
        if (level > 0 && *slots[level] == 0)
            return bad();
        p.depth = level + 1;
        if (next == std::string_view::npos)
            break;
        rest.remove_prefix(next + 1);
    }
    return p;
}

/// Read `text` as a path, throwing `hl7::path_error` if it is not one.
inline path
parse_path(std::string_view text)
{
    std::error_code ec;
    path p = parse_path(text, ec);
    if (ec)
        throw path_error(ec, std::string(text));
    return p;
}

/** The canonical spelling of `p`, in python-hl7's `Accessor.key` form:
    `PID.3.1`, `OBX2.5`. */
inline std::string
to_string(path const& p)
{
    std::string out(p.segment);
    if (p.segment_num != 1)
        out += std::to_string(p.segment_num);
    std::size_t const parts[4] = {p.field, p.repetition, p.component, p.subcomponent};
    for (int i = 0; i < p.depth; ++i) {
        out += '.';
        out += std::to_string(parts[i]);
    }
    return out;
}

} // namespace hl7

#endif
