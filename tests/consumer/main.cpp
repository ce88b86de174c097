// Built against the installed package by the hl7.package.find_package test:
// find_package(hl7) and hl7::hl7, i.e. the model, Asio and threads. One
// message and its ACK over loopback, the io_context run by two threads.
#include <hl7/hl7.hpp>

#include <exception>
#include <iostream>
#include <string>
#include <thread>

namespace {

asio::awaitable<void>
echo_acks(hl7::stream_reader reader, hl7::stream_writer writer)
{
    try {
        for (;;) {
            hl7::message msg = co_await reader.readmessage();
            writer.writemessage(msg.create_ack());
            co_await writer.drain();
        }
    }
    catch (hl7::mllp::incomplete_read_error const&) {
    }
}

asio::awaitable<std::string>
exchange()
{
    using namespace std::chrono_literals;
    hl7::server_options options;
    options.host = "127.0.0.1";
    options.port = 0;
    hl7::server server = co_await hl7::start_hl7_server(echo_acks, options);
    std::string code;
    {
        auto [reader, writer] = co_await hl7::open_hl7_connection("127.0.0.1", server.port());
        writer.writemessage(hl7::parse("MSH|^~\\&|A|B|C|D|20240101||ADT^A01|42|P|2.5\rPID|1||123^^^H^MR\r"));
        hl7::message ack = co_await hl7::wait_for(reader.readmessage(), 10s);
        code = std::string(ack["MSA.1"]) + ' ' + std::string(ack["MSA.2"]);
        writer.close();
        co_await writer.wait_closed();
    }
    server.close();
    co_await server.wait_closed();
    co_return code;
}

} // namespace

int
main()
{
    asio::io_context io;
    std::string code;
    std::exception_ptr failure;
    // A strand: the client connection must not run on two threads at once.
    asio::co_spawn(asio::make_strand(io), exchange(), [&](std::exception_ptr e, std::string c) {
        failure = e;
        code = std::move(c);
    });
    std::thread second([&] { io.run(); });
    io.run();
    second.join();
    if (failure) {
        try {
            std::rethrow_exception(failure);
        }
        catch (std::exception const& e) {
            std::cerr << "hl7_consumer: " << e.what() << '\n';
        }
        return 1;
    }
    std::cout << code << '\n';
    return code == "AA 42" ? 0 : 1;
}
