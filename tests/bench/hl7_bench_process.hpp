#ifndef HL7_TESTS_BENCH_HL7_BENCH_PROCESS_HPP
#define HL7_TESTS_BENCH_HL7_BENCH_PROCESS_HPP

// Child processes for hl7_bench_mllp: the servers under test run as separate
// processes, die with the benchmark (PR_SET_PDEATHSIG) and are always
// stopped (SIGTERM, then SIGKILL) and reaped.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace hl7_bench {

/** Pins the calling thread (and the threads and children it starts later)
    to CPU `cpu`; a negative `cpu` leaves the affinity alone. Returns false
    if the system refused (e.g. no such CPU). */
inline bool
pin_to_cpu(int cpu)
{
    if (cpu < 0)
        return true;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return ::sched_setaffinity(0, sizeof set, &set) == 0;
}

/** True if the calling thread could be pinned to CPU `cpu` (a negative
    `cpu`: true); its affinity is left as it was. For checking a --*-cpu
    option before a header claims the pinning. */
inline bool
can_pin_to_cpu(int cpu)
{
    cpu_set_t before;
    if (cpu < 0 || ::sched_getaffinity(0, sizeof before, &before) != 0)
        return cpu < 0;
    bool const ok = pin_to_cpu(cpu);
    ::sched_setaffinity(0, sizeof before, &before);
    return ok;
}

class child_process
{
public:
    child_process() = default;

    enum class output { inherit, capture, discard };

    /// Starts argv[0] with argv; its stdout is readable through read_line()
    /// with output::capture, inherited, or sent to /dev/null. The child runs
    /// on CPU `cpu` only (none: it inherits this process's affinity).
    child_process(std::vector<std::string> const& argv, output out_mode, int cpu = -1)
    {
        bool const capture_stdout = out_mode == output::capture;
        int fds[2] = {-1, -1};
        if (capture_stdout && ::pipe(fds) != 0)
            throw std::runtime_error("pipe failed");
        pid_t const parent = ::getpid();
        pid_ = ::fork();
        if (pid_ < 0)
            throw std::runtime_error("fork failed");
        if (pid_ == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (::getppid() != parent)
                ::_exit(127);
            if (!pin_to_cpu(cpu))
                std::fprintf(stderr, "could not pin %s to CPU %d\n", argv.front().c_str(), cpu);
            if (capture_stdout) {
                ::dup2(fds[1], 1);
                ::close(fds[0]);
                ::close(fds[1]);
            }
            else if (out_mode == output::discard) {
                int const null = ::open("/dev/null", O_WRONLY);
                if (null >= 0) {
                    ::dup2(null, 1);
                    ::close(null);
                }
            }
            std::vector<char*> args;
            for (auto const& a : argv)
                args.push_back(const_cast<char*>(a.c_str()));
            args.push_back(nullptr);
            ::execv(args[0], args.data());
            std::fprintf(stderr, "exec %s: %s\n", args[0], std::strerror(errno));
            ::_exit(127);
        }
        if (capture_stdout) {
            ::close(fds[1]);
            out_ = fds[0];
        }
    }

    child_process(child_process const&) = delete;
    child_process& operator=(child_process const&) = delete;
    child_process(child_process&& o) noexcept : pid_(o.pid_), out_(o.out_)
    {
        o.pid_ = -1;
        o.out_ = -1;
    }
    child_process& operator=(child_process&& o) noexcept
    {
        if (this != &o) {
            stop();
            pid_ = o.pid_;
            out_ = o.out_;
            o.pid_ = -1;
            o.out_ = -1;
        }
        return *this;
    }
    ~child_process() { stop(); }

    pid_t pid() const noexcept { return pid_; }

    bool running()
    {
        if (pid_ <= 0)
            return false;
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            return false;
        }
        return true;
    }

    /// One line of the child's stdout, or "" after `timeout` or at EOF.
    std::string read_line(std::chrono::milliseconds timeout)
    {
        std::string line;
        auto const deadline = std::chrono::steady_clock::now() + timeout;
        while (out_ >= 0) {
            auto const left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0)
                break;
            pollfd p{out_, POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(left.count())) <= 0)
                continue;
            char ch;
            ssize_t const n = ::read(out_, &ch, 1);
            if (n <= 0)
                break;
            if (ch == '\n')
                return line;
            line += ch;
        }
        return {};
    }

    /// SIGTERM, up to 2 s grace, then SIGKILL; always reaps.
    void stop()
    {
        if (out_ >= 0) {
            ::close(out_);
            out_ = -1;
        }
        if (pid_ <= 0)
            return;
        ::kill(pid_, SIGTERM);
        for (int i = 0; i < 200; ++i) {
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                return;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        ::kill(pid_, SIGKILL);
        int status = 0;
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
    }

private:
    pid_t pid_ = -1;
    int out_ = -1;
};

/// CPU seconds (user + system) used so far by process `pid`; -1 if unknown.
inline double
process_cpu_seconds(pid_t pid)
{
    std::FILE* f = std::fopen(("/proc/" + std::to_string(pid) + "/stat").c_str(), "r");
    if (!f)
        return -1;
    char buf[1024];
    std::size_t const n = std::fread(buf, 1, sizeof buf - 1, f);
    std::fclose(f);
    buf[n] = '\0';
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    char const* p = std::strrchr(buf, ')');
    if (!p)
        return -1;
    unsigned long utime = 0, stime = 0;
    if (std::sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2)
        return -1;
    return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

/// User + system CPU seconds of getrusage(`who`).
inline double
rusage_cpu_seconds(int who)
{
    rusage u{};
    ::getrusage(who, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

/// CPU seconds used so far by this process (all threads).
inline double
self_cpu_seconds()
{
    return rusage_cpu_seconds(RUSAGE_SELF);
}

/// CPU seconds used so far by this process's children that have been reaped.
inline double
children_cpu_seconds()
{
    return rusage_cpu_seconds(RUSAGE_CHILDREN);
}

/// A loopback port that was free a moment ago (bind port 0, read it back, close).
inline std::uint16_t
pick_free_port()
{
    int const fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
        throw std::runtime_error("cannot find a free port");
    ::close(fd);
    return ntohs(addr.sin_port);
}

/// True once something accepts connections on 127.0.0.1:port.
inline bool
wait_connectable(std::uint16_t port, std::chrono::milliseconds timeout)
{
    auto const deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        int const fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(port);
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        bool const ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
        ::close(fd);
        if (ok)
            return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
}

} // namespace hl7_bench

#endif
