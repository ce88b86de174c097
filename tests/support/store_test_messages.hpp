#ifndef HL7_TESTS_SUPPORT_STORE_TEST_MESSAGES_HPP
#define HL7_TESTS_SUPPORT_STORE_TEST_MESSAGES_HPP

// Messages and checks shared by the message store tests (SQLite in
// tests/store, JetStream in tests/nats): a small ADT from a given sender,
// its store metadata, and the error code a store operation threw.

#include <hl7/parser/parse.hpp>
#include <hl7/store/error.hpp>
#include <hl7/store/store.hpp>

#include <string>
#include <string_view>
#include <system_error>
#include <utility>

namespace hl7_test {

/// A small ADT message from `app`/`facility` with MSH-10 `control_id`.
inline std::string
message_text(std::string_view control_id, std::string_view app = "LAB", std::string_view facility = "NORTH")
{
    std::string m = "MSH|^~\\&|";
    m += app;
    m += '|';
    m += facility;
    m += "|HIS|MAIN|20240101120000||ADT^A01^ADT_A01|";
    m += control_id;
    m += "|P|2.5\rPID|1||12345^^^HOSP^MR||DOE^JOHN\r";
    return m;
}

/// The store metadata of `text` (parsed), received from `peer`.
inline hl7::store::metadata
meta_of(std::string const& text, std::string peer = "127.0.0.1:1")
{
    return hl7::store::make_metadata(hl7::parse(text), std::move(peer));
}

/// The error code a store_error thrown by `f` carries (empty if none).
template<class F>
std::error_code
store_error_of(F&& f)
{
    try {
        f();
    }
    catch (hl7::store::store_error const& e) {
        return e.code();
    }
    return {};
}

} // namespace hl7_test

#endif
