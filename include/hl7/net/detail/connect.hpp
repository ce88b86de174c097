#ifndef HL7_NET_DETAIL_CONNECT_HPP
#define HL7_NET_DETAIL_CONNECT_HPP

// The connect timeout shared by open_hl7_connection (TCP) and
// open_hl7_unix_connection: a timer that, when it fires first, runs the
// caller's cancel function (close the socket, cancel the resolver).

#include <hl7/detail/asio_config.hpp>
#include <hl7/mllp/error.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/steady_timer.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <system_error>
#include <utility>

namespace hl7::detail {

class connect_deadline
{
public:
    connect_deadline(asio::any_io_executor const& ex, std::chrono::steady_clock::duration timeout,
                     std::function<void()> cancel)
        : timer_(ex), state_(std::make_shared<state>())
    {
        if (timeout <= std::chrono::steady_clock::duration::zero())
            return;
        auto const now = std::chrono::steady_clock::now();
        auto const never = std::chrono::steady_clock::time_point::max();
        timer_.expires_at(timeout > never - now ? never : now + timeout);
        // The handler may run after this object is gone: it holds the state.
        timer_.async_wait([s = state_, cancel = std::move(cancel)](std::error_code ec) {
            if (ec || s->done)
                return;
            s->expired = true;
            cancel();
        });
    }

    connect_deadline(connect_deadline const&) = delete;
    connect_deadline& operator=(connect_deadline const&) = delete;

    ~connect_deadline()
    {
        state_->done = true;
        timer_.cancel();
    }

    bool
    expired() const noexcept
    {
        return state_->expired;
    }

    /// The attempt is over: throws connect_timeout if the timer ended it,
    /// else `ec` (with `what`) if it failed.
    void
    finish(std::error_code ec, std::string const& what)
    {
        state_->done = true;
        timer_.cancel();
        if (state_->expired)
            throw mllp::timeout_error(mllp::make_error_code(mllp::error::connect_timeout));
        if (ec)
            throw std::system_error(ec, what);
    }

private:
    struct state
    {
        bool done = false;
        bool expired = false;
    };

    asio::steady_timer timer_;
    std::shared_ptr<state> state_;
};

} // namespace hl7::detail

#endif
