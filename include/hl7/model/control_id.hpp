#ifndef HL7_CONTROL_ID_HPP
#define HL7_CONTROL_ID_HPP

/** @file
    Message control ids (MSH-10) for new messages and ACKs.
*/

#include <atomic>
#include <chrono>
#include <cstdint>
#include <random>
#include <string>

namespace hl7 {

namespace detail {

inline constexpr char control_id_digits[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// Writes the low `width` base-36 digits of `value` into `out[0..width)`.
inline void
control_id_put(char* out, std::uint64_t value, int width) noexcept
{
    for (int i = width - 1; i >= 0; --i) {
        out[i] = control_id_digits[value % 36];
        value /= 36;
    }
}

/// Low bits of the logical clock that count ids within one millisecond.
inline constexpr int control_id_sequence_bits = 20;

struct control_id_state
{
    std::uint64_t salt;
    /// Last value handed out: (milliseconds since 1970 << 20) + sequence.
    std::atomic<std::uint64_t> clock{0};

    control_id_state()
    {
        std::random_device rd;
        salt = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
    }

    static control_id_state&
    instance()
    {
        static control_id_state state; // initialised once, thread-safe
        return state;
    }

    /** A value greater than every value returned before (a hybrid logical
        clock): the wall clock in the high bits, unless that is not ahead of
        the last value, in which case the last value plus one. */
    std::uint64_t
    next() noexcept
    {
        using namespace std::chrono;
        auto const ms = duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
        std::uint64_t const wall = static_cast<std::uint64_t>(ms < 0 ? 0 : ms) << control_id_sequence_bits;
        std::uint64_t prev = clock.load(std::memory_order_relaxed);
        std::uint64_t next_value;
        do {
            next_value = wall > prev ? wall : prev + 1;
        } while (!clock.compare_exchange_weak(prev, next_value, std::memory_order_relaxed));
        return next_value;
    }
};

} // namespace detail

/** A new 20-character message control id (MSH-10 is ST(20) in HL7 v2.5).

    Layout, upper-case base 36 (`[0-9A-Z]`), fixed width:

    | chars | content |
    |-------|---------|
    | 1-13  | a per-process logical clock: `(milliseconds since 1970 UTC << 20) + sequence` |
    | 14-20 | a random salt drawn once per process |

    The logical clock is one atomic 64-bit value that strictly increases on
    every call (a compare-and-swap loop): it follows the system clock, and
    when the clock has not moved on (more than one id per millisecond, or
    the clock was set back) it is the previous value plus one. So ids are
    unique within a process from any number of threads, without
    exception, and one process's ids sort in the order they were made.
    Across processes the 7-character salt (36^7 values) makes a collision
    very unlikely, though not impossible (python-hl7 uses the time plus 4
    random characters). A forked child shares its parent's salt.

    @par Thread safety
    Safe to call concurrently; lock-free apart from the first call.
*/
inline std::string
generate_message_control_id()
{
    auto& state = detail::control_id_state::instance();
    std::string id(20, '0');
    detail::control_id_put(id.data(), state.next(), 13);
    detail::control_id_put(id.data() + 13, state.salt, 7);
    return id;
}

} // namespace hl7

#endif
