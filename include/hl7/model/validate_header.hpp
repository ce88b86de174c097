#ifndef HL7_MODEL_VALIDATE_HEADER_HPP
#define HL7_MODEL_VALIDATE_HEADER_HPP

/** @file
    hl7::validate_header: does a message carry what identifies it?

    A message whose header lacks its type, control id or version cannot be
    processed or even correlated; a receiver must not answer it with AA.
    validate_header() names the first missing field as a typed error
    (`hl7::error::missing_control_id`, ...), and make_header_nak() turns
    that into the AR (HL7 table 0357 code 101, "required field missing",
    with the field as ERR location) the sender can act on.
*/

#include <hl7/model/ack.hpp>
#include <hl7/model/error.hpp>
#include <hl7/model/message.hpp>

#include <string>
#include <string_view>
#include <system_error>

namespace hl7 {

/** What validate_header() requires of a header. The defaults follow the
    standard, which makes MSH-9, MSH-10, MSH-11 and MSH-12 required in every
    version from 2.1 to 2.8; lenient() keeps only what correlating an ACK
    needs, for feeds that leave the rest empty.

    Every member has an initializer (designated initializers build cleanly).
*/
struct header_rules
{
    /// MSH-9.1, the message code (`ADT`).
    bool require_message_type = true;
    /// MSH-9.2, the trigger event (`A01`); never required of an `ACK`,
    /// whose trigger is optional in practice (and absent before v2.2).
    bool require_trigger_event = true;
    /// MSH-10, the control id: without it no ACK can be matched (MSA-2).
    bool require_control_id = true;
    /// MSH-11, the processing id (P, T, D).
    bool require_processing_id = true;
    /// MSH-12, the version id.
    bool require_version = true;
    /// MSH-12.1 must name an HL7 v2 version (2.0 to 2.8.x, or 2.9):
    /// otherwise `unsupported_version` (table 0357 code 203). Off by default.
    bool require_known_version = false;

    /// Only the control id: for feeds that send incomplete headers.
    static header_rules
    lenient() noexcept
    {
        header_rules r;
        r.require_message_type = false;
        r.require_trigger_event = false;
        r.require_processing_id = false;
        r.require_version = false;
        return r;
    }
};

/** Checks the header of `m` against `rules`.

    @return an empty error_code, or the first problem in field order:
    `not_a_message_header` (the first segment is a BHS/FHS or missing),
    `missing_message_type` (MSH-9.1), `missing_trigger_event` (MSH-9.2),
    `missing_control_id` (MSH-10), `missing_processing_id` (MSH-11),
    `missing_version` (MSH-12), `unsupported_version`. The code's message
    names the field ("message control id (MSH-10) is missing").
*/
inline std::error_code
validate_header(message const& m, header_rules const& rules = {}) noexcept
{
    if (m.empty() || m.segment_at(1).id() != "MSH")
        return make_error_code(error::not_a_message_header);
    if (rules.require_message_type && m.message_type().empty())
        return make_error_code(error::missing_message_type);
    if (rules.require_trigger_event && m.trigger_event().empty() && m.message_type() != "ACK")
        return make_error_code(error::missing_trigger_event);
    if (rules.require_control_id && m.control_id().empty())
        return make_error_code(error::missing_control_id);
    if (rules.require_processing_id && m.processing_id().empty())
        return make_error_code(error::missing_processing_id);
    if (rules.require_version && m.version().empty())
        return make_error_code(error::missing_version);
    if (rules.require_known_version && !ack_rules_for(m.version()))
        return make_error_code(error::unsupported_version);
    return {};
}

/// What a header error means in an ACK: the field it names, where (for ERR), and its table 0357 code.
struct header_error_info
{
    std::string_view field;      ///< "MSH-10"; empty if the error is no header error
    std::string_view location;   ///< an ack_options::error_location ("MSH.10")
    std::string_view error_code; ///< table 0357: "101" (required field missing), "203", "100"
};

/// header_error_info for an error validate_header() returned.
inline header_error_info
describe_header_error(std::error_code ec) noexcept
{
    if (ec.category() != error_category())
        return {};
    switch (static_cast<error>(ec.value())) {
    case error::not_a_message_header: return {"MSH", "", "100"};
    case error::missing_message_type: return {"MSH-9", "MSH.9", "101"};
    case error::missing_trigger_event: return {"MSH-9.2", "MSH.9.1.2", "101"};
    case error::missing_control_id: return {"MSH-10", "MSH.10", "101"};
    case error::missing_processing_id: return {"MSH-11", "MSH.11", "101"};
    case error::missing_version: return {"MSH-12", "MSH.12", "101"};
    case error::unsupported_version: return {"MSH-12", "MSH.12", "203"};
    default: return {};
    }
}

/** The rejection of a message that failed validate_header() with `ec`:
    MSA-1 `code` (AR; CR when answering in enhanced mode), the field named
    in the text and the ERR location, table 0357 code 101 (203 for an
    unsupported version, 100 when there is no MSH). `base` supplies the
    rest (default version, application, ...); its code, text, error code
    and location are replaced. Never throws for a parsed message.
*/
inline message
make_header_nak(message const& m, std::error_code ec, std::string_view code = "AR", ack_options base = {})
{
    header_error_info const info = describe_header_error(ec);
    base.code = std::string(code);
    base.text = ec.message();
    base.error_code = info.error_code.empty() ? std::string("207") : std::string(info.error_code);
    base.error_location = std::string(info.location);
    if (!m.empty() && m.segment_at(1).id() == "MSH")
        return m.create_ack(base);
    return make_nak(m.to_string(), base);
}

} // namespace hl7

#endif
