#ifndef HL7_MODEL_HPP
#define HL7_MODEL_HPP

// Everything for parsing, reading, editing and acknowledging messages,
// without networking (no Asio): what a program that only handles files needs.

#include <hl7/model/ack.hpp>
#include <hl7/model/ack_mode.hpp>
#include <hl7/model/charset.hpp>
#include <hl7/parser/batch.hpp>
#include <hl7/model/control_id.hpp>
#include <hl7/model/datetime.hpp>
#include <hl7/model/error.hpp>
#include <hl7/model/escape.hpp>
#include <hl7/parser/locate.hpp>
#include <hl7/model/message.hpp>
#include <hl7/parser/parse_options.hpp>
#include <hl7/parser/parse.hpp>
#include <hl7/parser/read_messages.hpp>
#include <hl7/model/path.hpp>
#include <hl7/model/separators.hpp>
#include <hl7/model/validate_header.hpp>
#include <hl7/version.hpp>

#endif
