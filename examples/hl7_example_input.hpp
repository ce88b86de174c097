#ifndef HL7_EXAMPLES_HL7_EXAMPLE_INPUT_HPP
#define HL7_EXAMPLES_HL7_EXAMPLE_INPUT_HPP

// Reading messages from files for the bundled programs (hl7_sender,
// hl7_dump). Only the model and the MLLP framing characters are used here
// (no Asio).
//
// A file holds either plain HL7 text (one message, several messages, a batch
// or a file with FHS/BHS; segments ending in CR, LF or CRLF), or MLLP frames
// (VT payload FS CR) as python-hl7's `mllp_send --file` expects them.

#include <hl7/mllp/frame_decoder.hpp>
#include <hl7/parser/batch.hpp>
#include <hl7/model/error.hpp>
#include <hl7/model/message.hpp>
#include <hl7/parser/parse_options.hpp>
#include <hl7/parser/parse.hpp>

#include <algorithm>
#include <cstddef>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace hl7_example {

/// A file that could not be read or holds no usable message.
class input_error : public std::runtime_error
{
public:
    using std::runtime_error::runtime_error;
};

/// The whole content of `path` ("-" reads standard input), as bytes.
inline std::string
read_all(std::string const& path)
{
    if (path == "-") {
        std::ostringstream s;
        s << std::cin.rdbuf();
        if (std::cin.bad())
            throw input_error("cannot read standard input");
        return std::move(s).str();
    }
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw input_error("cannot open " + path);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad())
        throw input_error("cannot read " + path);
    return text;
}

using hl7::mllp::end_block;
using hl7::mllp::start_block;

/// True when `text` holds MLLP framing characters (a file meant for mllp_send).
inline bool
is_framed(std::string_view text) noexcept
{
    return text.find(start_block) != std::string_view::npos || text.find(end_block) != std::string_view::npos;
}

/// A payload found in framed text and where it starts in that text.
struct framed_payload
{
    std::size_t offset;
    std::string_view payload;
};

/** The payloads of framed text: what stands between each VT and the next FS.
    Bytes outside frames (line breaks between frames) are skipped; a last
    frame without FS runs to the end of the text, as mllp_send would read it
    (it would then fail with "buffer not terminated"). */
inline std::vector<framed_payload>
split_frames(std::string_view text)
{
    std::vector<framed_payload> out;
    std::size_t pos = 0;
    while ((pos = text.find(start_block, pos)) != std::string_view::npos) {
        std::size_t const begin = pos + 1;
        std::size_t const end = std::min(text.find(end_block, begin), text.size());
        out.push_back({begin, text.substr(begin, end - begin)});
        pos = end;
    }
    return out;
}

/// `e` as a sentence: "<what went wrong> at byte N (segment S)".
inline std::string
describe(hl7::parse_error const& e, std::size_t base_offset = 0)
{
    return e.code().message() + " " + hl7::error_position(base_offset + e.offset(), e.segment());
}

namespace detail {

inline void
append_messages(std::vector<hl7::message>& out, std::string_view text, hl7::parse_options const& opts)
{
    auto parsed = hl7::parse_hl7(text, opts);
    if (auto* m = std::get_if<hl7::message>(&parsed)) {
        out.push_back(std::move(*m));
    }
    else if (auto* b = std::get_if<hl7::batch>(&parsed)) {
        for (auto& m : b->messages)
            out.push_back(std::move(m));
    }
    else {
        for (auto& b : std::get<hl7::file>(parsed).batches)
            for (auto& m : b.messages)
                out.push_back(std::move(m));
    }
}

} // namespace detail

/** Every message in `text` (framed or plain, see the file comment), in order.
    Headers and trailers of batches and files are dropped: what is sent over
    MLLP are the messages. Throws input_error naming the problem and its byte
    offset in `text` if anything does not parse. */
inline std::vector<hl7::message>
messages_in(std::string_view text, hl7::parse_options const& opts = {})
{
    std::vector<hl7::message> out;
    if (is_framed(text)) {
        std::size_t n = 0;
        for (auto const& f : split_frames(text)) {
            ++n;
            try {
                detail::append_messages(out, f.payload, opts);
            }
            catch (hl7::parse_error const& e) {
                throw input_error("frame " + std::to_string(n) + ": " + describe(e, f.offset));
            }
        }
    }
    else {
        try {
            detail::append_messages(out, text, opts);
        }
        catch (hl7::parse_error const& e) {
            throw input_error(describe(e));
        }
    }
    if (out.empty())
        throw input_error("no HL7 message found");
    return out;
}

} // namespace hl7_example

#endif
