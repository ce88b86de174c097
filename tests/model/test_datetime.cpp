#include <hl7/model/datetime.hpp>

#include <hl7_python_oracle.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

using precision = hl7::datetime::precision_t;

namespace {

hl7::datetime
dt(std::string_view s)
{
    return hl7::parse_datetime(s);
}

std::error_code
parse_error_of(std::string_view s)
{
    std::error_code ec;
    auto d = hl7::parse_datetime(s, ec);
    CHECK_FALSE(d.has_value());
    return ec;
}

} // namespace

TEST_CASE("parse_datetime: python-hl7 examples and precision", "[datetime]")
{
    // Vectors checked against python-hl7 0.4.5.
    auto d = dt("2014");
    CHECK(d.year == 2014);
    CHECK(d.month == 1);
    CHECK(d.day == 1);
    CHECK(d.precision == precision::year);

    d = dt("201403");
    CHECK((d.year == 2014 && d.month == 3 && d.day == 1));
    CHECK(d.precision == precision::month);

    d = dt("20140311");
    CHECK((d.month == 3 && d.day == 11 && d.hour == 0));
    CHECK(d.precision == precision::day);

    d = dt("2014031114");
    CHECK(d.hour == 14);
    CHECK(d.precision == precision::hour);

    d = dt("201403111412");
    CHECK((d.hour == 14 && d.minute == 12 && d.second == 0));
    CHECK(d.precision == precision::minute);
    CHECK_FALSE(d.utc_offset_minutes.has_value());

    d = dt("20140311141213");
    CHECK(d.second == 13);
    CHECK(d.precision == precision::second);
    CHECK(d.microsecond == 0);

    d = dt("20140311141213.1");
    CHECK(d.microsecond == 100000);
    CHECK(d.precision == precision::fraction);
    CHECK(d.fraction_digits == 1);

    d = dt("20140311141213.1234");
    CHECK(d.microsecond == 123400);
    CHECK(d.fraction_digits == 4);

    d = dt("201403111412-0500");
    REQUIRE(d.utc_offset_minutes.has_value());
    CHECK(*d.utc_offset_minutes == -300);
    CHECK(d.precision == precision::minute);

    d = dt("201403111412+0530");
    CHECK(d.utc_offset_minutes == 330);
}

TEST_CASE("parse_datetime: offsets", "[datetime]")
{
    // python-hl7 0.4.5 reads -0030 as +30 minutes; it is 30 minutes behind UTC.
    CHECK(dt("20140311141213.5-0030").utc_offset_minutes == -30);
    CHECK(dt("20140311141213.5-0030").microsecond == 500000);
    CHECK(dt("2014+0000").utc_offset_minutes == 0);
    CHECK(dt("2014-0000").utc_offset_minutes == 0);
    CHECK(dt("20140311+1400").utc_offset_minutes == 840);
    CHECK(dt("20140311-1200").utc_offset_minutes == -720);
    CHECK(dt("20140311+0545").utc_offset_minutes == 345);
    CHECK(dt("20140311-0930").utc_offset_minutes == -570);
    for (auto s : {"20140311+1401", "20140311-1201", "20140311+1500", "20140311+0060", "20140311+05",
                   "20140311+053", "20140311+05300", "20140311+", "20140311-", "20140311+05:30", "20140311 +0500",
                   "20140311+-0500", "20140311+0500Z", "20140311Z"}) {
        CAPTURE(s);
        CHECK(parse_error_of(s) == hl7::error::invalid_datetime);
    }
}

TEST_CASE("parse_datetime: ranges", "[datetime]")
{
    CHECK(dt("20000229").day == 29); // divisible by 400: leap
    CHECK(dt("20240229").day == 29);
    CHECK(dt("20241231235959.9999").microsecond == 999900);
    CHECK(dt("0001").year == 1);
    CHECK(dt("9999").year == 9999);
    for (auto s : {"20140229", "19000229", "21000229", "20140431", "20140631", "20140931", "20141131", "20140132",
                   "20140100", "20140001", "20141301", "201400", "201413", "2014031124", "201403112360",
                   "20140311235960", "20140311235999", "0000", "00000101"}) {
        CAPTURE(s);
        CHECK(parse_error_of(s) == hl7::error::invalid_datetime);
    }
}

TEST_CASE("parse_datetime: malformed input is an error, not a prefix match", "[datetime]")
{
    // python-hl7 accepts all of these by matching a prefix.
    for (auto s : {"20140311XYZ", "2014-03-11", "2014031", "201403111", "20140311141", "2014031114121",
                   "201403111412131", "20140311141213.", "20140311141213.12345", "20140311141213.1.2",
                   "2014031114.5", "201", "1", "x2014", " 2014", "2014 ", "20140311\r", "+0500", "-", ".", "20140311141213,5", "２０１４"}) {
        CAPTURE(s);
        CHECK(parse_error_of(s) == hl7::error::invalid_datetime);
    }
    CHECK(parse_error_of(std::string_view("2014\0", 5)) == hl7::error::invalid_datetime);
}

TEST_CASE("parse_datetime: empty input", "[datetime]")
{
    std::error_code ec = hl7::make_error_code(hl7::error::invalid_path);
    auto d = hl7::parse_datetime("", ec);
    CHECK_FALSE(d.has_value());
    CHECK_FALSE(ec);
    CHECK_THROWS_AS(hl7::parse_datetime(""), hl7::datetime_error);
}

TEST_CASE("parse_datetime: the throwing overload names the value", "[datetime]")
{
    try {
        (void)hl7::parse_datetime("2014-03-11");
        FAIL("no exception");
    } catch (hl7::datetime_error const& e) {
        CHECK(e.code() == hl7::error::invalid_datetime);
        CHECK(std::string(e.what()).find("2014-03-11") != std::string::npos);
    }
    std::error_code ec;
    auto ok = hl7::parse_datetime("20140311", ec);
    CHECK(ok.has_value());
    CHECK_FALSE(ec);
}

TEST_CASE("format_datetime round-trips the text", "[datetime]")
{
    for (auto s : {"2014", "201403", "20140311", "2014031114", "201403111412", "20140311141213", "20140311141213.1",
                   "20140311141213.12", "20140311141213.123", "20140311141213.1234", "20140311141213.0000",
                   "20140311141213.0500", "201403111412-0500", "201403111412+0530", "20140311141213.5-0030",
                   "2014+0000", "20140311-1200", "20140311+1400", "00010101", "99991231235959.9999+1400"}) {
        CAPTURE(s);
        CHECK(hl7::format_datetime(dt(s)) == s);
    }
    // The one normalisation: a negative zero offset is written as +0000.
    CHECK(hl7::format_datetime(dt("2014-0000")) == "2014+0000");
}

TEST_CASE("format_datetime of a value built by hand", "[datetime]")
{
    hl7::datetime d;
    d.year = 2024;
    d.month = 2;
    d.day = 29;
    d.hour = 7;
    d.minute = 5;
    d.second = 3;
    CHECK(hl7::format_datetime(d) == "20240229070503"); // default precision: seconds
    d.precision = precision::fraction;
    d.microsecond = 123456;
    CHECK(hl7::format_datetime(d) == "20240229070503.1234"); // fraction_digits 0: four digits
    d.fraction_digits = 2;
    CHECK(hl7::format_datetime(d) == "20240229070503.12");
    d.precision = precision::day;
    d.utc_offset_minutes = -90;
    CHECK(hl7::format_datetime(d) == "20240229-0130");
}

TEST_CASE("datetime::to_sys_time applies the offset", "[datetime]")
{
    using namespace std::chrono;
    auto const expected = sys_days{2014y / March / 11} + 19h + 12min;
    CHECK(dt("201403111412-0500").to_sys_time() == expected);
    CHECK(dt("201403120042+0530").to_sys_time() == expected);
    CHECK(dt("201403111912").to_sys_time() == expected); // naive = UTC
    CHECK(dt("201403111912+0000").to_sys_time() == expected);
    CHECK(dt("201403111942-0030").to_sys_time() == expected + 1h);
    CHECK(dt("20140311191213.0042").to_sys_time() == expected + 13s + 4200us);
    CHECK(dt("1970").to_sys_time() == sys_time<microseconds>{});
    CHECK(dt("19691231235959").to_sys_time() == sys_time<microseconds>{} - 1s);
}

TEST_CASE("datetime::from_sys_time and format_timestamp", "[datetime]")
{
    using namespace std::chrono;
    sys_time<microseconds> const t = sys_days{2024y / February / 29} + 23h + 59min + 58s + 987654us;
    auto d = hl7::datetime::from_sys_time(t);
    CHECK(hl7::format_datetime(d) == "20240229235958");
    CHECK(hl7::format_datetime(hl7::datetime::from_sys_time(t, precision::fraction)) == "20240229235958.9876");
    CHECK(hl7::format_datetime(hl7::datetime::from_sys_time(t, precision::day)) == "20240229");
    CHECK(hl7::datetime::from_sys_time(t, precision::day) == dt("20240229"));
    CHECK(hl7::datetime::from_sys_time(t, precision::minute) == dt("202402292359"));

    CHECK(hl7::format_timestamp(system_clock::time_point{}) == "19700101000000");
    CHECK(hl7::format_timestamp(time_point_cast<system_clock::duration>(t)) == "20240229235958");
    CHECK(hl7::format_timestamp(system_clock::time_point{} - 1s) == "19691231235959");
    // Now: 14 digits that parse back to within a second of the clock.
    auto const now = system_clock::now();
    std::string const stamp = hl7::format_timestamp(now);
    REQUIRE(stamp.size() == 14);
    auto const parsed = dt(stamp).to_sys_time();
    CHECK(parsed <= now);
    CHECK(now - parsed < 1s);
}

namespace {

/// python-hl7's parse_datetime of each value, as "y m d H M S us offset|N" lines.
std::vector<std::string>
datetime_test_python(std::vector<std::string> const& values)
{
    return hl7_test::run_python_hl7("datetime_test",
                                    "import sys, hl7\n"
                                    "for line in open(sys.argv[1]):\n"
                                    "    d = hl7.parse_datetime(line.strip())\n"
                                    "    o = d.utcoffset()\n"
                                    "    print(d.year, d.month, d.day, d.hour, d.minute, d.second, d.microsecond,\n"
                                    "          'N' if o is None else int(o.total_seconds() // 60))\n",
                                    values);
}

} // namespace

TEST_CASE("parse_datetime agrees with python-hl7 on valid values", "[datetime][interop]")
{
    std::mt19937 rng(5);
    auto pick = [&](int lo, int hi) { return lo + static_cast<int>(rng() % static_cast<unsigned>(hi - lo + 1)); };
    auto two = [](int v) { return (v < 10 ? "0" : "") + std::to_string(v); };
    std::vector<std::string> values;
    for (int n = 0; n < 500; ++n) {
        int const year = pick(1, 9999);
        int const month = pick(1, 12);
        bool const leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        int const days[] = {31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        std::string v = std::string(4 - std::min<std::size_t>(4, std::to_string(year).size()), '0') +
                        std::to_string(year);
        int const precision = pick(0, 6);
        if (precision >= 1) v += two(month);
        if (precision >= 2) v += two(pick(1, days[month - 1]));
        if (precision >= 3) v += two(pick(0, 23));
        if (precision >= 4) v += two(pick(0, 59));
        if (precision >= 5) v += two(pick(0, 59));
        if (precision >= 6) {
            v += '.';
            int const digits = pick(1, 4);
            for (int i = 0; i < digits; ++i)
                v += static_cast<char>('0' + pick(0, 9));
        }
        if (pick(0, 1)) {
            int const hh = pick(0, 12);
            // python-hl7 0.4.5 gets the sign of -00MM wrong: not compared here.
            bool const negative = hh != 0 && pick(0, 1);
            v += negative ? '-' : '+';
            v += two(hh) + two(hh == 12 ? 0 : pick(0, 59));
        }
        values.push_back(v);
    }
    auto const expected = datetime_test_python(values);
    REQUIRE(expected.size() == values.size());
    for (std::size_t i = 0; i < values.size(); ++i) {
        CAPTURE(values[i]);
        auto const d = hl7::parse_datetime(values[i]);
        std::ostringstream got;
        got << d.year << ' ' << d.month << ' ' << d.day << ' ' << d.hour << ' ' << d.minute << ' ' << d.second << ' '
            << d.microsecond << ' ';
        if (d.utc_offset_minutes)
            got << *d.utc_offset_minutes;
        else
            got << 'N';
        CHECK(got.str() == expected[i]);
        CHECK(hl7::format_datetime(d) == values[i]);
    }
}
