// hl7_router: a receiver written with hl7::router and hl7::run, in a page.
//
//   hl7_router [--host 127.0.0.1] [--port 2575] [--threads 1]
//
// Routes:
//   ADT^*     a coroutine that needs the patient identification: an ADT
//             without PID makes it throw, which the router answers AE (ERR
//             207); an empty PID-3 is answered AE (ERR 101) by the handler
//   ORU^R01   a plain function
//   anything else is answered AR: ERR 200 (unsupported message type), or
//   201 for an ORU with another event
// Headers without type, control id or version are answered AR naming the
// field; MSH-15/MSH-16 (enhanced acknowledgement mode) are honoured; a
// resend of a message already accepted is answered from a duplicate window.
// One line per message on standard output, metadata only.
//
// Stops on SIGINT/SIGTERM once its connections are closed; exit 0 (2 for a
// usage error, 1 for anything unexpected, e.g. the port is in use).

#include "hl7_example_cli.hpp"

#include <hl7/hl7.hpp>
#include <hl7/net/router.hpp>
#include <hl7/net/run.hpp>

#include <cstdint>
#include <cstdio>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>

namespace {

struct config
{
    std::string host = "127.0.0.1";
    std::uint16_t port = 2575;
    unsigned threads = 1;
};

asio::awaitable<hl7::message>
admit(hl7::message const& m)
{
    auto const pid = m.segment("PID"); // no PID: throws, answered AE 207
    if (pid[3].empty()) {
        hl7::ack_options ae;
        ae.code = "AE";
        ae.text = "patient identifier (PID-3) is empty";
        ae.error_code = "101";
        ae.error_location = "PID.3";
        co_return m.create_ack(ae);
    }
    // Where a real receiver would store the message.
    co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
    co_return m.create_ack("AA");
}

hl7::message
result(hl7::message const& m)
{
    return m.create_ack("AA");
}

asio::awaitable<void>
serve(config cfg)
{
    static std::mutex out;
    hl7::router_options options;
    options.duplicates = std::make_shared<hl7::duplicate_window>();
    options.on_event = [](hl7::router_event const& e) {
        std::lock_guard lock(out);
        std::printf("%s\n", hl7::to_string(e).c_str());
        std::fflush(stdout);
    };
    hl7::router router(options);
    router.route("ADT^*", admit).route("ORU^R01", result);

    hl7::server_options server_options;
    server_options.host = cfg.host;
    server_options.port = cfg.port;
    auto server = co_await hl7::start_hl7_server(router, server_options);
    std::printf("Listening on %s:%u\n", cfg.host.c_str(), static_cast<unsigned>(server.port()));
    std::fflush(stdout);
    try {
        co_await server.serve_forever();
    }
    catch (std::system_error const&) {
        // SIGINT/SIGTERM (hl7::run cancels serve_forever, which closes the server)
    }
    co_await server.wait_closed();
    std::printf("Stopped\n");
}

} // namespace

int
main(int argc, char** argv)
{
    config cfg;
    try {
        hl7_example::arguments args(argc, argv);
        while (args.next()) {
            if (args.is("--host"))
                cfg.host = args.value();
            else if (args.is("--port", "-p"))
                cfg.port = args.integer<std::uint16_t>(0);
            else if (args.is("--threads"))
                cfg.threads = args.integer<unsigned>(1, 64);
            else
                args.unknown();
        }
    }
    catch (hl7_example::usage_error const& e) {
        std::cerr << "hl7_router: " << e.what() << "\nusage: hl7_router [--host H] [--port P] [--threads N]\n";
        return 2;
    }
    hl7::run_options run;
    run.threads = cfg.threads;
    return hl7::run(serve(cfg), run);
}
