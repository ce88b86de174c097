// hl7_forwarder: delivers the messages a receiver stored (hl7_receiver
// --store) to another MLLP receiver, and settles each one in the store only
// once its fate is known.
//
//   hl7_forwarder --store STORE --to HOST:PORT [options]      (--help lists them)
//
// Takes stored messages in order (the store keeps each sender's order: a
// sender's next message is handed out only when the previous one is
// settled), sends each with hl7::client and then
//   - AA/CA: marks it delivered;
//   - AR/CR: makes it a dead letter at once (the receiver will never take it),
//     as is a message the client cannot confirm (no MSH-10, or MSH-15/MSH-16
//     asking for no acknowledgement of success);
//   - in enhanced mode with MSH-16 AL, the client waits past the CA for the
//     application ACK, and that answer decides;
//   - AE/CE, or no ACK (timeout, connection lost): retries it later with
//     exponential back-off, and makes it a dead letter after --max-attempts
//     failed attempts;
//   - a downstream that cannot be reached is not an attempt: the client
//     keeps reconnecting with back-off and the messages wait.
// A message is marked delivered only after its AA, so a crash in between
// delivers it again when the forwarder restarts (at least once; the
// receiver recognises the resend by its MSH-10). SIGINT/SIGTERM stop it:
// no new messages are taken, those in flight get up to --drain to finish,
// the rest are put back in the queue; then it prints its counts.
//
// Exit codes: 0 stopped (by a signal, or --exit-when-idle found nothing
// left), 1 unexpected error, 2 usage error, 4 cannot open the store.

#include "hl7_example_cli.hpp"
#include "hl7_example_log.hpp"
#include "hl7_example_main.hpp"
#include "hl7_example_store.hpp"

#include <hl7/hl7.hpp>
#include <hl7/net/client.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/redirect_error.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <exception>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace {

using namespace std::chrono_literals;
using hl7_example::log_safe;
using hl7_example::logger;

constexpr int exit_ok = 0;
constexpr int exit_error = 1;
constexpr int exit_usage = 2;
constexpr int exit_store = 4;

// How often the taker looks at the stop flag while the store has nothing.
constexpr auto take_poll = 250ms;

struct config
{
    hl7_example::store_config store{};
    std::string host{};
    std::uint16_t port = 0;
    std::size_t window = 1;
    std::uint32_t max_attempts = 10;
    std::chrono::milliseconds retry_delay = 1s;
    std::chrono::milliseconds max_retry_delay = 5min;
    std::chrono::steady_clock::duration timeout = 30s;
    std::chrono::steady_clock::duration connect_timeout = 10s;
    std::chrono::steady_clock::duration drain = 10s;
    bool exit_when_idle = false;
    bool quiet = false;
    /// --drop-sender: (MSH-3, MSH-4) pairs whose messages are settled without sending.
    std::vector<std::pair<std::string, std::string>> drop_senders{};
};

std::string
target(config const& cfg)
{
    bool const v6 = cfg.host.find(':') != std::string::npos;
    return (v6 ? "[" + cfg.host + "]" : cfg.host) + ":" + std::to_string(cfg.port);
}

// The wait before retry `attempt` (1 = the first retry): doubling from
// --retry-delay up to --max-retry-delay.
std::chrono::milliseconds
backoff(config const& cfg, std::uint32_t attempt)
{
    auto d = cfg.retry_delay;
    for (std::uint32_t i = 1; i < attempt && d < cfg.max_retry_delay; ++i)
        d *= 2;
    return std::min(d, cfg.max_retry_delay);
}

struct forwarder
{
    config const& cfg;
    logger& log;
    std::shared_ptr<hl7::store::message_store> store{};
    std::unique_ptr<hl7::client> client{};

    // One io thread: these are touched only by coroutines on it.
    std::size_t in_flight = 0;
    bool stopping = false;
    std::optional<asio::steady_timer> changed{}; // cancelled when in_flight drops or on stop
    std::uint64_t delivered = 0, retried = 0, dead = 0, put_back = 0, settle_failures = 0, dropped = 0;

    void
    wake()
    {
        if (changed)
            changed->cancel();
    }

    asio::awaitable<void>
    wait_for_change()
    {
        changed->expires_at(std::chrono::steady_clock::time_point::max());
        std::error_code ec;
        co_await changed->async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }

    // Takes messages while there is room in the window; each goes to its own
    // delivery coroutine.
    asio::awaitable<void>
    take()
    {
        auto const ex = co_await asio::this_coro::executor;
        while (!stopping) {
            if (in_flight >= cfg.window) {
                co_await wait_for_change();
                continue;
            }
            std::optional<hl7::store::stored_message> m;
            std::string failed;
            try {
                m = co_await store->next(take_poll);
            }
            catch (hl7::store::store_error const& e) {
                failed = e.what();
            }
            if (!failed.empty()) {
                if (stopping)
                    break;
                log.event("Taking from the store failed: " + failed + "; trying again in 1 s");
                asio::steady_timer pause(ex, 1s);
                std::error_code ec;
                co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
                continue;
            }
            if (!m) {
                if (cfg.exit_when_idle && in_flight == 0) {
                    std::optional<hl7::store::store_stats> s;
                    try {
                        s = co_await store->stats();
                    }
                    catch (hl7::store::store_error const&) {
                        // Asked again after the next empty take.
                    }
                    if (s && s->queued == 0) {
                        log.event("Nothing left to deliver (" + std::to_string(s->dead) + " dead letters); exiting");
                        stopping = true;
                    }
                }
                continue;
            }
            ++in_flight;
            asio::co_spawn(ex, deliver(std::move(*m)), [this](std::exception_ptr e) {
                if (e) {
                    try {
                        std::rethrow_exception(e);
                    }
                    catch (std::exception const& x) {
                        log.event(std::string("Delivery failed unexpectedly: ") + x.what());
                    }
                }
                --in_flight;
                wake();
            });
        }
    }

    asio::awaitable<void>
    deliver(hl7::store::stored_message m)
    {
        std::string const who = "id " + std::to_string(m.id) + " (control id " +
                                (m.meta.control_id.empty() ? std::string("(none)") : log_safe(m.meta.control_id)) +
                                ")";
        for (auto const& [app, facility] : cfg.drop_senders)
            if (m.meta.sending_application == app && m.meta.sending_facility == facility) {
                // Not for downstream (e.g. the load balancer's health-check probes).
                if (co_await settle(m.id, who, settle_as::delivered, 0ms, {}))
                    ++dropped;
                co_return;
            }
        hl7::send_outcome const o = co_await client->send_block(std::move(m.payload));
        using hl7::send_fate;

        if (o.accepted()) {
            if (co_await settle(m.id, who, settle_as::delivered, 0ms, {})) {
                ++delivered;
                if (!cfg.quiet)
                    log.message("Delivered " + who + " to " + target(cfg) + ": " + o.ack_code +
                                (o.attempts > 1 ? " after " + std::to_string(o.attempts) + " sends" : ""));
            }
            co_return;
        }

        std::string reason;
        bool rejected = false;
        if (o.fate == send_fate::acknowledged) {
            std::error_code ec;
            std::string const text(hl7::locate(o.ack, "MSA.3", ec));
            reason = target(cfg) + " answered " + o.ack_code + (text.empty() ? "" : ": " + log_safe(text, 200));
            rejected = o.ack_code == "AR" || o.ack_code == "CR";
        }
        else if (o.fate == send_fate::not_sent && stopping) {
            // Never written: not an attempt the receiver saw, but the store
            // counts every retry_later; it goes again at once after a restart.
            if (co_await settle(m.id, who, settle_as::retry, 0ms, "forwarder stopped before sending it"))
                ++put_back;
            co_return;
        }
        else {
            reason = std::string(o.fate == send_fate::unknown ? "no ACK from " : "not sent to ") + target(cfg) + ": " +
                     o.reason.message();
            // Refused by the client for what the message is (the
            // invalid_argument condition: no MSH-10, or MSH-15/MSH-16 asking
            // for no acknowledgement of success): no later attempt can deliver it.
            rejected = o.fate == send_fate::not_sent && o.reason == std::errc::invalid_argument;
        }

        std::uint32_t const attempts = m.attempts + 1;
        if (rejected || attempts >= cfg.max_attempts) {
            std::string const why =
                rejected ? reason : reason + " (" + std::to_string(attempts) + " failed attempts)";
            if (co_await settle(m.id, who, settle_as::dead, 0ms, why)) {
                ++dead;
                log.event("Gave up on " + who + ": " + why + "; it is a dead letter now (hl7_store list, requeue)");
            }
            co_return;
        }
        auto const delay = stopping ? 0ms : backoff(cfg, attempts);
        if (co_await settle(m.id, who, settle_as::retry, delay, reason)) {
            ++retried;
            log.event("Not delivered " + who + ": " + reason + "; attempt " + std::to_string(attempts) + " of " +
                      std::to_string(cfg.max_attempts) + ", retrying in " + hl7_example::describe_duration(delay));
        }
    }

    enum class settle_as { delivered, retry, dead };

    // Records the verdict, retrying while the store fails (a message left
    // unsettled would hold its sender back until the store is reopened).
    // False if the store would not take it before the forwarder stopped.
    asio::awaitable<bool>
    settle(std::uint64_t id, std::string const& who, settle_as how, std::chrono::milliseconds delay,
           std::string reason)
    {
        auto const ex = co_await asio::this_coro::executor;
        for (int tries = 1;; ++tries) {
            std::string failed;
            bool gone = false;
            try {
                switch (how) {
                case settle_as::delivered: co_await store->delivered(id); break;
                case settle_as::retry: co_await store->retry_later(id, delay, reason); break;
                case settle_as::dead: co_await store->dead(id, reason); break;
                }
                co_return true;
            }
            catch (hl7::store::store_error const& e) {
                failed = e.what();
                gone = e.code() == hl7::store::error::closed || e.code() == hl7::store::error::unknown_message;
            }
            ++settle_failures;
            log.event("Could not record the fate of " + who + " in the store: " + failed +
                      (gone || (stopping && tries >= 3) ? "; it will be delivered again after a restart"
                                                        : "; trying again in 1 s"));
            if (gone || (stopping && tries >= 3))
                co_return false;
            asio::steady_timer pause(ex, 1s);
            std::error_code ec;
            co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        }
    }
};

hl7::client_options
make_client_options(config const& cfg, logger& log)
{
    hl7::client_options o;
    o.window = cfg.window;
    o.queue_limit = std::max<std::size_t>(cfg.window, 1);
    o.ack_timeout = cfg.timeout;
    o.connect_timeout = cfg.connect_timeout;
    // A connection lost with messages in flight: send them again at once on
    // the next connection (same MSH-10) before calling it a failed attempt.
    o.max_retries = 1;
    o.retry_on_error = false; // AE is retried by the forwarder, with back-off
    // An unreachable downstream is waited for, not counted against messages.
    o.max_connect_failures = 0;
    o.backoff.initial = 200ms;
    o.backoff.max = 10s;
    std::string const where = target(cfg);
    o.on_event = [&log, where](hl7::client_event const& ev) {
        using kind = hl7::client_event::kind;
        switch (ev.what) {
        case kind::connected: log.event("Connected to " + where); break;
        case kind::lost: log.event("Lost the connection to " + where + ": " + ev.reason.message()); break;
        case kind::connect_failed:
            // Every 10th in a long outage: enough to see it, not a flood.
            if (ev.failures % 10 == 1)
                log.event("Cannot connect to " + where + ": " + ev.reason.message() + " (" +
                          std::to_string(ev.failures) + " failed attempts); still trying");
            break;
        default: break;
        }
    };
    return o;
}

asio::awaitable<int>
run(config const& cfg, logger& log, forwarder& f)
{
    auto const ex = co_await asio::this_coro::executor;
    std::atomic<bool> log_stop{false};
    f.changed.emplace(ex);

    // Installed first, so that a signal during the store's opening is obeyed.
    bool stop_requested = false;
    asio::signal_set signals(ex, SIGINT, SIGTERM);
    signals.async_wait([&](std::error_code ec, int sig) {
        if (ec)
            return;
        log.event(std::string("Received ") + (sig == SIGINT ? "SIGINT" : "SIGTERM") + ", stopping");
        stop_requested = true;
        f.stopping = true;
        f.wake();
    });

    try {
        f.store = co_await hl7_example::open_store(cfg.store);
    }
    catch (hl7::store::store_error const& e) {
        std::cerr << "hl7_forwarder: cannot open the store " << cfg.store.location << ": " << e.what() << std::endl;
        co_return exit_store;
    }
    f.client = std::make_unique<hl7::client>(ex, cfg.host, cfg.port, make_client_options(cfg, log));
    log.event("Forwarding from " + f.store->description() + " to " + target(cfg) + " (window " +
              std::to_string(cfg.window) + ", ACK timeout " + hl7_example::describe_duration(cfg.timeout) +
              ", dead letter after " + std::to_string(cfg.max_attempts) + " failed attempts, retry delay " +
              hl7_example::describe_duration(cfg.retry_delay) + " doubling up to " +
              hl7_example::describe_duration(cfg.max_retry_delay) + ")");
    asio::co_spawn(ex, hl7_example::flush_log_periodically(log, log_stop), asio::detached);

    int rc = exit_ok;
    if (!stop_requested) {
        try {
            co_await f.take();
        }
        catch (std::exception const& e) {
            log.event(std::string("Forwarding failed: ") + e.what());
            rc = exit_error;
        }
    }
    f.stopping = true;

    // Messages in flight get `drain` to be acknowledged; the client then
    // gives up the rest, and each delivery settles its message.
    co_await f.client->close(cfg.drain);
    while (f.in_flight > 0)
        co_await f.wait_for_change();
    std::string failed;
    try {
        co_await f.store->close();
    }
    catch (hl7::store::store_error const& e) {
        failed = e.what();
    }
    if (!failed.empty()) {
        log.event("Closing the store failed: " + failed);
        rc = exit_error;
    }
    signals.cancel();
    log_stop = true;
    log.event("Stopped (" + std::to_string(f.delivered) + " delivered, " + std::to_string(f.retried) +
              " retries scheduled, " + std::to_string(f.dead) + " dead letters, " + std::to_string(f.put_back) +
              " put back unsent, " + std::to_string(f.dropped) + " dropped, " + std::to_string(f.settle_failures) +
              " store errors)");
    co_return rc;
}

void
usage(std::ostream& os)
{
    config const d;
    os << "usage: hl7_forwarder --store STORE --to HOST:PORT [options]\n"
          "\n"
          "Delivers the messages in STORE (filled by hl7_receiver --store) to the MLLP\n"
          "receiver at HOST:PORT, each sender's messages in order. A message is marked\n"
          "delivered only after its AA (or CA); AR, or a message asking for no ACK of\n"
          "success (MSH-15/MSH-16 NE or ER), makes it a dead letter; AE or no ACK\n"
          "retries it later with back-off, and after --max-attempts makes it a dead letter\n"
          "(hl7_store list / requeue). An unreachable HOST:PORT is waited for. Restarted\n"
          "after a crash, it goes on where it stopped (a message whose ACK was lost in the\n"
          "crash is sent again). SIGINT/SIGTERM stop it and print its counts.\n"
          "\n"
          "options:\n"
          "  --store STORE              where the messages are (an SQLite file must exist): "
       << hl7_example::store_kinds()
       << "\n"
          "  --to HOST:PORT             the receiver to deliver to ([v6-address]:PORT too)\n"
          "  --window N                 messages in flight at once, of different senders (default "
       << d.window
       << ")\n"
          "  --max-attempts N           failed attempts (AE, no ACK) before a dead letter (default "
       << d.max_attempts
       << ")\n"
          "  --retry-delay DURATION     wait before the first retry, doubling after each (default "
       << hl7_example::describe_duration(d.retry_delay)
       << ")\n"
          "  --max-retry-delay DURATION longest wait between retries (default "
       << hl7_example::describe_duration(d.max_retry_delay)
       << ")\n"
          "  --timeout SECONDS          ACK timeout per message (default "
       << hl7_example::describe_duration(d.timeout)
       << ")\n"
          "  --connect-timeout SECONDS  connect timeout (default "
       << hl7_example::describe_duration(d.connect_timeout)
       << ")\n"
          "  --drain SECONDS            on stop, how long messages in flight may take (default "
       << hl7_example::describe_duration(d.drain)
       << ")\n"
          "  --drop-sender APP/FACILITY settle messages whose MSH-3 and MSH-4 are these without\n"
          "                             sending them (e.g. HL7PROBE/HAPROXY, a load balancer's\n"
          "                             health checks); repeatable\n"
          "  --exit-when-idle           stop when nothing is left to deliver (dead letters aside)\n"
          "  -q, --quiet                no line per delivered message (failures are still logged)\n"
          "  -h, --help                 this text\n"
          "\n"
          "exit codes: 0 stopped, 1 error, 2 usage error, 4 cannot open the store\n";
}

void
parse_target(std::string const& text, config& cfg)
{
    auto const colon = text.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == text.size())
        throw hl7_example::usage_error("--to wants HOST:PORT, not \"" + text + "\"");
    std::string host = text.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    std::string const port = text.substr(colon + 1);
    unsigned v = 0;
    auto const [end, ec] = std::from_chars(port.data(), port.data() + port.size(), v);
    if (ec != std::errc() || end != port.data() + port.size() || v == 0 || v > 65535)
        throw hl7_example::usage_error("--to wants a port from 1 to 65535, not \"" + port + "\"");
    cfg.host = std::move(host);
    cfg.port = static_cast<std::uint16_t>(v);
}

config
parse_command_line(int argc, char** argv, bool& help)
{
    config cfg;
    hl7_example::arguments args(argc, argv);
    while (args.next()) {
        if (args.is("--help", "-h"))
            help = true;
        else if (args.is("--store")) {
            cfg.store.location = args.value();
            hl7_example::check_store_location(cfg.store.location);
            cfg.store.create_if_missing = false;
        }
        else if (args.is("--to"))
            parse_target(args.value(), cfg);
        else if (args.is("--window"))
            cfg.window = args.integer<std::size_t>(1, 4096);
        else if (args.is("--max-attempts"))
            cfg.max_attempts = args.integer<std::uint32_t>(1, 1000000);
        else if (args.is("--retry-delay"))
            cfg.retry_delay = args.duration();
        else if (args.is("--max-retry-delay"))
            cfg.max_retry_delay = args.duration();
        else if (args.is("--timeout"))
            cfg.timeout = args.seconds();
        else if (args.is("--connect-timeout"))
            cfg.connect_timeout = args.seconds();
        else if (args.is("--drain"))
            cfg.drain = args.seconds();
        else if (args.is("--drop-sender")) {
            std::string const v = args.value();
            auto const slash = v.find('/');
            if (slash == std::string::npos)
                throw hl7_example::usage_error("--drop-sender wants APP/FACILITY (MSH-3/MSH-4), not \"" + v + "\"");
            cfg.drop_senders.emplace_back(v.substr(0, slash), v.substr(slash + 1));
        }
        else if (args.is("--exit-when-idle")) {
            args.flag();
            cfg.exit_when_idle = true;
        }
        else if (args.is("--quiet", "-q")) {
            args.flag();
            cfg.quiet = true;
        }
        else
            args.unknown();
    }
    if (help)
        return cfg;
    if (cfg.store.location.empty())
        throw hl7_example::usage_error("--store is required");
    if (cfg.host.empty())
        throw hl7_example::usage_error("--to HOST:PORT is required");
    if (cfg.max_retry_delay < cfg.retry_delay)
        cfg.max_retry_delay = cfg.retry_delay;
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
        std::cerr << "hl7_forwarder: " << e.what() << "\n(hl7_forwarder --help lists the options)\n";
        return exit_usage;
    }

    logger log;
    forwarder f{cfg, log};
    // One io thread: the forwarder's counters and window are touched only there.
    int const rc = hl7_example::run_program("hl7_forwarder", run(cfg, log, f), 1, [&f] {
        // The client and the store go before the io_context they post to.
        f.client.reset();
        f.store.reset();
        f.changed.reset();
    });
    log.flush();
    return rc;
}
