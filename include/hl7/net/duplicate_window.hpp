#ifndef HL7_NET_DUPLICATE_WINDOW_HPP
#define HL7_NET_DUPLICATE_WINDOW_HPP

/** @file
    hl7::duplicate_window: which messages a receiver without a durable
    store has already processed, by sender and control id.

    Senders resend a message whose ACK they did not get (at-least-once
    delivery), keeping its MSH-10. A receiver that remembers the
    (MSH-3, MSH-4, MSH-10) of what it processed successfully can answer
    such a resend positively without processing it again. The window is
    bounded in entries and in age; an entry that falls out of it is
    forgotten, so a resend later than that is processed again. No Asio:
    usable by any receiver (hl7::router takes one as an option).

    The durable store (hl7/store) has its own, persistent duplicate
    detection; this one lives in memory and is lost on restart.
*/

#include <hl7/model/message.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace hl7 {

/** The bounds of a duplicate_window. Every member has an initializer. */
struct duplicate_window_options
{
    /** Most messages remembered; the oldest is forgotten first. Default
        10,000 (about 1 MiB with typical ids): hours of a busy feed. */
    std::size_t max_entries = 10'000;

    /** How long a message is remembered. Default 1 hour: senders resend
        within seconds to minutes after a lost ACK. */
    std::chrono::steady_clock::duration max_age = std::chrono::hours(1);
};

/** A bounded window of (MSH-3, MSH-4, MSH-10) seen recently.

    Only messages with a control id are tracked, and only ids of sane size
    (MSH-3 and MSH-4 up to 512 bytes each, MSH-10 up to 256): anything
    larger is never reported as a duplicate, so memory stays bounded by
    the entry limit.

    @par Thread safety
    All members may be called concurrently (one mutex): one window is
    meant to be shared by every connection of a receiver, since a sender
    that lost an ACK usually resends on a new connection.
*/
class duplicate_window
{
public:
    using clock_type = std::chrono::steady_clock;
    /// The clock the window reads (tests pass a fake one).
    using now_function = std::function<clock_type::time_point()>;

    explicit duplicate_window(duplicate_window_options options = {}, now_function now = {})
        : options_(options), now_(now ? std::move(now) : now_function([] { return clock_type::now(); }))
    {
    }

    duplicate_window(duplicate_window const&) = delete;
    duplicate_window& operator=(duplicate_window const&) = delete;

    /** True if a message from this sender with this control id was
        remembered and has not expired; counts it as a duplicate. */
    bool
    contains(std::string_view sending_application, std::string_view sending_facility, std::string_view control_id)
    {
        std::string key;
        if (!make_key(sending_application, sending_facility, control_id, key))
            return false;
        std::lock_guard lock(mu_);
        expire(now_());
        if (entries_.find(key) == entries_.end())
            return false;
        ++duplicates_;
        return true;
    }

    /// contains() for `m`'s MSH-3, MSH-4 and MSH-10.
    bool
    contains(message const& m)
    {
        return contains(m.sending_application().raw, m.sending_facility().raw, m.control_id());
    }

    /** Remembers a message (processed successfully). Remembering one that
        is already there keeps its first time: the window counts from the
        first sighting. */
    void
    remember(std::string_view sending_application, std::string_view sending_facility, std::string_view control_id)
    {
        std::string key;
        if (!make_key(sending_application, sending_facility, control_id, key))
            return;
        std::lock_guard lock(mu_);
        auto const now = now_();
        expire(now);
        if (!entries_.emplace(key, now).second)
            return;
        order_.push_back(std::move(key));
        while (entries_.size() > options_.max_entries) {
            entries_.erase(order_.front());
            order_.pop_front();
        }
    }

    /// remember() for `m`'s MSH-3, MSH-4 and MSH-10.
    void
    remember(message const& m)
    {
        remember(m.sending_application().raw, m.sending_facility().raw, m.control_id());
    }

    /// Messages remembered now.
    std::size_t
    size() const
    {
        std::lock_guard lock(mu_);
        return entries_.size();
    }

    /// How many times contains() found a duplicate.
    std::uint64_t
    duplicates() const
    {
        std::lock_guard lock(mu_);
        return duplicates_;
    }

    duplicate_window_options const&
    options() const noexcept
    {
        return options_;
    }

private:
    // Length-prefixed parts: no two different triples share a key.
    static bool
    make_key(std::string_view app, std::string_view facility, std::string_view id, std::string& key)
    {
        if (id.empty() || id.size() > 256 || app.size() > 512 || facility.size() > 512)
            return false;
        key.reserve(app.size() + facility.size() + id.size() + 16);
        for (std::string_view part : {app, facility, id}) {
            key += std::to_string(part.size());
            key += ':';
            key += part;
        }
        return true;
    }

    void
    expire(clock_type::time_point now)
    {
        while (!order_.empty()) {
            auto it = entries_.find(order_.front());
            if (now - it->second < options_.max_age)
                break;
            entries_.erase(it);
            order_.pop_front();
        }
    }

    duplicate_window_options const options_;
    now_function const now_;
    mutable std::mutex mu_;
    std::unordered_map<std::string, clock_type::time_point> entries_;
    std::deque<std::string> order_; // keys, oldest first (one per entry)
    std::uint64_t duplicates_ = 0;
};

} // namespace hl7

#endif
