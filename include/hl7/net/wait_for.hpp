#ifndef HL7_WAIT_FOR_HPP
#define HL7_WAIT_FOR_HPP

// hl7::wait_for: asyncio.wait_for for Asio 1.22 awaitables.

#include <hl7/detail/asio_config.hpp>
#include <hl7/mllp/error.hpp>

#include <asio/awaitable.hpp>
#include <asio/error.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <chrono>
#include <exception>
#include <optional>
#include <system_error>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>

namespace hl7 {
namespace detail {

// The outcome of an awaitable, captured so that the raced branch never
// throws: Asio 1.22's operator|| is wait_for_one_success, where a branch that
// throws does not end the race (a closed peer would look like a timeout).
template<class T>
struct net_outcome
{
    std::optional<T> value;
    std::exception_ptr error;
};

template<>
struct net_outcome<void>
{
    std::exception_ptr error;
};

template<class T>
asio::awaitable<net_outcome<T>>
net_capture(asio::awaitable<T> op)
{
    net_outcome<T> out;
    try {
        if constexpr (std::is_void_v<T>)
            co_await std::move(op);
        else
            out.value.emplace(co_await std::move(op));
    } catch (...) {
        out.error = std::current_exception();
    }
    co_return out;
}

inline std::chrono::steady_clock::time_point
net_deadline(std::chrono::steady_clock::duration timeout) noexcept
{
    auto const now = std::chrono::steady_clock::now();
    if (timeout > std::chrono::steady_clock::time_point::max() - now)
        return std::chrono::steady_clock::time_point::max();
    return now + timeout;
}

// The coroutines behind the two wait_for overloads. Public entry points are
// plain functions that move their arguments in (issue 7: g++ 12 destroys a
// braced-initializer argument of a coroutine twice).

template<class T>
asio::awaitable<T>
wait_for_impl(asio::awaitable<T> op, std::chrono::steady_clock::duration timeout)
{
    using namespace asio::experimental::awaitable_operators;
    asio::steady_timer timer(co_await asio::this_coro::executor, detail::net_deadline(timeout));
    auto result = co_await (detail::net_capture(std::move(op)) ||
                            timer.async_wait(asio::experimental::as_tuple(asio::use_awaitable)));
    if (result.index() == 1) {
        auto [ec] = std::get<1>(result);
        if (ec) // the timer was cancelled: we were
            throw std::system_error(asio::error::operation_aborted);
        throw mllp::timeout_error(mllp::make_error_code(mllp::error::timeout));
    }
    auto& outcome = std::get<0>(result);
    if (outcome.error)
        std::rethrow_exception(outcome.error);
    if constexpr (!std::is_void_v<T>)
        co_return std::move(*outcome.value);
}

template<class... Ts>
asio::awaitable<std::tuple<std::error_code, Ts...>>
wait_for_codes_impl(asio::awaitable<std::tuple<std::error_code, Ts...>> op, std::chrono::steady_clock::duration timeout)
{
    using namespace asio::experimental::awaitable_operators;
    asio::steady_timer timer(co_await asio::this_coro::executor, detail::net_deadline(timeout));
    auto result = co_await (detail::net_capture(std::move(op)) ||
                            timer.async_wait(asio::experimental::as_tuple(asio::use_awaitable)));
    if (result.index() == 1) {
        auto [ec] = std::get<1>(result);
        co_return std::tuple<std::error_code, Ts...>{
            ec ? std::error_code(asio::error::operation_aborted) : mllp::make_error_code(mllp::error::timeout),
            Ts{}...};
    }
    auto& outcome = std::get<0>(result);
    if (outcome.error)
        std::rethrow_exception(outcome.error);
    co_return std::move(*outcome.value);
}

} // namespace detail

/** Awaits `op`, but at most `timeout` (asyncio's `wait_for`).

    If `op` finishes first, its value is returned or its exception rethrown
    at once, whatever the time left: a peer that closes the connection is
    reported as the `hl7::mllp::incomplete_read_error` it is, not as a
    timeout. If the time runs out first, `op` is cancelled (terminal
    cancellation through its cancellation slot; the MLLP operations and the
    facade support it) and awaited until it has actually stopped, then
    `hl7::mllp::timeout_error` (`hl7::mllp::error::timeout`) is thrown; the
    stream is left consistent and can be read again.

    <!-- doc-test: coroutine body -->
    @code
    hl7::message ack = co_await hl7::wait_for(reader.readmessage(), 10s);
    @endcode

    A `timeout` of zero or less times out unless `op` completes at once. As
    with asyncio, if `op` completes in the same instant the timer fires, its
    result may be discarded.

    @par Cancellation
    Cancelling the awaiting coroutine cancels `op` and throws its exception
    (usually `operation_aborted`), not `timeout_error`.
*/
template<class T>
asio::awaitable<T>
wait_for(asio::awaitable<T> op, std::chrono::steady_clock::duration timeout)
{
    return detail::wait_for_impl(std::move(op), timeout);
}

/** As above for operations that report errors as codes
    (`as_tuple(use_awaitable)`): a timeout is returned as
    `hl7::mllp::error::timeout` with value-initialised values, not thrown.

    <!-- doc-test: coroutine body -->
    @code
    // stream: an hl7::mllp::stream
    auto [ec, block] =
        co_await hl7::wait_for(stream.async_read_block(asio::experimental::as_tuple(asio::use_awaitable)), 5s);
    @endcode
*/
template<class... Ts>
asio::awaitable<std::tuple<std::error_code, Ts...>>
wait_for(asio::awaitable<std::tuple<std::error_code, Ts...>> op, std::chrono::steady_clock::duration timeout)
{
    return detail::wait_for_codes_impl(std::move(op), timeout);
}

} // namespace hl7

#endif
