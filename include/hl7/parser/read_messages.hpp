#ifndef HL7_PARSER_READ_MESSAGES_HPP
#define HL7_PARSER_READ_MESSAGES_HPP

/** @file
    The messages of a file: hl7::read_messages(path) and
    hl7::split_messages(text).

    A file holds one message, several messages one after the other, a batch
    or a file with FHS/BHS headers (segments ending in CR, LF or CRLF), or
    MLLP frames (`VT payload FS CR`, as python-hl7's `mllp_send --file`
    expects them). Either way the result is the messages, in order; batch
    and file headers and trailers are dropped. No Asio.
*/

#include <hl7/model/error.hpp>
#include <hl7/model/message.hpp>
#include <hl7/parser/batch.hpp>
#include <hl7/parser/parse_options.hpp>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <variant>
#include <vector>

namespace hl7 {

namespace detail {

inline constexpr char mllp_start_block = '\x0b';
inline constexpr char mllp_end_block = '\x1c';

inline void
append_parsed(std::vector<message>& out, std::string_view text, parse_options const& opts)
{
    auto parsed = parse_hl7(text, opts);
    if (auto* m = std::get_if<message>(&parsed)) {
        out.push_back(std::move(*m));
    }
    else if (auto* b = std::get_if<batch>(&parsed)) {
        for (auto& m : b->messages)
            out.push_back(std::move(m));
    }
    else {
        for (auto& b : std::get<file>(parsed).batches)
            for (auto& m : b.messages)
                out.push_back(std::move(m));
    }
}

} // namespace detail

/** The messages in `text` (see the file comment), in order.

    MLLP-framed text is recognised by its framing bytes (VT 0x0B or FS
    0x1C anywhere): each payload between a VT and the next FS (or the end)
    is parsed on its own, bytes between frames are ignored. `opts` applies
    to each message, batch or file (`max_message_size` to the whole text).

    @throws hl7::parse_error (or hl7::batch_error) for anything that does not
    parse, with the offset in `text`; for a framed text what() also names
    the frame. Text with no message at all is `hl7::error::empty_message`.
*/
inline std::vector<message>
split_messages(std::string_view text, parse_options const& opts = {})
{
    if (text.size() > opts.max_message_size)
        throw parse_error(make_error_code(error::message_too_large), opts.max_message_size, 0);
    std::vector<message> out;
    if (text.find(detail::mllp_start_block) == std::string_view::npos &&
        text.find(detail::mllp_end_block) == std::string_view::npos) {
        detail::append_parsed(out, text, opts);
        return out;
    }
    std::size_t frame = 0;
    for (std::size_t pos = 0; (pos = text.find(detail::mllp_start_block, pos)) != std::string_view::npos;) {
        std::size_t const begin = pos + 1;
        std::size_t const end = std::min(text.find(detail::mllp_end_block, begin), text.size());
        ++frame;
        try {
            detail::append_parsed(out, text.substr(begin, end - begin), opts);
        }
        catch (parse_error const& e) {
            std::size_t const at = begin + e.offset();
            std::string what = e.code().message() + " at byte " + std::to_string(at) + " (";
            if (e.segment())
                what += "segment " + std::to_string(e.segment()) + " of ";
            what += "frame " + std::to_string(frame) + ")";
            throw parse_error(e.code(), at, e.segment(), what);
        }
        pos = end;
    }
    if (out.empty())
        throw parse_error(make_error_code(error::empty_message), 0, 0, "no MLLP frame holds a message");
    return out;
}

/** The messages of the file at `path` (see split_messages), read as bytes.

    @throws std::system_error (the OS error, what() naming the file) if it
    cannot be read; whatever split_messages throws for its content.
*/
inline std::vector<message>
read_messages(std::filesystem::path const& path, parse_options const& opts = {})
{
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        int const e = errno;
        throw std::system_error(e ? e : ENOENT, std::generic_category(), "cannot open " + path.string());
    }
    std::string text;
    std::error_code size_ec;
    auto const size = std::filesystem::file_size(path, size_ec);
    if (!size_ec && size > opts.max_message_size)
        throw parse_error(make_error_code(error::message_too_large), opts.max_message_size, 0,
                          path.string() + " is larger than the size limit of " +
                              std::to_string(opts.max_message_size) + " bytes");
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (in.bad())
        throw std::system_error(EIO, std::generic_category(), "cannot read " + path.string());
    return split_messages(text, opts);
}

} // namespace hl7

#endif
