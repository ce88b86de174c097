// libFuzzer target: acknowledgements for arbitrary input.
//
// make_nak() must answer anything (a receiver calls it on bytes that did not
// parse) with a well-formed NAK; create_ack() must work on whatever parses,
// and both must carry the sender's MSH-10 back in MSA-2 when there is one.
// Every ACK must have the shape of the version it follows (MSH-12, or the
// default): MSH-9 components, MSA fields, ERR-1 or ERR-2/3/4, the v2.1
// code mapping. Header validation and its NAK, the enhanced-mode decision
// and character set conversion of what parses are exercised as well.

#include <hl7/model/ack.hpp>
#include <hl7/model/ack_mode.hpp>
#include <hl7/model/charset.hpp>
#include <hl7/model/validate_header.hpp>
#include <hl7/parser/parse.hpp>

#include "hl7_fuzz_support.hpp"

#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

namespace {

using hl7_fuzz::printable;

void
check_ack(hl7::message const& ack, std::string_view code, std::string_view input,
          std::string_view default_version = "2.5")
{
    HL7_FUZZ_CHECK(ack.size() >= 2, printable(input));
    HL7_FUZZ_CHECK(ack.segment_at(1).id() == "MSH", printable(hl7::to_string(ack)));
    // The checks below read the ACK by structure, which letter delimiters
    // taken over from the input (field separator 'C' splits "ACK") defeat.
    if (hl7_fuzz::escape_safe(ack.delimiters())) {
        HL7_FUZZ_CHECK(ack.segment_at(2).id() == "MSA", printable(hl7::to_string(ack)));
        // v2.0/v2.1 have no enhanced mode: CA/CE/CR are written as AA/AE/AR.
        std::string expected(code);
        auto rules = hl7::ack_rules_for(ack.segment_at(1).field(12).component(1).subcomponent(1).raw());
        if (!rules)
            rules = hl7::ack_rules_for(default_version);
        if (rules && !rules->enhanced_mode && expected.size() == 2 && expected[0] == 'C')
            expected[0] = 'A';
        HL7_FUZZ_CHECK(ack.segment_at(2).field(1).raw() == expected, printable(hl7::to_string(ack)));
        HL7_FUZZ_CHECK(ack.segment_at(1).field(9).raw().starts_with("ACK"), printable(hl7::to_string(ack)));
    }
    // What goes on the wire parses back to the same ACK with default options
    // (a sender reading our ACK uses those).
    std::string const wire = hl7::to_string(ack);
    HL7_FUZZ_CHECK(wire.find('\n') == std::string::npos, "LF in an ACK: " + printable(wire));
    std::error_code ec;
    hl7::message const again = hl7::parse(wire, ec);
    HL7_FUZZ_CHECK(!ec, ec.message() + " re-parsing ACK " + printable(wire) + "\nfor " + printable(input));
    HL7_FUZZ_CHECK(hl7::to_string(again) == wire, printable(wire));
    HL7_FUZZ_CHECK(again.size() == ack.size(), printable(wire));
}

// The text an ACK carries: MSA-3, or ERR-8 from v2.7 on (MSA-3 withdrawn).
std::string
ack_text(hl7::message const& ack)
{
    auto rules = hl7::ack_rules_for(ack.segment_at(1).field(12).component(1).subcomponent(1).raw());
    if (!rules)
        rules = hl7::ack_rules_for("2.5");
    if (!rules || rules->msa_text)
        return ack.segment_at(2).field(3).value();
    return ack.size() >= 3 ? ack.segment_at(3).field(8).value() : std::string();
}

// The shape the version rules promise (see hl7/model/ack.hpp).
void
check_version_shape(hl7::message const& ack, hl7::ack_options const& o, std::string_view msh12, std::string_view input)
{
    if (!hl7_fuzz::escape_safe(ack.delimiters()) || ack.size() < 2)
        return;
    auto const& seps = ack.delimiters();
    // Values copied from the input may hold the ACK's own delimiters; then
    // fields shift and only the parse round trip (check_ack) is promised.
    std::string_view const version_field = msh12.empty() ? std::string_view(o.default_version) : msh12;
    std::string_view const version = hl7::detail::piece(
        hl7::detail::piece(hl7::detail::piece(version_field, seps.repetition, 1), seps.component, 1),
        seps.subcomponent, 1);
    auto rules = hl7::ack_rules_for(version);
    if (!rules)
        rules = hl7::ack_rules_for(o.default_version);
    if (!rules)
        rules = hl7::ack_rules_for("2.5");
    auto const msh = ack.segment_at(1);
    auto const msa = ack.segment_at(2);
    std::string const wire = printable(hl7::to_string(ack)) + "\nfor " + printable(input);
    HL7_FUZZ_CHECK(!msh.field(11).empty() && !msh.field(12).empty(), "MSH-11/MSH-12 empty: " + wire);
    HL7_FUZZ_CHECK(msh.field(12).raw() == version_field, "MSH-12 not echoed: " + wire);
    std::size_t const components = msh.field(9).repetition(1).size();
    if (rules->msh9_components == 3)
        HL7_FUZZ_CHECK(components == 3, "MSH-9 needs 3 components: " + wire);
    else
        HL7_FUZZ_CHECK(components <= 2, "MSH-9 has a structure component before v2.3.1: " + wire);
    std::string code = o.code;
    if (!rules->enhanced_mode && code.size() == 2 && code[0] == 'C')
        code[0] = 'A';
    HL7_FUZZ_CHECK(msa.field(1).raw() == code, "MSA-1: " + wire);
    bool const error = code == "AE" || code == "AR" || code == "CE" || code == "CR";
    std::size_t const msa_fields = error && rules->msa_error_condition ? 6 : rules->msa_text && !o.text.empty() ? 3 : 2;
    HL7_FUZZ_CHECK(msa.size() == msa_fields, "MSA fields: " + wire);
    bool const info = !error && rules->informational_err && !o.text.empty();
    HL7_FUZZ_CHECK(ack.size() == (error || info ? 3u : 2u), "ERR present iff error (or info text): " + wire);
    if (!error && !info)
        return;
    auto const err = ack.segment_at(3);
    HL7_FUZZ_CHECK(err.id() == "ERR", "third segment: " + wire);
    switch (rules->err) {
    case hl7::ack_rules::error_segment::code_only:
        HL7_FUZZ_CHECK(err.size() == 1 && !err.field(1).empty(), "v2.1 ERR-1: " + wire);
        break;
    case hl7::ack_rules::error_segment::eld:
        HL7_FUZZ_CHECK(err.size() == 1 && err.field(1).repetition(1).size() == 4, "ELD: " + wire);
        break;
    case hl7::ack_rules::error_segment::erl:
        HL7_FUZZ_CHECK(err.field(1).empty(), "ERR-1 in v2.5+: " + wire);
        HL7_FUZZ_CHECK(!err.field(3).component(1).empty() && err.field(3).component(3).raw() == "HL70357",
                       "ERR-3: " + wire);
        HL7_FUZZ_CHECK(err.field(4).raw() == (info ? "I" : "E"), "ERR-4: " + wire);
        break;
    }
}

// What validate_header, make_header_nak and the enhanced-mode rules promise for a parsed message.
void
check_header_rules(hl7::message const& m, std::string_view input)
{
    std::error_code const ec = hl7::validate_header(m);
    if (!ec) {
        HL7_FUZZ_CHECK(!m.control_id().empty() && !m.version().empty() && !m.message_type().empty(),
                       "validated header lacks a field: " + printable(input));
    }
    else {
        hl7::message const nak = hl7::make_header_nak(m, ec);
        check_ack(nak, "AR", input);
        HL7_FUZZ_CHECK(!hl7::describe_header_error(ec).error_code.empty(), "header error without a code");
    }
    (void)hl7::validate_header(m, hl7::header_rules::lenient());
    auto const req = hl7::acknowledgement_requirements(m);
    for (auto commit : {hl7::ack_outcome::accepted, hl7::ack_outcome::error, hl7::ack_outcome::rejected})
        for (auto app : {hl7::ack_outcome::accepted, hl7::ack_outcome::error, hl7::ack_outcome::rejected}) {
            auto const d = hl7::decide_acknowledgements(req, commit, app);
            if (req.mode == hl7::ack_mode::original)
                HL7_FUZZ_CHECK(d.commit.empty() && !d.application.empty(), "original mode answers once");
            else if (commit != hl7::ack_outcome::accepted)
                HL7_FUZZ_CHECK(d.application.empty(), "no application ACK without a commit");
        }
}

// Conversion to UTF-8 and back: a typed error, or the same bytes again.
void
check_charset(hl7::message const& m, std::string_view input)
{
    if (!hl7_fuzz::escape_safe(m.delimiters()))
        return;
    for (char c : std::string_view("8859/1 UNICODE UTF-8"))
        if (m.delimiters().is_delimiter(c))
            return; // MSH-18's new label would change the structure
    hl7::charset_options o;
    o.default_charset = "8859/1";
    try {
        hl7::message const u = hl7::to_utf8(m, o);
        HL7_FUZZ_CHECK(u.size() == m.size(), "conversion changed the segments: " + printable(input));
        // (MSH-18 is an ID: relabelling it writes the whole field, so a
        // value with components, which is malformed, does not come back.)
        if (m.character_set() == "8859/1" && m.segment_at(1).field(18).size() == 1 &&
            m.segment_at(1).field(18).raw().find(m.delimiters().component) == std::string_view::npos) {
            hl7::message const back = hl7::from_utf8(u, "8859/1");
            HL7_FUZZ_CHECK(hl7::to_string(back) == hl7::to_string(m),
                           "8859/1 round trip: " + printable(hl7::to_string(back)) + " vs " + printable(input));
        }
    }
    catch (hl7::charset_error const&) {
    }
}

} // namespace

extern "C" int
LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size)
{
    FuzzedDataProvider in(data, size);
    static char const* const codes[] = {"AA", "AE", "AR", "CA", "CE", "CR"};
    std::string const code = codes[in.ConsumeIntegralInRange(0, 5)];
    std::string const why = in.ConsumeRandomLengthString(48);
    static char const* const error_codes[] = {"207", "100", "", "0", "999"};
    std::string const error_code = error_codes[in.ConsumeIntegralInRange(0, 4)];
    hl7::parse_options const opts = hl7_fuzz::options_from_byte(in.ConsumeIntegral<std::uint8_t>());
    static char const* const versions[] = {"2.1", "2.2", "2.3", "2.3.1", "2.4", "2.5",   "2.5.1", "2.6",
                                           "2.7", "2.7.1", "2.8", "2.8.2", "2.0D", "3.0", "2.x", ""};
    std::string const version = versions[in.ConsumeIntegralInRange(0, 15)];
    std::string const default_version = versions[in.ConsumeIntegralInRange(0, 15)];
    static char const* const locations[] = {"", "PID.3", "PID^1^3", "OBX2.5.1.2", "MSH.9.1.2"};
    std::string const location = locations[in.ConsumeIntegralInRange(0, 4)];
    std::string const payload = in.ConsumeRemainingBytesAsString();
    auto options = [&] {
        hl7::ack_options o;
        o.code = code;
        o.text = why;
        o.error_code = error_code;
        o.error_location = location;
        o.default_version = default_version.empty() ? "2.5" : default_version;
        return o;
    };

    // A NAK for anything, never throwing.
    hl7::message const nak = hl7::make_nak(payload, code, why, error_code);
    check_ack(nak, code, payload);
    if (hl7_fuzz::escape_safe(nak.delimiters()))
        HL7_FUZZ_CHECK(ack_text(nak) == why, printable(why) + " vs " + printable(ack_text(nak)));

    // Parsed with the options a receiver uses (the defaults), a message
    // gets an ACK that echoes its control id.
    std::error_code ec;
    hl7::message const m = hl7::parse(payload, ec);
    if (!ec && m.has_segment("MSH") && m.segment_at(1).id() == "MSH") {
        hl7::message const ack = m.create_ack(code);
        check_ack(ack, code, payload);
        if (hl7_fuzz::escape_safe(m.delimiters()))
            HL7_FUZZ_CHECK(ack.segment_at(2).field(2).raw() == m.segment("MSH").field(10).raw(),
                           printable(payload) + "\nACK " + printable(hl7::to_string(ack)));
        HL7_FUZZ_CHECK(ack.delimiters() == m.delimiters(), "ACK delimiters");

        hl7::ack_options o;
        o.code = code;
        o.text = why;
        o.error_code = error_code;
        hl7::message const full = m.create_ack(o);
        check_ack(full, code, payload);
        if (hl7_fuzz::escape_safe(m.delimiters()))
            HL7_FUZZ_CHECK(ack_text(full) == why, printable(why) + " vs " + printable(ack_text(full)));

        // The NAK of parseable input correlates like the ACK does, unless
        // the control id holds bytes it will not copy.
        std::string_view const id = m.segment("MSH").field(10).raw();
        bool plain = true;
        for (char c : id)
            plain = plain && static_cast<unsigned char>(c) >= 0x20;
        // (make_nak reads the first line only; parse skips leading blank lines.)
        if (plain && payload.front() != '\r' && payload.front() != '\n' && hl7_fuzz::escape_safe(m.delimiters()))
            HL7_FUZZ_CHECK(nak.segment_at(2).field(2).raw() == id,
                           printable(payload) + "\nNAK " + printable(hl7::to_string(nak)));
    }

    // The version-dependent builder: the message with MSH-12 set to each
    // version, with and without ERR, and a NAK with the configured defaults.
    if (!ec && m.has_segment("MSH") && m.segment_at(1).id() == "MSH") {
        hl7::message versioned = m;
        bool edited = true;
        try {
            versioned.set("MSH.12", version);
        }
        catch (hl7::path_error const&) {
            edited = false; // e.g. a delimiter in the version text
        }
        catch (hl7::parse_error const&) {
            edited = false;
        }
        if (edited) {
            hl7::ack_options const o = options();
            hl7::message const a = versioned.create_ack(o);
            check_ack(a, code, payload, o.default_version);
            check_version_shape(a, o, versioned.segment_at(1).field(12).raw(), payload);
        }
        check_header_rules(m, payload);
        check_charset(m, payload);
    }
    {
        hl7::ack_options const o = options();
        hl7::message const n = hl7::make_nak(payload, o);
        check_ack(n, code, payload, o.default_version);
        std::error_code again;
        (void)hl7::parse(hl7::to_string(n), again);
        HL7_FUZZ_CHECK(!again, "NAK does not parse: " + printable(hl7::to_string(n)));
    }

    // Other parse options: create_ack either works or throws an hl7 error.
    hl7::message const other = hl7::parse(payload, ec, opts);
    if (!ec) {
        try {
            check_ack(other.create_ack(code), code, payload);
        }
        catch (hl7::path_error const&) {
            HL7_FUZZ_CHECK(!other.has_segment("MSH"), "create_ack failed on a message with an MSH");
        }
    }
    return 0;
}
