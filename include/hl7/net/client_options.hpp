#ifndef HL7_NET_CLIENT_OPTIONS_HPP
#define HL7_NET_CLIENT_OPTIONS_HPP

// The reliable client's settings and what it reports: hl7::client_options,
// hl7::send_outcome, hl7::client_event. No Asio here, so the policy (the
// sans-I/O state machine in detail/client_fsm.hpp) and code that only looks
// at outcomes do not need it.

#include <hl7/model/ack_mode.hpp>
#include <hl7/net/client_error.hpp>
#include <hl7/net/options.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <system_error>

namespace hl7 {

/** What became of a message given to `hl7::client::send()`. */
enum class send_fate {
    /// The receiver answered with an ACK whose MSA-2 is the message's MSH-10
    /// (the code, AA AE AR or CA CE CR, is in `send_outcome::ack_code`).
    acknowledged,
    /// Never written to any connection: the receiver cannot have it; safe
    /// to send again.
    not_sent,
    /// Written at least once, but no ACK came before the client gave up: the
    /// receiver may or may not have it. Sending it again may duplicate it
    /// (with the same MSH-10, so a receiver can recognise the duplicate).
    unknown,
};

/// "acked", "not_sent" or "unknown" (the words of `hl7_sender --outcomes`).
inline char const*
to_string(send_fate f) noexcept
{
    switch (f) {
    case send_fate::acknowledged: return "acked";
    case send_fate::not_sent: return "not_sent";
    case send_fate::unknown: return "unknown";
    }
    return "unknown";
}

/** The outcome of one `send()`: always that message's, never another's. */
struct send_outcome
{
    send_fate fate = send_fate::not_sent;

    /// MSA-1 of the ACK when acknowledged: "AA", "AE", "AR", "CA", "CE" or
    /// "CR"; empty otherwise.
    std::string ack_code{};

    /// The ACK's payload as received (segments end in CR), when acknowledged.
    std::string ack{};

    /** Enhanced acknowledgement mode, when the client waited for the
        application ACK (see `client_options::wait_for_application_ack`):
        the code of the commit ACK that came first ("CA"); `ack_code` and
        `ack` are then the application ACK's. Empty otherwise. */
    std::string commit_code{};

    /** Why the message was not acknowledged (empty when it was): the last
        attempt's failure, e.g. `client_error::ack_timeout`,
        `mllp::error::end_of_stream`, `connection_reset`,
        `mllp::error::connect_timeout`, `connection_refused`. */
    std::error_code reason{};

    /// The message's MSH-10 (raw, as in the message).
    std::string control_id{};

    /// How many times the message was written (0 when not sent; more than 1
    /// when it was resent after a lost connection, an ACK timeout or an AE).
    unsigned attempts = 0;

    /// From the last write of the message to its ACK (zero unless acknowledged).
    std::chrono::steady_clock::duration round_trip{0};

    /// From `send()` to this outcome, waiting in the queue included.
    std::chrono::steady_clock::duration elapsed{0};

    /// True for AA and CA: the receiver accepted the message.
    bool
    accepted() const noexcept
    {
        return fate == send_fate::acknowledged && is_success_ack_code(ack_code);
    }
};

/** A change of the client's connection (see `client_options::on_event`). */
struct client_event
{
    enum class kind {
        /// A connection attempt starts (`attempt` counts failed ones before it).
        connecting,
        /// Connected; messages are written now.
        connected,
        /// A connection attempt failed (`reason`); `permanent` when retrying
        /// cannot help (unknown host, a refused certificate).
        connect_failed,
        /// An established connection ended (`reason`: the peer closed, a
        /// reset, `client_error::ack_timeout`, `dead_peer`, `not_an_ack`).
        lost,
        /// Waiting `delay` before the next connection attempt.
        backing_off,
        /// The client has closed: every message has its outcome.
        closed,
    };

    kind what = kind::connecting;
    std::error_code reason{};
    /// backing_off: the wait before the next attempt (jitter applied).
    std::chrono::steady_clock::duration delay{0};
    /// Failed attempts (connects, and connections that ended before any
    /// ACK) in a row so far; the back-off grows with it.
    unsigned failures = 0;
    /// connect_failed: retrying cannot help.
    bool permanent = false;
};

/// "connecting", "connected", "connect_failed", "lost", "backing_off", "closed".
inline char const*
to_string(client_event::kind k) noexcept
{
    switch (k) {
    case client_event::kind::connecting: return "connecting";
    case client_event::kind::connected: return "connected";
    case client_event::kind::connect_failed: return "connect_failed";
    case client_event::kind::lost: return "lost";
    case client_event::kind::backing_off: return "backing_off";
    case client_event::kind::closed: return "closed";
    }
    return "?";
}

/** Reconnect back-off: exponential with jitter.

    After the k-th failure in a row (a failed connection attempt, or a
    connection that ended before any message on it was acknowledged) the
    client waits `min(initial * multiplier^(k-1), max) * (1 - jitter * u)`
    before connecting again, `u` drawn uniformly from [0, 1) by `random`.
    An ACK resets the count: after a connection that made progress the
    client reconnects at once.
*/
struct backoff_options
{
    /// The first wait. Default 100 ms.
    std::chrono::steady_clock::duration initial = std::chrono::milliseconds(100);
    /// The longest wait (before jitter). Default 30 s.
    std::chrono::steady_clock::duration max = std::chrono::seconds(30);
    /// Growth per failure. Default 2 (doubling); values below 1 act as 1.
    double multiplier = 2.0;
    /// Fraction of the wait that is random, in [0, 1]: 0.2 (default) waits
    /// between 80 % and 100 % of the nominal delay, so clients that lost the
    /// same receiver do not all come back at the same instant.
    double jitter = 0.2;
    /// The random source, returning values in [0, 1). Empty (default): a
    /// generator seeded from std::random_device. Tests inject their own.
    std::function<double()> random{};
};

/** Settings of `hl7::client`. Every member has a safe default; zero
    durations mean "off". */
struct client_options
{
    /** Messages in flight (written, ACK awaited) on the connection at once.
        Default 1: the next message is written only after the ACK of the
        previous one, what most receivers expect. A larger window writes up
        to that many messages in order before the first ACK comes back; each
        ACK is matched by its MSA-2, so out-of-order ACKs are fine. Two
        messages with the same MSH-10 are never in flight together: the
        second waits (the ACK could not tell them apart). */
    std::size_t window = 1;

    /** Messages waiting (not yet written) before `send()` waits for room:
        the back-pressure bound. Default 1024. Messages put back for a retry
        do not wait for room. */
    std::size_t queue_limit = 1024;

    /** Resolving, connecting (and, over TLS, the handshake) must finish in
        this, or the attempt fails with `mllp::error::connect_timeout` and the
        client backs off. Default 10 s. */
    std::chrono::steady_clock::duration connect_timeout = std::chrono::seconds(10);

    /** Each message must be acknowledged within this of being written (with
        a window, waiting behind earlier messages counts). Past it the
        connection is closed (`client_error::ack_timeout`) and the messages in
        flight are retried or given up as `unknown`. Default 10 s (python-hl7's
        documented `wait_for(..., timeout=10)`); 0 = wait for ever. */
    std::chrono::steady_clock::duration ack_timeout = std::chrono::seconds(10);

    /** With messages in flight, the peer must send something (any frame)
        within this, or the connection is closed as dead
        (`client_error::dead_peer`). Counted from the last frame received or
        from the first write after a quiet spell. Default 0 (off): the ACK
        timeout already bounds every message; set it below the ACK timeout
        to give up on a silent connection sooner when ACKs may legitimately
        take long. */
    std::chrono::steady_clock::duration dead_peer_timeout{0};

    /** How often a written message may be written again after its attempt
        ended without an ACK (connection lost, ACK timeout, an answer that is
        not an ACK, and AE/CE with `retry_on_error`). Resends keep MSH-10.
        Default 3; 0 = at most once. */
    unsigned max_retries = 3;

    /** Enhanced acknowledgement mode (the message's MSH-15 or MSH-16 given,
        v2.2 on): when the message asks for the application ACK in every
        case (MSH-16 `AL`, or empty while MSH-15 is given), its outcome is
        the application ACK (AA/AE/AR), not the commit ACK (CA) that comes
        first; the message stays in the window until then, and `ack_timeout`
        covers both. A CE or CR ends it at once (no application ACK follows a
        refused commit). Off, or for MSH-16 `NE`, `ER` or `SU` (where a
        silent receiver may be a successful one, or a failed one), the
        commit ACK ends it and a later application ACK goes to
        `on_unmatched_ack`. Default on.

        A message that asks for no acknowledgement of success at all
        (MSH-15 and MSH-16 each `NE` or `ER`) is not sent: it completes at
        once as `not_sent` with `client_error::no_ack_requested`. A message
        resent after its connection was lost between the CA and the
        application ACK is sent whole again, with its MSH-10. */
    bool wait_for_application_ack = true;

    /** Resend a message answered with AE (or CE), within `max_retries`.
        Default off: AE is an answer, reported as is. AR/CR is never resent. */
    bool retry_on_error = false;

    /** Failed connection attempts in a row after which the messages waiting
        are given up (`not_sent`, or `unknown` if an earlier attempt wrote
        them; the reason is the last attempt's error). The next `send()`
        starts over. Default 10 (with the default back-off about a minute of
        trying); 0 = keep trying for ever. Errors that retrying cannot fix
        (see `is_permanent`) give up at once. */
    unsigned max_connect_failures = 10;

    /// Reconnect back-off (exponential, with jitter).
    backoff_options backoff{};

    /** Settings of each connection (frame size limit, framing, TCP_NODELAY);
        its `connect_timeout` is replaced by the one above. */
    connection_options connection{};

    /** Classifies a failed connection attempt: true = retrying cannot help,
        give the waiting messages up at once. Empty (default):
        `hl7::client_permanent_error()` (unknown host, unsupported address
        family, TLS errors). */
    std::function<bool(std::error_code const&)> is_permanent{};

    /** Called on connection changes (connecting, connected, connect_failed,
        lost, backing_off, closed), on the client's executor. Must not throw. */
    std::function<void(client_event const&)> on_event{};

    /** Called with each ACK that matches no message in flight: late (after
        its message timed out), a duplicate, or with an MSA-2 never sent. The
        ACK is dropped after the call, never given to another message. On the
        client's executor; the view is valid during the call. Must not throw. */
    std::function<void(std::string_view ack)> on_unmatched_ack{};
};

/** The default `client_options::is_permanent`: errors a retry cannot fix.
    Unknown host (`host_not_found`, `no_data`, `no_recovery`, service not
    found), an address family or protocol the system does not support, a
    refused permission, and TLS errors (the `asio.ssl` category, and
    `hl7::tls::error` but for a handshake timeout, reset or unclassified
    failure: an unverifiable certificate stays unverifiable). A refused connection, a
    reset and a timeout are not: the receiver may come back. */
inline bool
client_permanent_error(std::error_code const& ec) noexcept
{
    std::string_view const category = ec.category().name();
    if (category == "asio.netdb")
        return ec.value() != 2; // EAI_AGAIN-like "host_not_found_try_again" is transient
    if (category == "asio.addrinfo")
        return true; // service_not_found, socket_type_not_supported
    if (category == "asio.ssl")
        return true;
    if (category == "hl7.tls") // certificates, names, protocols; not timeouts or resets
        return ec.default_error_condition().category() == ec.category();
    return ec == std::errc::address_family_not_supported || ec == std::errc::protocol_not_supported ||
           ec == std::errc::permission_denied;
}

} // namespace hl7

#endif
