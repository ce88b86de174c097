#ifndef HL7_STORE_DETAIL_COMPLETION_HPP
#define HL7_STORE_DETAIL_COMPLETION_HPP

// The bridge from a backend's own thread back to the caller: a move-only,
// type-erased completion handler (Asio 1.22 has no any_completion_handler)
// that keeps the handler's executor busy until it runs and always runs it
// there, through asio::post. Completing from any thread is safe; the caller's
// I/O objects are only touched by the handler, on the caller's executor.
//
// A failure crosses threads as a code and a text; the exception is made on
// the caller's thread. (Sharing one exception_ptr between threads is safe in
// libstdc++, but its reference count is invisible to ThreadSanitizer.)

#include <hl7/detail/asio_config.hpp>
#include <hl7/store/error.hpp>

#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/awaitable.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>

#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>

namespace hl7::store::detail {

/// Why an operation failed, as it crosses from the backend's thread.
struct failure
{
    std::error_code ec{};
    std::string text{};

    explicit
    operator bool() const noexcept
    {
        return static_cast<bool>(ec);
    }

    /// The exception the awaiting coroutine gets: `store_error`.
    std::exception_ptr
    to_exception() const
    {
        if (!ec)
            return nullptr;
        return text.empty() ? std::make_exception_ptr(store_error(ec)) : std::make_exception_ptr(store_error(ec, text));
    }
};

inline failure
make_failure(error e, std::string text)
{
    return {make_error_code(e), std::move(text)};
}

/// A handler for `void(std::exception_ptr, T)`, erased.
template<class T>
class completion
{
public:
    completion() = default;

    template<class Handler, class = std::enable_if_t<!std::is_same_v<std::decay_t<Handler>, completion>>>
    explicit completion(Handler&& h) : impl_(std::make_unique<impl<std::decay_t<Handler>>>(std::forward<Handler>(h)))
    {
    }

    explicit
    operator bool() const noexcept
    {
        return impl_ != nullptr;
    }

    /// Posts the handler with the result to its executor. Once only; any thread.
    void
    complete(failure f, T value)
    {
        auto p = std::move(impl_);
        p->post(std::move(f), std::move(value));
    }

    void
    succeed(T value)
    {
        complete({}, std::move(value));
    }

    void
    fail(failure f)
    {
        complete(std::move(f), T{});
    }

    /** Installs `f` (callable as `f()`) as the handler's cancellation
        handler when its slot is connected. Call on the handler's executor
        (in the initiation); `f` runs there too, when the awaiting
        coroutine is cancelled, and must complete the operation at most once. */
    template<class F>
    void
    on_cancel(F f)
    {
        impl_->on_cancel(std::function<void()>(std::move(f)));
    }

private:
    struct base
    {
        virtual ~base() = default;
        virtual void post(failure, T) = 0;
        virtual void on_cancel(std::function<void()>) = 0;
    };

    template<class Handler>
    struct impl final : base
    {
        explicit impl(Handler h)
            : work(asio::get_associated_executor(h)), handler(std::move(h))
        {
        }

        void
        post(failure f, T value) override
        {
            auto ex = work.get_executor();
            asio::post(ex, [h = std::move(handler), f = std::move(f), v = std::move(value),
                            w = std::move(work)]() mutable {
                // The slot belongs to the awaiting coroutine: leave it empty
                // before resuming it.
                auto slot = asio::get_associated_cancellation_slot(h);
                if (slot.is_connected())
                    slot.clear();
                std::move(h)(f.to_exception(), std::move(v));
                (void)w;
            });
        }

        void
        on_cancel(std::function<void()> f) override
        {
            auto slot = asio::get_associated_cancellation_slot(handler);
            if (slot.is_connected())
                slot.template emplace<canceller>(std::move(f));
        }

        struct canceller
        {
            std::function<void()> f;

            void
            operator()(asio::cancellation_type type)
            {
                if (type != asio::cancellation_type::none && f) {
                    auto g = std::move(f);
                    f = nullptr;
                    g();
                }
            }
        };

        asio::executor_work_guard<asio::associated_executor_t<Handler>> work;
        Handler handler;
    };

    std::unique_ptr<base> impl_;
};

/** Awaits an operation handed to another thread: `submit(completion<T>)`
    is called at once (on the awaiting coroutine's executor) and must arrange
    for the completion to be completed exactly once, from anywhere. */
template<class T, class Submit>
asio::awaitable<T>
await_completion(Submit submit)
{
    co_return co_await asio::async_initiate<decltype(asio::use_awaitable), void(std::exception_ptr, T)>(
        [&submit](auto handler) { submit(completion<T>(std::move(handler))); }, asio::use_awaitable);
}

} // namespace hl7::store::detail

#endif
