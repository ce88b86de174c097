#ifndef HL7_ERROR_HPP
#define HL7_ERROR_HPP

#include <cstddef>
#include <stdexcept>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>

namespace hl7 {

/** Errors of the message model: parsing, paths, editing, batches, dates.

    Category name `"hl7"`. Value 0 is never used (it means success).
    Networking errors live in `hl7::mllp::error` (category `"hl7.mllp"`).
*/
enum class error {
    // -- parsing a message -------------------------------------------------
    /// The input holds no segment at all (empty or only line breaks).
    empty_message = 1,
    /// The first segment is not MSH (or BHS/FHS where those are allowed).
    no_header,
    /// The header ends before its field separator and encoding characters.
    truncated_header,
    /// MSH-1/MSH-2 declare repeated delimiters, or a CR, LF or NUL as one.
    invalid_delimiters,
    /// A segment id is not three ASCII letters or digits.
    invalid_segment_id,
    /// An empty line between segments, with `parse_options::allow_empty_segments` off.
    empty_segment,
    /// The input is larger than `parse_options::max_message_size`.
    message_too_large,
    /// More segments than `parse_options::max_segments`.
    too_many_segments,
    /// A segment with more fields than `parse_options::max_fields`.
    too_many_fields,

    // -- batches and files -------------------------------------------------
    /// A second BHS inside one batch.
    duplicate_batch_header,
    /// A second FHS in one file.
    duplicate_file_header,
    /// A segment that belongs to a message appears before any MSH.
    segment_before_header,
    /// A trailer (BTS/FTS) with no matching header, or content after FTS.
    unexpected_trailer,

    // -- paths and access --------------------------------------------------
    /// A path such as `PID.F3.R1.C1` that cannot be read as one.
    invalid_path,
    /// The message has no segment with that id (or not that many of them).
    segment_not_found,
    /// MSH-1 and MSH-2 define the delimiters and cannot be edited in place.
    read_only_field,
    /// An index of 0 or past the end where a 1-based position was needed.
    index_out_of_range,
    /// Text given as one segment contains a segment terminator (CR or LF).
    embedded_terminator,

    // -- data types --------------------------------------------------------
    /// A DTM/TS value that is not `YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ]`.
    invalid_datetime,

    // -- the message header (hl7::validate_header) --------------------------
    /// MSH-9.1, the message code, is empty or the header has no MSH-9.
    missing_message_type,
    /// MSH-9.2, the trigger event, is empty.
    missing_trigger_event,
    /// MSH-10, the message control id, is empty.
    missing_control_id,
    /// MSH-11, the processing id, is empty.
    missing_processing_id,
    /// MSH-12, the version id, is empty.
    missing_version,
    /// MSH-12 names no HL7 v2 version (2.1 to 2.8.x), when asked to check it.
    unsupported_version,
    /// The message's first segment is not MSH (a batch or file header, or none).
    not_a_message_header,

    // -- character sets (hl7/model/charset.hpp) ----------------------------
    /// MSH-18 (or a name given) is not a character set of HL7 table 0211.
    unknown_character_set,
    /// A table 0211 character set this library or platform cannot convert
    /// (e.g. UTF-16, whose bytes cannot carry HL7's one-byte delimiters).
    unsupported_character_set,
    /// Bytes that are not valid text in the declared character set.
    invalid_character,
    /// A character the target character set cannot represent.
    unrepresentable_character,
};

namespace detail {

class error_category_impl final : public std::error_category
{
public:
    char const*
    name() const noexcept override
    {
        return "hl7";
    }

    std::string
    message(int ev) const override
    {
        switch (static_cast<error>(ev)) {
        case error::empty_message: return "message is empty";
        case error::no_header: return "message does not start with an MSH segment";
        case error::truncated_header: return "header segment ends before its encoding characters";
        case error::invalid_delimiters: return "header declares invalid or repeated delimiters";
        case error::invalid_segment_id: return "segment id is not three letters or digits";
        case error::empty_segment: return "empty segment";
        case error::message_too_large: return "message is larger than the size limit";
        case error::too_many_segments: return "message has more segments than the limit";
        case error::too_many_fields: return "segment has more fields than the limit";
        case error::duplicate_batch_header: return "batch cannot have more than one BHS segment";
        case error::duplicate_file_header: return "file cannot have more than one FHS segment";
        case error::segment_before_header: return "segment received before message header";
        case error::unexpected_trailer: return "trailer segment without matching header";
        case error::invalid_path: return "invalid field path";
        case error::segment_not_found: return "segment not found";
        case error::read_only_field: return "MSH-1 and MSH-2 cannot be edited";
        case error::embedded_terminator: return "segment text contains a segment terminator";
        case error::index_out_of_range: return "index out of range";
        case error::invalid_datetime: return "malformed HL7 date/time";
        case error::missing_message_type: return "message type (MSH-9) is missing";
        case error::missing_trigger_event: return "trigger event (MSH-9.2) is missing";
        case error::missing_control_id: return "message control id (MSH-10) is missing";
        case error::missing_processing_id: return "processing id (MSH-11) is missing";
        case error::missing_version: return "version id (MSH-12) is missing";
        case error::unsupported_version: return "version id (MSH-12) is not a supported HL7 v2 version";
        case error::not_a_message_header: return "first segment is not an MSH message header";
        case error::unknown_character_set: return "unknown character set";
        case error::unsupported_character_set: return "character set cannot be converted";
        case error::invalid_character: return "bytes not valid in the declared character set";
        case error::unrepresentable_character: return "character cannot be represented in the target character set";
        }
        return "hl7 error";
    }

    std::error_condition
    default_error_condition(int ev) const noexcept override
    {
        switch (static_cast<error>(ev)) {
        case error::message_too_large:
        case error::too_many_segments:
        case error::too_many_fields: return std::errc::message_size;
        case error::invalid_path:
        case error::read_only_field:
        case error::index_out_of_range:
        case error::embedded_terminator: return std::errc::invalid_argument;
        case error::invalid_character:
        case error::unrepresentable_character: return std::errc::illegal_byte_sequence;
        default: return {ev, *this};
        }
    }
};

} // namespace detail

/// The `"hl7"` error category.
inline std::error_category const&
error_category() noexcept
{
    static detail::error_category_impl const category;
    return category;
}

inline std::error_code
make_error_code(error e) noexcept
{
    return {static_cast<int>(e), error_category()};
}

//--------------------------------------------------------------------------
// Exceptions. Each is a std::system_error carrying an hl7::error code, so
// `catch (std::system_error const& e)` and `e.code() == hl7::error::...`
// both work; the derived types add where the problem was.
//
// what() says each thing once. std::system_error's own what() is
// "<text>: <code's message>", which repeated the message whenever the text
// already said it ("segment not found: PID.5.1.1: segment not found"), so
// these classes keep their own text.

namespace detail {

/// An exception's text, copied without allocating (std::runtime_error
/// shares its string), as exceptions must be copyable without throwing.
class exception_text
{
public:
    explicit exception_text(std::string const& text) : text_(text) {}

    char const*
    c_str() const noexcept
    {
        return text_.what();
    }

private:
    std::runtime_error text_;
};

} // namespace detail

/** Where a parse error is, as its messages say it: `"at byte 42 (segment 3)"`,
    or `"at byte 42"` when `segment` is 0 (not within a segment). For a
    caller's own message: `e.code().message() + " " + hl7::error_position(e.offset(), e.segment())`. */
inline std::string
error_position(std::size_t offset, std::size_t segment)
{
    std::string out = "at byte " + std::to_string(offset);
    if (segment)
        out += " (segment " + std::to_string(segment) + ")";
    return out;
}

/** Input that is not a well-formed HL7 message, batch or file.

    `offset()` is the byte offset in the input where the problem was found,
    `segment()` the 1-based segment number (0 when not within a segment).
    what() is `"<the code's message> at byte 42 (segment 3)"`, or the text
    given.
*/
class parse_error : public std::system_error
{
public:
    /// what(): the code's message and error_position(offset, segment).
    parse_error(std::error_code ec, std::size_t offset, std::size_t segment)
        : parse_error(ec, offset, segment, ec.message() + " " + error_position(offset, segment))
    {
    }

    /// what(): exactly `what`.
    parse_error(std::error_code ec, std::size_t offset, std::size_t segment, std::string const& what)
        : std::system_error(ec), offset_(offset), segment_(segment), text_(what)
    {
    }

    std::size_t offset() const noexcept { return offset_; }
    std::size_t segment() const noexcept { return segment_; }

    char const*
    what() const noexcept override
    {
        return text_.c_str();
    }

private:
    std::size_t offset_;
    std::size_t segment_;
    detail::exception_text text_;
};

/// A batch or file whose headers and trailers do not fit together.
class batch_error : public parse_error
{
public:
    using parse_error::parse_error;
};

/** A path (`PID.F3.R1.C1`) that is malformed, or that names a part the
    message cannot have. `path()` is the path as given; what() is
    `"segment not found: PID.5.1.1"`. */
class path_error : public std::system_error
{
public:
    path_error(std::error_code ec, std::string path)
        : std::system_error(ec), path_(std::move(path)), text_(ec.message() + ": " + path_)
    {
    }

    std::string const& path() const noexcept { return path_; }

    char const*
    what() const noexcept override
    {
        return text_.c_str();
    }

private:
    std::string path_;
    detail::exception_text text_;
};

/// A date/time value that is not a valid HL7 DTM; what() is
/// `"malformed HL7 date/time: '<value>'"`.
class datetime_error : public std::system_error
{
public:
    datetime_error(std::error_code ec, std::string const& value)
        : std::system_error(ec), text_(ec.message() + ": '" + value + "'")
    {
    }

    char const*
    what() const noexcept override
    {
        return text_.c_str();
    }

private:
    detail::exception_text text_;
};

} // namespace hl7

template<>
struct std::is_error_code_enum<hl7::error> : std::true_type
{
};

#endif
