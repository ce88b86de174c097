#ifndef HL7_MLLP_DETAIL_READ_STEP_HPP
#define HL7_MLLP_DETAIL_READ_STEP_HPP

// The one read loop of the MLLP layer, sans-I/O: what to do next to get a
// frame out of a frame_decoder, and what a read's result means. The
// asynchronous read (async_read_frame, which the connection uses too) and
// the blocking read of mllp::stream only carry out its steps.

#include <hl7/detail/asio_config.hpp>
#include <hl7/mllp/frame_decoder.hpp>

#include <asio/error.hpp>

#include <cstddef>
#include <span>
#include <string_view>
#include <system_error>

namespace hl7::mllp::detail {

struct read_step
{
    enum class kind : unsigned char {
        read,  // read once from the stream into `buffer`, then call after_read()
        frame, // done: `payload` (a view into the decoder)
        error, // done: `ec`, as frame_decoder::next() or the stream reported it
    };
    kind what = kind::read;
    std::span<char> buffer{};
    std::string_view payload{};
    std::error_code ec{};
};

/// Decodes what the decoder holds; asks for a read if that is not a frame or an error.
inline read_step
first_step(frame_decoder& d)
{
    std::error_code ec;
    if (auto p = d.next(ec))
        return {read_step::kind::frame, {}, *p, {}};
    if (ec)
        return {read_step::kind::error, {}, {}, ec};
    return {read_step::kind::read, d.prepare(), {}, {}};
}

/// After a read of `n` bytes that ended with `ec`: the end of the stream
/// goes to the decoder (which tells an end between frames from one inside a
/// frame); any other error ends the read as it is.
inline read_step
after_read(frame_decoder& d, std::error_code ec, std::size_t n)
{
    d.commit(n);
    if (ec == asio::error::eof)
        d.put_eof();
    else if (ec)
        return {read_step::kind::error, {}, {}, ec};
    return first_step(d);
}

} // namespace hl7::mllp::detail

#endif
