#ifndef HL7_MODEL_CHARSET_HPP
#define HL7_MODEL_CHARSET_HPP

/** @file
    Character sets (MSH-18, HL7 table 0211), converted with the C library's
    iconv (glibc): no other dependency, no Asio.

    Nothing converts unless asked: parsing, editing and serialising keep a
    message's bytes as they are, in whatever set it declares. On request:

    - hl7::to_utf8(msg) gives the message with its text in UTF-8 (MSH-18
      then says `UNICODE UTF-8`); hl7::to_utf8(bytes, "8859/1") converts text.
    - hl7::from_utf8(msg, "8859/1") gives a message built in UTF-8 in the
      declared set, for sending; hl7::from_utf8(utf8, set) converts text.
    - Bytes that are not valid in the declared set are a
      `hl7::charset_error` (`hl7::error::invalid_character`) naming the byte
      offset; a character the target set cannot represent is
      `unrepresentable_character`; a set that is not in table 0211
      `unknown_character_set`, one that cannot be converted
      `unsupported_character_set`.

    | MSH-18 (table 0211)   | converted as (iconv) |
    |-----------------------|----------------------|
    | empty, `ASCII`        | ASCII (7 bits: a byte above 0x7F is invalid) |
    | `8859/1` … `8859/9`, `8859/15` | ISO-8859-1 … ISO-8859-9, ISO-8859-15 |
    | `UNICODE UTF-8`       | UTF-8 (checked: no overlong forms, surrogates or code points above U+10FFFF) |
    | `ISO IR14`            | ISO-IR-14 (JIS X 0201 Roman) |
    | `BIG-5`               | BIG5 |
    | `CNS 11643-1992`      | EUC-TW |
    | `GB 18030-2000`       | GB18030 |
    | `KS X 1001`           | EUC-KR |
    | `ISO IR6`, `ISO IR100`, `ISO IR192` | ASCII, ISO-8859-1, UTF-8 (names some senders use) |
    | `UNICODE`, `UNICODE UTF-16`, `UNICODE UTF-32` | unsupported: their bytes cannot carry HL7's one-byte delimiters |
    | `ISO IR87`, `ISO IR159` | unsupported: two-byte sets without ASCII, used only through ISO 2022 code extension |

    Names compare without regard to case. Only MSH-18's first repetition is
    read; a message that declares code extensions (more repetitions, ISO
    2022 escape sequences in its text) is `unsupported_character_set`.

    Delimiters and segment terminators are protocol bytes, not characters:
    in a message they are kept as they are and only the text between them
    is converted (which matters for sets such as ISO IR14, where byte 0x5C
    is the Yen sign, not a backslash). A character whose conversion would
    produce a delimiter byte is `unrepresentable_character`. In multi-byte
    sets whose second bytes can equal a delimiter (BIG-5, GB 18030), such a
    character is split by parsing already and reported as invalid.
*/

#include <hl7/model/error.hpp>
#include <hl7/model/message.hpp>
#include <hl7/model/separators.hpp>
#include <hl7/parser/parse.hpp>
#include <hl7/parser/parse_options.hpp>

#include <iconv.h>

#include <cerrno>
#include <cstddef>
#include <string>
#include <string_view>
#include <system_error>

namespace hl7 {

/// A character set of HL7 table 0211 and the iconv name it converts with.
struct character_set_info
{
    std::string_view hl7_name;   ///< as table 0211 spells it: `8859/1`
    std::string_view iconv_name; ///< `ISO-8859-1`; empty for unsupported sets
    bool ascii_compatible;       ///< bytes 0x00-0x7F are ASCII (all but ISO IR14)
};

/** A conversion that failed. `offset()` is the byte offset in the input of
    the first byte that could not be converted (0 when the character set
    itself is the problem); `character_set()` the set as named. what():
    `"bytes not valid in the declared character set (8859/3) at byte 12"`. */
class charset_error : public std::system_error
{
public:
    charset_error(std::error_code ec, std::size_t offset, std::string character_set)
        : std::system_error(ec),
          offset_(offset),
          charset_(std::move(character_set)),
          text_(ec.message() + " (" + (charset_.empty() ? std::string("ASCII") : charset_) + ")" +
                (ec == error::invalid_character || ec == error::unrepresentable_character
                     ? " at byte " + std::to_string(offset)
                     : std::string()))
    {
    }

    std::size_t offset() const noexcept { return offset_; }
    std::string const& character_set() const noexcept { return charset_; }

    char const*
    what() const noexcept override
    {
        return text_.c_str();
    }

private:
    std::size_t offset_;
    std::string charset_;
    detail::exception_text text_;
};

namespace detail {

inline bool
charset_name_equal(std::string_view a, std::string_view b) noexcept
{
    if (a.size() != b.size())
        return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        char x = a[i], y = b[i];
        if (x >= 'a' && x <= 'z')
            x = static_cast<char>(x - 'a' + 'A');
        if (y >= 'a' && y <= 'z')
            y = static_cast<char>(y - 'a' + 'A');
        if (x != y)
            return false;
    }
    return true;
}

struct charset_entry
{
    std::string_view name;
    std::string_view iconv_name; // empty: in table 0211 but not convertible
    bool ascii_compatible;
};

inline constexpr charset_entry charset_table[] = {
    {"ASCII", "ASCII", true},
    {"8859/1", "ISO-8859-1", true},
    {"8859/2", "ISO-8859-2", true},
    {"8859/3", "ISO-8859-3", true},
    {"8859/4", "ISO-8859-4", true},
    {"8859/5", "ISO-8859-5", true},
    {"8859/6", "ISO-8859-6", true},
    {"8859/7", "ISO-8859-7", true},
    {"8859/8", "ISO-8859-8", true},
    {"8859/9", "ISO-8859-9", true},
    {"8859/15", "ISO-8859-15", true},
    {"UNICODE UTF-8", "UTF-8", true},
    {"ISO IR14", "ISO-IR-14", false},
    {"BIG-5", "BIG5", true},
    {"CNS 11643-1992", "EUC-TW", true},
    {"GB 18030-2000", "GB18030", true},
    {"KS X 1001", "EUC-KR", true},
    {"ISO IR6", "ASCII", true},
    {"ISO IR100", "ISO-8859-1", true},
    {"ISO IR192", "UTF-8", true},
    {"UNICODE", "", false},
    {"UNICODE UTF-16", "", false},
    {"UNICODE UTF-32", "", false},
    {"ISO IR87", "", false},
    {"ISO IR159", "", false},
};

/// The length of the valid UTF-8 sequence at text[pos], or 0 if it is not one.
inline std::size_t
utf8_sequence(std::string_view text, std::size_t pos) noexcept
{
    auto const b = [&](std::size_t i) { return static_cast<unsigned char>(text[pos + i]); };
    unsigned char const c = b(0);
    if (c < 0x80)
        return 1;
    std::size_t n;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0; // overlong
        else if (c == 0xED)
            hi = 0x9F; // surrogates
    }
    else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90; // overlong
        else if (c == 0xF4)
            hi = 0x8F; // above U+10FFFF
    }
    else
        return 0;
    if (pos + n > text.size())
        return 0;
    if (b(1) < lo || b(1) > hi)
        return 0;
    for (std::size_t i = 2; i < n; ++i)
        if (b(i) < 0x80 || b(i) > 0xBF)
            return 0;
    return n;
}

/// The offset of the first byte of `text` that is not valid UTF-8, or npos.
inline std::size_t
first_invalid_utf8(std::string_view text) noexcept
{
    for (std::size_t i = 0; i < text.size();) {
        std::size_t const n = utf8_sequence(text, i);
        if (!n)
            return i;
        i += n;
    }
    return std::string_view::npos;
}

inline bool
is_ascii(std::string_view text) noexcept
{
    for (char c : text)
        if (static_cast<unsigned char>(c) >= 0x80)
            return false;
    return true;
}

class iconv_converter
{
public:
    iconv_converter(char const* to, char const* from) noexcept : cd_(::iconv_open(to, from)) {}
    iconv_converter(iconv_converter const&) = delete;
    iconv_converter& operator=(iconv_converter const&) = delete;
    ~iconv_converter()
    {
        if (ok())
            ::iconv_close(cd_);
    }

    bool ok() const noexcept { return cd_ != reinterpret_cast<iconv_t>(-1); }

    /** Appends the conversion of `in` to `out`. On failure returns the
        offset in `in` of the first byte not converted and sets `failed`. */
    std::size_t
    convert(std::string_view in, std::string& out, bool& failed)
    {
        failed = false;
        ::iconv(cd_, nullptr, nullptr, nullptr, nullptr); // initial state
        char* src = const_cast<char*>(in.data());         // iconv's signature; it does not write
        std::size_t left = in.size();
        while (left) {
            std::size_t const used = out.size();
            out.resize(used + left * 4 + 16);
            char* dst = out.data() + used;
            std::size_t room = out.size() - used;
            std::size_t const r = ::iconv(cd_, &src, &left, &dst, &room);
            int const e = errno;
            out.resize(static_cast<std::size_t>(dst - out.data()));
            if (r == static_cast<std::size_t>(-1)) {
                if (e == E2BIG)
                    continue;
                failed = true; // EILSEQ (invalid or unrepresentable) or EINVAL (cut short)
                return static_cast<std::size_t>(src - in.data());
            }
            if (r != 0) {
                // Some converters substitute instead of failing: not exact.
                failed = true;
                return 0;
            }
        }
        return in.size();
    }

private:
    iconv_t cd_;
};

enum class charset_direction { to_utf8, from_utf8 };

/** Converts `text` between `set` and UTF-8. With `seps`, delimiter bytes and
    line breaks are copied as they are and the text between them is
    converted run by run (see the file comment). */
inline std::string
convert_charset(std::string_view text, character_set_info const& set, charset_direction dir,
                separators const* seps, std::error_code& ec, std::size_t& error_offset)
{
    ec = {};
    error_offset = 0;
    auto fail = [&](error e, std::size_t at) {
        ec = make_error_code(e);
        error_offset = at;
        return std::string();
    };
    bool const utf8_set = set.iconv_name == "UTF-8";
    if (dir == charset_direction::from_utf8 || utf8_set) {
        // UTF-8 input is checked here, so that iconv's EILSEQ below can only
        // mean a character the target set lacks.
        if (std::size_t const bad = first_invalid_utf8(text); bad != std::string_view::npos)
            return fail(error::invalid_character, bad);
        if (utf8_set)
            return std::string(text);
    }
    if (set.ascii_compatible && is_ascii(text))
        return std::string(text); // ASCII is itself in every ASCII-compatible set
    std::string const set_name(set.iconv_name);
    iconv_converter cv(dir == charset_direction::to_utf8 ? "UTF-8" : set_name.c_str(),
                       dir == charset_direction::to_utf8 ? set_name.c_str() : "UTF-8");
    if (!cv.ok())
        return fail(error::unsupported_character_set, 0);
    error const conversion_error =
        dir == charset_direction::to_utf8 ? error::invalid_character : error::unrepresentable_character;
    auto is_protocol_byte = [&](char c) { return c == '\r' || c == '\n' || (seps && seps->is_delimiter(c)); };

    std::string out;
    out.reserve(text.size() + text.size() / 2);
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t end = pos;
        if (seps) {
            while (end < text.size() && !is_protocol_byte(text[end]))
                ++end;
        }
        else {
            end = text.size();
        }
        if (end > pos) {
            std::size_t const before = out.size();
            bool failed = false;
            std::size_t const stop = cv.convert(text.substr(pos, end - pos), out, failed);
            if (failed)
                return fail(conversion_error, pos + stop);
            // A character must not turn into a delimiter or a line break.
            if (seps) {
                for (std::size_t k = before; k < out.size(); ++k)
                    if (is_protocol_byte(out[k]))
                        return fail(conversion_error, pos);
            }
        }
        if (end < text.size())
            out += text[end];
        pos = end + 1;
    }
    return out;
}

inline std::string
charset_convert_or_throw(std::string_view text, std::string_view name, charset_direction dir, separators const* seps);

} // namespace detail

/** The table 0211 character set `name` names (MSH-18's spelling; an empty
    name is ASCII, HL7's default).

    @par Errors
    `unknown_character_set` for a name not in the table;
    `unsupported_character_set` for one that cannot be converted (see the
    file comment) or that this system's iconv does not provide.
*/
inline character_set_info
find_character_set(std::string_view name, std::error_code& ec) noexcept
{
    ec = {};
    if (name.empty())
        name = "ASCII";
    for (auto const& e : detail::charset_table) {
        if (!detail::charset_name_equal(e.name, name))
            continue;
        if (e.iconv_name.empty()) {
            ec = make_error_code(error::unsupported_character_set);
            return {e.name, {}, false};
        }
        // The iconv names are NUL-terminated literals.
        iconv_t const cd = ::iconv_open("UTF-8", e.iconv_name.data());
        if (cd == reinterpret_cast<iconv_t>(-1)) {
            ec = make_error_code(error::unsupported_character_set);
            return {e.name, {}, false};
        }
        ::iconv_close(cd);
        return {e.name, e.iconv_name, e.ascii_compatible};
    }
    ec = make_error_code(error::unknown_character_set);
    return {};
}

/// As find_character_set(name, ec), throwing hl7::charset_error.
inline character_set_info
find_character_set(std::string_view name)
{
    std::error_code ec;
    auto const info = find_character_set(name, ec);
    if (ec)
        throw charset_error(ec, 0, std::string(name));
    return info;
}

namespace detail {

// Text (no delimiters to keep) between `name` and UTF-8, failure through ec.
inline std::string
charset_convert(std::string_view text, std::string_view name, charset_direction dir, std::error_code& ec,
                std::size_t* error_offset)
{
    std::size_t offset = 0;
    std::string out;
    auto const set = find_character_set(name, ec);
    if (!ec)
        out = convert_charset(text, set, dir, nullptr, ec, offset);
    if (error_offset)
        *error_offset = offset;
    return out;
}

inline std::string
charset_convert_or_throw(std::string_view text, std::string_view name, charset_direction dir, separators const* seps)
{
    character_set_info const set = find_character_set(name);
    std::error_code ec;
    std::size_t offset = 0;
    std::string out = convert_charset(text, set, dir, seps, ec, offset);
    if (ec)
        throw charset_error(ec, offset, std::string(name));
    return out;
}

} // namespace detail

/** `text` in the table 0211 set `charset`, converted to UTF-8 exactly.
    @throws hl7::charset_error: invalid_character (with the offset of the
    first invalid byte), unknown_character_set, unsupported_character_set. */
inline std::string
to_utf8(std::string_view text, std::string_view charset)
{
    return detail::charset_convert_or_throw(text, charset, detail::charset_direction::to_utf8, nullptr);
}

/// As to_utf8(text, charset), reporting failure through `ec` and `error_offset`.
inline std::string
to_utf8(std::string_view text, std::string_view charset, std::error_code& ec, std::size_t* error_offset = nullptr)
{
    return detail::charset_convert(text, charset, detail::charset_direction::to_utf8, ec, error_offset);
}

/** UTF-8 `text` converted to the table 0211 set `charset`.
    @throws hl7::charset_error: unrepresentable_character (offset of the
    character in `text`), invalid_character (`text` is not valid UTF-8),
    unknown_character_set, unsupported_character_set. */
inline std::string
from_utf8(std::string_view text, std::string_view charset)
{
    return detail::charset_convert_or_throw(text, charset, detail::charset_direction::from_utf8, nullptr);
}

/// As from_utf8(text, charset), reporting failure through `ec` and `error_offset`.
inline std::string
from_utf8(std::string_view text, std::string_view charset, std::error_code& ec, std::size_t* error_offset = nullptr)
{
    return detail::charset_convert(text, charset, detail::charset_direction::from_utf8, ec, error_offset);
}

/// How hl7::to_utf8(message) reads and labels a message.
struct charset_options
{
    /** What an empty MSH-18 means. HL7 says ASCII (a byte above 0x7F is then
        invalid); for a feed known to send ISO 8859-1 or UTF-8 without saying
        so, set "8859/1" or "UNICODE UTF-8". */
    std::string default_charset = "ASCII";

    /** After conversion MSH-18 says `UNICODE UTF-8`, so the message tells
        the truth about its bytes (not done when the text was ASCII or UTF-8
        already). */
    bool relabel = true;
};

namespace detail {

// MSH-18 must name one set: further repetitions declare ISO 2022 code extension.
inline void
check_single_charset(message const& m)
{
    if (m.empty() || m.segment_at(1).id() != "MSH")
        return;
    field_view const f = m.segment_at(1).field(18);
    if (f.size() > 1)
        throw charset_error(make_error_code(error::unsupported_character_set), 0, std::string(f.raw()));
}

inline message
reparse_converted(std::string const& text)
{
    // What the conversion produced has the original's structure, which was
    // accepted once: no limit but the parser's own. Serialised text ends
    // segments with CR only, so an LF in it is data.
    parse_options opts;
    opts.max_message_size = std::size_t{1} << 30; // the parser's own ceiling
    opts.max_segments = std::size_t{1} << 30;
    opts.max_fields = std::size_t{1} << 30;
    opts.validate_segment_ids = false;
    opts.strict_terminators = text.find('\n') != std::string::npos;
    return parse(text, opts);
}

} // namespace detail

/** The message `m` with its text converted to UTF-8 from the set its MSH-18
    declares (`options.default_charset` when empty), exactly; delimiters
    stay as they are. MSH-18 then says `UNICODE UTF-8` (options.relabel).

    @throws hl7::charset_error: invalid_character with the offset in
    `hl7::to_string(m)` (the received bytes, for an unedited CR-terminated
    message) of the first byte not valid in the declared set;
    unknown_character_set, unsupported_character_set (also for more than
    one MSH-18 repetition).
*/
inline message
to_utf8(message const& m, charset_options const& options = {})
{
    detail::check_single_charset(m);
    std::string_view const declared = m.character_set().empty() ? std::string_view(options.default_charset)
                                                                  : m.character_set();
    character_set_info const set = find_character_set(declared);
    std::string const text = m.to_string();
    std::error_code ec;
    std::size_t offset = 0;
    std::string const utf8 =
        detail::convert_charset(text, set, detail::charset_direction::to_utf8, &m.delimiters(), ec, offset);
    if (ec)
        throw charset_error(ec, offset, std::string(declared));
    message out = detail::reparse_converted(utf8);
    bool const already = set.iconv_name == "UTF-8" || set.iconv_name == "ASCII";
    if (options.relabel && !already && !out.empty() && out.segment_at(1).id() == "MSH")
        out.set("MSH.18", "UNICODE UTF-8");
    return out;
}

/** The message `m`, whose text is UTF-8, in the table 0211 set `charset`
    for sending: MSH-18 is set to `charset` (left empty for ASCII when it
    was), then the text is converted; delimiters stay as they are.

    @throws hl7::charset_error: unrepresentable_character with the offset
    in `hl7::to_string(m)` of the character the set lacks; invalid_character
    if the text is not valid UTF-8; unknown_character_set,
    unsupported_character_set.
*/
inline message
from_utf8(message const& m, std::string_view charset)
{
    character_set_info const set = find_character_set(charset);
    message labelled = m;
    if (!labelled.empty() && labelled.segment_at(1).id() == "MSH" &&
        !(set.iconv_name == "ASCII" && labelled.character_set().empty()))
        labelled.set("MSH.18", set.hl7_name);
    std::string const text = labelled.to_string();
    std::error_code ec;
    std::size_t offset = 0;
    std::string const converted =
        detail::convert_charset(text, set, detail::charset_direction::from_utf8, &m.delimiters(), ec, offset);
    if (ec) {
        // The offset in m's own text: labelling changed MSH-18 only, which
        // shifts the offsets of what follows the first segment.
        std::size_t const original_size = m.to_string().size();
        std::size_t const header_end = text.find('\r');
        if (header_end != std::string::npos && offset > header_end)
            offset = offset + original_size - text.size();
        throw charset_error(ec, offset, std::string(charset));
    }
    return detail::reparse_converted(converted);
}

} // namespace hl7

#endif
