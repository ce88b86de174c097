#ifndef HL7_ACK_HPP
#define HL7_ACK_HPP

/** @file
    Acknowledgements shaped by the version the message declares:
    message::create_ack and make_nak.

    The acknowledgement of a message follows the rules of the version in its
    MSH-12 (MSH-12.1, e.g. `2.5.1`), so that strict engines of every version
    accept it:

    | version      | MSH-9 of the ACK   | MSA written                         | ERR of an error ACK (AE/AR/CE/CR)                         |
    |--------------|--------------------|-------------------------------------|-----------------------------------------------------------|
    | 2.1 (2.0)    | `ACK^A01`          | 1, 2, 3 (text); CA/CE/CR become AA/AE/AR (no enhanced mode) | `ERR|207`: ERR-1 (ID) holds the table 0357 code only |
    | 2.2, 2.3     | `ACK^A01`          | 1, 2, 3 (text), 6 `207^Application internal error^HL70357` | `ERR|PID^1^3^207&Application internal error&HL70357`: ERR-1 (ELD: segment, sequence, field, code as sub-components) |
    | 2.3.1, 2.4   | `ACK^A01^ACK`      | as 2.2                              | as 2.2                                                    |
    | 2.5, 2.6     | `ACK^A01^ACK`      | 1, 2, 3 (text)                      | `ERR||PID^1^3|207^Application internal error^HL70357|E||||text`: ERR-2 location (ERL), ERR-3 code (CWE, required), ERR-4 severity `E` (required), ERR-8 user message |
    | 2.7, 2.8     | `ACK^A01^ACK`      | 1, 2 (MSA-3 is withdrawn)           | as 2.5; text on an AA/CA goes into `ERR|||0^Message accepted^HL70357|I||||text` |

    - MSH-9: the message type `ACK`, the trigger event of the message
      acknowledged (MSH-9.2), and from v2.3.1 the message structure `ACK`
      (`ACK^^ACK` when the message had no trigger; `ACK` alone before v2.3.1).
    - MSH-11 and MSH-12 are copied from the message (all components); when
      empty, `ack_options::default_processing_id` (P) and
      `ack_options::default_version` (2.5) are written instead, so an ACK is
      always a complete message. MSH-18 (character set) is copied when the
      message has one: the ACK's text is in that set.
    - Versions: 2.5.1 follows 2.5, 2.7.1 2.7, 2.8.x and 2.9 2.8; 2.0 and 2.0D
      follow 2.1; an MSH-12 that names no HL7 v2 version is still copied,
      and the ACK follows the rules of `default_version`.
    - MSA-5 (delayed acknowledgment type) is never written (deprecated since
      2.2, withdrawn in 2.5). MSA-6 (error condition) is written in 2.2 to
      2.4, where it is the place for the error code beside ERR-1; from 2.5
      on it is deprecated (withdrawn in 2.7) and ERR-3 carries the code.
      MSA-3 (text message) is written up to 2.6 (deprecated since 2.4 but
      still read by many receivers) and never from 2.7, where it is
      withdrawn; ERR-8 carries the text from 2.5 on.
    - Codes come from HL7 table 0357 (`error_code_description`); 207
      (application internal error) when none is given.
*/

#include <hl7/model/control_id.hpp>
#include <hl7/model/datetime.hpp>
#include <hl7/model/error.hpp>
#include <hl7/model/message.hpp>
#include <hl7/model/path.hpp>
#include <hl7/parser/parse.hpp>
#include <hl7/parser/detail/scanner.hpp>

#include <chrono>
#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

namespace hl7 {

/** What an acknowledgement says, for message::create_ack(ack_options) and
    make_nak(payload, ack_options).

    Every member has an initializer, so `{.code = "AE", .text = "..."}` builds
    cleanly with -Wextra (g++ 12 warns otherwise).
*/
struct ack_options
{
    /// MSA-1: AA/AE/AR (original mode, or an application ACK in enhanced
    /// mode) or CA/CE/CR (enhanced mode's commit ACK).
    std::string code = "AA";

    /// The text (escaped with the message's delimiters): MSA-3 up to v2.6,
    /// ERR-8 from v2.5 (see the file comment).
    std::string text{};

    /// MSH-10 of the ACK; default a fresh generate_message_control_id().
    std::optional<std::string> message_id{};

    /// MSH-3 and MSH-4 of the ACK (raw); default the message's MSH-5 and MSH-6.
    std::optional<std::string> application{};
    std::optional<std::string> facility{};

    /// For AE/AR/CE/CR: the HL7 table 0357 code (`101`); default `207`.
    std::string error_code{};

    /** For AE/AR/CE/CR: where the error is, as a path (`PID.3`, `OBX2.5.1`,
        `MSH.10`) or in ERL form (`PID^1^3`: segment, sequence, field,
        repetition, component, sub-component). Empty: not said. Anything
        else makes create_ack throw std::invalid_argument. */
    std::string error_location{};

    /// The version whose rules shape the ACK, and MSH-12 of the ACK, when
    /// the message's MSH-12 is empty or names no HL7 v2 version.
    std::string default_version = "2.5";

    /// MSH-11 of the ACK when the message's MSH-11 is empty.
    std::string default_processing_id = "P";
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

/** How one HL7 v2 version shapes an acknowledgement (the table in the file
    comment, one row). */
struct ack_rules
{
    /// How the ERR segment of an error ACK is written.
    enum class error_segment {
        code_only, ///< v2.1: ERR-1 (ID) holds the table 0357 code
        eld,       ///< v2.2 to v2.4: ERR-1 (ELD) location and code
        erl,       ///< v2.5 on: ERR-2 (ERL), ERR-3 (CWE), ERR-4 severity, ERR-8 text
    };

    /// The rule set's name: "2.1", "2.2", "2.3", "2.3.1", "2.4", "2.5", "2.6", "2.7" or "2.8".
    std::string_view name;
    /// Components of MSH-9: 2 (type, trigger) before v2.3.1, then 3 (with the structure).
    int msh9_components;
    /// CA/CE/CR and MSH-15/16 exist (v2.2 on).
    bool enhanced_mode;
    /// MSA-3 carries the text (up to v2.6).
    bool msa_text;
    /// MSA-6 carries the error code (v2.2 to v2.4).
    bool msa_error_condition;
    error_segment err;
    /// Text on an AA/CA goes into an informational ERR (v2.7 on, where MSA-3 is withdrawn).
    bool informational_err;
};

/** The rules for an HL7 version id (MSH-12.1): `2.5.1` gives the 2.5 rules.
    Empty for anything that names no HL7 v2 version. */
inline std::optional<ack_rules>
ack_rules_for(std::string_view version) noexcept
{
    using es = ack_rules::error_segment;
    static constexpr ack_rules rules[] = {
        {"2.1", 2, false, true, false, es::code_only, false},
        {"2.2", 2, true, true, true, es::eld, false},
        {"2.3", 2, true, true, true, es::eld, false},
        {"2.3.1", 3, true, true, true, es::eld, false},
        {"2.4", 3, true, true, true, es::eld, false},
        {"2.5", 3, true, true, false, es::erl, false},
        {"2.6", 3, true, true, false, es::erl, false},
        {"2.7", 3, true, false, false, es::erl, true},
        {"2.8", 3, true, false, false, es::erl, true},
    };
    // "2.<minor>[.<patch>]", "2.0D" (the 2.0 demo release).
    if (version.size() < 3 || version[0] != '2' || version[1] != '.')
        return std::nullopt;
    std::size_t i = 2;
    int minor = 0;
    for (; i < version.size() && version[i] >= '0' && version[i] <= '9' && i < 4; ++i)
        minor = minor * 10 + (version[i] - '0');
    if (i == 2)
        return std::nullopt;
    int patch = 0;
    std::string_view const rest = version.substr(i);
    if (rest == "D" && minor == 0) {
        // 2.0D
    }
    else if (!rest.empty()) {
        if (rest.size() < 2 || rest[0] != '.' || rest.size() > 3)
            return std::nullopt;
        for (char c : rest.substr(1)) {
            if (c < '0' || c > '9')
                return std::nullopt;
            patch = patch * 10 + (c - '0');
        }
    }
    if (minor <= 1)
        return rules[0];
    if (minor == 3)
        return rules[patch >= 1 ? 3 : 2];
    if (minor >= 8)
        return rules[8]; // 2.8.x; 2.9 acknowledges as 2.8 does
    static constexpr int index_of_minor[] = {0, 0, 1, 2, 4, 5, 6, 7};
    return rules[index_of_minor[minor]];
}

namespace detail {

inline bool
is_error_ack_code(std::string_view code) noexcept
{
    return code == "AE" || code == "AR" || code == "CE" || code == "CR";
}

// MSA-1 of the NAK for a payload that failed to parse with `ec`: AR when the
// header or a limit makes the message unidentifiable or unprocessable at
// all, AE for errors further in. Shared by hl7::router and store_then_ack.
inline std::string_view
parse_error_ack_code(std::error_code const& ec) noexcept
{
    bool const reject = ec == error::empty_message || ec == error::no_header || ec == error::truncated_header ||
                        ec == error::invalid_delimiters || ec == error::message_too_large ||
                        ec == error::too_many_segments || ec == error::too_many_fields;
    return reject ? "AR" : "AE";
}

/// Where an error is, as ack_options::error_location says it.
struct error_location_parts
{
    std::string segment;
    std::size_t sequence = 1;
    std::size_t numbers[4] = {0, 0, 0, 0}; // field, repetition, component, sub-component (0: not said)
};

inline std::optional<error_location_parts>
read_error_location(std::string_view text)
{
    error_location_parts out;
    if (text.find('^') != std::string_view::npos) {
        // ERL: segment ^ sequence ^ field ^ repetition ^ component ^ sub-component
        std::size_t k = 0;
        for (std::size_t start = 0;; ++k) {
            std::size_t const cut = text.find('^', start);
            std::string_view const part = text.substr(start, cut == std::string_view::npos ? cut : cut - start);
            if (k == 0) {
                if (!is_valid_segment_id(part))
                    return std::nullopt;
                out.segment = std::string(part);
            }
            else if (k > 6) {
                return std::nullopt;
            }
            else if (!part.empty()) {
                std::size_t value = 0;
                if (part.size() > 9)
                    return std::nullopt;
                for (char c : part) {
                    if (c < '0' || c > '9')
                        return std::nullopt;
                    value = value * 10 + static_cast<std::size_t>(c - '0');
                }
                (k == 1 ? out.sequence : out.numbers[k - 2]) = value;
            }
            if (cut == std::string_view::npos)
                break;
            start = cut + 1;
        }
        return out;
    }
    std::error_code ec;
    path const p = parse_path(text, ec);
    if (ec || p.depth == 0)
        return std::nullopt;
    out.segment = std::string(p.segment);
    out.sequence = p.segment_num;
    out.numbers[0] = p.field;
    out.numbers[1] = p.depth >= 2 ? p.repetition : 0;
    out.numbers[2] = p.depth >= 3 ? p.component : 0;
    out.numbers[3] = p.depth >= 4 ? p.subcomponent : 0;
    return out;
}

/** Writes the ACK for a header whose fields are given by `field(n)` (raw,
    escaped text in `seps`' delimiters; empty past the end).

    Values taken from the header are copied verbatim, except that a CR or
    LF (possible in a message parsed with strict terminators, or in
    caller-given values) is written as an escape sequence so the ACK stays
    one segment each. */
template<class FieldFn>
message
build_ack(separators const& seps, FieldFn&& field, ack_options const& o,
          std::optional<error_location_parts> const& location)
{
    // What the header declares: trigger event, version id, by the scanner's
    // rules (first repetition, component, sub-component).
    auto first = [&](std::string_view v, std::size_t component) {
        return piece(piece(piece(v, seps.repetition, 1), seps.component, component), seps.subcomponent, 1);
    };
    std::string_view const trigger = first(field(9), 2);
    std::string_view const msh12 = field(12);
    std::optional<ack_rules> rules = ack_rules_for(first(msh12, 1));
    if (!rules)
        rules = ack_rules_for(o.default_version);
    if (!rules)
        rules = ack_rules_for("2.5");

    // v2.1 has no enhanced mode: a commit code becomes its original-mode twin.
    std::string code = o.code;
    if (!rules->enhanced_mode && code.size() == 2 && code[0] == 'C')
        code[0] = 'A';
    bool const is_error = is_error_ack_code(code);
    // The informational ERR of an AA/CA with text (v2.7 on) says "0", message accepted.
    std::string_view const err_code =
        !is_error ? std::string_view("0") : o.error_code.empty() ? std::string_view("207") : std::string_view(o.error_code);

    char const fs = seps.field;
    std::string t;
    t.reserve(320);
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
    auto put_escaped = [&](std::string_view text) { put(escape(text, seps)); };
    // code ^ text ^ HL70357, with `sep` between the parts (a CWE/CE as a
    // component or, inside ELD, as sub-components).
    auto append_coded = [&](char sep) {
        t += escape(err_code, seps);
        t += sep;
        // Escaped too: a delimiter may be a space ("Segment sequence error").
        t += escape(error_code_description(err_code), seps);
        t += sep;
        t += "HL70357";
    };

    t += "MSH";
    t += fs;
    t += seps.encoding_characters();
    put(o.application ? std::string_view(*o.application) : field(5));
    put(o.facility ? std::string_view(*o.facility) : field(6));
    put(field(3));
    put(field(4));
    put(format_timestamp(std::chrono::system_clock::now()));
    put("");
    t += fs;
    t += "ACK";
    if (rules->msh9_components == 3 || !trigger.empty()) {
        t += seps.component;
        append_value(trigger);
        if (rules->msh9_components == 3) {
            t += seps.component;
            t += "ACK";
        }
    }
    put(o.message_id ? std::string_view(*o.message_id) : std::string_view(generate_message_control_id()));
    put(field(11).empty() ? std::string_view(o.default_processing_id) : field(11));
    put(msh12.empty() ? std::string_view(o.default_version) : msh12);
    if (std::string_view const charset = field(18); !charset.empty()) {
        for (int k = 13; k < 18; ++k)
            t += fs;
        put(charset);
    }
    t += segment_terminator;

    t += "MSA";
    put(code);
    put(field(10));
    bool const msa_text = rules->msa_text && !o.text.empty();
    if (msa_text)
        put_escaped(o.text);
    if (is_error && rules->msa_error_condition) {
        if (!msa_text)
            t += fs;
        t += fs; // MSA-4
        t += fs; // MSA-5
        t += fs;
        append_coded(seps.component);
    }
    t += segment_terminator;

    if (is_error) {
        t += "ERR";
        t += fs;
        switch (rules->err) {
        case ack_rules::error_segment::code_only: t += escape(err_code, seps); break;
        case ack_rules::error_segment::eld:
            // segment ^ sequence ^ field ^ code&text&HL70357
            if (location) {
                t += location->segment;
                t += seps.component;
                t += std::to_string(location->sequence);
                t += seps.component;
                if (location->numbers[0])
                    t += std::to_string(location->numbers[0]);
            }
            else {
                t += seps.component;
                t += seps.component;
            }
            t += seps.component;
            append_coded(seps.subcomponent);
            break;
        case ack_rules::error_segment::erl:
            if (location) {
                t += fs; // ERR-1 (ELD) left empty
                t += location->segment;
                t += seps.component;
                t += std::to_string(location->sequence);
                int last = -1;
                for (int k = 0; k < 4; ++k)
                    if (location->numbers[k])
                        last = k;
                for (int k = 0; k <= last; ++k) {
                    t += seps.component;
                    if (location->numbers[k])
                        t += std::to_string(location->numbers[k]);
                }
            }
            else {
                t += fs;
            }
            t += fs;
            append_coded(seps.component);
            put("E");
            if (!o.text.empty()) {
                t += fs; // ERR-5 to ERR-7 empty
                t += fs;
                t += fs;
                put_escaped(o.text);
            }
            break;
        }
        t += segment_terminator;
    }
    else if (rules->informational_err && !o.text.empty()) {
        t += "ERR";
        t += fs;
        t += fs;
        t += fs;
        append_coded(seps.component);
        put("I");
        put("");
        put("");
        put("");
        put_escaped(o.text);
        t += segment_terminator;
    }

    parse_options opts;
    opts.validate_segment_ids = false; // values copied verbatim may hold anything
    message ack;
    // The ACK takes the text's buffer: no second copy of it per answer.
    auto fail = message_builder::adopt(ack, t, opts);
    if (fail.ec)
        throw parse_error(fail.ec, fail.offset, fail.segment);
    return ack;
}

inline std::optional<error_location_parts>
checked_error_location(std::string_view text)
{
    if (text.empty())
        return std::nullopt;
    auto parts = read_error_location(text);
    if (!parts)
        throw std::invalid_argument("ack_options::error_location: '" + std::string(text) +
                                    "' is neither a path (PID.3) nor an ERL (PID^1^3)");
    return parts;
}

} // namespace detail

inline message
message::create_ack(ack_options const& o) const
{
    auto const msh = segment("MSH");
    auto field = [&](std::size_t n) { return msh.field(n).raw(); };
    return detail::build_ack(seps_, field, o, detail::checked_error_location(o.error_location));
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

/** A negative acknowledgement for a payload that could not be parsed (or
    was refused before parsing), shaped like create_ack's (see the file
    comment).

    Takes what it can from the payload's first line when that line looks
    like an MSH (its delimiters, applications and facilities, MSH-10 for
    MSA-2, trigger, processing id, version and character set) and leaves
    the rest to `options` (`default_version`, `default_processing_id`), so
    the NAK is always a complete message and the sender can correlate it
    when at all possible. Never throws on bad input (a bad
    `options.error_location` is left out). `options.code` is usually "AE"
    or "AR" and `options.text` says why.
*/
inline message
make_nak(std::string_view raw_payload, ack_options const& options)
{
    // The header line, after the blank lines parse() would skip.
    auto const breaks = detail::line_breaks::any();
    auto const l = detail::line_at(raw_payload, detail::skip_breaks(raw_payload, 0, breaks), breaks);
    std::string_view const line = raw_payload.substr(l.begin, l.end - l.begin);
    separators seps;
    std::size_t header_end = 0;
    bool const header = line.size() >= 4 && line.substr(0, 3) == "MSH" && !detail::read_delimiters(line, seps, header_end);
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
    auto const location = detail::read_error_location(options.error_location);
    try {
        return detail::build_ack(seps, field, options, location);
    }
    catch (parse_error const&) {
        // The header's values did not survive re-parsing: answer without them.
        return detail::build_ack(separators{}, [](std::size_t) { return std::string_view(); }, options, location);
    }
}

/// make_nak(raw_payload, options) with MSA-1 `code`, text `text` and table 0357 `error_code`.
inline message
make_nak(std::string_view raw_payload, std::string_view code, std::string_view text,
         std::string_view error_code = "207")
{
    ack_options o;
    o.code = std::string(code);
    o.text = std::string(text);
    o.error_code = std::string(error_code);
    return make_nak(raw_payload, o);
}

} // namespace hl7

#endif
