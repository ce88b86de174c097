#ifndef HL7_NET_ENDPOINT_HPP
#define HL7_NET_ENDPOINT_HPP

// hl7::endpoint: one end of a connection, whatever carries it (asyncio's
// peername / sockname).

#include <hl7/detail/asio_config.hpp>

#include <asio/ip/address.hpp>

#include <cstdint>
#include <ostream>
#include <string>
#include <utility>

namespace hl7 {

/** Where one end of a connection is: an IP address and port (TCP, also
    under TLS), a path (a UNIX-domain socket), or nothing (a stream that has
    no address, e.g. an in-memory test stream). What `peername()`,
    `sockname()`, `server::local_endpoint()` and `server_event::peer` return.

    <!-- doc-test: coroutine body -->
    @code
    #include <iostream>

    hl7::endpoint ep = writer.peername();
    if (ep.is_ip() && ep.address().is_loopback())
        std::clog << "a local peer\n";
    std::cout << ep << "\n"; // 127.0.0.1:2575, [::1]:2575, /run/hl7.sock
    @endcode
*/
class endpoint
{
public:
    enum class kind : unsigned char {
        none,  ///< no address (the stream has none, or it could not be read)
        ip,    ///< `address()` and `port()`
        local, ///< `path()`: a UNIX-domain socket
    };

    /// No address.
    endpoint() = default;

    /// An IP endpoint.
    endpoint(asio::ip::address address, std::uint16_t port) : kind_(kind::ip), address_(std::move(address)), port_(port)
    {
    }

    /** A UNIX-domain socket's path. Empty for an unnamed socket (a client
        that did not bind); a Linux abstract name starts with '\0'. */
    static endpoint
    local(std::string path)
    {
        endpoint e;
        e.kind_ = kind::local;
        e.path_ = std::move(path);
        return e;
    }

    /// From any Asio socket endpoint: IP (`address()`, `port()`) or
    /// UNIX-domain (`path()`); anything else gives an empty endpoint.
    template<class AsioEndpoint>
    static endpoint
    from(AsioEndpoint const& ep)
    {
        if constexpr (requires { ep.address(); ep.port(); })
            return endpoint(ep.address(), ep.port());
        else if constexpr (requires { ep.path(); })
            return local(ep.path());
        else
            return {};
    }

    kind
    type() const noexcept
    {
        return kind_;
    }

    bool
    empty() const noexcept
    {
        return kind_ == kind::none;
    }

    bool
    is_ip() const noexcept
    {
        return kind_ == kind::ip;
    }

    bool
    is_local() const noexcept
    {
        return kind_ == kind::local;
    }

    /// The IP address (unspecified unless `is_ip()`).
    asio::ip::address const&
    address() const noexcept
    {
        return address_;
    }

    /// The port (0 unless `is_ip()`).
    std::uint16_t
    port() const noexcept
    {
        return port_;
    }

    /// The socket's path (empty unless `is_local()`).
    std::string const&
    path() const noexcept
    {
        return path_;
    }

    /** `192.0.2.1:2575`, `[2001:db8::1]:2575`, the path of a UNIX-domain
        socket (`@name` for a Linux abstract one; empty for an unnamed one),
        or an empty string for no address. */
    std::string
    to_string() const
    {
        switch (kind_) {
        case kind::ip: {
            std::string const a = address_.to_string();
            return (address_.is_v6() ? "[" + a + "]" : a) + ":" + std::to_string(port_);
        }
        case kind::local:
            if (!path_.empty() && path_.front() == '\0')
                return "@" + path_.substr(1);
            return path_;
        case kind::none: break;
        }
        return {};
    }

    friend bool operator==(endpoint const&, endpoint const&) = default;

    friend std::ostream&
    operator<<(std::ostream& os, endpoint const& e)
    {
        return os << e.to_string();
    }

private:
    kind kind_ = kind::none;
    asio::ip::address address_{};
    std::uint16_t port_ = 0;
    std::string path_{};
};

} // namespace hl7

#endif
