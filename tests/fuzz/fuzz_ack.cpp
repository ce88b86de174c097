// libFuzzer target: acknowledgements for arbitrary input.
//
// make_nak() must answer anything (a receiver calls it on bytes that did not
// parse) with a well-formed NAK; create_ack() must work on whatever parses,
// and both must carry the sender's MSH-10 back in MSA-2 when there is one.

#include <hl7/model/ack.hpp>
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
check_ack(hl7::message const& ack, std::string_view code, std::string_view input)
{
    HL7_FUZZ_CHECK(ack.size() >= 2, printable(input));
    HL7_FUZZ_CHECK(ack.segment_at(1).id() == "MSH", printable(hl7::to_string(ack)));
    // The checks below read the ACK by structure, which letter delimiters
    // taken over from the input (field separator 'C' splits "ACK") defeat.
    if (hl7_fuzz::escape_safe(ack.delimiters())) {
        HL7_FUZZ_CHECK(ack.segment_at(2).id() == "MSA", printable(hl7::to_string(ack)));
        HL7_FUZZ_CHECK(ack.segment_at(2).field(1).raw() == code, printable(hl7::to_string(ack)));
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
    std::string const payload = in.ConsumeRemainingBytesAsString();

    // A NAK for anything, never throwing.
    hl7::message const nak = hl7::make_nak(payload, code, why, error_code);
    check_ack(nak, code, payload);
    if (hl7_fuzz::escape_safe(nak.delimiters()))
        HL7_FUZZ_CHECK(nak.segment_at(2).field(3).value() == why, printable(why) + " vs " + printable(nak.segment_at(2).field(3).value()));

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
            HL7_FUZZ_CHECK(full.segment_at(2).field(3).value() == why, printable(why) + " vs " + printable(full.segment_at(2).field(3).value()));

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
