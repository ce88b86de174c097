#ifndef HL7_TESTS_MLLP_TEST_STREAM_HPP
#define HL7_TESTS_MLLP_TEST_STREAM_HPP

// An in-memory AsyncStream for the MLLP and connection tests (after
// Boost.MySQL's test_stream):
//   - scripted input: add_input(chunk) (one read returns at most one chunk),
//     add_break(offset) for a short read at any byte offset;
//   - then end of file, or fail_with(ec); or, with hold_open(), reads wait
//     for more input until finish() or close();
//   - injected errors: fail_read(i, ec) / fail_write(i, ec) make the i-th
//     read or write (counting from 0) fail;
//   - short writes: max_write(n);
//   - captured output: output();
//   - close(): pending reads end with operation_aborted, later operations
//     fail with bad_descriptor, as with a socket.
// Completions are posted, like a real socket's. A pending read keeps the
// io_context running and honours cancellation (hl7::wait_for).

#include <asio/any_io_executor.hpp>
#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/buffer.hpp>
#include <asio/cancellation_type.hpp>
#include <asio/error.hpp>
#include <asio/execution/outstanding_work.hpp>
#include <asio/post.hpp>
#include <asio/prefer.hpp>

#include <algorithm>
#include <cstddef>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace hl7_test {

class mllp_test_stream
{
public:
    using executor_type = asio::any_io_executor;

    explicit mllp_test_stream(executor_type ex) : state_(std::make_shared<state>(std::move(ex))) {}

    mllp_test_stream(mllp_test_stream&&) noexcept = default;
    mllp_test_stream& operator=(mllp_test_stream&&) noexcept = default;

    executor_type
    get_executor() const noexcept
    {
        return state_->ex;
    }

    /// Another handle to the same stream: keep one to script and inspect
    /// the stream after moving it into a connection.
    mllp_test_stream
    handle() const noexcept
    {
        return mllp_test_stream(state_);
    }

    //----------------------------------------------------------------------
    // Script

    /// Queues `chunk`; one read returns at most one chunk. Wakes a waiting read.
    void
    add_input(std::string_view chunk)
    {
        if (chunk.empty())
            return;
        state_->input.append(chunk);
        state_->breaks.insert(state_->input.size());
        state_->wake();
    }

    /// A read never returns bytes across absolute input offset `offset`.
    void
    add_break(std::size_t offset)
    {
        state_->breaks.insert(offset);
    }

    /// Fails every read after the input with `ec` instead of end of file.
    void
    fail_with(std::error_code ec)
    {
        state_->final_error = ec;
    }

    /// Reads with no input wait (instead of ending) until more input,
    /// finish() or close().
    void
    hold_open(bool on = true)
    {
        state_->hold = on;
    }

    /// The input is complete: a waiting read gets end of file (or fail_with's error).
    void
    finish()
    {
        state_->hold = false;
        state_->wake();
    }

    /// The read with this index (0 = the first) fails with `ec`, taking nothing.
    void
    fail_read(std::size_t index, std::error_code ec)
    {
        state_->read_failures[index] = ec;
    }

    /// The write with this index (0 = the first) fails with `ec`, taking nothing.
    void
    fail_write(std::size_t index, std::error_code ec)
    {
        state_->write_failures[index] = ec;
    }

    /// Every write takes at most `n` bytes.
    void
    max_write(std::size_t n)
    {
        state_->write_limit = n;
    }

    //----------------------------------------------------------------------
    // Observers

    std::string const&
    output() const noexcept
    {
        return state_->output;
    }

    std::size_t
    reads() const noexcept
    {
        return state_->reads;
    }

    std::size_t
    writes() const noexcept
    {
        return state_->writes;
    }

    bool
    is_open() const noexcept
    {
        return state_->open;
    }

    /// True while a read waits for input.
    bool
    read_pending() const noexcept
    {
        return state_->waiting != nullptr;
    }

    //----------------------------------------------------------------------
    // The stream

    void
    close()
    {
        state_->open = false;
        state_->complete_pending(asio::error::operation_aborted, 0);
    }

    template<class MutableBuffers>
    std::size_t
    read_some(MutableBuffers const& buffers, std::error_code& ec)
    {
        auto& s = *state_;
        std::size_t const index = s.reads++;
        ec.clear();
        if (!s.open) {
            ec = asio::error::bad_descriptor;
            return 0;
        }
        if (auto it = s.read_failures.find(index); it != s.read_failures.end()) {
            ec = it->second;
            return 0;
        }
        return s.take(buffers, ec);
    }

    template<class ConstBuffers>
    std::size_t
    write_some(ConstBuffers const& buffers, std::error_code& ec)
    {
        auto& s = *state_;
        std::size_t const index = s.writes++;
        ec.clear();
        if (!s.open) {
            ec = asio::error::bad_descriptor;
            return 0;
        }
        if (auto it = s.write_failures.find(index); it != s.write_failures.end()) {
            ec = it->second;
            return 0;
        }
        std::size_t n = 0;
        for (auto it = asio::buffer_sequence_begin(buffers); it != asio::buffer_sequence_end(buffers); ++it) {
            asio::const_buffer b(*it);
            std::size_t const k = std::min(b.size(), s.write_limit - n);
            s.output.append(static_cast<char const*>(b.data()), k);
            n += k;
            if (n == s.write_limit)
                break;
        }
        return n;
    }

    template<class MutableBuffers, class Token>
    auto
    async_read_some(MutableBuffers const& buffers, Token&& token)
    {
        return asio::async_initiate<Token, void(std::error_code, std::size_t)>(
            [st = state_](auto handler, MutableBuffers const& b) {
                auto& s = *st;
                bool const wait = s.open && s.hold && s.pos == s.input.size() &&
                                  s.read_failures.find(s.reads) == s.read_failures.end();
                if (!wait) {
                    std::error_code ec;
                    std::size_t const n = mllp_test_stream(st).read_some(b, ec);
                    auto ex = asio::get_associated_executor(handler, s.ex);
                    asio::post(ex, [h = std::move(handler), ec, n]() mutable { h(ec, n); });
                    return;
                }
                s.wait(std::move(handler), b);
            },
            token, buffers);
    }

    template<class ConstBuffers, class Token>
    auto
    async_write_some(ConstBuffers const& buffers, Token&& token)
    {
        return asio::async_initiate<Token, void(std::error_code, std::size_t)>(
            [st = state_](auto handler, ConstBuffers const& b) {
                std::error_code ec;
                std::size_t const n = mllp_test_stream(st).write_some(b, ec);
                auto ex = asio::get_associated_executor(handler, st->ex);
                asio::post(ex, [h = std::move(handler), ec, n]() mutable { h(ec, n); });
            },
            token, buffers);
    }

private:
    struct pending_base
    {
        virtual ~pending_base() = default;
        virtual void complete(std::error_code ec, std::size_t n) = 0;
        std::vector<asio::mutable_buffer> buffers;
    };

    template<class Handler>
    struct pending final : pending_base
    {
        pending(Handler h, asio::any_io_executor const& fallback)
            : handler(std::move(h)),
              ex(asio::get_associated_executor(handler, fallback)),
              work(asio::prefer(asio::any_io_executor(ex), asio::execution::outstanding_work.tracked))
        {
        }

        void
        complete(std::error_code ec, std::size_t n) override
        {
            // The slot is cleared where it may be touched: not inside its own
            // handler, which may be what called this.
            asio::post(ex, [h = std::move(handler), ec, n, w = std::move(work)]() mutable {
                asio::get_associated_cancellation_slot(h).clear();
                h(ec, n);
            });
        }

        Handler handler;
        asio::associated_executor_t<Handler, asio::any_io_executor> ex;
        asio::any_io_executor work;
    };

    struct state
    {
        explicit state(executor_type e) : ex(std::move(e)) {}

        template<class MutableBuffers>
        std::size_t
        take(MutableBuffers const& buffers, std::error_code& ec)
        {
            if (pos == input.size()) {
                ec = final_error;
                return 0;
            }
            auto next = breaks.upper_bound(pos);
            std::size_t const end = next == breaks.end() ? input.size() : std::min(*next, input.size());
            std::size_t const n = asio::buffer_copy(buffers, asio::buffer(input.data() + pos, end - pos));
            pos += n;
            return n;
        }

        template<class Handler, class MutableBuffers>
        void
        wait(Handler handler, MutableBuffers const& b)
        {
            auto p = std::make_unique<pending<Handler>>(std::move(handler), ex);
            for (auto it = asio::buffer_sequence_begin(b); it != asio::buffer_sequence_end(b); ++it)
                p->buffers.push_back(*it);
            auto slot = asio::get_associated_cancellation_slot(p->handler);
            if (slot.is_connected())
                slot.assign([this](asio::cancellation_type type) {
                    if (type != asio::cancellation_type::none)
                        complete_pending(asio::error::operation_aborted, 0);
                });
            waiting = std::move(p);
        }

        // More input, the end of it, or a close: serve the waiting read.
        void
        wake()
        {
            if (!waiting || (hold && pos == input.size()))
                return;
            std::error_code ec;
            ++reads;
            std::size_t const n = take(waiting->buffers, ec);
            complete_pending(ec, n);
        }

        void
        complete_pending(std::error_code ec, std::size_t n)
        {
            if (auto p = std::move(waiting))
                p->complete(ec, n);
        }

        executor_type ex;
        std::string input;
        std::size_t pos = 0;
        std::set<std::size_t> breaks;
        std::error_code final_error = asio::error::eof;
        std::map<std::size_t, std::error_code> read_failures;
        std::map<std::size_t, std::error_code> write_failures;
        std::size_t write_limit = static_cast<std::size_t>(-1);
        std::string output;
        std::size_t reads = 0;
        std::size_t writes = 0;
        bool hold = false;
        bool open = true;
        std::unique_ptr<pending_base> waiting;
    };

    explicit mllp_test_stream(std::shared_ptr<state> s) noexcept : state_(std::move(s)) {}

    std::shared_ptr<state> state_;
};

} // namespace hl7_test

#endif
