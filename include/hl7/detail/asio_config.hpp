#ifndef HL7_DETAIL_ASIO_CONFIG_HPP
#define HL7_DETAIL_ASIO_CONFIG_HPP

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

// Standard coroutines under clang. Asio 1.22 turns co_await on for clang
// only through <experimental/coroutine> (the Coroutines TS), which libstdc++
// does not have, so clang++ with libstdc++ gets no asio::awaitable at all
// although it implements C++20 coroutines. Asio's config leaves both macros
// alone when they are already defined, so they must be set before it is read;
// the conditions are the ones Asio itself uses for g++. Users need not define
// anything; ASIO_DISABLE_CO_AWAIT / ASIO_DISABLE_STD_COROUTINE are honoured.
#if !defined(ASIO_DETAIL_CONFIG_HPP) && defined(__has_include)
#if (__cplusplus >= 201709L) && defined(__cpp_impl_coroutine) && (__cpp_impl_coroutine >= 201902L)
#if __has_include(<coroutine>)
#if !defined(ASIO_HAS_CO_AWAIT) && !defined(ASIO_DISABLE_CO_AWAIT)
#define ASIO_HAS_CO_AWAIT 1
#endif
#if !defined(ASIO_HAS_STD_COROUTINE) && !defined(ASIO_DISABLE_STD_COROUTINE)
#define ASIO_HAS_STD_COROUTINE 1
#endif
#endif
#endif
#endif

// Asio's per-thread state under clang. clang (16, and later versions in some
// loops) may keep the address of a thread-local variable computed before a
// co_await and use it after the coroutine resumed on another thread
// (llvm-project issues 47179, 63022). Asio reaches each thread's cache of
// coroutine frames through such a variable (keyword_tss_ptr), so with several
// io threads two threads end up sharing one cache without a lock and corrupt
// the heap. Through pthread_getspecific, a call clang must repeat, the value
// is always the current thread's. The Asio::Asio target defines the same for
// clang, so translation units that include Asio first agree with these.
#if !defined(ASIO_DETAIL_CONFIG_HPP) && defined(__clang__)
#if !defined(ASIO_DISABLE_THREAD_KEYWORD_EXTENSION) && !defined(ASIO_HAS_THREAD_KEYWORD_EXTENSION)
#define ASIO_DISABLE_THREAD_KEYWORD_EXTENSION 1
#endif
#endif

#include <asio/detail/config.hpp>
#include <asio/version.hpp>

#if ASIO_VERSION < 102200
#error "hl7 networking needs Asio 1.22 or later"
#endif

#if !defined(ASIO_HAS_CO_AWAIT)
#error "hl7 networking needs C++20 coroutines (-std=c++20). Under clang, include an hl7 header before any Asio header (hl7 enables Asio 1.22's standard coroutine support) or define ASIO_HAS_CO_AWAIT and ASIO_HAS_STD_COROUTINE yourself"
#endif

#endif
