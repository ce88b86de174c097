// libFuzzer target: locate() on unparsed text agrees with the parsed model.
//
// Input: a path program (a few paths) and message text. For text that
// parses, starts with its header and uses one terminator style throughout
// (locate's documented domain), locate(text, path) must return exactly the
// raw text the view API returns for the same element; on anything else it
// must not crash and must return a view into the text (or an error).

#include <hl7/parser/locate.hpp>
#include <hl7/parser/parse.hpp>

#include "hl7_fuzz_support.hpp"

#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace {

using hl7_fuzz::printable;

bool
header_id(std::string_view s)
{
    return s.substr(0, 3) == "MSH" || s.substr(0, 3) == "BHS" || s.substr(0, 3) == "FHS";
}

// One terminator style: only CR, only LF, or only CRLF.
bool
uniform_terminators(std::string_view t)
{
    bool cr = false, lf = false, crlf = true;
    for (std::size_t i = 0; i < t.size(); ++i) {
        if (t[i] == '\r') {
            cr = true;
            if (i + 1 >= t.size() || t[i + 1] != '\n')
                crlf = false;
        } else if (t[i] == '\n') {
            lf = true;
            if (i == 0 || t[i - 1] != '\r')
                crlf = false;
        }
    }
    return !(cr && lf) || crlf;
}

// The model's raw text for a path, element by element (no reading rules):
// what locate promises.
std::string_view
model_raw(hl7::message const& m, hl7::path const& p, bool& found)
{
    found = false;
    auto const segs = m.segments(p.segment);
    if (p.segment_num == 0 || p.segment_num > segs.size())
        return {};
    found = true;
    auto const seg = segs[p.segment_num - 1];
    auto const field = seg.field(p.field);
    if (p.depth <= 1)
        return field.raw();
    // The segment id, and MSH-1/MSH-2 of a header, are never split: below
    // them only positions 1 read the whole value, anything else is absent
    // (message::raw's rule, and locate's "below a plain value reads empty").
    if (p.field == 0 || (header_id(seg.raw()) && seg.raw().size() > 3 && seg.raw()[3] == m.delimiters().field &&
                            (p.field == 1 || p.field == 2))) {
        bool const first = p.repetition <= 1 && p.component <= 1 && p.subcomponent <= 1;
        return first ? field.raw() : std::string_view();
    }
    auto const rep = field.repetition(p.repetition);
    if (p.depth == 2)
        return rep.raw();
    auto const comp = rep.component(p.component);
    if (p.depth == 3)
        return comp.raw();
    return comp.subcomponent(p.subcomponent).raw();
}

std::string
make_path(FuzzedDataProvider& in, hl7::message const* m)
{
    if (in.ConsumeIntegralInRange(0, 9) == 0)
        return in.ConsumeRandomLengthString(20);
    std::string p;
    if (m && !m->empty() && in.ConsumeBool())
        p.assign(m->segment_at(in.ConsumeIntegralInRange<std::size_t>(1, m->size())).id().substr(0, 3));
    else
        p = in.ConsumeBool() ? "MSH" : "PID";
    if (auto n = in.ConsumeIntegralInRange(0, 3); n > 1)
        p += std::to_string(n);
    int const depth = in.ConsumeIntegralInRange(1, 4);
    for (int level = 0; level < depth; ++level) {
        p += '.';
        p += std::to_string(in.ConsumeIntegralInRange(level == 0 ? 0 : 1, level == 0 ? 14 : 4));
    }
    return p;
}

} // namespace

extern "C" int
LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size)
{
    FuzzedDataProvider in(data, size);
    std::size_t const paths = in.ConsumeIntegralInRange(1, 6);
    std::vector<std::uint8_t> const program = in.ConsumeBytes<std::uint8_t>(paths * 8);
    std::string const text = in.ConsumeRemainingBytesAsString();

    std::error_code ec;
    hl7::parse_options opts;
    opts.validate_segment_ids = true;
    hl7::message const m = hl7::parse(text, ec, opts);
    bool const comparable = !ec && header_id(text) && uniform_terminators(text);

    FuzzedDataProvider prog(program.data(), program.size());
    for (std::size_t i = 0; i < paths; ++i) {
        std::string const path = make_path(prog, ec ? nullptr : &m);
        std::error_code lec;
        std::string_view const got = hl7::locate(text, path, lec);
        if (!got.empty()) {
            HL7_FUZZ_CHECK(got.data() >= text.data() && got.data() + got.size() <= text.data() + text.size(),
                           "locate returned a view outside its input");
        }
        if (!comparable)
            continue;
        std::error_code pec;
        hl7::path const p = hl7::parse_path(path, pec);
        if (pec || p.depth == 0) {
            HL7_FUZZ_CHECK(lec, "locate accepted an invalid path: " + printable(path));
            continue;
        }
        bool found = false;
        std::string_view const want = model_raw(m, p, found);
        if (!found) {
            HL7_FUZZ_CHECK(lec == hl7::error::segment_not_found,
                           path + ": locate " + (lec ? lec.message() : "found '" + printable(got) + "'") +
                               " where the model has no such segment in " + printable(text));
            continue;
        }
        HL7_FUZZ_CHECK(!lec, path + ": " + lec.message() + " in " + printable(text));
        HL7_FUZZ_CHECK(got == want, path + ": locate '" + printable(got) + "' vs model '" + printable(want) +
                                        "' in " + printable(text));
    }
    return 0;
}
