#ifndef HL7_STORE_DETAIL_NOTIFIER_HPP
#define HL7_STORE_DETAIL_NOTIFIER_HPP

// Wakes consumers waiting for messages: the backend's thread calls
// notify_all() after a commit; a waiting coroutine resumes on its own
// executor (the wake-up is posted there, never run on the backend's thread).

#include <hl7/detail/asio_config.hpp>
#include <hl7/store/detail/completion.hpp>

#include <asio/awaitable.hpp>
#include <asio/error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>

#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <system_error>
#include <variant>
#include <vector>

namespace hl7::store::detail {

class notifier
{
public:
    /// Changes with every notify_all(); read it before looking for work.
    std::uint64_t
    generation() const
    {
        std::lock_guard lock(mutex_);
        return generation_;
    }

    bool
    closed() const
    {
        std::lock_guard lock(mutex_);
        return closed_;
    }

    /** Returns after a notify_all() that came after `seen` was read, after
        close(), or at `deadline`, whichever is first. Throws
        `std::system_error(operation_aborted)` when the awaiting coroutine is
        cancelled. Run on the caller's executor; the timer never leaves it. */
    asio::awaitable<void>
    wait(std::uint64_t seen, std::chrono::steady_clock::time_point deadline)
    {
        auto ex = co_await asio::this_coro::executor;
        asio::steady_timer timer(ex, deadline);
        auto w = std::make_shared<waiter>();
        co_await await_completion<std::monostate>([&](completion<std::monostate> c) {
            // Installed before anything can complete it (see completion::on_cancel).
            c.on_cancel([w] { w->fire({asio::error::operation_aborted, {}}); });
            {
                std::lock_guard lock(w->mutex);
                w->done = std::move(c);
            }
            timer.async_wait([w](std::error_code) { w->fire({}); });
            add(w, seen);
        });
        timer.cancel();
    }

    /// Wakes every waiter. Any thread.
    void
    notify_all()
    {
        std::vector<std::shared_ptr<waiter>> woken;
        {
            std::lock_guard lock(mutex_);
            ++generation_;
            woken.swap(waiters_);
        }
        for (auto& w : woken)
            w->fire({});
    }

    /// Wakes every waiter now and every later one at once. Any thread.
    void
    close()
    {
        {
            std::lock_guard lock(mutex_);
            closed_ = true;
        }
        notify_all();
    }

private:
    struct waiter
    {
        std::mutex mutex;
        completion<std::monostate> done;

        void
        fire(failure f)
        {
            std::lock_guard lock(mutex);
            if (done)
                done.complete(std::move(f), {});
        }

        bool
        finished()
        {
            std::lock_guard lock(mutex);
            return !done;
        }
    };

    void
    add(std::shared_ptr<waiter> const& w, std::uint64_t seen)
    {
        {
            std::lock_guard lock(mutex_);
            if (!closed_ && generation_ == seen) {
                // Waiters whose timer fired stay listed until the next
                // notification; drop them here so polling does not grow the list.
                std::erase_if(waiters_, [](auto const& x) { return x->finished(); });
                waiters_.push_back(w);
                return;
            }
        }
        w->fire({});
    }

    mutable std::mutex mutex_;
    std::uint64_t generation_ = 0;
    bool closed_ = false;
    std::vector<std::shared_ptr<waiter>> waiters_;
};

} // namespace hl7::store::detail

#endif
