#ifndef HL7_TESTS_BENCH_HL7_BENCH_COMMON_HPP
#define HL7_TESTS_BENCH_HL7_BENCH_COMMON_HPP

// Small helpers shared by the benchmark programs: corpus loading, timing
// (best of several repetitions), running the python-hl7 reference scripts
// and printing aligned result lines. Not part of the library.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

// Where the inputs are; CMake defines these, the defaults suit a run by hand
// from the benchmark's build directory.
#ifndef HL7_BENCH_CORPUS
#define HL7_BENCH_CORPUS "corpus.hl7"
#endif
#ifndef HL7_BENCH_BIG_CORPUS
#define HL7_BENCH_BIG_CORPUS "big.hl7"
#endif
#ifndef HL7_BENCH_PYTHON
#define HL7_BENCH_PYTHON "/usr/bin/python3"
#endif
#ifndef HL7_BENCH_SCRIPT_DIR
#define HL7_BENCH_SCRIPT_DIR "."
#endif

namespace hl7_bench {

using clock = std::chrono::steady_clock;

inline double
seconds_since(clock::time_point t0)
{
    return std::chrono::duration<double>(clock::now() - t0).count();
}

/// A corpus written by corpus.py --format records: one message per line,
/// each message's segments ended by CR. The views exclude the LF.
struct corpus
{
    std::string data;
    std::vector<std::string_view> messages;
    std::size_t bytes = 0; // sum of message sizes (without the LFs)
};

inline corpus
load_records(std::string const& path)
{
    corpus c;
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw std::runtime_error("cannot open corpus " + path);
    c.data.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    std::string_view rest(c.data);
    while (!rest.empty()) {
        auto const nl = rest.find('\n');
        auto const line = rest.substr(0, nl);
        if (!line.empty()) {
            c.messages.push_back(line);
            c.bytes += line.size();
        }
        if (nl == std::string_view::npos)
            break;
        rest.remove_prefix(nl + 1);
    }
    if (c.messages.empty())
        throw std::runtime_error("corpus " + path + " holds no messages");
    return c;
}

/// Keeps results alive so the optimiser cannot drop the measured work.
inline volatile std::size_t sink = 0;

struct timing
{
    double best = 0;  // seconds, fastest repetition
    int reps = 0;
};

/** Runs `pass` (one pass over the data) repeatedly: at least `min_reps`
    times and until `min_time` seconds have been spent (at most `max_reps`),
    keeping the fastest pass. Best-of is the figure least disturbed by other
    users of a shared machine. */
inline timing
best_of(std::function<std::size_t()> const& pass, int min_reps, double min_time, int max_reps = 200)
{
    timing t;
    t.best = 1e300;
    auto const start = clock::now();
    while (t.reps < max_reps && (t.reps < min_reps || seconds_since(start) < min_time)) {
        auto const t0 = clock::now();
        sink = sink + pass();
        double const s = seconds_since(t0);
        t.best = std::min(t.best, s);
        ++t.reps;
    }
    return t;
}

inline void
print_header(char const* title)
{
    std::printf("\n%s\n", title);
    std::printf("  %-52s %14s %12s %6s\n", "operation", "messages/s", "MB/s", "reps");
}

inline void
print_rate(std::string const& name, double messages, double bytes, timing const& t, char const* note = "")
{
    std::printf("  %-52s %14.0f %12.1f %6d%s\n", name.c_str(), messages / t.best, bytes / t.best / 1e6, t.reps,
                note);
    std::fflush(stdout);
}

/// The median of `v` (the upper one of an even count); 0 if empty.
inline double
median(std::vector<double> v)
{
    if (v.empty())
        return 0;
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

/// The `pct`th percentile of `sorted` (ascending): the value at index
/// size * pct / 100; 0 if empty.
inline double
percentile_of_sorted(std::vector<double> const& sorted, std::size_t pct)
{
    if (sorted.empty())
        return 0;
    return sorted[std::min(sorted.size() - 1, sorted.size() * pct / 100)];
}

/// "(min-max)" of `v`, rounded to integers; "" if empty.
inline std::string
range_text(std::vector<double> const& v)
{
    if (v.empty())
        return {};
    auto const [lo, hi] = std::minmax_element(v.begin(), v.end());
    char buf[64];
    std::snprintf(buf, sizeof buf, "(%.0f-%.0f)", *lo, *hi);
    return buf;
}

/// Every value of `v`, rounded to integers, space-separated (each round's rate).
inline std::string
every_text(std::vector<double> const& v)
{
    std::string out;
    for (double x : v) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%s%.0f", out.empty() ? "" : " ", x);
        out += buf;
    }
    return out;
}

/// Runs a shell command and returns its standard output.
inline std::string
run_capture(std::string const& command, int& status)
{
    std::string out;
    FILE* p = ::popen(command.c_str(), "r");
    if (!p) {
        status = -1;
        return out;
    }
    char buf[4096];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0)
        out.append(buf, n);
    status = ::pclose(p);
    return out;
}

/// The number after "key": in a flat JSON object; NaN if absent.
inline double
json_number(std::string const& json, std::string const& key)
{
    auto const at = json.find("\"" + key + "\":");
    if (at == std::string::npos)
        return std::numeric_limits<double>::quiet_NaN();
    return std::strtod(json.c_str() + at + key.size() + 3, nullptr);
}

inline std::string
shell_quote(std::string const& s)
{
    std::string out = "'";
    for (char c : s) {
        if (c == '\'')
            out += "'\\''";
        else
            out += c;
    }
    return out + "'";
}

/// --name value command line options with defaults.
class options
{
public:
    options(int argc, char** argv, std::map<std::string, std::string> defaults) : values_(std::move(defaults))
    {
        for (int i = 1; i < argc; ++i) {
            std::string a = argv[i];
            if (a == "-h" || a == "--help") {
                help_ = true;
                continue;
            }
            if (a.rfind("--", 0) != 0 || i + 1 >= argc || !values_.count(a.substr(2)))
                throw std::runtime_error("unknown or incomplete option " + a);
            values_[a.substr(2)] = argv[++i];
        }
    }
    bool help() const { return help_; }
    std::string str(std::string const& k) const { return values_.at(k); }
    double num(std::string const& k) const { return std::stod(values_.at(k)); }
    void usage(char const* prog) const
    {
        std::printf("usage: %s [options]\n", prog);
        for (auto const& [k, v] : values_)
            std::printf("  --%-18s (default: %s)\n", k.c_str(), v.c_str());
    }

private:
    std::map<std::string, std::string> values_;
    bool help_ = false;
};

} // namespace hl7_bench

#endif
