#ifndef HL7_ACK_HPP
#define HL7_ACK_HPP

// Acknowledgements: message::create_ack and make_nak.

#include <hl7/model/control_id.hpp>
#include <hl7/model/datetime.hpp>
#include <hl7/model/message.hpp>
#include <hl7/parser/detail/scanner.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace hl7 {

/** What an acknowledgement says, for message::create_ack(ack_options).

    `code` is MSA-1: AA/AE/AR (original mode) or CA/CE/CR (enhanced mode).
    `text` becomes MSA-3 (escaped with the message's delimiters). For AE, AR,
    CE and CR an ERR segment is added:
    `ERR||<error_location>|<error_code>^<description>^HL70357|E||||<text>`,
    with `error_code` from HL7 table 0357 (default 207, application internal
    error, for AE/AR/CE/CR).
*/
struct ack_options
{
    // Every member has an initializer: g++ 12 warns (-Wmissing-field-initializers)
    // about designated initializers that skip a member without one.
    std::string code = "AA";
    std::string text{};
    std::optional<std::string> message_id{};
    std::optional<std::string> application{};
    std::optional<std::string> facility{};
    std::string error_code{};
    std::string error_location{};
};

/// The description HL7 table 0357 gives an error code ("207" → "Application internal error").
inline std::string_view
error_code_description(std::string_view code) noexcept
{
    struct entry
    {
        std::string_view code, text;
    };
    static constexpr entry table[] = {
        {"0", "Message accepted"},          {"100", "Segment sequence error"},
        {"101", "Required field missing"},  {"102", "Data type error"},
        {"103", "Table value not found"},   {"104", "Value too long"},
        {"200", "Unsupported message type"}, {"201", "Unsupported event code"},
        {"202", "Unsupported processing id"}, {"203", "Unsupported version id"},
        {"204", "Unknown key identifier"},  {"205", "Duplicate key identifier"},
        {"206", "Application record locked"}, {"207", "Application internal error"},
    };
    for (auto const& e : table)
        if (e.code == code)
            return e.text;
    return {};
}

namespace detail {

inline bool
is_error_ack_code(std::string_view code) noexcept
{
    return code == "AE" || code == "AR" || code == "CE" || code == "CR";
}

// Writes the ACK for a header whose fields are given by `field(n)` (raw,
// escaped text in `seps`' delimiters).
template<class FieldFn>
message
build_ack(separators const& seps, FieldFn&& field, std::string_view trigger, ack_options const& o)
{
    char const fs = seps.field;
    std::string t;
    t.reserve(256);
    t += "MSH";
    t += fs;
    t += seps.encoding_characters();
    // Values are copied verbatim, except that a CR or LF (possible in a
    // message parsed with strict terminators, or in caller-given values)
    // is written as an escape sequence so the ACK stays one segment each.
    auto append_value = [&](std::string_view v) {
        for (char c : v) {
            if (c == '\r' || c == '\n') {
                t += seps.escape;
                t += c == '\r' ? "X0D" : "X0A";
                t += seps.escape;
            }
            else
                t += c;
        }
    };
    auto put = [&](std::string_view v) {
        t += fs;
        append_value(v);
    };
    put(o.application ? std::string_view(*o.application) : field(5));
    put(o.facility ? std::string_view(*o.facility) : field(6));
    put(field(3));
    put(field(4));
    put(format_timestamp(std::chrono::system_clock::now()));
    put("");
    t += fs;
    t += "ACK";
    if (!trigger.empty()) {
        t += seps.component;
        append_value(trigger);
        t += seps.component;
        t += "ACK";
    }
    put(o.message_id ? std::string_view(*o.message_id) : std::string_view(generate_message_control_id()));
    put(field(11));
    put(field(12));
    t += segment_terminator;

    t += "MSA";
    put(o.code);
    put(field(10));
    if (!o.text.empty())
        put(escape(o.text, seps));
    t += segment_terminator;

    if (is_error_ack_code(o.code)) {
        std::string_view const code = o.error_code.empty() ? std::string_view("207") : std::string_view(o.error_code);
        t += "ERR";
        put("");
        put(o.error_location);
        t += fs;
        t += code;
        t += seps.component;
        t += error_code_description(code);
        t += seps.component;
        t += "HL70357";
        put("E");
        put("");
        put("");
        put("");
        put(escape(o.text, seps));
        t += segment_terminator;
    }
    parse_options opts;
    opts.validate_segment_ids = false; // values copied verbatim may hold anything
    message ack;
    auto fail = message_builder::parse(ack, t, opts);
    if (fail.ec)
        throw parse_error(fail.ec, fail.offset, fail.segment, fail.ec.message());
    return ack;
}

} // namespace detail

inline message
message::create_ack(ack_options const& o) const
{
    auto const msh = segment("MSH");
    auto field = [&](std::size_t n) { return msh.field(n).raw(); };
    std::string_view const trigger = msh.field(9).component(2).raw();
    return detail::build_ack(seps_, field, trigger, o);
}

inline message
message::create_ack(std::string_view code, std::optional<std::string> message_id,
                    std::optional<std::string> application, std::optional<std::string> facility) const
{
    ack_options o;
    o.code = std::string(code);
    o.message_id = std::move(message_id);
    o.application = std::move(application);
    o.facility = std::move(facility);
    return create_ack(o);
}

/** A negative acknowledgement for a payload that could not be parsed.

    Takes what it can from the payload's first line when that line looks like
    an MSH (its delimiters, applications and facilities, MSH-10 for MSA-2,
    trigger, processing and version ids) and leaves the rest empty, so the
    sender can correlate the NAK when at all possible. Never throws on bad
    input; `code` is usually "AE" or "AR" and `text` says why (it goes into
    MSA-3 and ERR-8, escaped).
*/
inline message
make_nak(std::string_view raw_payload, std::string_view code, std::string_view text,
         std::string_view error_code = "207")
{
    // The header line, after the blank lines parse() would skip.
    auto const breaks = detail::line_breaks::any();
    auto const l = detail::line_at(raw_payload, detail::skip_breaks(raw_payload, 0, breaks), breaks);
    std::string_view const line = raw_payload.substr(l.begin, l.end - l.begin);
    separators seps;
    std::size_t header_end = 0;
    bool const header =
        line.size() >= 4 && detail::starts_with_header_id(line) && !detail::read_delimiters(line, seps, header_end);
    if (!header)
        seps = separators{};
    // Fields of the header line by HL7 number (MSH-1 is the separator).
    auto field = [&](std::size_t n) -> std::string_view {
        if (!header || n < 3)
            return {};
        std::string_view const v = detail::segment_field(line, 3, seps.field, n);
        // A value that could not be re-read safely is left out.
        for (char c : v)
            if (static_cast<unsigned char>(c) < 0x20)
                return {};
        return v;
    };
    // The trigger event: MSH-9.2, up to any further delimiter.
    std::string_view const trigger = detail::piece(
        detail::piece(detail::piece(field(9), seps.component, 2), seps.subcomponent, 1), seps.repetition, 1);
    ack_options o;
    o.code = std::string(code);
    o.text = std::string(text);
    o.error_code = std::string(error_code);
    try {
        return detail::build_ack(seps, field, trigger, o);
    }
    catch (parse_error const&) {
        // The header's values did not survive re-parsing: answer without them.
        return detail::build_ack(separators{}, [](std::size_t) { return std::string_view(); }, {}, o);
    }
}

} // namespace hl7

#endif
