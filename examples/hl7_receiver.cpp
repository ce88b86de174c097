// hl7_receiver: python-hl7's documented asyncio HL7 receiver, in C++.
//
//   hl7_receiver [--host 0.0.0.0] [--port 2575] [options]      (--help lists them)
//
// Accepts MLLP connections and answers every message with create_ack()
// (AA), in original acknowledgement mode. Unlike the document's receiver it
//   - answers a message whose header lacks what identifies it (MSH-9,
//     MSH-10, MSH-11, MSH-12; hl7::validate_header) with AR naming the
//     field, never AA (--lenient-header: only MSH-10 is required);
//   - answers a payload that does not parse with a NAK (AR/AE) naming the
//     parse error and its byte offset, and keeps the connection;
//   - answers a frame over the size limit with a NAK (AR) naming the limit;
//   - logs connections, one line of metadata per message (control id, type,
//     size; never contents unless --log-messages), refusals and errors with
//     their cause;
//   - stops cleanly on SIGINT/SIGTERM: stops accepting, closes connections,
//     waits for their handlers, exits 0;
//   - with --tls-cert/--tls-key, speaks MLLP over TLS (mutual TLS with
//     --tls-client-ca), logs each connection's TLS version and cipher, and
//     reloads the certificate files on SIGHUP (keeping the current ones if
//     the new files do not load).
//
// With --store sqlite:PATH or --store nats://HOST:PORT it acknowledges a
// message only after the store has it (hl7::store_then_ack): AA means
// "committed" (SQLite: fsynced; JetStream: a quorum of the cluster has it),
// a message with an incomplete header is answered AR and not stored, a
// message that asks for enhanced mode (MSH-15/MSH-16) gets CA once stored
// (CR when refused, CE when the store failed and --store-failure nak) and
// then, as MSH-16 asks, the application ACK AA: storing is this receiver's
// application (--ack-mode original: one AA as for any other message),
// a resend of a stored message (same MSH-3, MSH-4, MSH-10 within
// --dedup-window) is acknowledged without being stored again, and when the
// store fails the connection is closed without an answer (or, with
// --store-failure nak, answered AE) so the sender resends.
//
// Exit codes: 0 stopped by a signal, 1 unexpected error, 2 usage error,
// 3 cannot listen (address in use, permission, bad host), 4 cannot load the
// TLS certificate, key or CA files, or cannot open the store.

#include "hl7_example_cli.hpp"
#include "hl7_example_log.hpp"
#include "hl7_example_main.hpp"
#include "hl7_example_store.hpp"

#include <hl7/hl7.hpp>
#if HL7_EXAMPLES_TLS
#include <hl7/tls.hpp>
#endif
#include <hl7/store/store_then_ack.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <ctime>
#include <exception>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace {

using namespace std::chrono_literals;
using hl7_example::flush_log_periodically;
using hl7_example::log_safe;
using hl7_example::logger;

constexpr int exit_ok = 0;
constexpr int exit_error = 1;
constexpr int exit_usage = 2;
constexpr int exit_listen = 3;
constexpr int exit_tls = 4;   // the TLS files cannot be loaded
constexpr int exit_store = 4; // the store cannot be opened

// The document bounds each drain() with asyncio.wait_for(..., timeout=10).
// Here the server's write_timeout bounds every write instead (default 10 s
// in this program): the same guarantee without a timer per message, which
// costs a quarter of the receiver's CPU per round trip.
constexpr auto default_write_timeout = 10s;

struct config
{
    hl7::server_options server;
    bool log_messages = false;
    bool quiet = false;
    unsigned threads = 1;
    std::chrono::steady_clock::duration shutdown_timeout = 10s;
#if HL7_EXAMPLES_TLS
    std::optional<hl7::tls_server_options> tls;
#endif
    /// --store and --dedup-window; no location: acknowledge on parse, as before.
    hl7_example::store_config store{};
    hl7::store_failure_reply store_failure = hl7::store_failure_reply::close;
    /// --lenient-header: header_rules::lenient() (only MSH-10 required).
    hl7::header_rules header{};
    /// --ack-mode original (with --store): ignore MSH-15/MSH-16.
    bool enhanced_mode = true;
};

std::string
segments_on_lines(std::string text)
{
    std::replace(text.begin(), text.end(), '\r', '\n');
    while (!text.empty() && text.back() == '\n')
        text.pop_back();
    return text;
}

// Parse errors about the header mean the message cannot be identified or
// processed at all: reject it (AR). Errors further in are application errors (AE).
bool
is_reject(std::error_code const& ec)
{
    return ec == hl7::error::empty_message || ec == hl7::error::no_header || ec == hl7::error::truncated_header ||
           ec == hl7::error::invalid_delimiters || ec == hl7::error::message_too_large ||
           ec == hl7::error::too_many_segments || ec == hl7::error::too_many_fields;
}

std::string
describe(hl7::parse_error const& e)
{
    return "parse error: " + e.code().message() + " " + hl7::error_position(e.offset(), e.segment());
}

//--------------------------------------------------------------------------

struct receiver
{
    config const& cfg;
    logger& log;
    std::atomic<std::uint64_t> messages{0};
    std::atomic<std::uint64_t> naks{0};
    std::atomic<bool> shutting_down{false};
    // With --store: set before the server starts, closed after it stopped.
    std::shared_ptr<hl7::store::message_store> store{};
    std::atomic<std::uint64_t> duplicates{0};
    std::atomic<std::uint64_t> store_failures{0};

    // The document's process_hl7_messages, for one connection.
    asio::awaitable<void>
    serve(hl7::stream_reader reader, hl7::stream_writer writer)
    {
        std::string const peer = writer.peername().to_string();
        log.event("Connection established " + peer + tls_description(reader));
        std::uint64_t count = 0;
        std::string why = "peer closed the connection";
        try {
            while (!writer.is_closing()) {
                hl7::message ack;
                try {
                    hl7::message const hl7_message = co_await reader.readmessage();
                    ++count;
                    if (std::error_code const ec = hl7::validate_header(hl7_message, cfg.header))
                        ack = refuse(peer, hl7_message, reader.last_block().size(), ec);
                    else
                        ack = acknowledge(peer, hl7_message, reader.last_block().size());
                }
                catch (hl7::parse_error const& e) {
                    // The frame was consumed; last_block() still holds its
                    // bytes, from which the NAK takes what it can (MSH-10...).
                    ++count;
                    ack = reject(peer, reader.last_block(), e);
                }
                catch (hl7::mllp::frame_too_large_error const&) {
                    // The frame was discarded; the connection goes on.
                    std::string const cause = "frame is larger than the size limit of " +
                                              std::to_string(cfg.server.connection.max_frame_size) + " bytes";
                    log.event("Refused a frame from " + peer + ": " + cause + "; sent NAK AR");
                    ++naks;
                    ++count;
                    ack = hl7::make_nak({}, "AR", cause);
                }
                catch (hl7::mllp::invalid_block_error const& e) {
                    // Only with --strict-framing: bytes outside a frame.
                    log.event("Skipped bytes from " + peer + " that are not a frame: " + e.code().message());
                    continue;
                }
                // Now let's send the ACK and wait for the writer to drain
                // (bounded by write_timeout: a client that never reads
                // cannot hold us).
                writer.writemessage(ack);
                co_await writer.drain();
            }
        }
        catch (hl7::mllp::incomplete_read_error const& e) {
            if (e.code() == hl7::mllp::error::connection_closed && shutting_down)
                why = "closed by the receiver's shutdown";
            else if (e.code() != hl7::mllp::error::end_of_stream)
                why = e.code().message();
            if (!e.partial().empty())
                why += " (" + std::to_string(e.partial().size()) + " bytes of an unfinished frame lost)";
        }
        catch (hl7::mllp::timeout_error const& e) {
            why = "timeout: " + e.code().message();
        }
        catch (std::system_error const& e) {
            why = "error: " + std::string(e.what());
        }
        if (!writer.is_closing())
            writer.close();
        co_await writer.wait_closed();
        log.event("Connection closed " + peer + " (" + why + "; " + std::to_string(count) + " frames answered)");
    }

    // ", TLSv1.3 TLS_AES_256_GCM_SHA384, client CN=..." on a TLS connection.
    static std::string
    tls_description([[maybe_unused]] hl7::stream_reader const& reader)
    {
#if HL7_EXAMPLES_TLS
        if (auto info = hl7::tls::get_session_info(reader)) {
            std::string out = " (" + info->version + ", " + info->cipher;
            if (info->peer_certificate)
                out += ", client certificate " + log_safe(info->peer_certificate->subject, 256) + " SHA-256 " +
                       info->peer_certificate->sha256_fingerprint;
            return out + ")";
        }
#endif
        return {};
    }

    // With --store: store_then_ack answers every frame (AA only after the
    // commit); this adds the connection's log lines around it.
    asio::awaitable<void>
    serve_stored(hl7::stream_reader reader, hl7::stream_writer writer)
    {
        std::string const peer = writer.peername().to_string();
        log.event("Connection established " + peer + tls_description(reader));
        std::uint64_t count = 0;
        std::string why = "peer closed the connection or a timeout ended it";
        hl7::store_then_ack_options options;
        options.on_store_failure = cfg.store_failure;
        options.validation = cfg.header;
        options.enhanced_mode = cfg.enhanced_mode;
        // Called only while store_then_ack runs, which this frame outlives.
        options.on_event = [this, &count, &why](hl7::store_event const& ev) {
            ++count;
            stored_event(ev, why);
        };
        try {
            co_await hl7::store_then_ack(store, std::move(reader), std::move(writer), std::move(options));
        }
        catch (std::system_error const& e) {
            why = "error: " + std::string(e.what());
        }
        if (shutting_down && why.rfind("peer closed", 0) == 0)
            why = "closed by the receiver's shutdown";
        log.event("Connection closed " + peer + " (" + why + "; " + std::to_string(count) + " frames answered)");
    }

    // The log line of one frame handled by store_then_ack.
    void
    stored_event(hl7::store_event const& ev, std::string& why)
    {
        using kind = hl7::store_event::kind;
        std::string const id = ev.meta.control_id.empty() ? std::string("(none)") : log_safe(ev.meta.control_id);
        std::string const sent =
            ev.ack_codes.empty() ? std::string("sent nothing (not asked for)") : "sent " + ev.ack_codes;
        switch (ev.what) {
        case kind::stored:
        case kind::duplicate:
            ++messages;
            if (ev.what == kind::duplicate)
                ++duplicates;
            if (!cfg.quiet)
                log.message("Received message from " + ev.peer + ": control id " + id + ", type " +
                            log_safe(ev.meta.message_type) + ", " + std::to_string(ev.size) + " bytes; " +
                            (ev.what == kind::stored ? "stored as " + std::to_string(ev.id)
                                                     : "duplicate of " + std::to_string(ev.id) + ", not stored again") +
                            "; " + sent);
            break;
        case kind::store_failed: {
            ++store_failures;
            bool const close = cfg.store_failure == hl7::store_failure_reply::close;
            if (!close)
                ++naks;
            else
                why = "closed without an ACK: the store failed";
            log.event("Could not store message from " + ev.peer + " (control id " + id + ", " +
                      std::to_string(ev.size) + " bytes): " + ev.text +
                      (close ? "; closed the connection without an ACK, the sender will resend"
                             : "; " + (ev.ack_codes.empty() ? sent : "sent NAK " + ev.ack_codes)));
            break;
        }
        case kind::refused:
            ++naks;
            log.event("Refused a message from " + ev.peer + " (control id " + id + ", " + std::to_string(ev.size) +
                      " bytes): " + ev.text + "; not stored; " +
                      (ev.ack_codes.empty() ? sent : "sent NAK " + ev.ack_codes));
            break;
        case kind::rejected:
            ++naks;
            log.event("Rejected a message from " + ev.peer + " (" + std::to_string(ev.size) + " bytes): " + ev.text +
                      "; sent NAK " + (is_reject(ev.ec) ? "AR" : "AE"));
            break;
        case kind::too_large:
            ++naks;
            log.event("Refused a frame from " + ev.peer + ": frame is larger than the size limit of " +
                      std::to_string(cfg.server.connection.max_frame_size) + " bytes; sent NAK AR");
            break;
        }
    }

    // create_ack() for a message, and its line in the log (metadata only,
    // unless --log-messages).
    hl7::message
    acknowledge(std::string const& peer, hl7::message const& msg, std::size_t size)
    {
        hl7::message ack = msg.create_ack();
        ++messages;
        if (!cfg.quiet) {
            std::error_code ec;
            std::string const id = msg.get("MSH.10", ec);
            std::string line = "Received message from " + peer + ": control id " +
                               (id.empty() ? std::string("(none)") : log_safe(id)) + ", type " +
                               log_safe(msg.segment("MSH").field(9).raw()) + ", " + std::to_string(msg.size()) +
                               " segments, " + std::to_string(size) + " bytes; sent AA";
            if (cfg.log_messages)
                line += "\n " + segments_on_lines(hl7::to_string(msg));
            log.message(line);
        }
        return ack;
    }

    // AR for a message whose header fails validate_header, naming the field
    // (table 0357 code 101): nobody could correlate an AA for it.
    hl7::message
    refuse(std::string const& peer, hl7::message const& msg, std::size_t size, std::error_code ec)
    {
        hl7::message nak = hl7::make_header_nak(msg, ec);
        ++naks;
        std::string const id = std::string(msg.control_id());
        std::string line = "Refused a message from " + peer + " (control id " +
                           (id.empty() ? std::string("(none)") : log_safe(id)) + ", " + std::to_string(size) +
                           " bytes): " + ec.message() + "; sent NAK AR";
        if (cfg.log_messages)
            line += "\n " + segments_on_lines(hl7::to_string(msg));
        log.event(line);
        return nak;
    }

    // A NAK for a payload that does not parse, naming the error and where.
    hl7::message
    reject(std::string const& peer, std::string_view payload, hl7::parse_error const& e)
    {
        std::string const code = is_reject(e.code()) ? "AR" : "AE";
        std::string const cause = describe(e);
        hl7::message nak = hl7::make_nak(payload, code, cause);
        ++naks;
        std::error_code ec;
        std::string const id = nak.get("MSA.2", ec);
        std::string line = "Rejected a message from " + peer + " (control id " +
                           (id.empty() ? std::string("unknown") : log_safe(id)) + ", " +
                           std::to_string(payload.size()) + " bytes): " + cause + "; sent NAK " + code;
        if (cfg.log_messages)
            line += "\n payload: " + log_safe(payload, 4096);
        log.event(line);
        return nak;
    }
};

// What the server itself reports: refused connections, connections closed
// by a limit, accept errors, handlers that failed.
void
log_server_event(logger& log, config const& cfg, hl7::server_event const& ev)
{
    std::string const peer = ev.peer.empty() ? std::string("(no peer)") : ev.peer.to_string();
    if (ev.ec == hl7::mllp::error::connection_limit) {
        log.event("Refused connection from " + peer + ": " + ev.ec.message() + " (max " +
                  std::to_string(cfg.server.max_connections) + ")");
    }
    else if (ev.ec.category() == hl7::mllp::error_category()) {
        log.event("Closing connection " + peer + ": " + ev.ec.message());
    }
#if HL7_EXAMPLES_TLS
    else if (ev.ec.category() == hl7::tls::error_category()) {
        std::string what = ev.ec.message();
        try {
            if (ev.exception)
                std::rethrow_exception(ev.exception);
        }
        catch (std::exception const& x) {
            what = x.what();
        }
        log.event("Refused connection from " + peer + ": " + what);
    }
#endif
    else if (ev.exception) {
        std::string what = ev.ec ? ev.ec.message() : std::string("unknown error");
        try {
            std::rethrow_exception(ev.exception);
        }
        catch (std::exception const& x) {
            what = x.what();
        }
        catch (...) {
        }
        log.event("Connection " + peer + " failed: " + what);
    }
    else {
        log.event("Accept failed: " + ev.ec.message());
    }
}

std::string
tls_settings([[maybe_unused]] config const& cfg)
{
#if HL7_EXAMPLES_TLS
    if (cfg.tls) {
        auto const mode = cfg.tls->client_certificates;
        return std::string(", TLS with certificate ") + cfg.tls->certificate_chain_file.str() +
               (mode == hl7::tls::client_certificates::required   ? ", client certificates required"
                : mode == hl7::tls::client_certificates::optional ? ", client certificates optional"
                                                                  : "") +
               ", handshake timeout " + hl7_example::describe_duration(cfg.tls->handshake_timeout);
    }
#endif
    return {};
}

asio::awaitable<int>
run(config const& cfg, logger& log, receiver& r)
{
    auto const ex = co_await asio::this_coro::executor;
    std::atomic<bool> stop{false};

    // SIGINT/SIGTERM: stop accepting and close the connections (close()
    // ends their pending reads); serve_forever() then returns. Installed
    // before anything else, so that a signal sent while the store opens or
    // as soon as "Listening" is printed stops the receiver cleanly. The
    // handler may run on another thread (--threads): it and this coroutine
    // each look at the other's flag after setting their own.
    std::optional<hl7::server> plain_server;
#if HL7_EXAMPLES_TLS
    std::optional<hl7::tls_server> tls_server;
#endif
    hl7::server* server = nullptr; // whichever of the two runs
    std::atomic<bool> server_ready{false};
    std::atomic<bool> stop_requested{false};
    asio::signal_set signals(ex, SIGINT, SIGTERM);
    auto const signal_name = [](int sig) { return sig == SIGINT ? std::string("SIGINT") : std::string("SIGTERM"); };
    signals.async_wait([&](std::error_code ec, int sig) {
        if (ec)
            return;
        r.shutting_down = true;
        log.event("Received " + signal_name(sig) + ", shutting down");
        stop_requested = true;
        if (server_ready)
            server->close();
    });

#if HL7_EXAMPLES_TLS
    // SIGHUP: load the certificate files again; new connections use them.
    asio::signal_set hangup(ex, SIGHUP);
    std::function<void(std::error_code, int)> on_hangup = [&](std::error_code ec, int) {
        if (ec || !tls_server)
            return;
        try {
            tls_server->reload(*cfg.tls);
            log.event("Received SIGHUP, reloaded the TLS certificate " + cfg.tls->certificate_chain_file.str() +
                      ": new connections use it");
        }
        catch (std::exception const& e) {
            log.event(std::string("Received SIGHUP, reload failed, keeping the current certificate: ") + e.what());
        }
        hangup.async_wait(on_hangup);
    };
    if (cfg.tls)
        hangup.async_wait(on_hangup);
#endif

    if (!cfg.store.location.empty()) {
        try {
            r.store = co_await hl7_example::open_store(cfg.store);
        }
        catch (hl7::store::store_error const& e) {
            std::cerr << "hl7_receiver: cannot open the store " << cfg.store.location << ": " << e.what()
                      << std::endl;
            co_return exit_store;
        }
    }

    hl7::server_options options = cfg.server;
    options.on_error = [&log, &cfg](hl7::server_event const& ev) { log_server_event(log, cfg, ev); };

    auto handler = [&r](hl7::stream_reader reader, hl7::stream_writer writer) {
        return r.store ? r.serve_stored(std::move(reader), std::move(writer))
                       : r.serve(std::move(reader), std::move(writer));
    };
    std::error_code listen_failed;
    std::string tls_failed;
    try {
#if HL7_EXAMPLES_TLS
        if (cfg.tls) {
            tls_server.emplace(co_await hl7::start_hl7_tls_server(handler, std::move(options), *cfg.tls));
            server = &*tls_server;
        }
#endif
        if (!server) {
            plain_server.emplace(co_await hl7::start_hl7_server(handler, std::move(options)));
            server = &*plain_server;
        }
    }
#if HL7_EXAMPLES_TLS
    catch (hl7::tls::tls_error const& e) {
        tls_failed = e.what();
    }
#endif
    catch (std::system_error const& e) {
        listen_failed = e.code();
    }
    if (!tls_failed.empty()) {
        std::cerr << "hl7_receiver: " << tls_failed << std::endl;
        if (r.store)
            co_await r.store->close();
        co_return exit_tls;
    }
    if (listen_failed) {
        std::cerr << "hl7_receiver: cannot listen on " << cfg.server.host << ":" << cfg.server.port << ": "
                  << listen_failed.message() << std::endl;
        if (r.store)
            co_await r.store->close();
        co_return exit_listen;
    }
    server_ready = true;
    if (stop_requested)
        server->close();

    auto const& o = cfg.server;
    std::string stored;
    if (r.store) {
        stored = ", acknowledging after commit to " + r.store->description();
        if (cfg.store.dedup_window)
            stored += ", duplicate window " + hl7_example::describe_duration(*cfg.store.dedup_window);
        stored += cfg.store_failure == hl7::store_failure_reply::close ? ", on store failure: close"
                                                                       : ", on store failure: NAK AE";
    }
    log.event("Listening on " + server->local_endpoint().to_string() + " (max frame " +
              std::to_string(o.connection.max_frame_size) + " bytes, max " + std::to_string(o.max_connections) +
              " connections, idle timeout " + hl7_example::describe_duration(o.idle_timeout) + ", frame timeout " +
              hl7_example::describe_duration(o.frame_timeout) + (cfg.log_messages ? ", logging message contents" : "") +
              stored + tls_settings(cfg) + ")");

    asio::co_spawn(ex, flush_log_periodically(log, stop), asio::detached);

    int rc = exit_ok;
    try {
        co_await server->serve_forever();
    }
    catch (std::system_error const& e) {
        log.event(std::string("Server failed: ") + e.what());
        rc = exit_error;
        server->close();
    }

    // Wait for the handlers. A second signal means: do not wait.
    signals.async_wait([&](std::error_code ec, int sig) {
        if (ec)
            return;
        log.event("Received " + signal_name(sig) + " again, exiting without waiting for connections");
        std::_Exit(exit_error);
    });
    try {
        co_await hl7::wait_for(server->wait_closed(), cfg.shutdown_timeout);
    }
    catch (hl7::mllp::timeout_error const&) {
        log.event(std::to_string(server->connection_count()) + " connections still open after " +
                  hl7_example::describe_duration(cfg.shutdown_timeout) + "; exiting anyway");
        rc = exit_error;
    }
    std::string store_counts;
    if (r.store) {
        // Puts already handed to the store are committed (and answered) first.
        std::string failed;
        try {
            co_await r.store->close();
        }
        catch (hl7::store::store_error const& e) {
            failed = e.what();
        }
        if (!failed.empty()) {
            log.event("Closing the store failed: " + failed);
            rc = exit_error;
        }
        store_counts = ", " + std::to_string(r.duplicates.load()) + " of them duplicates, " +
                       std::to_string(r.store_failures.load()) + " not stored";
    }
    signals.cancel();
#if HL7_EXAMPLES_TLS
    hangup.cancel();
#endif
    stop = true;
    log.event("Stopped (" + std::to_string(r.messages.load()) + " messages acknowledged" + store_counts + ", " +
              std::to_string(r.naks.load()) + " NAKs)");
    co_return rc;
}

void
usage(std::ostream& os)
{
    hl7::server_options const d;
    os << "usage: hl7_receiver [options]\n"
          "\n"
          "Receives HL7 v2 messages over MLLP and acknowledges each with an ACK (AA),\n"
          "or a NAK (AE/AR) naming the cause when a message cannot be parsed or is too\n"
          "large. Logs connections and one line per message (control id, type, size);\n"
          "message contents are logged only with --log-messages. SIGINT/SIGTERM stop it.\n"
          "\n"
          "options:\n"
          "  --host HOST                address to listen on (default "
       << d.host
       << ")\n"
          "  --port PORT                TCP port, 0 for any free port (default 2575)\n"
          "  --max-frame-size BYTES     largest message accepted, e.g. 65536, 64K, 16M (default "
       << d.connection.max_frame_size
       << ")\n"
          "  --max-connections N        connections served at once; more are refused (default "
       << d.max_connections
       << ")\n"
          "  --idle-timeout SECONDS     close a connection that sends nothing this long, 0 = never (default "
       << hl7_example::describe_duration(d.idle_timeout)
       << ")\n"
          "  --frame-timeout SECONDS    close a connection whose frame does not end in time, 0 = never (default "
       << hl7_example::describe_duration(d.frame_timeout)
       << ")\n"
          "  --handler-timeout SECONDS  close a connection whose message is not answered in time (default "
       << hl7_example::describe_duration(d.handler_timeout)
       << ")\n"
          "  --write-timeout SECONDS    close a connection that does not read its ACKs (default "
       << hl7_example::describe_duration(default_write_timeout)
       << ")\n"
          "  --strict-framing           treat bytes outside frames as errors (python-hl7's behaviour);\n"
          "                             by default they are skipped\n"
          "  --threads N                threads serving connections (default 1)\n"
#if HL7_EXAMPLES_TLS
          "  --tls-cert FILE            serve MLLP over TLS with this PEM certificate chain\n"
          "                             (leaf first, then intermediates; sent whole)\n"
          "  --tls-key FILE             the certificate's PEM private key (with --tls-cert)\n"
          "  --tls-client-ca FILE       ask clients for certificates issued by these CAs\n"
          "  --tls-require-client-cert  refuse clients without one (mutual TLS; needs --tls-client-ca)\n"
          "  --tls-handshake-timeout SECONDS  close connections whose handshake takes longer (default 10)\n"
          "                             SIGHUP reloads the certificate, key and CA files\n"
#endif
          "  --log-messages             also log message contents (may contain patient data!);\n"
          "                             not with --store (hl7_store list --contents shows them)\n"
          "  -q, --quiet                no line per message (connections and errors are still logged)\n"
          "  --lenient-header           require only MSH-10 of a header (for feeds that leave MSH-9,\n"
          "                             MSH-11 or MSH-12 empty); by default a message without any of\n"
          "                             them is answered AR naming the field (and, with --store, not stored)\n"
          "\n"
          "acknowledgement mode: without --store every message gets one original-mode answer (AA,\n"
          "or AR/AE), whatever MSH-15/MSH-16 say.\n"
          "\n"
          "durable mode (acknowledge only what is stored):\n"
          "  --store STORE              put every message in STORE and answer AA only once it is\n"
          "                             committed; STORE is "
       << hl7_example::store_kinds()
       << "\n"
          "  --dedup-window DURATION    a message whose MSH-3, MSH-4 and MSH-10 were stored this\n"
          "                             recently is acknowledged but not stored again, e.g. 10m, 24h,\n"
          "                             0 = off (default: the store's, 24h for SQLite, 10m for NATS)\n"
          "  --store-max-size BYTES     refuse messages once the store is this large, e.g. 512M\n"
          "                             (default: no limit but the disk; NATS: a new stream's limit)\n"
          "  --store-failure close|nak  when the store fails: close the connection without an\n"
          "                             answer so the sender resends (default), or answer AE (CE)\n"
          "  --ack-mode enhanced|original  enhanced (default): a message with MSH-15 or MSH-16 gets\n"
          "                             CA once stored (CR: header refused, CE: not stored) as MSH-15\n"
          "                             asks, then AA as MSH-16 asks (storing is the application);\n"
          "                             original: one AA/AR/AE for every message\n"
          "  -h, --help                 this text\n"
          "\n"
          "exit codes: 0 stopped by SIGINT/SIGTERM, 1 error, 2 usage error, 3 cannot listen,\n"
          "            4 cannot load the TLS files or open the store\n";
}

config
parse_command_line(int argc, char** argv, bool& help)
{
    config cfg;
    bool store_failure_given = false;
    bool ack_mode_given = false;
    cfg.server.write_timeout = default_write_timeout;
    cfg.server.port = 2575;
    hl7_example::arguments args(argc, argv);
#if HL7_EXAMPLES_TLS
    hl7::tls_server_options tls;
    bool tls_used = false, require_client_cert = false;
#endif
    while (args.next()) {
        if (args.is("--help", "-h")) {
            help = true;
        }
        else if (args.is("--host")) {
            cfg.server.host = args.value();
        }
        else if (args.is("--port")) {
            cfg.server.port = args.integer<std::uint16_t>(0, 65535);
        }
        else if (args.is("--max-frame-size")) {
            cfg.server.connection.max_frame_size = args.size();
        }
        else if (args.is("--max-connections")) {
            cfg.server.max_connections = args.integer<std::size_t>(1);
        }
        else if (args.is("--idle-timeout")) {
            cfg.server.idle_timeout = args.seconds();
        }
        else if (args.is("--frame-timeout")) {
            cfg.server.frame_timeout = args.seconds();
        }
        else if (args.is("--handler-timeout")) {
            cfg.server.handler_timeout = args.seconds();
        }
        else if (args.is("--write-timeout")) {
            cfg.server.write_timeout = args.seconds();
        }
        else if (args.is("--strict-framing")) {
            args.flag();
            cfg.server.connection.framing = hl7::mllp::framing::strict;
        }
        else if (args.is("--threads")) {
            cfg.threads = args.integer<unsigned>(1, 256);
        }
        else if (args.is("--log-messages")) {
            args.flag();
            cfg.log_messages = true;
        }
        else if (args.is("--quiet", "-q")) {
            args.flag();
            cfg.quiet = true;
        }
#if HL7_EXAMPLES_TLS
        else if (args.is("--tls-cert")) {
            tls.certificate_chain_file = args.value();
            tls_used = true;
        }
        else if (args.is("--tls-key")) {
            tls.private_key_file = args.value();
            tls_used = true;
        }
        else if (args.is("--tls-client-ca")) {
            tls.client_ca_file = args.value();
            tls_used = true;
        }
        else if (args.is("--tls-require-client-cert")) {
            args.flag();
            require_client_cert = tls_used = true;
        }
        else if (args.is("--tls-handshake-timeout")) {
            tls.handshake_timeout = args.seconds();
            tls_used = true;
        }
#endif
        else if (args.is("--store")) {
            cfg.store.location = args.value();
            hl7_example::check_store_location(cfg.store.location);
        }
        else if (args.is("--dedup-window")) {
            cfg.store.dedup_window = args.duration();
        }
        else if (args.is("--store-max-size")) {
            cfg.store.max_bytes = args.size();
        }
        else if (args.is("--store-failure")) {
            std::string const v = args.value();
            if (v == "close")
                cfg.store_failure = hl7::store_failure_reply::close;
            else if (v == "nak")
                cfg.store_failure = hl7::store_failure_reply::nak;
            else
                throw hl7_example::usage_error("--store-failure wants close or nak, not \"" + v + "\"");
            store_failure_given = true;
        }
        else if (args.is("--ack-mode")) {
            std::string const v = args.value();
            if (v == "enhanced")
                cfg.enhanced_mode = true;
            else if (v == "original")
                cfg.enhanced_mode = false;
            else
                throw hl7_example::usage_error("--ack-mode wants enhanced or original, not \"" + v + "\"");
            ack_mode_given = true;
        }
        else if (args.is("--lenient-header")) {
            args.flag();
            cfg.header = hl7::header_rules::lenient();
        }
        else {
            args.unknown();
        }
    }
#if HL7_EXAMPLES_TLS
    if (tls_used) {
        if (tls.certificate_chain_file.empty() || tls.private_key_file.empty())
            throw hl7_example::usage_error("TLS needs both --tls-cert and --tls-key");
        if (require_client_cert && tls.client_ca_file.empty())
            throw hl7_example::usage_error("--tls-require-client-cert needs --tls-client-ca");
        tls.client_certificates = require_client_cert       ? hl7::tls::client_certificates::required
                                  : tls.client_ca_file.empty() ? hl7::tls::client_certificates::off
                                                               : hl7::tls::client_certificates::optional;
        cfg.tls = tls;
    }
#endif
    if (cfg.store.location.empty() &&
        (cfg.store.dedup_window || store_failure_given || cfg.store.max_bytes || ack_mode_given))
        throw hl7_example::usage_error("--dedup-window, --store-max-size, --store-failure and --ack-mode need --store");
    if (!cfg.store.location.empty() && cfg.log_messages)
        throw hl7_example::usage_error("--log-messages does not work with --store (hl7_store list --contents shows "
                                       "stored messages)");
    return cfg;
}

} // namespace

int
main(int argc, char** argv)
{
    config cfg;
    try {
        bool help = false;
        cfg = parse_command_line(argc, argv, help);
        if (help) {
            usage(std::cout);
            return exit_ok;
        }
    }
    catch (hl7_example::usage_error const& e) {
        std::cerr << "hl7_receiver: " << e.what() << "\n(hl7_receiver --help lists the options)\n";
        return exit_usage;
    }

    logger log;
    // Declared before the io_context: handlers refer to it until their
    // coroutines are destroyed with the io_context.
    receiver r{cfg, log};
    int const rc = hl7_example::run_program("hl7_receiver", run(cfg, log, r), cfg.threads);
    log.flush();
    return rc;
}
