// The header as typed values, and the conveniences a newcomer reaches for:
// appending a repetition, printing one segment per line.
#include <hl7/model/message.hpp>

#include <hl7/parser/parse.hpp>
#include <hl7_samples.hpp>

#include <catch2/catch.hpp>

#include <sstream>
#include <string>

TEST_CASE("the header's fields as typed values", "[header]")
{
    auto const m = hl7::parse(hl7_test::adt_sample);
    CHECK(m.message_type() == "ADT");
    CHECK(m.trigger_event() == "A01");
    CHECK(m.message_structure() == "ADT_A01");
    CHECK(m.control_id() == "MSG00001");
    CHECK(m.processing_id() == "P");
    CHECK(m.version() == "2.5");
    CHECK(m.sending_application().namespace_id == "ADT1");
    CHECK(m.sending_facility().raw == "GOOD HEALTH HOSPITAL");
    CHECK(m.receiving_application().namespace_id == "GHH LAB, INC.");
    CHECK(m.receiving_facility().namespace_id == "GOOD HEALTH HOSPITAL");
    CHECK(m.accept_ack_type() == "AL");
    CHECK(m.application_ack_type() == "NE");
    CHECK(m.character_set() == "UNICODE UTF-8");
    // What path reading gives for comparison: MSH.9 is only the first component.
    CHECK(m["MSH.9"] == "ADT");
}

TEST_CASE("header values with components, repetitions and odd delimiters", "[header]")
{
    auto const m = hl7::parse("MSH|^~\\&|APP^1.2.3^ISO|FAC^^DNS~OTHER|||20240101||ORU^R01^ORU_R01|C1|P^T|2.5.1^DEU&&HL70399|||"
                              "ER|SU||8859/1~ISO IR87\rPID|1\r");
    CHECK(m.sending_application().namespace_id == "APP");
    CHECK(m.sending_application().universal_id == "1.2.3");
    CHECK(m.sending_application().universal_id_type == "ISO");
    CHECK(m.sending_application().raw == "APP^1.2.3^ISO");
    CHECK(m.sending_facility().namespace_id == "FAC");
    CHECK(m.sending_facility().universal_id.empty());
    CHECK(m.sending_facility().universal_id_type == "DNS");
    CHECK(m.receiving_application().empty());
    CHECK(m.processing_id() == "P");
    CHECK(m.version() == "2.5.1");
    CHECK(m.accept_ack_type() == "ER");
    CHECK(m.application_ack_type() == "SU");
    CHECK(m.character_set() == "8859/1");

    auto const odd = hl7::parse(hl7_test::odd_delimiters_sample);
    CHECK(odd.message_type() == "ADT");
    CHECK(odd.trigger_event() == "A04");
    CHECK(odd.message_structure().empty());
    CHECK(odd.control_id() == "ID77");
    CHECK(odd.sending_application().namespace_id == "APP");
}

TEST_CASE("header values of short, empty and non-MSH messages are empty", "[header]")
{
    auto const short_msh = hl7::parse("MSH|^~\\&|A\r");
    CHECK(short_msh.message_type().empty());
    CHECK(short_msh.control_id().empty());
    CHECK(short_msh.version().empty());
    CHECK(short_msh.sending_application().namespace_id == "A");
    CHECK(short_msh.character_set().empty());

    hl7::message const empty;
    CHECK(empty.message_type().empty());
    CHECK(empty.sending_facility().empty());

    // A batch header is not a message header.
    auto const bhs = hl7::parse("BHS|^~\\&|A|B|C|D|2024||ADT^A01|X\r");
    CHECK(bhs.message_type().empty());
    CHECK(bhs.sending_application().empty());
}

TEST_CASE("append_repetition adds a repetition to a field", "[header][edit]")
{
    auto m = hl7::parse("MSH|^~\\&|A\rPID|1||123^^^HOSP||DOE\rPID|2\r");
    CHECK(m.append_repetition("PID.3", "456^^^SSA") == 2);
    CHECK(m.segment("PID")[3].raw() == "123^^^HOSP~456^^^SSA");
    CHECK(m.append_repetition("PID.3", "789") == 3);
    CHECK(m.segment("PID")[3].size() == 3);
    CHECK(m.segment("PID")[3][3].raw() == "789");
    // Empty and absent fields get the value as their only repetition.
    CHECK(m.append_repetition("PID.2", "X") == 1);
    CHECK(m.segment("PID")[2].raw() == "X");
    CHECK(m.append_repetition("PID2.13", "555-1234") == 1);
    CHECK(m.segment("PID", 2)[13].raw() == "555-1234");
    CHECK(m.segment("PID", 2).size() == 13);
    // With the message's own repetition separator.
    auto odd = hl7::parse(hl7_test::odd_delimiters_sample);
    CHECK(odd.append_repetition("PID.3", "A3$B3") == 3);
    CHECK(odd.segment("PID")[3].raw() == "A1$B1*A2$B2%S2*A3$B3");
    // Only field paths, only existing segments, never MSH-1/MSH-2.
    CHECK_THROWS_MATCHES(m.append_repetition("PID.3.1", "x"), hl7::path_error,
                         Catch::Predicate<hl7::path_error>([](auto const& e) { return e.code() == hl7::error::invalid_path; }));
    CHECK_THROWS_MATCHES(m.append_repetition("OBX.3", "x"), hl7::path_error,
                         Catch::Predicate<hl7::path_error>([](auto const& e) { return e.code() == hl7::error::segment_not_found; }));
    CHECK_THROWS_MATCHES(m.append_repetition("MSH.2", "x"), hl7::path_error,
                         Catch::Predicate<hl7::path_error>([](auto const& e) { return e.code() == hl7::error::read_only_field; }));
    CHECK_THROWS_AS(m.append_repetition("PID.0", "x"), hl7::path_error);
    // The result parses back to the same structure.
    CHECK(hl7::to_string(hl7::parse(hl7::to_string(m))) == hl7::to_string(m));
}

TEST_CASE("lines() prints one segment per line, operator<< keeps CR", "[header][print]")
{
    auto const m = hl7::parse("MSH|^~\\&|A\r\nPID|1||x\n\nOBX|1\r");
    std::ostringstream people;
    people << hl7::lines(m);
    CHECK(people.str() == "MSH|^~\\&|A\nPID|1||x\nOBX|1\n");
    CHECK(hl7::to_string(hl7::lines(m)) == people.str());
    std::ostringstream wire;
    wire << m;
    CHECK(wire.str() == "MSH|^~\\&|A\rPID|1||x\rOBX|1\r");
    // Bytes inside segments are untouched (LF as data under strict terminators).
    hl7::parse_options strict;
    strict.strict_terminators = true;
    auto const lf = hl7::parse("MSH|^~\\&|A\rNTE|1||a\nb\r", strict);
    CHECK(hl7::to_string(hl7::lines(lf)) == "MSH|^~\\&|A\nNTE|1||a\nb\n");
    CHECK(hl7::to_string(hl7::lines(hl7::message())).empty());
}
