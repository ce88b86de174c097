#ifndef HL7_EXAMPLES_HL7_EXAMPLE_MAIN_HPP
#define HL7_EXAMPLES_HL7_EXAMPLE_MAIN_HPP

// What the bundled programs' main() does once the command line is read:
// run the program's coroutine to its exit status.
//
// Not hl7::run: these programs handle SIGINT/SIGTERM themselves (a drain
// and counts before exit, hl7_receiver's SIGHUP reload and second-signal
// exit), and hl7::run runs the coroutine on a strand, which would serialise
// the connections of a server started from it (hl7_receiver --threads).

#include <hl7/detail/asio_config.hpp>

#include <asio/awaitable.hpp>
#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>

#include <exception>
#include <iostream>
#include <thread>
#include <vector>

namespace hl7_example {

/** Runs `main` on a fresh io_context with `threads` threads (the calling
    one included), spawned on the io_context's executor, not a strand: a
    server started from it gives each connection a strand of its own.
    When `main` finishes the io_context is stopped: handlers it left
    running are abandoned. `before_destroy()` runs after that, while the
    io_context still exists (for objects that must go before it).

    Returns what `main` returned; an exception from it (or from creating or
    running the io_context) is written to standard error as "NAME: what"
    and gives 1. */
template<class BeforeDestroy>
int
run_program(char const* name, asio::awaitable<int> main, unsigned threads, BeforeDestroy before_destroy)
{
    int rc = 1;
    try {
        asio::io_context ioc(static_cast<int>(threads));
        asio::co_spawn(ioc, std::move(main), [&](std::exception_ptr e, int result) {
            rc = result;
            if (e) {
                try {
                    std::rethrow_exception(e);
                }
                catch (std::exception const& x) {
                    std::cerr << name << ": " << x.what() << std::endl;
                }
                catch (...) {
                    std::cerr << name << ": unknown exception" << std::endl;
                }
                rc = 1;
            }
            ioc.stop();
        });
        std::vector<std::thread> extra;
        for (unsigned i = 1; i < threads; ++i)
            extra.emplace_back([&ioc] { ioc.run(); });
        ioc.run();
        for (auto& t : extra)
            t.join();
        before_destroy();
    }
    catch (std::exception const& e) {
        std::cerr << name << ": " << e.what() << std::endl;
        rc = 1;
    }
    return rc;
}

inline int
run_program(char const* name, asio::awaitable<int> main, unsigned threads = 1)
{
    return run_program(name, std::move(main), threads, [] {});
}

} // namespace hl7_example

#endif
