#ifndef HL7_TLS_OPTIONS_HPP
#define HL7_TLS_OPTIONS_HPP

// The TLS settings of a server (hl7::tls_server_options) and of a client
// (hl7::tls_client_options), with their defaults: verification on, TLS 1.2
// at least, a cipher preset following current guidance, a 10 s handshake
// limit.
//
// Like hl7/net/options.hpp, every member is trivially copyable (file names
// are stored inline, hl7::inline_string): g++ 12 destroys the members of a
// braced options temporary in a co_await expression twice (issue 7), which
// is harmless only for such members.

#include <hl7/net/options.hpp>

#include <chrono>
#include <cstddef>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>

namespace hl7 {

namespace tls {

/// A file name (up to 4095 bytes, Linux's PATH_MAX less the terminator).
using file_name = inline_string<4095>;

/// The lowest TLS version accepted.
enum class version : unsigned char {
    tls1_2, ///< TLS 1.2 and 1.3 (default; IHE ATNA asks for 1.2 or later)
    tls1_3, ///< TLS 1.3 only
};

/// Client certificates on a server.
enum class client_certificates : unsigned char {
    off,      ///< not asked for (default)
    optional, ///< asked for; a client without one is accepted, one with a bad one is refused
    required, ///< mutual TLS: a client without a valid certificate is refused (`no_client_certificate`)
};

} // namespace tls

/** TLS settings of a server (`start_hl7_tls_server`).

    <!-- doc-test: skip, needs OpenSSL (the hl7::tls target), which a build may not have -->
    @code
    hl7::tls_server_options tls{.certificate_chain_file = "/etc/hl7/server.pem",
                                .private_key_file = "/etc/hl7/server.key",
                                .client_certificates = hl7::tls::client_certificates::required,
                                .client_ca_file = "/etc/hl7/clients-ca.pem"};
    @endcode
*/
struct tls_server_options
{
    /** PEM file: the server certificate, then its intermediates (the whole
        chain is sent). Required unless an `asio::ssl::context` is given. */
    tls::file_name certificate_chain_file{};

    /// PEM file: the private key of the certificate (unencrypted).
    tls::file_name private_key_file{};

    /// Whether clients must show a certificate (mutual TLS). Default off.
    tls::client_certificates client_certificates = tls::client_certificates::off;

    /** PEM file of the CAs client certificates must chain to. Required when
        client certificates are optional or required (the system store is
        not used for clients: a hospital's peers have certificates of its
        own CA). */
    tls::file_name client_ca_file{};

    /// Lowest version accepted. Default TLS 1.2.
    tls::version min_version = tls::version::tls1_2;

    /** OpenSSL cipher list for TLS 1.2; empty (default) means the preset:
        ECDHE (and DHE) key exchange with AES-GCM or ChaCha20-Poly1305 only,
        the "intermediate" recommendation of current TLS guidance (forward
        secrecy, AEAD). TLS 1.3 suites are OpenSSL's defaults (all AEAD). */
    inline_string<1023> cipher_list{};

    /** A connection must finish its handshake within this, or it is closed
        and reported (`tls::error::handshake_timeout`). Handshaking
        connections count against `server_options::max_connections`.
        Default 10 s; 0 = no limit (not advised: a peer that connects and
        sends nothing then holds its slot for good). */
    std::chrono::steady_clock::duration handshake_timeout = std::chrono::seconds(10);
};

/** TLS settings of a client (`open_hl7_tls_connection`). The defaults
    verify the server: its chain against the system's CA store and its
    certificate against the host name (or address) connected to.

    <!-- doc-test: skip, needs OpenSSL (the hl7::tls target), which a build may not have -->
    @code
    hl7::tls_client_options tls{.ca_file = "/etc/hl7/ca.pem",
                                .certificate_chain_file = "/etc/hl7/client.pem",
                                .private_key_file = "/etc/hl7/client.key"};
    @endcode
*/
struct tls_client_options
{
    /// PEM file of trusted CAs; empty (default) = the system's CA store.
    tls::file_name ca_file{};

    /// PEM file: this client's certificate and intermediates, for mutual TLS.
    tls::file_name certificate_chain_file{};

    /// PEM file: the client certificate's private key (unencrypted).
    tls::file_name private_key_file{};

    /** Name sent as SNI and checked against the server's certificate;
        empty (default) = the host connected to. An IP address is checked
        against the certificate's IP addresses and not sent as SNI. */
    host_name server_name{};

    /// Lowest version accepted. Default TLS 1.2.
    tls::version min_version = tls::version::tls1_2;

    /// OpenSSL cipher list for TLS 1.2; empty = the preset (see `tls_server_options`).
    inline_string<1023> cipher_list{};

    /** The handshake must finish within this (after the TCP connect, which
        `connection_options::connect_timeout` bounds), or the open throws
        `tls::error::handshake_timeout`. Default 10 s; 0 = no limit. */
    std::chrono::steady_clock::duration handshake_timeout = std::chrono::seconds(10);

    /** DANGER: accept any server certificate, from anyone, for any name.
        The connection is encrypted but not authenticated: anyone on the
        path can read and change every message. For tests only. Default false. */
    bool insecure_no_verify = false;
};

static_assert(std::is_trivially_copyable_v<tls_server_options>);
static_assert(std::is_trivially_copyable_v<tls_client_options>);

} // namespace hl7

#endif
