// hl7_nats_setup: creates the JetStream layout the store uses (the message
// stream, the dead-letter stream and the durable consumer) on a running
// cluster, waiting for the cluster to answer, and prints what is in it.
// Debian ships no `nats` command-line tool; this is the part of it the
// scale-out kit needs.
//
//   hl7_nats_setup --servers nats://127.0.0.1:4222,nats://127.0.0.1:4223 [options]
//
// Exit codes: 0 the layout exists (created now or before); 1 it cannot be
// created (settings the cluster refuses, see the message); 2 bad command
// line; 3 no server answered for JetStream within --wait.

#include <hl7/store/jetstream.hpp>

#include "hl7_example_cli.hpp"
#include "hl7_example_main.hpp"

#include <asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <exception>
#include <iostream>
#include <string>

namespace {

char const* const usage_text = R"(usage: hl7_nats_setup --servers URLS [options]

Creates, on the NATS JetStream cluster at URLS (comma-separated nats:// URLs),
whatever of the store's layout is missing, then prints its counts. Existing
streams and consumers are left as they are.

  --servers URLS            the cluster (required)
  --wait SECONDS            keep trying this long for the cluster to answer (default 30)
  --no-create               only check; a missing stream is an error
  --replicas N              replicas of both streams (default 3)
  --stream NAME             message stream (default HL7)
  --subject-prefix P        messages go to P.<sender> (default hl7.in)
  --dead-stream NAME        dead-letter stream (default HL7_DEAD)
  --dead-subject-prefix P   dead letters go to P.<sender> (default hl7.dead)
  --consumer NAME           durable consumer of the forwarders (default hl7-forwarder)
  --dedup-window SECONDS    duplicate window (default 600)
  --max-bytes SIZE          largest message stream, e.g. 10G (default: server limits)
  --max-message-size SIZE   largest message, e.g. 8M (default: server max_payload)
  --ack-wait SECONDS        redelivery when a taker goes silent (default 60)
  --max-ack-pending N       messages out at once; 1 keeps the order (default 1)
  --max-deliver N           deliveries before the server gives up, -1 never (default -1)
)";

std::chrono::milliseconds
to_ms(std::chrono::steady_clock::duration d)
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(d);
}

asio::awaitable<int>
setup(std::string const& servers, std::chrono::steady_clock::duration wait,
      hl7::store::jetstream_options const& options)
{
    auto const deadline = std::chrono::steady_clock::now() + wait;
    std::shared_ptr<hl7::store::jetstream_store> store;
    for (;;) {
        std::error_code ec;
        std::string what;
        try {
            store = co_await hl7::store::open_jetstream_store(servers, options);
            break;
        }
        catch (hl7::store::store_error const& e) {
            ec = e.code();
            what = e.what();
        }
        if (!hl7::store::is_transient(ec)) {
            std::cerr << "hl7_nats_setup: " << what << '\n';
            co_return 1;
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            std::cerr << "hl7_nats_setup: " << what << '\n';
            co_return 3;
        }
        // The cluster is starting (no server yet, or no meta leader): try again.
        asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(500));
        co_await t.async_wait(asio::use_awaitable);
    }
    auto const s = co_await store->stats();
    std::cout << "stream " << options.stream << " (" << options.subject_prefix << ".>, " << options.replicas
              << " replicas), dead letters in " << options.dead_stream << ", consumer " << options.consumer << '\n'
              << "queued " << s.queued << ", retrying " << s.retrying << ", delivered " << s.delivered << ", dead "
              << s.dead << ", senders " << s.senders << '\n';
    co_await store->close();
    co_return 0;
}

} // namespace

int
main(int argc, char** argv)
{
    std::string servers;
    auto wait = std::chrono::steady_clock::duration(std::chrono::seconds(30));
    hl7::store::jetstream_options options;
    options.require_connection = true;
    options.connection_name = "hl7_nats_setup";
    try {
        hl7_example::arguments args(argc, argv);
        while (args.next()) {
            if (args.is("--help", "-h")) {
                std::cout << usage_text;
                return 0;
            }
            else if (args.is("--servers"))
                servers = args.value();
            else if (args.is("--wait"))
                wait = args.seconds();
            else if (args.is("--no-create")) {
                args.flag();
                options.create_if_missing = false;
            }
            else if (args.is("--replicas"))
                options.replicas = args.integer<int>(1, 5);
            else if (args.is("--stream"))
                options.stream = args.value();
            else if (args.is("--subject-prefix"))
                options.subject_prefix = args.value();
            else if (args.is("--dead-stream"))
                options.dead_stream = args.value();
            else if (args.is("--dead-subject-prefix"))
                options.dead_subject_prefix = args.value();
            else if (args.is("--consumer"))
                options.consumer = args.value();
            else if (args.is("--dedup-window"))
                options.dedup_window = to_ms(args.seconds());
            else if (args.is("--max-bytes"))
                options.max_bytes = static_cast<std::int64_t>(args.size());
            else if (args.is("--max-message-size"))
                options.max_message_size = static_cast<std::int32_t>(std::min<std::size_t>(args.size(), INT32_MAX));
            else if (args.is("--ack-wait"))
                options.ack_wait = to_ms(args.seconds());
            else if (args.is("--max-ack-pending"))
                options.max_ack_pending = args.integer<std::int64_t>(-1);
            else if (args.is("--max-deliver"))
                options.max_deliver = args.integer<std::int64_t>(-1);
            else
                args.unknown();
        }
        if (servers.empty())
            throw hl7_example::usage_error("--servers is required");
    }
    catch (hl7_example::usage_error const& e) {
        std::cerr << "hl7_nats_setup: " << e.what() << "\n\n" << usage_text;
        return 2;
    }

    return hl7_example::run_program("hl7_nats_setup", setup(servers, wait, options));
}
