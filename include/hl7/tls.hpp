#ifndef HL7_TLS_HPP
#define HL7_TLS_HPP

// MLLP over TLS (component `tls`, CMake target hl7::tls, which links
// OpenSSL): start_hl7_tls_server, open_hl7_tls_connection, hl7::tls::error.

#include <hl7/net.hpp>
#include <hl7/tls/client.hpp>
#include <hl7/tls/context.hpp>
#include <hl7/tls/error.hpp>
#include <hl7/tls/options.hpp>
#include <hl7/tls/server.hpp>
#include <hl7/tls/stream.hpp>

#endif
