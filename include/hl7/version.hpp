#ifndef HL7_VERSION_HPP
#define HL7_VERSION_HPP

/// The library version as MAJOR * 10000 + MINOR * 100 + PATCH.
#define HL7_VERSION 100
#define HL7_VERSION_STRING "0.1.0"

#endif
