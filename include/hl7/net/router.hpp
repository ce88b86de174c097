#ifndef HL7_NET_ROUTER_HPP
#define HL7_NET_ROUTER_HPP

/** @file
    hl7::router: a receiver's read loop, written once. It reads every
    message of a connection, checks its header, dispatches it by MSH-9 to
    the handler routed for it and sends the acknowledgements the message
    asks for. The handler only says how processing went.

    <!-- doc-test: coroutine body -->
    @code
    hl7::router router;
    router.route("ADT^A01", [](hl7::message const& m) -> asio::awaitable<hl7::message> {
        // ... co_await whatever processing the message needs ...
        co_return m.create_ack("AA");
    });
    router.route("ORU^*", [](hl7::message const& m) { return m.create_ack("AA"); });
    auto server = co_await hl7::start_hl7_server(router, {.port = 2575});
    co_await server.serve_forever();
    @endcode

    For each frame of a connection:

    | what happened                                   | answer (original mode) | enhanced mode |
    |-------------------------------------------------|------------------------|---------------|
    | not a message (`hl7::parse_error`)              | NAK from make_nak: AR for a missing or broken header or a limit, AE otherwise | the same |
    | frame over `max_frame_size`                     | NAK AR naming the limit | the same |
    | header incomplete (validate_header)             | AR, ERR 101 naming the field (203: unsupported version) | CR, as MSH-15 asks |
    | no route for MSH-9.1 (message type)             | AR, ERR 200 unsupported message type | CR |
    | a route for the type, none for MSH-9.2          | AR, ERR 201 unsupported event code | CR |
    | duplicate (router_options::duplicates)          | AA, handler not called | CA and AA as asked |
    | handler returned an ACK                         | that ACK | CA (before the handler runs) as MSH-15 asks; the handler's ACK as MSH-16 asks |
    | handler threw                                   | AE, ERR 207, the exception's what() as text | CA, then AE as MSH-16 asks |

    In enhanced mode (MSH-15 or MSH-16 given, v2.2 on) the commit ACK goes
    out before the handler runs: without a durable store it says the
    message was read, its header is complete and a handler takes it (held
    in memory only). The application ACK is a message of its own, on the
    same connection, with its own MSH-10 and MSA-2 = the message's MSH-10.
    See hl7/model/ack_mode.hpp for the table 0155 rules (AL, NE, ER, SU).

    Every ACK the router makes follows the message's version
    (hl7/model/ack.hpp). What happened is reported to
    router_options::on_event, metadata only (peer, control id, type, ACK
    codes, cause); by default problems are written to standard error.
*/

#include <hl7/detail/asio_config.hpp>
#include <hl7/model/ack.hpp>
#include <hl7/model/ack_mode.hpp>
#include <hl7/model/error.hpp>
#include <hl7/model/message.hpp>
#include <hl7/model/validate_header.hpp>
#include <hl7/mllp/error.hpp>
#include <hl7/net/duplicate_window.hpp>
#include <hl7/net/stream_reader.hpp>
#include <hl7/net/stream_writer.hpp>

#include <asio/awaitable.hpp>
#include <asio/cancellation_state.hpp>
#include <asio/this_coro.hpp>

#include <cstddef>
#include <cstdio>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

namespace hl7 {

/** Something a router did or met on a connection, for logs: metadata
    only, never message contents. */
struct router_event
{
    enum class kind {
        acknowledged,   ///< a message was processed and answered as asked (`ack_codes`)
        rejected,       ///< refused before any handler: incomplete header, or no route (`ec`, `cause`)
        handler_failed, ///< the handler threw: answered AE 207 (`cause`: its what())
        duplicate,      ///< answered from the duplicate window without calling a handler
        unparsable,     ///< a payload that is not a message: answered with a NAK (`ec`, `cause`)
        oversized,      ///< a frame over the size limit, discarded: answered AR
        closed,         ///< the connection ended with an error or limit (`ec`; not a normal close)
    };

    /// What the stream reports as the peer's address.
    using peer_type = std::decay_t<decltype(std::declval<stream_reader const&>().peername())>;

    kind what = kind::acknowledged;
    peer_type peer{};
    /// MSH-10 and MSH-9 as received, made printable (control bytes as \\xNN, cut at 64 bytes).
    std::string control_id{};
    std::string message_type{};
    /// The MSA-1 codes sent, in order ("AA"; "CA AA"; empty when none was asked for).
    std::string ack_codes{};
    /// The error behind a rejection, NAK or close (e.g. hl7::error::missing_control_id).
    std::error_code ec{};
    /// Why, in words (the exception's what(), the error's message).
    std::string cause{};
};

/// One line for a log: `127.0.0.1:40112 ADT^A01 control id 42: handler failed: ...; sent AE`.
inline std::string
to_string(router_event const& e)
{
    static constexpr char const* names[] = {"acknowledged", "rejected", "handler failed", "duplicate",
                                            "not a message", "frame too large", "connection closed"};
    std::ostringstream out;
    out << e.peer;
    if (!e.message_type.empty() || !e.control_id.empty())
        out << ' ' << (e.message_type.empty() ? std::string("(no type)") : e.message_type) << " control id "
            << (e.control_id.empty() ? std::string("(none)") : e.control_id);
    out << ": " << names[static_cast<int>(e.what)];
    if (!e.cause.empty())
        out << ": " << e.cause;
    else if (e.ec)
        out << ": " << e.ec.message();
    if (e.what != router_event::kind::closed)
        out << "; sent " << (e.ack_codes.empty() ? std::string("nothing (not asked for)") : e.ack_codes);
    return out.str();
}

/** How a router checks, acknowledges and reports. Build it as a named
    variable (or set members one by one): with g++ 12 a braced temporary
    with these members must not appear in the same expression as a
    co_await (issue 7). */
struct router_options
{
    /// What the header must carry; a message that fails is rejected (AR/CR) naming the field.
    header_rules validation{};

    /// Check headers at all. On by default; off accepts anything that parses.
    bool validate = true;

    /// Honour MSH-15/MSH-16 (enhanced mode). Off: every message gets one original-mode answer.
    bool enhanced_mode = true;

    /** Defaults for every ACK and NAK the router makes: `default_version`,
        `default_processing_id`, `application`, `facility` (code, text,
        error code and location are set per answer). */
    ack_options ack{};

    /** Messages already processed successfully are answered positively
        without calling a handler again. Shared by all connections; none by
        default. */
    std::shared_ptr<duplicate_window> duplicates{};

    /** Called for everything that happens (see router_event), on the
        connection's strand: with several io threads it must be
        thread-safe; it must not throw. Default: problems (every kind but
        `acknowledged`) are written to standard error, one line each. */
    std::function<void(router_event const&)> on_event{};
};

namespace detail {

// A value from a message, fit for a log line.
inline std::string
log_safe(std::string_view v, std::size_t max = 64)
{
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    for (char c : v.substr(0, max)) {
        auto const u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f || c == '\\') {
            out += "\\x";
            out += hex[u >> 4];
            out += hex[u & 15];
        }
        else
            out += c;
    }
    if (v.size() > max)
        out += "...";
    return out;
}

inline void
report_to_stderr(router_event const& e)
{
    if (e.what == router_event::kind::acknowledged)
        return;
    static std::mutex mu;
    std::string const line = "hl7 router: " + to_string(e) + "\n";
    std::lock_guard lock(mu);
    std::fwrite(line.data(), 1, line.size(), stderr);
}

inline bool
is_route_code(std::string_view s) noexcept
{
    if (s.empty() || s.size() > 16)
        return false;
    for (char c : s)
        if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '_'))
            return false;
    return true;
}

} // namespace detail

/** Dispatches messages by MSH-9 to handlers, as a connection handler for
    start_hl7_server (see the file comment).

    Patterns: `ADT^A01` (type and trigger event), `ADT^*` or `ADT` (any
    event of a type), `*^A01` (an event of any type), `*` (anything). The
    most specific route wins: exact, then type, then event, then `*`.

    Handlers take the message and return its acknowledgement (usually
    `m.create_ack("AA")`, or an AE/AR with `ack_options`), as a plain
    function or a coroutine:
    <!-- doc-test: skip, four alternative signatures of one handler -->
    @code
    hl7::message handler(hl7::message const&);
    asio::awaitable<hl7::message> handler(hl7::message const&);
    void handler(hl7::message const&);                  // answered AA
    asio::awaitable<void> handler(hl7::message const&); // answered AA
    @endcode
    A handler that throws is answered AE (ERR 207, the exception's what()
    as text); one that returns something without an MSA segment likewise.

    @par Thread safety
    Add routes before serving; then a router (and its copies, which share
    it) may serve any number of connections on any number of threads. A
    handler runs on its connection's strand: handlers of different
    connections may run at once.

    @par Cancellation
    When the server closes the connection or a limit cancels the handler
    (server_options::handler_timeout), the handler's pending operation
    throws; that is not answered and ends the connection.
*/
class router
{
public:
    /// A route's handler, as the router stores it.
    using handler_type = std::function<asio::awaitable<message>(message const&)>;

    router() : state_(std::make_shared<state>()) {}

    explicit router(router_options options) : state_(std::make_shared<state>())
    {
        state_->options = std::move(options);
    }

    /** Routes messages matching `pattern` to `handler` (see the class
        comment). Returns *this.
        @throws std::invalid_argument for a malformed or repeated pattern. */
    template<class Handler>
    router&
    route(std::string_view pattern, Handler handler)
    {
        auto const [type, trigger] = parse_pattern(pattern);
        for (auto const& r : state_->routes)
            if (r.type == type && r.trigger == trigger)
                throw std::invalid_argument("router: a route for '" + std::string(pattern) + "' exists already");
        state_->routes.push_back(route_entry{type, trigger, wrap(std::move(handler))});
        return *this;
    }

    /// The options the router was made with.
    router_options const&
    options() const noexcept
    {
        return state_->options;
    }

    /** Serves one connection until it ends: the connection handler for
        start_hl7_server (`start_hl7_server(router, options)`). Ends
        normally when the peer closes or the server closes the connection;
        other failures (a write that failed, a limit) end it by throwing,
        for the server to report. */
    asio::awaitable<void>
    operator()(stream_reader reader, stream_writer writer) const
    {
        return serve(state_, std::move(reader), std::move(writer));
    }

private:
    struct route_entry
    {
        std::string type;    // "*" for any
        std::string trigger; // "*" for any
        handler_type handler;
    };

    struct state
    {
        router_options options;
        std::vector<route_entry> routes;
    };

    static std::pair<std::string, std::string>
    parse_pattern(std::string_view pattern)
    {
        std::size_t const caret = pattern.find('^');
        std::string_view type = pattern.substr(0, caret);
        std::string_view trigger = caret == std::string_view::npos ? std::string_view("*") : pattern.substr(caret + 1);
        auto ok = [](std::string_view s) { return s == "*" || detail::is_route_code(s); };
        if (!ok(type) || !ok(trigger) || (type == "*" && caret == std::string_view::npos && pattern != "*"))
            throw std::invalid_argument("router: '" + std::string(pattern) +
                                        "' is not a route pattern (TYPE^EVENT, TYPE^*, TYPE, *^EVENT or *)");
        return {std::string(type), std::string(trigger)};
    }

    template<class Handler>
    static handler_type
    wrap(Handler handler)
    {
        using result = std::invoke_result_t<Handler&, message const&>;
        if constexpr (std::is_same_v<result, asio::awaitable<message>>) {
            return handler_type(std::move(handler));
        }
        else if constexpr (std::is_same_v<result, asio::awaitable<void>>) {
            return [h = std::move(handler)](message const& m) -> asio::awaitable<message> {
                co_await h(m);
                co_return m.create_ack("AA");
            };
        }
        else if constexpr (std::is_convertible_v<result, message>) {
            return [h = std::move(handler)](message const& m) -> asio::awaitable<message> { co_return h(m); };
        }
        else if constexpr (std::is_void_v<result>) {
            return [h = std::move(handler)](message const& m) -> asio::awaitable<message> {
                h(m);
                co_return m.create_ack("AA");
            };
        }
        else {
            static_assert(std::is_void_v<Handler>,
                          "a route handler takes hl7::message const& and returns hl7::message, "
                          "asio::awaitable<hl7::message>, void or asio::awaitable<void>");
        }
    }

    // The route for a type and trigger: exact, type, event, anything.
    static route_entry const*
    find_route(state const& s, std::string_view type, std::string_view trigger, bool& type_known)
    {
        route_entry const* best = nullptr;
        int best_rank = 0;
        type_known = false;
        for (auto const& r : s.routes) {
            bool const type_match = r.type == "*" || r.type == type;
            bool const trigger_match = r.trigger == "*" || r.trigger == trigger;
            if (r.type != "*" && r.type == type)
                type_known = true;
            if (!type_match || !trigger_match)
                continue;
            int const rank = (r.type != "*" ? 2 : 0) + (r.trigger != "*" ? 1 : 0) + 1;
            if (rank > best_rank) {
                best = &r;
                best_rank = rank;
            }
        }
        return best;
    }

    static void
    report(state const& s, router_event const& e) noexcept
    {
        try {
            if (s.options.on_event)
                s.options.on_event(e);
            else
                detail::report_to_stderr(e);
        }
        catch (...) {
        }
    }

    // An answer of the router's own (a NAK, AE, CA, duplicate AA) for `m`.
    static message
    answer(state const& s, message const& m, std::string_view code, std::string text = {},
           std::string_view error_code = {}, std::string_view location = {})
    {
        return make_acknowledgement(m, code, s.options.ack, std::move(text), error_code, location);
    }

    static void
    add_code(router_event& e, message const& ack)
    {
        if (!e.ack_codes.empty())
            e.ack_codes += ' ';
        e.ack_codes += std::string(ack.empty() || !ack.has_segment("MSA") ? std::string_view("?")
                                                                         : ack.segment("MSA").field(1).raw());
    }

    static asio::awaitable<bool>
    cancelled()
    {
        asio::cancellation_state const cs = co_await asio::this_coro::cancellation_state;
        co_return cs.cancelled() != asio::cancellation_type::none;
    }

    // One message: checks, commit ACK, handler, application ACK.
    static asio::awaitable<void>
    process(state const& s, message const& m, stream_writer& writer, router_event& e)
    {
        e.control_id = detail::log_safe(m.control_id());
        if (!m.empty() && m.segment_at(1).id() == "MSH")
            e.message_type = detail::log_safe(m.segment_at(1).field(9).raw());
        ack_requirements const req =
            s.options.enhanced_mode ? acknowledgement_requirements(m) : ack_requirements{};
        bool const enhanced = req.mode == ack_mode::enhanced;

        auto send = [&](message const& ack) {
            writer.writemessage(ack);
            add_code(e, ack);
        };
        // Refused before any handler: AR, or CR as MSH-15 asks.
        auto refuse = [&](message const& nak) {
            e.what = router_event::kind::rejected;
            if (!enhanced || send_commit_ack(req, "CR"))
                send(nak);
        };

        if (s.options.validate) {
            if (std::error_code const ec = validate_header(m, s.options.validation)) {
                e.ec = ec;
                e.cause = ec.message();
                refuse(make_header_nak(m, ec, enhanced ? "CR" : "AR", s.options.ack));
                co_await writer.drain();
                co_return;
            }
        }
        if (!m.empty() && m.segment_at(1).id() != "MSH") {
            // Only possible with validation off: nothing to route by.
            e.ec = make_error_code(error::not_a_message_header);
            e.cause = e.ec.message();
            refuse(make_header_nak(m, e.ec, enhanced ? "CR" : "AR", s.options.ack));
            co_await writer.drain();
            co_return;
        }

        if (s.options.duplicates && s.options.duplicates->contains(m)) {
            e.what = router_event::kind::duplicate;
            if (send_commit_ack(req, "CA"))
                send(answer(s, m, "CA"));
            if (send_application_ack(req, "AA"))
                send(answer(s, m, "AA"));
            co_await writer.drain();
            co_return;
        }

        bool type_known = false;
        route_entry const* r = find_route(s, m.message_type(), m.trigger_event(), type_known);
        if (!r) {
            std::string_view const code = type_known ? "201" : "200";
            e.cause = std::string(type_known ? "no route for event " : "no route for message type ") +
                      detail::log_safe(type_known ? m.trigger_event() : m.message_type());
            refuse(answer(s, m, enhanced ? "CR" : "AR", std::string(error_code_description(code)), code,
                          type_known ? "MSH.9.1.2" : "MSH.9"));
            co_await writer.drain();
            co_return;
        }

        if (send_commit_ack(req, "CA")) {
            send(answer(s, m, "CA"));
            co_await writer.drain();
        }

        message reply;
        bool failed = false;
        std::exception_ptr thrown;
        try {
            reply = co_await r->handler(m);
            if (reply.empty() || !reply.has_segment("MSA")) {
                failed = true;
                e.cause = "the handler's answer has no MSA segment";
            }
        }
        catch (std::exception const& x) {
            failed = true;
            thrown = std::current_exception();
            e.cause = x.what();
            if (auto const* se = dynamic_cast<std::system_error const*>(&x))
                e.ec = se->code();
        }
        catch (...) {
            failed = true;
            thrown = std::current_exception();
            e.cause = "unknown exception";
        }
        if (failed) {
            // Cancelled by the server (close, handler_timeout): no answer;
            // the connection ends with what the handler threw.
            if (thrown && co_await cancelled())
                std::rethrow_exception(thrown);
            e.what = router_event::kind::handler_failed;
            reply = answer(s, m, "AE", e.cause, "207");
        }
        std::string_view const code = reply.segment("MSA").field(1).raw();
        if (send_application_ack(req, code))
            send(reply);
        co_await writer.drain();
        if (!failed && s.options.duplicates && is_success_ack_code(code))
            s.options.duplicates->remember(m);
    }

    static asio::awaitable<void>
    serve(std::shared_ptr<state const> s, stream_reader reader, stream_writer writer)
    {
        auto const peer = reader.peername();
        auto event = [&](router_event::kind k) {
            router_event e;
            e.what = k;
            e.peer = peer;
            return e;
        };
        std::error_code closed_by;
        std::string closed_cause;
        try {
            for (;;) {
                router_event e = event(router_event::kind::acknowledged);
                message m;
                std::optional<message> nak;
                bool skip = false;
                try {
                    m = co_await reader.readmessage();
                }
                catch (parse_error const& x) {
                    // The frame was consumed; last_block() still holds it.
                    ack_options o = s->options.ack;
                    o.code = detail::parse_error_ack_code(x.code());
                    o.text = x.what();
                    o.error_code = "207";
                    nak = make_nak(reader.last_block(), o);
                    e.what = router_event::kind::unparsable;
                    e.ec = x.code();
                    e.cause = x.what();
                }
                catch (mllp::frame_too_large_error const& x) {
                    ack_options o = s->options.ack;
                    o.code = "AR";
                    o.text = "frame is larger than the size limit";
                    o.error_code = "207";
                    nak = make_nak({}, o);
                    e.what = router_event::kind::oversized;
                    e.ec = x.code();
                }
                catch (mllp::invalid_block_error const&) {
                    skip = true; // bytes outside a frame (strict framing)
                }
                if (skip)
                    continue;
                if (nak) {
                    writer.writemessage(*nak);
                    add_code(e, *nak);
                    report(*s, e);
                    co_await writer.drain();
                    continue;
                }
                co_await process(*s, m, writer, e);
                report(*s, e);
            }
        }
        catch (mllp::incomplete_read_error const& x) {
            // The peer closed, or the server did: the normal end.
            if (x.code() != mllp::error::end_of_stream && x.code() != mllp::error::connection_closed) {
                closed_by = x.code();
                closed_cause = x.what();
            }
        }
        catch (mllp::timeout_error const& x) {
            closed_by = x.code();
            closed_cause = x.what();
        }
        if (closed_by) {
            router_event e = event(router_event::kind::closed);
            e.ec = closed_by;
            e.cause = closed_cause;
            report(*s, e);
        }
        if (!writer.is_closing())
            writer.close();
        co_await writer.wait_closed();
    }

    std::shared_ptr<state> state_;
};

} // namespace hl7

#endif
