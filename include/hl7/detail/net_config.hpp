#ifndef HL7_DETAIL_NET_CONFIG_HPP
#define HL7_DETAIL_NET_CONFIG_HPP

// Checks shared by the coroutine-based networking headers.

#include <asio/version.hpp>
#include <asio/detail/config.hpp>

#if ASIO_VERSION < 102200
#error "hl7 networking needs Asio 1.22 or later"
#endif

#if !defined(ASIO_HAS_CO_AWAIT)
#error "hl7 networking needs C++20 coroutines (ASIO_HAS_CO_AWAIT); compile with -std=c++20"
#endif

#endif
