// hl7_store: look into a receiver's message store and put dead letters back.
//
//   hl7_store stats   --store sqlite:PATH
//   hl7_store list    --store sqlite:PATH [--state dead|queued|delivered] [--after ID] [--limit N] [--contents]
//   hl7_store requeue --store sqlite:PATH (--all | --id ID [--id ID ...])
//
// `list` shows metadata only (ids, times, sender, control id, type, peer,
// attempts, size, last error); message contents only with --contents, since
// they hold patient data. Works while a receiver and a forwarder use the
// store (SQLite WAL: readers do not block writers; `requeue` waits for the
// write lock up to 5 s).
//
// Exit codes: 0 done, 1 the store failed while working (locked, I/O error),
// 2 usage error, 3 the store cannot be opened (no such file, not a store,
// written by a newer version, corrupt), 4 requeue: some ids given are not
// dead letters (the others were requeued).

#include "hl7_example_cli.hpp"
#include "hl7_example_log.hpp"
#include "hl7_example_main.hpp"

#include <hl7/store/sqlite.hpp>


#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <exception>
#include <iostream>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

constexpr int exit_ok = 0;
constexpr int exit_error = 1;
constexpr int exit_usage = 2;
constexpr int exit_open = 3;
constexpr int exit_not_dead = 4;

struct config
{
    std::string command;
    std::string path;
    hl7::store::message_state state = hl7::store::message_state::dead;
    std::uint64_t after = 0;
    std::size_t limit = 100;
    bool contents = false;
    bool all = false;
    std::vector<std::uint64_t> ids;
};

void
usage(std::ostream& os)
{
    os << "usage: hl7_store COMMAND --store sqlite:PATH [options]\n"
          "\n"
          "Shows what a receiver's message store holds and puts dead letters back in\n"
          "the queue. Safe to run while a receiver and a forwarder use the store.\n"
          "\n"
          "commands:\n"
          "  stats                  counts by state (queued, retrying, delivered, dead),\n"
          "                         duplicates absorbed, senders\n"
          "  list                   one line per message, oldest first (dead letters by\n"
          "                         default): id, state, stored and received (UTC), sender\n"
          "                         (MSH-3/MSH-4), control id, type, peer, attempts, size,\n"
          "                         last error\n"
          "  requeue                puts dead letters back in the queue (attempts reset)\n"
          "\n"
          "options:\n"
          "  --store sqlite:PATH    the store (required; it must exist)\n"
          "  --state STATE          list: dead (default), queued or delivered\n"
          "  --after ID             list: only ids above ID (paging)\n"
          "  --limit N              list: at most N messages (default 100)\n"
          "  --contents             list: also print each message, one segment per line\n"
          "                         (may contain patient data!)\n"
          "  --all                  requeue: every dead letter\n"
          "  --id ID                requeue: this dead letter (repeatable)\n"
          "  -h, --help             this text\n"
          "\n"
          "exit codes: 0 done, 1 the store failed while working (locked, I/O error),\n"
          "2 usage error, 3 the store cannot be opened (no such file, not a store, newer\n"
          "version, corrupt), 4 requeue: some ids are not dead letters (others requeued)\n";
}

config
parse_command_line(int argc, char** argv, bool& help)
{
    config cfg;
    bool limit_given = false;
    bool state_given = false;
    hl7_example::arguments args(argc, argv);
    while (args.next()) {
        if (args.is("--help", "-h")) {
            help = true;
        }
        else if (args.is("--store")) {
            auto const where = hl7::store::parse_store_location(args.value());
            if (where.scheme != "sqlite" || where.rest.empty())
                throw hl7_example::usage_error("--store wants sqlite:PATH (the only kind of store this program opens)");
            cfg.path = where.rest;
        }
        else if (args.is("--state")) {
            std::string const s = args.value();
            if (s == "dead")
                cfg.state = hl7::store::message_state::dead;
            else if (s == "queued")
                cfg.state = hl7::store::message_state::queued;
            else if (s == "delivered")
                cfg.state = hl7::store::message_state::delivered;
            else
                throw hl7_example::usage_error("--state wants dead, queued or delivered, not \"" + s + "\"");
            state_given = true;
        }
        else if (args.is("--after")) {
            cfg.after = args.integer<std::uint64_t>(0);
        }
        else if (args.is("--limit")) {
            cfg.limit = args.integer<std::size_t>(1);
            limit_given = true;
        }
        else if (args.is("--contents")) {
            args.flag();
            cfg.contents = true;
        }
        else if (args.is("--all")) {
            args.flag();
            cfg.all = true;
        }
        else if (args.is("--id")) {
            cfg.ids.push_back(args.integer<std::uint64_t>(1));
        }
        else if (!args.current().empty() && args.current()[0] != '-' && cfg.command.empty()) {
            cfg.command = std::string(args.current());
        }
        else {
            args.unknown();
        }
    }
    if (help)
        return cfg;
    if (cfg.command.empty())
        throw hl7_example::usage_error("no command (stats, list or requeue)");
    if (cfg.command != "stats" && cfg.command != "list" && cfg.command != "requeue")
        throw hl7_example::usage_error("unknown command " + cfg.command + " (stats, list or requeue)");
    if (cfg.path.empty())
        throw hl7_example::usage_error("--store sqlite:PATH is required");
    if (cfg.command != "list" && (limit_given || state_given || cfg.after || cfg.contents))
        throw hl7_example::usage_error("--state, --after, --limit and --contents are for list");
    if (cfg.command != "requeue" && (cfg.all || !cfg.ids.empty()))
        throw hl7_example::usage_error("--all and --id are for requeue");
    if (cfg.command == "requeue" && cfg.all == !cfg.ids.empty())
        throw hl7_example::usage_error("requeue wants either --all or one or more --id");
    return cfg;
}

std::string
utc(std::chrono::system_clock::time_point t)
{
    std::time_t const s = std::chrono::system_clock::to_time_t(t);
    auto const ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count() % 1000;
    std::tm tm{};
    gmtime_r(&s, &tm);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                  tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
    return buf;
}

// Values from messages stay on one line and in one column whatever they hold.
std::string
cell(std::string_view v, std::size_t max = 80)
{
    std::string out = hl7_example::log_safe(v, max);
    return out.empty() ? std::string("-") : out;
}

void
print_stats(std::string const& where, hl7::store::store_stats const& s)
{
    std::cout << "store       " << where << "\n"
              << "queued      " << s.queued << "\n"
              << "retrying    " << s.retrying << "\n"
              << "delivered   " << s.delivered << "\n"
              << "dead        " << s.dead << "\n"
              << "duplicates  " << s.duplicates << "\n"
              << "senders     " << s.senders << "\n";
}

void
print_records(std::vector<hl7::store::message_record> const& records, bool contents)
{
    std::cout << "id\tstate\tstored\treceived\tsender\tcontrol_id\ttype\tpeer\tattempts\tsize\tlast_error\n";
    for (auto const& r : records) {
        std::cout << r.id << '\t' << hl7::store::to_string(r.state) << '\t' << utc(r.stored) << '\t'
                  << utc(r.meta.received) << '\t' << cell(r.meta.sending_application) << '/'
                  << cell(r.meta.sending_facility) << '\t' << cell(r.meta.control_id) << '\t'
                  << cell(r.meta.message_type) << '\t' << cell(r.meta.peer) << '\t' << r.attempts << '\t' << r.size
                  << '\t' << cell(r.last_error, 200) << '\n';
        if (contents && r.payload) {
            // One segment per line, indented, so it cannot be taken for a record line.
            std::string_view p = *r.payload;
            while (!p.empty()) {
                auto const end = p.find_first_of("\r\n");
                std::string_view const seg = p.substr(0, end);
                if (!seg.empty())
                    std::cout << "    " << cell(seg, std::numeric_limits<std::size_t>::max()) << '\n';
                if (end == std::string_view::npos)
                    break;
                p.remove_prefix(end + 1);
            }
        }
    }
}

asio::awaitable<int>
run(config const& cfg)
{
    std::shared_ptr<hl7::store::sqlite_store> store;
    try {
        hl7::store::sqlite_options o;
        o.create_if_missing = false;
        store = co_await hl7::store::open_sqlite_store(cfg.path, o);
    }
    catch (hl7::store::store_error const& e) {
        std::cerr << "hl7_store: cannot open the store: " << e.what() << std::endl;
        co_return exit_open;
    }

    int rc = exit_ok;
    try {
        if (cfg.command == "stats") {
            auto s = co_await store->stats();
            print_stats(store->description(), s);
        }
        else if (cfg.command == "list") {
            hl7::store::list_options q;
            q.state = cfg.state;
            q.after_id = cfg.after;
            q.limit = cfg.limit;
            q.with_payload = cfg.contents;
            auto records = co_await store->list(q);
            print_records(records, cfg.contents);
        }
        else {
            // A named argument: g++ 12 destroys a temporary built by ?: in a co_await expression twice.
            std::vector<std::uint64_t> ids; // empty: every dead letter
            if (!cfg.all)
                ids = cfg.ids;
            auto done = co_await store->requeue(std::move(ids));
            for (auto id : cfg.ids)
                if (std::find(done.begin(), done.end(), id) == done.end()) {
                    std::cerr << "hl7_store: message " << id << " is not a dead letter; left as it is" << std::endl;
                    rc = exit_not_dead;
                }
            std::cout << "requeued " << done.size() << (done.size() == 1 ? " dead letter" : " dead letters") << "\n";
        }
    }
    catch (hl7::store::store_error const& e) {
        std::cerr << "hl7_store: " << e.what() << std::endl;
        using hl7::store::error;
        bool const unusable = e.code() == error::corrupt || e.code() == error::not_a_store ||
                              e.code() == error::schema_too_new || e.code() == error::cannot_open;
        rc = unusable ? exit_open : exit_error;
    }
    co_await store->close();
    co_return rc;
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
        std::cerr << "hl7_store: " << e.what() << "\n(hl7_store --help lists the commands and options)\n";
        return exit_usage;
    }

    int const rc = hl7_example::run_program("hl7_store", run(cfg));
    std::cout.flush();
    return rc;
}
