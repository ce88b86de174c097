// Built against the installed package by the hl7.package.find_package_model
// test: the model through find_package(hl7 COMPONENTS model) and hl7::model.
#include <hl7/model.hpp>

// Every Asio header includes asio/detail/config.hpp.
#if defined(ASIO_DETAIL_CONFIG_HPP) || defined(ASIO_VERSION) || defined(ASIO_STANDALONE)
#error "hl7::model pulled in Asio"
#endif

#include <iostream>

int
main()
{
    auto msg = hl7::parse("MSH|^~\\&|A|B|C|D|20240101||ADT^A01|42|P|2.5\rPID|1||123^^^H^MR\r");
    auto ack = msg.create_ack();
    if (msg["PID.3.1"] != "123" || ack["MSA.2"] != "42")
        return 1;
    std::cout << ack["MSA.1"] << ' ' << ack["MSA.2"] << '\n';
    return 0;
}
