#ifndef HL7_DETAIL_CONNECTION_OPTIONS_HPP
#define HL7_DETAIL_CONNECTION_OPTIONS_HPP

// hl7::connection_options, shared by client.hpp, server.hpp and the reader /
// writer facade (documented with open_hl7_connection in hl7/client.hpp).

#include <hl7/mllp/frame_decoder.hpp>
#include <hl7/parser/parse_options.hpp>

#include <chrono>
#include <cstddef>

namespace hl7 {

/** Settings of one MLLP connection (client side; a server applies
    `server_options::connection` to each connection it accepts).

    Every limit has a safe default; zero durations mean "off".
*/
struct connection_options
{
    /** Largest frame payload accepted, in bytes. Default 16 MiB (python-hl7:
        64 KiB), enough for documents or images as base64 in OBX-5. A larger
        frame is discarded as it arrives (memory stays bounded) and the read
        throws `mllp::frame_too_large_error`; the next read continues with the
        next frame. */
    std::size_t max_frame_size = mllp::default_max_frame_size;

    /** Bytes outside frames: `lenient` (default) skips them, including stray
        CR/LF, and restarts at a nested VT; `strict` is python-hl7's
        behaviour (`mllp::invalid_block_error`). See `mllp::framing`. */
    mllp::framing framing = mllp::framing::lenient;

    /// Limits and leniency for `readmessage()`.
    parse_options parse{};

    /** Resolving and connecting must finish within this, or
        `open_hl7_connection` throws `mllp::timeout_error`
        (`mllp::error::connect_timeout`). Default 10 s; 0 = no limit. */
    std::chrono::steady_clock::duration connect_timeout = std::chrono::seconds(10);

    /** Each `readblock()`/`readmessage()` must get a frame within this, or
        throws `mllp::timeout_error` (`mllp::error::read_timeout`); the
        connection stays usable (as with `hl7::wait_for`). Default 0 = off. */
    std::chrono::steady_clock::duration read_timeout{0};

    /// Set TCP_NODELAY: frames go out at once instead of waiting for Nagle.
    /// Default on (MLLP is request/response; Nagle only adds latency).
    bool no_delay = true;
};

} // namespace hl7

#endif
