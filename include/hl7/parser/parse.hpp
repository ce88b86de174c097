#ifndef HL7_PARSER_HPP
#define HL7_PARSER_HPP

#include <hl7/model/message.hpp>
#include <hl7/parser/parse_options.hpp>

#include <algorithm>
#include <concepts>
#include <string>
#include <string_view>
#include <system_error>

namespace hl7 {

namespace detail {

inline parse_failure
message_builder::adopt(message& m, std::string& text, parse_options const& opts)
{
    if (text.size() > std::min(opts.max_message_size, max_indexed_size))
        return parse(m, text, opts); // fails before touching `text`
    m.text_.swap(text);
    // The engine assigns the text to the message: a string assigned its own
    // bytes keeps them where they are.
    auto const fail = parse(m, m.text_, opts);
    if (fail.ec)
        m.text_.swap(text);
    return fail;
}

} // namespace detail

/** Parse `text` into `out`, reusing `out`'s memory (the hot path for a
    receiver that parses message after message).

    On failure `ec` is set, `error_offset` (if given) receives the byte
    offset of the problem, and `out` is left empty.
*/
inline void
parse_into(message& out, std::string_view text, std::error_code& ec, parse_options const& options = {},
           std::size_t* error_offset = nullptr)
{
    auto const fail = detail::message_builder::parse(out, text, options);
    ec = fail.ec;
    if (error_offset)
        *error_offset = fail.offset;
    if (ec)
        out = message();
}

/** Parse one HL7 v2 message.

    Delimiters come from MSH-1/MSH-2. Segments end at CR and, unless
    `options.strict_terminators`, at LF or CRLF. The text is copied; bytes
    are kept as they are in any encoding.

    @throws hl7::parse_error naming the problem, its byte offset and segment.
*/
inline message
parse(std::string_view text, parse_options const& options = {})
{
    message out;
    auto const fail = detail::message_builder::parse(out, text, options);
    if (fail.ec) {
        throw parse_error(fail.ec, fail.offset, fail.segment,
                          fail.ec.message() + " " + error_position(fail.offset, fail.segment));
    }
    return out;
}

/** As parse(text), but the message takes the string's buffer instead of
    copying it: `hl7::parse(std::move(text))` (any std::string rvalue).
    Used by `stream_reader::readmessage()` for large frames. If it throws,
    `text` is unchanged (the same `parse_error` as parse(text)). */
template<class String>
    requires std::same_as<String, std::string>
message
parse(String&& text, parse_options const& options = {})
{
    message out;
    if (!detail::message_builder::adopt(out, text, options).ec)
        return out;
    return parse(std::string_view(text), options); // throws what parse(text) throws
}

/// As parse_into(out, text, ec, ...), taking the string's buffer (see parse(std::string&&)).
template<class String>
    requires std::same_as<String, std::string>
void
parse_into(message& out, String&& text, std::error_code& ec, parse_options const& options = {},
           std::size_t* error_offset = nullptr)
{
    auto const fail = detail::message_builder::adopt(out, text, options);
    ec = fail.ec;
    if (error_offset)
        *error_offset = fail.offset;
    if (ec)
        out = message();
}

/// As parse(text), reporting failure through `ec` (returning an empty message).
inline message
parse(std::string_view text, std::error_code& ec, parse_options const& options = {})
{
    message out;
    parse_into(out, text, ec, options);
    return out;
}

} // namespace hl7

#endif
