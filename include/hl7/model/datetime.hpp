#ifndef HL7_DATETIME_HPP
#define HL7_DATETIME_HPP

/** @file
    HL7 v2 DTM / TS values: `YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ]`.

    Follows python-hl7's `parse_datetime` (precision kept, `±HHMM` offsets)
    but is strict where python-hl7 is lenient:

    - The whole string must match (python-hl7 matches a prefix, so
      `"20140311XYZ"` is 2014-03-11 and `"2014-03-11"` is 2014-01-01).
    - Only 4, 6, 8, 10, 12 or 14 digits, then 1 to 4 fraction digits after
      SS (python-hl7 silently drops the last digit of a 13-digit value and
      takes any number of fraction digits).
    - An offset is a sign and exactly four digits; `-0030` is 30 minutes
      *behind* UTC (python-hl7 0.4.5 gets the sign wrong for `-00MM`).
      Offsets are limited to -1200 .. +1400 with minutes below 60.
    - Ranges: month 1-12, day valid for the month (leap years included),
      hour 0-23, minute 0-59, second 0-59. A leap second (60) is rejected,
      as python-hl7 does and as std::chrono's system clock cannot hold it.
      Year 0000 is rejected (python's datetime starts at year 1).
    - No surrounding whitespace is accepted.
    - Empty input: an empty HL7 field means "no value". The error_code
      overload returns `std::nullopt` and clears the error code (python-hl7
      returns `None`); the throwing overload, which must return a value,
      throws `hl7::datetime_error` with `hl7::error::invalid_datetime`.
*/

#include <hl7/model/error.hpp>

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace hl7 {

/** A broken-down HL7 date/time with the precision it was written with.

    Fields below the precision hold their defaults (month and day 1, the
    rest 0), as python-hl7's `datetime` does. `utc_offset_minutes` is the
    `±ZZZZ` suffix in minutes east of UTC (`-0500` is -300), absent for a
    value written without one.
*/
struct datetime
{
    /// The last component present in the text.
    enum class precision_t { year, month, day, hour, minute, second, fraction };

    int year = 1970;
    int month = 1;
    int day = 1;
    int hour = 0;
    int minute = 0;
    int second = 0;
    int microsecond = 0;
    precision_t precision = precision_t::second;
    /// Digits after the decimal point (1-4) when `precision == fraction`, else 0.
    int fraction_digits = 0;
    std::optional<int> utc_offset_minutes;

    /** The instant this value denotes: the offset is subtracted, and a
        value without offset is taken as UTC. */
    std::chrono::sys_time<std::chrono::microseconds>
    to_sys_time() const
    {
        using namespace std::chrono;
        sys_days const date{std::chrono::year{year} / std::chrono::month{static_cast<unsigned>(month)} /
                            std::chrono::day{static_cast<unsigned>(day)}};
        sys_time<microseconds> t = date;
        t += hours{hour} + minutes{minute} + seconds{second} + microseconds{microsecond};
        if (utc_offset_minutes)
            t -= minutes{*utc_offset_minutes};
        return t;
    }

    /** The UTC date/time of `t`, written with `precision` (4 fraction
        digits for `precision_t::fraction`), without an offset. */
    static datetime
    from_sys_time(std::chrono::sys_time<std::chrono::microseconds> t,
                  precision_t precision = precision_t::second)
    {
        using namespace std::chrono;
        auto const days = floor<std::chrono::days>(t);
        year_month_day const ymd{days};
        hh_mm_ss<microseconds> const hms{t - days};
        datetime d;
        d.year = static_cast<int>(ymd.year());
        d.month = static_cast<int>(static_cast<unsigned>(ymd.month()));
        d.day = static_cast<int>(static_cast<unsigned>(ymd.day()));
        d.hour = static_cast<int>(hms.hours().count());
        d.minute = static_cast<int>(hms.minutes().count());
        d.second = static_cast<int>(hms.seconds().count());
        d.microsecond = static_cast<int>(hms.subseconds().count());
        d.precision = precision;
        d.fraction_digits = precision == precision_t::fraction ? 4 : 0;
        // Keep the value consistent with what it claims to hold.
        if (precision < precision_t::fraction)
            d.microsecond = 0;
        else
            d.microsecond -= d.microsecond % 100;
        if (precision < precision_t::second)
            d.second = 0;
        if (precision < precision_t::minute)
            d.minute = 0;
        if (precision < precision_t::hour)
            d.hour = 0;
        if (precision < precision_t::day)
            d.day = 1;
        if (precision < precision_t::month)
            d.month = 1;
        return d;
    }

    friend bool operator==(datetime const&, datetime const&) = default;
};

namespace detail {

inline bool
datetime_digits(std::string_view s, std::size_t pos, std::size_t n, int& out) noexcept
{
    if (pos + n > s.size())
        return false;
    int v = 0;
    for (std::size_t i = pos; i < pos + n; ++i) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    out = v;
    return true;
}

inline int
datetime_days_in_month(int year, int month) noexcept
{
    static constexpr int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool const leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return month == 2 && leap ? 29 : days[month - 1];
}

/// Parses non-empty `s`; false when it is not a valid DTM.
inline bool
datetime_parse(std::string_view s, datetime& d) noexcept
{
    using p = datetime::precision_t;
    std::size_t ndigits = 0;
    while (ndigits < s.size() && s[ndigits] >= '0' && s[ndigits] <= '9')
        ++ndigits;
    switch (ndigits) {
    case 4: d.precision = p::year; break;
    case 6: d.precision = p::month; break;
    case 8: d.precision = p::day; break;
    case 10: d.precision = p::hour; break;
    case 12: d.precision = p::minute; break;
    case 14: d.precision = p::second; break;
    default: return false;
    }
    datetime_digits(s, 0, 4, d.year);
    if (ndigits >= 6)
        datetime_digits(s, 4, 2, d.month);
    if (ndigits >= 8)
        datetime_digits(s, 6, 2, d.day);
    if (ndigits >= 10)
        datetime_digits(s, 8, 2, d.hour);
    if (ndigits >= 12)
        datetime_digits(s, 10, 2, d.minute);
    if (ndigits >= 14)
        datetime_digits(s, 12, 2, d.second);

    std::size_t pos = ndigits;
    if (ndigits == 14 && pos < s.size() && s[pos] == '.') {
        ++pos;
        std::size_t n = 0;
        int frac = 0;
        while (pos + n < s.size() && s[pos + n] >= '0' && s[pos + n] <= '9' && n < 5) {
            frac = frac * 10 + (s[pos + n] - '0');
            ++n;
        }
        if (n < 1 || n > 4)
            return false;
        d.precision = p::fraction;
        d.fraction_digits = static_cast<int>(n);
        for (std::size_t i = n; i < 6; ++i)
            frac *= 10;
        d.microsecond = frac;
        pos += n;
    }
    if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
        bool const negative = s[pos] == '-';
        int hh = 0;
        int mm = 0;
        if (s.size() - pos != 5 || !datetime_digits(s, pos + 1, 2, hh) || !datetime_digits(s, pos + 3, 2, mm))
            return false;
        if (mm > 59)
            return false;
        int const total = (negative ? -1 : 1) * (hh * 60 + mm);
        if (total < -12 * 60 || total > 14 * 60)
            return false;
        d.utc_offset_minutes = total;
        pos = s.size();
    }
    if (pos != s.size())
        return false;

    if (d.year < 1 || d.month < 1 || d.month > 12)
        return false;
    if (d.day < 1 || d.day > datetime_days_in_month(d.year, d.month))
        return false;
    return d.hour <= 23 && d.minute <= 59 && d.second <= 59;
}

inline void
datetime_put(std::string& out, int value, int width)
{
    char buf[12];
    int n = 0;
    bool const negative = value < 0;
    unsigned v = negative ? 0u - static_cast<unsigned>(value) : static_cast<unsigned>(value);
    do {
        buf[n++] = static_cast<char>('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (n < width)
        buf[n++] = '0';
    if (negative)
        out += '-';
    while (n > 0)
        out += buf[--n];
}

} // namespace detail

/** Parses an HL7 DTM/TS value (see the file comment for the grammar).

    @par Errors
    Sets `ec` to `hl7::error::invalid_datetime` and returns `std::nullopt`
    for malformed input. Empty input returns `std::nullopt` with `ec`
    cleared: an empty field holds no date.
*/
inline std::optional<datetime>
parse_datetime(std::string_view value, std::error_code& ec) noexcept
{
    ec.clear();
    if (value.empty())
        return std::nullopt;
    datetime d;
    d.fraction_digits = 0;
    d.microsecond = 0;
    if (!detail::datetime_parse(value, d)) {
        ec = make_error_code(error::invalid_datetime);
        return std::nullopt;
    }
    return d;
}

/** Parses an HL7 DTM/TS value.

    @par Errors
    Throws `hl7::datetime_error` (code `hl7::error::invalid_datetime`,
    naming the value) for malformed input, including empty input.
*/
inline datetime
parse_datetime(std::string_view value)
{
    std::error_code ec;
    auto d = parse_datetime(value, ec);
    if (!d)
        throw datetime_error(make_error_code(error::invalid_datetime), std::string(value));
    return *d;
}

/** Writes `d` as HL7 DTM text with its precision (and offset, if any), so
    `format_datetime(parse_datetime(s)) == s` for every valid `s` except
    that `-0000` is written `+0000`. Values are written as they are, not
    validated; a `fraction` precision with `fraction_digits` outside 1-4
    writes 4 digits. */
inline std::string
format_datetime(datetime const& d)
{
    using p = datetime::precision_t;
    std::string out;
    out.reserve(24);
    detail::datetime_put(out, d.year, 4);
    if (d.precision >= p::month)
        detail::datetime_put(out, d.month, 2);
    if (d.precision >= p::day)
        detail::datetime_put(out, d.day, 2);
    if (d.precision >= p::hour)
        detail::datetime_put(out, d.hour, 2);
    if (d.precision >= p::minute)
        detail::datetime_put(out, d.minute, 2);
    if (d.precision >= p::second)
        detail::datetime_put(out, d.second, 2);
    if (d.precision >= p::fraction) {
        int const digits = d.fraction_digits >= 1 && d.fraction_digits <= 4 ? d.fraction_digits : 4;
        int scaled = d.microsecond;
        for (int i = digits; i < 6; ++i)
            scaled /= 10;
        out += '.';
        detail::datetime_put(out, scaled, digits);
    }
    if (d.utc_offset_minutes) {
        int const m = *d.utc_offset_minutes;
        out += m < 0 ? '-' : '+';
        int const a = m < 0 ? -m : m;
        detail::datetime_put(out, a / 60, 2);
        detail::datetime_put(out, a % 60, 2);
    }
    return out;
}

/** `tp` as `YYYYMMDDHHMMSS` in UTC (fractions truncated), the form
    python-hl7 writes into an ACK's MSH-7. */
inline std::string
format_timestamp(std::chrono::system_clock::time_point tp)
{
    using namespace std::chrono;
    return format_datetime(datetime::from_sys_time(floor<microseconds>(tp), datetime::precision_t::second));
}

} // namespace hl7

#endif
