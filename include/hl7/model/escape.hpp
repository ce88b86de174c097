#ifndef HL7_ESCAPE_HPP
#define HL7_ESCAPE_HPP

/** @file
    HL7 v2 escape sequences (HL7 v2.5 chapter 2.7): turning the escaped text
    stored in a message into plain text and back.

    Behaviour follows python-hl7 0.4.5 (`hl7.util.escape` / `unescape`),
    with these deliberate differences:

    - An unterminated trailing sequence (`"abc\\def"`) stays literal;
      python-hl7 drops it (python-hl7 issue #84).
    - A formatting code with a count that is not an integer (`\.spx\`), or
      with a count above @ref hl7::max_escape_repeat, stays literal; python-hl7
      raises `ValueError` (and would happily expand `\.sp999999999\`).
    - `\Xhh..\` yields the raw bytes (bytes in, bytes out); python-hl7 maps
      each byte to a Latin-1 code point. A hex sequence that is empty, has an
      odd number of digits or a non-hex digit stays literal; python-hl7 keeps
      the chunks decoded before the error, or decodes an odd final nibble.
    - escape() writes control bytes as `\Xhh\` with two upper-case hex
      digits (python-hl7 pads with a space: `\X a\`), and passes bytes 0x80
      and above through untouched, so UTF-8 and ISO-8859-1 text stay as they
      are (python-hl7 escapes every non-ASCII code point).

    Delimiters that are letters, digits or `.` can occur inside sequence
    names (`\F\`, `\X0D\`, `\.br\`), so with such delimiters escape()
    output may contain them and no table can avoid it. unescape(escape(x))
    still returns x: where the escape character itself would occur in a
    name, escape() writes `\Xhh\` instead (or, for an escape character `X`
    or a hex digit that leaves no name, the control byte unescaped). Use the
    recommended `|^~\&` or other punctuation.

    Everything else is python-hl7's: `\H\` and `\N\` (highlighting on/off)
    become `"_"`, `\Cxxyy\` and `\Mxxyyzz\` (character set switches) and
    unknown sequences (`\Q\`, lower-case `\f\`, `\.BR\`) are removed, `\\`
    (an empty sequence) is removed, and sequence names are case-sensitive.
*/

#include <hl7/model/separators.hpp>

#include <cstddef>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <string_view>

namespace hl7 {

/** An application-defined escape table.

    For unescape(): sequence name (the text between the escape characters,
    e.g. `"H"`, `"Zbold"`, `".sp"`) to its replacement. It is consulted
    before the standard sequences, so it can also override them (for
    example map `"H"` and `"N"` to markup instead of `"_"`). A 3-character
    formatting name such as `".sp"` also applies to the counted form
    `\.sp3\` (the replacement repeated that many times).

    For escape(): source text (one character or several bytes, e.g. a
    UTF-8 sequence) to the sequence name written for it, so `{"<", "Zlt"}`
    turns `a<b` into `a\Zlt\b`. Consulted before the standard table; the
    longest matching key wins. Empty keys are ignored.
*/
using escape_map = std::map<std::string, std::string, std::less<>>;

/** Largest repeat count honoured in a counted formatting code such as
    `\.sp3\` or `\.in4\`. A larger count is treated as malformed and the
    sequence stays literal: it bounds how far a hostile field can expand
    (`\.in99\` is 7 bytes in and 396 out). */
inline constexpr int max_escape_repeat = 99;

namespace detail {

inline int
escape_hex_digit(char c) noexcept
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/** Reads the count of a formatting code the way python's `int()` reads
    it: optional surrounding spaces, an optional sign, decimal digits.
    Returns false when it is not an integer or exceeds max_escape_repeat
    (negative counts are valid and expand to nothing, as in python-hl7). */
inline bool
escape_parse_count(std::string_view s, int& count) noexcept
{
    std::size_t i = 0;
    while (i < s.size() && s[i] == ' ')
        ++i;
    bool negative = false;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
        negative = s[i] == '-';
        ++i;
    }
    std::size_t const digits_begin = i;
    long value = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
        value = value * 10 + (s[i] - '0');
        if (value > max_escape_repeat)
            return false;
        ++i;
    }
    if (i == digits_begin)
        return false;
    while (i < s.size() && s[i] == ' ')
        ++i;
    if (i != s.size())
        return false;
    count = negative ? 0 : static_cast<int>(value);
    return true;
}

/** The standard replacement for a formatting code name (`.br` etc.), or
    nullptr when `name` is not one. */
inline char const*
escape_formatting(std::string_view name) noexcept
{
    if (name.size() != 3 || name[0] != '.')
        return nullptr;
    // Every code is two lower-case letters after the dot.
    switch (name[1]) {
    case 'b': return name[2] == 'r' ? "\r" : nullptr;
    case 's':
        if (name[2] == 'p')
            return "\r";
        return name[2] == 'k' ? " " : nullptr;
    case 'f': return name[2] == 'i' ? "" : nullptr;
    case 'n': return name[2] == 'f' ? "" : nullptr;
    case 'i': return name[2] == 'n' ? "    " : nullptr;
    case 't': return name[2] == 'i' ? "    " : nullptr;
    case 'c': return name[2] == 'e' ? "\r" : nullptr;
    default: return nullptr;
    }
}

/** Appends the expansion of one sequence body (the text between two
    escape characters). Returns false when the sequence is malformed and
    must be copied literally by the caller. */
inline bool
escape_expand(std::string& out, std::string_view value, separators const& seps,
              escape_map const* app_map)
{
    if (value.empty())
        return true; // "\\": python-hl7 drops it
    if (app_map) {
        if (auto it = app_map->find(value); it != app_map->end()) {
            out += it->second;
            return true;
        }
    }
    if (value.size() == 1) {
        switch (value[0]) {
        case 'H':
        case 'N': out += '_'; return true;
        case 'F': out += seps.field; return true;
        case 'R': out += seps.repetition; return true;
        case 'S': out += seps.component; return true;
        case 'T': out += seps.subcomponent; return true;
        case 'E': out += seps.escape; return true;
        default: break;
        }
    }
    if (value[0] == '.') {
        if (char const* fmt = escape_formatting(value)) {
            out += fmt;
            return true;
        }
        if (value.size() > 3) {
            std::string_view const name = value.substr(0, 3);
            std::string_view replacement;
            bool known = false;
            if (app_map) {
                if (auto it = app_map->find(name); it != app_map->end()) {
                    replacement = it->second;
                    known = true;
                }
            }
            if (!known) {
                if (char const* f = escape_formatting(name)) {
                    replacement = f;
                    known = true;
                }
            }
            if (known) {
                int count = 0;
                if (!escape_parse_count(value.substr(3), count))
                    return false;
                for (int i = 0; i < count; ++i)
                    out += replacement;
                return true;
            }
        }
        return true; // unknown formatting code: removed, as python-hl7 does
    }
    switch (value[0]) {
    case 'C': // single-byte character set switch: not implemented, removed
    case 'M': // multi-byte character set switch: likewise
        return true;
    case 'X': {
        std::string_view const hex = value.substr(1);
        if (hex.empty() || hex.size() % 2 != 0)
            return false;
        for (char c : hex)
            if (escape_hex_digit(c) < 0)
                return false;
        for (std::size_t i = 0; i < hex.size(); i += 2)
            out += static_cast<char>(escape_hex_digit(hex[i]) * 16 + escape_hex_digit(hex[i + 1]));
        return true;
    }
    default: return true; // unknown sequence: removed, as python-hl7 does
    }
}

} // namespace detail

/** Appends the unescaped form of `text` to `out`.

    The hot path behind unescape() and the message accessors: text without
    the escape character is appended with a single memchr and copy.
    `app_map` may be null.

    @par Errors
    None: malformed sequences stay literal or are removed, as the file
    comment describes. Allocates only by growing `out`.
*/
inline void
unescape_append(std::string& out, std::string_view text, separators const& seps,
                escape_map const* app_map = nullptr)
{
    char const esc = seps.escape;
    char const* p = text.data();
    char const* const end = p + text.size();
    while (p != end) {
        auto const* open = static_cast<char const*>(std::memchr(p, esc, static_cast<std::size_t>(end - p)));
        if (!open) {
            out.append(p, end);
            return;
        }
        out.append(p, open);
        auto const* close = static_cast<char const*>(
            std::memchr(open + 1, esc, static_cast<std::size_t>(end - open - 1)));
        if (!close) {
            // Unterminated: keep it as written (python-hl7 issue #84).
            out.append(open, end);
            return;
        }
        std::string_view const value(open + 1, static_cast<std::size_t>(close - open - 1));
        if (!detail::escape_expand(out, value, seps, app_map))
            out.append(open, close + 1);
        p = close + 1;
    }
}

/** Returns `text` with its escape sequences replaced (see the file comment
    for the table). Text without the escape character comes back unchanged. */
inline std::string
unescape(std::string_view text, separators const& seps)
{
    if (text.empty() || std::memchr(text.data(), seps.escape, text.size()) == nullptr)
        return std::string(text); // a copy is cheaper than assign(), which checks for aliasing
    std::string out;
    out.reserve(text.size());
    unescape_append(out, text, seps, nullptr);
    return out;
}

/// As unescape(text, seps), consulting `app_map` first (see escape_map).
inline std::string
unescape(std::string_view text, separators const& seps, escape_map const& app_map)
{
    std::string out;
    out.reserve(text.size());
    unescape_append(out, text, seps, &app_map);
    return out;
}

namespace detail {

inline void
escape_sequence(std::string& out, char esc, std::string_view code)
{
    out += esc;
    out += code;
    out += esc;
}

/** Writes byte `b` as a sequence named `name` (empty: no standard name),
    falling back to `Xhh` and then `Xhh` in lower case when the escape
    character occurs in the name, since unescape() would end the sequence
    there. With no usable name (an escape character that is `X` or a digit
    of the byte's hex code) the byte is copied as it is, which unescape()
    also returns unchanged. */
inline void
escape_byte(std::string& out, char esc, std::string_view name, unsigned char b)
{
    if (!name.empty() && name.find(esc) == std::string_view::npos) {
        escape_sequence(out, esc, name);
        return;
    }
    static constexpr char upper[] = "0123456789ABCDEF";
    static constexpr char lower[] = "0123456789abcdef";
    char code[3] = {'X', upper[b >> 4], upper[b & 0xF]};
    if (std::string_view(code, 3).find(esc) == std::string_view::npos) {
        escape_sequence(out, esc, std::string_view(code, 3));
        return;
    }
    code[1] = lower[b >> 4];
    code[2] = lower[b & 0xF];
    if (std::string_view(code, 3).find(esc) == std::string_view::npos) {
        escape_sequence(out, esc, std::string_view(code, 3));
        return;
    }
    out += static_cast<char>(b);
}

/// Longest app_map key that `rest` starts with, or end().
inline escape_map::const_iterator
escape_match(escape_map const& app_map, std::string_view rest)
{
    auto best = app_map.end();
    std::size_t best_len = 0;
    // Keys sharing the first byte are contiguous in the ordered map.
    for (auto it = app_map.lower_bound(rest.substr(0, 1));
         it != app_map.end() && !it->first.empty() && it->first[0] == rest[0]; ++it) {
        if (it->first.size() > best_len && rest.substr(0, it->first.size()) == it->first) {
            best = it;
            best_len = it->first.size();
        }
    }
    return best;
}

} // namespace detail

/** Appends the escaped form of `text` to `out`: the five delimiters become
    `\F\` `\R\` `\S\` `\T\` `\E\`, CR becomes `\.br\`, other control bytes
    (below 0x20, and 0x7F) become `\Xhh\`; everything else, including bytes
    0x80 and above, is copied. `app_map` (may be null) is consulted first.
    When the escape character occurs in a standard name (an escape character
    such as `F` or `.`), `\Xhh\` is written instead, so
    `unescape(escape(x)) == x` for every valid set of delimiters. */
inline void
escape_append(std::string& out, std::string_view text, separators const& seps,
              escape_map const* app_map = nullptr)
{
    // 1 = needs escaping by the standard table; 2 = may start an app_map key.
    unsigned char table[256] = {};
    for (int c = 0; c < 0x20; ++c)
        table[c] = 1;
    table[0x7F] = 1;
    for (char d : {seps.field, seps.component, seps.repetition, seps.escape, seps.subcomponent})
        table[static_cast<unsigned char>(d)] = 1;
    if (app_map) {
        for (auto const& entry : *app_map)
            if (!entry.first.empty())
                table[static_cast<unsigned char>(entry.first[0])] |= 2;
    }

    std::size_t run = 0; // start of the pending run of bytes copied as they are
    std::size_t i = 0;
    while (i < text.size()) {
        char const c = text[i];
        unsigned char const kind = table[static_cast<unsigned char>(c)];
        if (kind == 0) {
            ++i;
            continue;
        }
        if (kind & 2) {
            auto it = detail::escape_match(*app_map, text.substr(i));
            if (it != app_map->end()) {
                out.append(text.data() + run, i - run);
                detail::escape_sequence(out, seps.escape, it->second);
                i += it->first.size();
                run = i;
                continue;
            }
            if (!(kind & 1)) {
                ++i;
                continue;
            }
        }
        out.append(text.data() + run, i - run);
        std::string_view name;
        if (c == seps.field)
            name = "F";
        else if (c == seps.repetition)
            name = "R";
        else if (c == seps.component)
            name = "S";
        else if (c == seps.subcomponent)
            name = "T";
        else if (c == seps.escape)
            name = "E";
        else if (c == '\r')
            name = ".br";
        detail::escape_byte(out, seps.escape, name, static_cast<unsigned char>(c));
        ++i;
        run = i;
    }
    out.append(text.data() + run, text.size() - run);
}

/** Returns `text` escaped for use as a field value with delimiters `seps`
    (see escape_append() for the table). `unescape(escape(x, s), s) == x`
    for every byte string `x`. */
inline std::string
escape(std::string_view text, separators const& seps)
{
    std::string out;
    out.reserve(text.size() + text.size() / 8);
    escape_append(out, text, seps, nullptr);
    return out;
}

/// As escape(text, seps), consulting `app_map` first (see escape_map).
inline std::string
escape(std::string_view text, separators const& seps, escape_map const& app_map)
{
    std::string out;
    out.reserve(text.size() + text.size() / 8);
    escape_append(out, text, seps, &app_map);
    return out;
}

} // namespace hl7

#endif
