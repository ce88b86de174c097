// hl7_sender: python-hl7's documented asyncio HL7 sender, in C++, grown into
// a command-line tool (a superset of python-hl7's mllp_send) on hl7::client.
//
//   hl7_sender [--host 127.0.0.1] [--port 2575] [options] [FILE...]    (--help lists them)
//
// Sends the document's ORU^R01 message (or every message in the FILEs; "-"
// reads standard input) and prints what was sent and received like the
// Python program (segments on separate lines), then a summary line. Every
// ACK is matched to its message by MSA-2; a window of messages in flight,
// several connections, retries, a rate limit and an outcomes file are
// options.
//
// Exit codes (the worst that happened to any message):
//   0  every message acknowledged with AA (or CA)
//   1  unexpected error
//   2  usage error, or a FILE unreadable or not HL7
//   3  an ACK said AE/CE (application error)
//   4  an ACK said AR/CR (rejected)                      (4 wins over 3)
//   5  messages not sent: connecting timed out
//   6  messages not sent: cannot connect (refused, unreachable, unknown host)
//   7  messages not sent for another reason (interrupted, or the connection
//      failed and could not be made again) or, with --raw, the connection
//      was lost or the answer was not an ACK
//   8  unknown fate: a message was written but no ACK came (ACK timeout, the
//      connection was lost, the answer was not an ACK), retries included:
//      the receiver may or may not have it                  (8 wins over all)
// With --raw: 5 also means the answer timed out (the old behaviour).

#include "hl7_example_cli.hpp"
#include "hl7_example_input.hpp"

#include <hl7/hl7.hpp>
#include <hl7/net/client.hpp>
#include <hl7/version.hpp>
#ifdef HL7_EXAMPLES_TLS
#include <hl7/tls.hpp>
#endif

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

constexpr int exit_ok = 0;
constexpr int exit_error = 1;
constexpr int exit_usage = 2;
constexpr int exit_ae = 3;
constexpr int exit_ar = 4;
constexpr int exit_timeout = 5;
constexpr int exit_connect = 6;
constexpr int exit_not_sent = 7; // --raw: connection lost or no valid ACK
constexpr int exit_unknown = 8;

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
    std::vector<std::string> files{}; // empty: the document's message
    bool loose = false;               // LF/CRLF line ends (mllp_send --loose)
    bool raw = false;                 // send each file's bytes as one frame, unparsed
    std::size_t window = 1;
    std::size_t connections = 1;
    std::uint64_t repeat = 1;
    bool new_ids = false;
    double rate = 0; // messages per second, 0 = unlimited
    clock_type::duration timeout = 10s;
    std::optional<clock_type::duration> connect_timeout{};
    unsigned retries = 0;
    bool quiet = false;
    std::string outcomes_file{};
    // MLLP over TLS: the server's chain and host name are verified unless tls_insecure.
    bool tls = false;
    std::string tls_ca{}, tls_cert{}, tls_key{}, tls_server_name{};
    bool tls_insecure = false;
};

// How every connection is made: TCP, or TLS with one context loaded at start
// (a bad file is reported before anything is sent).
hl7::connect_function
make_connect(config const& cfg)
{
    hl7::connection_options copts;
    copts.connect_timeout = cfg.connect_timeout.value_or(cfg.timeout);
    if (!cfg.tls)
        return hl7::tcp_connect(cfg.host, cfg.port, copts);
#ifdef HL7_EXAMPLES_TLS
    hl7::tls_client_options tls;
    tls.ca_file = cfg.tls_ca;
    tls.certificate_chain_file = cfg.tls_cert;
    tls.private_key_file = cfg.tls_key;
    tls.server_name = cfg.tls_server_name;
    tls.insecure_no_verify = cfg.tls_insecure;
    auto context = hl7::tls::make_client_context(tls);
    return [host = cfg.host, port = cfg.port, context, tls, copts]() {
        return hl7::open_hl7_tls_connection(host, port, context, tls, copts);
    };
#else
    throw std::runtime_error("this hl7_sender was built without TLS (hl7::tls, libssl-dev)");
#endif
}

// Python's f'...{message}'.replace('\r', '\n'): segments on lines.
std::string
on_lines(std::string_view text)
{
    std::string s(text);
    std::replace(s.begin(), s.end(), '\r', '\n');
    return s;
}

std::string
file_label(std::string const& f)
{
    return f == "-" ? "<stdin>" : f;
}

//----------------------------------------------------------------------------
// Input

// Where each message of plain text starts: at every segment starting with
// MSH (after CR, or also after LF with --loose), and at 0.
std::vector<std::size_t>
message_starts(std::string_view text, bool loose)
{
    std::vector<std::size_t> starts{0};
    for (std::size_t i = 0; i + 4 <= text.size(); ++i) {
        char const c = text[i];
        if (c != '\r' && !(loose && c == '\n'))
            continue;
        std::size_t const at = i + 1;
        if (at + 4 <= text.size() && text.compare(at, 3, "MSH") == 0 &&
            !std::isalnum(static_cast<unsigned char>(text[at + 3])) && at != starts.back())
            starts.push_back(at);
    }
    return starts;
}

bool
has_batch_header(std::string_view text)
{
    for (std::string_view h : {"FHS", "BHS"}) {
        if (text.substr(0, 3) == h)
            return true;
        for (std::string_view lead : {"\r", "\n"})
            if (text.find(std::string(lead) + std::string(h)) != std::string_view::npos)
                return true;
    }
    return false;
}

// Every message of every file, serialised (segments end in CR). Plain text
// is cut into messages at each MSH and parsed message by message, so a file
// of any number of messages stays within the parser's per-message limits;
// framed text goes frame by frame; FHS/BHS batches are parsed whole (with
// limits raised to the file's size: a local file is trusted input).
std::vector<std::string>
load_messages(config const& cfg)
{
    std::vector<std::string> out;
    if (cfg.files.empty()) {
        out.emplace_back(document_message);
        return out;
    }
    hl7::parse_options opts;
    opts.strict_terminators = !cfg.loose;
    for (auto const& f : cfg.files) {
        std::string text = hl7_example::read_all(f);
        if (cfg.loose) // mllp_send --loose: framing bytes are dropped, lines may end in LF or CRLF
            std::erase_if(text, [](char c) { return c == '\x0b' || c == '\x1c' || c == '\x0c'; });
        else if (!hl7_example::is_framed(text)) // a final newline after the last segment is harmless
            while (!text.empty() && (text.back() == '\n' || text.back() == ' ' || text.back() == '\t'))
                text.pop_back();
        std::string const hint = !cfg.loose && text.find('\n') != std::string::npos
                                     ? " (segments must end in CR; for LF or CRLF line ends use --loose)"
                                     : "";
        try {
            if (hl7_example::is_framed(text)) {
                for (auto const& m : hl7_example::messages_in(text, opts))
                    out.push_back(hl7::to_string(m));
            } else if (has_batch_header(text)) {
                hl7::parse_options big = opts;
                big.max_message_size = std::max(big.max_message_size, text.size());
                big.max_segments = std::max<std::size_t>(big.max_segments, text.size() / 4 + 1);
                for (auto const& m : hl7_example::messages_in(text, big))
                    out.push_back(hl7::to_string(m));
            } else {
                auto const starts = message_starts(text, cfg.loose);
                for (std::size_t k = 0; k < starts.size(); ++k) {
                    std::size_t const end = k + 1 < starts.size() ? starts[k + 1] : text.size();
                    std::string_view const piece = std::string_view(text).substr(starts[k], end - starts[k]);
                    try {
                        out.push_back(hl7::to_string(hl7::parse(piece, opts)));
                    } catch (hl7::parse_error const& e) {
                        throw hl7_example::input_error(hl7_example::describe(e, starts[k]));
                    }
                }
            }
        } catch (hl7_example::input_error const& e) {
            throw hl7_example::input_error(file_label(f) + ": " + e.what() + hint);
        }
        if (out.empty())
            throw hl7_example::input_error(file_label(f) + ": no HL7 message found");
    }
    return out;
}

// `payload` with MSH-10 replaced by `id`.
std::string
with_control_id(std::string const& payload, std::string const& id)
{
    std::error_code ec;
    std::string_view const current = hl7::locate(payload, "MSH.10", ec);
    if (!ec && !current.empty()) {
        auto const at = static_cast<std::size_t>(current.data() - payload.data());
        std::string out;
        out.reserve(payload.size() + id.size());
        out.append(payload, 0, at).append(id).append(payload, at + current.size());
        return out;
    }
    hl7::message m = hl7::parse(payload);
    m.set("MSH.10", id);
    return hl7::to_string(m);
}

//----------------------------------------------------------------------------
// The run

struct run_state
{
    config const& cfg;
    std::vector<std::string> const& messages;
    std::uint64_t total = 0;
    std::uint64_t next = 0;     // next message to hand to a client
    std::uint64_t finished = 0; // outcomes so far
    std::vector<std::optional<hl7::send_outcome>> outcomes;
    bool interrupted = false;
    std::error_code gave_up{}; // connecting failed for good: the rest is not sent
    clock_type::time_point start = clock_type::now();
    clock_type::time_point end{};
    std::size_t failures_shown = 0;
    std::uint64_t unknown = 0, not_sent = 0;

    run_state(config const& c, std::vector<std::string> const& m)
        : cfg(c), messages(m), total(static_cast<std::uint64_t>(m.size()) * c.repeat),
          outcomes(static_cast<std::size_t>(total))
    {
    }

    std::string
    payload(std::uint64_t i) const
    {
        std::string const& m = messages[static_cast<std::size_t>(i % messages.size())];
        if (!cfg.new_ids)
            return m;
        return with_control_id(m, hl7::generate_message_control_id());
    }
};

std::string
describe_reason(hl7::send_outcome const& o, config const& cfg)
{
    std::string const where = cfg.host + ":" + std::to_string(cfg.port);
    auto const& ec = o.reason;
    if (ec == hl7::client_error::ack_timeout)
        return "no ACK within " + hl7_example::describe_duration(cfg.timeout);
    if (ec == hl7::mllp::error::connect_timeout)
        return "connecting to " + where + " timed out";
    if (ec == hl7::mllp::error::end_of_stream || ec == hl7::mllp::error::incomplete_frame)
        return where + " closed the connection before answering";
    if (ec == hl7::client_error::not_an_ack)
        return "the answer from " + where + " is not an ACK";
    if (o.fate == hl7::send_fate::not_sent && ec.category() != hl7::client_error_category())
        return "cannot connect to " + where + ": " + ec.message();
    return ec.message();
}

void
show_outcome(run_state& st, std::uint64_t index, hl7::send_outcome const& o, std::string const& sent)
{
    auto const& cfg = st.cfg;
    if (!cfg.quiet && o.attempts > 0)
        std::cout << "Sent message\n " << on_lines(sent) << std::endl;
    if (o.fate == hl7::send_fate::acknowledged) {
        if (!cfg.quiet)
            std::cout << "Received ACK\n " << on_lines(o.ack) << std::endl;
        if (!o.accepted() && (!cfg.quiet || st.failures_shown < 10)) {
            ++st.failures_shown;
            std::error_code ec;
            std::string const text(hl7::locate(o.ack, "MSA.3", ec));
            std::cerr << "hl7_sender: " << o.control_id << ": the receiver answered " << o.ack_code
                      << (text.empty() ? std::string() : ": " + text) << '\n';
        }
        return;
    }
    if (st.failures_shown++ < 10) {
        std::cerr << "hl7_sender: " << (o.control_id.empty() ? "message " + std::to_string(index + 1) : o.control_id)
                  << ": " << (o.fate == hl7::send_fate::unknown ? "fate unknown" : "not sent");
        if (o.attempts > 0)
            std::cerr << " after " << o.attempts << (o.attempts == 1 ? " attempt" : " attempts");
        std::cerr << ": " << describe_reason(o, cfg) << '\n';
    } else if (st.failures_shown == 11) {
        std::cerr << "hl7_sender: (more failures: see the summary" << (cfg.outcomes_file.empty() ? "" : " and --outcomes")
                  << ")\n";
    }
}

void
record(run_state& st, std::uint64_t index, hl7::send_outcome o, std::string const& sent)
{
    show_outcome(st, index, o, sent);
    st.unknown += o.fate == hl7::send_fate::unknown;
    st.not_sent += o.fate == hl7::send_fate::not_sent;
    // A client gives a message up unsent only once connecting has failed
    // --retries + 1 times (or for good): stop the run rather than wait
    // through the back-off for every message left.
    if (o.fate == hl7::send_fate::not_sent && o.reason.category() != hl7::client_error_category() && !st.gave_up)
        st.gave_up = o.reason;
    st.outcomes[static_cast<std::size_t>(index)] = std::move(o);
    if (++st.finished == st.total)
        st.end = clock_type::now();
}

// One of several senders per connection: takes the next message, sends it,
// waits for its outcome. Enough of them keep the window full and a message
// waiting in the queue when an ACK frees a slot.
asio::awaitable<void>
feeder(hl7::client& c, run_state& st)
{
    auto ex = co_await asio::this_coro::executor;
    asio::steady_timer pace(ex);
    while (!st.interrupted && !st.gave_up && st.next < st.total) {
        std::uint64_t const i = st.next++;
        if (st.cfg.rate > 0) {
            auto const due = st.start + std::chrono::duration_cast<clock_type::duration>(
                                            std::chrono::duration<double>(static_cast<double>(i) / st.cfg.rate));
            if (due > clock_type::now()) {
                pace.expires_at(due);
                co_await pace.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
            }
        }
        std::string payload = st.payload(i);
        std::string shown = st.cfg.quiet ? std::string() : payload;
        hl7::send_outcome r;
        try {
            r = co_await c.send_block(std::move(payload));
        } catch (std::system_error const& e) { // cancelled: only on shutdown
            r.fate = hl7::send_fate::not_sent;
            r.reason = e.code();
        }
        record(st, i, std::move(r), shown);
    }
}

// A progress line on standard error, when it is a terminal and the run is
// still going after a second.
asio::awaitable<void>
progress(run_state& st, asio::steady_timer& t)
{
    bool shown = false;
    for (;;) {
        t.expires_after(1s);
        auto [ec] = co_await t.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
        if (ec || st.finished == st.total)
            break;
        double const secs = std::chrono::duration<double>(clock_type::now() - st.start).count();
        std::fprintf(stderr, "\r\033[Khl7_sender: %llu/%llu messages, %.0f msg/s, %llu unknown, %llu not sent",
                     static_cast<unsigned long long>(st.finished), static_cast<unsigned long long>(st.total),
                     secs > 0 ? static_cast<double>(st.finished) / secs : 0.0,
                     static_cast<unsigned long long>(st.unknown), static_cast<unsigned long long>(st.not_sent));
        std::fflush(stderr);
        shown = true;
    }
    if (shown) {
        std::fprintf(stderr, "\r\033[K");
        std::fflush(stderr);
    }
}

hl7::client_options
make_client_options(config const& cfg, std::size_t feeders)
{
    hl7::client_options o;
    o.window = cfg.window;
    o.queue_limit = feeders;
    o.ack_timeout = cfg.timeout;
    o.connect_timeout = cfg.connect_timeout.value_or(cfg.timeout);
    o.max_retries = cfg.retries;
    o.max_connect_failures = cfg.retries + 1;
    if (!cfg.quiet) {
        std::string const where = cfg.host + ":" + std::to_string(cfg.port);
        o.on_event = [where](hl7::client_event const& e) {
            using k = hl7::client_event::kind;
            if (e.what == k::lost)
                std::cerr << "hl7_sender: connection to " << where << " lost: " << e.reason.message() << '\n';
            else if (e.what == k::backing_off)
                std::cerr << "hl7_sender: reconnecting in " << hl7_example::describe_duration(e.delay) << '\n';
        };
        o.on_unmatched_ack = [](std::string_view ack) {
            std::error_code ec;
            std::cerr << "hl7_sender: dropped an ACK that matches no message in flight (MSA-2 \""
                      << hl7::locate(ack, "MSA.2", ec) << "\")\n";
        };
    }
    return o;
}

asio::awaitable<void>
run(config const& cfg, run_state& st, std::vector<std::unique_ptr<hl7::client>>& clients)
{
    auto ex = co_await asio::this_coro::executor;
    std::size_t const feeders = std::max<std::size_t>(2 * cfg.window, 2);
    for (std::size_t i = 0; i < cfg.connections; ++i)
        clients.push_back(std::make_unique<hl7::client>(ex, make_connect(cfg), make_client_options(cfg, feeders)));

    asio::signal_set signals(ex, SIGINT, SIGTERM);
    signals.async_wait([&](std::error_code ec, int) {
        if (ec)
            return;
        st.interrupted = true;
        std::cerr << "hl7_sender: interrupted: waiting up to 2 s for the messages in flight\n";
        for (auto& c : clients)
            c->async_close(2s, asio::detached);
    });
    asio::steady_timer progress_timer(ex);
    if (::isatty(STDERR_FILENO))
        asio::co_spawn(ex, progress(st, progress_timer), asio::detached);

    st.start = clock_type::now();
    std::size_t running = 0;
    asio::steady_timer done(ex, clock_type::time_point::max());
    for (auto& c : clients)
        for (std::size_t k = 0; k < feeders; ++k) {
            ++running;
            asio::co_spawn(ex, feeder(*c, st), [&](std::exception_ptr) {
                if (--running == 0)
                    done.cancel();
            });
        }
    co_await done.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
    progress_timer.cancel();
    for (auto& c : clients)
        co_await c->close(2s);
    signals.cancel();
    if (st.end == clock_type::time_point{})
        st.end = clock_type::now();
}

//----------------------------------------------------------------------------
// Summary, outcomes file, exit code

double
percentile(std::vector<double>& v, double p)
{
    if (v.empty())
        return 0;
    auto const k = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
    return v[k];
}

int
finish(run_state& st)
{
    std::uint64_t sent = 0, aa = 0, ae = 0, ar = 0, unknown = 0, not_sent = 0, resends = 0;
    bool connect_timeout = false, cannot_connect = false;
    std::vector<double> latencies;
    for (std::size_t i = 0; i < st.outcomes.size(); ++i) {
        auto& o = st.outcomes[i];
        if (!o) { // never handed to a client (interrupted, or connecting failed)
            o.emplace();
            o->reason = st.gave_up ? st.gave_up : hl7::make_error_code(hl7::client_error::client_closed);
            std::error_code ec;
            o->control_id = hl7::locate(st.messages[i % st.messages.size()], "MSH.10", ec);
        }
        sent += o->attempts > 0;
        resends += o->attempts > 1 ? o->attempts - 1 : 0;
        switch (o->fate) {
        case hl7::send_fate::acknowledged:
            if (o->ack_code == "AA" || o->ack_code == "CA")
                ++aa;
            else if (o->ack_code == "AE" || o->ack_code == "CE")
                ++ae;
            else
                ++ar;
            latencies.push_back(std::chrono::duration<double, std::milli>(o->round_trip).count());
            break;
        case hl7::send_fate::unknown: ++unknown; break;
        case hl7::send_fate::not_sent:
            ++not_sent;
            if (o->reason == hl7::mllp::error::connect_timeout)
                connect_timeout = true;
            else if (o->reason.category() != hl7::client_error_category())
                cannot_connect = true;
            break;
        }
    }
    double const secs = std::chrono::duration<double>(st.end - st.start).count();
    double const rate = secs > 0 ? static_cast<double>(aa + ae + ar) / secs : 0; // acknowledged per second
    std::string latency = "latency p50 -, p99 -";
    if (!latencies.empty()) {
        char buf[96];
        std::snprintf(buf, sizeof buf, "latency p50 %.3f ms, p99 %.3f ms", percentile(latencies, 0.50),
                      percentile(latencies, 0.99));
        latency = buf;
    }
    std::printf("hl7_sender: %llu %s: %llu sent, %llu AA, %llu AE, %llu AR, %llu unknown fate, %llu not sent, "
                "%llu resends; %.0f msg/s; %s\n",
                static_cast<unsigned long long>(st.total), st.total == 1 ? "message" : "messages",
                static_cast<unsigned long long>(sent), static_cast<unsigned long long>(aa),
                static_cast<unsigned long long>(ae), static_cast<unsigned long long>(ar),
                static_cast<unsigned long long>(unknown), static_cast<unsigned long long>(not_sent),
                static_cast<unsigned long long>(resends), rate, latency.c_str());
    std::fflush(stdout);

    if (!st.cfg.outcomes_file.empty()) {
        std::ofstream out(st.cfg.outcomes_file, std::ios::binary | std::ios::trunc);
        for (auto const& o : st.outcomes)
            out << o->control_id << '\t' << hl7::to_string(o->fate) << '\t' << o->ack_code << '\t' << o->attempts
                << '\n';
        if (!out) {
            std::cerr << "hl7_sender: cannot write " << st.cfg.outcomes_file << '\n';
            return exit_error;
        }
    }

    if (unknown)
        return exit_unknown;
    if (not_sent)
        return connect_timeout ? exit_timeout : cannot_connect ? exit_connect : exit_not_sent;
    if (ar)
        return exit_ar;
    if (ae)
        return exit_ae;
    return exit_ok;
}

//----------------------------------------------------------------------------
// --raw: one frame per file, unparsed, the first answer taken (to see how a
// receiver answers what is not HL7). No matching is possible, so this is the
// plain facade, as in python-hl7's document.

int
severity(std::string_view code)
{
    if (code == "AA" || code == "CA")
        return exit_ok;
    if (code == "AE" || code == "CE")
        return exit_ae;
    if (code == "AR" || code == "CR")
        return exit_ar;
    return exit_not_sent;
}

asio::awaitable<int>
run_raw(config const& cfg, std::vector<std::string> const& blocks)
{
    auto [hl7_reader, hl7_writer] = co_await hl7::wait_for(make_connect(cfg)(), cfg.connect_timeout.value_or(cfg.timeout));
    int rc = exit_ok;
    for (auto const& block : blocks) {
        hl7_writer.writeblock(block);
        co_await hl7::wait_for(hl7_writer.drain(), cfg.timeout);
        if (!cfg.quiet)
            std::cout << "Sent message\n " << on_lines(block) << std::endl;
        std::string const answer = co_await hl7::wait_for(hl7_reader.readblock(), cfg.timeout);
        if (!cfg.quiet)
            std::cout << "Received ACK\n " << on_lines(answer) << std::endl;
        std::error_code ec;
        std::string const code(hl7::locate(answer, "MSA.1", ec));
        if (ec) {
            std::cerr << "hl7_sender: the answer has no MSA segment: not an acknowledgement\n";
            rc = exit_not_sent;
            break;
        }
        rc = std::max(rc, severity(code));
        if (rc == exit_not_sent)
            break;
    }
    hl7_writer.close();
    co_await hl7_writer.wait_closed();
    co_return rc;
}

int
report_raw(std::exception_ptr e, config const& cfg)
{
    std::string const where = cfg.host + ":" + std::to_string(cfg.port);
    try {
        std::rethrow_exception(e);
    } catch (hl7::mllp::timeout_error const& x) {
        std::cerr << "hl7_sender: timed out talking to " << where << " (" << x.code().message() << ")\n";
        return exit_timeout;
    } catch (hl7::mllp::incomplete_read_error const& x) {
        std::cerr << "hl7_sender: " << where << " closed the connection before answering (" << x.code().message()
                  << ")\n";
        return exit_not_sent;
    } catch (std::system_error const& x) {
        std::cerr << "hl7_sender: " << where << ": " << x.code().message() << '\n';
        if (x.code().category() == hl7::mllp::error_category() || x.code() == std::errc::connection_reset ||
            x.code() == std::errc::broken_pipe)
            return exit_not_sent;
        return exit_connect;
    } catch (std::exception const& x) {
        std::cerr << "hl7_sender: " << x.what() << '\n';
        return exit_error;
    }
}

//----------------------------------------------------------------------------

void
usage(std::ostream& os)
{
    os << "usage: hl7_sender [options] [FILE...]\n"
          "\n"
          "Sends HL7 v2 messages over MLLP, matches every ACK to its message (MSA-2 = MSH-10)\n"
          "and prints each message and ACK, then a summary. Without FILE it sends the ORU^R01\n"
          "example of python-hl7's MLLP document.\n"
          "\n"
          "input:\n"
          "  FILE, -f/--file FILE   messages to send (\"-\" = standard input): one message, several\n"
          "                         separated by empty lines, MLLP frames (as mllp_send reads them)\n"
          "                         or FHS/BHS batches (sent message by message)\n"
          "  --loose                segments may end in LF or CRLF, framing bytes are dropped\n"
          "                         (mllp_send --loose); without it only CR ends a segment\n"
          "  --raw                  send each FILE's bytes as one frame without parsing them and\n"
          "                         take the first answer (to see how a receiver answers junk)\n"
          "receiver:\n"
          "  --host HOST            receiver's address (default 127.0.0.1)\n"
          "  -p, --port PORT        receiver's port (default 2575)\n"
          "sending:\n"
          "  --window N             messages in flight per connection (default 1)\n"
          "  --connections N        spread the messages over N connections (default 1)\n"
          "  --repeat N             send the input N times (default 1)\n"
          "  --new-ids              give every message sent a fresh MSH-10\n"
          "  --rate R               at most R messages per second in all\n"
          "  --timeout S            ACK timeout per message (default 10)\n"
          "  --connect-timeout S    connect timeout (default: --timeout)\n"
          "tls:\n"
          "  --tls                  MLLP over TLS; the receiver's certificate chain and host name\n"
          "                         are verified (system CA store unless --tls-ca)\n"
          "  --tls-ca FILE          trust the CAs in FILE (PEM)\n"
          "  --tls-cert F --tls-key F  client certificate chain and key (mutual TLS)\n"
          "  --tls-server-name N    the name to verify and send as SNI (default: --host)\n"
          "  --tls-insecure         do not verify the receiver (tests only; says so loudly)\n"
          "  --retries N            resend a message whose ACK did not come (lost connection,\n"
          "                         timeout, not an ACK) up to N times, with the same MSH-10, and\n"
          "                         try connecting up to N+1 times with back-off (default 0)\n"
          "output:\n"
          "  -q, --quiet            do not print messages and ACKs\n"
          "  --outcomes FILE        one line per message: MSH-10 TAB acked|unknown|not_sent TAB\n"
          "                         ACK code TAB attempts\n"
          "  --version              print the version\n"
          "  -h, --help             this text\n"
          "\n"
          "exit codes: 0 all AA, 1 error, 2 usage or bad input, 3 AE, 4 AR, 5 connect timeout\n"
          "            (not sent), 6 cannot connect (not sent), 7 not sent otherwise, 8 unknown\n"
          "            fate (written, no ACK: the receiver may or may not have it)\n";
}

} // namespace

int
main(int argc, char** argv)
{
    config cfg;
    try {
        hl7_example::arguments args(argc, argv);
        while (args.next()) {
            std::string_view const a = args.current();
            if (args.is("--help", "-h")) {
                usage(std::cout);
                return exit_ok;
            } else if (args.is("--version")) {
                std::cout << "hl7_sender (hl7 " HL7_VERSION_STRING ")\n";
                return exit_ok;
            } else if (args.is("--host"))
                cfg.host = args.value();
            else if (args.is("--port", "-p"))
                cfg.port = args.integer<std::uint16_t>(1, 65535);
            else if (args.is("--file", "-f"))
                cfg.files.push_back(args.value());
            else if (args.is("--loose")) {
                args.flag();
                cfg.loose = true;
            } else if (args.is("--raw")) {
                args.flag();
                cfg.raw = true;
            } else if (args.is("--window"))
                cfg.window = args.integer<std::size_t>(1, 65536);
            else if (args.is("--connections"))
                cfg.connections = args.integer<std::size_t>(1, 4096);
            else if (args.is("--repeat"))
                cfg.repeat = args.integer<std::uint64_t>(1, std::uint64_t{1} << 32);
            else if (args.is("--new-ids")) {
                args.flag();
                cfg.new_ids = true;
            } else if (args.is("--rate")) {
                std::string const name(a);
                std::string const v = args.value();
                try {
                    std::size_t used = 0;
                    cfg.rate = std::stod(v, &used);
                    if (used != v.size() || !(cfg.rate > 0))
                        throw std::invalid_argument(v);
                } catch (std::exception const&) {
                    throw hl7_example::usage_error(name + " wants messages per second above 0, not \"" + v + "\"");
                }
            } else if (args.is("--timeout"))
                cfg.timeout = args.seconds();
            else if (args.is("--connect-timeout"))
                cfg.connect_timeout = args.seconds();
            else if (args.is("--retries"))
                cfg.retries = args.integer<unsigned>(0, 1000);
            else if (args.is("--quiet", "-q")) {
                args.flag();
                cfg.quiet = true;
            } else if (args.is("--outcomes"))
                cfg.outcomes_file = args.value();
            else if (args.is("--tls")) {
                args.flag();
                cfg.tls = true;
            } else if (args.is("--tls-ca"))
                cfg.tls_ca = args.value();
            else if (args.is("--tls-cert"))
                cfg.tls_cert = args.value();
            else if (args.is("--tls-key"))
                cfg.tls_key = args.value();
            else if (args.is("--tls-server-name"))
                cfg.tls_server_name = args.value();
            else if (args.is("--tls-insecure")) {
                args.flag();
                cfg.tls_insecure = true;
            }
            else if (a == "-" || (!a.empty() && a.front() != '-'))
                cfg.files.emplace_back(a);
            else
                args.unknown();
        }
        if (!cfg.tls && (!cfg.tls_ca.empty() || !cfg.tls_cert.empty() || !cfg.tls_key.empty() ||
                         !cfg.tls_server_name.empty() || cfg.tls_insecure))
            throw hl7_example::usage_error("the --tls-... options need --tls");
        if (cfg.tls_cert.empty() != cfg.tls_key.empty())
            throw hl7_example::usage_error("--tls-cert and --tls-key go together");
        if (cfg.tls_insecure)
            std::cerr << "hl7_sender: WARNING: --tls-insecure: the receiver's certificate is NOT verified; "
                         "anyone on the path can read and change these messages\n";
        if (cfg.raw && cfg.files.empty())
            throw hl7_example::usage_error("--raw needs a FILE");
        if (std::count(cfg.files.begin(), cfg.files.end(), "-") > 1)
            throw hl7_example::usage_error("standard input (\"-\") can be read only once");
    } catch (hl7_example::usage_error const& e) {
        std::cerr << "hl7_sender: " << e.what() << "\n(hl7_sender --help lists the options)\n";
        return exit_usage;
    }

    std::vector<std::string> messages;
    try {
        if (cfg.raw)
            for (auto const& f : cfg.files)
                messages.push_back(hl7_example::read_all(f));
        else
            messages = load_messages(cfg);
    } catch (hl7_example::input_error const& e) {
        std::cerr << "hl7_sender: " << e.what() << '\n';
        return exit_usage;
    }

    try {
        asio::io_context ioc(1);
        if (cfg.raw) {
            int rc = exit_error;
            asio::co_spawn(ioc, run_raw(cfg, messages),
                           [&](std::exception_ptr e, int result) { rc = e ? report_raw(e, cfg) : result; });
            ioc.run();
            return rc;
        }
        run_state st(cfg, messages);
        std::vector<std::unique_ptr<hl7::client>> clients;
        std::exception_ptr failed;
        asio::co_spawn(ioc, run(cfg, st, clients), [&](std::exception_ptr e) { failed = e; });
        ioc.run();
        if (failed)
            std::rethrow_exception(failed);
        return finish(st);
    } catch (std::exception const& e) {
        std::cerr << "hl7_sender: " << e.what() << '\n';
        return exit_error;
    }
}
