#ifndef HL7_TLS_ERROR_HPP
#define HL7_TLS_ERROR_HPP

// hl7::tls::error: why a TLS handshake (or a certificate load) failed, as
// one error category distinct from I/O errors, so that callers can tell a
// certificate problem (permanent: retrying will not help) from a network one.

#include <hl7/detail/asio_config.hpp>

#include <asio/error.hpp>
#include <asio/ssl/error.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <string>
#include <system_error>
#include <type_traits>

namespace hl7::tls {

/** Why TLS failed. Certificate codes are used on the side that found the
    problem and, when the peer's alert says which, on the side that was
    refused (a client whose certificate the server does not trust sees
    `certificate_unknown_ca` too). */
enum class error {
    handshake_failed = 1,     ///< any other handshake failure (see the exception's text for OpenSSL's reason)
    handshake_timeout,        ///< the handshake did not finish within `handshake_timeout`
    peer_closed,              ///< the peer closed or reset the connection during the handshake
    not_tls,                  ///< the peer does not speak TLS (a plain-TCP MLLP peer, HTTP, ...)
    no_common_protocol,       ///< no protocol version or cipher both sides accept
    certificate_unknown_ca,   ///< the certificate chain does not lead to a trusted CA
    certificate_expired,      ///< a certificate of the chain has expired
    certificate_not_yet_valid,///< a certificate of the chain is not valid yet
    host_name_mismatch,       ///< the server certificate is not for the host name (or address) connected to
    certificate_invalid,      ///< the certificate was refused for another reason (revoked, bad signature, purpose, ...)
    no_client_certificate,    ///< the server requires a client certificate and none was sent
    certificate_load_failed,  ///< a certificate, key or CA file could not be loaded (or key and certificate differ)
};

namespace detail {

class error_category_impl : public std::error_category
{
public:
    char const*
    name() const noexcept override
    {
        return "hl7.tls";
    }

    std::string
    message(int ev) const override
    {
        switch (static_cast<error>(ev)) {
        case error::handshake_failed: return "TLS handshake failed";
        case error::handshake_timeout: return "TLS handshake timed out";
        case error::peer_closed: return "peer closed the connection during the TLS handshake";
        case error::not_tls: return "peer does not speak TLS";
        case error::no_common_protocol: return "no TLS version or cipher in common with the peer";
        case error::certificate_unknown_ca: return "certificate not issued by a trusted CA";
        case error::certificate_expired: return "certificate expired";
        case error::certificate_not_yet_valid: return "certificate not yet valid";
        case error::host_name_mismatch: return "certificate does not match the host name";
        case error::certificate_invalid: return "certificate refused";
        case error::no_client_certificate: return "no client certificate sent, one is required";
        case error::certificate_load_failed: return "cannot load the TLS certificate, key or CA file";
        }
        return "unknown hl7.tls error";
    }

    // The transient failures are also the generic conditions they are
    // (so `ec == std::errc::timed_out` holds for a handshake timeout); the
    // others stay in this category. hl7::client_permanent_error (which
    // cannot include OpenSSL) tells permanent from transient by this.
    std::error_condition
    default_error_condition(int ev) const noexcept override
    {
        switch (static_cast<error>(ev)) {
        case error::handshake_timeout: return std::errc::timed_out;
        case error::peer_closed: return std::errc::connection_reset;
        case error::handshake_failed: return std::errc::protocol_error;
        default: return std::error_condition(ev, *this);
        }
    }
};

} // namespace detail

/// The category of `hl7::tls::error`.
inline std::error_category const&
error_category() noexcept
{
    static detail::error_category_impl const cat;
    return cat;
}

inline std::error_code
make_error_code(error e) noexcept
{
    return {static_cast<int>(e), error_category()};
}

/** True for failures that another attempt with the same settings would meet
    again (certificates, names, protocol mismatch): a reconnecting client
    should give up (or alert) instead of retrying forever. Timeouts, closes
    and I/O errors are not permanent. */
inline bool
is_permanent(std::error_code const& ec) noexcept
{
    if (ec.category() != error_category())
        return false;
    switch (static_cast<error>(ec.value())) {
    case error::handshake_timeout:
    case error::peer_closed:
    case error::handshake_failed: return false;
    default: return true;
    }
}

/** A TLS failure: `code()` is an `hl7::tls::error`, `what()` adds the peer
    and OpenSSL's own reason (e.g. the X.509 verification result). */
class tls_error : public std::system_error
{
public:
    tls_error(std::error_code ec, std::string const& what) : std::system_error(ec, what) {}
};

namespace detail {

// What an X.509 verification result means.
inline error
from_verify_result(long v) noexcept
{
    switch (v) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CRL_HAS_EXPIRED: return error::certificate_expired;
    case X509_V_ERR_CERT_NOT_YET_VALID:
    case X509_V_ERR_CRL_NOT_YET_VALID: return error::certificate_not_yet_valid;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_CERT_UNTRUSTED: return error::certificate_unknown_ca;
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH: return error::host_name_mismatch;
    default: return error::certificate_invalid;
    }
}

/** Classifies the error a handshake (or a read or write: with TLS 1.3 the
    server's verdict on a client certificate arrives after the client's
    handshake) ended with. `verify_result` is SSL_get_verify_result() of
    this side's session (X509_V_OK when it verified nothing or all was well).
    Errors that are not TLS failures (cancellation, I/O) are returned as
    they are, except end of stream, which is `peer_closed`. */
inline std::error_code
classify(std::error_code const& ec, long verify_result, bool handshaking) noexcept
{
    if (!ec)
        return ec;
    if (ec == asio::ssl::error::stream_truncated || ec == asio::error::eof ||
        ec == asio::error::connection_reset || ec == asio::error::broken_pipe)
        return handshaking ? make_error_code(error::peer_closed) : ec;
    if (ec.category() != asio::error::get_ssl_category())
        return ec;
    switch (ERR_GET_REASON(static_cast<unsigned long>(ec.value()))) {
    case SSL_R_CERTIFICATE_VERIFY_FAILED:
        return make_error_code(verify_result == X509_V_OK ? error::certificate_invalid : from_verify_result(verify_result));
    case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
    case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED: return make_error_code(error::no_client_certificate);
    // The peer's alert about our certificate.
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA: return make_error_code(error::certificate_unknown_ca);
    case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED: return make_error_code(error::certificate_expired);
    case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
    case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE: return make_error_code(error::certificate_invalid);
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_HTTP_REQUEST:
    case SSL_R_HTTPS_PROXY_REQUEST:
    case SSL_R_UNKNOWN_PROTOCOL:
    case SSL_R_PACKET_LENGTH_TOO_LONG:
    case SSL_R_RECORD_LENGTH_MISMATCH: return make_error_code(error::not_tls);
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_NO_PROTOCOLS_AVAILABLE:
    case SSL_R_NO_SHARED_CIPHER:
    case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
    case SSL_R_NO_CIPHERS_AVAILABLE: return make_error_code(error::no_common_protocol);
    default: return handshaking ? make_error_code(error::handshake_failed) : ec;
    }
}

} // namespace detail

} // namespace hl7::tls

template<>
struct std::is_error_code_enum<hl7::tls::error> : std::true_type
{
};

#endif
