#ifndef HL7_TESTS_MLLP_TEST_STREAM_HPP
#define HL7_TESTS_MLLP_TEST_STREAM_HPP

// An in-memory AsyncStream for the MLLP tests (after Boost.MySQL's
// test_stream): input is handed out in the chunks it was added in (each
// chunk boundary is a short read), then end of file; output is collected.
// Completions are posted, like a real socket's.

#include <asio/any_io_executor.hpp>
#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/buffer.hpp>
#include <asio/error.hpp>
#include <asio/post.hpp>

#include <cstddef>
#include <deque>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

namespace hl7_test {

class mllp_test_stream
{
public:
    using executor_type = asio::any_io_executor;

    explicit mllp_test_stream(executor_type ex) : ex_(std::move(ex)) {}

    executor_type
    get_executor() const noexcept
    {
        return ex_;
    }

    /// Queues `chunk`; one read returns at most one chunk.
    void
    add_input(std::string_view chunk)
    {
        if (!chunk.empty())
            input_.emplace_back(chunk);
    }

    /// Fails every read after the input with `ec` instead of end of file.
    void
    fail_with(std::error_code ec)
    {
        final_ = ec;
    }

    std::string const&
    output() const noexcept
    {
        return output_;
    }

    std::size_t
    reads() const noexcept
    {
        return reads_;
    }

    std::size_t
    writes() const noexcept
    {
        return writes_;
    }

    template<class MutableBuffers>
    std::size_t
    read_some(MutableBuffers const& buffers, std::error_code& ec)
    {
        ++reads_;
        ec.clear();
        if (input_.empty()) {
            ec = final_;
            return 0;
        }
        std::string& front = input_.front();
        std::size_t const n = asio::buffer_copy(buffers, asio::buffer(front));
        front.erase(0, n);
        if (front.empty())
            input_.pop_front();
        return n;
    }

    template<class ConstBuffers>
    std::size_t
    write_some(ConstBuffers const& buffers, std::error_code& ec)
    {
        ++writes_;
        ec.clear();
        std::size_t n = 0;
        for (auto it = asio::buffer_sequence_begin(buffers); it != asio::buffer_sequence_end(buffers); ++it) {
            asio::const_buffer b(*it);
            output_.append(static_cast<char const*>(b.data()), b.size());
            n += b.size();
        }
        return n;
    }

    template<class MutableBuffers, class Token>
    auto
    async_read_some(MutableBuffers const& buffers, Token&& token)
    {
        return asio::async_initiate<Token, void(std::error_code, std::size_t)>(
            [this](auto handler, MutableBuffers const& b) {
                std::error_code ec;
                std::size_t const n = read_some(b, ec);
                auto ex = asio::get_associated_executor(handler, ex_);
                asio::post(ex, [h = std::move(handler), ec, n]() mutable { h(ec, n); });
            },
            token, buffers);
    }

    template<class ConstBuffers, class Token>
    auto
    async_write_some(ConstBuffers const& buffers, Token&& token)
    {
        return asio::async_initiate<Token, void(std::error_code, std::size_t)>(
            [this](auto handler, ConstBuffers const& b) {
                std::error_code ec;
                std::size_t const n = write_some(b, ec);
                auto ex = asio::get_associated_executor(handler, ex_);
                asio::post(ex, [h = std::move(handler), ec, n]() mutable { h(ec, n); });
            },
            token, buffers);
    }

private:
    executor_type ex_;
    std::deque<std::string> input_;
    std::string output_;
    std::error_code final_ = asio::error::eof;
    std::size_t reads_ = 0;
    std::size_t writes_ = 0;
};

} // namespace hl7_test

#endif
