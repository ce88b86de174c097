// Test that header file is self-contained.
#include <hl7/mllp/error.hpp>

#include <catch2/catch.hpp>

#include <set>
#include <string>

using hl7::mllp::error;

TEST_CASE("mllp error: category, messages and conditions", "[mllp][error]")
{
    std::set<std::string> messages;
    for (int v = static_cast<int>(error::end_of_stream); v <= static_cast<int>(error::connection_closed); ++v) {
        std::error_code const ec = make_error_code(static_cast<error>(v));
        CAPTURE(v);
        CHECK(std::string(ec.category().name()) == "hl7.mllp");
        CHECK(ec.message() != "hl7.mllp error");
        messages.insert(ec.message());
        CHECK(ec); // no enumerator is success
    }
    CHECK(messages.size() == static_cast<std::size_t>(error::connection_closed)); // all distinct

    CHECK(std::error_code(error::frame_too_large) == std::errc::message_size);
    CHECK(std::error_code(error::invalid_block) == std::errc::bad_message);
    for (auto e : {error::timeout, error::connect_timeout, error::read_timeout, error::idle_timeout,
                   error::frame_timeout, error::handler_timeout, error::write_timeout}) {
        CHECK(std::error_code(e) == std::errc::timed_out);
        CHECK(hl7::mllp::is_timeout(e));
    }
    CHECK(std::error_code(error::write_queue_full) == std::errc::no_buffer_space);
    CHECK(std::error_code(error::connection_limit) == std::errc::connection_refused);
    CHECK(std::error_code(error::connection_closed) == std::errc::not_connected);
    CHECK_FALSE(hl7::mllp::is_timeout(error::end_of_stream));
    CHECK(std::error_code(error::end_of_stream) != std::errc::timed_out);
    CHECK(make_error_code(static_cast<error>(999)).message() == "hl7.mllp error");
    // python-hl7's InvalidBlockError text.
    CHECK(std::error_code(error::invalid_block).message() == "Block does not begin with Start Block character <VT>");
}

TEST_CASE("mllp error: typed exceptions", "[mllp][error]")
{
    using namespace hl7::mllp;
    auto thrown = [](std::error_code ec, std::string_view partial = {}) -> std::exception_ptr {
        try {
            detail::throw_read_error(ec, partial);
        } catch (...) {
            return std::current_exception();
        }
        return nullptr;
    };
    try {
        std::rethrow_exception(thrown(error::incomplete_frame, "\x0bMSH"));
    } catch (incomplete_read_error const& e) {
        CHECK(e.code() == error::incomplete_frame);
        CHECK(e.partial() == "\x0bMSH");
    }
    CHECK_THROWS_AS(std::rethrow_exception(thrown(error::end_of_stream)), incomplete_read_error);
    CHECK_THROWS_AS(std::rethrow_exception(thrown(error::connection_closed)), incomplete_read_error);
    CHECK_THROWS_AS(std::rethrow_exception(thrown(std::make_error_code(std::errc::connection_reset))),
                    incomplete_read_error);
    CHECK_THROWS_AS(std::rethrow_exception(thrown(error::invalid_block)), invalid_block_error);
    CHECK_THROWS_AS(std::rethrow_exception(thrown(error::frame_too_large)), frame_too_large_error);
    CHECK_THROWS_AS(std::rethrow_exception(thrown(error::idle_timeout)), timeout_error);
    CHECK_THROWS_AS(std::rethrow_exception(thrown(std::make_error_code(std::errc::timed_out))), timeout_error);
    try {
        std::rethrow_exception(thrown(std::make_error_code(std::errc::permission_denied)));
    } catch (incomplete_read_error const&) {
        FAIL("not an incomplete read");
    } catch (std::system_error const& e) {
        CHECK(e.code() == std::errc::permission_denied);
    }
    // Every typed exception is a std::system_error with its code.
    timeout_error const t(error::frame_timeout);
    std::system_error const& base = t;
    CHECK(base.code() == error::frame_timeout);
}
