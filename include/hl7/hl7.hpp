#ifndef HL7_HL7_HPP
#define HL7_HL7_HPP

// The whole library: the message model (hl7/model.hpp, no networking) and
// MLLP over Asio (hl7/net.hpp).

#include <hl7/model.hpp>
#include <hl7/net.hpp>

#endif
