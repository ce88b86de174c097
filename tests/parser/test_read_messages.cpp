// Reading the messages of a file: one message, several, a batch, MLLP frames.
#include <hl7/parser/read_messages.hpp>

#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>

namespace {

std::filesystem::path const data_dir = HL7_TEST_DATA_DIR;

// A file in the temporary directory, removed when the object goes.
struct temp_file
{
    std::filesystem::path path;

    explicit temp_file(std::string const& content)
    {
        static int counter = 0;
        path = std::filesystem::temp_directory_path() /
               ("hl7_read_messages_" + std::to_string(::getpid()) + "_" + std::to_string(++counter) + ".hl7");
        std::ofstream(path, std::ios::binary) << content;
    }
    ~temp_file()
    {
        std::error_code ignored;
        std::filesystem::remove(path, ignored);
    }
};

std::string const one = "MSH|^~\\&|A|B|C|D|2024||ADT^A01|ONE|P|2.5\rPID|1||1\r";
std::string const two = "MSH|^~\\&|A|B|C|D|2024||ADT^A08|TWO|P|2.5\rPID|1||2\r";

} // namespace

TEST_CASE("read_messages: one message, several, a batch, frames", "[read_messages]")
{
    {
        temp_file f(one);
        auto const ms = hl7::read_messages(f.path);
        REQUIRE(ms.size() == 1);
        CHECK(ms[0].control_id() == "ONE");
        CHECK(hl7::to_string(ms[0]) == one);
    }
    {
        // Several messages, LF line ends and a blank line between them.
        std::string text = one + "\n" + two;
        for (auto& c : text)
            if (c == '\r')
                c = '\n';
        temp_file f(text);
        auto const ms = hl7::read_messages(f.path);
        REQUIRE(ms.size() == 2);
        CHECK(ms[0].control_id() == "ONE");
        CHECK(ms[1].control_id() == "TWO");
        CHECK(hl7::to_string(ms[1]) == two);
    }
    {
        // A batch: headers and trailers are dropped.
        auto const ms = hl7::read_messages(data_dir / "dump_batch.hl7");
        REQUIRE(ms.size() == 2);
        CHECK(ms[0].control_id() == "DUMP-0001");
        CHECK(ms[1].control_id() == "DUMP-0002");
    }
    {
        // A file with FHS and two batches.
        temp_file f("FHS|^~\\&\rBHS|^~\\&\r" + one + "BTS|1\rBHS|^~\\&\r" + two + "BTS|1\rFTS|2\r");
        auto const ms = hl7::read_messages(f.path);
        REQUIRE(ms.size() == 2);
        CHECK(ms[1].control_id() == "TWO");
    }
    {
        // MLLP frames, as mllp_send --file reads them.
        auto const ms = hl7::read_messages(data_dir / "interop_three.mllp");
        REQUIRE(ms.size() == 3);
        CHECK(ms[0].control_id() == "INTEROP-0001");
        CHECK(ms[2].control_id() == "INTEROP-0003");
        CHECK(ms[2].trigger_event() == "A08");
    }
}

TEST_CASE("read_messages: errors are typed and say where", "[read_messages]")
{
    try {
        (void)hl7::read_messages(data_dir / "no such file.hl7");
        FAIL("no exception");
    }
    catch (std::system_error const& e) {
        CHECK(e.code() == std::errc::no_such_file_or_directory);
        CHECK(std::string(e.what()).find("no such file.hl7") != std::string::npos);
    }
    {
        temp_file f("");
        CHECK_THROWS_MATCHES(hl7::read_messages(f.path), hl7::parse_error,
                             Catch::Predicate<hl7::parse_error>(
                                 [](auto const& e) { return e.code() == hl7::error::empty_message; }));
    }
    {
        // The second frame does not parse: the offset is in the file, the frame is named.
        std::string const text = "\x0b" + one + "\x1c\r\x0bPID|1\x1c\r";
        temp_file f(text);
        try {
            (void)hl7::read_messages(f.path);
            FAIL("no exception");
        }
        catch (hl7::parse_error const& e) {
            CHECK(e.code() == hl7::error::no_header);
            CHECK(e.offset() == one.size() + 4);
            CHECK(std::string(e.what()) ==
                  "message does not start with an MSH segment at byte " + std::to_string(one.size() + 4) +
                      " (segment 1 of frame 2)");
        }
    }
    {
        hl7::parse_options small;
        small.max_message_size = 16;
        temp_file f(one);
        CHECK_THROWS_MATCHES(hl7::read_messages(f.path, small), hl7::parse_error,
                             Catch::Predicate<hl7::parse_error>(
                                 [](auto const& e) { return e.code() == hl7::error::message_too_large; }));
        CHECK_THROWS_AS(hl7::split_messages(one, small), hl7::parse_error);
    }
    CHECK_THROWS_AS(hl7::split_messages("\x0b\x1c\r"), hl7::parse_error);
}
