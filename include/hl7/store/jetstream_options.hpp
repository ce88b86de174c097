#ifndef HL7_STORE_JETSTREAM_OPTIONS_HPP
#define HL7_STORE_JETSTREAM_OPTIONS_HPP

// Settings, names and counters of the NATS JetStream store
// (hl7/store/jetstream.hpp). No nats.c here.

#include <hl7/store/detail/jetstream_codec.hpp>
#include <hl7/store/store.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace hl7::store {

/** Settings of a JetStream store: where the messages go (the stream, the
    dead-letter stream, the consumer), how they are created when missing,
    and the client's limits. Every limit has a safe default.

    @par The layout
    Messages are published to `<subject_prefix>.<sender token>` (see
    `jetstream_sender_token`) in `stream`, which captures
    `<subject_prefix>.>`; dead letters to `<dead_subject_prefix>.<sender
    token>` in `dead_stream`. Forwarders read through the durable pull
    consumer `consumer` on `stream`. With `create_if_missing`, opening a
    store creates whatever of the three is missing with the settings below
    (existing ones are used as they are: change them with
    `hl7_nats_setup --update`).
*/
struct jetstream_options
{
    // Every member has an initializer: g++ 12 warns (-Wmissing-field-initializers)
    // about designated initializers that skip a member without one.

    //----------------------------------------------------------------------
    // Layout

    /// The stream that holds the messages. Default `HL7`.
    std::string stream = "HL7";
    /// Messages go to `<subject_prefix>.<sender token>`. Default `hl7.in`.
    std::string subject_prefix = "hl7.in";
    /// The stream that holds dead letters. Default `HL7_DEAD`.
    std::string dead_stream = "HL7_DEAD";
    /// Dead letters go to `<dead_subject_prefix>.<sender token>`. Default `hl7.dead`.
    std::string dead_subject_prefix = "hl7.dead";
    /// The durable pull consumer forwarders share. Default `hl7-forwarder`.
    std::string consumer = "hl7-forwarder";

    /// Create the streams and the consumer when missing (on open, or as soon
    /// as the cluster can be reached). Default on.
    bool create_if_missing = true;

    /** Replicas of both streams (and so of the consumer). Default 3: a put
        completes when 2 of 3 servers have the message, and the store keeps
        working while any one server is down. Must not exceed the cluster's
        size; 1 on a single server. */
    int replicas = 3;

    /** The streams' duplicate window: a put whose `Nats-Msg-Id` (MSH-3,
        MSH-4, MSH-10) was seen this recently is a duplicate. Default 10
        minutes: each id in the window costs the server memory (about 150
        bytes; 10 minutes at 1,000 messages/s is about 90 MB per server),
        and senders resend within seconds to minutes after a lost ACK. */
    std::chrono::milliseconds dedup_window = std::chrono::minutes(10);

    /** Largest size of the message stream in bytes; past it puts fail with
        `error::full` (the stream discards new messages, never old ones)
        until settled messages are purged (see `retention`). Default 0: the
        server's limits only (its `max_file_store`). */
    std::int64_t max_bytes = 0;

    /// Largest size of the dead-letter stream (as `max_bytes`). Default 0.
    std::int64_t dead_max_bytes = 0;

    /** Largest message the stream accepts, in bytes; above it a put fails
        with `error::too_large`. Default 0: the server's `max_payload`
        (1 MiB unless configured; the scale-out kit sets 8 MiB). */
    std::int32_t max_message_size = 0;

    /** How long the consumer waits for a verdict (`delivered`,
        `retry_later`, `dead`) before it hands a message out again. While
        a store object holds a message it tells the server it is still
        working on it every third of this, so only a consumer that died (or
        lost its connection) lets it expire. Default 60 s. */
    std::chrono::milliseconds ack_wait = std::chrono::seconds(60);

    /** Messages handed out and not yet settled, across every store object
        sharing the consumer. Default 1: strict order (see
        `jetstream_store`, Order); more delivers in parallel without any
        order. */
    std::int64_t max_ack_pending = 1;

    /** Deliveries of one message after which the server stops handing it
        out. Default -1, unlimited: nats-server 2.9 then only emits an
        advisory, and the message would silently leave the forwarding
        flow; forwarders decide with `dead()` instead. */
    std::int64_t max_deliver = -1;

    //----------------------------------------------------------------------
    // Connection

    /// The connection's name (shown by the server's monitoring). Default `hl7`.
    std::string connection_name = "hl7";

    /** Fail the open with `error::unavailable` when no server can be
        reached. Default off: the store is returned at once and keeps
        connecting in the background; puts fail with `unavailable` until it
        is connected (a receiver then answers nothing and the sender
        resends), and the layout is checked once connected. */
    bool require_connection = false;

    /// Time allowed for one TCP/NATS connect to one server. Default 2 s.
    std::chrono::milliseconds connect_timeout = std::chrono::seconds(2);

    /// Pause between reconnect rounds over the server list (forever). Default 250 ms.
    std::chrono::milliseconds reconnect_wait = std::chrono::milliseconds(250);

    /** Interval of the client's pings; two unanswered pings mark the
        connection dead (a server that vanished without closing its socket
        is noticed after about 2x this). Default 5 s. */
    std::chrono::milliseconds ping_interval = std::chrono::seconds(5);

    //----------------------------------------------------------------------
    // Limits

    /** How long a put waits for JetStream's acknowledgement before it fails
        with `error::timeout` (the message may or may not be stored: the
        sender resends, and the duplicate window absorbs the copy). Default
        5 s, below a sender's usual ACK timeout (10-30 s), so the receiver
        gives up (and closes, or answers AE) before the sender does. When a
        stream leader dies, nats-server 2.9 elects a new one after a random
        4-9 s election timeout (server/raft.go), so puts in flight then time
        out and the senders' resends land on the new leader; a timeout above
        10 s would ride out most elections but hold each connection as long. */
    std::chrono::milliseconds put_timeout = std::chrono::seconds(5);

    /** Time allowed for every other request (settling a message, stats,
        creating the layout). Default 5 s. */
    std::chrono::milliseconds request_timeout = std::chrono::seconds(5);

    /** Puts published and not yet acknowledged. The publishing thread stops
        there until acknowledgements come back. Default 1024. */
    std::size_t max_in_flight = 1024;

    /** Puts waiting for the publishing thread. A put beyond it fails at once
        with `error::queue_full` (the receiver answers nothing; the memory
        stays bounded while the cluster stalls). Default 10,000. */
    std::size_t max_queue = 10000;

    /// Message bytes waiting for the publishing thread (as `max_queue`). Default 256 MiB.
    std::size_t max_queue_bytes = std::size_t{256} << 20;

    //----------------------------------------------------------------------
    // Retention of settled messages

    /** Settled messages (delivered or dead-lettered) stay in the stream at
        least this long (for audit and so the duplicate window survives a
        server restart: the server rebuilds it from the stored messages),
        then a consumer purges them. Never less than `dedup_window`.
        Default 24 hours. */
    std::chrono::milliseconds retention = std::chrono::hours(24);

    /** How often a store object that consumes purges settled messages past
        `retention`. Default 1 minute; zero: never automatically
        (`jetstream_store::purge()` still works). */
    std::chrono::milliseconds purge_interval = std::chrono::minutes(1);
};

/** The `Nats-Msg-Id` a put of `meta` carries: MSH-3, MSH-4 and MSH-10,
    each percent-encoded (letters, digits and `-._^&` stay) and joined by
    `|`, e.g. `LAB|NORTH|MSG00001`. Empty (no id, never a duplicate) when
    MSH-10 is empty. */
inline std::string
jetstream_message_id(metadata const& meta)
{
    return detail::message_id_of(meta.sending_application, meta.sending_facility, meta.control_id);
}

/** The subject token of `meta`'s sender: MSH-3 `~` MSH-4, percent-encoded
    to letters, digits, `-` and `_` (e.g. `LAB~NORTH`); a token that would
    pass 64 characters is `h` and a 64-bit hash in hex. */
inline std::string
jetstream_sender_token(metadata const& meta)
{
    return detail::sender_token_of(meta.sending_application, meta.sending_facility);
}

/// What this process's store object did since it was opened.
struct jetstream_counters
{
    /// Puts JetStream acknowledged as stored.
    std::uint64_t stored = 0;
    /// Puts JetStream acknowledged as duplicates.
    std::uint64_t duplicates = 0;
    /// Puts that failed (any reason, `queue_full` included).
    std::uint64_t failed = 0;
    /// Of `failed`: no acknowledgement within `put_timeout`.
    std::uint64_t timeouts = 0;
    /// Of `failed`: no connection, no responders, no leader.
    std::uint64_t unavailable = 0;
    /// Of `failed`: refused at once because the queue was full.
    std::uint64_t queue_full = 0;
    /// Messages taken by `next()`.
    std::uint64_t taken = 0;
    /// Settled messages purged after their retention.
    std::uint64_t purged = 0;
};

} // namespace hl7::store

#endif
