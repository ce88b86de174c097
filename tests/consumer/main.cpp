// Built against the installed package by the hl7.package.find_package test.
#include <hl7/hl7.hpp>

#include <iostream>

int
main()
{
    auto msg = hl7::parse("MSH|^~\\&|A|B|C|D|20240101||ADT^A01|42|P|2.5\rPID|1||123^^^H^MR\r");
    if (msg["PID.3.1"] != "123" || msg["MSH.10"] != "42")
        return 1;
    std::cout << msg["PID.3.1"] << '\n';
    return 0;
}
