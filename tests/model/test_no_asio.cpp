// The parsing side must be usable without networking headers.
#include <hl7/model.hpp>

#if defined(ASIO_VERSION) || defined(ASIO_HPP)
#error "hl7/model.hpp must not include Asio"
#endif

#include <catch2/catch.hpp>

TEST_CASE("the model headers work without Asio", "[model]")
{
    auto const m = hl7::parse("MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.5\rPID|1\r");
    CHECK(m.create_ack()["MSA.2"] == "1");
}
