// ACKs and NAKs checked against each version's message definition.
//
// The rules below are written down from the HL7 v2 standard (segment
// definitions of MSH, MSA and ERR and the ACK message structure of each
// version, tables 0008, 0357 and 0516), independently of ack.hpp's own
// table: what the builder writes is checked against what the standard
// allows, for every version, every acknowledgement code, with and without
// ERR.
#include <hl7/model/ack.hpp>

#include <hl7/parser/parse.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

namespace {

// How a version's ERR segment is defined.
enum class err_form {
    id_code,   // v2.1: ERR-1 Error code and location, ID (one value, no components)
    eld,       // v2.2-v2.4: ERR-1 CM/ELD  segment ^ sequence ^ field ^ code (CE as sub-components)
    erl_with_1, // v2.5-v2.6: ERR-1 ELD (backward compatible), ERR-2 ERL, ERR-3 CWE (R), ERR-4 ID (R), ... ERR-12
    erl,       // v2.7-v2.8: ERR-1 withdrawn
};

struct version_rule
{
    std::string version;        // MSH-12 of the message acknowledged
    int msh9_components;        // MSG/CM_MSG components
    int msa_fields;             // fields the MSA segment defines
    std::set<int> msa_withdrawn; // defined but withdrawn (must stay empty)
    bool msa_text_allowed;       // MSA-3 may carry the text
    std::set<std::string> ack_codes; // table 0008 values of this version
    err_form err;
    int err_fields;              // fields the ERR segment defines
    bool err_repeats;            // {ERR} in the ACK structure (v2.5 on) rather than [ERR]
};

std::vector<version_rule> const& rules()
{
    static std::vector<version_rule> const r = {
        // v2.1: MSH-9 message type ^ trigger event; MSA-1..5; ERR-1 (ID, repeating); no enhanced mode.
        {"2.1", 2, 5, {}, true, {"AA", "AE", "AR"}, err_form::id_code, 1, false},
        // v2.2: MSA-6 error condition (CE); ERR-1 CM (ELD); CA/CE/CR and MSH-15/16.
        {"2.2", 2, 6, {}, true, {"AA", "AE", "AR", "CA", "CE", "CR"}, err_form::eld, 1, false},
        {"2.3", 2, 6, {}, true, {"AA", "AE", "AR", "CA", "CE", "CR"}, err_form::eld, 1, false},
        // v2.3.1: MSH-9 gains the message structure (MSG).
        {"2.3.1", 3, 6, {}, true, {"AA", "AE", "AR", "CA", "CE", "CR"}, err_form::eld, 1, false},
        {"2.4", 3, 6, {}, true, {"AA", "AE", "AR", "CA", "CE", "CR"}, err_form::eld, 1, false},
        // v2.5: MSA-5 withdrawn; ERR gains 2..12 with ERR-3 and ERR-4 required; ACK is MSH [{SFT}] MSA [{ERR}].
        {"2.5", 3, 6, {5}, true, {"AA", "AE", "AR", "CA", "CE", "CR"}, err_form::erl_with_1, 12, true},
        {"2.5.1", 3, 6, {5}, true, {"AA", "AE", "AR", "CA", "CE", "CR"}, err_form::erl_with_1, 12, true},
        // v2.6: MSA-7/8 (message waiting number, priority).
        {"2.6", 3, 8, {5}, true, {"AA", "AE", "AR", "CA", "CE", "CR"}, err_form::erl_with_1, 12, true},
        // v2.7: MSA-3, MSA-5, MSA-6 and ERR-1 withdrawn.
        {"2.7", 3, 8, {3, 5, 6}, false, {"AA", "AE", "AR", "CA", "CE", "CR"}, err_form::erl, 12, true},
        {"2.7.1", 3, 8, {3, 5, 6}, false, {"AA", "AE", "AR", "CA", "CE", "CR"}, err_form::erl, 12, true},
        {"2.8", 3, 8, {3, 5, 6}, false, {"AA", "AE", "AR", "CA", "CE", "CR"}, err_form::erl, 12, true},
        {"2.8.2", 3, 8, {3, 5, 6}, false, {"AA", "AE", "AR", "CA", "CE", "CR"}, err_form::erl, 12, true},
    };
    return r;
}

// Table 0357 (message error condition codes).
std::set<std::string> const table_0357 = {"0",   "100", "101", "102", "103", "104", "200",
                                          "201", "202", "203", "204", "205", "206", "207"};
// Table 0516 (error severity).
std::set<std::string> const table_0516 = {"E", "W", "I", "F"};

bool is_digits(std::string_view s)
{
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string message_of_version(std::string const& version, std::string const& extra = {})
{
    return "MSH|^~\\&|SND|SFAC|RCV|RFAC|20240102030405||ADT^A01^ADT_A01|CTRL-" + version + "|P|" + version + extra +
           "\rEVN|A01|20240102030405\rPID|1||123^^^HOSP||DOE^JANE\r";
}

// Checks `ack` against `rule` for the acknowledgement of a message with
// control id `control_id`, trigger `trigger` and MSH-12 `msh12`.
void check_against(hl7::message const& ack, version_rule const& rule, std::string const& requested_code,
                   std::string const& text, std::string const& control_id, std::string const& trigger,
                   std::string const& msh12, std::string const& error_code)
{
    INFO(hl7::to_string(hl7::lines(ack)));
    // Structure: MSH MSA [ERR]
    REQUIRE(ack.size() >= 2);
    REQUIRE(ack.size() <= 3);
    CHECK(ack.segment_at(1).id() == "MSH");
    CHECK(ack.segment_at(2).id() == "MSA");

    // MSH-9: exactly the version's components.
    auto const msh = ack.segment("MSH");
    auto const msh9 = msh.field(9);
    CHECK(msh9.size() == 1);
    std::size_t const components = msh9.repetition(1).size();
    if (rule.msh9_components == 2)
        CHECK(components == (trigger.empty() ? 1u : 2u));
    else
        CHECK(components == 3u);
    CHECK(msh9.component(1).raw() == "ACK");
    CHECK(msh9.component(2).raw() == trigger);
    if (rule.msh9_components == 3)
        CHECK(msh9.component(3).raw() == "ACK");
    // MSH-10 a control id of its own; MSH-11, MSH-12 echoed.
    CHECK(!msh.field(10).empty());
    CHECK(msh.field(10).raw() != control_id);
    CHECK(msh.field(11).raw() == "P");
    CHECK(msh.field(12).raw() == msh12);
    CHECK(!msh.field(7).empty());

    // MSA: only the version's fields, none withdrawn; MSA-1 from table 0008.
    auto const msa = ack.segment("MSA");
    CHECK(static_cast<int>(msa.size()) <= rule.msa_fields);
    std::string const code(msa.field(1).raw());
    CHECK(rule.ack_codes.count(code) == 1);
    CHECK(msa.field(2).raw() == control_id);
    for (int f : rule.msa_withdrawn)
        CHECK(msa.field(static_cast<std::size_t>(f)).empty());
    // The code asked for, or (v2.1, no enhanced mode) its original-mode twin.
    if (rule.ack_codes.count(requested_code))
        CHECK(code == requested_code);
    else
        CHECK(code == "A" + requested_code.substr(1));
    bool const error = code == "AE" || code == "AR" || code == "CE" || code == "CR";
    if (rule.msa_text_allowed)
        CHECK(ack["MSA.3"] == text);
    if (rule.msa_fields >= 6 && !rule.msa_withdrawn.count(6) && error) {
        // MSA-6 error condition (CE) while ERR-1 is the ELD: the same code.
        if (rule.err == err_form::eld) {
            CHECK(ack["MSA.6.1.1"] == error_code);
            CHECK(ack["MSA.6.1.3"] == "HL70357");
        }
    }

    // ERR: present exactly for errors (and, where MSA-3 is withdrawn, for text).
    bool const info_err = !error && !rule.msa_text_allowed && !text.empty();
    CHECK(ack.has_segment("ERR") == (error || info_err));
    if (!ack.has_segment("ERR"))
        return;
    auto const err = ack.segment("ERR");
    CHECK(static_cast<int>(err.size()) <= rule.err_fields);
    switch (rule.err) {
    case err_form::id_code:
        // One ID value: no components, the error code.
        CHECK(err.field(1).repetition(1).size() == 1);
        CHECK(is_digits(err.field(1).raw()));
        CHECK(err.field(1).raw() == error_code);
        break;
    case err_form::eld: {
        // segment ID ^ sequence ^ field position ^ code identifying error (CE as sub-components).
        auto const eld = err.field(1).repetition(1);
        CHECK(eld.size() == 4);
        CHECK(eld.component(4).size() == 3);
        CHECK(eld.component(4).subcomponent(1).raw() == error_code);
        CHECK(table_0357.count(std::string(eld.component(4).subcomponent(1).raw())) == 1);
        CHECK(eld.component(4).subcomponent(3).raw() == "HL70357");
        if (!eld.component(1).empty()) {
            CHECK(eld.component(1).raw().size() == 3);
            CHECK(is_digits(eld.component(2).raw()));
        }
        break;
    }
    case err_form::erl_with_1:
    case err_form::erl: {
        if (rule.err == err_form::erl)
            CHECK(err.field(1).empty());
        // ERR-3 (CWE, required): code ^ text ^ HL70357 from table 0357.
        CHECK(!err.field(3).empty());
        CHECK(err.field(3).component(1).raw() == (info_err ? "0" : error_code));
        CHECK(table_0357.count(std::string(err.field(3).component(1).raw())) == 1);
        CHECK(!err.field(3).component(2).empty());
        CHECK(err.field(3).component(3).raw() == "HL70357");
        // ERR-4 (ID, required) from table 0516.
        CHECK(table_0516.count(std::string(err.field(4).raw())) == 1);
        CHECK(err.field(4).raw() == (info_err ? "I" : "E"));
        // ERR-2 (ERL): segment ^ sequence [^ field ...], numbers only.
        if (!err.field(2).empty()) {
            auto const erl = err.field(2).repetition(1);
            CHECK(erl.component(1).raw().size() == 3);
            for (std::size_t c = 2; c <= erl.size(); ++c)
                CHECK((erl.component(c).empty() || is_digits(erl.component(c).raw())));
        }
        CHECK(ack["ERR.8"] == text);
        break;
    }
    }
}

} // namespace

TEST_CASE("ACKs of every version follow that version's definition", "[ack][versions]")
{
    for (auto const& rule : rules()) {
        hl7::message const m = hl7::parse(message_of_version(rule.version));
        for (std::string const code : {"AA", "AE", "AR", "CA", "CE", "CR"}) {
            for (std::string const& text : {std::string(), std::string("Patient ^ not | found")}) {
                for (std::string const& error_code : {std::string(), std::string("101")}) {
                    CAPTURE(rule.version, code, text, error_code);
                    hl7::ack_options o;
                    o.code = code;
                    o.text = text;
                    o.error_code = error_code;
                    if (!error_code.empty())
                        o.error_location = "PID.3";
                    bool const error = code[1] != 'A';
                    std::string const expected_code = error ? (error_code.empty() ? "207" : error_code) : "";
                    check_against(m.create_ack(o), rule, code, text, "CTRL-" + rule.version, "A01", rule.version,
                                  expected_code);
                }
            }
        }
    }
}

TEST_CASE("NAKs of every version follow that version's definition", "[ack][versions]")
{
    for (auto const& rule : rules()) {
        // The header can be read, the rest cannot be parsed.
        std::string const payload = message_of_version(rule.version) + "\x01\x02 junk\r";
        for (std::string const code : {"AA", "AE", "AR", "CA", "CE", "CR"}) {
            CAPTURE(rule.version, code);
            auto const nak = hl7::make_nak(payload, code, "bad segment", "100");
            bool const error = code[1] != 'A';
            check_against(nak, rule, code, "bad segment", "CTRL-" + rule.version, "A01", rule.version,
                          error ? "100" : "");
        }
    }
}

TEST_CASE("ACK locations per version: ELD before v2.5, ERL after", "[ack][versions]")
{
    hl7::ack_options o;
    o.code = "AE";
    o.error_code = "102";
    o.error_location = "OBX2.5.1.2";
    auto const v21 = hl7::parse(message_of_version("2.1")).create_ack(o);
    CHECK(v21.segment("ERR")[1].raw() == "102");
    auto const v24 = hl7::parse(message_of_version("2.4")).create_ack(o);
    CHECK(v24.segment("ERR")[1].raw() == "OBX^2^5^102&Data type error&HL70357");
    auto const v25 = hl7::parse(message_of_version("2.5")).create_ack(o);
    CHECK(v25.segment("ERR")[2].raw() == "OBX^2^5^1^2");
    CHECK(v25.segment("ERR")[1].raw() == "");
    auto const v27 = hl7::parse(message_of_version("2.7")).create_ack(o);
    INFO(hl7::to_string(hl7::lines(v27)));
    CHECK(hl7::to_string(v27).ends_with("\rERR||OBX^2^5^1^2|102^Data type error^HL70357|E\r"));
}

TEST_CASE("MSH-12 is echoed whole, unknown versions use the default rules", "[ack][versions]")
{
    // Components of the VID are copied with the version.
    auto const vid = hl7::parse(message_of_version("2.5.1^DEU&&HL70399"));
    auto const ack = vid.create_ack("AE");
    CHECK(ack.segment("MSH")[12].raw() == "2.5.1^DEU&&HL70399");
    CHECK(ack.segment("MSH")[9].raw() == "ACK^A01^ACK");
    CHECK(ack["ERR.4"] == "E");

    // 2.0D follows 2.1: no structure component, no enhanced mode.
    auto const demo = hl7::parse(message_of_version("2.0D")).create_ack("CE");
    CHECK(demo.segment("MSH")[9].raw() == "ACK^A01");
    CHECK(demo["MSA.1"] == "AE");
    CHECK(demo.segment("MSH")[12].raw() == "2.0D");

    // 2.9 acknowledges as 2.8 does.
    auto const v29 = hl7::parse(message_of_version("2.9")).create_ack(hl7::ack_options{.code = "AE", .text = "x"});
    CHECK(v29.segment("MSA").size() == 2);
    CHECK(v29["ERR.8"] == "x");

    // Not a version at all: echoed as it is, shaped by default_version.
    for (std::string const odd : {"3.0", "garbage", "2.", "2.x", "2.5.1.7"}) {
        CAPTURE(odd);
        CHECK(!hl7::ack_rules_for(odd));
        auto const m = hl7::parse(message_of_version(odd));
        auto const a = m.create_ack("AR");
        CHECK(a.segment("MSH")[12].raw() == odd);
        CHECK(a.segment("MSH")[9].raw() == "ACK^A01^ACK");
        CHECK(a["ERR.3.1.1"] == "207");
        hl7::ack_options o;
        o.code = "AR";
        o.default_version = "2.2";
        auto const b = m.create_ack(o);
        CHECK(b.segment("MSH")[9].raw() == "ACK^A01");
        CHECK(b.segment("ERR")[1].raw() == "^^^207&Application internal error&HL70357");
    }
}

TEST_CASE("ack_rules_for names the rule set of a version", "[ack][versions]")
{
    CHECK(hl7::ack_rules_for("2.1")->name == "2.1");
    CHECK(hl7::ack_rules_for("2.0")->name == "2.1");
    CHECK(hl7::ack_rules_for("2.3")->name == "2.3");
    CHECK(hl7::ack_rules_for("2.3.1")->name == "2.3.1");
    CHECK(hl7::ack_rules_for("2.3.1")->msh9_components == 3);
    CHECK(hl7::ack_rules_for("2.3")->msh9_components == 2);
    CHECK(hl7::ack_rules_for("2.5.1")->name == "2.5");
    CHECK(hl7::ack_rules_for("2.6")->name == "2.6");
    CHECK(hl7::ack_rules_for("2.7.1")->name == "2.7");
    CHECK(hl7::ack_rules_for("2.8.2")->name == "2.8");
    CHECK(!hl7::ack_rules_for(""));
    CHECK(!hl7::ack_rules_for("v2.5"));
}

TEST_CASE("ACKs echo MSH-18, the character set", "[ack][charset]")
{
    auto const m = hl7::parse(message_of_version("2.5", "|||AL|NE||8859/1"));
    auto const ack = m.create_ack();
    CHECK(ack.character_set() == "8859/1");
    CHECK(ack.segment("MSH")[15].raw() == "");
    CHECK(ack.segment("MSH")[16].raw() == "");
    auto const nak = hl7::make_nak(hl7::to_string(m) + "\x01", "AR", "x");
    CHECK(nak.character_set() == "8859/1");
    // Without MSH-18 the ACK has none either (ASCII, the default).
    CHECK(hl7::parse(message_of_version("2.5")).create_ack().segment("MSH").size() == 12);
}

TEST_CASE("table 0357 texts are escaped like any value (a space may be a delimiter)", "[ack][versions]")
{
    // Repetition separator ' ': "Required field missing" must not split ERR-3.
    auto const m = hl7::parse("MSH|^ \\&|A|B|C|D|2024||ADT^A01|S1|P|2.5\rPID|1\r");
    hl7::ack_options o;
    o.code = "AE";
    o.error_code = "101";
    auto const ack = m.create_ack(o);
    CHECK(ack.segment("ERR")[3].size() == 1);
    CHECK(ack.segment("ERR")[3].component(2).value() == "Required field missing");
    CHECK(ack.segment("ERR")[3].component(3).raw() == "HL70357");
    auto const v24 = hl7::parse("MSH|^ \\&|A|B|C|D|2024||ADT^A01|S1|P|2.4\rPID|1\r").create_ack(o);
    CHECK(v24.segment("ERR")[1].size() == 1);
    CHECK(v24.segment("ERR")[1].component(4).subcomponent(2).value() == "Required field missing");
}
