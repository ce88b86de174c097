#ifndef HL7_NET_CLIENT_ERROR_HPP
#define HL7_NET_CLIENT_ERROR_HPP

// Why the reliable client (hl7::client) did not get a message acknowledged,
// where no lower-layer code says it already. No Asio here.

#include <string>
#include <system_error>
#include <type_traits>

namespace hl7 {

/** Reasons of the reliable client. Category `"hl7.client"`.

    Most reasons a message ends without an ACK come from lower layers and are
    passed through unchanged: the peer closed (`mllp::error::end_of_stream`,
    `incomplete_frame`), the connection was reset (the OS code), connecting
    timed out (`mllp::error::connect_timeout`) or failed (`connection_refused`,
    `host_not_found`, ...). These are the client's own. A timeout maps to
    `std::errc::timed_out`, so `mllp::is_timeout()` holds for both timeouts
    here and for `connect_timeout`; a reset never does.
*/
enum class client_error {
    /// No ACK for the message within `client_options::ack_timeout` of
    /// writing it; the connection was closed (a late ACK cannot be trusted
    /// to arrive in step) and the message retried or given up.
    ack_timeout = 1,
    /// Messages were in flight and nothing arrived from the peer for
    /// `client_options::dead_peer_timeout`; the connection was closed.
    dead_peer,
    /// The peer answered with something that is not an ACK (not HL7, no MSA
    /// segment, or an MSA-1 that is none of AA AE AR CA CE CR); the
    /// connection was closed.
    not_an_ack,
    /// The message has no MSH-10 (or does not start with MSH): an ACK could
    /// never be matched to it, so it was not sent.
    missing_control_id,
    /// The client was closed (or destroyed) before the message was
    /// acknowledged: `close()`'s deadline passed or `send()` came after it.
    client_closed,
    /// `client_options::max_connect_failures` connection attempts failed in a
    /// row; the messages waiting were given up. The outcome's reason is the
    /// last attempt's error; this code is what connection events report.
    too_many_connect_failures,
    /// The message is in enhanced acknowledgement mode and asks for no
    /// acknowledgement of success (MSH-15 and MSH-16 each NE or ER): a
    /// receiver that accepts it answers nothing, so its delivery could never
    /// be confirmed. It was not sent.
    no_ack_requested,
};

} // namespace hl7

template<>
struct std::is_error_code_enum<hl7::client_error> : std::true_type
{
};

namespace hl7 {

namespace detail {

class client_error_category_impl final : public std::error_category
{
public:
    char const*
    name() const noexcept override
    {
        return "hl7.client";
    }

    std::string
    message(int ev) const override
    {
        switch (static_cast<client_error>(ev)) {
        case client_error::ack_timeout: return "no ACK within the ACK timeout";
        case client_error::dead_peer: return "peer sent nothing within the dead-peer timeout";
        case client_error::not_an_ack: return "peer answered with something that is not an ACK";
        case client_error::missing_control_id: return "message has no control id (MSH-10)";
        case client_error::client_closed: return "client closed before the message was acknowledged";
        case client_error::too_many_connect_failures: return "too many failed connection attempts";
        case client_error::no_ack_requested:
            return "message asks for no acknowledgement of success (MSH-15/MSH-16), delivery cannot be confirmed";
        }
        return "hl7.client error";
    }

    std::error_condition
    default_error_condition(int ev) const noexcept override
    {
        switch (static_cast<client_error>(ev)) {
        case client_error::ack_timeout:
        case client_error::dead_peer: return std::errc::timed_out;
        case client_error::not_an_ack: return std::errc::bad_message;
        case client_error::missing_control_id:
        case client_error::no_ack_requested: return std::errc::invalid_argument;
        case client_error::client_closed: return std::errc::operation_canceled;
        default: return {ev, *this};
        }
    }
};

} // namespace detail

/// The `"hl7.client"` error category.
inline std::error_category const&
client_error_category() noexcept
{
    static detail::client_error_category_impl const category;
    return category;
}

inline std::error_code
make_error_code(client_error e) noexcept
{
    return {static_cast<int>(e), client_error_category()};
}

} // namespace hl7

#endif
