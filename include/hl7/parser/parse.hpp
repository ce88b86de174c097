#ifndef HL7_PARSER_HPP
#define HL7_PARSER_HPP

#include <hl7/model/message.hpp>
#include <hl7/parser/parse_options.hpp>

#include <string>
#include <string_view>
#include <system_error>

namespace hl7 {

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
