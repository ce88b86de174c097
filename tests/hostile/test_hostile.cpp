// The hostile-network suite: what a receiver on a hospital network meets,
// over real sockets on 127.0.0.1, against
//   - "in-process": hl7::start_hl7_server running the bundled receiver's
//     handler logic in this process (lets a case look inside: what the
//     application was handed, which limit fired), and
//   - "hl7_receiver": the bundled examples/hl7_receiver program itself.
// After every case a fresh client must still get a correct ACK, and the
// receiver must shut down cleanly.

#include "hl7_hostile_checks.hpp"
#include "hl7_hostile_support.hpp"

#include <hl7/model/ack.hpp>
#include <hl7/parser/parse.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

using namespace hl7_hostile;

namespace {

/// The limits a case sets, for both receivers (server_options / command line).
struct limits
{
    std::chrono::seconds idle_timeout{60};
    std::chrono::seconds frame_timeout{60};
    std::chrono::seconds handler_timeout{60};
    std::chrono::seconds write_timeout{60};
    std::size_t max_connections = 4096;
    std::size_t max_frame_size = std::size_t{1} << 20;
};

in_process_receiver::settings
settings_for(limits const& l)
{
    in_process_receiver::settings s;
    s.server.idle_timeout = l.idle_timeout;
    s.server.frame_timeout = l.frame_timeout;
    s.server.handler_timeout = l.handler_timeout;
    s.server.write_timeout = l.write_timeout;
    s.server.max_connections = l.max_connections;
    s.server.connection.max_frame_size = l.max_frame_size;
    return s;
}

[[maybe_unused]] std::vector<std::string>
flags_for(limits const& l)
{
    return {"--idle-timeout",    std::to_string(l.idle_timeout.count()),
            "--frame-timeout",   std::to_string(l.frame_timeout.count()),
            "--handler-timeout", std::to_string(l.handler_timeout.count()),
            "--write-timeout",   std::to_string(l.write_timeout.count()),
            "--max-connections", std::to_string(l.max_connections),
            "--max-frame-size",  std::to_string(l.max_frame_size)};
}

/// Sends one message on `p` and requires the AA for it.
void
round_trip(raw_peer& p, std::string const& id)
{
    p.send_all(framed(message_text(id)));
    require_aa(p.read_frame(30s), id);
}

/// One message on a new connection; the answer must be AA with our id.
void
expect_fresh_ack(std::uint16_t port)
{
    raw_peer p(port);
    round_trip(p, unique_id("FRESH"));
}

//--------------------------------------------------------------------------
// The cases. `in` is the in-process receiver (nullptr for the program).

void
case_one_byte_at_a_time(std::uint16_t port, in_process_receiver* in)
{
    std::string const id = unique_id("BYTE");
    std::string const bytes = framed(message_text(id));
    raw_peer p(port);
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        p.send_all(bytes.substr(i, 1));
        if (i % 16 == 0)
            std::this_thread::sleep_for(1ms); // let them go out as separate segments
    }
    auto f = p.read_frame(30s);
    REQUIRE(f.has_value());
    CHECK(read_answer(*f).code == "AA");
    CHECK(read_answer(*f).control_id == id);
    if (in)
        CHECK(in->payload_of(id) == message_text(id));
}

void
case_coalesced_frames(std::uint16_t port, in_process_receiver*)
{
    std::vector<std::string> ids;
    std::string burst;
    for (int i = 0; i < 100; ++i) {
        ids.push_back(unique_id("COAL"));
        burst += framed(message_text(ids.back()));
    }
    raw_peer p(port);
    p.send_all(burst);
    for (auto const& id : ids) {
        auto f = p.read_frame(30s);
        REQUIRE(f.has_value());
        answer const a = read_answer(*f);
        REQUIRE(a.code == "AA");
        REQUIRE(a.control_id == id);
    }
}

void
case_junk_between_frames(std::uint16_t port, in_process_receiver* in)
{
    std::string const a = unique_id("JUNK-A"), b = unique_id("JUNK-B");
    raw_peer p(port);
    p.send_all(std::string("\r\n\n") + "garbage \x01\x02\xff\xfe" + "\r\n" + framed(message_text(a)) + "\n\r\n" +
               "HTTP/1.1 200 OK\r\n\r\n" + std::string(3, '\0') + framed(message_text(b)) + "\r\n");
    for (auto const& id : {a, b}) {
        auto f = p.read_frame(30s);
        REQUIRE(f.has_value());
        CHECK(read_answer(*f).code == "AA");
        CHECK(read_answer(*f).control_id == id);
    }
    // Junk gets no answer of its own.
    CHECK_FALSE(p.read_frame(300ms).has_value());
    if (in) {
        auto const counts = in->delivery_counts();
        CHECK(counts.at(a) == 1);
        CHECK(counts.at(b) == 1);
    }
}

void
case_empty_frames(std::uint16_t port, in_process_receiver*)
{
    raw_peer p(port);
    p.send_all(framed(""));
    auto f = p.read_frame(30s);
    REQUIRE(f.has_value());
    answer const nak = read_answer(*f);
    INFO(nak.raw);
    CHECK(nak.code == "AR");
    CHECK(nak.text.find("empty") != std::string::npos);
    // Two more at once, then a real message: the connection is not poisoned.
    std::string const id = unique_id("AFTER-EMPTY");
    p.send_all(framed("") + framed("") + framed(message_text(id)));
    for (int i = 0; i < 2; ++i) {
        auto g = p.read_frame(30s);
        REQUIRE(g.has_value());
        CHECK(read_answer(*g).code == "AR");
    }
    auto h = p.read_frame(30s);
    REQUIRE(h.has_value());
    CHECK(read_answer(*h).code == "AA");
    CHECK(read_answer(*h).control_id == id);
}

void
case_nested_start_blocks(std::uint16_t port, in_process_receiver* in)
{
    std::string const lost = unique_id("NESTED-LOST"), kept = unique_id("NESTED-KEPT");
    std::string const first = message_text(lost);
    raw_peer p(port);
    // A sender gave up half-way through a frame and started again.
    p.send_all(std::string(1, vt) + first.substr(0, first.size() / 2) + framed(message_text(kept)));
    auto f = p.read_frame(30s);
    REQUIRE(f.has_value());
    CHECK(read_answer(*f).code == "AA");
    CHECK(read_answer(*f).control_id == kept);
    // Several start blocks in a row, then a frame.
    std::string const third = unique_id("NESTED-3");
    p.send_all(std::string(3, vt) + framed(message_text(third)));
    auto g = p.read_frame(30s);
    REQUIRE(g.has_value());
    CHECK(read_answer(*g).control_id == third);
    CHECK_FALSE(p.read_frame(300ms).has_value());
    if (in)
        CHECK_FALSE(in->was_delivered(lost)); // an unfinished frame never reaches the application
}

void
case_frames_without_msh(std::uint16_t port, in_process_receiver* in)
{
    raw_peer p(port);
    p.send_all(framed("PID|1||555-44-4444||DOE^JOHN\rOBX|1|NM|GLU||182\r"));
    auto f = p.read_frame(30s);
    REQUIRE(f.has_value());
    answer const nak = read_answer(*f);
    INFO(nak.raw);
    CHECK(nak.code == "AR");
    CHECK(nak.text.find("MSH") != std::string::npos); // names the cause
    // Plain text, a truncated header, and a header with a letter as field
    // separator (which parses but cannot be answered in its own delimiters).
    for (std::string payload : {std::string("hello, world"), std::string("MS"), std::string("MSH"),
                                std::string("MSHM^~\\&MAPPMFACMRCVMRFACM20240101MMADT^A01MID-LETTERMPM2.5\r")}) {
        p.send_all(framed(payload));
        auto g = p.read_frame(30s);
        REQUIRE(g.has_value());
        INFO("payload " << payload << " answer " << g->substr(0, 200));
        CHECK(hl7::parse(*g).has_segment("MSA"));
    }
    std::string const id = unique_id("AFTER-NOMSH");
    round_trip(p, id);
    if (in)
        CHECK(in->delivery_counts().count(id) == 1);
}

void
case_non_utf8(std::uint16_t port, in_process_receiver* in)
{
    raw_peer p(port);
    // ISO-8859-1, invalid UTF-8, a NUL and DEL, in the patient name and in
    // the control id the ACK must echo byte for byte (python-hl7 issue #54).
    std::string const id = "ID-\xe9\xff-" + unique_id("NONUTF8");
    std::string const text = message_text(id, std::string("M\xfcller^J\xf6rg\xff\xfe\xc3\x28\x80") + '\0' + "\x7f");
    p.send_all(framed(text));
    auto f = p.read_frame(30s);
    REQUIRE(f.has_value());
    answer const a = read_answer(*f);
    CHECK(a.code == "AA");
    CHECK(a.control_id == id);
    if (in)
        CHECK(in->payload_of(id) == text); // the application gets the exact bytes
}

void
case_oversized_frame(std::uint16_t port, in_process_receiver* in, std::size_t limit)
{
    std::string const big_id = unique_id("BIG");
    std::string big = message_text(big_id);
    big += "OBX|2|ED|PDF||";
    big.append(limit + 4096, 'A');
    big += "\r";
    raw_peer p(port);
    p.send_all(framed(big), 60s);
    auto f = p.read_frame(30s);
    REQUIRE(f.has_value());
    answer const nak = read_answer(*f);
    INFO(nak.raw);
    CHECK(nak.code == "AR");
    CHECK(nak.text.find("size limit") != std::string::npos);
    std::string const id = unique_id("AFTER-BIG");
    round_trip(p, id);
    if (in)
        CHECK_FALSE(in->was_delivered(big_id));
}

void
case_never_ending_frame(std::uint16_t port, in_process_receiver* in, pid_t pid, std::chrono::seconds frame_timeout)
{
    rss_watch watch(pid);
    raw_peer p(port);
    std::string chunk(1 << 20, 'x');
    chunk[0] = vt; // one start block, then never an end
    std::size_t sent = 0;
    auto const start = clock::now();
    try {
        // 64 MiB against a 1 MiB limit, or until the receiver hangs up.
        for (int i = 0; i < 64 && clock::now() - start < frame_timeout / 2; ++i) {
            sent += p.send_some(chunk, 5s);
            chunk[0] = 'y';
        }
    } catch (peer_closed const&) {
    }
    std::size_t const growth = watch.finish();
    INFO("sent " << sent << " bytes; peak RSS growth " << growth);
    CHECK(sent >= (std::size_t{8} << 20)); // far past the limit
    CHECK(growth < (std::size_t{48} << 20)); // bounded by the limit, not by what was sent
    // The frame timeout then closes the connection, answering nothing.
    std::size_t frames = 0;
    auto const end = p.wait_end(frame_timeout + 30s, &frames);
    CHECK(end != raw_peer::end_state::open);
    CHECK(frames == 0);
    if (in)
        CHECK(eventually([&] { return in->saw_event(hl7::mllp::error::frame_timeout); }));
}

void
case_slow_loris(std::uint16_t port, in_process_receiver* in, std::chrono::seconds frame_timeout)
{
    raw_peer p(port);
    std::string const text = message_text(unique_id("LORIS"));
    auto const start = clock::now();
    p.send_all(std::string(1, vt));
    bool closed = false;
    std::size_t i = 0;
    // One byte every 100 ms: the frame timeout counts from its first byte.
    while (clock::now() - start < frame_timeout * 10 + 20s) {
        try {
            p.send_all(text.substr(i % text.size(), 1), 1s);
        } catch (std::exception const&) {
            closed = true;
            break;
        }
        ++i;
        if (p.wait_end(100ms) != raw_peer::end_state::open) {
            closed = true;
            break;
        }
    }
    auto const elapsed = clock::now() - start;
    CHECK(closed);
    CHECK(elapsed >= frame_timeout / 2); // not before the limit
    if (in)
        CHECK(eventually([&] { return in->saw_event(hl7::mllp::error::frame_timeout); }));
}

void
case_half_close(std::uint16_t port, in_process_receiver* in)
{
    {
        // Mid-frame: the partial frame is dropped, the receiver closes too.
        std::string const id = unique_id("HALF-MID");
        std::string const text = message_text(id);
        raw_peer p(port);
        p.send_all(std::string(1, vt) + text.substr(0, text.size() / 2));
        p.half_close();
        std::size_t frames = 0;
        CHECK(p.wait_end(30s, &frames) != raw_peer::end_state::open);
        CHECK(frames == 0);
        if (in)
            CHECK_FALSE(in->was_delivered(id));
    }
    {
        // After a whole frame: it is still answered before the receiver closes.
        std::string const id = unique_id("HALF-AFTER");
        raw_peer p(port);
        p.send_all(framed(message_text(id)));
        p.half_close();
        auto f = p.read_frame(30s);
        REQUIRE(f.has_value());
        CHECK(read_answer(*f).code == "AA");
        CHECK(read_answer(*f).control_id == id);
        CHECK(p.wait_end(30s) == raw_peer::end_state::eof);
    }
}

void
case_reset(std::uint16_t port, in_process_receiver* in)
{
    std::string const mid = unique_id("RST-MID");
    {
        std::string const text = message_text(mid);
        raw_peer p(port);
        p.send_all(std::string(1, vt) + text.substr(0, text.size() / 2));
        std::this_thread::sleep_for(50ms);
        p.reset();
    }
    {
        // Connect and reset at once, and reset right after a whole frame.
        raw_peer q(port);
        q.reset();
        raw_peer r(port);
        r.send_all(framed(message_text(unique_id("RST-AFTER"))));
        r.reset();
    }
    expect_fresh_ack(port);
    if (in) {
        CHECK_FALSE(in->was_delivered(mid));
        CHECK(eventually([&] { return in->connection_count() == 0; }));
    }
}

void
case_idle_connections(std::uint16_t port, in_process_receiver* in, std::size_t wanted)
{
    // Two descriptors per connection in-process, plus slack.
    std::size_t const limit = raise_fd_limit(2 * wanted + 256);
    std::size_t const n = std::min(wanted, (limit - 128) / (in ? 2 : 1));
    INFO("idle connections: " << n << " (RLIMIT_NOFILE " << limit << ")");
    REQUIRE(n >= 300); // hundreds, at the very least
    std::vector<raw_peer> idle;
    idle.reserve(n);
    for (std::size_t i = 0; i < n; ++i)
        idle.emplace_back(port);
    if (in)
        CHECK(eventually([&] { return in->connection_count() >= n; }, 60s));
    // New clients are served while they are all open...
    expect_fresh_ack(port);
    expect_fresh_ack(port);
    // ...and so are the idle ones, whenever they speak.
    for (std::size_t i = 0; i < n; i += 97)
        round_trip(idle[i], unique_id("IDLE"));
    idle.clear();
    if (in)
        CHECK(eventually([&] { return in->connection_count() == 0; }, 60s));
}

/// Sends messages without ever reading the answers until the receiver
/// closes the connection (peer_closed) or 60 s have passed; returns the
/// bytes sent. A pause is no proof that the receiver stopped reading: one
/// slowed by a sanitizer on a busy machine may only be behind, with its
/// ACKs still fitting in the socket buffers (the test then saw no write
/// timeout), so the flood goes on until the receiver's write timeout ends it.
std::size_t
flood_without_reading(raw_peer& p)
{
    std::string batch;
    for (int i = 0; i < 64; ++i)
        batch += framed(message_text(unique_id("NOREAD")));
    std::string_view rest = batch; // never resend a frame's beginning after a partial send
    std::size_t sent = 0;
    auto const start = clock::now();
    while (clock::now() - start < 60s && sent < (std::size_t{256} << 20)) {
        std::size_t const n = p.send_some(rest, 1500ms);
        sent += n;
        rest.remove_prefix(n);
        if (rest.empty())
            rest = batch;
    }
    return sent;
}

void
case_never_reads(std::uint16_t port, in_process_receiver* in, external_receiver* ext, pid_t pid)
{
    rss_watch watch(pid);
    raw_peer p(port, 4096);
    std::size_t sent = 0;
    try {
        sent = flood_without_reading(p);
    } catch (peer_closed const&) {
    }
    INFO("sent " << sent << " bytes without reading an answer");
    // Back-pressure: the receiver stops reading, and the write timeout then
    // closes the connection.
    if (in) {
        CHECK(eventually([&] { return in->saw_event(hl7::mllp::error::write_timeout); }, 60s));
        CHECK(in->max_write_buffer() <= (std::size_t{1} << 20));
    }
    if (ext)
        CHECK(eventually([&] { return ext->log().find("write timeout") != std::string::npos; }, 60s));
    CHECK(p.wait_end(60s) != raw_peer::end_state::open);
    check_rss_growth(watch, std::size_t{64} << 20);
}

void
case_burst(std::uint16_t port, in_process_receiver* in)
{
    constexpr int threads = 8, per_thread = 40;
    std::atomic<int> acked{0};
    std::atomic<int> failed{0};
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t) {
        ts.emplace_back([&, t] {
            try {
                std::vector<raw_peer> peers;
                std::vector<std::string> ids;
                for (int i = 0; i < per_thread; ++i) {
                    peers.emplace_back(port);
                    ids.push_back("BURST-" + std::to_string(t) + "-" + std::to_string(i));
                    peers.back().send_all(framed(message_text(ids.back())));
                }
                for (int i = 0; i < per_thread; ++i) {
                    auto f = peers[static_cast<std::size_t>(i)].read_frame(60s);
                    answer const a = f ? read_answer(*f) : answer{};
                    if (a.code == "AA" && a.control_id == ids[static_cast<std::size_t>(i)])
                        ++acked;
                    else
                        ++failed;
                }
            } catch (std::exception const&) {
                ++failed;
            }
        });
    }
    for (auto& t : ts)
        t.join();
    CHECK(failed == 0);
    CHECK(acked == threads * per_thread);
    if (in)
        CHECK(eventually([&] { return in->connection_count() == 0; }, 60s));
}

void
case_max_connections(std::uint16_t port, in_process_receiver* in, std::size_t max)
{
    std::vector<raw_peer> peers;
    for (std::size_t i = 0; i < max; ++i) {
        peers.emplace_back(port);
        round_trip(peers.back(), unique_id("SLOT"));
    }
    // One too many: accepted and closed at once, answering nothing.
    {
        raw_peer extra(port);
        try {
            extra.send_all(framed(message_text(unique_id("EXTRA"))), 5s);
        } catch (peer_closed const&) {
        }
        std::size_t frames = 0;
        CHECK(extra.wait_end(30s, &frames) != raw_peer::end_state::open);
        CHECK(frames == 0);
    }
    if (in) {
        // (counted just after the socket is closed, so allow a moment)
        CHECK(eventually([&] { return in->refused_count() >= 1; }));
        CHECK(eventually([&] { return in->saw_event(hl7::mllp::error::connection_limit); }));
    }
    // The existing ones are not affected.
    for (auto& p : peers)
        round_trip(p, unique_id("SLOT-AGAIN"));
    // A slot freed is a slot for a new client (once the close is seen).
    peers.pop_back();
    CHECK(eventually([&] {
        try {
            raw_peer p(port);
            p.send_all(framed(message_text(unique_id("SLOT-NEW"))), 5s);
            auto f = p.read_frame(2s);
            return f && read_answer(*f).code == "AA";
        } catch (std::exception const&) {
            return false;
        }
    }, 30s));
    peers.clear();
    // expect_fresh_ack() after the case needs the slots back.
    if (in)
        CHECK(eventually([&] { return in->connection_count() == 0; }));
    else
        std::this_thread::sleep_for(200ms);
}

void
case_idle_timeout(std::uint16_t port, in_process_receiver* in, std::chrono::seconds idle)
{
    raw_peer quiet(port);
    raw_peer busy(port);
    auto const start = clock::now();
    // The busy one talks more often than the limit and is never closed.
    while (clock::now() - start < idle * 5 / 2) {
        round_trip(busy, unique_id("BUSY"));
        std::this_thread::sleep_for(idle / 4);
    }
    auto const end = quiet.wait_end(idle + 30s);
    CHECK(end != raw_peer::end_state::open);
    CHECK(clock::now() - start >= idle / 2);
    round_trip(busy, unique_id("BUSY-LAST"));
    if (in)
        CHECK(eventually([&] { return in->saw_event(hl7::mllp::error::idle_timeout); }));
}

void
case_handler_timeout(std::uint16_t port, in_process_receiver* in, std::chrono::seconds limit)
{
    raw_peer p(port);
    auto const start = clock::now();
    p.send_all(framed(message_text("HANG-FOREVER")));
    std::size_t frames = 0;
    CHECK(p.wait_end(limit + 30s, &frames) != raw_peer::end_state::open);
    CHECK(frames == 0);
    CHECK(clock::now() - start >= limit / 2);
    CHECK(eventually([&] { return in->saw_event(hl7::mllp::error::handler_timeout); }));
    // The stuck handler was cancelled and finished: nothing leaks.
    CHECK(eventually([&] { return in->connection_count() == 0; }));
    CHECK(eventually([&] { return in->handlers_finished() >= 1; }));
}

void
case_write_queue_limit(std::uint16_t port, in_process_receiver* in, std::size_t max_queue)
{
    raw_peer p(port, 4096);
    try {
        (void)flood_without_reading(p);
    } catch (peer_closed const&) {
    }
    CHECK(eventually([&] { return in->saw_event(hl7::mllp::error::write_queue_full); }, 60s));
    // A write that would exceed the limit is refused, so the queue never
    // holds more than the limit (plus the one frame that may open it).
    CHECK(in->max_write_buffer() <= max_queue + 1024);
    CHECK(p.wait_end(60s) != raw_peer::end_state::open);
}

//--------------------------------------------------------------------------
// Running a case against each receiver

template<class Case>
void
in_process(limits const& l, Case&& run_case)
{
    (void)raise_fd_limit(8192);
    in_process_receiver r(settings_for(l));
    run_case(r.port(), &r);
    expect_fresh_ack(r.port());
    CHECK(r.shutdown());
}

#ifdef HL7_RECEIVER_PATH
template<class Case>
void
program(limits const& l, Case&& run_case)
{
    (void)raise_fd_limit(8192); // inherited by the receiver
    external_receiver r(HL7_RECEIVER_PATH, flags_for(l));
    run_case(r);
    REQUIRE(r.alive());
    expect_fresh_ack(r.port());
    int const rc = r.stop();
    INFO("receiver log:\n" << r.log().substr(0, 8000));
    CHECK(rc == 0); // SIGTERM: a clean stop
}
#endif

} // namespace

// One test case per receiver and hostile behaviour.
#ifdef HL7_RECEIVER_PATH
#define HL7_HOSTILE_CASE(title, lim, body)                                                                     \
    TEST_CASE("in-process: " title, "[hostile]")                                                              \
    {                                                                                                          \
        in_process(lim, [&](std::uint16_t port, in_process_receiver* in) {                                     \
            [[maybe_unused]] pid_t const pid = ::getpid();                                                     \
            [[maybe_unused]] external_receiver* ext = nullptr;                                                 \
            body;                                                                                              \
        });                                                                                                    \
    }                                                                                                          \
    TEST_CASE("hl7_receiver: " title, "[hostile][receiver]")                                                   \
    {                                                                                                          \
        program(lim, [&](external_receiver& r) {                                                               \
            [[maybe_unused]] std::uint16_t const port = r.port();                                              \
            [[maybe_unused]] in_process_receiver* in = nullptr;                                                \
            [[maybe_unused]] pid_t const pid = r.pid();                                                        \
            [[maybe_unused]] external_receiver* ext = &r;                                                      \
            body;                                                                                              \
        });                                                                                                    \
    }
#else
#define HL7_HOSTILE_CASE(title, lim, body)                                                                     \
    TEST_CASE("in-process: " title, "[hostile]")                                                              \
    {                                                                                                          \
        in_process(lim, [&](std::uint16_t port, in_process_receiver* in) {                                     \
            [[maybe_unused]] pid_t const pid = ::getpid();                                                     \
            [[maybe_unused]] external_receiver* ext = nullptr;                                                 \
            body;                                                                                              \
        });                                                                                                    \
    }
#endif

HL7_HOSTILE_CASE("one byte at a time", limits{}, case_one_byte_at_a_time(port, in))
HL7_HOSTILE_CASE("coalesced frames", limits{}, case_coalesced_frames(port, in))
HL7_HOSTILE_CASE("junk and stray newlines between frames", limits{}, case_junk_between_frames(port, in))
HL7_HOSTILE_CASE("empty frames", limits{}, case_empty_frames(port, in))
HL7_HOSTILE_CASE("nested start blocks", limits{}, case_nested_start_blocks(port, in))
HL7_HOSTILE_CASE("frames with no MSH", limits{}, case_frames_without_msh(port, in))
HL7_HOSTILE_CASE("non-UTF-8 bytes", limits{}, case_non_utf8(port, in))
HL7_HOSTILE_CASE("frame over the size limit", limits{}, case_oversized_frame(port, in, limits{}.max_frame_size))
HL7_HOSTILE_CASE("a frame that never ends (size limit and frame timeout)",
                 (limits{.frame_timeout = std::chrono::seconds(4)}),
                 case_never_ending_frame(port, in, pid, std::chrono::seconds(4)))
HL7_HOSTILE_CASE("slow loris (frame timeout)", (limits{.frame_timeout = std::chrono::seconds(1)}),
                 case_slow_loris(port, in, std::chrono::seconds(1)))
HL7_HOSTILE_CASE("peers that half-close", limits{}, case_half_close(port, in))
HL7_HOSTILE_CASE("peers that reset (SO_LINGER 0)", limits{}, case_reset(port, in))
HL7_HOSTILE_CASE("a thousand idle connections", limits{}, case_idle_connections(port, in, 1000))
HL7_HOSTILE_CASE("a client that never reads its ACKs (write timeout)",
                 (limits{.write_timeout = std::chrono::seconds(2)}), case_never_reads(port, in, ext, pid))
HL7_HOSTILE_CASE("a burst of concurrent connections", limits{}, case_burst(port, in))
HL7_HOSTILE_CASE("max_connections crossed", (limits{.max_connections = 5}), case_max_connections(port, in, 5))
HL7_HOSTILE_CASE("idle timeout", (limits{.idle_timeout = std::chrono::seconds(1)}),
                 case_idle_timeout(port, in, std::chrono::seconds(1)))

// Only the in-process receiver can be made to hang or to skip drain().
TEST_CASE("in-process: handler timeout", "[hostile]")
{
    in_process(limits{.handler_timeout = std::chrono::seconds(1)},
               [](std::uint16_t port, in_process_receiver* in) { case_handler_timeout(port, in, 1s); });
}

TEST_CASE("in-process: write queue limit for a handler that never drains", "[hostile]")
{
    auto s = settings_for(limits{});
    s.drain = false;
    s.server.max_write_queue = 32 * 1024;
    in_process_receiver r(s);
    case_write_queue_limit(r.port(), &r, s.server.max_write_queue);
    expect_fresh_ack(r.port());
    CHECK(r.shutdown());
}

TEST_CASE("in-process: shutdown with hostile peers still connected", "[hostile]")
{
    in_process_receiver r(settings_for(limits{}));
    raw_peer idle(r.port());
    raw_peer mid_frame(r.port());
    mid_frame.send_all(std::string(1, vt) + "MSH|^~\\&|HALF");
    raw_peer no_reader(r.port(), 4096);
    no_reader.send_all(framed(message_text(unique_id("SHUTDOWN"))));
    expect_fresh_ack(r.port());
    // close() ends them all and wait_closed() completes.
    CHECK(r.shutdown(30s));
    CHECK(idle.wait_end(30s) != raw_peer::end_state::open);
    CHECK(mid_frame.wait_end(30s) != raw_peer::end_state::open);
}
