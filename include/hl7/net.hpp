#ifndef HL7_NET_HPP
#define HL7_NET_HPP

// Everything that uses Asio: MLLP framing (sans-I/O decoder, composed
// operations, mllp::stream), hl7::wait_for, and the asyncio-style facade
// (stream_reader / stream_writer over any stream, open_hl7_connection,
// start_hl7_server, and their UNIX-domain twins), the reliable client, the
// router (dispatch by message type) and hl7::run.

#include <hl7/mllp/error.hpp>
#include <hl7/mllp/frame.hpp>
#include <hl7/mllp/frame_decoder.hpp>
#include <hl7/mllp/stream.hpp>
#include <hl7/net/wait_for.hpp>
#include <hl7/net/endpoint.hpp>
#include <hl7/net/options.hpp>
#include <hl7/net/stream_traits.hpp>
#include <hl7/net/stream_reader.hpp>
#include <hl7/net/stream_writer.hpp>
#include <hl7/net/connection.hpp>
#include <hl7/net/open_connection.hpp>
#include <hl7/net/server.hpp>
#include <hl7/net/unix.hpp>
#include <hl7/net/client.hpp>
#include <hl7/net/duplicate_window.hpp>
#include <hl7/net/router.hpp>
#include <hl7/net/run.hpp>

#endif
