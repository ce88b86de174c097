// Regression tests for the bugs the frame decoder fuzzer (tests/fuzz/
// fuzz_frame_decoder.cpp) found, with its reproducers; the same inputs are in
// tests/fuzz/corpus/frame_decoder/regress-*.
#include <hl7/mllp/frame_decoder.hpp>

#include <catch2/catch.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace {

using hl7::mllp::error;
using hl7::mllp::frame_decoder;
using hl7::mllp::framing;

// Every event of a decoder fed `input` in pieces of `step` bytes (0: all at
// once), then EOF: "payload:<bytes>" or the error's name and partial bytes.
std::vector<std::string>
decode(std::string_view input, std::size_t limit, std::size_t step)
{
    frame_decoder d(limit, framing::lenient);
    std::vector<std::string> out;
    auto drain = [&] {
        for (;;) {
            std::error_code ec;
            auto p = d.next(ec);
            if (p) {
                out.push_back("payload:" + std::string(*p));
                continue;
            }
            if (!ec)
                return;
            out.push_back(ec.message() + (ec == error::incomplete_frame ? ":" + std::string(d.partial()) : ""));
            if (ec == error::end_of_stream)
                return;
        }
    };
    if (step == 0)
        step = input.size();
    for (std::size_t i = 0; i < input.size(); i += step) {
        d.put(input.substr(i, step));
        drain();
    }
    d.put_eof();
    drain();
    return out;
}

std::string const too_large = hl7::mllp::make_error_code(error::frame_too_large).message();
std::string const incomplete = hl7::mllp::make_error_code(error::incomplete_frame).message();
std::string const end = hl7::mllp::make_error_code(error::end_of_stream).message();

} // namespace

// Lenient framing: a frame already over the size limit that is abandoned by
// a new start block (VT) was reported as frame_too_large when its bytes came
// in several reads, but dropped silently when they came in one. The decoder's
// documentation promises the report either way; a receiver's NAK must not
// depend on how TCP cut the stream.
TEST_CASE("regression: an oversized frame restarted by VT is reported however the bytes arrive",
          "[regression][mllp][frame_decoder]")
{
    // The fuzzer's reproducer: limit 0, "VT NUL VT", then EOF.
    std::string const tiny("\x0b\x00\x0b", 3);
    std::vector<std::string> const want_tiny = {too_large, incomplete + ":\x0b", end};
    CHECK(decode(tiny, 0, 1) == want_tiny);
    CHECK(decode(tiny, 0, 0) == want_tiny);

    // A realistic one: a sender gives up on a too-large message and starts again.
    std::string const stream = "\x0b" + std::string(100, 'A') + "\x0bMSH|^~\\&|OK\x1c\x0d";
    std::vector<std::string> const want = {too_large, "payload:MSH|^~\\&|OK", end};
    for (std::size_t step : {std::size_t{0}, std::size_t{1}, std::size_t{7}, std::size_t{64}, std::size_t{101}}) {
        INFO("step " << step);
        CHECK(decode(stream, 16, step) == want);
    }
    // Under the limit, a restart stays silent (nothing to report), in any pieces.
    std::string const small = "\x0b" "ABC" "\x0bMSH|^~\\&|OK\x1c\x0d";
    for (std::size_t step : {std::size_t{0}, std::size_t{1}, std::size_t{3}})
        CHECK(decode(small, 16, step) == std::vector<std::string>{"payload:MSH|^~\\&|OK", end});
}
