#ifndef HL7_TESTS_HOSTILE_CHECKS_HPP
#define HL7_TESTS_HOSTILE_CHECKS_HPP

// Catch2 checks shared by the hostile suite over TCP and over TLS.

#include "hl7_hostile_support.hpp"

#include <catch2/catch.hpp>

#include <cstddef>
#include <optional>
#include <string>

namespace hl7_hostile {

/// Requires that `frame` arrived and is the AA for control id `id`.
inline void
require_aa(std::optional<std::string> const& frame, std::string const& id)
{
    REQUIRE(frame.has_value());
    answer const a = read_answer(*frame);
    INFO("answer: " << a.raw);
    REQUIRE(a.code == "AA");
    REQUIRE(a.control_id == id);
}

/** Checks that the peak RSS growth `watch` saw stays under `limit`, except
    under a sanitizer, where RSS says nothing about our buffers:
    AddressSanitizer keeps freed memory in its quarantine (up to 256 MiB) and
    ThreadSanitizer shadows every byte touched. */
inline void
check_rss_growth(rss_watch& watch, std::size_t limit)
{
    std::size_t const growth = watch.finish();
    INFO("peak RSS growth " << growth);
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    (void)limit;
#else
    CHECK(growth < limit);
#endif
}

} // namespace hl7_hostile

#endif
