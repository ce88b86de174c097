#ifndef HL7_NET_UNIX_HPP
#define HL7_NET_UNIX_HPP

// MLLP over UNIX-domain stream sockets: asyncio's open_unix_connection and
// start_unix_server. Same reader, writer, server and limits as over TCP.

#include <hl7/detail/asio_config.hpp>
#include <hl7/net/connection.hpp>
#include <hl7/net/options.hpp>
#include <hl7/net/server.hpp>
#include <hl7/net/stream_reader.hpp>
#include <hl7/net/stream_writer.hpp>
#include <hl7/net/detail/connect.hpp>
#include <hl7/net/detail/server_state.hpp>

#include <asio/awaitable.hpp>
#include <asio/error.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/local/stream_protocol.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

#if !defined(ASIO_HAS_LOCAL_SOCKETS)
#error "hl7/net/unix.hpp needs UNIX-domain sockets (ASIO_HAS_LOCAL_SOCKETS)"
#endif

namespace hl7 {

namespace detail {

struct unix_connect_request
{
    std::string path;
    connection_options options;
};

inline asio::awaitable<std::pair<stream_reader, stream_writer>>
open_unix_connection(unix_connect_request request)
{
    using socket_type = asio::local::stream_protocol::socket;
    auto ex = co_await asio::this_coro::executor;
    auto socket = std::make_shared<socket_type>(ex);
    connect_deadline deadline(ex, request.options.connect_timeout, [socket] {
        std::error_code ignored;
        socket->close(ignored);
    });
    auto [ec] = co_await socket->async_connect(asio::local::stream_protocol::endpoint(request.path),
                                               asio::experimental::as_tuple(asio::use_awaitable));
    deadline.finish(ec, "connect to " + request.path);
    co_return make_hl7_connection(std::move(*socket), request.options);
}

// The socket file of a UNIX-domain server: what start_hl7_unix_server does
// with a file that is already there, and removing the one it made.
class unix_socket_file
{
public:
    /** Makes room for a socket at `path` (a filesystem path; a Linux
        abstract name, starting with '\0', has no file). An existing socket
        that nobody accepts on (a previous receiver died without removing it)
        is removed; one somebody listens on, or a file that is not a socket,
        is left alone: the bind then fails with `address_in_use`. */
    static void
    prepare(std::string const& path)
    {
        if (path.empty() || path.front() == '\0')
            return;
        struct ::stat st{};
        if (::lstat(path.c_str(), &st) != 0)
            return; // nothing there (or not reachable: bind will say)
        if (!S_ISSOCK(st.st_mode) || in_use(path))
            throw std::system_error(asio::error::address_in_use);
        ::unlink(path.c_str());
    }

    /// Remembers the socket file just bound at `path`.
    explicit unix_socket_file(std::string path) : path_(std::move(path))
    {
        struct ::stat st{};
        if (!path_.empty() && path_.front() != '\0' && ::lstat(path_.c_str(), &st) == 0) {
            dev_ = st.st_dev;
            ino_ = st.st_ino;
            owned_ = true;
        }
    }

    /// Removes the file if it is still the one this server made (another
    /// server may have replaced it since).
    void
    remove() noexcept
    {
        struct ::stat st{};
        if (owned_ && ::lstat(path_.c_str(), &st) == 0 && st.st_dev == dev_ && st.st_ino == ino_)
            ::unlink(path_.c_str());
        owned_ = false;
    }

private:
    // Somebody accepts on `path` if a non-blocking connect does not fail
    // with "refused" (a full backlog, EAGAIN, means somebody too).
    static bool
    in_use(std::string const& path)
    {
        int const fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return true;
        ::sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::memcpy(addr.sun_path, path.data(), std::min(path.size(), sizeof addr.sun_path - 1));
        bool const refused = ::connect(fd, reinterpret_cast<::sockaddr*>(&addr), sizeof addr) != 0 &&
                             errno == ECONNREFUSED;
        ::close(fd);
        return !refused;
    }

    std::string path_;
    ::dev_t dev_ = 0;
    ::ino_t ino_ = 0;
    bool owned_ = false;
};

inline asio::awaitable<server>
start_unix_server(server_request request, std::string path)
{
    if (!request.cb)
        throw std::invalid_argument("start_hl7_unix_server: empty connection handler");
    auto ex = co_await asio::this_coro::executor;
    using acceptor_type = asio::local::stream_protocol::acceptor;
    auto state = std::make_shared<server_state<acceptor_type>>(ex, std::move(request.cb), std::move(request.options));
    try {
        unix_socket_file::prepare(path);
        state->listen(asio::local::stream_protocol::endpoint(path), false);
    } catch (std::system_error const& e) {
        throw std::system_error(e.code(), "listen on " + path);
    }
    auto file = std::make_shared<unix_socket_file>(path);
    state->on_acceptor_closed([file] { file->remove(); });
    state->start();
    co_return server(std::move(state));
}

} // namespace detail

/** Connects to an MLLP receiver on the UNIX-domain socket `path` (asyncio's
    `open_unix_connection`). As `open_hl7_connection`: bounded by
    `options.connect_timeout`, failures throw `std::system_error`
    (`connection_refused`, `no_such_file_or_directory`, ...). `peername()` is
    the path; `sockname()` is empty (the client socket is unnamed). */
inline asio::awaitable<std::pair<stream_reader, stream_writer>>
open_hl7_unix_connection(std::string path, connection_options options = {})
{
    detail::unix_connect_request request{std::move(path), std::move(options)};
    return detail::open_unix_connection(std::move(request));
}

/** Starts an MLLP server on the UNIX-domain socket `path` (asyncio's
    `start_unix_server`): the same server, limits and handler as
    `start_hl7_server`; `options.host`, `port` and `reuse_address` do not
    apply.

    @par The socket file
    If `path` exists and is a socket nobody accepts on (left behind by a
    receiver that died), it is replaced. If somebody accepts on it, or it is
    not a socket, nothing is removed and this throws `std::system_error`
    (`address_in_use`). The file is created with the process's umask and
    removed when the server closes (unless another server has replaced it
    since). A path starting with '\0' is a Linux abstract socket: no file.
*/
inline asio::awaitable<server>
start_hl7_unix_server(client_connected_cb cb, std::string path, server_options options = {})
{
    detail::server_request request{std::move(cb), std::move(options)};
    return detail::start_unix_server(std::move(request), std::move(path));
}

} // namespace hl7

#endif
