// The hostile-network suite over TLS: hl7::start_hl7_tls_server running the
// bundled receiver's handler logic in this process, against tls_peer (OpenSSL
// on memory BIOs over a raw socket) misbehaving in the ways TLS allows: tiny
// records, ciphertext one byte at a time, handshakes that stall or are cut,
// records cut short or corrupted, no close_notify, never reading, too many
// connections. After every case a fresh TLS client must still get its AA and
// the receiver must shut down cleanly.

#include "hl7_hostile_checks.hpp"
#include "hl7_hostile_tls_peer.hpp"

#include <hl7/tls.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

using namespace hl7_hostile;

namespace {

asio::awaitable<hl7::server>
start_tls(hl7::client_connected_cb cb, hl7::server_options options, hl7::tls_server_options tls)
{
    hl7::tls_server s = co_await hl7::start_hl7_tls_server(std::move(cb), std::move(options), tls);
    co_return hl7::server(std::move(s));
}

/// The in-process receiver over TLS (server.pem), handshakes limited to `handshake_timeout`.
in_process_receiver::settings
tls_settings(std::chrono::seconds handshake_timeout = 30s)
{
    in_process_receiver::settings s;
    s.start = [handshake_timeout](hl7::client_connected_cb cb, hl7::server_options o) {
        hl7::tls_server_options tls = hl7_tls_test::server_tls();
        tls.handshake_timeout = handshake_timeout;
        return start_tls(std::move(cb), std::move(o), tls);
    };
    return s;
}

/// Sends one message on `p` (records of `record` bytes) and requires the AA for it.
void
round_trip(tls_peer& p, std::string const& id, std::size_t record = 16384, std::size_t chunk = 0)
{
    p.write(framed(message_text(id)), record, chunk);
    require_aa(p.read_frame(30s), id);
}

/// A new TLS client gets its AA.
void
expect_fresh_ack(std::uint16_t port)
{
    tls_peer p(port);
    p.handshake();
    round_trip(p, unique_id("FRESH"));
}

/// Runs a case against a fresh receiver, then the fresh-client and shutdown checks.
template<class Case>
void
run(in_process_receiver::settings s, Case&& run_case)
{
    (void)raise_fd_limit(8192);
    in_process_receiver r(std::move(s));
    run_case(r);
    expect_fresh_ack(r.port());
    CHECK(eventually([&] { return r.connection_count() == 0; }));
    CHECK(r.shutdown());
}

} // namespace

TEST_CASE("one plaintext byte per record, one ciphertext byte per TCP segment", "[hostile][tls]")
{
    run(tls_settings(), [](in_process_receiver& r) {
        tls_peer p(r.port());
        p.handshake(1);
        std::string const id = unique_id("BYTE");
        round_trip(p, id, 1, 1);
        CHECK(r.payload_of(id) == message_text(id));
        round_trip(p, unique_id("AFTER-BYTE"));
    });
}

TEST_CASE("frames split and coalesced across records", "[hostile][tls]")
{
    run(tls_settings(), [](in_process_receiver& r) {
        tls_peer p(r.port());
        p.handshake();
        std::vector<std::string> ids;
        std::string burst;
        for (int i = 0; i < 12; ++i) {
            ids.push_back(unique_id("SPLIT"));
            burst += framed(message_text(ids.back()));
        }
        // 7-byte records put record boundaries everywhere (inside start and
        // end blocks too); then all twelve frames in one record; then records
        // that end exactly at the frame boundaries, all in one TCP write.
        std::string wire = p.seal(burst, 7);
        std::string together;
        for (int i = 0; i < 12; ++i) {
            ids.push_back(unique_id("ONE-RECORD"));
            together += framed(message_text(ids.back()));
        }
        wire += p.seal(together, 1u << 14);
        std::string exact;
        for (int i = 0; i < 12; ++i) {
            ids.push_back(unique_id("EXACT"));
            std::string const f = framed(message_text(ids.back()));
            // (one statement each: records must be sealed in wire order)
            exact += p.seal(f.substr(0, 1), 1);
            exact += p.seal(f.substr(1, f.size() - 3), 1u << 14);
            exact += p.seal(f.substr(f.size() - 2, 1), 1);
            exact += p.seal(f.substr(f.size() - 1), 1);
        }
        wire += exact;
        p.tcp().send_all(wire);
        for (auto const& id : ids) {
            auto f = p.read_frame(30s);
            REQUIRE(f.has_value());
            answer const a = read_answer(*f);
            CHECK(a.code == "AA");
            CHECK(a.control_id == id);
        }
        auto const counts = r.delivery_counts();
        for (auto const& id : ids)
            CHECK(counts.count(id) == 1);
    });
}

TEST_CASE("handshakes that stall (handshake timeout)", "[hostile][tls]")
{
    run(tls_settings(1s), [](in_process_receiver& r) {
        auto const start = clock::now();
        tls_peer silent(r.port()); // connects, says nothing
        tls_peer half(r.port());   // half a ClientHello
        std::string const hello = half.client_hello();
        half.tcp().send_all(std::string_view(hello).substr(0, hello.size() / 2));
        tls_peer unfinished(r.port()); // a whole ClientHello, then never its Finished
        unfinished.tcp().send_all(unfinished.client_hello());
        CHECK(silent.tcp().wait_end(40s) != raw_peer::end_state::open);
        CHECK(half.tcp().wait_end(40s) != raw_peer::end_state::open);
        CHECK(unfinished.tcp().wait_end(40s) != raw_peer::end_state::open);
        CHECK(clock::now() - start >= 500ms);
        CHECK(eventually([&] { return r.saw_event(hl7::tls::error::handshake_timeout); }));
        CHECK(r.delivered().empty());
    });
}

TEST_CASE("resets and closes in the middle of the handshake", "[hostile][tls]")
{
    run(tls_settings(), [](in_process_receiver& r) {
        {
            tls_peer p(r.port()); // ClientHello, then a reset
            p.tcp().send_all(p.client_hello());
            p.tcp().reset();
        }
        {
            tls_peer p(r.port()); // half a ClientHello, then FIN
            std::string const hello = p.client_hello();
            p.tcp().send_all(std::string_view(hello).substr(0, hello.size() / 2));
            p.tcp().close();
        }
        {
            tls_peer p(r.port()); // reads the server's flight, then a reset
            p.tcp().send_all(p.client_hello());
            std::string flight;
            CHECK(eventually([&] {
                (void)p.tcp().receive(flight, 100ms);
                return !flight.empty();
            }));
            p.tcp().reset();
        }
        {
            tls_peer p(r.port()); // garbage after a whole ClientHello
            p.tcp().send_all(p.client_hello() + std::string(64, '\x17'));
            CHECK(p.tcp().wait_end(30s) != raw_peer::end_state::open);
        }
        CHECK(eventually([&] { return r.events().size() >= 4; }));
        CHECK(r.delivered().empty());
    });
}

TEST_CASE("records cut short, corrupted, or closed without close_notify", "[hostile][tls]")
{
    run(tls_settings(), [](in_process_receiver& r) {
        std::string const cut_reset = unique_id("CUT-RESET");
        {
            tls_peer p(r.port());
            p.handshake();
            std::string const wire = p.seal(framed(message_text(cut_reset)));
            p.tcp().send_all(std::string_view(wire).substr(0, wire.size() / 2));
            p.tcp().reset();
        }
        std::string const cut_fin = unique_id("CUT-FIN");
        {
            tls_peer p(r.port());
            p.handshake();
            std::string const wire = p.seal(framed(message_text(cut_fin)));
            p.tcp().send_all(std::string_view(wire).substr(0, wire.size() - 5));
            p.tcp().half_close();
            CHECK(p.wait_end(30s) != raw_peer::end_state::open);
        }
        std::string const corrupt = unique_id("CORRUPT");
        {
            tls_peer p(r.port());
            p.handshake();
            std::string wire = p.seal(framed(message_text(corrupt)));
            wire[wire.size() / 2] ^= 0x20; // the record's tag no longer matches
            p.tcp().send_all(wire);
            std::size_t frames = 0;
            CHECK(p.wait_end(30s, &frames) != raw_peer::end_state::open);
            CHECK(frames == 0);
        }
        std::string const whole = unique_id("NO-CLOSE-NOTIFY");
        {
            tls_peer p(r.port());
            p.handshake();
            round_trip(p, whole);
            p.tcp().close(); // FIN without close_notify
        }
        std::string const notified = unique_id("CLOSE-NOTIFY");
        {
            tls_peer p(r.port());
            p.handshake();
            round_trip(p, notified);
            p.close_notify();
            CHECK(p.wait_end(30s) != raw_peer::end_state::open);
        }
        CHECK(eventually([&] { return r.connection_count() == 0; }));
        CHECK_FALSE(r.was_delivered(cut_reset));
        CHECK_FALSE(r.was_delivered(cut_fin));
        CHECK_FALSE(r.was_delivered(corrupt));
        CHECK(r.delivery_counts()[whole] == 1);
        CHECK(r.delivery_counts()[notified] == 1);
    });
}

TEST_CASE("frame over the size limit", "[hostile][tls]")
{
    auto s = tls_settings();
    std::size_t const limit = s.server.connection.max_frame_size;
    run(std::move(s), [limit](in_process_receiver& r) {
        std::string const big_id = unique_id("BIG");
        std::string big = message_text(big_id);
        big += "OBX|2|ED|PDF||";
        big.append(limit + 4096, 'A');
        big += "\r";
        tls_peer p(r.port());
        p.handshake();
        p.write(framed(big));
        auto f = p.read_frame(60s);
        REQUIRE(f.has_value());
        answer const nak = read_answer(*f);
        INFO(nak.raw);
        CHECK(nak.code == "AR");
        CHECK(nak.text.find("size limit") != std::string::npos);
        round_trip(p, unique_id("AFTER-BIG"));
        CHECK_FALSE(r.was_delivered(big_id));
    });
}

TEST_CASE("slow loris, one byte per record (frame timeout)", "[hostile][tls]")
{
    auto s = tls_settings();
    s.server.frame_timeout = 1s;
    run(std::move(s), [](in_process_receiver& r) {
        tls_peer p(r.port());
        p.handshake();
        std::string const text = framed(message_text(unique_id("LORIS")));
        auto const start = clock::now();
        bool closed = false;
        // One record of one byte every 100 ms: each record is whole, so
        // only the frame timeout (from the frame's first byte) can end it.
        for (std::size_t i = 0; i + 2 < text.size() && clock::now() - start < 30s; ++i) {
            try {
                p.write(text.substr(i, 1), 1);
            } catch (std::exception const&) {
                closed = true;
                break;
            }
            if (p.wait_end(100ms) != raw_peer::end_state::open) {
                closed = true;
                break;
            }
        }
        CHECK(closed);
        CHECK(clock::now() - start >= 500ms);
        CHECK(eventually([&] { return r.saw_event(hl7::mllp::error::frame_timeout); }));
    });
}

TEST_CASE("idle timeout after the handshake", "[hostile][tls]")
{
    auto s = tls_settings();
    s.server.idle_timeout = 1s;
    run(std::move(s), [](in_process_receiver& r) {
        tls_peer quiet(r.port());
        quiet.handshake();
        auto const start = clock::now();
        CHECK(quiet.wait_end(40s) != raw_peer::end_state::open);
        CHECK(clock::now() - start >= 500ms);
        CHECK(eventually([&] { return r.saw_event(hl7::mllp::error::idle_timeout); }));
    });
}

TEST_CASE("a client that never reads its ACKs (write timeout)", "[hostile][tls]")
{
    auto s = tls_settings();
    s.server.write_timeout = 2s;
    run(std::move(s), [](in_process_receiver& r) {
        rss_watch watch(::getpid());
        tls_peer p(r.port(), 4096);
        p.handshake();
        std::string batch;
        for (int i = 0; i < 64; ++i)
            batch += framed(message_text(unique_id("NOREAD")));
        // Encrypted batch after batch until the receiver stops taking them
        // (back-pressure) and its write timeout closes the connection.
        std::string wire = p.seal(batch);
        std::string_view rest = wire;
        std::size_t sent = 0;
        auto const start = clock::now();
        try {
            while (clock::now() - start < 60s && sent < (std::size_t{256} << 20)) {
                std::size_t const n = p.tcp().send_some(rest, 1500ms);
                sent += n;
                rest.remove_prefix(n);
                if (rest.empty()) {
                    wire = p.seal(batch);
                    rest = wire;
                }
            }
        } catch (peer_closed const&) {
        }
        INFO("sent " << sent << " bytes without reading an answer");
        CHECK(eventually([&] { return r.saw_event(hl7::mllp::error::write_timeout); }, 60s));
        CHECK(r.max_write_buffer() <= (std::size_t{1} << 20));
        CHECK(p.tcp().wait_end(60s) != raw_peer::end_state::open);
        check_rss_growth(watch, std::size_t{64} << 20);
    });
}

TEST_CASE("max_connections counts handshaking connections", "[hostile][tls]")
{
    auto s = tls_settings();
    s.server.max_connections = 4;
    run(std::move(s), [](in_process_receiver& r) {
        std::vector<tls_peer> served;
        for (int i = 0; i < 2; ++i) {
            served.emplace_back(r.port());
            served.back().handshake();
            round_trip(served.back(), unique_id("SLOT"));
        }
        // Two more that never start their handshake: they take the last two
        // slots (accepted in order, before the next one).
        std::vector<tls_peer> handshaking;
        for (int i = 0; i < 2; ++i)
            handshaking.emplace_back(r.port());
        // One too many: closed before any handshake answer.
        {
            tls_peer extra(r.port());
            bool refused = false;
            try {
                extra.handshake(0, 30s);
            } catch (std::exception const&) {
                refused = true;
            }
            CHECK(refused);
        }
        CHECK(eventually([&] { return r.refused_count() >= 1; }));
        CHECK(eventually([&] { return r.saw_event(hl7::mllp::error::connection_limit); }));
        for (auto& p : served)
            round_trip(p, unique_id("SLOT-AGAIN"));
        // A handshake slot given up is a slot for a new client.
        handshaking.pop_back();
        CHECK(eventually([&] {
            try {
                tls_peer p(r.port());
                p.handshake(0, 5s);
                p.write(framed(message_text(unique_id("SLOT-NEW"))));
                auto f = p.read_frame(5s);
                return f && read_answer(*f).code == "AA";
            } catch (std::exception const&) {
                return false;
            }
        }, 30s));
        served.clear();
        handshaking.clear();
    });
}

TEST_CASE("a flood of unfinished handshakes within the connection limit", "[hostile][tls]")
{
    auto s = tls_settings(2s);
    s.server.max_connections = 512;
    run(std::move(s), [](in_process_receiver& r) {
        rss_watch watch(::getpid());
        std::vector<tls_peer> flood;
        for (int i = 0; i < 300; ++i) {
            flood.emplace_back(r.port());
            std::string const hello = flood.back().client_hello();
            flood.back().tcp().send_all(std::string_view(hello).substr(0, hello.size() - 1));
        }
        // Served while the flood holds its slots.
        expect_fresh_ack(r.port());
        for (auto& p : flood)
            CHECK(p.tcp().wait_end(40s) != raw_peer::end_state::open);
        CHECK(eventually([&] { return r.saw_event(hl7::tls::error::handshake_timeout); }));
        check_rss_growth(watch, std::size_t{64} << 20);
    });
}
