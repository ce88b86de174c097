// The hl7_store program (examples/hl7_store.cpp) against a store filled
// through the library: stats, list, requeue, and its exit codes.
#include <hl7/store/sqlite.hpp>

#include "store_test_support.hpp"

#include <catch2/catch.hpp>

#include <fstream>
#include <regex>

using namespace store_test;

#ifdef HL7_STORE_PROGRAM

namespace {

/// A store with 2 queued (one of them retrying), 1 delivered, 3 dead letters and 1 duplicate.
std::vector<std::uint64_t>
fill_store(std::string const& path)
{
    asio::io_context ctx;
    std::vector<std::uint64_t> dead;
    run(ctx, [&]() -> asio::awaitable<void> {
        auto store = co_await hl7::store::open_sqlite_store(path);
        for (int i = 0; i < 6; ++i) {
            std::string const text = message_text("CLI-" + std::to_string(i), "APP" + std::to_string(i));
            co_await store->put(text, meta_of(text, "10.1.2.3:4000"));
        }
        std::string const dup = message_text("CLI-0", "APP0");
        co_await store->put(dup, meta_of(dup));
        for (int i = 0; i < 5; ++i) {
            auto m = co_await store->next(0s);
            REQUIRE(m);
            if (i < 3) {
                co_await store->dead(m->id, "AR from downstream: unknown patient\r(line 2)");
                dead.push_back(m->id);
            }
            else if (i == 3)
                co_await store->delivered(m->id);
            else
                co_await store->retry_later(m->id, std::chrono::hours(1), "connection refused");
        }
        co_await store->close();
    });
    return dead;
}

program_result
hl7_store(scratch_dir const& dir, std::vector<std::string> args)
{
    return run_program(HL7_STORE_PROGRAM, std::move(args), dir.path());
}

std::size_t
count_lines(std::string const& text)
{
    return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

} // namespace

TEST_CASE("hl7_store: stats counts by state", "[store][hl7_store]")
{
    scratch_dir dir;
    std::string const path = dir.file("in.db");
    fill_store(path);
    auto r = hl7_store(dir, {"stats", "--store", "sqlite:" + path});
    INFO(r.out << r.err);
    CHECK(r.exit_code == 0);
    CHECK(std::regex_search(r.out, std::regex("\nqueued +2\n")));
    CHECK(std::regex_search(r.out, std::regex("\nretrying +1\n")));
    CHECK(std::regex_search(r.out, std::regex("\ndelivered +1\n")));
    CHECK(std::regex_search(r.out, std::regex("\ndead +3\n")));
    CHECK(std::regex_search(r.out, std::regex("\nduplicates +1\n")));
    CHECK(std::regex_search(r.out, std::regex("\nsenders +6\n")));
    CHECK(r.out.find("sqlite:" + path) != std::string::npos);
}

TEST_CASE("hl7_store: list shows dead letters as metadata, contents only when asked", "[store][hl7_store]")
{
    scratch_dir dir;
    std::string const path = dir.file("in.db");
    auto const dead = fill_store(path);
    auto r = hl7_store(dir, {"list", "--store", "sqlite:" + path});
    INFO(r.out << r.err);
    CHECK(r.exit_code == 0);
    CHECK(count_lines(r.out) == 1 + 3); // header + 3 dead letters
    CHECK(r.out.rfind("id\tstate\tstored\treceived\tsender\tcontrol_id\ttype\tpeer\tattempts\tsize\tlast_error\n", 0) == 0);
    CHECK(std::regex_search(r.out, std::regex("\n" + std::to_string(dead[0]) +
                                              "\tdead\t[0-9T:.-]+Z\t[0-9T:.-]+Z\tAPP0/NORTH\tCLI-0\tADT\\^A01\\^ADT_A01\t"
                                              "10\\.1\\.2\\.3:4000\t1\t[0-9]+\tAR from downstream: unknown "
                                              "patient\\\\x0D\\(line 2\\)\n")));
    CHECK(r.out.find("PID|") == std::string::npos); // no contents

    auto c = hl7_store(dir, {"list", "--store", "sqlite:" + path, "--contents", "--limit", "1"});
    CHECK(c.exit_code == 0);
    CHECK(c.out.find("\n    MSH|^~\\&|APP0|NORTH|") != std::string::npos);
    CHECK(c.out.find("\n    PID|1||12345^^^HOSP^MR||DOE^JOHN\n") != std::string::npos);
    CHECK(c.out.find("CLI-1") == std::string::npos); // the limit

    auto q = hl7_store(dir, {"list", "--store", "sqlite:" + path, "--state", "queued"});
    CHECK(q.exit_code == 0);
    CHECK(count_lines(q.out) == 1 + 2);
    CHECK(q.out.find("connection refused") != std::string::npos);

    auto paged = hl7_store(dir, {"list", "--store", "sqlite:" + path, "--after", std::to_string(dead[1])});
    CHECK(count_lines(paged.out) == 1 + 1);
}

TEST_CASE("hl7_store: requeue by id and all", "[store][hl7_store]")
{
    scratch_dir dir;
    std::string const path = dir.file("in.db");
    auto const dead = fill_store(path);
    auto one = hl7_store(dir, {"requeue", "--store", "sqlite:" + path, "--id", std::to_string(dead[1])});
    INFO(one.out << one.err);
    CHECK(one.exit_code == 0);
    CHECK(one.out == "requeued 1 dead letter\n");

    // An id that is not a dead letter: the others still go, exit 4.
    auto mixed = hl7_store(dir, {"requeue", "--store", "sqlite:" + path, "--id", std::to_string(dead[1]), "--id",
                                 std::to_string(dead[0])});
    CHECK(mixed.exit_code == 4);
    CHECK(mixed.err.find("message " + std::to_string(dead[1]) + " is not a dead letter") != std::string::npos);
    CHECK(mixed.out == "requeued 1 dead letter\n");

    auto all = hl7_store(dir, {"requeue", "--store", "sqlite:" + path, "--all"});
    CHECK(all.exit_code == 0);
    CHECK(all.out == "requeued 1 dead letter\n");
    auto stats = hl7_store(dir, {"stats", "--store", "sqlite:" + path});
    CHECK(std::regex_search(stats.out, std::regex("\ndead +0\n")));
    CHECK(std::regex_search(stats.out, std::regex("\nqueued +5\n")));
}

TEST_CASE("hl7_store: exit codes for a store that cannot be opened and for usage errors", "[store][hl7_store]")
{
    scratch_dir dir;
    auto missing = hl7_store(dir, {"stats", "--store", "sqlite:" + dir.file("absent.db")});
    CHECK(missing.exit_code == 3);
    CHECK(missing.err.find("cannot open the store") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(dir.file("absent.db"))); // never created

    {
        std::ofstream(dir.file("text.db")) << std::string(8192, 't');
    }
    auto not_store = hl7_store(dir, {"stats", "--store", "sqlite:" + dir.file("text.db")});
    CHECK(not_store.exit_code == 3);
    CHECK(not_store.err.find("not a message store") != std::string::npos);

    CHECK(hl7_store(dir, {}).exit_code == 2);
    CHECK(hl7_store(dir, {"stats"}).exit_code == 2);
    CHECK(hl7_store(dir, {"frobnicate", "--store", "sqlite:x.db"}).exit_code == 2);
    CHECK(hl7_store(dir, {"stats", "--store", "nats://localhost"}).exit_code == 2);
    CHECK(hl7_store(dir, {"requeue", "--store", "sqlite:x.db"}).exit_code == 2);
    CHECK(hl7_store(dir, {"requeue", "--store", "sqlite:x.db", "--all", "--id", "3"}).exit_code == 2);
    CHECK(hl7_store(dir, {"stats", "--store", "sqlite:x.db", "--contents"}).exit_code == 2);
    auto help = hl7_store(dir, {"--help"});
    CHECK(help.exit_code == 0);
    CHECK(help.out.find("exit codes") != std::string::npos);
}

#else

TEST_CASE("hl7_store: not built (examples off)", "[store][hl7_store]")
{
    WARN("hl7_store was not built; its tests did not run");
}

#endif
