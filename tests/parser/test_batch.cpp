#include <hl7/parser/batch.hpp>

#include <catch2/catch.hpp>

#include <cstddef>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

using namespace std::string_literals;

namespace {

// Segments from python-hl7's test samples (tests/samples.py), which come from
// the Victorian Department of Health's published HL7 sample messages.
std::string const fhs = "FHS|^~\\&||ABCHS||AUSDHSV|20070101123401|||abchs20070101123401.hl7|";
std::string const bhs1 = "BHS|^~\\&||ABCHS||AUSDHSV|20070101123401||||abchs20070101123401-1";
std::string const bhs2 = "BHS|^~\\&||ABCHS||AUSDHSV|20070101123401||||abchs20070101123401-2";
std::string const msh0 =
    "MSH|^~\\&||ABCHS||AUSDHSV|20070101112951||ADT^A04^ADT_A01|12334456778890|P|2.5|||NE|NE|AU|ASCII";
std::string const msh1 =
    "MSH|^~\\&||ABCHS||AUSDHSV|20070101112951||ADT^A04^ADT_A01|12334456778891|P|2.5|||NE|NE|AU|ASCII";
std::vector<std::string> const body = {
    "EVN|A04|20060705000000",
    "PID|1||0000112234^^^100^A||XXXXXXXXXX^^^^^^S||10131113|1||4|^^RICHMOND^^3121||||1201||||||||1100|||||||||AAA",
    "PD1||2",
    "NK1|1||1||||||||||||||||||2",
    "PV1|1|O||||^^^^^1",
};

std::string
join(std::vector<std::string> const& segs, std::string_view term = "\r")
{
    std::string out;
    for (auto const& s : segs) {
        out += s;
        out += term;
    }
    return out;
}

std::vector<std::string>
message_segments(std::string const& msh)
{
    std::vector<std::string> out{msh};
    out.insert(out.end(), body.begin(), body.end());
    return out;
}

std::vector<std::string>
cat(std::vector<std::vector<std::string>> const& parts)
{
    std::vector<std::string> out;
    for (auto const& p : parts)
        out.insert(out.end(), p.begin(), p.end());
    return out;
}

std::vector<std::string> const m0 = message_segments(msh0);
std::vector<std::string> const m1 = message_segments(msh1);

std::string const sample_batch = join(cat({{bhs1}, m0, {"BTS|1"}}));
std::string const sample_batch1 = join(cat({{bhs1}, m0, m1, {"BTS|2"}}));
std::string const sample_batch2 = join(cat({m0, m1}));
std::string const sample_batch3 = join(cat({{bhs1}, m0}));
std::string const sample_batch4 = join(cat({m0, {"BTS|1"}}));
std::string const sample_bad_batch = join(cat({{bhs1}, body, {"BTS|1"}}));
std::string const sample_bad_batch1 = join(cat({{bhs1, msh0, body[0]}, {bhs1}, {body.begin() + 1, body.end()}, {"BTS|1"}}));

std::string const sample_file = join(cat({{fhs, bhs1}, m0, {"BTS|1", "FTS|1"}}));
std::string const sample_file1 = join(cat({{fhs, bhs1}, m0, m1, {"BTS|2", bhs2}, m0, {"BTS|1", "FTS|2"}}));
std::string const sample_file2 = join(cat({{fhs}, m0, m1, {"FTS|1"}}));
std::string const sample_file3 = join(cat({{fhs, bhs1}, m0, {"BTS|1"}}));
std::string const sample_file4 = join(cat({{bhs1}, m0, {"BTS|1", "FTS|1"}}));
std::string const sample_file5 = join(cat({{fhs, bhs1}, m0, {"FTS|1"}}));
std::string const sample_file6 = join(cat({{fhs}, m0, {"BTS|1", "FTS|1"}}));
std::string const sample_bad_file = join(cat({{fhs, bhs1}, body, {"BTS|1", "FTS|1"}}));
std::string const sample_bad_file1 =
    join(cat({{fhs, bhs1, msh0, body[0], bhs1}, {body.begin() + 1, body.end()}, {"BTS|1", "FTS|1"}}));
std::string const sample_bad_file2 =
    join(cat({{fhs, bhs1, msh0, body[0], fhs}, {body.begin() + 1, body.end()}, {"BTS|1", "FTS|1"}}));
std::string const sample_bad_file3 = join(cat({{fhs}, body, {"FTS|1"}}));

template<class F>
hl7::error
error_of(F&& f)
{
    try {
        f();
    }
    catch (hl7::parse_error const& e) {
        return static_cast<hl7::error>(e.code().value());
    }
    FAIL("no exception");
    return {};
}

std::string
replace_all(std::string s, std::string_view from, std::string_view to)
{
    std::string out;
    std::size_t pos = 0;
    for (std::size_t hit; (hit = s.find(from, pos)) != std::string::npos; pos = hit + from.size()) {
        out.append(s, pos, hit - pos);
        out += to;
    }
    out.append(s, pos);
    return out;
}

} // namespace

TEST_CASE("parse_batch: python-hl7 samples", "[batch]")
{
    SECTION("sample_batch")
    {
        auto const b = hl7::parse_batch(sample_batch);
        REQUIRE(b.size() == 1);
        REQUIRE(b.header);
        CHECK(b.header->segment_at(1).id() == "BHS");
        CHECK(b.header->get("BHS.4") == "ABCHS");
        CHECK(b.header->get("BHS.1") == "|");
        CHECK(b.header->get("BHS.2") == "^~\\&");
        CHECK(b.header->get("BHS.11") == "abchs20070101123401-1");
        REQUIRE(b.trailer);
        CHECK(b.trailer->segment_at(1).id() == "BTS");
        CHECK(b.trailer->get("BTS.1") == "1");
        CHECK(b.messages[0].get("MSH.10") == "12334456778890");
        CHECK(b.messages[0].size() == 6);
        CHECK(hl7::to_string(b) == sample_batch);
    }
    SECTION("sample_batch1: two messages, no blank line between them")
    {
        auto const b = hl7::parse_batch(sample_batch1);
        REQUIRE(b.size() == 2);
        CHECK(b.messages[0].get("MSH.10") == "12334456778890");
        CHECK(b.messages[1].get("MSH.10") == "12334456778891");
        CHECK(b.header->get("BHS.4") == "ABCHS");
        CHECK(b.trailer->get("BTS.1") == "2");
        CHECK(hl7::to_string(b) == sample_batch1);
    }
    SECTION("sample_batch2: messages without header or trailer")
    {
        auto const b = hl7::parse_batch(sample_batch2);
        REQUIRE(b.size() == 2);
        CHECK(b.messages[1].get("MSH.10") == "12334456778891");
        CHECK_FALSE(b.header);
        CHECK_FALSE(b.trailer);
        CHECK(hl7::to_string(b) == sample_batch2);
    }
    SECTION("sample_batch3: header without trailer stays without (python-hl7 invents BTS)")
    {
        auto const b = hl7::parse_batch(sample_batch3);
        REQUIRE(b.size() == 1);
        CHECK(b.header->get("BHS.4") == "ABCHS");
        CHECK_FALSE(b.trailer);
        CHECK(hl7::to_string(b) == sample_batch3);
    }
    SECTION("sample_batch4: a trailer without header is kept (python-hl7 drops it)")
    {
        auto const b = hl7::parse_batch(sample_batch4);
        REQUIRE(b.size() == 1);
        CHECK_FALSE(b.header);
        REQUIRE(b.trailer);
        CHECK(b.trailer->get("BTS.1") == "1");
        CHECK(hl7::to_string(b) == sample_batch4);
    }
    SECTION("sample_bad_batch: segment before message header")
    {
        try {
            (void)hl7::parse_batch(sample_bad_batch);
            FAIL("no exception");
        }
        catch (hl7::batch_error const& e) {
            CHECK(e.code() == hl7::error::segment_before_header);
            CHECK(e.segment() == 2);
            CHECK(e.offset() == bhs1.size() + 1);
            CHECK(std::string(e.what()).find("segment received before message header") != std::string::npos);
        }
    }
    SECTION("sample_bad_batch1: two BHS")
    {
        try {
            (void)hl7::parse_batch(sample_bad_batch1);
            FAIL("no exception");
        }
        catch (hl7::batch_error const& e) {
            CHECK(e.code() == hl7::error::duplicate_batch_header);
            CHECK(e.segment() == 4);
            CHECK(std::string(e.what()).find("more than one BHS") != std::string::npos);
        }
    }
}

TEST_CASE("parse_file: python-hl7 samples", "[batch]")
{
    SECTION("sample_file")
    {
        auto const f = hl7::parse_file(sample_file);
        REQUIRE(f.size() == 1);
        REQUIRE(f.header);
        CHECK(f.header->get("FHS.4") == "ABCHS");
        CHECK(f.header->get("FHS.10") == "abchs20070101123401.hl7");
        CHECK(f.trailer->get("FTS.1") == "1");
        CHECK(f.batches[0].header->get("BHS.4") == "ABCHS");
        CHECK(f.batches[0].trailer->get("BTS.1") == "1");
        CHECK(f.batches[0].size() == 1);
        CHECK(hl7::to_string(f) == sample_file);
    }
    SECTION("sample_file1: two batches")
    {
        auto const f = hl7::parse_file(sample_file1);
        REQUIRE(f.size() == 2);
        CHECK(f.batches[0].trailer->get("BTS.1") == "2");
        CHECK(f.batches[0].size() == 2);
        CHECK(f.batches[1].trailer->get("BTS.1") == "1");
        CHECK(f.batches[1].header->get("BHS.11") == "abchs20070101123401-2");
        CHECK(f.trailer->get("FTS.1") == "2");
        CHECK(hl7::to_string(f) == sample_file1);
    }
    SECTION("sample_file2: messages directly in the file")
    {
        auto const f = hl7::parse_file(sample_file2);
        REQUIRE(f.size() == 1);
        CHECK_FALSE(f.batches[0].header);
        CHECK_FALSE(f.batches[0].trailer);
        CHECK(f.batches[0].size() == 2);
        CHECK(f.header->get("FHS.4") == "ABCHS");
        CHECK(f.trailer->get("FTS.1") == "1");
        CHECK(hl7::to_string(f) == sample_file2);
    }
    SECTION("sample_file3: no FTS")
    {
        auto const f = hl7::parse_file(sample_file3);
        REQUIRE(f.size() == 1);
        CHECK(f.header);
        CHECK_FALSE(f.trailer);
        CHECK(hl7::to_string(f) == sample_file3);
    }
    SECTION("sample_file4: FTS without FHS is kept")
    {
        auto const f = hl7::parse_file(sample_file4);
        REQUIRE(f.size() == 1);
        CHECK_FALSE(f.header);
        REQUIRE(f.trailer);
        CHECK(f.trailer->get("FTS.1") == "1");
        CHECK(hl7::to_string(f) == sample_file4);
    }
    SECTION("sample_file5: BHS without BTS, closed by FTS")
    {
        auto const f = hl7::parse_file(sample_file5);
        REQUIRE(f.size() == 1);
        CHECK(f.batches[0].header);
        CHECK_FALSE(f.batches[0].trailer);
        CHECK(hl7::to_string(f) == sample_file5);
    }
    SECTION("sample_file6: BTS without BHS")
    {
        auto const f = hl7::parse_file(sample_file6);
        REQUIRE(f.size() == 1);
        CHECK_FALSE(f.batches[0].header);
        REQUIRE(f.batches[0].trailer);
        CHECK(f.batches[0].trailer->get("BTS.1") == "1");
        CHECK(hl7::to_string(f) == sample_file6);
    }
    SECTION("bad files")
    {
        CHECK(error_of([] { (void)hl7::parse_file(sample_bad_file); }) == hl7::error::segment_before_header);
        CHECK(error_of([] { (void)hl7::parse_file(sample_bad_file1); }) == hl7::error::duplicate_batch_header);
        CHECK(error_of([] { (void)hl7::parse_file(sample_bad_file2); }) == hl7::error::duplicate_file_header);
        CHECK(error_of([] { (void)hl7::parse_file(sample_bad_file3); }) == hl7::error::segment_before_header);
        CHECK_THROWS_AS(hl7::parse_file(sample_bad_file2), hl7::batch_error);
    }
}

TEST_CASE("parse_hl7 picks message, batch or file", "[batch]")
{
    std::string const single = join(m0);
    CHECK(std::holds_alternative<hl7::message>(hl7::parse_hl7(single)));
    for (auto const* s : {&sample_batch, &sample_batch1, &sample_batch2, &sample_batch3, &sample_batch4}) {
        auto const v = hl7::parse_hl7(*s);
        REQUIRE(std::holds_alternative<hl7::batch>(v));
        CHECK(hl7::to_string(std::get<hl7::batch>(v)) == *s);
    }
    for (auto const* s : {&sample_file, &sample_file1, &sample_file2, &sample_file3, &sample_file4, &sample_file5,
                          &sample_file6}) {
        auto const v = hl7::parse_hl7(*s);
        REQUIRE(std::holds_alternative<hl7::file>(v));
        CHECK(hl7::to_string(std::get<hl7::file>(v)) == *s);
    }
    // Several batches without FHS are a file.
    std::string const two_batches = join(cat({{bhs1}, m0, {"BTS|1", bhs2}, m1, {"BTS|1"}}));
    auto const v = hl7::parse_hl7(two_batches);
    REQUIRE(std::holds_alternative<hl7::file>(v));
    CHECK(std::get<hl7::file>(v).size() == 2);
    // Not HL7 at all: the message parser's error.
    CHECK(error_of([] { (void)hl7::parse_hl7(""); }) == hl7::error::empty_message);
    CHECK(error_of([] { (void)hl7::parse_hl7("PID|1\r"); }) == hl7::error::no_header);
    CHECK(error_of([] { (void)hl7::parse_hl7("hello"); }) == hl7::error::no_header);
}

TEST_CASE("ishl7 / isbatch / isfile", "[batch]")
{
    std::string const single = join(m0);
    CHECK(hl7::ishl7(single));
    CHECK_FALSE(hl7::isbatch(single));
    CHECK_FALSE(hl7::isfile(single));
    CHECK(hl7::ishl7(join(m0, "\n")));
    CHECK(hl7::ishl7("\r\n" + single));
    CHECK_FALSE(hl7::ishl7(""));
    CHECK_FALSE(hl7::ishl7("MSH"));
    CHECK_FALSE(hl7::ishl7("PID|1\rMSH|^~\\&|"));

    // "MSH" inside field data does not make a batch (python-hl7 counts it).
    std::string const data_msh = "MSH|^~\\&|A|B\rPID|1||MSH_MRN^^^MSH\rNTE|1||see MSH segment\r";
    CHECK(hl7::ishl7(data_msh));
    CHECK_FALSE(hl7::isbatch(data_msh));
    CHECK(std::holds_alternative<hl7::message>(hl7::parse_hl7(data_msh)));

    for (auto const* s : {&sample_batch, &sample_batch1, &sample_batch2, &sample_batch3, &sample_batch4}) {
        CHECK_FALSE(hl7::ishl7(*s));
        CHECK(hl7::isbatch(*s));
        CHECK(hl7::isfile(*s)); // a batch is also a valid file, as in python-hl7
    }
    for (auto const* s : {&sample_file, &sample_file1, &sample_file2, &sample_file4, &sample_file6}) {
        CHECK_FALSE(hl7::ishl7(*s));
        CHECK_FALSE(hl7::isbatch(*s));
        CHECK(hl7::isfile(*s));
    }
    // A message followed by BTS is a batch, not a message with a BTS segment.
    CHECK_FALSE(hl7::ishl7(sample_batch4));
    // LF-separated batch.
    CHECK(hl7::isbatch(join(cat({m0, m1}), "\n")));
    CHECK_FALSE(hl7::isbatch(""));
    CHECK_FALSE(hl7::isfile(""));
}

TEST_CASE("batches and files: exact round trip, LF and CRLF accepted", "[batch]")
{
    for (auto const* s : {&sample_batch, &sample_batch1, &sample_batch2, &sample_batch3, &sample_batch4,
                          &sample_file, &sample_file1, &sample_file2, &sample_file3, &sample_file4, &sample_file5,
                          &sample_file6}) {
        for (std::string_view term : {"\n", "\r\n"}) {
            std::string const input = replace_all(*s, "\r", term);
            CAPTURE(input);
            auto const f = hl7::parse_file(input);
            CHECK(hl7::to_string(f) == *s); // output uses CR
            auto const v = hl7::parse_hl7(input);
            std::string const out = std::visit([](auto const& x) { return hl7::to_string(x); }, v);
            CHECK(out == *s);
        }
    }
    // Mixed terminators and blank lines, no final terminator.
    std::string const messy = bhs1 + "\r\n\r\n" + msh0 + "\n" + body[0] + "\r\r" + body[1] + "\r\nBTS|1";
    auto const b = hl7::parse_batch(messy);
    CHECK(hl7::to_string(b) == join({bhs1, msh0, body[0], body[1], "BTS|1"}));
    CHECK(b.messages[0].size() == 3);
}

TEST_CASE("parse_file: messages outside a batch stay where they are", "[batch]")
{
    // msg, [BHS msg BTS], msg msg, [BHS msg], FTS
    std::string const text =
        join(cat({{fhs}, m0, {bhs1}, m1, {"BTS|1"}, m1, m0, {bhs2}, m0, {"FTS|4"}}));
    auto const f = hl7::parse_file(text);
    REQUIRE(f.size() == 4);
    CHECK_FALSE(f.batches[0].header);
    CHECK(f.batches[0].size() == 1);
    CHECK(f.batches[0].messages[0].get("MSH.10") == "12334456778890");
    CHECK(f.batches[1].header->get("BHS.11") == "abchs20070101123401-1");
    CHECK(f.batches[1].trailer);
    CHECK(f.batches[1].messages[0].get("MSH.10") == "12334456778891");
    CHECK_FALSE(f.batches[2].header);
    CHECK_FALSE(f.batches[2].trailer);
    CHECK(f.batches[2].size() == 2);
    CHECK(f.batches[3].header->get("BHS.11") == "abchs20070101123401-2");
    CHECK_FALSE(f.batches[3].trailer);
    CHECK(hl7::to_string(f) == text);

    // A BTS after loose messages closes them as a header-less batch.
    std::string const closed = join(cat({m0, {"BTS|1"}, m1}));
    auto const g = hl7::parse_file(closed);
    REQUIRE(g.size() == 2);
    CHECK(g.batches[0].trailer);
    CHECK_FALSE(g.batches[1].trailer);
    CHECK(hl7::to_string(g) == closed);
}

TEST_CASE("batch headers use their own delimiters", "[batch]")
{
    std::string const text = "FHS*^~\\&*FAPP\rBHS#@~$%#BAPP#x@y\rMSH|^~\\&|MAPP\rPID|1||a^b\rBTS#1#z@w\rFTS*1*q^r\r";
    auto const f = hl7::parse_file(text);
    REQUIRE(f.size() == 1);
    CHECK(f.header->delimiters().field == '*');
    CHECK(f.header->get("FHS.3") == "FAPP");
    auto const& b = f.batches[0];
    CHECK(b.header->delimiters().field == '#');
    CHECK(b.header->delimiters().component == '@');
    CHECK(b.header->get("BHS.1") == "#");
    CHECK(b.header->get("BHS.2") == "@~$%");
    CHECK(b.header->get("BHS.3") == "BAPP");
    CHECK(b.header->get("BHS.4.1.2") == "y");
    CHECK(b.trailer->get("BTS.1") == "1");      // the BHS delimiters
    CHECK(b.trailer->get("BTS.2.1.2") == "w");
    CHECK(f.trailer->get("FTS.2.1.2") == "r");    // the FHS delimiters
    CHECK(b.messages[0].get("PID.3.1.2") == "b"); // the message keeps its own
    CHECK(hl7::to_string(f) == text);

    // A header-less batch's trailer takes its last message's delimiters.
    auto const g = hl7::parse_batch("MSH#^~\\&#A\rBTS#1^2\r");
    CHECK(g.trailer->get("BTS.1.1.2") == "2");

    // A header without its delimiters is an error from the message parser.
    CHECK(error_of([] { (void)hl7::parse_batch("BHS\rMSH|^~\\&|A\r"); }) == hl7::error::truncated_header);
    CHECK(error_of([] { (void)hl7::parse_batch("BHS|^^~\\&\rMSH|^~\\&|A\r"); }) == hl7::error::invalid_delimiters);
}

TEST_CASE("batch and file structure errors", "[batch]")
{
    auto batch_err = [](std::string const& text) { return error_of([&] { (void)hl7::parse_batch(text); }); };
    auto file_err = [](std::string const& text) { return error_of([&] { (void)hl7::parse_file(text); }); };
    std::string const m = join(m0);

    SECTION("parse_batch")
    {
        CHECK(batch_err(bhs1 + "\r" + bhs1 + "\r") == hl7::error::duplicate_batch_header);
        CHECK(batch_err(bhs1 + "\r" + m + "BTS|1\r" + bhs2 + "\r") == hl7::error::duplicate_batch_header);
        CHECK(batch_err(m + bhs1 + "\r") == hl7::error::segment_before_header);
        CHECK(batch_err("PID|1\r" + m) == hl7::error::segment_before_header);
        CHECK(batch_err(bhs1 + "\rPID|1\r") == hl7::error::segment_before_header);
        CHECK(batch_err(fhs + "\r" + m) == hl7::error::segment_before_header);
        CHECK(batch_err(m + "FTS|1\r") == hl7::error::unexpected_trailer);
        CHECK(batch_err("BTS|1\r") == hl7::error::unexpected_trailer);
        CHECK(batch_err(m + "BTS|1\rBTS|1\r") == hl7::error::unexpected_trailer);
        CHECK(batch_err(m + "BTS|1\r" + m) == hl7::error::unexpected_trailer);
        CHECK(batch_err(m + "BTS|1\rNTE|1\r") == hl7::error::unexpected_trailer);
    }
    SECTION("parse_file")
    {
        CHECK(file_err(fhs + "\r" + fhs + "\r") == hl7::error::duplicate_file_header);
        CHECK(file_err(m + fhs + "\r") == hl7::error::segment_before_header);
        CHECK(file_err(bhs1 + "\r" + m + bhs2 + "\r") == hl7::error::duplicate_batch_header);
        CHECK(file_err(bhs1 + "\r" + bhs2 + "\r") == hl7::error::duplicate_batch_header);
        CHECK(file_err("FTS|0\r") == hl7::error::unexpected_trailer);
        CHECK(file_err(fhs + "\rBTS|0\r") == hl7::error::unexpected_trailer);
        CHECK(file_err(bhs1 + "\rBTS|0\rBTS|0\r") == hl7::error::unexpected_trailer);
        CHECK(file_err(fhs + "\rFTS|0\r" + m) == hl7::error::unexpected_trailer);
        CHECK(file_err(fhs + "\rFTS|0\rFTS|0\r") == hl7::error::unexpected_trailer);
        CHECK(file_err(m + "BTS|1\rPID|1\r") == hl7::error::segment_before_header);
        CHECK(file_err(fhs + "\r" + bhs1 + "\rEVN|1\r") == hl7::error::segment_before_header);
    }
    SECTION("offset and segment name the whole input")
    {
        std::string const text = fhs + "\r" + bhs1 + "\r" + m + "BTS|1\rBTS|2\r";
        try {
            (void)hl7::parse_file(text);
            FAIL("no exception");
        }
        catch (hl7::batch_error const& e) {
            CHECK(e.code() == hl7::error::unexpected_trailer);
            CHECK(e.offset() == text.size() - 6);
            CHECK(e.segment() == 10);
            CHECK(std::string(e.what()).find("segment 10") != std::string::npos);
        }
    }
    SECTION("errors inside a message are parse_errors located in the whole input")
    {
        std::string const text = bhs1 + "\r" + m + "MSH|^~\\&|A\rP@D|1\rBTS|2\r";
        try {
            (void)hl7::parse_batch(text);
            FAIL("no exception");
        }
        catch (hl7::batch_error const&) {
            FAIL("batch_error for a message problem");
        }
        catch (hl7::parse_error const& e) {
            CHECK(e.code() == hl7::error::invalid_segment_id);
            CHECK(e.offset() == text.find("P@D"));
            CHECK(e.segment() == 9);
        }
        CHECK(batch_err(bhs1 + "\rBTS|1|x\x01\rPID\r") == hl7::error::unexpected_trailer);
        CHECK(batch_err(m + "BTSX|1\r") == hl7::error::invalid_segment_id);
    }
    SECTION("non-throwing overloads")
    {
        std::error_code ec;
        auto b = hl7::parse_batch(sample_bad_batch1, ec);
        CHECK(ec == hl7::error::duplicate_batch_header);
        CHECK(b.empty());
        CHECK_FALSE(b.header);
        b = hl7::parse_batch(sample_batch1, ec);
        CHECK_FALSE(ec);
        CHECK(b.size() == 2);
        auto f = hl7::parse_file(sample_bad_file2, ec);
        CHECK(ec == hl7::error::duplicate_file_header);
        CHECK(f.empty());
        f = hl7::parse_file(sample_file1, ec);
        CHECK_FALSE(ec);
        CHECK(f.size() == 2);
    }
}

TEST_CASE("batch and file: empty input", "[batch]")
{
    for (std::string_view s : {"", "\r", "\r\n\n"}) {
        auto const b = hl7::parse_batch(s);
        CHECK(b.empty());
        CHECK_FALSE(b.header);
        CHECK_FALSE(b.trailer);
        CHECK(hl7::to_string(b).empty());
        auto const f = hl7::parse_file(s);
        CHECK(f.empty());
        CHECK(hl7::to_string(f).empty());
    }
    // Header only: no trailer invented (python-hl7 writes "BHS...\rBTS\r").
    auto const b = hl7::parse_batch(bhs1 + "\r");
    CHECK(b.empty());
    CHECK(hl7::to_string(b) == bhs1 + "\r");
    auto const f = hl7::parse_file(fhs + "\rFTS|0\r");
    CHECK(f.empty());
    CHECK(hl7::to_string(f) == fhs + "\rFTS|0\r");
}

TEST_CASE("batch and file: limits apply to the whole input", "[batch]")
{
    std::string const text = join(cat({{bhs1}, m0, m1, {"BTS|2"}})); // 14 segments
    hl7::parse_options opts;
    SECTION("segments")
    {
        opts.max_segments = 14;
        CHECK(hl7::parse_batch(text, opts).size() == 2);
        opts.max_segments = 13;
        try {
            (void)hl7::parse_batch(text, opts);
            FAIL("no exception");
        }
        catch (hl7::parse_error const& e) {
            CHECK(e.code() == hl7::error::too_many_segments);
            CHECK(e.segment() == 14);
        }
        // Each message alone is within the limit; the total is not.
        opts.max_segments = 10;
        CHECK(error_of([&] { (void)hl7::parse_file(text, opts); }) == hl7::error::too_many_segments);
        CHECK(error_of([&] { (void)hl7::parse_hl7(text, opts); }) == hl7::error::too_many_segments);
    }
    SECTION("size")
    {
        opts.max_message_size = text.size();
        CHECK(hl7::parse_batch(text, opts).size() == 2);
        opts.max_message_size = text.size() - 1;
        CHECK(error_of([&] { (void)hl7::parse_batch(text, opts); }) == hl7::error::message_too_large);
        CHECK(error_of([&] { (void)hl7::parse_file(text, opts); }) == hl7::error::message_too_large);
    }
    SECTION("fields, in messages, headers and trailers")
    {
        opts.max_fields = 16;
        CHECK(error_of([&] { (void)hl7::parse_batch(text, opts); }) == hl7::error::too_many_fields);
        opts.max_fields = 1000;
        CHECK(hl7::parse_batch(text, opts).size() == 2);
        opts.max_fields = 3;
        std::string const small = "BHS|^~\\&|A\rMSH|^~\\&|A\rBTS|1|2|3|4\r";
        CHECK(error_of([&] { (void)hl7::parse_batch(small, opts); }) == hl7::error::too_many_fields);
        CHECK(error_of([&] { (void)hl7::parse_batch("BHS|^~\\&|1|2|3|4\r", opts); }) == hl7::error::too_many_fields);
        opts.max_fields = 4;
        CHECK(hl7::parse_batch(small, opts).trailer);
    }
    SECTION("empty lines")
    {
        opts.allow_empty_segments = false;
        std::string const blank = bhs1 + "\r\r" + join(m0);
        CHECK(error_of([&] { (void)hl7::parse_batch(blank, opts); }) == hl7::error::empty_segment);
        CHECK(hl7::parse_batch(text, opts).size() == 2);
    }
    SECTION("strict terminators: CR only")
    {
        opts.strict_terminators = true;
        CHECK(hl7::to_string(hl7::parse_batch(text, opts)) == text);
        std::string const lf = replace_all(text, "\r", "\n");
        // One line: the BHS swallows everything.
        auto const b = hl7::parse_batch(lf, opts);
        CHECK(b.empty());
    }
}

TEST_CASE("batch and file: operator<< and building by hand", "[batch]")
{
    hl7::batch b;
    b.header = hl7::parse("BHS|^~\\&|APP|FAC");
    b.messages.push_back(hl7::parse(join(m0)));
    hl7::message t;
    t.append_segment("BTS|1");
    b.trailer = std::move(t);
    std::ostringstream os;
    os << b;
    CHECK(os.str() == "BHS|^~\\&|APP|FAC\r" + join(m0) + "BTS|1\r");
    CHECK(hl7::parse_batch(os.str()).size() == 1);

    hl7::file f;
    f.batches.push_back(b);
    f.batches.push_back(b);
    std::ostringstream fs;
    fs << f;
    CHECK(fs.str() == os.str() + os.str());
    auto const back = hl7::parse_file(fs.str());
    CHECK(back.size() == 2);
    std::size_t messages = 0;
    for (auto const& batch : back)
        for (auto const& m : batch)
            messages += m.size() > 0;
    CHECK(messages == 2);
}

TEST_CASE("batch and file grind: every header/trailer combination and line ending", "[batch][grind]")
{
    // File: [FHS] then a sequence of batches, each [BHS] messages [BTS], then [FTS].
    // Adjacent header-less, trailer-less batches would merge, so the shapes
    // below keep them apart with a BHS or BTS.
    struct batch_shape
    {
        bool header;
        bool trailer;
        int messages;
    };
    std::vector<batch_shape> shapes;
    for (int h = 0; h < 2; ++h)
        for (int t = 0; t < 2; ++t)
            for (int n = 0; n < 3; ++n)
                if (h || n) // a batch with neither BHS nor messages is not representable
                    shapes.push_back({h == 1, t == 1, n});

    auto build = [&](std::vector<batch_shape> const& batches, bool fh, bool ft) {
        std::vector<std::string> segs;
        if (fh)
            segs.push_back(fhs);
        int id = 0;
        for (auto const& s : batches) {
            if (s.header)
                segs.push_back(bhs1);
            for (int i = 0; i < s.messages; ++i) {
                auto m = m0;
                m[0] = replace_all(m[0], "12334456778890", "ID" + std::to_string(id++));
                segs.insert(segs.end(), m.begin(), m.end());
            }
            if (s.trailer)
                segs.push_back("BTS|" + std::to_string(s.messages));
        }
        if (ft)
            segs.push_back("FTS|" + std::to_string(batches.size()));
        return segs;
    };

    auto separable = [](batch_shape const& a, batch_shape const& b) {
        // b starts a new batch only if a ended with BTS, or b starts with a
        // BHS and a was header-less (a BHS while a BHS batch is open is an error).
        return a.trailer || (b.header && !a.header);
    };

    std::size_t checked = 0;
    for (int fh = 0; fh < 2; ++fh) {
        for (int ft = 0; ft < 2; ++ft) {
            std::vector<std::vector<batch_shape>> layouts = {{}};
            for (auto const& a : shapes)
                layouts.push_back({a});
            for (auto const& a : shapes)
                for (auto const& b : shapes)
                    if (separable(a, b))
                        layouts.push_back({a, b});
            for (auto const& layout : layouts) {
                auto const segs = build(layout, fh == 1, ft == 1);
                if (segs.empty())
                    continue;
                if (ft && segs.size() == 1)
                    continue; // an FTS alone is an error, tested elsewhere
                std::string const cr = join(segs);
                for (std::string_view term : {"\r", "\n", "\r\n"}) {
                    std::string const input = join(segs, term);
                    CAPTURE(fh, ft, layout.size(), input);
                    auto const f = hl7::parse_file(input);
                    REQUIRE(f.size() == layout.size());
                    CHECK(f.header.has_value() == (fh == 1));
                    CHECK(f.trailer.has_value() == (ft == 1));
                    int id = 0;
                    for (std::size_t i = 0; i < layout.size(); ++i) {
                        auto const& got = f.batches[i];
                        CHECK(got.header.has_value() == layout[i].header);
                        CHECK(got.trailer.has_value() == layout[i].trailer);
                        REQUIRE(got.size() == static_cast<std::size_t>(layout[i].messages));
                        for (auto const& m : got) {
                            CHECK(m.get("MSH.10") == "ID" + std::to_string(id++));
                            CHECK(m.size() == 6);
                        }
                    }
                    REQUIRE(hl7::to_string(f) == cr);

                    // Without FHS/FTS and with one batch, parse_batch reads it the same way.
                    if (!fh && !ft && layout.size() == 1) {
                        auto const b = hl7::parse_batch(input);
                        CHECK(b.header.has_value() == layout[0].header);
                        CHECK(b.trailer.has_value() == layout[0].trailer);
                        CHECK(b.size() == static_cast<std::size_t>(layout[0].messages));
                        CHECK(hl7::to_string(b) == cr);
                    }

                    // parse_hl7 picks a type that reproduces the text.
                    auto const v = hl7::parse_hl7(input);
                    std::string const out = std::visit([](auto const& x) { return hl7::to_string(x); }, v);
                    CHECK(out == cr);
                    bool const single_message = !fh && !ft && layout.size() == 1 && !layout[0].header &&
                                                !layout[0].trailer && layout[0].messages == 1;
                    CHECK(std::holds_alternative<hl7::message>(v) == single_message);
                    if (fh || ft || layout.size() > 1)
                        CHECK(std::holds_alternative<hl7::file>(v));
                    ++checked;
                }
            }
        }
    }
    CHECK(checked > 800);
}

TEST_CASE("batch and file: junk never crashes", "[batch]")
{
    std::mt19937 rng(7);
    std::string const base = sample_file1;
    std::string const alphabet = "\r\n|^~\\&BHSFTMX0\x00\xff"s;
    for (int n = 0; n < 3000; ++n) {
        std::string s = base;
        int const edits = 1 + static_cast<int>(rng() % 6);
        for (int e = 0; e < edits; ++e) {
            std::size_t const pos = rng() % (s.size() + 1);
            switch (rng() % 3) {
            case 0: s.insert(pos, 1, alphabet[rng() % alphabet.size()]); break;
            case 1:
                if (pos < s.size())
                    s.erase(pos, 1 + rng() % 20);
                break;
            default:
                if (pos < s.size())
                    s[pos] = alphabet[rng() % alphabet.size()];
            }
        }
        CAPTURE(s);
        for (int mode = 0; mode < 3; ++mode) {
            try {
                std::string out;
                if (mode == 0)
                    out = hl7::to_string(hl7::parse_file(s));
                else if (mode == 1)
                    out = hl7::to_string(hl7::parse_batch(s));
                else
                    out = std::visit([](auto const& x) { return hl7::to_string(x); }, hl7::parse_hl7(s));
                // Whatever was accepted re-parses to the same text.
                REQUIRE(hl7::to_string(hl7::parse_file(out)) == out);
            }
            catch (hl7::parse_error const&) {
            }
            catch (hl7::path_error const&) {
            }
        }
    }
}
