// hl7_bench_receiver: the bundled receiver's work (parse + create_ack() per
// message, a NAK for an unparsable one) as a server for hl7_bench_mllp, with
// no per-message logging. Binds 127.0.0.1 (port 0 unless --port), prints the
// bound port on stdout and serves until killed.
//
//   --api facade  hl7::start_hl7_server + stream_reader/stream_writer (the
//                 API of issue 3; needs <hl7/net/server.hpp>)
//   --api facade-wait-for
//                 the same, each drain() wrapped in hl7::wait_for(..., 10s)
//                 (what a receiver bounding its writes per message pays)
//   --api mllp    the lower layer: an acceptor and hl7::mllp::stream per
//                 connection (shows what the facade costs on top)

#include <hl7/model/ack.hpp>
#include <hl7/mllp/stream.hpp>
#include <hl7/parser/parse.hpp>
#if __has_include(<hl7/net/server.hpp>)
#include <hl7/net/server.hpp>
#include <hl7/net/wait_for.hpp>
#define HL7_BENCH_HAVE_FACADE 1
#endif

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/signal_set.hpp>
#include <asio/use_awaitable.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

using asio::ip::tcp;
constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);

asio::awaitable<void>
serve_mllp_connection(tcp::socket socket)
{
    hl7::mllp::stream<tcp::socket> s(std::move(socket));
    s.decoder().max_frame_size(64 << 20);
    std::string out;
    for (;;) {
        auto [ec, block] = co_await s.async_read_block(use_tuple);
        if (ec == hl7::mllp::error::invalid_block || ec == hl7::mllp::error::frame_too_large)
            continue;
        if (ec)
            break;
        std::error_code pec;
        hl7::message const msg = hl7::parse(block, pec);
        hl7::message const ack = pec ? hl7::make_nak(block, "AR", pec.message()) : msg.create_ack();
        out.clear();
        ack.serialize_to(out);
        auto [wec, n] = co_await s.async_write_block(out, use_tuple);
        if (wec)
            break;
    }
}

asio::awaitable<void>
accept_loop(tcp::acceptor& acceptor)
{
    for (;;) {
        auto [ec, socket] = co_await acceptor.async_accept(use_tuple);
        if (ec) {
            if (ec == asio::error::operation_aborted)
                co_return;
            continue;
        }
        socket.set_option(tcp::no_delay(true));
        asio::co_spawn(acceptor.get_executor(), serve_mllp_connection(std::move(socket)), asio::detached);
    }
}

#ifdef HL7_BENCH_HAVE_FACADE
bool drain_with_wait_for = false;

asio::awaitable<void>
process_hl7_messages(hl7::stream_reader reader, hl7::stream_writer writer)
{
    try {
        while (!writer.is_closing()) {
            hl7::message const msg = co_await reader.readmessage();
            writer.writemessage(msg.create_ack());
            if (drain_with_wait_for) // the document's asyncio.wait_for(drain(), 10)
                co_await hl7::wait_for(writer.drain(), std::chrono::seconds(10));
            else
                co_await writer.drain();
        }
    }
    catch (std::exception const&) {
        // Peer closed (incomplete_read_error) or a broken connection: close, as the document's receiver does.
    }
    if (!writer.is_closing()) {
        writer.close();
        co_await writer.wait_closed();
    }
}
#endif

} // namespace

int
main(int argc, char** argv)
try {
    std::string api = "facade";
    unsigned port = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string_view const a = argv[i];
        if (a == "--api")
            api = argv[i + 1];
        else if (a == "--port")
            port = static_cast<unsigned>(std::atoi(argv[i + 1]));
        else
            throw std::runtime_error("usage: hl7_bench_receiver [--api facade|mllp] [--port N]");
    }
    std::signal(SIGPIPE, SIG_IGN);
    asio::io_context io(1);
    asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](std::error_code, int) { io.stop(); });

    if (api == "mllp") {
        tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<std::uint16_t>(port)));
        std::printf("%u\n", acceptor.local_endpoint().port());
        std::fflush(stdout);
        asio::co_spawn(io, accept_loop(acceptor), asio::detached);
        io.run();
        return 0;
    }
#ifdef HL7_BENCH_HAVE_FACADE
    if (api == "facade" || api == "facade-wait-for") {
        drain_with_wait_for = api == "facade-wait-for";
        asio::co_spawn(
            io,
            [&]() -> asio::awaitable<void> {
                hl7::server_options o;
                o.host = "127.0.0.1";
                o.port = static_cast<std::uint16_t>(port);
                o.connection.max_frame_size = 64 << 20;
                auto server = co_await hl7::start_hl7_server(process_hl7_messages, o);
                std::printf("%u\n", static_cast<unsigned>(server.port()));
                std::fflush(stdout);
                co_await server.serve_forever();
            },
            [](std::exception_ptr e) {
                if (e)
                    std::rethrow_exception(e);
            });
        io.run();
        return 0;
    }
#endif
    throw std::runtime_error("unsupported --api " + api);
}
catch (std::exception const& e) {
    std::fprintf(stderr, "hl7_bench_receiver: %s\n", e.what());
    return 1;
}
