#ifndef HL7_TESTS_NATS_CLUSTER_HPP
#define HL7_TESTS_NATS_CLUSTER_HPP

// A real nats-server JetStream cluster for tests and benchmarks: N servers
// on loopback, free ports picked at start, configuration and store
// directories in a fresh temporary directory, every server killed and the
// directory removed at the end. The servers die with the process that
// started them (PR_SET_PDEATHSIG), so a crashed or timed-out test leaves
// nothing running.

#include <nats/nats.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#ifndef HL7_NATS_SERVER
#define HL7_NATS_SERVER "nats-server"
#endif

namespace hl7_nats_test {

/// A loopback TCP port nobody listens on right now.
inline int
free_port()
{
    int const fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        throw std::runtime_error("socket failed");
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t len = sizeof a;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
        ::close(fd);
        throw std::runtime_error("bind failed");
    }
    ::close(fd);
    return ntohs(a.sin_port);
}

/// A fresh directory, removed with everything in it at the end.
class temp_dir
{
public:
    explicit temp_dir(char const* stem = "hl7-nats-test")
    {
        std::string tmpl = (std::filesystem::temp_directory_path() / (std::string(stem) + "-XXXXXX")).string();
        if (!::mkdtemp(tmpl.data()))
            throw std::runtime_error("mkdtemp failed");
        path_ = tmpl;
    }
    temp_dir(temp_dir const&) = delete;
    temp_dir& operator=(temp_dir const&) = delete;
    ~temp_dir()
    {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }

    std::filesystem::path const&
    path() const noexcept
    {
        return path_;
    }

private:
    std::filesystem::path path_;
};

/** A JetStream cluster of `size` nats-server processes (a single server,
    without routes, when `size` is 1). */
class cluster
{
public:
    struct node
    {
        int client_port = 0;
        int route_port = 0;
        pid_t pid = -1;
        std::string config{};
        std::string log{};
    };

    explicit cluster(int size = 3, std::string max_payload = "8MB") : dir_("hl7-nats-cluster")
    {
        nodes_.resize(static_cast<std::size_t>(size));
        for (auto& n : nodes_) {
            n.client_port = free_port();
            n.route_port = free_port();
        }
        std::string routes;
        for (auto const& n : nodes_)
            routes += "    nats-route://127.0.0.1:" + std::to_string(n.route_port) + "\n";
        for (std::size_t i = 0; i < nodes_.size(); ++i) {
            auto& n = nodes_[i];
            std::string const name = "n" + std::to_string(i + 1);
            auto const store = dir_.path() / name;
            std::filesystem::create_directories(store);
            n.config = (dir_.path() / (name + ".conf")).string();
            n.log = (dir_.path() / (name + ".log")).string();
            std::ofstream c(n.config);
            c << "server_name: " << name << "\n"
              << "listen: 127.0.0.1:" << n.client_port << "\n"
              << "max_payload: " << max_payload << "\n"
              << "jetstream {\n  store_dir: \"" << store.string() << "\"\n"
              << "  max_memory_store: 64MB\n  max_file_store: 2GB\n}\n";
            if (size > 1)
                c << "cluster {\n  name: hl7test\n  listen: 127.0.0.1:" << n.route_port << "\n  routes: [\n"
                  << routes << "  ]\n}\n";
        }
    }

    cluster(cluster const&) = delete;
    cluster& operator=(cluster const&) = delete;

    ~cluster()
    {
        for (std::size_t i = 0; i < nodes_.size(); ++i)
            kill(i);
    }

    std::size_t
    size() const noexcept
    {
        return nodes_.size();
    }

    node const&
    at(std::size_t i) const
    {
        return nodes_.at(i);
    }

    std::filesystem::path const&
    dir() const noexcept
    {
        return dir_.path();
    }

    /// Every server's URL, comma-separated (what a store is opened with).
    std::string
    urls() const
    {
        std::string s;
        for (auto const& n : nodes_) {
            if (!s.empty())
                s += ',';
            s += "nats://127.0.0.1:" + std::to_string(n.client_port);
        }
        return s;
    }

    std::string
    url(std::size_t i) const
    {
        return "nats://127.0.0.1:" + std::to_string(nodes_.at(i).client_port);
    }

    /// Starts every server that is not running and waits until JetStream
    /// answers on all of them (a meta leader is elected) and can place a
    /// stream on every server.
    void
    start(std::chrono::seconds timeout = std::chrono::seconds(60))
    {
        std::vector<std::size_t> all(nodes_.size());
        for (std::size_t i = 0; i < all.size(); ++i)
            all[i] = i;
        start_nodes(all, timeout);
        wait_placement(timeout);
    }

    /// Starts the servers `which` (a quorum of the cluster, or JetStream
    /// never answers) and waits until JetStream answers on each.
    void
    start_nodes(std::vector<std::size_t> const& which, std::chrono::seconds timeout = std::chrono::seconds(60))
    {
        for (std::size_t i : which)
            if (nodes_.at(i).pid < 0)
                spawn(i);
        for (std::size_t i : which)
            wait_ready(i, timeout);
    }

    /// Starts server `i` again and waits until JetStream answers on it.
    void
    start_node(std::size_t i, std::chrono::seconds timeout = std::chrono::seconds(60))
    {
        if (nodes_.at(i).pid < 0)
            spawn(i);
        wait_ready(i, timeout);
    }

    /// SIGKILL: the server dies at once, as on a crash.
    void
    kill(std::size_t i)
    {
        signal_and_wait(i, SIGKILL);
    }

    /// SIGTERM: a clean shutdown.
    void
    stop(std::size_t i)
    {
        signal_and_wait(i, SIGTERM);
    }

    /// SIGSTOP: the server stops answering but its sockets stay open.
    void
    freeze(std::size_t i)
    {
        if (nodes_.at(i).pid > 0)
            ::kill(nodes_[i].pid, SIGSTOP);
    }

    /// SIGCONT after freeze().
    void
    thaw(std::size_t i)
    {
        if (nodes_.at(i).pid > 0)
            ::kill(nodes_[i].pid, SIGCONT);
    }

    void
    stop_all()
    {
        for (std::size_t i = 0; i < nodes_.size(); ++i)
            stop(i);
    }

    bool
    running(std::size_t i) const
    {
        return nodes_.at(i).pid > 0;
    }

    /// The server's log (for failure messages).
    std::string
    log(std::size_t i) const
    {
        std::ifstream in(nodes_.at(i).log);
        return std::string(std::istreambuf_iterator<char>(in), {});
    }

    /** Runs servers started from now on on CPU `cpu` only (all their
        threads: set before exec); -1 (the default) leaves them free. */
    void
    pin_to_cpu(int cpu) noexcept
    {
        cpu_ = cpu;
    }

    /// Index of the server named `name` (`n1`...), or size() if none.
    std::size_t
    index_of(std::string const& name) const
    {
        for (std::size_t i = 0; i < nodes_.size(); ++i)
            if (name == "n" + std::to_string(i + 1))
                return i;
        return nodes_.size();
    }

private:
    void
    spawn(std::size_t i)
    {
        auto& n = nodes_[i];
        std::string const exe = HL7_NATS_SERVER;
        std::string conf = n.config;
        pid_t const parent = ::getpid();
        int const cpu = cpu_;
        pid_t const pid = ::fork();
        if (pid < 0)
            throw std::runtime_error("fork failed");
        if (pid == 0) {
            // Only async-signal-safe calls between fork and exec.
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (::getppid() != parent)
                ::_exit(127);
            if (cpu >= 0) {
                cpu_set_t set;
                CPU_ZERO(&set);
                CPU_SET(cpu, &set);
                ::sched_setaffinity(0, sizeof set, &set);
            }
            int const fd = ::open(n.log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
            if (fd >= 0) {
                ::dup2(fd, 1);
                ::dup2(fd, 2);
            }
            char const* argv[] = {exe.c_str(), "-c", conf.c_str(), nullptr};
            ::execvp(exe.c_str(), const_cast<char* const*>(argv));
            ::_exit(127);
        }
        n.pid = pid;
    }

    void
    signal_and_wait(std::size_t i, int sig)
    {
        auto& n = nodes_.at(i);
        if (n.pid <= 0)
            return;
        ::kill(n.pid, sig);
        int status = 0;
        auto const deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
        for (;;) {
            pid_t const r = ::waitpid(n.pid, &status, WNOHANG);
            if (r == n.pid || (r < 0 && errno != EINTR))
                break;
            if (std::chrono::steady_clock::now() > deadline) {
                ::kill(n.pid, SIGKILL);
                ::waitpid(n.pid, &status, 0);
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        n.pid = -1;
    }

    /** Connects to `url` alone (no reconnect; `connect_ms` to connect, JetStream
        requests wait `wait_ms`), hands the JetStream context and its options to
        `ask` and returns its status, or the connection's error. */
    template<class Ask>
    static natsStatus
    ask_jetstream(std::string const& url, int connect_ms, int64_t wait_ms, Ask ask)
    {
        natsOptions* o = nullptr;
        natsConnection* nc = nullptr;
        natsStatus s = natsOptions_Create(&o);
        if (s == NATS_OK) {
            natsOptions_SetURL(o, url.c_str());
            natsOptions_SetAllowReconnect(o, false);
            natsOptions_SetTimeout(o, connect_ms);
            s = natsConnection_Connect(&nc, o);
        }
        if (s == NATS_OK) {
            jsCtx* js = nullptr;
            jsOptions jo;
            jsOptions_Init(&jo);
            jo.Wait = wait_ms;
            s = natsConnection_JetStream(&js, nc, &jo);
            if (s == NATS_OK)
                s = ask(js, jo);
            jsCtx_Destroy(js);
        }
        natsConnection_Destroy(nc);
        natsOptions_Destroy(o);
        return s;
    }

    /// A meta leader answers before it knows every peer as current: an R3
    /// stream created then fails with "no suitable peers for placement"
    /// (10005). Creates (and deletes) a probe stream with one replica per
    /// server until that works, so tests start on a cluster that is whole.
    void
    wait_placement(std::chrono::seconds timeout)
    {
        auto const deadline = std::chrono::steady_clock::now() + timeout;
        std::string last = "no attempt";
        while (std::chrono::steady_clock::now() < deadline) {
            jsErrCode jerr = static_cast<jsErrCode>(0);
            natsStatus const s = ask_jetstream(url(0), 2000, 5000, [&](jsCtx* js, jsOptions& jo) {
                jsStreamConfig cfg;
                jsStreamConfig_Init(&cfg);
                char const* subjects[] = {"hl7test.ready.probe"};
                cfg.Name = "HL7TEST_READY_PROBE";
                cfg.Subjects = subjects;
                cfg.SubjectsLen = 1;
                cfg.Replicas = static_cast<int64_t>(nodes_.size());
                jsStreamInfo* si = nullptr;
                natsStatus const added = js_AddStream(&si, js, &cfg, &jo, &jerr);
                if (si)
                    jsStreamInfo_Destroy(si);
                if (added == NATS_OK) {
                    jsErrCode derr = static_cast<jsErrCode>(0);
                    js_DeleteStream(js, cfg.Name, &jo, &derr);
                }
                return added;
            });
            if (s == NATS_OK)
                return;
            last = std::string(natsStatus_GetText(s)) + " (JetStream error " + std::to_string(static_cast<int>(jerr)) + ")";
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
        }
        throw std::runtime_error("the NATS cluster cannot place a stream on all servers (" + last + ")");
    }

    /// Connects to server `i` alone and asks JetStream for the account's
    /// info until it answers (the meta leader is known).
    void
    wait_ready(std::size_t i, std::chrono::seconds timeout)
    {
        auto const deadline = std::chrono::steady_clock::now() + timeout;
        std::string last = "no attempt";
        while (std::chrono::steady_clock::now() < deadline) {
            if (nodes_[i].pid > 0) {
                int status = 0;
                if (::waitpid(nodes_[i].pid, &status, WNOHANG) == nodes_[i].pid) {
                    nodes_[i].pid = -1;
                    throw std::runtime_error("nats-server " + std::to_string(i + 1) + " exited:\n" + log(i));
                }
            }
            natsStatus const s = ask_jetstream(url(i), 1000, 1000, [](jsCtx* js, jsOptions&) {
                jsAccountInfo* ai = nullptr;
                jsErrCode jerr = static_cast<jsErrCode>(0);
                natsStatus const r = js_GetAccountInfo(&ai, js, nullptr, &jerr);
                if (ai)
                    jsAccountInfo_Destroy(ai);
                return r;
            });
            if (s == NATS_OK)
                return;
            last = natsStatus_GetText(s);
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        throw std::runtime_error("nats-server " + std::to_string(i + 1) + " not ready (" + last + "):\n" + log(i));
    }

    temp_dir dir_;
    std::vector<node> nodes_;
    int cpu_ = -1;
};

} // namespace hl7_nats_test

#endif
