// libFuzzer target: batches and files (parse_hl7, parse_batch, parse_file).
//
// Input: options byte, then the text. Whatever parses must serialise to text
// that parses to the same thing again (a fixed point), and CR-terminated
// input without blank lines must come back byte for byte.

#include <hl7/parser/batch.hpp>

#include "hl7_fuzz_support.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <variant>

namespace {

using hl7_fuzz::canonical;
using hl7_fuzz::printable;

hl7::parse_options
relaxed(hl7::parse_options o)
{
    // Serialising may add one final CR.
    o.max_message_size += 1;
    return o;
}

std::size_t
count_messages(hl7::file const& f)
{
    std::size_t n = 0;
    for (auto const& b : f)
        n += b.size();
    return n;
}

template<class T>
void
check_round_trip(std::string_view text, T const& parsed, hl7::parse_options const& opts,
                 T (*reparse)(std::string_view, std::error_code&, hl7::parse_options const&))
{
    std::string const s1 = hl7::to_string(parsed);
    if (canonical(text, opts))
        HL7_FUZZ_CHECK(s1 == text, printable(text) + "\n=> " + printable(s1));
    std::error_code ec;
    T const again = reparse(s1, ec, relaxed(opts));
    HL7_FUZZ_CHECK(!ec, ec.message() + " re-parsing " + printable(s1) + "\nfrom " + printable(text));
    HL7_FUZZ_CHECK(hl7::to_string(again) == s1, printable(s1));
    HL7_FUZZ_CHECK(again.size() == parsed.size(), printable(s1));
}

hl7::batch
reparse_batch(std::string_view t, std::error_code& ec, hl7::parse_options const& o)
{
    return hl7::parse_batch(t, ec, o);
}

hl7::file
reparse_file(std::string_view t, std::error_code& ec, hl7::parse_options const& o)
{
    return hl7::parse_file(t, ec, o);
}

} // namespace

extern "C" int
LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size)
{
    if (size == 0)
        return 0;
    hl7::parse_options const opts = hl7_fuzz::options_from_byte(data[0]);
    std::string_view const text(reinterpret_cast<char const*>(data) + 1, size - 1);

    // The cursory classifiers never fail.
    (void)hl7::ishl7(text);
    (void)hl7::isbatch(text);
    (void)hl7::isfile(text);

    std::error_code ec;
    hl7::batch const b = hl7::parse_batch(text, ec, opts);
    if (!ec) {
        check_round_trip<hl7::batch>(text, b, opts, reparse_batch);
        // Every message of a batch is a message on its own.
        for (auto const& m : b) {
            std::error_code mec;
            auto const alone = hl7::parse(hl7::to_string(m), mec, relaxed(opts));
            HL7_FUZZ_CHECK(!mec, mec.message() + ": " + printable(hl7::to_string(m)));
            HL7_FUZZ_CHECK(hl7::to_string(alone) == hl7::to_string(m), printable(hl7::to_string(m)));
        }
    }
    else {
        HL7_FUZZ_CHECK(b.empty() && !b.header && !b.trailer, "failed parse_batch returned content");
        HL7_FUZZ_CHECK(ec.category() == hl7::error_category(), ec.message());
    }

    hl7::file const f = hl7::parse_file(text, ec, opts);
    if (!ec) {
        check_round_trip<hl7::file>(text, f, opts, reparse_file);
        // A batch that parses is also a file with the same text.
        if (b.size() || b.header || b.trailer) {
            std::error_code bec;
            (void)hl7::parse_batch(text, bec, opts);
            if (!bec)
                HL7_FUZZ_CHECK(hl7::to_string(f) == hl7::to_string(b),
                               printable(hl7::to_string(f)) + " vs " + printable(hl7::to_string(b)));
        }
        HL7_FUZZ_CHECK(count_messages(f) <= opts.max_segments, "more messages than segments");
    }
    else {
        HL7_FUZZ_CHECK(f.empty() && !f.header && !f.trailer, "failed parse_file returned content");
    }

    // parse_hl7 picks one of the three and throws only hl7 errors.
    try {
        auto const v = hl7::parse_hl7(text, opts);
        if (auto const* m = std::get_if<hl7::message>(&v)) {
            std::error_code mec;
            auto const again = hl7::parse(hl7::to_string(*m), mec, relaxed(opts));
            HL7_FUZZ_CHECK(!mec, mec.message());
            HL7_FUZZ_CHECK(hl7::to_string(again) == hl7::to_string(*m), "parse_hl7 message round trip");
        }
        else if (auto const* pb = std::get_if<hl7::batch>(&v)) {
            check_round_trip<hl7::batch>(text, *pb, opts, reparse_batch);
        }
        else {
            check_round_trip<hl7::file>(text, std::get<hl7::file>(v), opts, reparse_file);
        }
    }
    catch (hl7::parse_error const&) {
    }
    return 0;
}
