#ifndef HL7_TESTS_HOSTILE_TLS_PEER_HPP
#define HL7_TESTS_HOSTILE_TLS_PEER_HPP

// tls_peer: a TLS client for the hostile suite built on OpenSSL's SSL_* API
// directly (not on asio::ssl nor on anything under test). The SSL object
// works on memory BIOs and the peer moves the bytes itself over a raw_peer,
// so a case decides what goes on the wire and when: records of any size
// (one plaintext byte each), ciphertext one byte per TCP segment, half a
// ClientHello, half a record, a corrupted record, a close without
// close_notify, a reset at any point. It verifies the server against the
// test CA (tls_test_certs.hpp) for "localhost".

#include "hl7_hostile_support.hpp"
#include "tls_test_certs.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

namespace hl7_hostile {

struct tls_failure : std::runtime_error
{
    using std::runtime_error::runtime_error;
};

/// OpenSSL's error queue of this thread as text (and emptied).
inline std::string
openssl_errors()
{
    std::string s;
    while (unsigned long const e = ::ERR_get_error()) {
        char buf[256];
        ::ERR_error_string_n(e, buf, sizeof buf);
        s += buf;
        s += "; ";
    }
    return s;
}

/** A TLS client that misbehaves on request. Every wait is bounded. */
class tls_peer
{
public:
    /// TCP-connects to 127.0.0.1:port (no handshake yet).
    explicit tls_peer(std::uint16_t port, int rcvbuf = 0) : tcp_(port, rcvbuf)
    {
        ssl_.reset(::SSL_new(context()));
        if (!ssl_)
            throw tls_failure("SSL_new: " + openssl_errors());
        in_ = ::BIO_new(::BIO_s_mem());
        out_ = ::BIO_new(::BIO_s_mem());
        ::SSL_set_bio(ssl_.get(), in_, out_); // the SSL owns both
        ::SSL_set_tlsext_host_name(ssl_.get(), "localhost");
        ::SSL_set1_host(ssl_.get(), "localhost");
        ::SSL_set_connect_state(ssl_.get());
    }

    raw_peer& tcp() { return tcp_; }

    /** Handshakes, sending its ciphertext in `chunk`-byte TCP segments (0 =
        all at once); throws tls_failure if it fails, or peer_closed. */
    void
    handshake(std::size_t chunk = 0, clock::duration timeout = 30s)
    {
        auto const deadline = clock::now() + timeout;
        for (;;) {
            ::ERR_clear_error();
            int const r = ::SSL_do_handshake(ssl_.get());
            flush(chunk);
            if (r == 1)
                return;
            int const e = ::SSL_get_error(ssl_.get(), r);
            if (e != SSL_ERROR_WANT_READ)
                throw tls_failure("handshake: SSL error " + std::to_string(e) + ": " + openssl_errors());
            if (!pump(deadline))
                throw tls_failure("handshake: no answer in time");
        }
    }

    /// The first flight (ClientHello), made but not sent.
    std::string
    client_hello()
    {
        ::ERR_clear_error();
        (void)::SSL_do_handshake(ssl_.get());
        return take_output();
    }

    /** Encrypts `plain` into records of at most `record` plaintext bytes and
        returns the ciphertext without sending it. */
    std::string
    seal(std::string_view plain, std::size_t record = 16384)
    {
        while (!plain.empty()) {
            auto const n = std::min(plain.size(), std::max<std::size_t>(1, record));
            ::ERR_clear_error();
            if (::SSL_write(ssl_.get(), plain.data(), static_cast<int>(n)) != static_cast<int>(n))
                throw tls_failure("SSL_write: " + openssl_errors());
            plain.remove_prefix(n);
        }
        return take_output();
    }

    /// seal() and send, `chunk` bytes per TCP segment (0 = all at once).
    void
    write(std::string_view plain, std::size_t record = 16384, std::size_t chunk = 0)
    {
        send_chunked(seal(plain, record), chunk);
    }

    /** The next frame's payload, or nullopt if none arrived within
        `timeout`. Throws peer_closed if the connection ended first
        (close_notify, EOF, reset or a fatal TLS error). */
    std::optional<std::string>
    read_frame(clock::duration timeout = 30s)
    {
        auto const deadline = clock::now() + timeout;
        for (;;) {
            decrypt();
            if (auto f = take_frame(plain_))
                return f;
            if (ended_)
                throw peer_closed("TLS connection ended: " + why_);
            if (!pump(deadline))
                return std::nullopt;
        }
    }

    /// Reads (counting frames) until the connection ends or `timeout` passes.
    raw_peer::end_state
    wait_end(clock::duration timeout, std::size_t* frames = nullptr)
    {
        auto const deadline = clock::now() + timeout;
        for (;;) {
            decrypt();
            while (auto f = take_frame(plain_))
                if (frames)
                    ++*frames;
            if (ended_)
                return end_;
            if (!pump(deadline) && !ended_)
                return raw_peer::end_state::open;
        }
    }

    /// Sends close_notify (then the socket is closed by the destructor or tcp()).
    void
    close_notify()
    {
        ::ERR_clear_error();
        (void)::SSL_shutdown(ssl_.get());
        flush(0);
    }

    /// Sends what the SSL object wrote (handshake or records), `chunk` bytes per segment.
    void
    flush(std::size_t chunk)
    {
        send_chunked(take_output(), chunk);
    }

private:
    struct ssl_free
    {
        void operator()(SSL* s) const { ::SSL_free(s); }
    };
    struct ctx_free
    {
        void operator()(SSL_CTX* c) const { ::SSL_CTX_free(c); }
    };

    // One client context for every peer of the process (SSL_CTX is safe
    // to share between threads once set up).
    static SSL_CTX*
    context()
    {
        static std::unique_ptr<SSL_CTX, ctx_free> const ctx = [] {
            std::unique_ptr<SSL_CTX, ctx_free> c(::SSL_CTX_new(::TLS_client_method()));
            if (!c)
                throw tls_failure("SSL_CTX_new: " + openssl_errors());
            ::SSL_CTX_set_min_proto_version(c.get(), TLS1_2_VERSION);
            if (::SSL_CTX_load_verify_locations(c.get(), hl7_tls_test::cert("ca.pem").c_str(), nullptr) != 1)
                throw tls_failure("loading ca.pem: " + openssl_errors());
            ::SSL_CTX_set_verify(c.get(), SSL_VERIFY_PEER, nullptr);
            return c;
        }();
        return ctx.get();
    }

    std::string
    take_output()
    {
        std::string s;
        char buf[16384];
        int n = 0;
        while ((n = ::BIO_read(out_, buf, sizeof buf)) > 0)
            s.append(buf, static_cast<std::size_t>(n));
        return s;
    }

    void
    send_chunked(std::string_view bytes, std::size_t chunk)
    {
        if (chunk == 0)
            chunk = bytes.size();
        while (!bytes.empty()) {
            auto const n = std::min(chunk, bytes.size());
            tcp_.send_all(bytes.substr(0, n));
            bytes.remove_prefix(n);
        }
    }

    // Moves what arrived into the SSL object; false on timeout or end.
    bool
    pump(clock::time_point deadline)
    {
        auto const left = deadline - clock::now();
        if (left <= clock::duration::zero())
            return false;
        std::string bytes;
        switch (tcp_.receive(bytes, left)) {
        case raw_peer::fill_result::data:
            ::BIO_write(in_, bytes.data(), static_cast<int>(bytes.size()));
            return true;
        case raw_peer::fill_result::timeout: return false;
        case raw_peer::fill_result::eof: end(raw_peer::end_state::eof, "EOF"); return false;
        case raw_peer::fill_result::reset: end(raw_peer::end_state::reset, "reset"); return false;
        }
        return false;
    }

    // Decrypts every whole record received so far into plain_.
    void
    decrypt()
    {
        char buf[16384];
        for (;;) {
            ::ERR_clear_error();
            int const n = ::SSL_read(ssl_.get(), buf, sizeof buf);
            if (n > 0) {
                plain_.append(buf, static_cast<std::size_t>(n));
                continue;
            }
            int const e = ::SSL_get_error(ssl_.get(), n);
            if (e == SSL_ERROR_WANT_READ)
                break;
            if (e == SSL_ERROR_ZERO_RETURN)
                end(raw_peer::end_state::eof, "close_notify");
            else
                end(raw_peer::end_state::reset, "SSL error " + std::to_string(e) + ": " + openssl_errors());
            break;
        }
        if (!ended_)
            flush(0); // (a key update may need an answer)
    }

    void
    end(raw_peer::end_state s, std::string why)
    {
        if (ended_)
            return;
        ended_ = true;
        end_ = s;
        why_ = std::move(why);
    }

    raw_peer tcp_;
    std::unique_ptr<SSL, ssl_free> ssl_;
    BIO* in_ = nullptr;
    BIO* out_ = nullptr;
    std::string plain_;
    bool ended_ = false;
    raw_peer::end_state end_ = raw_peer::end_state::open;
    std::string why_;
};

} // namespace hl7_hostile

#endif
