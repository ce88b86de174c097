// Character sets: MSH-18 read, text converted to UTF-8 and back exactly,
// typed errors with the byte offset; bytes untouched unless asked.
#include <hl7/model/charset.hpp>

#include <hl7/model/ack.hpp>
#include <hl7/parser/parse.hpp>
#include <hl7_samples.hpp>

#include <catch2/catch.hpp>

#include <string>

namespace {

// ISO 8859-1 is the first 256 code points: its UTF-8 form, computed here
// without iconv.
std::string latin1_to_utf8(std::string_view in)
{
    std::string out;
    for (char ch : in) {
        auto const c = static_cast<unsigned char>(ch);
        if (c < 0x80) {
            out += ch;
        }
        else {
            out += static_cast<char>(0xC0 | (c >> 6));
            out += static_cast<char>(0x80 | (c & 0x3F));
        }
    }
    return out;
}

// "Müller^Zoë" with ü (0xFC) and ë (0xEB) as ISO 8859-1 bytes.
std::string const latin1_message = "MSH|^~\\&|SND|SFAC|RCV|RFAC|20240101||ADT^A01|L1|P|2.5||||||8859/1\r"
                                   "PID|1||123||M\xFCller^Zo\xEB||19610615\r"
                                   "NTE|1||caf\xE9 \xA9 \xBD \\F\\ \xFF\r";

template<class F>
hl7::charset_error charset_failure(F&& f)
{
    try {
        f();
    }
    catch (hl7::charset_error const& e) {
        return e;
    }
    FAIL("no charset_error");
    throw;
}

} // namespace

TEST_CASE("table 0211 names map to converters", "[charset]")
{
    std::error_code ec;
    CHECK(hl7::find_character_set("8859/1", ec).iconv_name == "ISO-8859-1");
    CHECK(!ec);
    CHECK(hl7::find_character_set("", ec).hl7_name == "ASCII");
    CHECK(hl7::find_character_set("unicode utf-8", ec).hl7_name == "UNICODE UTF-8");
    CHECK(!ec);
    for (char const* name : {"ASCII", "8859/2", "8859/5", "8859/7", "8859/9", "8859/15", "UNICODE UTF-8", "ISO IR14",
                             "BIG-5", "CNS 11643-1992", "GB 18030-2000", "KS X 1001", "ISO IR6", "ISO IR100",
                             "ISO IR192"}) {
        CAPTURE(name);
        CHECK(!hl7::find_character_set(name, ec).iconv_name.empty());
        CHECK(!ec);
    }
    for (char const* name : {"UNICODE", "UNICODE UTF-16", "UNICODE UTF-32", "ISO IR87", "ISO IR159"}) {
        CAPTURE(name);
        (void)hl7::find_character_set(name, ec);
        CHECK(ec == hl7::error::unsupported_character_set);
    }
    for (char const* name : {"LATIN1", "8859/10", "UTF-8", "8859-1", " ASCII"}) {
        CAPTURE(name);
        (void)hl7::find_character_set(name, ec);
        CHECK(ec == hl7::error::unknown_character_set);
    }
    auto const e = charset_failure([] { (void)hl7::find_character_set("KOI8-R"); });
    CHECK(e.code() == hl7::error::unknown_character_set);
    CHECK(std::string(e.what()) == "unknown character set (KOI8-R)");
}

TEST_CASE("bytes pass through untouched unless asked", "[charset]")
{
    // ISO 8859-1 and UTF-8 messages round-trip byte for byte.
    auto const latin1 = hl7::parse(latin1_message);
    CHECK(hl7::to_string(latin1) == latin1_message);
    CHECK(latin1.character_set() == "8859/1");
    CHECK(latin1.get("PID.5.1") == "M\xFCller");
    auto const utf8 = hl7::parse(hl7_test::adt_sample);
    CHECK(hl7::to_string(utf8) == hl7_test::adt_sample);
    // The ACK keeps the set, and its bytes.
    CHECK(latin1.create_ack().character_set() == "8859/1");
}

TEST_CASE("conversion to UTF-8 is exact, and back again", "[charset]")
{
    auto const latin1 = hl7::parse(latin1_message);
    hl7::message const u = hl7::to_utf8(latin1);
    CHECK(u.character_set() == "UNICODE UTF-8");
    std::string expected = latin1_to_utf8(latin1_message);
    expected.replace(expected.find("8859/1"), 6, "UNICODE UTF-8");
    CHECK(hl7::to_string(u) == expected);
    CHECK(u.get("PID.5.1") == "M\xC3\xBCller");
    CHECK(u.get("PID.5.1.2") == "Zo\xC3\xAB");
    // Escapes stay escapes.
    CHECK(u.segment("NTE")[3].raw().find("\\F\\") != std::string_view::npos);
    // Back to ISO 8859-1: the original bytes exactly.
    hl7::message const back = hl7::from_utf8(u, "8859/1");
    CHECK(hl7::to_string(back) == latin1_message);

    // Every byte of ISO 8859-1.
    std::string all;
    for (int c = 1; c < 256; ++c)
        all += static_cast<char>(c);
    CHECK(hl7::to_utf8(all, "8859/1") == latin1_to_utf8(all));
    CHECK(hl7::from_utf8(hl7::to_utf8(all, "8859/1"), "8859/1") == all);

    // Other parts of ISO 8859, against their published code charts.
    CHECK(hl7::to_utf8("\xA4", "8859/15") == "\xE2\x82\xAC"); // euro sign
    CHECK(hl7::to_utf8("\xE1", "8859/7") == "\xCE\xB1");     // alpha
    CHECK(hl7::to_utf8("\xB9", "8859/2") == "\xC5\xA1");     // s with caron
    CHECK(hl7::to_utf8("\xD0", "8859/5") == "\xD0\xB0");     // cyrillic a
    CHECK(hl7::from_utf8("\xE2\x82\xAC", "8859/15") == "\xA4");
    // Multi-byte sets.
    CHECK(hl7::to_utf8("\xA4\xA4\xA4\xE5", "BIG-5") == "\xE4\xB8\xAD\xE6\x96\x87");
    CHECK(hl7::to_utf8("\xC7\xD1\xB1\xB9", "KS X 1001") == "\xED\x95\x9C\xEA\xB5\xAD");
    CHECK(hl7::from_utf8("\xE4\xB8\xAD\xE6\x96\x87", "GB 18030-2000") == "\xD6\xD0\xCE\xC4");
    // UTF-8 to UTF-8 is a check, not a change.
    CHECK(hl7::to_utf8(hl7_test::adt_sample, "UNICODE UTF-8") == hl7_test::adt_sample);
    auto const same = hl7::to_utf8(hl7::parse(hl7_test::adt_sample));
    CHECK(hl7::to_string(same) == hl7_test::adt_sample);
}

TEST_CASE("bytes invalid in the declared set give the offset", "[charset]")
{
    // ASCII, declared or by default: a byte above 0x7F is invalid.
    std::string const unlabelled = "MSH|^~\\&|A|B|C|D|2024||ADT^A01|X|P|2.5\rPID|1||M\xFCller\r";
    auto const m = hl7::parse(unlabelled);
    auto const e = charset_failure([&] { (void)hl7::to_utf8(m); });
    CHECK(e.code() == hl7::error::invalid_character);
    CHECK(e.offset() == unlabelled.find('\xFC'));
    CHECK(std::string(e.what()) == "bytes not valid in the declared character set (ASCII) at byte " +
                                       std::to_string(unlabelled.find('\xFC')));
    // A feed known to send ISO 8859-1 without saying so.
    hl7::charset_options lenient{.default_charset = "8859/1"};
    auto const u = hl7::to_utf8(m, lenient);
    CHECK(u.get("PID.3") == "M\xC3\xBCller");
    CHECK(u.character_set() == "UNICODE UTF-8");

    // ISO 8859-3 leaves 0xA5 undefined.
    std::error_code ec;
    std::size_t at = 0;
    (void)hl7::to_utf8("abc\xA5", "8859/3", ec, &at);
    CHECK(ec == hl7::error::invalid_character);
    CHECK(at == 3);
    // UTF-8: truncated, overlong, surrogate, beyond U+10FFFF, lone continuation.
    for (auto const& [text, offset] : std::initializer_list<std::pair<std::string, std::size_t>>{
             {"ab\xC3(", 2}, {"\xC0\xAF", 0}, {"x\xED\xA0\x80", 1}, {"xy\xF4\x90\x80\x80", 2}, {"\x80", 0},
             {"ok\xE2\x82", 2}}) {
        CAPTURE(text);
        (void)hl7::to_utf8(text, "UNICODE UTF-8", ec, &at);
        CHECK(ec == hl7::error::invalid_character);
        CHECK(at == offset);
        (void)hl7::from_utf8(text, "8859/1", ec, &at);
        CHECK(ec == hl7::error::invalid_character);
        CHECK(at == offset);
    }
    // A multi-byte character cut short.
    (void)hl7::to_utf8("ab\xA4", "BIG-5", ec, &at);
    CHECK(ec == hl7::error::invalid_character);
    CHECK(at == 2);
    // In a UTF-8 message.
    std::string bad_utf8 = hl7_test::adt_sample;
    bad_utf8.replace(bad_utf8.find("Zo"), 2, "Z\xC3");
    auto const e8 = charset_failure([&] { (void)hl7::to_utf8(hl7::parse(bad_utf8)); });
    CHECK(e8.code() == hl7::error::invalid_character);
    CHECK(e8.offset() == bad_utf8.find("Z\xC3") + 1);
}

TEST_CASE("characters the target set lacks give the offset", "[charset]")
{
    std::error_code ec;
    std::size_t at = 0;
    (void)hl7::from_utf8("price \xE2\x82\xAC", "8859/1", ec, &at);
    CHECK(ec == hl7::error::unrepresentable_character);
    CHECK(at == 6);
    CHECK(ec == std::errc::illegal_byte_sequence);
    // In a message: the offset in the message's own text.
    auto const m = hl7::parse("MSH|^~\\&|A|B|C|D|2024||ADT^A01|X|P|2.5\rPID|1||\xE2\x82\xAC 5\r");
    auto const e = charset_failure([&] { (void)hl7::from_utf8(m, "8859/1"); });
    CHECK(e.code() == hl7::error::unrepresentable_character);
    CHECK(e.offset() == hl7::to_string(m).find("\xE2\x82\xAC"));
    CHECK(std::string(e.what()).find("(8859/1) at byte") != std::string::npos);
    // Sent in 8859/15 it fits; MSH-18 says so.
    auto const ok = hl7::from_utf8(m, "8859/15");
    CHECK(ok.character_set() == "8859/15");
    CHECK(ok.get("PID.3") == "\xA4 5");
    // ASCII stays unlabelled.
    auto const ascii = hl7::from_utf8(hl7::parse("MSH|^~\\&|A\rPID|1\r"), "ASCII");
    CHECK(ascii.character_set().empty());
}

TEST_CASE("delimiters are bytes, not characters", "[charset]")
{
    // In ISO IR14 (JIS X 0201 Roman) byte 0x5C is the Yen sign: as the
    // escape delimiter it stays a delimiter; in text it is a Yen sign.
    std::string const ir14 = "MSH|^~!&|A|B|C|D|2024||ADT^A01|X|P|2.5||||||ISO IR14\rNTE|1||100\\ !F! x\r";
    auto const m = hl7::parse(ir14);
    auto const u = hl7::to_utf8(m);
    CHECK(u.get("NTE.3") == "100\xC2\xA5 | x");
    CHECK(hl7::to_string(hl7::from_utf8(u, "ISO IR14")) == ir14);
    // With '\' as the escape delimiter, a Yen sign cannot be written in ISO IR14.
    auto const yen = hl7::parse("MSH|^~\\&|A|B|C|D|2024||ADT^A01|X|P|2.5\rNTE|1||\xC2\xA5 5\r");
    auto const e = charset_failure([&] { (void)hl7::from_utf8(yen, "ISO IR14"); });
    CHECK(e.code() == hl7::error::unrepresentable_character);
}

TEST_CASE("sets that cannot be converted are refused", "[charset]")
{
    auto const utf16 = hl7::parse("MSH|^~\\&|A|B|C|D|2024||ADT^A01|X|P|2.5||||||UNICODE UTF-16\rPID|1\r");
    CHECK(charset_failure([&] { (void)hl7::to_utf8(utf16); }).code() == hl7::error::unsupported_character_set);
    auto const unknown = hl7::parse("MSH|^~\\&|A|B|C|D|2024||ADT^A01|X|P|2.5||||||WINDOWS-1252\rPID|1\r");
    CHECK(charset_failure([&] { (void)hl7::to_utf8(unknown); }).code() == hl7::error::unknown_character_set);
    // Code extension (ISO 2022) is declared by more repetitions.
    auto const iso2022 = hl7::parse("MSH|^~\\&|A|B|C|D|2024||ADT^A01|X|P|2.5||||||ASCII~ISO IR87\rPID|1\r");
    CHECK(iso2022.character_set() == "ASCII");
    CHECK(charset_failure([&] { (void)hl7::to_utf8(iso2022); }).code() == hl7::error::unsupported_character_set);
    CHECK(charset_failure([&] { (void)hl7::from_utf8(std::string_view("x"), "UNICODE"); }).code() ==
          hl7::error::unsupported_character_set);
}
