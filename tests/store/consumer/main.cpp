// Built against the installed package by the hl7.package.find_sqlite test:
// stores a message, takes it back, marks it delivered.
#include <hl7/hl7.hpp>
#include <hl7/store/sqlite.hpp>

#include <chrono>
#include <cstdio>
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
    // hl7::run reports an exception from the coroutine and makes it exit status 1.
    return hl7::run([&]() -> asio::awaitable<int> {
        std::string const payload = "MSH|^~\\&|A|B|C|D|20240101||ADT^A01|42|P|2.5\rPID|1||123^^^H^MR\r";
        auto store = co_await hl7::store::open_sqlite_store(path);
        auto put = co_await store->put(payload, hl7::store::make_metadata(hl7::parse(payload)));
        auto taken = co_await store->next(std::chrono::seconds(0));
        int rc = 1;
        if (put.status == hl7::store::put_status::stored && taken && taken->id == put.id &&
            taken->payload == payload && taken->meta.control_id == "42") {
            co_await store->delivered(taken->id);
            rc = 0;
        }
        co_await store->close();
        std::cout << (rc == 0 ? "stored, taken and delivered\n" : "unexpected result\n");
        co_return rc;
    });
}
