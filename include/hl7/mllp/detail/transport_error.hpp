#ifndef HL7_MLLP_DETAIL_TRANSPORT_ERROR_HPP
#define HL7_MLLP_DETAIL_TRANSPORT_ERROR_HPP

// The one classification of the errors a read or a write ends with, and the
// typed exceptions the coroutine facade throws for them.
//
// Asio 1.22's system category ("asio.system") does not map its codes to
// std::errc (tests/mllp/test_error.cpp checks this on the build machine), so
// `ec == std::errc::connection_reset` is false for the code a socket reports.
// Operating-system codes are therefore recognised by their errno value, in
// Asio's category and in the standard ones alike.

#include <hl7/detail/asio_config.hpp>
#include <hl7/mllp/error.hpp>

#include <asio/error.hpp>

#include <cerrno>
#include <string>
#include <string_view>
#include <system_error>

namespace hl7::mllp::detail {

/// What an error means for the operation that ended with it.
enum class failure : unsigned char {
    timeout,         ///< one of this library's time limits, or the system's ETIMEDOUT
    invalid_block,   ///< that block was consumed; the stream goes on
    frame_too_large, ///< that frame was discarded; the stream goes on
    stream_ended,    ///< no more frames: the peer closed or reset, or this side closed
    cancelled,       ///< the caller's operation was cancelled; nothing was lost
    other,           ///< anything else (passed on as it is)
};

/// True for an operating-system code with errno value `e`, in Asio's system
/// category or in the standard system/generic categories.
inline bool
is_os_error(std::error_code const& ec, int e) noexcept
{
    auto const& cat = ec.category();
    return ec.value() == e &&
           (cat == asio::error::get_system_category() || cat == std::system_category() ||
            cat == std::generic_category());
}

inline failure
classify(std::error_code const& ec) noexcept
{
    if (ec.category() == error_category()) {
        if (ec == error::invalid_block)
            return failure::invalid_block;
        if (ec == error::frame_too_large)
            return failure::frame_too_large;
        // The peer closed, this side closed, or a limit closed the connection.
        return is_timeout(ec) ? failure::timeout : failure::stream_ended;
    }
    if (is_os_error(ec, ECANCELED))
        return failure::cancelled;
    // The kernel gave up on the connection (retransmissions, keep-alive):
    // a timeout, as Python's TimeoutError; the connection is dead all the same.
    if (is_os_error(ec, ETIMEDOUT))
        return failure::timeout;
    // The connection is gone.
    for (int e : {ECONNRESET, ECONNABORTED, EPIPE, ENOTCONN, ESHUTDOWN})
        if (is_os_error(ec, e))
            return failure::stream_ended;
    return failure::other;
}

/// Throws the typed exception a failed read reports for `ec` (an error);
/// `partial` is the unfinished frame, if any.
[[noreturn]] inline void
throw_read_error(std::error_code ec, std::string_view partial = {})
{
    switch (classify(ec)) {
    case failure::timeout: throw timeout_error(ec);
    case failure::invalid_block: throw invalid_block_error(ec);
    case failure::frame_too_large: throw frame_too_large_error(ec);
    case failure::stream_ended: throw incomplete_read_error(ec, std::string(partial));
    case failure::cancelled:
    case failure::other: break;
    }
    throw std::system_error(ec);
}

/// Throws what a failed write (or drain) reports for `ec`.
[[noreturn]] inline void
throw_write_error(std::error_code ec)
{
    if (classify(ec) == failure::timeout)
        throw timeout_error(ec);
    throw std::system_error(ec);
}

} // namespace hl7::mllp::detail

#endif
