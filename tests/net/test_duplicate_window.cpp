// Test that header file is self-contained.
#include <hl7/net/duplicate_window.hpp>

#include <hl7/parser/parse.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

// A clock the test moves by hand.
struct fake_clock
{
    std::chrono::steady_clock::time_point now{std::chrono::hours(1000)};

    hl7::duplicate_window::now_function
    function()
    {
        return [this] { return now; };
    }
};

} // namespace

TEST_CASE("duplicate_window remembers by sender and control id", "[duplicates]")
{
    hl7::duplicate_window w;
    auto const m = hl7::parse("MSH|^~\\&|APP|FAC|R|RF|2024||ADT^A01|ID-1|P|2.5\r");
    CHECK(!w.contains(m));
    w.remember(m);
    CHECK(w.contains(m));
    CHECK(w.contains("APP", "FAC", "ID-1"));
    CHECK(!w.contains("APP", "OTHER", "ID-1"));
    CHECK(!w.contains("APP2", "FAC", "ID-1"));
    CHECK(!w.contains("APP", "FAC", "ID-2"));
    // Parts do not run into each other.
    w.remember("AB", "C", "X");
    CHECK(!w.contains("A", "BC", "X"));
    CHECK(w.duplicates() == 2);
    CHECK(w.size() == 2);
    // No control id, or absurd sizes: never tracked.
    w.remember("APP", "FAC", "");
    CHECK(!w.contains("APP", "FAC", ""));
    std::string const huge(300, 'x');
    w.remember("APP", "FAC", huge);
    CHECK(!w.contains("APP", "FAC", huge));
    CHECK(w.size() == 2);
}

TEST_CASE("duplicate_window forgets by age and by count", "[duplicates]")
{
    fake_clock clock;
    hl7::duplicate_window w({.max_entries = 3, .max_age = 10min}, clock.function());
    w.remember("A", "F", "1");
    clock.now += 4min;
    w.remember("A", "F", "2");
    clock.now += 4min;
    w.remember("A", "F", "3");
    CHECK(w.contains("A", "F", "1"));
    // Remembering again keeps the first sighting's time.
    w.remember("A", "F", "1");
    clock.now += 3min; // "1" is 11 minutes old now
    CHECK(!w.contains("A", "F", "1"));
    CHECK(w.contains("A", "F", "2"));
    CHECK(w.size() == 2);
    // The count bound drops the oldest.
    w.remember("A", "F", "4");
    w.remember("A", "F", "5");
    CHECK(w.size() == 3);
    CHECK(!w.contains("A", "F", "2"));
    CHECK(w.contains("A", "F", "3"));
    CHECK(w.contains("A", "F", "5"));
    clock.now += 1h;
    CHECK(!w.contains("A", "F", "5"));
    CHECK(w.size() == 0);
}

TEST_CASE("duplicate_window is safe to share between threads", "[duplicates][threads]")
{
    hl7::duplicate_window w({.max_entries = 500});
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&w, t] {
            for (int i = 0; i < 2000; ++i) {
                std::string const id = std::to_string((i * 7 + t) % 1000);
                if (!w.contains("A", "F", id))
                    w.remember("A", "F", id);
            }
        });
    for (auto& th : threads)
        th.join();
    CHECK(w.size() <= 500);
    CHECK(w.size() > 0);
}
