#ifndef HL7_PARSE_OPTIONS_HPP
#define HL7_PARSE_OPTIONS_HPP

#include <cstddef>

namespace hl7 {

/** Limits and leniency for parsing messages, batches and files.

    Every limit has a safe default; going past one is a clear error
    (`hl7::error::message_too_large`, `too_many_segments`, `too_many_fields`),
    never unbounded memory. Memory used by a parsed message is bounded by a
    small multiple of `max_message_size`.
*/
struct parse_options
{
    /// Largest input accepted, in bytes. Default 64 MiB; values above 1 GiB act as 1 GiB.
    std::size_t max_message_size = std::size_t{64} << 20;

    /// Most segments in one message (for batches and files: in the whole input). Default 100,000.
    std::size_t max_segments = 100'000;

    /// Most fields in one segment, not counting the segment id. Default 10,000.
    std::size_t max_fields = 10'000;

    /** Accept only CR as segment terminator. Off by default: LF and CRLF also
        end segments, as in files written on Unix or Windows. Serialising
        always writes CR. */
    bool strict_terminators = false;

    /** Skip empty lines between segments (and before the first one). On by
        default, since files and hand-edited messages often have them; with
        it off an empty line is `hl7::error::empty_segment`. */
    bool allow_empty_segments = true;

    /** Require segment ids to be three ASCII letters or digits. On by default;
        binary junk then fails with `invalid_segment_id` at its position. */
    bool validate_segment_ids = true;
};

} // namespace hl7

#endif
