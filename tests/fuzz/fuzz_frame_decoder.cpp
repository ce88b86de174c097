// libFuzzer target: the sans-I/O MLLP frame decoder.
//
// Input: a header (size limit, junk policy), a byte stream, and a chunking
// program. The stream is fed to hl7::mllp::frame_decoder in the chunks the
// program says, through put() and through prepare()/commit(); the events it
// reports must equal those of a straightforward reference decoder run over
// the whole stream (written from the documented behaviour), and the memory
// the decoder holds must stay bounded by the size limit plus one read.

#include <hl7/mllp/frame_decoder.hpp>

#include "hl7_fuzz_support.hpp"

#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace {

using hl7::mllp::error;
using hl7::mllp::framing;
using hl7_fuzz::printable;

struct event
{
    std::string text; // payload, or partial bytes for incomplete_frame
    std::error_code ec;

    bool operator==(event const&) const = default;
};

std::string
show(std::vector<event> const& events)
{
    std::string out;
    for (auto const& e : events)
        out += "  " + (e.ec ? e.ec.message() : std::string("payload")) + " '" + printable(e.text, 80) + "'\n";
    return out;
}

/// The decoder's counters, as the reference computes them.
struct counters
{
    std::uint64_t skipped = 0;   // lenient: bytes outside frames
    std::uint64_t restarted = 0; // lenient: frames abandoned for a new VT
    std::uint64_t started = 0;   // frames (strict: blocks) begun

    bool operator==(counters const&) const = default;
};

/** The reference: MLLP decoding of a complete stream, as documented in
    frame_decoder.hpp, with no buffering concerns at all. */
std::vector<event>
reference_decode(std::string_view s, std::size_t max, framing policy, counters& n)
{
    constexpr char vt = hl7::mllp::start_block, fs = hl7::mllp::end_block, cr = hl7::mllp::carriage_return;
    std::vector<event> out;
    auto err = [&](error e, std::string partial = {}) { out.push_back({std::move(partial), make_error_code(e)}); };
    std::size_t i = 0;
    bool const lenient = policy == framing::lenient;
    for (;;) {
        // Between frames.
        if (lenient) {
            std::size_t const v = s.find(vt, i);
            if (v == std::string_view::npos) {
                n.skipped += s.size() - i;
                break;
            }
            n.skipped += v - i;
            i = v;
        } else if (i == s.size()) {
            break;
        }
        // A frame (strict: a block) starting at `start`.
        ++n.started;
        std::size_t start = i;
        std::size_t j = start + (lenient ? 1 : 0);
        bool ended = false;
        while (j < s.size()) {
            if (lenient && s[j] == vt) {
                // The sender started again. An unfinished frame already over
                // the limit is reported; a smaller one is dropped silently.
                if (j - start - 1 > max)
                    err(error::frame_too_large);
                ++n.restarted;
                ++n.started;
                start = j;
                ++j;
                continue;
            }
            if (s[j] == fs && j + 1 < s.size() && s[j + 1] == cr) {
                if (!lenient && (j == start || s[start] != vt))
                    err(error::invalid_block);
                else if (j - start - 1 > max)
                    err(error::frame_too_large);
                else
                    out.push_back({std::string(s.substr(start + 1, j - start - 1)), {}});
                i = j + 2;
                ended = true;
                break;
            }
            ++j;
        }
        if (!ended) {
            // The input ended inside the frame. Bytes certainly payload: all
            // but the VT and a final FS (which might have been a trailer).
            std::size_t held = s.size() - start;
            if (s.back() == fs && s.size() - 1 > start)
                --held;
            bool const over = held > 1 && held - 1 > max;
            err(error::incomplete_frame, over ? std::string() : std::string(s.substr(start)));
            err(error::end_of_stream);
            return out;
        }
    }
    err(error::end_of_stream);
    return out;
}

// Takes every event the decoder has now; true once end_of_stream is seen.
bool
drain(hl7::mllp::frame_decoder& d, std::vector<event>& out)
{
    for (int guard = 0; guard < 100000; ++guard) {
        std::error_code ec;
        auto p = d.next(ec);
        if (p) {
            HL7_FUZZ_CHECK(!ec, "payload with an error");
            HL7_FUZZ_CHECK(p->size() <= d.max_frame_size(), "payload over the limit");
            out.push_back({std::string(*p), {}});
            continue;
        }
        if (!ec)
            return false;
        HL7_FUZZ_CHECK(ec.category() == hl7::mllp::error_category(), ec.message());
        out.push_back({ec == error::incomplete_frame ? std::string(d.partial()) : std::string(), ec});
        if (ec == error::end_of_stream)
            return true;
    }
    HL7_FUZZ_CHECK(false, "decoder never asked for more input");
}

} // namespace

extern "C" int
LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size)
{
    FuzzedDataProvider in(data, size);
    std::size_t const max = in.ConsumeIntegralInRange<std::size_t>(0, 64);
    framing const policy = in.ConsumeBool() ? framing::strict : framing::lenient;
    std::size_t const stream_size = in.ConsumeIntegralInRange<std::size_t>(0, in.remaining_bytes());
    std::string const stream = in.ConsumeBytesAsString(stream_size);
    // What is left is the chunking program.

    hl7::mllp::frame_decoder d(max, policy);
    std::vector<event> got;
    std::size_t largest_request = 0;
    std::size_t pos = 0;
    while (pos < stream.size()) {
        std::size_t const want = in.remaining_bytes() ? in.ConsumeIntegralInRange<std::size_t>(1, 80) : stream.size();
        std::size_t const n = std::min(want, stream.size() - pos);
        switch (in.remaining_bytes() ? in.ConsumeIntegralInRange(0, 2) : 0) {
        case 0:
            d.put(std::string_view(stream).substr(pos, n));
            largest_request = std::max(largest_request, n);
            pos += n;
            break;
        case 1: {
            // Read straight into the decoder's buffer.
            auto space = d.prepare(n);
            HL7_FUZZ_CHECK(space.size() >= n, "prepare gave less than asked");
            largest_request = std::max(largest_request, n);
            std::memcpy(space.data(), stream.data() + pos, n);
            d.commit(n);
            pos += n;
            break;
        }
        default: {
            // A read of whatever size the socket delivered into prepare(0).
            auto space = d.prepare();
            HL7_FUZZ_CHECK(space.size() >= hl7::mllp::frame_decoder::default_read_size, "prepare() too small");
            largest_request = std::max(largest_request, hl7::mllp::frame_decoder::default_read_size);
            std::size_t const k = std::min(n, space.size());
            std::memcpy(space.data(), stream.data() + pos, k);
            d.commit(k);
            pos += k;
            break;
        }
        }
        HL7_FUZZ_CHECK(!drain(d, got), "end_of_stream before the end");
        // Memory: at most one frame plus one read.
        HL7_FUZZ_CHECK(d.buffered() <= max + 3, "buffered " + std::to_string(d.buffered()));
        HL7_FUZZ_CHECK(d.capacity() <= max + 3 + largest_request,
                       "capacity " + std::to_string(d.capacity()) + " for limit " + std::to_string(max) +
                           " and reads of " + std::to_string(largest_request));
    }
    d.put_eof();
    HL7_FUZZ_CHECK(drain(d, got), "no end_of_stream after EOF");
    // The end is sticky.
    std::error_code ec;
    HL7_FUZZ_CHECK(!d.next(ec) && ec == error::end_of_stream, "end_of_stream is not sticky");

    counters want_n;
    auto const want = reference_decode(stream, max, policy, want_n);
    std::string const what = "stream '" + printable(stream) + "' limit " + std::to_string(max) +
                             (policy == framing::strict ? " strict" : " lenient");
    HL7_FUZZ_CHECK(got == want, what + "\ndecoder:\n" + show(got) + "reference:\n" + show(want));
    counters const got_n{d.skipped_bytes(), d.restarted_frames(), d.frames_started()};
    HL7_FUZZ_CHECK(got_n == want_n, what + "\ncounters (skipped, restarted, started): decoder " +
                                        std::to_string(got_n.skipped) + ", " + std::to_string(got_n.restarted) +
                                        ", " + std::to_string(got_n.started) + "; reference " +
                                        std::to_string(want_n.skipped) + ", " + std::to_string(want_n.restarted) +
                                        ", " + std::to_string(want_n.started));
    return 0;
}
