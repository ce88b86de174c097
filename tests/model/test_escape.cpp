#include <hl7/model/escape.hpp>

#include <hl7_python_oracle.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

using namespace std::string_literals;
using namespace std::string_view_literals;

namespace {

hl7::separators const std_seps{};

std::string
un(std::string_view s)
{
    return hl7::unescape(s, std_seps);
}

std::string
es(std::string_view s)
{
    return hl7::escape(s, std_seps);
}

} // namespace

TEST_CASE("unescape: python-hl7 documented examples", "[escape]")
{
    // Vectors checked against python-hl7 0.4.5 (Message.unescape).
    CHECK(un("\\H\\text\\N\\") == "_text_");
    CHECK(un("\\F\\") == "|");
    CHECK(un("\\S\\\\R\\\\T\\\\E\\") == "^~&\\");
    CHECK(un("a\\.br\\b") == "a\rb");
    CHECK(un("\\.sp3\\") == "\r\r\r");
    CHECK(un("\\.in4\\") == std::string(16, ' '));
    CHECK(un("\\.in-2\\") == "");
    CHECK(un("\\.ti2\\") == std::string(8, ' '));
    CHECK(un("\\.br2\\") == "\r\r");
    CHECK(un("\\.fi3\\") == "");
    CHECK(un("\\.sp 2\\") == "\r\r");
    CHECK(un("\\.sp+2\\") == "\r\r");
    CHECK(un("\\X41\\") == "A");
    CHECK(un("\\X414243\\") == "ABC");
    CHECK(un("\\Cxxyy\\") == "");
    CHECK(un("\\Mxxyyzz\\") == "");
    CHECK(un("\\Q\\") == "");
    CHECK(un("\\f\\") == "");
    CHECK(un("\\.BR\\") == "");
    CHECK(un("\\\\") == "");
    CHECK(un("\\.sk\\") == " ");
    CHECK(un("\\.ce\\") == "\r");
    CHECK(un("\\.fi\\") == "");
    CHECK(un("\\.nf\\") == "");
    CHECK(un("\\.sp\\") == "\r");
    CHECK(un("\\.in\\") == "    ");
    CHECK(un("\\.ti\\") == "    ");
}

TEST_CASE("unescape/escape: python-hl7's own test vectors", "[escape]")
{
    // tests/test_parse.py in python-hl7: test_unescape and test_escape.
    CHECK(un("\\E\\") == "\\");
    CHECK(un("\\F\\") == "|");
    CHECK(un("\\S\\") == "^");
    CHECK(un("\\T\\") == "&");
    CHECK(un("\\R\\") == "~");
    CHECK(un("\\H\\text\\N\\") == "_text_");
    CHECK(hl7::unescape("\\H\\text\\N\\", std_seps, {{"H", "*"}, {"N", "*"}}) == "*text*");
    CHECK(un("\\X20202020\\") == "    ");
    // python-hl7 expects the code points "áéíóú"; bytes in, bytes out gives
    // the same text as ISO-8859-1 bytes.
    CHECK(un("\\Xe1\\\\Xe9\\\\Xed\\\\Xf3\\\\Xfa\\") == "\xe1\xe9\xed\xf3\xfa");
    CHECK(es("\\") == "\\E\\");
    CHECK(es("|") == "\\F\\");
    CHECK(es("^") == "\\S\\");
    CHECK(es("&") == "\\T\\");
    CHECK(es("~") == "\\R\\");
    CHECK(es("asdf") == "asdf");
}

TEST_CASE("unescape: every standard sequence", "[escape]")
{
    CHECK(un("a\\F\\b") == "a|b");
    CHECK(un("a\\R\\b") == "a~b");
    CHECK(un("a\\S\\b") == "a^b");
    CHECK(un("a\\T\\b") == "a&b");
    CHECK(un("a\\E\\b") == "a\\b");
    CHECK(un("\\H\\bold\\N\\ plain") == "_bold_ plain");
    CHECK(un("x\\.br\\y\\.br\\z") == "x\ry\rz");
    CHECK(un("\\.sk3\\") == "   ");
    CHECK(un("\\.ce2\\") == "\r\r");
    CHECK(un("\\.nf5\\") == "");
    CHECK(un("\\.sp0\\") == "");
    // Unknown formatting codes are removed, counted or not.
    CHECK(un("a\\.zz\\b") == "ab");
    CHECK(un("a\\.zz3\\b") == "ab");
    CHECK(un("a\\Zcustom\\b") == "ab");
}

TEST_CASE("unescape: text without the escape character is returned unchanged", "[escape]")
{
    CHECK(un("") == "");
    CHECK(un("plain text") == "plain text");
    CHECK(un("a|b^c~d&e") == "a|b^c~d&e");
    std::string const binary("\0\x01\xff\r\n"s);
    CHECK(un(binary) == binary);
}

TEST_CASE("unescape: the hex escape (X..) yields raw bytes", "[escape]")
{
    CHECK(un("\\X00\\") == "\0"s);
    CHECK(un("\\XFF\\") == "\xff");
    CHECK(un("\\Xff\\") == "\xff");
    CHECK(un("\\X0D0A\\") == "\r\n");
    // UTF-8 'é' written as hex stays the two UTF-8 bytes, not Latin-1 code points.
    CHECK(un("caf\\XC3A9\\") == "caf\xc3\xa9");
    // python-hl7 gives " \u00ac" here; we give the two bytes.
    CHECK(un("\\X20AC\\") == "\x20\xac");
}

TEST_CASE("unescape: malformed sequences stay literal (fixes python-hl7)", "[escape]")
{
    SECTION("unterminated trailing sequence (python-hl7 issue #84)")
    {
        CHECK(un("abc\\def") == "abc\\def");
        CHECK(un("\\E\\R\\") == "\\R\\");
        CHECK(un("\\") == "\\");
        CHECK(un("abc\\") == "abc\\");
        CHECK(un("\\F\\\\S") == "|\\S");
    }
    SECTION("non-integer count")
    {
        CHECK(un("\\.spx\\") == "\\.spx\\");
        CHECK(un("a\\.sp2x\\b") == "a\\.sp2x\\b");
        CHECK(un("\\.in-\\") == "\\.in-\\");
        CHECK(un("\\.in+ \\") == "\\.in+ \\");
    }
    SECTION("count above the limit")
    {
        CHECK(un("\\.sp99\\") == std::string(99, '\r'));
        CHECK(un("\\.sp100\\") == "\\.sp100\\");
        CHECK(un("\\.sp99999999999999999999\\") == "\\.sp99999999999999999999\\");
    }
    SECTION("invalid hex")
    {
        CHECK(un("\\XZZ\\") == "\\XZZ\\");
        CHECK(un("\\X41ZZ\\") == "\\X41ZZ\\");
        CHECK(un("\\X4\\") == "\\X4\\");
        CHECK(un("\\X414\\") == "\\X414\\");
        CHECK(un("\\X\\") == "\\X\\");
        CHECK(un("\\X 9\\") == "\\X 9\\");
    }
    SECTION("text continues after a literal sequence")
    {
        CHECK(un("\\XZZ\\F\\") == "\\XZZ\\F\\");
        CHECK(un("\\XZZ\\\\F\\") == "\\XZZ\\|");
    }
}

TEST_CASE("unescape: application map", "[escape]")
{
    hl7::escape_map const app{{"Zx", "ZED"}, {"H", "<b>"}, {"N", "</b>"}, {".sp", "<sp>"}, {"F", "FIELD"}};
    CHECK(hl7::unescape("\\Zx\\", std_seps, app) == "ZED");
    CHECK(hl7::unescape("\\H\\x\\N\\", std_seps, app) == "<b>x</b>");
    CHECK(hl7::unescape("\\.sp2\\", std_seps, app) == "<sp><sp>");
    CHECK(hl7::unescape("\\.sp\\", std_seps, app) == "<sp>");
    CHECK(hl7::unescape("\\F\\", std_seps, app) == "FIELD"); // checked before the standard table
    CHECK(hl7::unescape("\\S\\", std_seps, app) == "^");     // standard table still applies
    CHECK(hl7::unescape("\\Zy\\", std_seps, app) == "");     // unknown: removed
    CHECK(hl7::unescape("\\.spq\\", std_seps, app) == "\\.spq\\");
    CHECK(hl7::unescape("plain", std_seps, app) == "plain");
    // Counted form through the map for a name the standard table lacks.
    hl7::escape_map const custom{{".zz", "Z"}};
    CHECK(hl7::unescape("\\.zz3\\", std_seps, custom) == "ZZZ");
}

TEST_CASE("unescape_append appends", "[escape]")
{
    std::string out = "prefix:";
    hl7::unescape_append(out, "a\\F\\b", std_seps);
    CHECK(out == "prefix:a|b");
    hl7::unescape_append(out, "", std_seps);
    CHECK(out == "prefix:a|b");
    hl7::unescape_append(out, "-plain", std_seps);
    CHECK(out == "prefix:a|b-plain");
    hl7::escape_map const app{{"Q", "q"}};
    hl7::unescape_append(out, "\\Q\\", std_seps, &app);
    CHECK(out == "prefix:a|b-plainq");
}

TEST_CASE("escape: standard table", "[escape]")
{
    CHECK(es("") == "");
    CHECK(es("plain text") == "plain text");
    // python-hl7 0.4.5 vectors
    CHECK(es("a|b^c~d&e\\f") == "a\\F\\b\\S\\c\\R\\d\\T\\e\\E\\f");
    CHECK(es("a\rb") == "a\\.br\\b");
    CHECK(es(" ~") == " \\R\\");
    // Fixed: two upper-case hex digits (python-hl7 writes "\X a\" and "\X 9\").
    CHECK(es("\n\t") == "\\X0A\\\\X09\\");
    CHECK(es("\x7f") == "\\X7F\\");
    CHECK(es("\x1f") == "\\X1F\\");
    CHECK(es("\0"s) == "\\X00\\");
    // Fixed: bytes >= 0x80 pass through (UTF-8 and Latin-1 stay as they are).
    CHECK(es("caf\xc3\xa9") == "caf\xc3\xa9");
    CHECK(es("caf\xe9") == "caf\xe9");
    CHECK(es("\xff\x80") == "\xff\x80");
}

TEST_CASE("escape: application map", "[escape]")
{
    hl7::escape_map const app{{"<", "LT"}, {"<<", "LL"}, {"\xc3\xa9", "Ze"}, {"", "ignored"}, {"|", "P"}};
    CHECK(hl7::escape("a<b", std_seps, app) == "a\\LT\\b");
    CHECK(hl7::escape("a<<b", std_seps, app) == "a\\LL\\b"); // longest key wins
    CHECK(hl7::escape("a<<<b", std_seps, app) == "a\\LL\\\\LT\\b");
    CHECK(hl7::escape("caf\xc3\xa9!", std_seps, app) == "caf\\Ze\\!");
    CHECK(hl7::escape("\xc3\xa8", std_seps, app) == "\xc3\xa8"); // shares a first byte only
    CHECK(hl7::escape("a|b", std_seps, app) == "a\\P\\b");      // checked before the standard table
    CHECK(hl7::escape("a^b", std_seps, app) == "a\\S\\b");
    CHECK(hl7::escape("plain", std_seps, app) == "plain");
    // Inverse maps round-trip.
    hl7::escape_map const back{{"LT", "<"}, {"LL", "<<"}, {"Ze", "\xc3\xa9"}, {"P", "|"}};
    for (std::string_view s : {"a<b", "<<<", "\xc3\xa9|\xc3\xa9", "x^y|z<<"})
        CHECK(hl7::unescape(hl7::escape(s, std_seps, app), std_seps, back) == s);
}

TEST_CASE("escape and unescape with unusual delimiters", "[escape]")
{
    hl7::separators hash;
    hash.escape = '#';
    CHECK(hl7::unescape("a#F#b", hash) == "a|b");
    CHECK(hl7::unescape("a#E#b", hash) == "a#b");
    CHECK(hl7::unescape("C:\\temp#.br#x", hash) == "C:\\temp\rx");
    CHECK(hl7::unescape("a\\F\\b", hash) == "a\\F\\b"); // backslash is ordinary here
    CHECK(hl7::escape("a#b\\c|d", hash) == "a#E#b\\c#F#d");
    CHECK(hl7::unescape("abc#", hash) == "abc#");

    hl7::separators odd{'!', '@', '*', '$', '%'}; // field, component, repetition, escape, subcomponent
    CHECK(hl7::escape("!@*$%|^~\\&", odd) == "$F$$S$$R$$E$$T$|^~\\&");
    CHECK(hl7::unescape("$F$$S$$R$$E$$T$|^~\\&", odd) == "!@*$%|^~\\&");
    CHECK(hl7::unescape("$X41$$.sp2$", odd) == "A\r\r");
}

TEST_CASE("escape/unescape round trip", "[escape]")
{
    std::mt19937 rng(20240607);
    std::vector<hl7::separators> const seps_list = {
        hl7::separators{},
        hl7::separators{'|', '^', '~', '#', '&'},
        hl7::separators{'!', '@', '*', '$', '%'},
    };
    // Alphabet biased towards the interesting bytes.
    std::string const alphabet = "|^~\\&#!@*$%\r\n\t\x01\x7f\x80\xc3\xa9 .XFSRTEabcdefghij0123456789"s;

    SECTION("unescape(escape(x)) == x for arbitrary bytes")
    {
        for (auto const& seps : seps_list) {
            for (int n = 0; n < 3000; ++n) {
                std::string x;
                std::size_t const len = rng() % 40;
                for (std::size_t i = 0; i < len; ++i)
                    x += (rng() % 4 == 0) ? static_cast<char>(rng() % 256) : alphabet[rng() % alphabet.size()];
                std::string const e = hl7::escape(x, seps);
                CAPTURE(x, e);
                REQUIRE(hl7::unescape(e, seps) == x);
                // The escaped form never contains a bare delimiter other than the escape character.
                bool bare = false;
                for (char c : e)
                    bare = bare || c == seps.field || c == seps.component || c == seps.repetition ||
                           c == seps.subcomponent || c == '\r';
                REQUIRE_FALSE(bare);
            }
        }
    }

    SECTION("escape(unescape(x)) == x for text made of delimiter sequences")
    {
        std::vector<std::string> const pieces = {"F", "S", "R", "T", "E", ".br"};
        for (auto const& seps : seps_list) {
            for (int n = 0; n < 2000; ++n) {
                std::string x;
                int const count = static_cast<int>(rng() % 12);
                for (int i = 0; i < count; ++i) {
                    if (rng() % 2) {
                        x += seps.escape;
                        x += pieces[rng() % pieces.size()];
                        x += seps.escape;
                    } else {
                        x += "plain text 123"[rng() % 14];
                    }
                }
                CAPTURE(x);
                REQUIRE(hl7::escape(hl7::unescape(x, seps), seps) == x);
            }
        }
    }

    SECTION("unescape(escape(x)) == x even with letter, digit or dot delimiters")
    {
        // Names such as F, E, .br or X0D would contain these escape
        // characters; escape() then falls back to \Xhh\ (or the raw byte).
        std::vector<hl7::separators> const odd_list = {
            hl7::separators{'|', '^', '~', 'F', '&'}, hl7::separators{'|', '^', '~', 'E', '&'},
            hl7::separators{'|', '^', '~', 'X', '&'}, hl7::separators{'|', '^', '~', '.', '&'},
            hl7::separators{'|', '^', '~', '0', '&'}, hl7::separators{'|', '^', '~', 'b', '&'},
            hl7::separators{'|', '^', '~', 'C', '&'}, hl7::separators{'|', '^', '~', 'd', '&'},
            hl7::separators{'F', 'S', 'R', 'E', 'T'}, hl7::separators{'X', '0', '.', 'A', 'r'},
        };
        for (auto const& seps : odd_list) {
            REQUIRE(seps.valid());
            for (int n = 0; n < 2000; ++n) {
                std::string x;
                std::size_t const len = rng() % 30;
                for (std::size_t i = 0; i < len; ++i)
                    x += (rng() % 4 == 0) ? static_cast<char>(rng() % 256) : alphabet[rng() % alphabet.size()];
                std::string const e = hl7::escape(x, seps);
                CAPTURE(seps.escape, x, e);
                REQUIRE(hl7::unescape(e, seps) == x);
            }
        }
        hl7::separators f_esc{'|', '^', '~', 'F', '&'};
        CHECK(hl7::escape("a|F", f_esc) == "aFX7CFFEF");
        CHECK(hl7::unescape("aFX7CFFEF", f_esc) == "a|F");
        hl7::separators e_esc{'|', '^', '~', 'E', '&'};
        CHECK(hl7::escape("E", e_esc) == "EX45E");
        hl7::separators dot_esc{'|', '^', '~', '.', '&'};
        CHECK(hl7::escape("\r", dot_esc) == ".X0D.");
        hl7::separators c_esc{'|', '^', '~', 'C', '&'};
        CHECK(hl7::escape("\x0c", c_esc) == "CX0cC");
        hl7::separators x_esc{'|', '^', '~', 'X', '&'};
        CHECK(hl7::escape("\x01|", x_esc) == "\x01XFX");
    }
}

namespace {

std::string
escape_test_hex(std::string_view s)
{
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (unsigned char c : s) {
        out += digits[c >> 4];
        out += digits[c & 15];
    }
    return out;
}

std::string
escape_test_unhex(std::string_view h)
{
    std::string out;
    for (std::size_t i = 0; i + 1 < h.size(); i += 2)
        out += static_cast<char>(std::stoi(std::string(h.substr(i, 2)), nullptr, 16));
    return out;
}

/// Runs python-hl7 (Debian's system python) on each (op, input) pair; op 'u' unescapes, 'e' escapes.
std::vector<std::string>
escape_test_python(std::vector<std::pair<char, std::string>> const& cases)
{
    std::vector<std::string> lines;
    for (auto const& [op, text] : cases)
        lines.push_back(std::string(1, op) + ' ' + escape_test_hex(text));
    auto out = hl7_test::run_python_hl7("escape_test",
                                        "import sys, hl7\n"
                                        "m = hl7.parse('MSH|^~\\\\&|A\\r')\n"
                                        "for line in open(sys.argv[1]):\n"
                                        "    op, _, hx = line.rstrip('\\n').partition(' ')\n"
                                        "    s = bytes.fromhex(hx).decode('latin-1')\n"
                                        "    r = m.unescape(s) if op == 'u' else m.escape(s)\n"
                                        "    print(r.encode('latin-1').hex())\n",
                                        lines);
    for (auto& line : out)
        line = escape_test_unhex(line);
    return out;
}

} // namespace

TEST_CASE("escape/unescape agree with python-hl7 where no fix applies", "[escape][interop]")
{
    // Well-formed ASCII text: every sequence terminated, counts integers,
    // hex even-length and valid, no control bytes but CR.
    std::vector<std::string> const tokens = {
        "a", "Z", " ", "0", ".", "X", "|", "^", "~", "&", "\r", "\\F\\", "\\S\\", "\\R\\", "\\T\\", "\\E\\", "\\H\\",
        "\\N\\", "\\.br\\", "\\.sp\\", "\\.sp3\\", "\\.in2\\", "\\.ti1\\", "\\.sk4\\", "\\.ce\\", "\\.fi\\", "\\.nf\\",
        "\\.in-2\\", "\\X41\\", "\\X4142\\", "\\X0D0A\\", "\\Xe9\\", "\\C2842\\", "\\M2442\\", "\\Zfoo\\", "\\Q\\",
        "\\\\", "\\.BR\\", "\\f\\", "\\.zz\\"};
    std::mt19937 rng(99);
    std::vector<std::pair<char, std::string>> cases;
    for (int n = 0; n < 400; ++n) {
        std::string un_in;
        std::string es_in;
        int const count = static_cast<int>(rng() % 10);
        for (int i = 0; i < count; ++i) {
            un_in += tokens[rng() % tokens.size()];
            es_in += "ab|^~\\&\r .X"[rng() % 11];
        }
        cases.emplace_back('u', un_in);
        cases.emplace_back('e', es_in);
    }
    auto const expected = escape_test_python(cases);
    REQUIRE(expected.size() == cases.size());
    for (std::size_t i = 0; i < cases.size(); ++i) {
        auto const& [op, text] = cases[i];
        CAPTURE(op, text);
        if (op == 'u')
            CHECK(hl7::unescape(text, std_seps) == expected[i]);
        else
            CHECK(hl7::escape(text, std_seps) == expected[i]);
    }
}
