#ifndef HL7_MODEL_ACK_MODE_HPP
#define HL7_MODEL_ACK_MODE_HPP

/** @file
    Original and enhanced acknowledgement mode (HL7 v2.5 section 2.9): which
    acknowledgements a receiver sends for a message, as plain functions of
    MSH-15, MSH-16 and the outcome (no I/O).

    - **Original mode** (MSH-15 and MSH-16 both empty, and every v2.0/v2.1
      message): one answer, the application acknowledgement AA/AE/AR,
      always.
    - **Enhanced mode** (either is given, v2.2 on): up to two answers. The
      *commit* (accept) acknowledgement CA/CE/CR says the message was
      received and taken responsibility for (CR: refused, e.g. unsupported
      type or incomplete header; CE: could not be kept); it is sent as MSH-15
      asks. The *application* acknowledgement AA/AE/AR says how processing
      went; it is a message of its own (own MSH-10, MSA-2 = the original
      MSH-10), sent as MSH-16 asks, and only for a message that was
      committed.
    - Table 0155 conditions: `AL` always, `NE` never, `ER` only for an error
      or rejection (CE/CR, AE/AR), `SU` only for success (CA, AA). In
      enhanced mode an empty field, or a value not in the table, counts as
      `AL`: an answer nobody asked to suppress is sent.

    What "commit" means depends on the receiver: with a durable store, CA
    means the message is stored; without one (hl7::router alone) it means
    the message was read, its header is complete and a handler is routed for
    it, and it is in memory only.
*/

#include <hl7/model/ack.hpp>
#include <hl7/model/message.hpp>

#include <string>
#include <string_view>
#include <utility>

namespace hl7 {

/// HL7 table 0155: when an acknowledgement is wanted (MSH-15, MSH-16).
enum class ack_condition {
    always,       ///< AL (also: empty or unknown, in enhanced mode)
    never,        ///< NE
    error_only,   ///< ER: error/reject conditions only
    success_only, ///< SU: successful completion only
};

/// Which acknowledgement mode a message asks for.
enum class ack_mode {
    original, ///< one answer: AA/AE/AR
    enhanced, ///< commit ACK (CA/CE/CR) and application ACK (AA/AE/AR), each as asked
};

/// What a message asks for (see the file comment).
struct ack_requirements
{
    ack_mode mode = ack_mode::original;
    ack_condition accept = ack_condition::always;      ///< MSH-15, in enhanced mode
    ack_condition application = ack_condition::always; ///< MSH-16, in enhanced mode
};

/// Table 0155 value to condition; empty and unknown values are `always`.
inline ack_condition
to_ack_condition(std::string_view value) noexcept
{
    if (value == "NE")
        return ack_condition::never;
    if (value == "ER")
        return ack_condition::error_only;
    if (value == "SU")
        return ack_condition::success_only;
    return ack_condition::always;
}

/** The requirements of a message whose MSH-15 is `accept_type`, MSH-16
    `application_type` and MSH-12.1 `version`: original mode when both are
    empty or the version is 2.0/2.1 (which have no enhanced mode). */
inline ack_requirements
acknowledgement_requirements(std::string_view accept_type, std::string_view application_type,
                             std::string_view version = {}) noexcept
{
    ack_requirements r;
    bool const before_enhanced = version == "2.0" || version == "2.0D" || version == "2.1";
    if ((accept_type.empty() && application_type.empty()) || before_enhanced)
        return r;
    r.mode = ack_mode::enhanced;
    r.accept = to_ack_condition(accept_type);
    r.application = to_ack_condition(application_type);
    return r;
}

/// The requirements `m`'s header states (MSH-15, MSH-16, MSH-12).
inline ack_requirements
acknowledgement_requirements(message const& m) noexcept
{
    return acknowledgement_requirements(m.accept_ack_type(), m.application_ack_type(), m.version());
}

/// True for the success codes AA and CA.
inline bool
is_success_ack_code(std::string_view code) noexcept
{
    return code == "AA" || code == "CA";
}

/// Whether an acknowledgement with MSA-1 `code` is wanted under `condition`.
inline bool
ack_wanted(ack_condition condition, std::string_view code) noexcept
{
    switch (condition) {
    case ack_condition::always: return true;
    case ack_condition::never: return false;
    case ack_condition::error_only: return !is_success_ack_code(code);
    case ack_condition::success_only: return is_success_ack_code(code);
    }
    return true;
}

/// Whether to send the commit acknowledgement `code` (CA/CE/CR): never in
/// original mode; in enhanced mode as MSH-15 asks.
inline bool
send_commit_ack(ack_requirements const& r, std::string_view code) noexcept
{
    return r.mode == ack_mode::enhanced && ack_wanted(r.accept, code);
}

/// Whether to send the application acknowledgement `code` (AA/AE/AR):
/// always in original mode; in enhanced mode as MSH-16 asks.
inline bool
send_application_ack(ack_requirements const& r, std::string_view code) noexcept
{
    return r.mode == ack_mode::original || ack_wanted(r.application, code);
}

/// How far a message got: what the codes of its acknowledgements say.
enum class ack_outcome {
    accepted, ///< CA / AA
    error,    ///< CE / AE
    rejected, ///< CR / AR
};

/// The acknowledgements to send for one message; an empty code means none.
struct ack_decision
{
    std::string_view commit;      ///< CA, CE or CR (enhanced mode only)
    std::string_view application; ///< AA, AE or AR
};

/** Every acknowledgement for one message, from its requirements, whether it
    was committed (`commit`: accepted, or refused as an error or rejection)
    and, if it was, how processing went (`application`).

    In original mode the one answer is the application code, or AE/AR when
    the message was not committed. In enhanced mode the commit code goes
    out as MSH-15 asks, the application code (only after a commit) as
    MSH-16 asks.
*/
inline ack_decision
decide_acknowledgements(ack_requirements const& r, ack_outcome commit, ack_outcome application) noexcept
{
    static constexpr std::string_view commit_codes[] = {"CA", "CE", "CR"};
    static constexpr std::string_view application_codes[] = {"AA", "AE", "AR"};
    ack_decision d;
    if (r.mode == ack_mode::original) {
        d.application = application_codes[static_cast<int>(commit == ack_outcome::accepted ? application : commit)];
        return d;
    }
    std::string_view const c = commit_codes[static_cast<int>(commit)];
    if (send_commit_ack(r, c))
        d.commit = c;
    if (commit == ack_outcome::accepted) {
        std::string_view const a = application_codes[static_cast<int>(application)];
        if (send_application_ack(r, a))
            d.application = a;
    }
    return d;
}

/** One acknowledgement of `m` with MSA-1 `code` (AA/AE/AR or CA/CE/CR),
    the text, table 0357 error code and ERR location given, and the rest
    from `base` (default version, application, ...). In enhanced mode each
    acknowledgement is a message of its own: call it once per code of an
    ack_decision. Throws what message::create_ack throws (std::invalid_argument
    for a bad location).
*/
inline message
make_acknowledgement(message const& m, std::string_view code, ack_options base = {}, std::string text = {},
                     std::string_view error_code = {}, std::string_view location = {})
{
    base.code = std::string(code);
    base.text = std::move(text);
    base.error_code = std::string(error_code);
    base.error_location = std::string(location);
    return m.create_ack(base);
}

} // namespace hl7

#endif
