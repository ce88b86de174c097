// Zero-copy lookup in unparsed text.
#include <hl7/parser/locate.hpp>

#include <hl7/parser/parse.hpp>
#include <hl7_samples.hpp>

#include <catch2/catch.hpp>

TEST_CASE("locate finds the same raw text as the parsed model", "[locate]")
{
    for (auto const& s : hl7_test::all_samples()) {
        auto const m = hl7::parse(s);
        for (auto seg : m) {
            std::size_t nth = 0;
            for (auto other : m)
                if (other.id() == seg.id() && other.position() <= seg.position())
                    ++nth;
            std::string const prefix = std::string(seg.id()) + std::to_string(nth);
            for (std::size_t f = 0; f <= seg.size() + 1; ++f) {
                std::string const path = prefix + "." + std::to_string(f);
                CAPTURE(path);
                if (seg[f].present())
                    CHECK(hl7::locate(s, path) == seg[f].raw());
                else
                    CHECK(hl7::locate(s, path).empty());
                for (std::size_t r = 1; r <= seg[f].size(); ++r) {
                    auto const rep = seg[f][r];
                    for (std::size_t c = 1; c <= rep.size(); ++c) {
                        std::string const cp = path + "." + std::to_string(r) + "." + std::to_string(c);
                        CAPTURE(cp);
                        CHECK(hl7::locate(s, cp) == rep[c].raw());
                        for (std::size_t sc = 1; sc <= rep[c].size(); ++sc)
                            CHECK(hl7::locate(s, cp + "." + std::to_string(sc)) == rep[c].subcomponent(sc).raw());
                    }
                }
            }
        }
    }
}

TEST_CASE("locate handles LF, CRLF, headers and errors", "[locate]")
{
    CHECK(hl7::locate("MSH|^~\\&|A|B|C|D|T||ADT^A01|CTRL|P|2.5\nPID|1||X^Y\n", "PID.3.1.2") == "Y");
    CHECK(hl7::locate("MSH|^~\\&|A|B|C|D|T||ADT^A01|CTRL|P|2.5\r\nPID|1||X^Y\r\n", "PID.3") == "X^Y");
    CHECK(hl7::locate(hl7_test::oru_sample, "MSH.10") == "CNTRL-3456");
    CHECK(hl7::locate(hl7_test::oru_sample, "MSH.1") == "|");
    CHECK(hl7::locate(hl7_test::oru_sample, "MSH.2") == "^~\\&");
    CHECK(hl7::locate(hl7_test::oru_sample, "MSH.9.1.2") == "R01");
    std::error_code ec;
    CHECK(hl7::locate(hl7_test::oru_sample, "ZZZ.1", ec).empty());
    CHECK(ec == hl7::error::segment_not_found);
    CHECK(hl7::locate("PID|1", "PID.1", ec).empty());
    CHECK(ec == hl7::error::no_header);
    CHECK(hl7::locate(hl7_test::oru_sample, "PID", ec).empty());
    CHECK(ec == hl7::error::invalid_path);
    CHECK_THROWS_AS(hl7::locate("MSH", "MSH.3"), hl7::path_error);
}
