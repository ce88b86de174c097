#ifndef HL7_NET_OPTIONS_HPP
#define HL7_NET_OPTIONS_HPP

// Every setting and limit of the networking layer, with its default:
// hl7::connection_options (one connection, client or server side),
// hl7::server_options (a server and the connections it accepts) and
// hl7::server_event (what a server reports). Nothing else declares a limit;
// the connection policy (net/detail/connection_policy.hpp) reads them here.
//
// Every member has an initializer: g++ 12 warns (-Wmissing-field-initializers)
// about designated initializers such as {.port = 2575} otherwise.
//
// Every member is also trivially copyable, except server_options::on_error.
// g++ 12 mishandles an aggregate temporary whose full-expression contains a
// co_await, as in the README's
//     co_await hl7::start_hl7_server(handler, {.port = 2575});
// each member is built as a separate temporary, copied bit for bit into the
// aggregate and destroyed twice (issue 7; tests/net/test_call_forms.cpp). A
// std::string member (the listening host, even left at its default) then
// frees memory it does not own. Trivially copyable members make that copy
// exact and the destructions no-ops, whatever the caller writes; it is why
// `host` is an inline hl7::host_name and not a std::string.

#include <hl7/detail/asio_config.hpp>
#include <hl7/mllp/frame_decoder.hpp>
#include <hl7/net/endpoint.hpp>
#include <hl7/parser/parse_options.hpp>

#include <asio/socket_base.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>

namespace hl7 {

/** A string of at most `N` bytes stored inline: trivially copyable (see
    the note at the top of this header: it keeps option structs safe as
    braced temporaries with g++ 12). Converts from and to strings; longer
    input throws `std::length_error`. Host names here; file names and cipher
    lists in `hl7::tls_server_options`. */
template<std::size_t N>
class inline_string
{
public:
    static constexpr std::size_t max_size = N;

    inline_string() = default;

    /// Throws std::length_error for more than `max_size` bytes.
    inline_string(std::string_view s)
    {
        if (s.size() > N)
            throw std::length_error("hl7: string longer than " + std::to_string(N) + " bytes");
        std::memcpy(data_, s.data(), s.size());
        size_ = s.size();
    }

    inline_string(char const* s) : inline_string(std::string_view(s)) {}

    inline_string(std::string const& s) : inline_string(std::string_view(s)) {}

    std::string_view
    view() const noexcept
    {
        return {data_, size_};
    }

    operator std::string_view() const noexcept
    {
        return view();
    }

    std::string
    str() const
    {
        return std::string(view());
    }

    std::size_t
    size() const noexcept
    {
        return size_;
    }

    bool
    empty() const noexcept
    {
        return size_ == 0;
    }

    friend bool
    operator==(inline_string const& a, inline_string const& b) noexcept
    {
        return a.view() == b.view();
    }

    friend bool
    operator==(inline_string const& a, std::string_view b) noexcept
    {
        return a.view() == b;
    }

    friend std::ostream&
    operator<<(std::ostream& os, inline_string const& s)
    {
        return os << s.view();
    }

private:
    char data_[N]{};
    std::size_t size_ = 0;
};

/** A host name or address to listen on or connect to, stored inline: up to
    255 bytes, which every DNS name (253) and address literal fits.

    <!-- doc-test: function body -->
    @code
    hl7::server_options o{.host = "127.0.0.1"};
    o.host = std::string("::1");
    std::string_view h = o.host;
    @endcode
*/
class host_name : public inline_string<255>
{
public:
    using inline_string::inline_string;
};

/** Settings of one MLLP connection (client side; a server applies
    `server_options::connection` to each connection it accepts).

    Every limit has a safe default; zero durations mean "off".
*/
struct connection_options
{
    /** Largest frame payload accepted, in bytes. Default 16 MiB (python-hl7:
        64 KiB), enough for documents or images as base64 in OBX-5. A larger
        frame is discarded as it arrives (memory stays bounded) and the read
        throws `mllp::frame_too_large_error`; the next read continues with the
        next frame. */
    std::size_t max_frame_size = mllp::default_max_frame_size;

    /** Bytes outside frames: `lenient` (default) skips them, including stray
        CR/LF, and restarts at a nested VT; `strict` is python-hl7's
        behaviour (`mllp::invalid_block_error`). See `mllp::framing`. */
    mllp::framing framing = mllp::framing::lenient;

    /// Limits and leniency for `readmessage()`.
    parse_options parse{};

    /** Resolving and connecting must finish within this, or
        `open_hl7_connection` / `open_hl7_unix_connection` throws
        `mllp::timeout_error` (`mllp::error::connect_timeout`). Default 10 s;
        0 = no limit. */
    std::chrono::steady_clock::duration connect_timeout = std::chrono::seconds(10);

    /** Each `readblock()`/`readmessage()` must get a frame within this, or
        throws `mllp::timeout_error` (`mllp::error::read_timeout`); the
        connection stays usable (as with `hl7::wait_for`). Default 0 = off. */
    std::chrono::steady_clock::duration read_timeout{0};

    /// Set TCP_NODELAY on TCP connections: frames go out at once instead of
    /// waiting for Nagle. Default on (MLLP is request/response; Nagle only
    /// adds latency). No effect on other transports.
    bool no_delay = true;
};

/// Something a receiver should log; see `server_options::on_error`.
struct server_event
{
    /// The peer (empty for accept errors).
    endpoint peer{};
    /// The cause: a limit (`mllp::error::connection_limit`, `idle_timeout`,
    /// `frame_timeout`, `handler_timeout`, `write_timeout`,
    /// `write_queue_full`), an accept error, or the code of the exception a
    /// handler ended with (empty if it was not a std::system_error).
    std::error_code ec{};
    /// The exception a handler ended with, if any.
    std::exception_ptr exception{};
};

/** One line saying what happened, for a log: the peer, the cause, and the
    exception's type of failure and text when a handler ended with one
    (`127.0.0.1:40312: handler failed: std::runtime_error: no PID`). It
    holds no message contents unless the exception's own text does. */
inline std::string
describe(server_event const& event)
{
    std::string out;
    if (!event.peer.empty()) {
        out = event.peer.to_string();
        out += ": ";
    }
    if (event.exception) {
        out += "handler failed: ";
        try {
            std::rethrow_exception(event.exception);
        } catch (std::system_error const& e) {
            out += e.what();
        } catch (std::exception const& e) {
            out += e.what();
        } catch (...) {
            out += "an exception that is not a std::exception";
        }
        return out;
    }
    out += event.ec ? event.ec.message() : std::string("error");
    return out;
}

/** Settings of an MLLP server (`start_hl7_server`, `start_hl7_unix_server`).
    Every limit has a safe default, chosen so a receiver on a hospital
    network keeps answering whatever its peers do; zero durations mean "off".

    The fields are flat, so a server is configured in one expression:
    <!-- doc-test: function body -->
    @code
    hl7::server_options o{.host = "127.0.0.1", .port = 2575, .idle_timeout = std::chrono::minutes(2)};
    @endcode
*/
struct server_options
{
    /// TCP: address to listen on (an address or a name). Default all IPv4
    /// interfaces. Not used by `start_hl7_unix_server`.
    host_name host = "0.0.0.0";

    /// TCP: port; 0 picks a free one (read it back with `server::port()`).
    /// Default 2575. Not used by `start_hl7_unix_server`.
    std::uint16_t port = 2575;

    /** Most connections served at once. Default 4096. A connection beyond
        it is accepted and closed at once (and reported as
        `mllp::error::connection_limit`); existing ones are not affected.
        An idle connection costs about 20 KiB and one file descriptor: raise
        the process's RLIMIT_NOFILE (`ulimit -n`, often 1024) to use more
        than about a thousand. */
    std::size_t max_connections = 4096;

    /** A connection on which no frame starts for this long (while its
        handler waits for one, counted from accept or the last frame) is
        closed: its read throws `mllp::timeout_error` (`idle_timeout`).
        Default 10 minutes: long enough for feeds that keep a connection
        open between bursts (senders reconnect when needed), short enough
        that dead or abandoned peers do not hold slots for long. */
    std::chrono::steady_clock::duration idle_timeout = std::chrono::minutes(10);

    /** A frame must be complete this long after its first byte arrived, or
        the connection is closed (`frame_timeout`). Bounds slow-loris peers
        and frames that never end. Default 60 s (16 MiB needs about 2.2 Mbit/s). */
    std::chrono::steady_clock::duration frame_timeout = std::chrono::seconds(60);

    /** After a read returned a frame, the handler must read again (or
        return) within this, or the connection is closed and the handler
        cancelled (its pending operation throws; `handler_timeout`). Bounds
        a handler stuck on one message, including one blocked in `drain()`
        by a peer that never reads its ACKs. Default 60 s. Turn it off for
        handlers that legitimately hold a connection without reading. */
    std::chrono::steady_clock::duration handler_timeout = std::chrono::seconds(60);

    /** Queued output the peer does not accept a single byte of for this
        long closes the connection (`write_timeout`); also bounds the flush
        when a handler returns. Default 60 s. */
    std::chrono::steady_clock::duration write_timeout = std::chrono::seconds(60);

    /** Most bytes queued unsent on one connection. A write that would queue
        more closes the connection (`write_queue_full`; the write throws).
        A single frame into an empty queue is always accepted, so answers
        larger than this still work. Default 1 MiB: an ACK is a few hundred
        bytes; a handler that awaits `drain()` never comes near it. */
    std::size_t max_write_queue = std::size_t{1} << 20;

    /// listen() backlog. Default: the system's maximum.
    int backlog = asio::socket_base::max_listen_connections;

    /// TCP: SO_REUSEADDR, so a restarted receiver can bind at once. Default on.
    bool reuse_address = true;

    /** Per-connection settings: `max_frame_size` (16 MiB), `framing`
        (lenient), `parse`, `read_timeout` (off), `no_delay` (on). */
    connection_options connection{};

    /** Called for refused connections, connections closed by a limit,
        handlers that ended with an exception (except the normal end of a
        connection: `end_of_stream`, `connection_closed`), and accept errors.
        Called on the connection's strand: with several threads it must be
        thread-safe. Must not throw. Default (empty): each event is written
        to standard error as one line, `hl7 server: ` + `describe(event)`,
        so that a handler's failure is never silent; give a function (one
        that does nothing, to silence them) to log them elsewhere.

        g++ 12: inside a braced `server_options` temporary in a `co_await`
        expression, give it a callable that holds only references, pointers
        or plain values (a lambda capturing `[&]` is fine); one that owns
        memory (captures a std::string by value) is destroyed twice by that
        compiler. Declare such options as a variable first. */
    std::function<void(server_event const&)> on_error{};
};

// What keeps the braced forms safe with g++ 12 (see the top of this header).
static_assert(std::is_trivially_copyable_v<host_name>);
static_assert(std::is_trivially_copyable_v<connection_options>);

} // namespace hl7

#endif
