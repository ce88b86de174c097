// Test that header file is self-contained.
#include <hl7/store/sqlite.hpp>

#include "store_test_support.hpp"

#include <catch2/catch.hpp>

using namespace store_test;
using hl7::store::error;
using hl7::store::put_status;

TEST_CASE("sqlite store: put, take, deliver through the public API", "[store][sqlite]")
{
    scratch_dir dir;
    asio::io_context ctx;
    run(ctx, [&]() -> asio::awaitable<void> {
        auto store = co_await hl7::store::open_sqlite_store(dir.file("s.db"));
        CHECK(store->description() == "sqlite:" + dir.file("s.db"));
        std::string const text = message_text("ID-1");
        auto r = co_await store->put(text, meta_of(text, "10.0.0.9:777"));
        CHECK(r.status == put_status::stored);
        CHECK(r.id == 1);
        auto m = co_await store->next(0s);
        REQUIRE(m);
        CHECK(m->id == r.id);
        CHECK(m->payload == text);
        CHECK(m->meta.control_id == "ID-1");
        CHECK(m->meta.sending_application == "LAB");
        CHECK(m->meta.sending_facility == "NORTH");
        CHECK(m->meta.message_type == "ADT^A01^ADT_A01");
        CHECK(m->meta.peer == "10.0.0.9:777");
        CHECK(m->attempts == 0);
        co_await store->delivered(m->id);
        auto none = co_await store->next(0s);
        CHECK_FALSE(none);
        auto st = co_await store->stats();
        CHECK(st.queued == 0);
        CHECK(st.delivered == 1);
        CHECK(st.dead == 0);
        CHECK(st.senders == 1);
        co_await store->close();
    });
}
