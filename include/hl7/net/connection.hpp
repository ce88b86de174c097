#ifndef HL7_NET_CONNECTION_HPP
#define HL7_NET_CONNECTION_HPP

// make_hl7_connection: an MLLP connection over any connected AsyncStream.

#include <hl7/detail/asio_config.hpp>
#include <hl7/net/options.hpp>
#include <hl7/net/stream_reader.hpp>
#include <hl7/net/stream_traits.hpp>
#include <hl7/net/stream_writer.hpp>
#include <hl7/net/detail/connection.hpp>

#include <memory>
#include <type_traits>
#include <utility>

namespace hl7 {

/** Makes an MLLP connection of a connected stream (moved in): a TCP or
    UNIX-domain socket, an `asio::ssl::stream<...>` whose handshake is done,
    or any other AsyncStream (the tests use an in-memory one). What the
    connection needs beyond reading and writing (endpoints, closing, direct
    sends) comes from `hl7::stream_traits<AsyncStream>`.

    <!-- doc-test: function body -->
    @code
    #include <asio/io_context.hpp>
    #include <asio/local/connect_pair.hpp>

    asio::io_context ctx;
    asio::local::stream_protocol::socket a(ctx), b(ctx);
    asio::local::connect_pair(a, b);
    auto [reader, writer] = hl7::make_hl7_connection(std::move(a));
    @endcode

    The connection runs on the stream's executor (use a strand when the
    io_context runs on several threads). A client connection has no server
    limits; `options.read_timeout` applies.
*/
template<class AsyncStream>
    requires(!std::is_lvalue_reference_v<AsyncStream>)
std::pair<stream_reader, stream_writer>
make_hl7_connection(AsyncStream&& stream, connection_options const& options = {})
{
    auto state = std::make_shared<detail::connection<std::remove_cv_t<AsyncStream>>>(std::move(stream), options);
    state->start();
    return {stream_reader(state), stream_writer(state)};
}

} // namespace hl7

#endif
