#ifndef HL7_TESTS_MLLP_USE_FUTURE_HPP
#define HL7_TESTS_MLLP_USE_FUTURE_HPP

// <asio/use_future.hpp> for the MLLP tests. g++ 12 at -O1 with the
// sanitizers reports a false -Wmaybe-uninitialized inside Asio 1.22's
// promise_handler (use_future.hpp:627), which -Werror turns into a build
// failure; the diagnostic state that counts is the one where the template
// is defined, so it is silenced around this first inclusion only (g++ only:
// clang has no such warning and would complain about the unknown group).

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <asio/use_future.hpp>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#endif
