// libFuzzer target: reading and editing a parsed message by path.
//
// Input: options byte, a message (or, when it does not parse, a fixed
// sample), then a program of operations (get/raw/set/set_escaped/insert/
// remove/extract/assign) with paths built from the input. After every
// operation the message must still serialise to text that re-parses to the
// same segments, and every successful write must read back.

#include <hl7/model/message.hpp>
#include <hl7/parser/parse.hpp>
#include <hl7/model/path.hpp>

#include "hl7_fuzz_support.hpp"

#include <fuzzer/FuzzedDataProvider.h>

#include <cctype>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

namespace {

using hl7_fuzz::printable;

std::string const fallback_sample =
    "MSH|^~\\&|GHH LAB|ELAB-3|GHH OE|BLDG4|200202150930||ORU^R01|CNTRL-3456|P|2.4\r"
    "PID|||555-44-4444||EVERYWOMAN^EVE^E^^^^L|JONES|19620320|F|||153 FERNWOOD DR.^^STATESVILLE^OH^35292\r"
    "OBR|1|845439^GHH OE|1045813^GHH LAB|1554-5^GLUCOSE|||200202150730\r"
    "OBX|1|SN|1554-5^GLUCOSE^POST 12H CFST:MCNC:PT:SER/PLAS:QN||^182|mg/dl|70_105|H|||F\r"
    "NTE|1||a\\F\\b\\S\\c~second&sub\r";

bool
header_id(std::string_view s)
{
    return s.size() >= 3 && (s.substr(0, 3) == "MSH" || s.substr(0, 3) == "BHS" || s.substr(0, 3) == "FHS");
}

// A path: either raw bytes, or built from a segment the message has.
std::string
make_path(FuzzedDataProvider& in, hl7::message const& m)
{
    if (in.ConsumeIntegralInRange(0, 7) == 0)
        return in.ConsumeRandomLengthString(24);
    std::string p;
    if (!m.empty() && in.ConsumeBool()) {
        auto const seg = m.segment_at(in.ConsumeIntegralInRange<std::size_t>(1, m.size()));
        p.assign(seg.id().substr(0, 3));
    } else {
        static char const* const ids[] = {"MSH", "PID", "OBX", "ZZZ", "BHS", "nte", "NTE", "OBR"};
        p = ids[in.ConsumeIntegralInRange(0, 7)];
    }
    if (auto n = in.ConsumeIntegralInRange(0, 4); n > 1)
        p += std::to_string(n);
    int const depth = in.ConsumeIntegralInRange(0, 4);
    static constexpr char prefixes[4] = {'F', 'R', 'C', 'S'};
    for (int level = 0; level < depth; ++level) {
        p += '.';
        if (in.ConsumeIntegralInRange(0, 3) == 0)
            p += prefixes[level];
        p += std::to_string(in.ConsumeIntegralInRange(level == 0 ? 0 : 1, level == 0 ? 14 : 4));
    }
    return p;
}

bool
structural(std::string_view v, hl7::separators const& s)
{
    for (char c : v)
        if (c == s.field || c == s.component || c == s.repetition || c == s.subcomponent || c == '\r' ||
            c == '\n')
            return true;
    return false;
}

void
check_invariants(hl7::message const& m, hl7::parse_options const& opts)
{
    std::string const s = hl7::to_string(m);
    std::size_t crs = 0;
    for (char c : s)
        crs += c == '\r';
    HL7_FUZZ_CHECK(crs == m.size(), "one CR per segment: " + printable(s));
    if (m.empty())
        return;
    // Only a message whose first segment still declares the delimiters in
    // use can be re-parsed to the same thing.
    auto const first = m.segment_at(1).raw();
    if (!header_id(first) || first.size() < 4 || first[3] != m.delimiters().field)
        return;
    std::string_view const declared = m.segment_at(1).field(2).raw();
    hl7::separators seen = m.delimiters();
    std::string_view const dflt = "^~\\&";
    seen.component = declared.size() > 0 ? declared[0] : dflt[0];
    seen.repetition = declared.size() > 1 ? declared[1] : dflt[1];
    seen.escape = declared.size() > 2 ? declared[2] : dflt[2];
    seen.subcomponent = declared.size() > 3 ? declared[3] : dflt[3];
    if (!(seen == m.delimiters()))
        return;
    hl7::parse_options re = opts;
    re.max_message_size = std::size_t{1} << 30;
    re.max_segments = std::size_t{1} << 30;
    re.max_fields = std::size_t{1} << 30;
    std::error_code ec;
    hl7::message const m2 = hl7::parse(s, ec, re);
    HL7_FUZZ_CHECK(!ec, ec.message() + " re-parsing " + printable(s));
    HL7_FUZZ_CHECK(m2.size() == m.size(), printable(s));
    HL7_FUZZ_CHECK(hl7::to_string(m2) == s, printable(s));
    for (std::size_t i = 1; i <= m.size(); ++i) {
        HL7_FUZZ_CHECK(m.segment_at(i).raw() == m2.segment_at(i).raw(), printable(m.segment_at(i).raw()));
        HL7_FUZZ_CHECK(m.segment_at(i).size() == m2.segment_at(i).size(), printable(m.segment_at(i).raw()));
    }
}

// get and raw agree with each other and with their throwing forms.
void
check_read(hl7::message const& m, std::string const& path)
{
    std::error_code ec1, ec2;
    std::string const g = m.get(path, ec1);
    std::string_view const r = m.raw(path, ec2);
    HL7_FUZZ_CHECK(ec1 == ec2, path);
    if (ec1) {
        HL7_FUZZ_CHECK(g.empty() && r.empty(), path);
        bool threw = false;
        try {
            (void)m.get(path);
        }
        catch (hl7::path_error const& e) {
            threw = e.code() == ec1;
        }
        HL7_FUZZ_CHECK(threw, path);
        return;
    }
    HL7_FUZZ_CHECK(m[path] == g, path);
    hl7::path const p = hl7::parse_path(path);
    bool const raw_only = header_id(p.segment) && (p.field == 1 || p.field == 2);
    if (!raw_only)
        HL7_FUZZ_CHECK(g == m.unescape(r), path + ": " + printable(g) + " vs " + printable(r));
    // extract_field with the same numbers reads the same value (field 0 is
    // "not given" there and reads field 1, as python-hl7's `field_num or 1`).
    if (p.depth >= 1 && p.field != 0) {
        std::string const e = m.extract_field(p.segment, p.segment_num, p.field, p.repetition, p.component,
                                              p.subcomponent);
        HL7_FUZZ_CHECK(e == g, path + ": extract_field " + printable(e) + " vs get " + printable(g));
    }
}

} // namespace

extern "C" int
LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size)
{
    FuzzedDataProvider in(data, size);
    hl7::parse_options opts = hl7_fuzz::options_from_byte(in.ConsumeIntegral<std::uint8_t>());
    opts.max_segments = 100'000;
    opts.max_fields = 10'000;
    opts.max_message_size = 1 << 20;
    std::string const text = in.ConsumeRandomLengthString(2048);
    std::error_code ec;
    hl7::message m = hl7::parse(text, ec, opts);
    if (ec) {
        // With strict terminators an LF is data: keep one in the sample.
        std::string sample = fallback_sample;
        if (opts.strict_terminators)
            sample += "NTE|2||line one\nline two\r";
        hl7::parse_options sample_opts;
        sample_opts.strict_terminators = opts.strict_terminators;
        m = hl7::parse(sample, sample_opts);
    }
    check_invariants(m, opts);

    for (int ops = 0; in.remaining_bytes() > 0 && ops < 48; ++ops) {
        std::string const path = make_path(in, m);
        switch (in.ConsumeIntegralInRange(0, 10)) {
        case 0:
        case 1:
            check_read(m, path);
            break;
        case 2: {
            // Sometimes long, so edits pile up enough dead text to make the
            // message compact itself.
            std::string value = in.ConsumeRandomLengthString(32);
            if (in.ConsumeIntegralInRange(0, 3) == 0) {
                std::string const unit = value.empty() ? std::string("x") : value;
                while (value.size() < 600)
                    value += unit;
            }
            try {
                m.set(path, value);
            }
            catch (hl7::path_error const&) {
                break;
            }
            if (!structural(value, m.delimiters())) {
                std::string_view const back = m.raw(path);
                HL7_FUZZ_CHECK(back == value, "set " + path + " = " + printable(value) + ", raw reads " +
                                                  printable(back) + " in " + printable(hl7::to_string(m)));
            }
            break;
        }
        case 3: {
            std::string const value = in.ConsumeRandomLengthString(32);
            try {
                m.set_escaped(path, value);
            }
            catch (hl7::path_error const&) {
                break;
            }
            if (hl7_fuzz::escape_safe(m.delimiters())) {
                std::string const back = m.get(path);
                HL7_FUZZ_CHECK(back == value, "set_escaped " + path + " = " + printable(value) + ", get reads " +
                                                  printable(back) + " in " + printable(hl7::to_string(m)));
            }
            break;
        }
        case 4: {
            std::string const seg = in.ConsumeRandomLengthString(40);
            std::size_t const pos = in.ConsumeIntegralInRange<std::size_t>(0, m.size() + 2);
            std::size_t const before = m.size();
            try {
                m.insert_segment(pos, seg);
                HL7_FUZZ_CHECK(m.size() == before + 1, "insert did not add one segment");
            }
            catch (hl7::path_error const&) {
                HL7_FUZZ_CHECK(m.size() == before, "failed insert changed the size");
            }
            catch (hl7::parse_error const&) {
                HL7_FUZZ_CHECK(m.size() == before, "failed insert changed the size");
            }
            break;
        }
        case 5: {
            std::size_t const pos = in.ConsumeIntegralInRange<std::size_t>(0, m.size() + 1);
            std::size_t const before = m.size();
            try {
                m.remove_segment(pos);
                HL7_FUZZ_CHECK(m.size() == before - 1, "remove did not remove one segment");
            }
            catch (hl7::path_error const&) {
                HL7_FUZZ_CHECK(pos == 0 || pos > before, "remove of an existing position failed");
            }
            break;
        }
        case 6: {
            std::string const id = path.substr(0, 3);
            std::size_t const had = m.segments(id).size();
            std::size_t const removed = m.remove_segments(id);
            HL7_FUZZ_CHECK(removed == had && !m.has_segment(id), id);
            break;
        }
        case 7: {
            std::string const seg = in.ConsumeRandomLengthString(40);
            std::size_t const before = m.size();
            try {
                m.append_segment(seg);
                HL7_FUZZ_CHECK(m.size() == before + 1, "append did not add one segment");
            }
            catch (hl7::parse_error const&) {
                HL7_FUZZ_CHECK(m.size() == before, "failed append changed the size");
            }
            break;
        }
        case 8: {
            std::string const value = in.ConsumeRandomLengthString(16);
            std::size_t n[5];
            for (auto& x : n)
                x = in.ConsumeIntegralInRange<std::size_t>(0, 5);
            try {
                m.assign_field(value, path.substr(0, 3), n[0], n[1], n[2], n[3], n[4]);
            }
            catch (hl7::path_error const&) {
            }
            break;
        }
        case 9: {
            // Iteration and segment lookup agree.
            std::size_t count = 0;
            for (auto seg : m) {
                ++count;
                HL7_FUZZ_CHECK(m.has_segment(seg.id()), printable(seg.id()));
            }
            HL7_FUZZ_CHECK(count == m.size(), "iteration count");
            auto const id = path.substr(0, 3);
            auto const all = m.segments(id);
            for (std::size_t i = 0; i < all.size(); ++i)
                HL7_FUZZ_CHECK(m.segment(id, i + 1).position() == all[i].position(), id);
            break;
        }
        default: {
            hl7::message copy = m;
            m = std::move(copy);
            break;
        }
        }
        check_invariants(m, opts);
    }
    return 0;
}
