#ifndef HL7_TESTS_HOSTILE_SUPPORT_HPP
#define HL7_TESTS_HOSTILE_SUPPORT_HPP

// Support for the hostile-network suite and the no-loss soak:
//
//  - raw_peer: a blocking POSIX TCP client that can misbehave on purpose
//    (byte-at-a-time writes, half-close, reset with SO_LINGER 0, never
//    reading, tiny receive buffers) and reads MLLP frames back with its own
//    small decoder, so nothing under test is used to judge it;
//  - in_process_receiver: hl7::start_hl7_server on 127.0.0.1:0 with the
//    bundled receiver's handler logic (parse + create_ack, make_nak on a
//    parse error, a NAK for an oversized frame), run by its own threads,
//    recording every message handed to the application;
//  - external_receiver: examples/hl7_receiver launched as a process on a free
//    port, with its log captured to a file;
//  - helpers: messages with a given control id, ACK checks, RSS, RLIMIT_NOFILE.

#include <hl7/model/ack.hpp>
#include <hl7/net.hpp>
#include <hl7/parser/parse.hpp>

#include <asio/co_spawn.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

extern char** environ;

namespace hl7_hostile {

using namespace std::chrono_literals;
using clock = std::chrono::steady_clock;
using ms = std::chrono::milliseconds;

inline constexpr char vt = '\x0b';
inline constexpr char fs = '\x1c';
inline constexpr char cr = '\x0d';

/// A small ORU^R01 with MSH-10 = `control_id` (and optional PID name bytes).
inline std::string
message_text(std::string_view control_id, std::string_view patient = "EVERYWOMAN^EVE")
{
    std::string m = "MSH|^~\\&|HOSTILE|TEST|RCV|FAC|20240101120000||ORU^R01|";
    m += control_id;
    m += "|P|2.5\rPID|||555-44-4444||";
    m += patient;
    m += "||19620320|F\rOBX|1|NM|GLU^Glucose||182|mg/dl|70_105|H|||F\r";
    return m;
}

inline std::string
framed(std::string_view payload)
{
    std::string f;
    f.reserve(payload.size() + 3);
    f += vt;
    f += payload;
    f += fs;
    f += cr;
    return f;
}

/// What an answer says: MSA-1, MSA-2, MSA-3 (empty strings if absent or unparsable).
struct answer
{
    std::string code;
    std::string control_id;
    std::string text;
    std::string raw;
};

inline answer
read_answer(std::string const& payload)
{
    answer a;
    a.raw = payload;
    std::error_code ec;
    hl7::message m = hl7::parse(payload, ec);
    if (ec || !m.has_segment("MSA"))
        return a;
    auto msa = m.segment("MSA");
    a.code = std::string(msa.field(1).raw());
    a.control_id = std::string(msa.field(2).raw());
    a.text = msa.field(3).value();
    return a;
}

//--------------------------------------------------------------------------
// Raw sockets

struct peer_closed : std::runtime_error
{
    using std::runtime_error::runtime_error;
};

/** Takes the first whole MLLP frame out of `in` and returns its payload;
    bytes before a start block are dropped. nullopt if no whole frame yet. */
inline std::optional<std::string>
take_frame(std::string& in)
{
    auto const start = in.find(vt);
    if (start == std::string::npos) {
        in.clear();
        return std::nullopt;
    }
    for (auto end = in.find(fs, start); end != std::string::npos; end = in.find(fs, end + 1)) {
        if (end + 1 < in.size() && in[end + 1] == cr) {
            std::string payload = in.substr(start + 1, end - start - 1);
            in.erase(0, end + 2);
            return payload;
        }
        if (end + 1 >= in.size())
            break;
    }
    return std::nullopt;
}

/** A TCP client on plain POSIX sockets. Every wait is bounded. */
class raw_peer
{
public:
    enum class end_state { open, eof, reset };

    /// Connects to 127.0.0.1:port. `rcvbuf` > 0 sets SO_RCVBUF before connecting.
    explicit raw_peer(std::uint16_t port, int rcvbuf = 0, bool nodelay = true)
    {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd_ < 0)
            throw std::system_error(errno, std::generic_category(), "socket");
        if (rcvbuf > 0)
            ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
        int one = 1;
        if (nodelay)
            ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(port);
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(fd_, reinterpret_cast<sockaddr const*>(&addr), sizeof addr) != 0) {
            int const e = errno;
            ::close(fd_);
            fd_ = -1;
            throw std::system_error(e, std::generic_category(), "connect");
        }
        set_nonblocking();
    }

    raw_peer(raw_peer&& o) noexcept : fd_(std::exchange(o.fd_, -1)), in_(std::move(o.in_)) {}
    raw_peer& operator=(raw_peer&&) = delete;

    ~raw_peer() { close(); }

    int fd() const noexcept { return fd_; }

    /// Sends everything, waiting for buffer space up to `budget`; throws on
    /// error or if the bytes could not all be sent in time.
    void
    send_all(std::string_view bytes, clock::duration budget = 20s)
    {
        std::size_t const n = send_some(bytes, budget);
        if (n != bytes.size())
            throw std::runtime_error("send_all: peer did not take " + std::to_string(bytes.size() - n) +
                                     " bytes in time");
    }

    /// Sends as much as the peer takes within `budget`; returns the count.
    /// Throws peer_closed on EPIPE/ECONNRESET.
    std::size_t
    send_some(std::string_view bytes, clock::duration budget)
    {
        auto const deadline = clock::now() + budget;
        std::size_t sent = 0;
        while (sent < bytes.size()) {
            ssize_t const n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
            if (n > 0) {
                sent += static_cast<std::size_t>(n);
                continue;
            }
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                auto const left = deadline - clock::now();
                if (left <= clock::duration::zero())
                    return sent;
                if (!wait_for(POLLOUT, left))
                    return sent;
                continue;
            }
            throw peer_closed(std::string("send: ") + std::strerror(errno));
        }
        return sent;
    }

    /** The next frame's payload, or nullopt if none arrived within
        `timeout`. Throws peer_closed if the connection ended first. Bytes
        outside frames are ignored. */
    std::optional<std::string>
    read_frame(clock::duration timeout = 20s)
    {
        auto const deadline = clock::now() + timeout;
        for (;;) {
            if (auto f = take_frame(in_))
                return f;
            auto const left = deadline - clock::now();
            if (left <= clock::duration::zero())
                return std::nullopt;
            switch (fill(left)) {
            case fill_result::data: break;
            case fill_result::timeout: return std::nullopt;
            case fill_result::eof: throw peer_closed("connection closed by the peer (EOF)");
            case fill_result::reset: throw peer_closed("connection reset by the peer");
            }
        }
    }

    /// Reads (and counts) whatever arrives until the connection ends or
    /// `timeout` passes.
    end_state
    wait_end(clock::duration timeout, std::size_t* frames = nullptr)
    {
        auto const deadline = clock::now() + timeout;
        for (;;) {
            while (auto f = take_frame(in_))
                if (frames)
                    ++*frames;
            auto const left = deadline - clock::now();
            if (left <= clock::duration::zero())
                return end_state::open;
            switch (fill(left)) {
            case fill_result::data: break;
            case fill_result::timeout: return end_state::open;
            case fill_result::eof: return end_state::eof;
            case fill_result::reset: return end_state::reset;
            }
        }
    }

    enum class fill_result { data, timeout, eof, reset };

    /** Moves the bytes that arrived (waiting up to `timeout` for some) to
        the end of `out`: for peers that decode the bytes themselves (TLS). */
    fill_result
    receive(std::string& out, clock::duration timeout)
    {
        fill_result const r = in_.empty() ? fill(timeout) : fill_result::data;
        out += in_;
        in_.clear();
        return r;
    }

    /// shutdown(SHUT_WR): "no more from me", still reading.
    void
    half_close()
    {
        ::shutdown(fd_, SHUT_WR);
    }

    /// Closes with SO_LINGER {1, 0}: the peer sees a reset (RST), not a FIN.
    void
    reset()
    {
        if (fd_ < 0)
            return;
        linger l{1, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
        ::close(fd_);
        fd_ = -1;
    }

    void
    close()
    {
        if (fd_ >= 0)
            ::close(fd_);
        fd_ = -1;
    }

private:
    void
    set_nonblocking()
    {
        int const flags = ::fcntl(fd_, F_GETFL, 0);
        ::fcntl(fd_, F_SETFL, flags | O_NONBLOCK);
    }

    bool
    wait_for(short events, clock::duration d)
    {
        pollfd p{fd_, events, 0};
        auto const t = std::chrono::duration_cast<ms>(d).count();
        int const r = ::poll(&p, 1, static_cast<int>(std::max<long long>(1, std::min<long long>(t, 60'000))));
        return r > 0;
    }

    fill_result
    fill(clock::duration left)
    {
        auto const deadline = clock::now() + left;
        char buf[65536];
        for (;;) {
            ssize_t const n = ::recv(fd_, buf, sizeof buf, 0);
            if (n > 0) {
                in_.append(buf, static_cast<std::size_t>(n));
                return fill_result::data;
            }
            if (n == 0)
                return fill_result::eof;
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                auto const rest = deadline - clock::now();
                if (rest <= clock::duration::zero() || !wait_for(POLLIN, rest))
                    return fill_result::timeout;
                continue;
            }
            return fill_result::reset;
        }
    }

    int fd_ = -1;
    std::string in_;
};

//--------------------------------------------------------------------------
// Process facts

/// Resident set size of a process in bytes (this one by default).
inline std::size_t
rss_bytes(pid_t pid = 0)
{
    std::string const path = pid == 0 ? std::string("/proc/self/statm") : "/proc/" + std::to_string(pid) + "/statm";
    std::ifstream in(path);
    std::size_t pages_total = 0, pages_resident = 0;
    in >> pages_total >> pages_resident;
    return pages_resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

/// Raises the soft RLIMIT_NOFILE towards `wanted` (as far as the hard limit
/// allows) and returns the resulting soft limit.
inline std::size_t
raise_fd_limit(std::size_t wanted)
{
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 1024;
    rlim_t const target = std::min<rlim_t>(wanted, rl.rlim_max);
    if (rl.rlim_cur < target) {
        rl.rlim_cur = target;
        ::setrlimit(RLIMIT_NOFILE, &rl);
        ::getrlimit(RLIMIT_NOFILE, &rl);
    }
    return static_cast<std::size_t>(rl.rlim_cur);
}

/// Polls `pred` until it holds or `timeout` passes; returns its last value.
template<class Pred>
bool
eventually(Pred pred, clock::duration timeout = 20s)
{
    auto const deadline = clock::now() + timeout;
    for (;;) {
        if (pred())
            return true;
        if (clock::now() >= deadline)
            return false;
        std::this_thread::sleep_for(20ms);
    }
}

/// `prefix`-N, N counting up in this process: control ids no case repeats.
inline std::string
unique_id(std::string const& prefix)
{
    static std::atomic<int> n{0};
    return prefix + "-" + std::to_string(++n);
}

// Peak RSS of a process, sampled by a thread while a case runs.
class rss_watch
{
public:
    explicit rss_watch(pid_t pid) : pid_(pid), base_(rss_bytes(pid)), peak_(base_)
    {
        thread_ = std::thread([this] {
            while (!stop_) {
                std::size_t const now = rss_bytes(pid_);
                if (now > peak_)
                    peak_ = now;
                std::this_thread::sleep_for(10ms);
            }
        });
    }

    ~rss_watch() { finish(); }

    /// Growth of the peak over the starting RSS, in bytes.
    std::size_t
    finish()
    {
        if (thread_.joinable()) {
            stop_ = true;
            thread_.join();
        }
        return peak_ > base_ ? peak_ - base_ : 0;
    }

private:
    pid_t pid_;
    std::size_t base_;
    std::atomic<std::size_t> peak_;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

//--------------------------------------------------------------------------
// The receiver under test, in this process

/// Options the in-process receiver starts with unless a case says otherwise:
/// loopback, port 0, a 1 MiB frame limit (so crossing it is cheap) and
/// generous timeouts (so only the case that tests one trips it).
inline hl7::server_options
test_server_options()
{
    hl7::server_options o;
    o.host = "127.0.0.1";
    o.port = 0;
    o.connection.max_frame_size = std::size_t{1} << 20;
    o.idle_timeout = 60s;
    o.frame_timeout = 60s;
    o.handler_timeout = 60s;
    o.write_timeout = 60s;
    return o;
}

/// True for parse errors that mean the message cannot be identified (AR);
/// others are application errors (AE). As examples/hl7_receiver decides.
inline bool
is_reject(std::error_code const& ec)
{
    return ec == hl7::error::empty_message || ec == hl7::error::no_header || ec == hl7::error::truncated_header ||
           ec == hl7::error::invalid_delimiters || ec == hl7::error::message_too_large ||
           ec == hl7::error::too_many_segments || ec == hl7::error::too_many_fields;
}

/// How an in_process_receiver is set up.
struct receiver_settings
{
    hl7::server_options server = test_server_options();
    unsigned threads = 1;
    /// Await drain() after each answer (the receiver does); off = write
    /// answers without waiting (exercises max_write_queue).
    bool drain = true;
    /// A message with this MSH-10 makes the handler hang (for handler_timeout).
    std::string hang_id = "HANG-FOREVER";
    /// Starts the server; empty = hl7::start_hl7_server (TLS variants pass
    /// one calling hl7::start_hl7_tls_server).
    std::function<asio::awaitable<hl7::server>(hl7::client_connected_cb, hl7::server_options)> start{};
};

/** hl7::start_hl7_server with the bundled receiver's handler, on its own
    io_context run by `threads` threads. Records what the application got. */
class in_process_receiver
{
public:
    using settings = receiver_settings;

    explicit in_process_receiver(settings s = settings()) : settings_(std::move(s)), guard_(asio::make_work_guard(ioc_))
    {
        auto options = settings_.server;
        options.on_error = [this](hl7::server_event const& ev) {
            std::lock_guard lock(mu_);
            events_.push_back(ev.ec);
        };
        for (unsigned i = 0; i < std::max(1u, settings_.threads); ++i)
            threads_.emplace_back([this] { ioc_.run(); });
        auto started = spawn([this, options]() -> asio::awaitable<void> {
            hl7::client_connected_cb cb = [this](hl7::stream_reader r, hl7::stream_writer w) {
                return serve(std::move(r), std::move(w));
            };
            if (settings_.start)
                server_.emplace(co_await settings_.start(std::move(cb), options));
            else
                server_.emplace(co_await hl7::start_hl7_server(std::move(cb), options));
        });
        try {
            started.get();
        } catch (...) {
            stop_threads();
            throw;
        }
    }

    in_process_receiver(in_process_receiver const&) = delete;
    in_process_receiver& operator=(in_process_receiver const&) = delete;

    ~in_process_receiver()
    {
        try {
            shutdown(30s);
        } catch (...) {
        }
        stop_threads();
    }

    /** close() + wait_closed(); returns false if the server did not finish
        within `timeout` (a hung connection). */
    bool
    shutdown(clock::duration timeout = 30s)
    {
        if (!server_ || stopped_)
            return true;
        stopped_ = true;
        auto done = spawn([this]() -> asio::awaitable<void> {
            server_->close();
            co_await server_->wait_closed();
        });
        return done.wait_for(timeout) == std::future_status::ready;
    }

    std::uint16_t port() const { return server_->port(); }
    std::size_t connection_count() const { return server_->connection_count(); }
    std::uint64_t refused_count() const { return server_->refused_count(); }

    /// Control ids handed to the application, in arrival order.
    std::vector<std::string>
    delivered() const
    {
        std::lock_guard lock(mu_);
        return delivered_;
    }

    bool
    was_delivered(std::string const& id) const
    {
        std::lock_guard lock(mu_);
        return std::find(delivered_.begin(), delivered_.end(), id) != delivered_.end();
    }

    std::map<std::string, int>
    delivery_counts() const
    {
        std::lock_guard lock(mu_);
        std::map<std::string, int> out;
        for (auto const& id : delivered_)
            ++out[id];
        return out;
    }

    /// Payload bytes of the last delivered message with this control id.
    std::string
    payload_of(std::string const& id) const
    {
        std::lock_guard lock(mu_);
        auto it = payloads_.find(id);
        return it == payloads_.end() ? std::string() : it->second;
    }

    bool
    saw_event(std::error_code e) const
    {
        std::lock_guard lock(mu_);
        for (auto const& ec : events_)
            if (ec == e)
                return true;
        return false;
    }

    std::vector<std::error_code>
    events() const
    {
        std::lock_guard lock(mu_);
        return events_;
    }

    std::size_t max_write_buffer() const { return max_write_buffer_.load(); }
    std::uint64_t handlers_finished() const { return handlers_finished_.load(); }

private:
    // co_spawn on our io_context with a future for the outcome (a promise
    // set by a completion handler: asio::use_future trips GCC 12's
    // -Wmaybe-uninitialized under the sanitizers).
    template<class F>
    std::future<void>
    spawn(F f)
    {
        auto done = std::make_shared<std::promise<void>>();
        auto result = done->get_future();
        asio::co_spawn(ioc_, std::move(f), [done](std::exception_ptr e) {
            if (e)
                done->set_exception(e);
            else
                done->set_value();
        });
        return result;
    }

    asio::awaitable<void>
    serve(hl7::stream_reader reader, hl7::stream_writer writer)
    {
        // Counted however the handler ends: after handler_timeout cancels it,
        // every later co_await throws too (Asio's throw_if_cancelled), so
        // the clean-up below may not run to its end.
        struct finished_guard
        {
            std::atomic<std::uint64_t>& n;
            ~finished_guard() { ++n; }
        } guard{handlers_finished_};
        try {
            while (!writer.is_closing()) {
                hl7::message ack;
                try {
                    hl7::message const msg = co_await reader.readmessage();
                    std::error_code ec;
                    std::string id = msg.get("MSH.10", ec);
                    record(id, reader.last_block());
                    if (id == settings_.hang_id) {
                        // Stuck processing: only handler_timeout ends this.
                        asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::hours(1));
                        co_await t.async_wait(asio::use_awaitable);
                    }
                    ack = msg.create_ack();
                } catch (hl7::parse_error const& e) {
                    ack = hl7::make_nak(reader.last_block(), is_reject(e.code()) ? "AR" : "AE",
                                        "parse error: " + e.code().message() + " at byte " +
                                            std::to_string(e.offset()));
                } catch (hl7::mllp::frame_too_large_error const&) {
                    ack = hl7::make_nak({}, "AR",
                                        "frame is larger than the size limit of " +
                                            std::to_string(settings_.server.connection.max_frame_size) + " bytes");
                } catch (hl7::mllp::invalid_block_error const&) {
                    continue;
                }
                writer.writemessage(ack);
                note_write_buffer(writer.write_buffer_size());
                if (settings_.drain)
                    co_await hl7::wait_for(writer.drain(), 10s);
            }
        } catch (hl7::mllp::incomplete_read_error const&) {
        } catch (hl7::mllp::timeout_error const&) {
        } catch (std::system_error const&) {
        }
        if (!writer.is_closing())
            writer.close();
        co_await writer.wait_closed();
    }

    void
    record(std::string const& id, std::string_view payload)
    {
        std::lock_guard lock(mu_);
        delivered_.push_back(id);
        payloads_[id] = std::string(payload);
    }

    void
    note_write_buffer(std::size_t n)
    {
        std::size_t seen = max_write_buffer_.load();
        while (n > seen && !max_write_buffer_.compare_exchange_weak(seen, n)) {
        }
    }

    void
    stop_threads()
    {
        guard_.reset();
        ioc_.stop();
        for (auto& t : threads_)
            if (t.joinable())
                t.join();
        threads_.clear();
    }

    settings settings_;
    asio::io_context ioc_;
    asio::executor_work_guard<asio::io_context::executor_type> guard_;
    std::vector<std::thread> threads_;
    std::optional<hl7::server> server_;
    bool stopped_ = false;

    mutable std::mutex mu_;
    std::vector<std::string> delivered_;
    std::map<std::string, std::string> payloads_;
    std::vector<std::error_code> events_;
    std::atomic<std::size_t> max_write_buffer_{0};
    std::atomic<std::uint64_t> handlers_finished_{0};
};

//--------------------------------------------------------------------------
// The bundled receiver, as a process

/** Runs `program --host 127.0.0.1 --port 0 -q <args>` with stdout and
    stderr in a temporary file, and finds the port in its "Listening on"
    line. Stops it with SIGTERM (the destructor kills it if still running). */
class external_receiver
{
public:
    external_receiver(std::string const& program, std::vector<std::string> args)
    {
        char tmpl[] = "/tmp/hl7_hostile_receiver_XXXXXX";
        int const fd = ::mkstemp(tmpl);
        if (fd < 0)
            throw std::system_error(errno, std::generic_category(), "mkstemp");
        log_path_ = tmpl;
        std::vector<std::string> argv_s = {program, "--host", "127.0.0.1", "--port", "0", "-q"};
        argv_s.insert(argv_s.end(), args.begin(), args.end());
        std::vector<char*> argv;
        for (auto& a : argv_s)
            argv.push_back(a.data());
        argv.push_back(nullptr);
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, fd, 1);
        posix_spawn_file_actions_adddup2(&fa, fd, 2);
        posix_spawn_file_actions_addclose(&fa, fd);
        int const rc = ::posix_spawn(&pid_, program.c_str(), &fa, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&fa);
        ::close(fd);
        if (rc != 0)
            throw std::system_error(rc, std::generic_category(), "posix_spawn " + program);
        bool const up = eventually(
            [&] {
                auto const text = log();
                auto const at = text.find("Listening on 127.0.0.1:");
                if (at == std::string::npos)
                    return false;
                port_ = static_cast<std::uint16_t>(std::stoi(text.substr(at + 23)));
                return port_ != 0;
            },
            30s);
        if (!up) {
            kill_now();
            throw std::runtime_error("hl7_receiver did not start; its output:\n" + log());
        }
    }

    external_receiver(external_receiver const&) = delete;
    external_receiver& operator=(external_receiver const&) = delete;

    ~external_receiver()
    {
        kill_now();
        if (!log_path_.empty())
            ::unlink(log_path_.c_str());
    }

    std::uint16_t port() const { return port_; }
    pid_t pid() const { return pid_; }

    std::string
    log() const
    {
        std::ifstream in(log_path_);
        std::stringstream ss;
        ss << in.rdbuf();
        return ss.str();
    }

    /// Still running?
    bool
    alive()
    {
        if (pid_ <= 0)
            return false;
        int status = 0;
        pid_t const r = ::waitpid(pid_, &status, WNOHANG);
        if (r == pid_) {
            exit_status_ = status;
            pid_ = -1;
            return false;
        }
        return true;
    }

    /** SIGTERM, then waits up to `timeout`; returns the exit code (-1 if it
        did not exit in time or died by a signal). */
    int
    stop(clock::duration timeout = 30s)
    {
        if (pid_ > 0)
            ::kill(pid_, SIGTERM);
        if (!eventually([&] { return !alive(); }, timeout))
            return -1;
        return WIFEXITED(exit_status_) ? WEXITSTATUS(exit_status_) : -1;
    }

private:
    void
    kill_now()
    {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            int status = 0;
            ::waitpid(pid_, &status, 0);
            pid_ = -1;
        }
    }

    pid_t pid_ = -1;
    int exit_status_ = 0;
    std::uint16_t port_ = 0;
    std::string log_path_;
};

} // namespace hl7_hostile

#endif
