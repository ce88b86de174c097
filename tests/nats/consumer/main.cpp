// Built against the installed package by the hl7.package.find_nats test:
// links nats.c through hl7::nats and opens a store where no server listens,
// which must fail with the typed error (no cluster is needed for that).
#include <hl7/hl7.hpp>
#include <hl7/store/jetstream.hpp>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>

#include <exception>
#include <iostream>
#include <string>

int
main()
{
    int rc = 1;
    asio::io_context ctx;
    asio::co_spawn(
        ctx,
        [&]() -> asio::awaitable<void> {
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
                    rc = 0;
                }
                else {
                    std::cout << "unexpected error: " << e.what() << '\n';
                }
            }
        },
        [](std::exception_ptr e) {
            if (e)
                std::rethrow_exception(e);
        });
    try {
        ctx.run();
    }
    catch (std::exception const& e) {
        std::cerr << "hl7_nats_consumer: " << e.what() << '\n';
        return 1;
    }
    return rc;
}
