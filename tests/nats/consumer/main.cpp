// Built against the installed package by the hl7.package.find_nats test:
// links nats.c through hl7::nats and opens a store where no server listens,
// which must fail with the typed error (no cluster is needed for that).
#include <hl7/hl7.hpp>
#include <hl7/store/jetstream.hpp>

#include <iostream>
#include <string>

int
main()
{
    // hl7::run reports an exception from the coroutine and makes it exit status 1.
    return hl7::run([]() -> asio::awaitable<int> {
        hl7::store::jetstream_options o;
        o.require_connection = true;
        try {
            // Port 1 on loopback: nothing listens there.
            auto store = co_await hl7::store::open_jetstream_store("nats://127.0.0.1:1", o);
            co_await store->close();
            std::cout << "unexpected: connected\n";
        }
        catch (hl7::store::store_error const& e) {
            if (e.code() == hl7::store::error::unavailable) {
                std::cout << "unavailable, as expected: " << e.what() << '\n';
                co_return 0;
            }
            std::cout << "unexpected error: " << e.what() << '\n';
        }
        co_return 1;
    });
}
