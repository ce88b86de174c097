// Original and enhanced acknowledgement mode: which acknowledgements to send.
#include <hl7/model/ack_mode.hpp>

#include <hl7/parser/parse.hpp>

#include <catch2/catch.hpp>

#include <string>

namespace {

using outcome = hl7::ack_outcome;

struct row
{
    char const* msh15;
    char const* msh16;
    outcome commit;
    outcome application;
    char const* commit_sent;      // "" = none
    char const* application_sent; // "" = none
};

// Written out from HL7 v2.5 section 2.9.3 and table 0155.
row const table[] = {
    // Original mode: one answer, always.
    {"", "", outcome::accepted, outcome::accepted, "", "AA"},
    {"", "", outcome::accepted, outcome::error, "", "AE"},
    {"", "", outcome::accepted, outcome::rejected, "", "AR"},
    {"", "", outcome::rejected, outcome::accepted, "", "AR"},
    {"", "", outcome::error, outcome::accepted, "", "AE"},
    // AL/AL: both, always.
    {"AL", "AL", outcome::accepted, outcome::accepted, "CA", "AA"},
    {"AL", "AL", outcome::accepted, outcome::error, "CA", "AE"},
    {"AL", "AL", outcome::rejected, outcome::accepted, "CR", ""},
    {"AL", "AL", outcome::error, outcome::accepted, "CE", ""},
    // AL/NE: commit only (the classic "store and forward" sender).
    {"AL", "NE", outcome::accepted, outcome::accepted, "CA", ""},
    {"AL", "NE", outcome::accepted, outcome::error, "CA", ""},
    {"AL", "NE", outcome::rejected, outcome::accepted, "CR", ""},
    // NE/AL: application only.
    {"NE", "AL", outcome::accepted, outcome::accepted, "", "AA"},
    {"NE", "AL", outcome::rejected, outcome::accepted, "", ""},
    // ER: only bad news.
    {"ER", "ER", outcome::accepted, outcome::accepted, "", ""},
    {"ER", "ER", outcome::accepted, outcome::error, "", "AE"},
    {"ER", "ER", outcome::accepted, outcome::rejected, "", "AR"},
    {"ER", "ER", outcome::rejected, outcome::accepted, "CR", ""},
    {"ER", "ER", outcome::error, outcome::accepted, "CE", ""},
    // SU: only good news.
    {"SU", "SU", outcome::accepted, outcome::accepted, "CA", "AA"},
    {"SU", "SU", outcome::accepted, outcome::error, "CA", ""},
    {"SU", "SU", outcome::rejected, outcome::accepted, "", ""},
    // NE/NE: silence.
    {"NE", "NE", outcome::accepted, outcome::accepted, "", ""},
    {"NE", "NE", outcome::rejected, outcome::accepted, "", ""},
    // One given, the other empty (or unknown): the empty one is AL.
    {"AL", "", outcome::accepted, outcome::error, "CA", "AE"},
    {"", "NE", outcome::accepted, outcome::accepted, "CA", ""},
    {"", "ER", outcome::rejected, outcome::accepted, "CR", ""},
    {"XX", "NE", outcome::accepted, outcome::accepted, "CA", ""},
};

} // namespace

TEST_CASE("which acknowledgements to send, by MSH-15/MSH-16 and outcome", "[ack_mode]")
{
    for (auto const& r : table) {
        CAPTURE(r.msh15, r.msh16, static_cast<int>(r.commit), static_cast<int>(r.application));
        auto const req = hl7::acknowledgement_requirements(r.msh15, r.msh16, "2.5");
        auto const d = hl7::decide_acknowledgements(req, r.commit, r.application);
        CHECK(d.commit == r.commit_sent);
        CHECK(d.application == r.application_sent);
    }
}

TEST_CASE("acknowledgement requirements from a message", "[ack_mode]")
{
    auto const original = hl7::parse("MSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P|2.5\r");
    CHECK(hl7::acknowledgement_requirements(original).mode == hl7::ack_mode::original);
    auto const enhanced = hl7::parse("MSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P|2.5|||AL|ER\r");
    auto const r = hl7::acknowledgement_requirements(enhanced);
    CHECK(r.mode == hl7::ack_mode::enhanced);
    CHECK(r.accept == hl7::ack_condition::always);
    CHECK(r.application == hl7::ack_condition::error_only);
    CHECK(hl7::send_commit_ack(r, "CA"));
    CHECK(!hl7::send_application_ack(r, "AA"));
    CHECK(hl7::send_application_ack(r, "AE"));
    // v2.1 has no enhanced mode, whatever the fields say.
    auto const v21 = hl7::parse("MSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P|2.1|||AL|AL\r");
    CHECK(hl7::acknowledgement_requirements(v21).mode == hl7::ack_mode::original);
    // Original mode never sends a commit ACK and always the application ACK.
    hl7::ack_requirements const orig;
    CHECK(!hl7::send_commit_ack(orig, "CA"));
    CHECK(!hl7::send_commit_ack(orig, "CR"));
    CHECK(hl7::send_application_ack(orig, "AA"));
    CHECK(hl7::send_application_ack(orig, "AR"));
    CHECK(hl7::to_ack_condition("SU") == hl7::ack_condition::success_only);
    CHECK(hl7::to_ack_condition("") == hl7::ack_condition::always);
}
