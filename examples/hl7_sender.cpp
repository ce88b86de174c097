// hl7_sender: python-hl7's documented asyncio HL7 sender, in C++.
//
//   hl7_sender [--host 127.0.0.1] [--port 2575] [--file FILE|-] [--timeout 10] [--raw]
//
// Sends the document's ORU^R01 message (or every message in FILE; "-" reads
// standard input) over one MLLP connection, waits for each ACK and prints
// what was sent and received like the Python program (segments on separate
// lines). Connecting and each ACK are bounded by --timeout (the document's
// asyncio.wait_for(..., timeout=10)).
//
// Exit codes:
//   0  every message acknowledged with AA (or CA)
//   1  unexpected error
//   2  usage error, or FILE unreadable or not HL7
//   3  an ACK said AE/CE (application error)
//   4  an ACK said AR/CR (rejected)       (4 wins over 3 when both happen)
//   5  timeout (connecting or waiting for an ACK)
//   6  cannot connect (refused, unreachable, unknown host)
//   7  connection lost or not an ACK (peer closed before answering, an
//      answer that is not HL7 or does not acknowledge the message sent)

#include "hl7_example_cli.hpp"
#include "hl7_example_input.hpp"

#include <hl7/hl7.hpp>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/use_awaitable.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <iostream>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace {

using namespace std::chrono_literals;

constexpr int exit_ok = 0;
constexpr int exit_error = 1;
constexpr int exit_usage = 2;
constexpr int exit_ae = 3;
constexpr int exit_ar = 4;
constexpr int exit_timeout = 5;
constexpr int exit_connect = 6;
constexpr int exit_protocol = 7;

// The message of python-hl7's MLLP document.
constexpr std::string_view document_message =
    "MSH|^~\\&|GHH LAB|ELAB-3|GHH OE|BLDG4|200202150930||ORU^R01|CNTRL-3456|P|2.4\r"
    "PID|||555-44-4444||EVERYWOMAN^EVE^E^^^^L|JONES|196203520|F|||153 FERNWOOD DR.^^STATESVILLE^OH^35292||"
    "(206)3345232|(206)752-121||||AC555444444||67-A4335^OH^20030520\r"
    "OBR|1|845439^GHH OE|1045813^GHH LAB|1554-5^GLUCOSE|||200202150730||||||||555-55-5555^PRIMARY^PATRICIA P^^^^MD^^"
    "LEVEL SEVEN HEALTHCARE, INC.|||||||||F||||||444-44-4444^HIPPOCRATES^HOWARD H^^^^MD\r"
    "OBX|1|SN|1554-5^GLUCOSE^POST 12H CFST:MCNC:PT:SER/PLAS:QN||^182|mg/dl|70_105|H|||F\r";

struct config
{
    std::string host = "127.0.0.1";
    std::uint16_t port = 2575;
    std::string file;          // empty: the document's message
    bool raw = false;          // send the file's bytes as one frame, unparsed
    std::chrono::steady_clock::duration timeout = 10s;
};

// What is sent: parsed messages, or (--raw) one payload as it stands.
struct outgoing
{
    std::vector<hl7::message> messages;
    std::optional<std::string> raw;
};

// Python's f'...{message}'.replace('\r', '\n'): segments on lines.
std::string
on_lines(std::string text)
{
    std::replace(text.begin(), text.end(), '\r', '\n');
    return text;
}

int
severity(std::string_view code)
{
    if (code == "AA" || code == "CA")
        return exit_ok;
    if (code == "AE" || code == "CE")
        return exit_ae;
    if (code == "AR" || code == "CR")
        return exit_ar;
    return exit_protocol;
}

int
worse(int a, int b)
{
    // AR beats AE beats AA; anything else (timeouts, protocol) ends the run anyway.
    return std::max(a, b);
}

// Checks one answer; prints why it is not an AA. Returns the exit code it calls for.
int
judge(hl7::message const& ack, std::optional<std::string> const& sent_id)
{
    std::error_code ec;
    std::string const code = ack.get("MSA.1", ec);
    if (ec || !ack.has_segment("MSA")) {
        std::cerr << "hl7_sender: the answer has no MSA segment: not an acknowledgement\n";
        return exit_protocol;
    }
    std::string const acked = ack.get("MSA.2", ec);
    if (sent_id && acked != *sent_id) {
        std::cerr << "hl7_sender: the ACK answers control id \"" << acked << "\", not \"" << *sent_id
                  << "\" (the message sent)\n";
        return exit_protocol;
    }
    int const rc = severity(code);
    if (rc != exit_ok) {
        std::string const text = ack.get("MSA.3", ec);
        std::cerr << "hl7_sender: the receiver answered " << (code.empty() ? "(no code)" : code)
                  << (text.empty() ? std::string() : ": " + text) << '\n';
    }
    return rc;
}

asio::awaitable<int>
run(config const& cfg, outgoing const& out)
{
    // Open the connection to the HL7 receiver. wait_for is optional, but
    // recommended so a dead receiver won't block you for long.
    auto [hl7_reader, hl7_writer] =
        co_await hl7::wait_for(hl7::open_hl7_connection(cfg.host, cfg.port), cfg.timeout);

    // One round per message (or one for --raw). Plain statements only: no
    // lambda coroutines or temporaries held across co_await (GCC 12 bugs).
    std::size_t const rounds = out.raw ? 1 : out.messages.size();
    int rc = exit_ok;
    for (std::size_t i = 0; i < rounds; ++i) {
        std::string shown;
        std::optional<std::string> sent_id;
        if (out.raw) {
            hl7_writer.writeblock(*out.raw);
            shown = *out.raw;
        }
        else {
            hl7::message const& hl7_message = out.messages[i];
            // Write the HL7 message, and then wait for the writer to drain
            // to actually send the message.
            hl7_writer.writemessage(hl7_message);
            shown = hl7::to_string(hl7_message);
            std::error_code ec;
            std::string id = hl7_message.get("MSH.10", ec);
            if (!id.empty())
                sent_id = std::move(id);
        }
        co_await hl7::wait_for(hl7_writer.drain(), cfg.timeout);
        std::cout << "Sent message\n " << on_lines(shown) << std::endl;

        // Now wait for the ACK message from the receiver.
        hl7::message const hl7_ack = co_await hl7::wait_for(hl7_reader.readmessage(), cfg.timeout);
        std::cout << "Received ACK\n " << on_lines(hl7::to_string(hl7_ack)) << std::endl;
        rc = worse(rc, judge(hl7_ack, sent_id));
        if (rc == exit_protocol)
            break;
    }

    hl7_writer.close();
    co_await hl7_writer.wait_closed();
    co_return rc;
}

// Maps what ended the run to an exit code, saying why on stderr.
int
report(std::exception_ptr e, config const& cfg)
{
    std::string const where = cfg.host + ":" + std::to_string(cfg.port);
    try {
        std::rethrow_exception(e);
    }
    catch (hl7::mllp::timeout_error const& x) {
        std::cerr << "hl7_sender: timed out after " << hl7_example::describe_duration(cfg.timeout) << " ("
                  << x.code().message() << ") talking to " << where << '\n';
        return exit_timeout;
    }
    catch (hl7::mllp::incomplete_read_error const& x) {
        std::cerr << "hl7_sender: " << where << " closed the connection before answering (" << x.code().message()
                  << ")\n";
        return exit_protocol;
    }
    catch (hl7::parse_error const& x) {
        std::cerr << "hl7_sender: the answer from " << where << " is not HL7: " << hl7_example::describe(x) << '\n';
        return exit_protocol;
    }
    catch (std::system_error const& x) {
        std::error_code const ec = x.code();
        if (hl7::mllp::is_timeout(ec)) {
            std::cerr << "hl7_sender: timed out talking to " << where << " (" << ec.message() << ")\n";
            return exit_timeout;
        }
        if (ec.category() == hl7::mllp::error_category()) {
            std::cerr << "hl7_sender: " << where << ": " << ec.message() << '\n';
            return exit_protocol;
        }
        if (ec == std::errc::connection_reset || ec == std::errc::broken_pipe || ec == std::errc::connection_aborted) {
            std::cerr << "hl7_sender: connection to " << where << " lost: " << ec.message() << '\n';
            return exit_protocol;
        }
        std::cerr << "hl7_sender: cannot connect to " << where << ": " << ec.message() << '\n';
        return exit_connect;
    }
    catch (std::exception const& x) {
        std::cerr << "hl7_sender: " << x.what() << '\n';
        return exit_error;
    }
}

void
usage(std::ostream& os)
{
    os << "usage: hl7_sender [options]\n"
          "\n"
          "Sends HL7 v2 messages over MLLP and prints each ACK. Without --file it sends the\n"
          "ORU^R01 example of python-hl7's MLLP document.\n"
          "\n"
          "options:\n"
          "  --host HOST          receiver's address (default 127.0.0.1)\n"
          "  --port PORT          receiver's port (default 2575)\n"
          "  --file FILE          send the messages in FILE, \"-\" for standard input: one message,\n"
          "                       several, a batch, or MLLP frames as for mllp_send\n"
          "  --raw                send FILE's bytes as one frame without parsing them\n"
          "                       (to see how a receiver answers what is not HL7)\n"
          "  --timeout SECONDS    limit for connecting and for each ACK (default 10)\n"
          "  -h, --help           this text\n"
          "\n"
          "exit codes: 0 all AA, 1 error, 2 usage or bad input, 3 AE, 4 AR, 5 timeout,\n"
          "            6 cannot connect, 7 connection lost or no valid ACK\n";
}

} // namespace

int
main(int argc, char** argv)
{
    config cfg;
    try {
        hl7_example::arguments args(argc, argv);
        while (args.next()) {
            if (args.is("--help", "-h")) {
                usage(std::cout);
                return exit_ok;
            }
            else if (args.is("--host"))
                cfg.host = args.value();
            else if (args.is("--port"))
                cfg.port = args.integer<std::uint16_t>(1, 65535);
            else if (args.is("--file", "-f"))
                cfg.file = args.value();
            else if (args.is("--raw")) {
                args.flag();
                cfg.raw = true;
            }
            else if (args.is("--timeout"))
                cfg.timeout = args.seconds();
            else
                args.unknown();
        }
        if (cfg.raw && cfg.file.empty())
            throw hl7_example::usage_error("--raw needs --file");
    }
    catch (hl7_example::usage_error const& e) {
        std::cerr << "hl7_sender: " << e.what() << "\n(hl7_sender --help lists the options)\n";
        return exit_usage;
    }

    outgoing out;
    try {
        if (cfg.file.empty())
            out.messages.push_back(hl7::parse(document_message));
        else if (cfg.raw)
            out.raw = hl7_example::read_all(cfg.file);
        else
            out.messages = hl7_example::messages_in(hl7_example::read_all(cfg.file));
    }
    catch (hl7_example::input_error const& e) {
        std::cerr << "hl7_sender: " << (cfg.file == "-" ? "<stdin>" : cfg.file) << ": " << e.what() << '\n';
        return exit_usage;
    }

    int rc = exit_error;
    asio::io_context ioc;
    asio::co_spawn(ioc, run(cfg, out), [&](std::exception_ptr e, int result) {
        rc = e ? report(e, cfg) : result;
    });
    ioc.run();
    return rc;
}
