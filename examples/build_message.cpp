// build_message: building an HL7 v2 message from scratch, reading it back
// and acknowledging it. Only the message model is used (no networking).
//
//   $ build_message
//
// Prints the message and its ACK (segments on separate lines) and checks
// that what was written reads back; exits 1 if anything does not.

#include <hl7/model.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>

namespace {

// HL7 ends segments with CR; a terminator wants one segment per line.
std::string
printable(hl7::message const& m)
{
    std::string text = hl7::to_string(m);
    std::replace(text.begin(), text.end(), '\r', '\n');
    return text;
}

int failures = 0;

void
expect(std::string_view what, std::string const& got, std::string_view want)
{
    if (got != want) {
        std::cerr << "build_message: " << what << " reads back as \"" << got << "\", expected \"" << want
                  << "\"\n";
        ++failures;
    }
}

} // namespace

int
main()
{
    // An empty message has the default delimiters |^~\&; "MSH" alone becomes
    // "MSH|^~\&" (MSH-1 and MSH-2 come from the message's delimiters).
    hl7::message msg;
    msg.append_segment("MSH");
    msg.set("MSH.3", "ADMIT APP");
    msg.set("MSH.4", "GOOD HEALTH HOSPITAL");
    msg.set("MSH.5", "LAB APP");
    msg.set("MSH.6", "LAB");
    msg.set("MSH.7", hl7::format_timestamp(std::chrono::system_clock::now()));
    msg.set("MSH.9", "ADT^A01^ADT_A01");         // set() writes delimiters verbatim...
    msg.set("MSH.10", hl7::generate_message_control_id());
    msg.set("MSH.11", "P");
    msg.set("MSH.12", "2.5");
    msg.set("MSH.18", "UNICODE UTF-8");

    // Segments can be appended whole, or as a bare id and filled by path;
    // missing fields, repetitions and components are created on the way.
    msg.append_segment("EVN|A01");
    msg.append_segment("PID|1");
    msg.set("PID.3.1.1", "PATID1234");       // field 3, repetition 1, component 1
    msg.set("PID.3.1.4", "GHH");
    msg.set("PID.3.1.5", "MR");
    msg.set("PID.F3.R2.C1", "123456789");     // the same with prefixes: a second repetition
    msg.set("PID.F3.R2.C5", "SS");
    msg.set_escaped("PID.5.1.1", "O'Brien & Sons"); // ...set_escaped() escapes text: & becomes \T\ here
    msg.set_escaped("PID.5.1.2", "Zoë");            // bytes are kept as they are (UTF-8 here)
    msg.set("PID.7", "19610615");
    msg.set("PID.8", "F");
    msg.append_segment("PV1|1|I|2000^2012^01");
    msg.append_segment("OBX");
    msg.set("OBX.1", "1");
    msg.set("OBX.2", "TX");
    msg.set_escaped("OBX.5", "glucose | fasting ^ 5.4 mmol/L"); // field and component separators escaped

    std::cout << "Message (" << msg.size() << " segments)\n" << printable(msg) << '\n';

    // Reading back: get()/operator[] decode escape sequences, raw() does not.
    expect("PID.5.1.1", msg["PID.5.1.1"], "O'Brien & Sons");
    expect("PID.5.1.2", msg["PID.5.1.2"], "Zoë");
    expect("PID.5", msg["PID.5"], "O'Brien & Sons"); // a shorter path follows first children
    expect("raw PID.5.1.1", std::string(msg.raw("PID.5.1.1")), "O'Brien \\T\\ Sons");
    expect("PID.F3.R2.C1", msg["PID.F3.R2.C1"], "123456789");
    expect("MSH.9.1.2", msg["MSH.9.1.2"], "A01");
    expect("OBX.5", msg["OBX.5"], "glucose | fasting ^ 5.4 mmol/L");
    for (auto const& segment : msg)
        if (segment.id() == "PID")
            expect("PID-3 repetitions", std::to_string(segment.field(3).size()), "2");

    // The text round-trips through the parser unchanged.
    std::string const text = hl7::to_string(msg);
    expect("round trip", hl7::to_string(hl7::parse(text)), text);

    // The ACK swaps sender and receiver and answers MSH-10 in MSA-2.
    hl7::message const ack = msg.create_ack();
    std::cout << "ACK\n" << printable(ack) << '\n';
    expect("ACK MSA.1", ack["MSA.1"], "AA");
    expect("ACK MSA.2", ack["MSA.2"], msg["MSH.10"]);
    expect("ACK MSH.3", ack["MSH.3"], "LAB APP");
    expect("ACK MSH-9", std::string(ack.segment("MSH").field(9).raw()), "ACK^A01^ACK");

    // An error ACK with a reason (MSA-3) and an ERR segment.
    hl7::ack_options nak;
    nak.code = "AE";
    nak.text = "PID-7: birth date in the future";
    nak.error_code = "102";
    nak.error_location = "PID^1^7";
    std::cout << "NAK\n" << printable(msg.create_ack(nak)) << '\n';

    return failures == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
