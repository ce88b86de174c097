// hl7_bench_echo: the machine's ceiling for hl7_bench_mllp. A minimal MLLP
// responder on raw POSIX sockets and epoll (one thread, non-blocking): it
// answers every complete frame 0x0B ... 0x1C 0x0D with the same fixed ACK,
// without parsing the payload. Binds 127.0.0.1 (port 0 by default), prints
// the bound port on stdout and serves until killed.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

namespace {

constexpr char start_block = 0x0b;
constexpr char end_block = 0x1c;
constexpr char carriage_return = 0x0d;

// A realistic ACK (the size of what create_ack() produces), framed once.
std::string const fixed_ack = std::string(1, start_block) +
                              "MSH|^~\\&|RECEIVER|FACILITY|SENDER|FACILITY|20240101000000||ACK^A01^ACK|"
                              "ECHO0000000000000001|P|2.5\rMSA|AA|FIXED\r" +
                              std::string{end_block, carriage_return};

struct connection
{
    int fd = -1;
    std::string in;        // unconsumed input
    std::size_t scan = 0;  // where to resume looking for the end block
    std::string out;       // pending output
    std::size_t out_off = 0;
    bool want_write = false;
};

void
die(char const* what)
{
    std::fprintf(stderr, "hl7_bench_echo: %s: %s\n", what, std::strerror(errno));
    std::exit(1);
}

void
set_nonblocking(int fd)
{
    int const flags = ::fcntl(fd, F_GETFL, 0);
    if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
        die("fcntl");
}

// Consume complete frames from c.in, queue one ACK per frame.
void
consume_frames(connection& c)
{
    std::size_t consumed = 0;
    for (;;) {
        std::size_t const from = std::max(c.scan, consumed);
        auto const at = std::string_view(c.in).find(std::string_view("\x1c\r", 2), from);
        if (at == std::string_view::npos) {
            // Resume one byte early: the FS may be the last byte read.
            c.scan = c.in.size() > consumed + 1 ? c.in.size() - 1 : consumed;
            break;
        }
        c.out += fixed_ack;
        consumed = at + 2;
        c.scan = consumed;
    }
    if (consumed) {
        c.in.erase(0, consumed);
        c.scan -= consumed;
    }
}

// Write what is pending; returns false if the peer is gone.
bool
flush(connection& c)
{
    while (c.out_off < c.out.size()) {
        ssize_t const n = ::send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return true;
            if (errno == EINTR)
                continue;
            return false;
        }
        c.out_off += static_cast<std::size_t>(n);
    }
    c.out.clear();
    c.out_off = 0;
    return true;
}

} // namespace

int
main(int argc, char** argv)
{
    int port = 0;
    if (argc > 2 && std::string_view(argv[1]) == "--port")
        port = std::atoi(argv[2]);
    std::signal(SIGPIPE, SIG_IGN);

    int const lfd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (lfd < 0)
        die("socket");
    int one = 1;
    ::setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0)
        die("bind");
    if (::listen(lfd, 1024) < 0)
        die("listen");
    socklen_t len = sizeof addr;
    if (::getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &len) < 0)
        die("getsockname");
    set_nonblocking(lfd);
    std::printf("%u\n", ntohs(addr.sin_port));
    std::fflush(stdout);

    int const ep = ::epoll_create1(0);
    if (ep < 0)
        die("epoll_create1");
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = lfd;
    ::epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);

    std::unordered_map<int, std::unique_ptr<connection>> conns;
    auto close_conn = [&](int fd) {
        ::epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr);
        ::close(fd);
        conns.erase(fd);
    };
    std::string buf(1 << 16, '\0');
    epoll_event events[256];
    for (;;) {
        int const n = ::epoll_wait(ep, events, 256, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("epoll_wait");
        }
        for (int i = 0; i < n; ++i) {
            int const fd = events[i].data.fd;
            if (fd == lfd) {
                for (;;) {
                    int const cfd = ::accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK);
                    if (cfd < 0)
                        break;
                    ::setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    auto c = std::make_unique<connection>();
                    c->fd = cfd;
                    epoll_event cev{};
                    cev.events = EPOLLIN | EPOLLRDHUP;
                    cev.data.fd = cfd;
                    ::epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &cev);
                    conns.emplace(cfd, std::move(c));
                }
                continue;
            }
            auto it = conns.find(fd);
            if (it == conns.end())
                continue;
            connection& c = *it->second;
            bool alive = true;
            if (events[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
                for (;;) {
                    ssize_t const r = ::recv(fd, buf.data(), buf.size(), 0);
                    if (r > 0) {
                        c.in.append(buf.data(), static_cast<std::size_t>(r));
                        if (static_cast<std::size_t>(r) < buf.size())
                            break;
                        continue;
                    }
                    if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
                        alive = false;
                    if (r < 0 && errno == EINTR)
                        continue;
                    break;
                }
                consume_frames(c);
            }
            if (alive)
                alive = flush(c);
            if (!alive) {
                close_conn(fd);
                continue;
            }
            bool const pending = c.out_off < c.out.size();
            if (pending != c.want_write) {
                epoll_event cev{};
                cev.events = EPOLLIN | EPOLLRDHUP | (pending ? EPOLLOUT : 0u);
                cev.data.fd = fd;
                ::epoll_ctl(ep, EPOLL_CTL_MOD, fd, &cev);
                c.want_write = pending;
            }
        }
    }
}
