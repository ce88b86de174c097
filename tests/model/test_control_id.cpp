#include <hl7/model/control_id.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

namespace {

bool
well_formed(std::string const& id)
{
    return id.size() == 20 &&
           std::all_of(id.begin(), id.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z'); });
}

} // namespace

TEST_CASE("generate_message_control_id: shape", "[control_id]")
{
    auto const id = hl7::generate_message_control_id();
    CAPTURE(id);
    CHECK(well_formed(id));
    // Same process: same salt (the last 7 characters).
    auto const other = hl7::generate_message_control_id();
    CHECK(other.substr(13) == id.substr(13));
    CHECK(other != id);
}

TEST_CASE("generate_message_control_id: ids of one thread increase", "[control_id]")
{
    std::string prev = hl7::generate_message_control_id();
    bool increasing = true;
    for (int i = 0; i < 100'000; ++i) {
        std::string next = hl7::generate_message_control_id();
        increasing = increasing && next > prev;
        prev = std::move(next);
    }
    CHECK(increasing);
}

TEST_CASE("generate_message_control_id: unique across threads in a tight loop", "[control_id]")
{
    constexpr int threads = 4;
    constexpr int per_thread = 50'000;
    std::vector<std::vector<std::string>> ids(threads);
    {
        std::vector<std::thread> workers;
        for (int t = 0; t < threads; ++t) {
            workers.emplace_back([&ids, t] {
                ids[t].reserve(per_thread);
                for (int i = 0; i < per_thread; ++i)
                    ids[t].push_back(hl7::generate_message_control_id());
            });
        }
        for (auto& w : workers)
            w.join();
    }
    std::vector<std::string> all;
    all.reserve(threads * per_thread);
    for (auto& v : ids)
        all.insert(all.end(), v.begin(), v.end());
    REQUIRE(all.size() == static_cast<std::size_t>(threads * per_thread));
    CHECK(std::all_of(all.begin(), all.end(), well_formed));
    std::sort(all.begin(), all.end());
    CHECK(std::adjacent_find(all.begin(), all.end()) == all.end());
}
