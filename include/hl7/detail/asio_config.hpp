#ifndef HL7_DETAIL_NET_CONFIG_HPP
#define HL7_DETAIL_NET_CONFIG_HPP

// Included first by every hl7 header that uses Asio.
//
// A standard header must come before Asio's config: Asio 1.22 decides
// ASIO_HAS_STD_ALIGNED_ALLOC from libstdc++'s _GLIBCXX_HAVE_ALIGNED_ALLOC,
// which exists only once a libstdc++ header was read. A translation unit that
// starts with an Asio header otherwise compiles asio::aligned_new() with
// operator new while the others use aligned_alloc()/free(): an ODR violation
// that AddressSanitizer reports as alloc-dealloc-mismatch (the linker keeps
// one aligned_new and one aligned_delete from different units).
#include <cstddef>

#include <asio/detail/config.hpp>
#include <asio/version.hpp>

#if ASIO_VERSION < 102200
#error "hl7 networking needs Asio 1.22 or later"
#endif

#if !defined(ASIO_HAS_CO_AWAIT)
#error "hl7 networking needs C++20 coroutines (ASIO_HAS_CO_AWAIT); compile with -std=c++20"
#endif

#endif
