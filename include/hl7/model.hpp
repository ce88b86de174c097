#ifndef HL7_MODEL_HPP
#define HL7_MODEL_HPP

// Everything for parsing, reading, editing and acknowledging messages,
// without networking (no Asio): what a program that only handles files needs.

#include <hl7/ack.hpp>
#include <hl7/batch.hpp>
#include <hl7/control_id.hpp>
#include <hl7/datetime.hpp>
#include <hl7/error.hpp>
#include <hl7/escape.hpp>
#include <hl7/locate.hpp>
#include <hl7/message.hpp>
#include <hl7/parse_options.hpp>
#include <hl7/parser.hpp>
#include <hl7/path.hpp>
#include <hl7/separators.hpp>
#include <hl7/version.hpp>

#endif
