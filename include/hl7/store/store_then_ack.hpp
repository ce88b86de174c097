#ifndef HL7_STORE_STORE_THEN_ACK_HPP
#define HL7_STORE_STORE_THEN_ACK_HPP

// hl7::store_then_ack: a receiver's connection loop that acknowledges a
// message only after the store has it: parse, check the header, commit,
// then AA (or, in enhanced mode, CA and then AA as MSH-15/MSH-16 ask).

#include <hl7/detail/asio_config.hpp>
#include <hl7/mllp/error.hpp>
#include <hl7/model/ack.hpp>
#include <hl7/model/ack_mode.hpp>
#include <hl7/model/error.hpp>
#include <hl7/model/message.hpp>
#include <hl7/model/validate_header.hpp>
#include <hl7/store/error.hpp>
#include <hl7/store/store.hpp>

#include <asio/awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

namespace hl7 {

/// What `store_then_ack` answers when the store fails.
enum class store_failure_reply {
    /** Close the connection without an answer (the default). The sender
        sees no ACK and resends, on a new connection, once the store works
        again: nothing is lost and no sender is told a lie. */
    close,
    /** Answer AE with an ERR (HL7 table 0357 code 207) naming the cause
        (`"message not stored: the store is full ..."`) and go on reading.
        For senders that handle AE by resending later. */
    nak,
};

/// One frame handled by `store_then_ack`, for logs (metadata only, never contents).
struct store_event
{
    enum class kind {
        /// Stored, then acknowledged with AA (enhanced mode: CA, then AA, as asked).
        stored,
        /// Already stored (same MSH-3, MSH-4, MSH-10 within the window); acknowledged like `stored`.
        duplicate,
        /// The store failed; not acknowledged (or AE, CE in enhanced mode, see `store_failure_reply`).
        /// `ec`/`text` say why.
        store_failed,
        /// The header lacks what identifies the message (validate_header): answered AR (CR in
        /// enhanced mode, as MSH-15 asks) naming the field, not stored. `ec`/`text` say which.
        refused,
        /// The payload is not a message; answered with a NAK (AR or AE). `ec`/`text` say why.
        rejected,
        /// The frame exceeded the connection's size limit; answered with a NAK (AR).
        too_large,
    };

    kind what = kind::stored;
    /// The peer, `address:port`.
    std::string peer{};
    /// The message's metadata (empty for `rejected` and `too_large`; partial for `refused`).
    store::metadata meta{};
    /// The store's id (`stored`, `duplicate`).
    std::uint64_t id = 0;
    /// The cause (`store_failed`, `rejected`, `too_large`).
    std::error_code ec{};
    /// The cause in words, with the store's detail (`store_failed`) or the parse error's position.
    std::string text{};
    /// The payload's size in bytes.
    std::size_t size = 0;
    /// MSA-1 of every acknowledgement sent for the frame, in order, space-separated
    /// ("AA", "CA AA", "CR"); empty when none was sent (closed, or NE).
    std::string ack_codes{};
};

/// Settings of `store_then_ack`.
struct store_then_ack_options
{
    // Every member has an initializer: g++ 12 warns (-Wmissing-field-initializers)
    // about designated initializers that skip a member without one.

    /// See `store_failure_reply`. Default: close without an answer.
    store_failure_reply on_store_failure = store_failure_reply::close;

    /** Check every header with validate_header() before storing: a message
        that fails is answered AR (CR in enhanced mode) naming the missing
        field and is not stored. On by default; turn it off only for a feed
        whose messages are known to be identifiable some other way. */
    bool validate = true;

    /// What the header must carry (default: MSH-9, MSH-10, MSH-11, MSH-12, as
    /// the standard says); header_rules::lenient() keeps only MSH-10.
    header_rules validation{};

    /** Honour MSH-15/MSH-16 (enhanced mode, hl7/model/ack_mode.hpp). On by
        default; off answers every message with one original-mode ACK.
        Messages with both fields empty get the original-mode answer either way. */
    bool enhanced_mode = true;

    /** Called once per frame (see `store_event`), on the connection's
        executor; with several io threads it must be thread-safe. Must not
        throw. Default: none. */
    std::function<void(store_event const&)> on_event{};
};

namespace detail {

inline std::string
describe_parse_error(parse_error const& e)
{
    return "parse error: " + e.code().message() + " " + error_position(e.offset(), e.segment());
}

template<class Reader, class Writer>
asio::awaitable<void>
store_then_ack_loop(std::shared_ptr<store::message_store> store, Reader reader, Writer writer,
                    std::shared_ptr<store_then_ack_options const> options)
{
    std::string const peer = writer.peername().to_string();
    auto const report = [&](store_event&& ev) {
        if (options->on_event) {
            ev.peer = peer;
            try {
                options->on_event(ev);
            }
            catch (...) {
            }
        }
    };
    bool ended = false;
    try {
        while (!writer.is_closing()) {
            message msg;
            // Decided inside the handlers, sent after them (no co_await in a handler).
            std::optional<message> nak;
            store_event rejected;
            bool skip = false;
            try {
                msg = co_await reader.readmessage();
            }
            catch (parse_error const& e) {
                // The frame was consumed; last_block() still holds it, and the
                // NAK takes from it what it can (MSH-10...).
                std::string_view const code = parse_error_ack_code(e.code());
                std::string const text = describe_parse_error(e);
                std::string_view const payload = reader.last_block();
                rejected.what = store_event::kind::rejected;
                rejected.ec = e.code();
                rejected.text = text;
                rejected.size = payload.size();
                nak = make_nak(payload, code, text);
                rejected.ack_codes = std::string(code);
            }
            catch (mllp::frame_too_large_error const& e) {
                // Discarded by the reader; the connection goes on.
                rejected.what = store_event::kind::too_large;
                rejected.ec = e.code();
                rejected.text = e.code().message();
                nak = make_nak({}, "AR", e.code().message());
                rejected.ack_codes = "AR";
            }
            catch (mllp::invalid_block_error const&) {
                skip = true; // strict framing: bytes outside a frame, skipped
            }
            if (skip)
                continue;
            if (nak) {
                writer.writemessage(*nak);
                report(std::move(rejected));
                co_await writer.drain();
                continue;
            }

            std::string_view const payload = reader.last_block();
            std::size_t const size = payload.size();
            store::metadata meta = store::make_metadata(msg, peer);
            ack_requirements const req =
                options->enhanced_mode ? acknowledgement_requirements(msg) : ack_requirements{};
            std::string codes;
            // The answers `d` asks for, each a message of its own (commit first).
            auto const answer = [&](ack_decision const& d, auto const& make) {
                for (std::string_view const code : {d.commit, d.application}) {
                    if (code.empty())
                        continue;
                    writer.writemessage(make(code));
                    if (!codes.empty())
                        codes += ' ';
                    codes += code;
                }
            };

            if (options->validate) {
                if (std::error_code const ec = validate_header(msg, options->validation)) {
                    // Nobody could correlate or process it: refused before the
                    // store, so it is never kept (AR, or CR as MSH-15 asks).
                    answer(decide_acknowledgements(req, ack_outcome::rejected, ack_outcome::rejected),
                           [&](std::string_view code) { return make_header_nak(msg, ec, code); });
                    store_event ev;
                    ev.what = store_event::kind::refused;
                    ev.meta = std::move(meta);
                    ev.ec = ec;
                    ev.text = ec.message();
                    ev.size = size;
                    ev.ack_codes = std::move(codes);
                    report(std::move(ev));
                    co_await writer.drain();
                    continue;
                }
            }

            store::put_result result;
            bool stored = false;
            store_event failed;
            try {
                result = co_await store->put(std::string(payload), meta);
                stored = true;
            }
            catch (store::store_error const& e) {
                failed.what = store_event::kind::store_failed;
                failed.ec = e.code();
                failed.text = e.what();
            }
            if (!stored) {
                failed.meta = std::move(meta);
                failed.size = size;
                if (options->on_store_failure == store_failure_reply::close) {
                    // No answer: the sender resends. Anything already queued
                    // (earlier ACKs) still goes out before the socket closes.
                    report(std::move(failed));
                    writer.close();
                    break;
                }
                // AE, or CE as MSH-15 asks (no application ACK for a message
                // not committed). The generic cause only: file names and
                // server addresses stay here.
                std::string const text = "message not stored: " + failed.ec.message();
                answer(decide_acknowledgements(req, ack_outcome::error, ack_outcome::error),
                       [&](std::string_view code) { return make_acknowledgement(msg, code, {}, text, "207"); });
                failed.ack_codes = std::move(codes);
                report(std::move(failed));
                co_await writer.drain();
                continue;
            }

            // Durable (or already stored): now, and only now, AA; in enhanced
            // mode CA ("stored") and then the application's AA (storing is
            // this receiver's processing), each as asked.
            answer(decide_acknowledgements(req, ack_outcome::accepted, ack_outcome::accepted),
                   [&](std::string_view code) { return make_acknowledgement(msg, code); });
            store_event ev;
            ev.what = result.status == store::put_status::stored ? store_event::kind::stored
                                                                 : store_event::kind::duplicate;
            ev.meta = std::move(meta);
            ev.id = result.id;
            ev.size = size;
            ev.ack_codes = std::move(codes);
            report(std::move(ev));
            co_await writer.drain();
        }
    }
    catch (mllp::incomplete_read_error const&) {
        ended = true; // the peer went away, or the connection was closed here
    }
    catch (mllp::timeout_error const&) {
        ended = true; // a server limit closed the connection
    }
    if (ended && !writer.is_closing())
        writer.close();
    co_await writer.wait_closed();
}

} // namespace detail

/** Serves one MLLP connection of a receiver that must not lose messages:
    for each frame, parse it, check its header, put it in `store`, and only
    when the store reports it durable (or already stored) answer AA.
    Returns when the connection ends.

    <!-- doc-test: coroutine body -->
    @code
    auto store = co_await hl7::store::open_sqlite_store("/var/lib/hl7/in.db");
    auto server = co_await hl7::start_hl7_server(hl7::store_then_ack_handler(store), {.port = 2575});
    co_await server.serve_forever();
    @endcode

    | what happened                        | original mode (MSH-15, MSH-16 empty) | enhanced mode (either given, v2.2 on) |
    |--------------------------------------|---------------------|---------------------------------------|
    | stored, or a duplicate               | AA                  | CA ("stored": after the commit) as MSH-15 asks, then AA as MSH-16 asks, a message of its own |
    | header incomplete (validate_header)  | AR, ERR 101 naming the field; not stored | CR as MSH-15 asks; no application ACK |
    | the store fails, `close` (default)   | no answer, the connection closes | the same |
    | the store fails, `nak`               | AE, ERR 207 naming the cause | CE as MSH-15 asks; no application ACK |
    | not a message, or over the size limit | NAK (AR/AE) from make_nak | the same (MSH-15 cannot be read) |

    The receiver's application is the storing: the AA of enhanced mode says
    the same as CA (stored), it is sent for senders that asked for an
    application acknowledgement. Processing the message later (e.g.
    hl7_forwarder) acknowledges nothing more to the sender.
    `store_then_ack_options::enhanced_mode = false` answers every message in
    original mode; `validate = false` or `validation` relax the header check.

    @li The store fails: no answer and the connection is closed (default),
        or AE naming the cause (`store_failure_reply::nak`). The store
        recovers by itself when the cause goes away; the next message on a
        new connection is stored normally.
    @li Not a message (`hl7::parse_error`): a NAK from `make_nak()`, AR when
        the header is unusable, AE otherwise, naming the error and its byte
        offset; the connection goes on. A frame over the size limit: a NAK
        (AR). Nothing of either is stored.

    One message at a time per connection: the next frame is read after the
    answer to the previous one was handed to the OS. Many connections share
    the store's commits (group commit).

    @par Errors
    Returns normally when the peer closes or a server limit ends the
    connection. Any other exception (e.g. a write to a closed connection)
    propagates to the server, which reports it.

    @par Thread safety
    Runs on the connection's executor; `options.on_event` is called there.
*/
template<class Reader, class Writer>
asio::awaitable<void>
store_then_ack(std::shared_ptr<store::message_store> store, Reader reader, Writer writer,
               store_then_ack_options options = {})
{
    // A plain function: g++ 12 double-destroys coroutine parameters built
    // from braced temporaries, so the coroutine only receives moved values.
    auto shared = std::make_shared<store_then_ack_options const>(std::move(options));
    return detail::store_then_ack_loop(std::move(store), std::move(reader), std::move(writer), std::move(shared));
}

/** A connection handler for `start_hl7_server` that runs `store_then_ack`
    with `store` and `options` for every connection. Copyable; the store is
    shared by all connections. */
class store_then_ack_handler
{
public:
    explicit store_then_ack_handler(std::shared_ptr<store::message_store> store, store_then_ack_options options = {})
        : store_(std::move(store)), options_(std::make_shared<store_then_ack_options const>(std::move(options)))
    {
    }

    template<class Reader, class Writer>
    asio::awaitable<void>
    operator()(Reader reader, Writer writer) const
    {
        return detail::store_then_ack_loop(store_, std::move(reader), std::move(writer), options_);
    }

private:
    std::shared_ptr<store::message_store> store_;
    std::shared_ptr<store_then_ack_options const> options_;
};

} // namespace hl7

#endif
