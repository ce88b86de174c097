#ifndef HL7_DETAIL_NET_WAITERS_HPP
#define HL7_DETAIL_NET_WAITERS_HPP

// A list of waiting operations that someone else wakes: drain() waiting for
// the write queue, wait_closed() waiting for a connection or a server.
// Thread-safe (a server is closed from any thread), cancellable per operation,
// never completes inline, and holds work so io_context::run() does not return
// while a waiter is pending. Asio 1.22 has no any_completion_handler, so the
// handlers are type-erased by hand.

#include <hl7/detail/asio_config.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/cancellation_type.hpp>
#include <asio/error.hpp>
#include <asio/execution/outstanding_work.hpp>
#include <asio/post.hpp>
#include <asio/prefer.hpp>

#include <atomic>
#include <memory>
#include <mutex>
#include <system_error>
#include <utility>
#include <vector>

namespace hl7::detail {

class net_waiters
{
public:
    explicit net_waiters(asio::any_io_executor ex) : ex_(std::move(ex)) {}

    net_waiters(net_waiters const&) = delete;
    net_waiters& operator=(net_waiters const&) = delete;

    ~net_waiters()
    {
        // Pending waiters hold work on their executors; abandoning them
        // would keep io_context::run() from returning.
        finish_all(asio::error::operation_aborted, false);
    }

    /** Waits until `notify_all()` or `set()` (then `ec` is clear) or until
        cancelled (`operation_aborted`). After `set()` every wait completes at
        once (posted). Signature: `void(std::error_code)`. */
    template<class Token>
    auto
    async_wait(Token&& token)
    {
        return asio::async_initiate<Token, void(std::error_code)>(
            [this](auto handler) { this->start(std::move(handler)); }, token);
    }

    /// Completes every current waiter with success.
    void
    notify_all()
    {
        finish_all({}, false);
    }

    /// Completes every current and future waiter with success (a latch).
    void
    set()
    {
        finish_all({}, true);
    }

    bool
    is_set() const
    {
        std::lock_guard lock(mu_);
        return set_;
    }

private:
    struct waiter_base
    {
        virtual ~waiter_base() = default;
        virtual void finish(std::error_code ec) = 0;
        std::atomic<bool> done{false};
    };

    template<class Handler>
    struct waiter final : waiter_base, std::enable_shared_from_this<waiter<Handler>>
    {
        using executor_type = asio::associated_executor_t<Handler, asio::any_io_executor>;

        waiter(Handler h, asio::any_io_executor const& fallback)
            : handler(std::move(h)),
              executor(asio::get_associated_executor(handler, fallback)),
              work(asio::prefer(asio::any_io_executor(executor), asio::execution::outstanding_work.tracked))
        {
        }

        void
        finish(std::error_code ec) override
        {
            if (done.exchange(true))
                return;
            // Run the handler on its own executor, never inline. The
            // cancellation slot is cleared there, where it may be touched.
            asio::post(executor, [self = this->shared_from_this(), ec]() mutable {
                asio::get_associated_cancellation_slot(self->handler).clear();
                Handler h(std::move(self->handler));
                self->work = asio::any_io_executor();
                std::move(h)(ec);
            });
        }

        Handler handler;
        executor_type executor;
        asio::any_io_executor work;
    };

    template<class Handler>
    void
    start(Handler handler)
    {
        auto w = std::make_shared<waiter<Handler>>(std::move(handler), ex_);
        auto slot = asio::get_associated_cancellation_slot(w->handler);
        if (slot.is_connected()) {
            slot.assign([weak = std::weak_ptr<waiter<Handler>>(w)](asio::cancellation_type type) {
                if (type != asio::cancellation_type::none)
                    if (auto s = weak.lock())
                        s->finish(asio::error::operation_aborted);
            });
        }
        std::unique_lock lock(mu_);
        if (set_) {
            lock.unlock();
            w->finish({});
            return;
        }
        // Drop waiters that were cancelled since the last wake-up.
        std::erase_if(waiters_, [](auto const& p) { return p->done.load(); });
        waiters_.push_back(std::move(w));
    }

    void
    finish_all(std::error_code ec, bool latch)
    {
        std::vector<std::shared_ptr<waiter_base>> woken;
        {
            std::lock_guard lock(mu_);
            if (latch)
                set_ = true;
            woken.swap(waiters_);
        }
        for (auto& w : woken)
            w->finish(ec);
    }

    asio::any_io_executor ex_;
    mutable std::mutex mu_;
    std::vector<std::shared_ptr<waiter_base>> waiters_;
    bool set_ = false;
};

} // namespace hl7::detail

#endif
