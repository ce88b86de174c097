#ifndef HL7_NET_STREAM_TRAITS_HPP
#define HL7_NET_STREAM_TRAITS_HPP

// hl7::stream_traits: what a connection needs to know about the stream that
// carries it beyond reading and writing. The extension point for transports
// (TLS, UNIX-domain sockets, test streams).

#include <hl7/detail/asio_config.hpp>
#include <hl7/net/endpoint.hpp>
#include <hl7/net/options.hpp>

#include <asio/buffer.hpp>
#include <asio/detail/socket_option.hpp>
#include <asio/detail/socket_types.hpp>
#include <asio/error.hpp>
#include <asio/socket_base.hpp>

#include <any>
#include <cstddef>
#include <span>
#include <string_view>
#include <system_error>

namespace hl7 {

namespace detail {

// The socket under a layered stream (ssl::stream<tcp::socket>: the TCP
// socket); the stream itself when it has no lowest_layer().
template<class Stream>
decltype(auto)
lowest_layer_of(Stream& s) noexcept
{
    if constexpr (requires { s.lowest_layer(); })
        return (s.lowest_layer());
    else
        return (s);
}

// TCP_NODELAY without naming asio::ip::tcp (the option tcp::no_delay is).
using tcp_no_delay_option = asio::detail::socket_option::boolean<ASIO_OS_DEF(IPPROTO_TCP), ASIO_OS_DEF(TCP_NODELAY)>;

} // namespace detail

/** The default answers of `stream_traits`, for any Asio AsyncStream.

    Sockets (and layered streams through their `lowest_layer()`, e.g.
    `asio::ssl::stream<tcp::socket>`) report their endpoints, are closed with
    `close()` and half-closed with `shutdown(shutdown_send)`; a TCP socket
    gets TCP_NODELAY when `connection_options::no_delay` is on. Streams
    without these members (an in-memory stream) have empty endpoints and are
    closed with their `close()`, if they have one.
*/
template<class Stream>
struct default_stream_traits
{
    /** True when a write may be tried at once without waiting: a plain
        socket, put in non-blocking mode by `configure()`. `writemessage()`
        then sends in the call itself when the socket takes the frame (what
        an asyncio transport does), queueing only the rest. For any other
        stream (TLS, which must not be written to behind its back; test
        streams) every frame is queued and written asynchronously. */
    static constexpr bool direct_send = requires(Stream& s, std::error_code& ec) {
        s.non_blocking(true, ec);
        s.write_some(asio::const_buffer{}, ec);
    };

    /// The peer's address (asyncio's `peername`); empty if the stream has none.
    static endpoint
    peer(Stream const& s)
    {
        auto const& l = detail::lowest_layer_of(s);
        if constexpr (requires(std::error_code& ec) { l.remote_endpoint(ec); }) {
            std::error_code ec;
            auto ep = l.remote_endpoint(ec);
            if (!ec)
                return endpoint::from(ep);
        }
        return {};
    }

    /// This side's address (asyncio's `sockname`); empty if the stream has none.
    static endpoint
    local(Stream const& s)
    {
        auto const& l = detail::lowest_layer_of(s);
        if constexpr (requires(std::error_code& ec) { l.local_endpoint(ec); }) {
            std::error_code ec;
            auto ep = l.local_endpoint(ec);
            if (!ec)
                return endpoint::from(ep);
        }
        return {};
    }

    /// Called once when the connection starts: non-blocking mode for direct
    /// sends, TCP_NODELAY on TCP sockets when `options.no_delay`.
    static void
    configure(Stream& s, connection_options const& options)
    {
        std::error_code ec;
        if constexpr (direct_send)
            s.non_blocking(true, ec);
        auto& l = detail::lowest_layer_of(s);
        if constexpr (requires { l.local_endpoint(ec).protocol().protocol(); }) {
            if (options.no_delay && l.local_endpoint(ec).protocol().protocol() == ASIO_OS_DEF(IPPROTO_TCP))
                l.set_option(detail::tcp_no_delay_option(true), ec);
        }
    }

    /// A write that does not wait (only called when `direct_send`): the bytes
    /// taken, or `would_block`/`try_again` when the socket is full.
    static std::size_t
    try_send(Stream& s, std::span<asio::const_buffer const> buffers, std::error_code& ec)
    {
        if constexpr (direct_send)
            return s.write_some(buffers, ec);
        ec = asio::error::would_block;
        return 0;
    }

    /// Graceful end of output (a TCP FIN), before `close()`.
    static void
    shutdown(Stream& s) noexcept
    {
        auto& l = detail::lowest_layer_of(s);
        if constexpr (requires(std::error_code& ec) { l.shutdown(asio::socket_base::shutdown_send, ec); }) {
            std::error_code ignored;
            l.shutdown(asio::socket_base::shutdown_send, ignored);
        }
    }

    /// Closes the stream: pending operations end with `operation_aborted`.
    static void
    close(Stream& s) noexcept
    {
        auto& l = detail::lowest_layer_of(s);
        if constexpr (requires(std::error_code& ec) { l.close(ec); }) {
            std::error_code ignored;
            l.close(ignored);
        } else if constexpr (requires { l.close(); }) {
            l.close();
        }
    }

    /** asyncio's `get_extra_info(name)` for names other than `"peername"`
        and `"sockname"` (which the connection answers itself): empty by
        default. A TLS stream's traits answer `"peercert"`, `"cipher"`,
        `"version"`, ... here. */
    static std::any
    extra_info(Stream const&, std::string_view)
    {
        return {};
    }
};

/** How a connection uses a stream type beyond reading and writing.

    Specialise it for a stream type to change an answer, deriving from
    `default_stream_traits` to keep the others:

    <!-- doc-test: skip, a declaration outside namespace hl7 needs asio/ssl.hpp and OpenSSL -->
    @code
    template<class Next>
    struct hl7::stream_traits<asio::ssl::stream<Next>> : hl7::default_stream_traits<asio::ssl::stream<Next>>
    {
        static std::any extra_info(asio::ssl::stream<Next> const& s, std::string_view name);
    };
    @endcode

    Everything is called on the connection's executor.
*/
template<class Stream>
struct stream_traits : default_stream_traits<Stream>
{
};

} // namespace hl7

#endif
