// hl7_bench_parse: parse, read, locate and serialise a corpus of realistic
// HL7 v2 messages and print messages/s and MB/s per operation, next to two
// machine ceilings (memchr for CR, a byte-table scan) and python-hl7's
// hl7.parse on the same bytes. Exits non-zero only when a result is wrong
// (round trip, locate vs the model), never because of speed.

#include <hl7/parser/parse.hpp>
#include <hl7/parser/locate.hpp>
#include <hl7/model/message.hpp>

#include "hl7_bench_common.hpp"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>


namespace {

using namespace hl7_bench;

int failures = 0;

void
fail(std::string const& what)
{
    std::printf("FAIL: %s\n", what.c_str());
    ++failures;
}

struct settings
{
    int reps;
    double min_time;
    std::string python;
    double python_budget;
};

struct python_result
{
    bool ok = false;
    double msgs_per_s = 0;
    double mb_per_s = 0;
    std::string version;
};

python_result
run_python_parse(settings const& s, std::string const& corpus_path)
{
    python_result r;
    if (s.python.empty() || s.python == "none")
        return r;
    std::string const cmd = shell_quote(s.python) + " " + shell_quote(std::string(HL7_BENCH_SCRIPT_DIR) + "/python_parse.py") +
                            " " + shell_quote(corpus_path) + " --reps 3 --budget " + std::to_string(s.python_budget);
    int status = 0;
    std::string const out = run_capture(cmd, status);
    r.msgs_per_s = json_number(out, "msgs_per_s");
    r.mb_per_s = json_number(out, "mb_per_s");
    r.ok = status == 0 && std::isfinite(r.msgs_per_s) && r.msgs_per_s > 0;
    if (!r.ok)
        std::printf("  (python-hl7 reference failed to run: status %d, output: %s)\n", status, out.c_str());
    return r;
}

// The bytes the parser's delimiter scan reports with the default delimiters
// (| ^ ~ & CR LF), for the byte-table ceiling.
struct plain_table
{
    unsigned char cls[256] = {};
    plain_table()
    {
        for (unsigned char c : std::string_view("|^~&\r\n"))
            cls[c] = 1;
    }
};

#if defined(__SSE2__)
// Counts the bytes the parser's scan reports (| ^ ~ & CR LF) 16 at a time
// with SSE2 compares and no work per delimiter: the ceiling of the parser's
// own 16-byte scan (simdjson's stage 1 idea), next to the byte-at-a-time table.
std::size_t
sse2_count_delimiters(std::string_view m) noexcept
{
    std::size_t n = 0;
    std::size_t i = 0;
    __m128i const f = _mm_set1_epi8('|'), c = _mm_set1_epi8('^'), r = _mm_set1_epi8('~'), sub = _mm_set1_epi8('&'),
                  cr = _mm_set1_epi8('\r'), lf = _mm_set1_epi8('\n');
    for (; i + 16 <= m.size(); i += 16) {
        __m128i const b = _mm_loadu_si128(reinterpret_cast<__m128i const*>(m.data() + i));
        __m128i const hit = _mm_or_si128(
            _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(b, f), _mm_cmpeq_epi8(b, c)),
                         _mm_or_si128(_mm_cmpeq_epi8(b, r), _mm_cmpeq_epi8(b, sub))),
            _mm_or_si128(_mm_cmpeq_epi8(b, cr), _mm_cmpeq_epi8(b, lf)));
        n += static_cast<std::size_t>(__builtin_popcount(static_cast<unsigned>(_mm_movemask_epi8(hit))));
    }
    for (; i < m.size(); ++i) {
        char const ch = m[i];
        n += ch == '|' || ch == '^' || ch == '~' || ch == '&' || ch == '\r' || ch == '\n';
    }
    return n;
}
#endif

/// Functional checks: these make the ctest test fail, not the figures.
void
check_corpus(corpus const& c, std::vector<hl7::message> const& parsed)
{
    std::size_t bad_round_trip = 0, bad_locate = 0;
    for (std::size_t i = 0; i < c.messages.size(); ++i) {
        auto const text = c.messages[i];
        auto const& m = parsed[i];
        if (hl7::to_string(m) != text && bad_round_trip++ < 3)
            fail("round trip differs for message " + std::to_string(i + 1));
        std::error_code ec;
        auto const id = hl7::locate(text, "MSH.10", ec);
        if (ec || id != m.segment("MSH").field(10).raw() || id.empty()) {
            if (bad_locate++ < 3)
                fail("locate(MSH.10) differs from the model for message " + std::to_string(i + 1));
        }
        if (m.has_segment("PID")) {
            auto const pid3 = hl7::locate(text, "PID.3", ec);
            if (ec || pid3 != m.segment("PID").field(3).raw()) {
                if (bad_locate++ < 3)
                    fail("locate(PID.3) differs from the model for message " + std::to_string(i + 1));
            }
        }
        hl7::locate(text, "ZZZ.1", ec);
        if (ec != hl7::error::segment_not_found && bad_locate++ < 3)
            fail("locate(ZZZ.1) did not report segment_not_found for message " + std::to_string(i + 1));
    }
}

struct figures
{
    double parse_mb = 0, parse_into_mb = 0, locate_msh10_mb = 0, locate_pid3_mb = 0, locate_absent_mb = 0,
           serialize_mb = 0, memchr_mb = 0, table_mb = 0, parse_msgs = 0, parse_into_msgs = 0;
};

figures
run_corpus(char const* title, corpus const& c, settings const& s, std::string const& corpus_path, bool full)
{
    figures f;
    double const nmsg = static_cast<double>(c.messages.size());
    double const nbytes = static_cast<double>(c.bytes);
    std::printf("\n== %s: %zu messages, %.2f MB (mean %.0f bytes/message)\n", title, c.messages.size(), nbytes / 1e6,
                nbytes / nmsg);

    // Parse everything once up front: the views below need messages, and the
    // checks need the model.
    std::vector<hl7::message> parsed;
    parsed.reserve(c.messages.size());
    for (auto m : c.messages)
        parsed.push_back(hl7::parse(m));
    check_corpus(c, parsed);

    auto rate = [&](timing const& t) { return nbytes / t.best / 1e6; };

    print_header("machine ceilings (same bytes, no model)");
    {
        auto t = best_of(
            [&] {
                std::size_t n = 0;
                for (auto m : c.messages) {
                    char const* p = m.data();
                    char const* const e = p + m.size();
                    while (p < e) {
                        auto const* hit = static_cast<char const*>(std::memchr(p, '\r', static_cast<std::size_t>(e - p)));
                        if (!hit)
                            break;
                        ++n;
                        p = hit + 1;
                    }
                }
                return n;
            },
            s.reps, s.min_time);
        f.memchr_mb = rate(t);
        print_rate("memchr for CR (segment count)", nmsg, nbytes, t);
    }
    {
        static plain_table const table;
        auto t = best_of(
            [&] {
                std::size_t n = 0;
                for (auto m : c.messages)
                    for (unsigned char ch : m)
                        n += table.cls[ch];
                return n;
            },
            s.reps, s.min_time);
        f.table_mb = rate(t);
        print_rate("byte-table scan (count delimiters)", nmsg, nbytes, t);
    }
#if defined(__SSE2__)
    {
        static plain_table const table;
        std::size_t expect = 0;
        for (auto m : c.messages)
            for (unsigned char ch : m)
                expect += table.cls[ch];
        std::size_t got = 0;
        for (auto m : c.messages)
            got += sse2_count_delimiters(m);
        if (got != expect)
            fail("the SSE2 delimiter count differs from the byte table's");
        auto t = best_of(
            [&] {
                std::size_t n = 0;
                for (auto m : c.messages)
                    n += sse2_count_delimiters(m);
                return n;
            },
            s.reps, s.min_time);
        print_rate("SSE2 delimiter scan, 16 bytes a step (count)", nmsg, nbytes, t);
    }
#endif

    print_header("hl7 model");
    {
        auto t = best_of(
            [&] {
                std::size_t n = 0;
                for (auto m : c.messages)
                    n += hl7::parse(m).size();
                return n;
            },
            s.reps, s.min_time);
        f.parse_mb = rate(t);
        f.parse_msgs = nmsg / t.best;
        print_rate("hl7::parse (new message each time)", nmsg, nbytes, t);
    }
    {
        hl7::message reused;
        std::error_code ec;
        auto t = best_of(
            [&] {
                std::size_t n = 0;
                for (auto m : c.messages) {
                    hl7::parse_into(reused, m, ec);
                    n += reused.size() + static_cast<std::size_t>(ec.value());
                }
                return n;
            },
            s.reps, s.min_time);
        f.parse_into_mb = rate(t);
        f.parse_into_msgs = nmsg / t.best;
        print_rate("hl7::parse_into (one reused message)", nmsg, nbytes, t);
    }
    if (full) {
        std::size_t values = 0;
        auto read = [&values](hl7::message const& msg) {
            std::size_t n = 0;
            std::error_code ec;
            n += msg.get("MSH.10", ec).size();
            n += msg.get("PID.3.1", ec).size();
            n += msg.get("PID.5.1.1", ec).size();
            values += 3;
            for (auto const& obx : msg.segments("OBX")) {
                n += obx.field(5).value().size();
                ++values;
            }
            return n;
        };
        auto t = best_of(
            [&] {
                values = 0;
                std::size_t n = 0;
                for (auto const& msg : parsed)
                    n += read(msg);
                return n;
            },
            s.reps, s.min_time);
        char note[96];
        std::snprintf(note, sizeof note, "   (%.1f M values/s, %zu values/pass)", static_cast<double>(values) / t.best / 1e6,
                      values);
        print_rate("read MSH.10, PID.3.1, PID.5.1.1, every OBX-5 (parsed)", nmsg, nbytes, t, note);

        hl7::message reused;
        std::error_code ec;
        auto t2 = best_of(
            [&] {
                std::size_t n = 0;
                for (auto m : c.messages) {
                    hl7::parse_into(reused, m, ec);
                    n += read(reused);
                }
                return n;
            },
            s.reps, s.min_time);
        print_rate("parse_into + the reads above", nmsg, nbytes, t2);
    }

    print_header("locate in unparsed text (MB/s = whole message bytes / time)");
    for (char const* path : {"MSH.10", "PID.3", "ZZZ.1"}) {
        auto t = best_of(
            [&] {
                std::size_t n = 0;
                std::error_code ec;
                for (auto m : c.messages)
                    n += hl7::locate(m, path, ec).size();
                return n;
            },
            s.reps, s.min_time);
        std::string const name = std::string("hl7::locate(text, \"") + path + "\")" +
                                 (std::string_view(path) == "ZZZ.1" ? " absent: whole message" : "");
        print_rate(name, nmsg, nbytes, t);
        double const mb = rate(t);
        if (std::string_view(path) == "MSH.10")
            f.locate_msh10_mb = mb;
        else if (std::string_view(path) == "PID.3")
            f.locate_pid3_mb = mb;
        else
            f.locate_absent_mb = mb;
    }

    print_header("serialise");
    {
        auto t = best_of(
            [&] {
                std::size_t n = 0;
                for (auto const& msg : parsed)
                    n += hl7::to_string(msg).size();
                return n;
            },
            s.reps, s.min_time);
        print_rate("hl7::to_string (new string each time)", nmsg, nbytes, t);
    }
    {
        std::string out;
        auto t = best_of(
            [&] {
                std::size_t n = 0;
                for (auto const& msg : parsed) {
                    out.clear();
                    msg.serialize_to(out);
                    n += out.size();
                }
                return n;
            },
            s.reps, s.min_time);
        f.serialize_mb = rate(t);
        print_rate("serialize_to (reused buffer)", nmsg, nbytes, t);
    }
    if (full) {
        // An edited message is no longer one contiguous text: serialising
        // walks its segments. Rewrite MSH-10 with its own value so the output
        // must still equal the input.
        std::size_t bad = 0;
        for (std::size_t i = 0; i < parsed.size(); ++i) {
            std::string const id(parsed[i].raw("MSH.10"));
            parsed[i].set("MSH.10", id);
            if (hl7::to_string(parsed[i]) != c.messages[i] && bad++ < 3)
                fail("serialising after set(MSH.10, same value) differs for message " + std::to_string(i + 1));
        }
        std::string out;
        auto t = best_of(
            [&] {
                std::size_t n = 0;
                for (auto const& msg : parsed) {
                    out.clear();
                    msg.serialize_to(out);
                    n += out.size();
                }
                return n;
            },
            s.reps, s.min_time);
        print_rate("serialize_to after an edit (segment by segment)", nmsg, nbytes, t);

        auto t2 = best_of(
            [&] {
                std::size_t n = 0;
                for (auto const& msg : parsed) {
                    out.clear();
                    msg.create_ack().serialize_to(out);
                    n += out.size();
                }
                return n;
            },
            s.reps, s.min_time);
        print_rate("create_ack() + serialize_to (MB/s of the originals)", nmsg, nbytes, t2);
    }

    print_header("python-hl7 reference (/usr/bin/python3, hl7.parse on the same messages)");
    auto const py = run_python_parse(s, corpus_path);
    if (py.ok) {
        std::printf("  %-52s %14.0f %12.2f\n", "python-hl7 hl7.parse", py.msgs_per_s, py.mb_per_s);
        std::printf("\n  ratio hl7::parse / python-hl7        : %8.1fx (messages/s)\n", f.parse_msgs / py.msgs_per_s);
        std::printf("  ratio hl7::parse_into / python-hl7   : %8.1fx (messages/s)\n", f.parse_into_msgs / py.msgs_per_s);
    }
    std::printf("\n  targets (issue 2):\n");
    std::printf("    full parse >= 500 MB/s   : parse %.0f, parse_into %.0f MB/s %s\n", f.parse_mb, f.parse_into_mb,
                f.parse_mb >= 500 ? "(met)" : f.parse_into_mb >= 500 ? "(met by parse_into only)" : "(MISSED)");
    std::printf("    locate >= 2000 MB/s      : MSH.10 %.0f, PID.3 %.0f MB/s %s\n", f.locate_msh10_mb, f.locate_pid3_mb,
                std::min(f.locate_msh10_mb, f.locate_pid3_mb) >= 2000 ? "(met)" : "(MISSED)");
    std::printf("    serialise >= parse       : serialize_to %.0f vs parse %.0f MB/s %s\n", f.serialize_mb, f.parse_mb,
                f.serialize_mb >= f.parse_mb ? "(met)" : "(MISSED)");
    std::printf("    ceilings                 : parse is %.0f%% of the byte-table scan, %.1f%% of memchr\n",
                100 * f.parse_mb / f.table_mb, 100 * f.parse_mb / f.memchr_mb);
    return f;
}

} // namespace

int
main(int argc, char** argv)
try {
    options const opt(argc, argv,
                      {{"corpus", HL7_BENCH_CORPUS},
                       {"big", HL7_BENCH_BIG_CORPUS},
                       {"python", HL7_BENCH_PYTHON},
                       {"reps", "5"},
                       {"min-time", "0.5"},
                       {"python-budget", "2"}});
    if (opt.help()) {
        opt.usage(argv[0]);
        std::printf("  --python none skips the python-hl7 reference; --big none skips the 1 MiB messages.\n");
        return 0;
    }
    settings const s{static_cast<int>(opt.num("reps")), opt.num("min-time"), opt.str("python"),
                     opt.num("python-budget")};

    std::printf("hl7_bench_parse: best of >= %d repetitions (and >= %.1f s) per operation; MB = 10^6 bytes\n", s.reps,
                s.min_time);
    auto const c = load_records(opt.str("corpus"));
    run_corpus("corpus", c, s, opt.str("corpus"), true);
    if (opt.str("big") != "none") {
        auto const big = load_records(opt.str("big"));
        run_corpus("1 MiB messages (--big)", big, s, opt.str("big"), false);
    }
    if (failures) {
        std::printf("\n%d functional check(s) FAILED\n", failures);
        return 1;
    }
    std::printf("\nall functional checks passed\n");
    return 0;
}
catch (std::exception const& e) {
    std::fprintf(stderr, "hl7_bench_parse: %s\n", e.what());
    return 2;
}
