// Built against the installed package by the hl7.package.find_sqlite test:
// stores a message, takes it back, marks it delivered.
#include <hl7/hl7.hpp>
#include <hl7/store/sqlite.hpp>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>

#include <chrono>
#include <cstdio>
#include <exception>
#include <iostream>
#include <string>

int
main(int argc, char** argv)
{
    if (argc != 2) {
        std::cerr << "usage: hl7_sqlite_consumer STORE_PATH\n";
        return 2;
    }
    std::string const path = argv[1];
    std::remove(path.c_str());
    int rc = 1;
    asio::io_context ctx;
    asio::co_spawn(
        ctx,
        [&]() -> asio::awaitable<void> {
            std::string const payload = "MSH|^~\\&|A|B|C|D|20240101||ADT^A01|42|P|2.5\rPID|1||123^^^H^MR\r";
            auto store = co_await hl7::store::open_sqlite_store(path);
            auto put = co_await store->put(payload, hl7::store::make_metadata(hl7::parse(payload)));
            auto taken = co_await store->next(std::chrono::seconds(0));
            if (put.status == hl7::store::put_status::stored && taken && taken->id == put.id &&
                taken->payload == payload && taken->meta.control_id == "42") {
                co_await store->delivered(taken->id);
                rc = 0;
            }
            co_await store->close();
        },
        [](std::exception_ptr e) {
            if (e)
                std::rethrow_exception(e);
        });
    try {
        ctx.run();
    }
    catch (std::exception const& e) {
        std::cerr << "hl7_sqlite_consumer: " << e.what() << '\n';
        return 1;
    }
    std::cout << (rc == 0 ? "stored, taken and delivered\n" : "unexpected result\n");
    return rc;
}
