// The no-loss soak over TLS: several tls_peer senders, each on its own TLS
// connection (a new one every few dozen messages, sometimes left without
// close_notify), send batches of messages with distinct control ids in
// records of random sizes and TCP segments of random sizes, while a
// disturber opens connections that it cuts in the handshake or in the middle
// of a record. Afterwards:
//   - every message sent got exactly one answer, an AA with its control id,
//     in order on its connection;
//   - the receiver handed each sent message to the application exactly once;
//   - nothing the disturber cut short was handed to the application.
// Bounded in time (HL7_TLS_SOAK_SECONDS, default 5).

#include "hl7_hostile_tls_peer.hpp"

#include <hl7/tls.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <random>
#include <string>
#include <thread>
#include <vector>

using namespace hl7_hostile;

namespace {

int
tls_soak_seconds()
{
    if (char const* s = std::getenv("HL7_TLS_SOAK_SECONDS"))
        return std::max(1, std::atoi(s));
    return 5;
}

asio::awaitable<hl7::server>
start_soak_server(hl7::client_connected_cb cb, hl7::server_options options)
{
    hl7::tls_server s = co_await hl7::start_hl7_tls_server(std::move(cb), std::move(options),
                                                           hl7_tls_test::server_tls());
    co_return hl7::server(std::move(s));
}

struct sender_result
{
    std::vector<std::string> sent;
    long wrong_answers = 0;
    long missing_answers = 0;
    long connections = 0;
    std::string first_problem;
};

void
run_sender(std::uint16_t port, int index, std::uint32_t seed, clock::time_point deadline, sender_result& out)
{
    std::mt19937 rng(seed);
    auto pick = [&](std::size_t lo, std::size_t hi) { return std::uniform_int_distribution<std::size_t>(lo, hi)(rng); };
    int n = 0;
    try {
        while (clock::now() < deadline) {
            tls_peer p(port);
            p.handshake(pick(0, 1) ? 0 : pick(1, 64));
            ++out.connections;
            for (std::size_t batches = pick(1, 8); batches > 0 && clock::now() < deadline; --batches) {
                std::vector<std::string> ids;
                std::string batch;
                for (std::size_t k = pick(1, 8); k > 0; --k) {
                    ids.push_back("TLS-SOAK-" + std::to_string(index) + "-" + std::to_string(n++));
                    batch += framed(message_text(ids.back()));
                }
                std::size_t const record = pick(0, 3) == 0 ? pick(1, 16) : pick(17, 16384);
                std::size_t const chunk = pick(0, 1) ? 0 : pick(1, 512);
                p.write(batch, record, chunk);
                out.sent.insert(out.sent.end(), ids.begin(), ids.end());
                for (auto const& id : ids) {
                    auto f = p.read_frame(30s);
                    if (!f) {
                        ++out.missing_answers;
                        if (out.first_problem.empty())
                            out.first_problem = "no answer for " + id;
                        return;
                    }
                    answer const a = read_answer(*f);
                    if (a.code != "AA" || a.control_id != id) {
                        ++out.wrong_answers;
                        if (out.first_problem.empty())
                            out.first_problem = "for " + id + ": " + a.raw;
                    }
                }
            }
            if (pick(0, 1))
                p.close_notify();
        }
    } catch (std::exception const& e) {
        ++out.missing_answers;
        if (out.first_problem.empty())
            out.first_problem = std::string("sender ") + std::to_string(index) + ": " + e.what();
    }
}

// Connections cut in the handshake or mid-record; returns how many.
long
run_disturber(std::uint16_t port, std::uint32_t seed, clock::time_point deadline)
{
    std::mt19937 rng(seed);
    long cuts = 0;
    for (int n = 0; clock::now() < deadline; ++n) {
        try {
            tls_peer p(port);
            if (rng() % 2 == 0) {
                std::string const hello = p.client_hello();
                p.tcp().send_all(std::string_view(hello).substr(0, rng() % hello.size()));
            } else {
                p.handshake();
                std::string const wire = p.seal(framed(message_text("TLS-CUT-" + std::to_string(n))));
                p.tcp().send_all(std::string_view(wire).substr(0, wire.size() - 1 - rng() % (wire.size() - 1)));
            }
            if (rng() % 2 == 0)
                p.tcp().reset();
            ++cuts;
        } catch (std::exception const&) {
        }
        std::this_thread::sleep_for(20ms);
    }
    return cuts;
}

} // namespace

TEST_CASE("soak: every message sent over TLS gets exactly its ACK, delivered once", "[hostile][soak][tls]")
{
    (void)raise_fd_limit(8192);
    in_process_receiver::settings s;
    s.threads = 2;
    s.start = [](hl7::client_connected_cb cb, hl7::server_options o) {
        return start_soak_server(std::move(cb), std::move(o));
    };
    in_process_receiver receiver(std::move(s));

    int const senders = 4;
    std::uint32_t const seed = std::random_device{}();
    auto const deadline = clock::now() + std::chrono::seconds(tls_soak_seconds());
    std::vector<sender_result> results(senders);
    std::vector<std::thread> threads;
    for (int i = 0; i < senders; ++i)
        threads.emplace_back([&, i] {
            run_sender(receiver.port(), i, seed + static_cast<std::uint32_t>(i), deadline, results[i]);
        });
    std::atomic<long> cuts{0};
    threads.emplace_back([&] { cuts = run_disturber(receiver.port(), seed + 1000, deadline); });
    for (auto& t : threads)
        t.join();

    INFO("seed " << seed);
    std::size_t total = 0;
    long connections = 0;
    for (auto const& r : results) {
        INFO(r.first_problem);
        CHECK(r.wrong_answers == 0);
        CHECK(r.missing_answers == 0);
        total += r.sent.size();
        connections += r.connections;
    }
    CHECK(total > 0);
    CHECK(cuts > 0);

    auto const counts = receiver.delivery_counts();
    std::size_t delivered_once = 0, cut_delivered = 0, unexpected = 0;
    for (auto const& r : results)
        for (auto const& id : r.sent) {
            auto it = counts.find(id);
            delivered_once += it != counts.end() && it->second == 1;
        }
    for (auto const& [id, n] : counts) {
        if (id.rfind("TLS-CUT-", 0) == 0)
            cut_delivered += static_cast<std::size_t>(n);
        else if (id.rfind("TLS-SOAK-", 0) != 0)
            unexpected += static_cast<std::size_t>(n);
    }
    CHECK(delivered_once == total);
    CHECK(receiver.delivered().size() == total);
    CHECK(cut_delivered == 0);
    CHECK(unexpected == 0);
    std::cout << "tls soak (" << tls_soak_seconds() << " s, " << senders << " senders, seed " << seed
              << "): " << total << " messages on " << connections << " connections, " << cuts.load()
              << " connections cut by the disturber\n";
    CHECK(receiver.shutdown());
}
