#ifndef HL7_EXAMPLES_HL7_EXAMPLE_STORE_HPP
#define HL7_EXAMPLES_HL7_EXAMPLE_STORE_HPP

// Opening the message store named by `--store` in the bundled programs
// (hl7_receiver, hl7_forwarder). Which kinds exist depends on the build:
// examples/CMakeLists.txt defines HL7_EXAMPLES_HAVE_SQLITE and
// HL7_EXAMPLES_HAVE_NATS when the hl7::sqlite and hl7::nats targets exist,
// so a build with only hl7::hl7 still compiles and says what is missing.

#include "hl7_example_cli.hpp"

#include <hl7/store/store.hpp>

#if HL7_EXAMPLES_HAVE_SQLITE
#include <hl7/store/sqlite.hpp>
#endif
#if HL7_EXAMPLES_HAVE_NATS
#include <hl7/store/jetstream.hpp>
#endif

#include <asio/awaitable.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace hl7_example {

/// What `--store` and the options that go with it asked for.
struct store_config
{
    /// As given: `sqlite:PATH` or `nats://HOST:PORT[,HOST:PORT...]`. Empty: no store.
    std::string location{};
    /// `--dedup-window`; empty: the store's default.
    std::optional<std::chrono::milliseconds> dedup_window{};
    /// `--store-max-size`: the store's size limit in bytes; 0: none but the disk's.
    std::uint64_t max_bytes = 0;
    /** Create a missing SQLite file. A receiver does; a forwarder does not,
        so that a mistyped path is an error rather than an empty queue. */
    bool create_if_missing = true;
};

/// The kinds of store this build can open, for --help ("sqlite:PATH, nats://HOST:PORT[,...]").
inline std::string
store_kinds()
{
    std::string kinds;
#if HL7_EXAMPLES_HAVE_SQLITE
    kinds += "sqlite:PATH";
#endif
#if HL7_EXAMPLES_HAVE_NATS
    kinds += kinds.empty() ? "" : ", ";
    kinds += "nats://HOST:PORT[,HOST:PORT...]";
#endif
    return kinds.empty() ? std::string("none in this build") : kinds;
}

/** Checks a `--store` value, so that mistakes are usage errors before
    anything starts. Throws `usage_error`. */
inline void
check_store_location(std::string_view text)
{
    auto const where = hl7::store::parse_store_location(text);
    if (where.scheme == "sqlite") {
#if HL7_EXAMPLES_HAVE_SQLITE
        if (where.rest.empty())
            throw usage_error("--store sqlite: needs a file name (sqlite:PATH)");
        return;
#else
        throw usage_error("--store sqlite: this build has no SQLite store (SQLite was not found when it was built)");
#endif
    }
    if (where.scheme == "nats") {
#if HL7_EXAMPLES_HAVE_NATS
        if (where.rest.size() <= 2 || where.rest.substr(0, 2) != "//")
            throw usage_error("--store nats: wants nats://HOST:PORT[,HOST:PORT...]");
        return;
#else
        throw usage_error("--store nats: this build has no JetStream store (nats.c was not found when it was built)");
#endif
    }
    throw usage_error("--store wants " + store_kinds() + ", not \"" + std::string(text) + "\"");
}

#if HL7_EXAMPLES_HAVE_NATS
// `nats://a:4222,b:4222` -> `nats://a:4222,nats://b:4222`: nats.c wants a URL per server.
inline std::string
nats_server_list(std::string_view text)
{
    std::string out;
    while (!text.empty()) {
        auto const comma = text.find(',');
        std::string_view one = text.substr(0, comma);
        if (!one.empty()) {
            if (!out.empty())
                out += ',';
            if (one.find("://") == std::string_view::npos)
                out += "nats://";
            out += one;
        }
        if (comma == std::string_view::npos)
            break;
        text.remove_prefix(comma + 1);
    }
    return out;
}
#endif

/** Opens the store `cfg` names (checked by `check_store_location`).
    Throws `hl7::store::store_error` when it cannot be opened. */
inline asio::awaitable<std::shared_ptr<hl7::store::message_store>>
open_store(store_config cfg)
{
    auto const where = hl7::store::parse_store_location(cfg.location);
#if HL7_EXAMPLES_HAVE_SQLITE
    if (where.scheme == "sqlite") {
        hl7::store::sqlite_options o;
        if (cfg.dedup_window) {
            o.dedup_window = *cfg.dedup_window;
            // Delivered messages are kept at least as long as the window needs them.
            o.retention = std::max(o.retention, *cfg.dedup_window);
        }
        o.max_bytes = cfg.max_bytes;
        o.create_if_missing = cfg.create_if_missing;
        co_return co_await hl7::store::open_sqlite_store(where.rest, o);
    }
#endif
#if HL7_EXAMPLES_HAVE_NATS
    if (where.scheme == "nats") {
        hl7::store::jetstream_options o;
        if (cfg.dedup_window) {
            // Only for streams created now; an existing stream keeps its window.
            o.dedup_window = *cfg.dedup_window;
            o.retention = std::max(o.retention, *cfg.dedup_window);
        }
        // Also only for a stream created now.
        o.max_bytes = static_cast<std::int64_t>(cfg.max_bytes);
        co_return co_await hl7::store::open_jetstream_store(nats_server_list(cfg.location), o);
    }
#endif
    throw hl7::store::store_error(hl7::store::error::cannot_open, "no such kind of store in this build: " + cfg.location);
}

} // namespace hl7_example

#endif
