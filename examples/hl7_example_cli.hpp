#ifndef HL7_EXAMPLES_HL7_EXAMPLE_CLI_HPP
#define HL7_EXAMPLES_HL7_EXAMPLE_CLI_HPP

// A small command-line reader for the bundled programs: `--name value`,
// `--name=value` and flags, with errors a user can act on. No dependency
// beyond the standard library.

#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

namespace hl7_example {

/// A command line that cannot be understood; the message says why.
class usage_error : public std::runtime_error
{
public:
    using std::runtime_error::runtime_error;
};

class arguments
{
public:
    arguments(int argc, char** argv) : argc_(argc), argv_(argv) {}

    /// Advances to the next argument; false at the end.
    bool
    next()
    {
        if (++i_ >= argc_)
            return false;
        current_ = argv_[i_];
        value_.reset();
        if (current_.size() > 2 && current_.substr(0, 2) == "--") {
            if (auto eq = current_.find('='); eq != std::string_view::npos) {
                value_ = std::string(current_.substr(eq + 1));
                current_ = current_.substr(0, eq);
            }
        }
        return true;
    }

    std::string_view current() const noexcept { return current_; }

    bool is(std::string_view long_name, std::string_view short_name = {}) const noexcept
    {
        return current_ == long_name || (!short_name.empty() && current_ == short_name);
    }

    /// A flag must not be given a value (`--quiet=yes` is a mistake).
    void
    flag() const
    {
        if (value_)
            throw usage_error(std::string(current_) + " takes no value");
    }

    /// The option's value: after `=` or the next argument.
    std::string
    value()
    {
        if (value_)
            return *value_;
        if (i_ + 1 >= argc_)
            throw usage_error(std::string(current_) + " needs a value");
        return argv_[++i_];
    }

    template<class Int>
    Int
    integer(Int min, Int max = std::numeric_limits<Int>::max())
    {
        std::string const name(current_);
        std::string const text = value();
        Int v{};
        auto const [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
        if (ec != std::errc() || end != text.data() + text.size() || v < min || v > max)
            throw usage_error(name + " wants a whole number from " + std::to_string(min) + " to " +
                              std::to_string(max) + ", not \"" + text + "\"");
        return v;
    }

    /// A byte count, with an optional K/M/G suffix (binary multiples).
    std::size_t
    size()
    {
        std::string const name(current_);
        std::string text = value();
        std::size_t mult = 1;
        if (!text.empty()) {
            switch (text.back()) {
            case 'k': case 'K': mult = std::size_t{1} << 10; break;
            case 'm': case 'M': mult = std::size_t{1} << 20; break;
            case 'g': case 'G': mult = std::size_t{1} << 30; break;
            default: break;
            }
            if (mult != 1)
                text.pop_back();
        }
        std::size_t v{};
        auto const [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
        if (ec != std::errc() || end != text.data() + text.size() || v == 0 ||
            v > std::numeric_limits<std::size_t>::max() / mult)
            throw usage_error(name + " wants a size in bytes (e.g. 65536, 64K, 16M), not \"" + text + "\"");
        return v * mult;
    }

    /// Seconds, possibly fractional ("2.5"); 0 is allowed (it usually means "off").
    std::chrono::steady_clock::duration
    seconds()
    {
        std::string const name(current_);
        std::string const text = value();
        double v = 0;
        std::size_t used = 0;
        try {
            v = std::stod(text, &used);
        }
        catch (std::exception const&) {
            used = 0;
        }
        if (used == 0 || used != text.size() || !(v >= 0) || v > 1e9)
            throw usage_error(name + " wants a number of seconds, not \"" + text + "\"");
        return std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(v));
    }

    /** A duration: a number with a unit, `ms`, `s`, `m`, `h` or `d`
        ("500ms", "90s", "10m", "24h"); a bare number is seconds. 0 is
        allowed (it usually means "off"). */
    std::chrono::milliseconds
    duration()
    {
        std::string const name(current_);
        std::string const text = value();
        std::size_t digits = 0;
        while (digits < text.size() && ((text[digits] >= '0' && text[digits] <= '9') || text[digits] == '.'))
            ++digits;
        std::string_view const unit = std::string_view(text).substr(digits);
        double per_unit = 0; // milliseconds
        if (unit.empty() || unit == "s")
            per_unit = 1e3;
        else if (unit == "ms")
            per_unit = 1;
        else if (unit == "m" || unit == "min")
            per_unit = 60e3;
        else if (unit == "h")
            per_unit = 3600e3;
        else if (unit == "d")
            per_unit = 86400e3;
        double v = -1;
        std::size_t used = 0;
        if (digits > 0 && per_unit > 0) {
            try {
                v = std::stod(text.substr(0, digits), &used);
            }
            catch (std::exception const&) {
                used = 0;
            }
        }
        // Up to ten years: far beyond any window, and no overflow below.
        if (used == 0 || used != digits || !(v >= 0) || v * per_unit > 3.2e11)
            throw usage_error(name + " wants a duration such as 500ms, 90s, 10m, 24h or 7d, not \"" + text + "\"");
        return std::chrono::milliseconds(static_cast<std::int64_t>(v * per_unit + 0.5));
    }

    [[noreturn]] void
    unknown() const
    {
        throw usage_error("unknown option " + std::string(current_));
    }

private:
    int argc_;
    char** argv_;
    int i_ = 0;
    std::string_view current_;
    std::optional<std::string> value_;
};

/// "10 s", "250 ms", "off".
inline std::string
describe_duration(std::chrono::steady_clock::duration d)
{
    using namespace std::chrono;
    if (d <= steady_clock::duration::zero())
        return "off";
    auto const ms = duration_cast<milliseconds>(d).count();
    if (ms % 1000 == 0)
        return std::to_string(ms / 1000) + " s";
    return std::to_string(ms) + " ms";
}

} // namespace hl7_example

#endif
