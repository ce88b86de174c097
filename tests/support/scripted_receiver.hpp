#ifndef HL7_TESTS_SCRIPTED_RECEIVER_HPP
#define HL7_TESTS_SCRIPTED_RECEIVER_HPP

// A misbehaving MLLP receiver for the reliable client's tests, on raw Asio
// sockets (its framing is its own, not the library's). A script decides, for
// each message it receives, what to do: answer AA/AE/AR, close before
// answering, answer late (past the client's timeout: on the same connection
// if it is still open, else first thing on the next one), answer with
// another MSA-2, answer twice, answer with something that is not HL7, or
// never answer. It can also close a connection after reading part of a
// frame, and refuse connections (stop listening) for a while. It records
// every complete message it received, so tests can tell duplicates.

#include <hl7/parser/locate.hpp>

#include "mllp_net_helpers.hpp" // frame(), as_tuple

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace hl7_test {

/// What the scripted receiver does with one message.
struct cue
{
    enum class kind {
        ack,              // answer at once with `code` (AA by default)
        close_before_ack, // close the connection without answering
        late_ack,         // answer after `delay` (see the file comment)
        wrong_id,         // answer with MSA-2 = "WRONG-" + MSH-10
        twice,            // answer twice
        not_hl7,          // answer with a frame that is not HL7
        silent,           // never answer (the connection stays open)
    };
    kind what = kind::ack;
    std::string code = "AA";
    std::chrono::steady_clock::duration delay{0};
};

class scripted_receiver
{
public:
    using tcp = asio::ip::tcp;

    /// Decides what to do with the `nth` arrival (from 1) of control id `id`
    /// on connection `conn` (from 1). Default: AA.
    std::function<cue(std::string const& id, int nth, int conn)> script = [](std::string const&, int, int) {
        return cue{};
    };
    /// Bytes after which connection `conn` is closed mid-frame (0 = never).
    std::function<std::size_t(int conn)> cut_after = [](int) { return std::size_t{0}; };

    /// Every complete message received: control id -> times.
    std::map<std::string, int> received;
    /// Control ids in arrival order, with their connection.
    std::vector<std::pair<int, std::string>> arrivals;
    int connections = 0;

    explicit scripted_receiver(asio::io_context& ctx) : ctx_(ctx), state_(std::make_shared<shared>(ctx))
    {
        listen(0);
    }

    ~scripted_receiver() { stop(); }

    std::uint16_t
    port() const noexcept
    {
        return port_;
    }

    /// Refuse connections from now on (the port is closed).
    void
    stop_listening()
    {
        std::error_code ignored;
        state_->acceptor.close(ignored);
    }

    /// Listen again on the same port.
    void
    start_listening()
    {
        listen(port_);
    }

    /// Closes the listener and every connection.
    void
    stop()
    {
        stop_listening();
        for (auto& w : state_->sockets)
            if (auto s = w.lock()) {
                std::error_code ignored;
                s->close(ignored);
            }
    }

    static std::string
    ack_for(std::string const& id, std::string const& code)
    {
        return "MSH|^~\\&|RCV|RF|SND|SF|20240101||ACK^A01^ACK|ACK-" + id + "|P|2.5\rMSA|" + code + "|" + id + "\r";
    }

private:
    struct shared
    {
        explicit shared(asio::io_context& c) : acceptor(c) {}
        tcp::acceptor acceptor;
        std::vector<std::weak_ptr<tcp::socket>> sockets;
        std::vector<std::string> late; // ACKs due on the next connection
    };

    void
    listen(std::uint16_t port)
    {
        auto& a = state_->acceptor;
        tcp::endpoint const ep(asio::ip::make_address("127.0.0.1"), port);
        a.open(ep.protocol());
        a.set_option(tcp::acceptor::reuse_address(true));
        a.bind(ep);
        a.listen();
        port_ = a.local_endpoint().port();
        asio::co_spawn(ctx_, accept_loop(this, state_), asio::detached);
    }

    static asio::awaitable<void>
    accept_loop(scripted_receiver* self, std::shared_ptr<shared> st)
    {
        for (;;) {
            auto sock = std::make_shared<tcp::socket>(self->ctx_);
            auto [ec] = co_await st->acceptor.async_accept(*sock, as_tuple);
            if (ec)
                co_return;
            st->sockets.push_back(sock);
            int const conn = ++self->connections;
            asio::co_spawn(self->ctx_, session(self, st, sock, conn), asio::detached);
        }
    }

    static asio::awaitable<void>
    send(std::shared_ptr<tcp::socket> sock, std::string payload)
    {
        std::string const bytes = frame(payload);
        co_await asio::async_write(*sock, asio::buffer(bytes), as_tuple);
    }

    static asio::awaitable<void>
    send_late(std::shared_ptr<shared> st, std::shared_ptr<tcp::socket> sock, std::string payload,
              std::chrono::steady_clock::duration delay)
    {
        asio::steady_timer t(sock->get_executor(), delay);
        co_await t.async_wait(as_tuple);
        if (sock->is_open())
            co_await send(sock, payload);
        else
            st->late.push_back(payload);
    }

    static asio::awaitable<void>
    session(scripted_receiver* self, std::shared_ptr<shared> st, std::shared_ptr<tcp::socket> sock, int conn)
    {
        std::size_t const cut = self->cut_after(conn);
        std::size_t total = 0;
        std::string buf;
        char chunk[4096];
        for (;;) {
            std::size_t want = sizeof chunk;
            if (cut != 0)
                want = std::min(want, cut - total);
            auto [ec, n] = co_await sock->async_read_some(asio::buffer(chunk, want), as_tuple);
            if (ec) {
                sock->close(ec);
                co_return;
            }
            total += n;
            buf.append(chunk, n);
            if (cut != 0 && total >= cut) { // half a frame read: hang up
                sock->close(ec);
                co_return;
            }
            for (;;) {
                auto const start = buf.find('\x0b');
                if (start == std::string::npos) {
                    buf.clear();
                    break;
                }
                auto const end = buf.find("\x1c\x0d", start);
                if (end == std::string::npos)
                    break;
                std::string const payload = buf.substr(start + 1, end - start - 1);
                buf.erase(0, end + 2);
                std::error_code lec;
                std::string const id(hl7::locate(payload, "MSH.10", lec));
                int const nth = ++self->received[id];
                self->arrivals.emplace_back(conn, id);
                // ACKs that were due when their connection had gone: now.
                for (auto const& late : std::exchange(st->late, {}))
                    co_await send(sock, late);
                cue const c = self->script(id, nth, conn);
                switch (c.what) {
                case cue::kind::ack: co_await send(sock, ack_for(id, c.code)); break;
                case cue::kind::close_before_ack: sock->close(lec); co_return;
                case cue::kind::late_ack:
                    asio::co_spawn(self->ctx_, send_late(st, sock, ack_for(id, c.code), c.delay), asio::detached);
                    break;
                case cue::kind::wrong_id: co_await send(sock, ack_for("WRONG-" + id, c.code)); break;
                case cue::kind::twice:
                    co_await send(sock, ack_for(id, c.code));
                    co_await send(sock, ack_for(id, c.code));
                    break;
                case cue::kind::not_hl7: co_await send(sock, "this is not HL7"); break;
                case cue::kind::silent: break;
                }
            }
        }
    }

    asio::io_context& ctx_;
    std::shared_ptr<shared> state_;
    std::uint16_t port_ = 0;
};

} // namespace hl7_test

#endif
