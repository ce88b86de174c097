#ifndef HL7_TESTS_HOSTILE_CHECKS_HPP
#define HL7_TESTS_HOSTILE_CHECKS_HPP

// Catch2 checks shared by the hostile suite over TCP and over TLS.

#include "hl7_hostile_support.hpp"

#include <catch2/catch.hpp>

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

} // namespace hl7_hostile

#endif
