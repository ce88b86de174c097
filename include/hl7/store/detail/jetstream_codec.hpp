#ifndef HL7_STORE_DETAIL_JETSTREAM_CODEC_HPP
#define HL7_STORE_DETAIL_JETSTREAM_CODEC_HPP

// The JetStream store's text rules, with no nats.c and no Asio: how a
// message's metadata becomes a message id, a subject token and header
// values (and back), and a reader for the server's JSON answers to a
// publish (the PubAck). Kept apart so they are tested without a server.

#include <hl7/model/escape.hpp>

#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hl7::store::detail {

//--------------------------------------------------------------------------
// Percent encoding. Each rule keeps a set of bytes as they are and writes
// every other byte as %XX (upper-case hex), '%' included, so the encoding
// is injective and a chosen separator that is not in the set can never
// appear inside an encoded value.

inline bool
is_alnum_ascii(unsigned char c) noexcept
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/// Message-id fields: letters, digits and `-._^&` stay (HL7 component
/// separators are common in MSH-3/MSH-4 and stay readable); `|` separates.
inline bool
keep_in_id(unsigned char c) noexcept
{
    return is_alnum_ascii(c) || c == '-' || c == '.' || c == '_' || c == '^' || c == '&';
}

/// Subject tokens: letters, digits, `-` and `_` only (a NATS subject token
/// may not hold `.`, `*`, `>` or white space); `~` separates.
inline bool
keep_in_token(unsigned char c) noexcept
{
    return is_alnum_ascii(c) || c == '-' || c == '_';
}

/// Header values: printable ASCII but `%` (no CR, LF, controls, spaces or
/// bytes above 0x7E, which a header line cannot carry).
inline bool
keep_in_header(unsigned char c) noexcept
{
    return c > 0x20 && c < 0x7f && c != '%';
}

template<class Keep>
void
percent_encode_to(std::string& out, std::string_view in, Keep keep)
{
    static constexpr char hex[] = "0123456789ABCDEF";
    for (char ch : in) {
        auto const c = static_cast<unsigned char>(ch);
        if (keep(c)) {
            out += ch;
        }
        else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 0xf];
        }
    }
}

template<class Keep>
std::string
percent_encode(std::string_view in, Keep keep)
{
    std::string out;
    out.reserve(in.size());
    percent_encode_to(out, in, keep);
    return out;
}

/// One hex digit's value, -1 if it is none (the escape decoder's reader).
inline int
hex_value(char c) noexcept
{
    return hl7::detail::escape_hex_digit(c);
}

/// Reverses percent_encode; a malformed escape is kept as it stands.
inline std::string
percent_decode(std::string_view in)
{
    std::string out;
    out.reserve(in.size());
    for (std::size_t i = 0; i < in.size(); ++i) {
        if (in[i] == '%' && i + 2 < in.size()) {
            int const hi = hex_value(in[i + 1]);
            int const lo = hex_value(in[i + 2]);
            if (hi >= 0 && lo >= 0) {
                out += static_cast<char>(hi * 16 + lo);
                i += 2;
                continue;
            }
        }
        out += in[i];
    }
    return out;
}

/// `Nats-Msg-Id` for MSH-3, MSH-4 and MSH-10 (raw): each encoded, joined
/// by `|`. Empty when MSH-10 is empty (no duplicate detection).
inline std::string
message_id_of(std::string_view app, std::string_view facility, std::string_view control_id)
{
    if (control_id.empty())
        return {};
    std::string id;
    id.reserve(app.size() + facility.size() + control_id.size() + 2);
    percent_encode_to(id, app, keep_in_id);
    id += '|';
    percent_encode_to(id, facility, keep_in_id);
    id += '|';
    percent_encode_to(id, control_id, keep_in_id);
    return id;
}

/// Longest subject token written out; longer senders are hashed.
inline constexpr std::size_t max_plain_token = 64;

/// 64-bit FNV-1a, for over-long sender tokens.
inline std::uint64_t
fnv1a64(std::string_view a, std::string_view b) noexcept
{
    std::uint64_t h = 0xcbf29ce484222325ull;
    auto const mix = [&h](unsigned char c) {
        h ^= c;
        h *= 0x100000001b3ull;
    };
    for (char c : a)
        mix(static_cast<unsigned char>(c));
    mix(0); // a separator no field holds in a parsed message
    for (char c : b)
        mix(static_cast<unsigned char>(c));
    return h;
}

/** The subject token of a sender (MSH-3, MSH-4): both encoded, joined by
    `~` (e.g. `LAB~NORTH`, `GHH%20LAB^...` is written `GHH%20LAB%5E...`).
    Past `max_plain_token` characters, `h` and 16 hex digits of a hash: two
    senders may then share a token, which only makes them share an order. A
    hashed token has no `~`, so it never equals a written-out one. */
inline std::string
sender_token_of(std::string_view app, std::string_view facility)
{
    std::string t;
    percent_encode_to(t, app, keep_in_token);
    t += '~';
    percent_encode_to(t, facility, keep_in_token);
    if (t.size() <= max_plain_token)
        return t;
    std::uint64_t h = fnv1a64(app, facility);
    std::string hashed = "h";
    static constexpr char hex[] = "0123456789abcdef";
    for (int shift = 60; shift >= 0; shift -= 4)
        hashed += hex[(h >> shift) & 0xf];
    return hashed;
}

/// The URLs of a comma-separated server list, trimmed, empty ones left out.
inline std::vector<std::string>
split_servers(std::string_view servers)
{
    std::vector<std::string> out;
    while (!servers.empty()) {
        auto const comma = servers.find(',');
        std::string_view url = servers.substr(0, comma);
        while (!url.empty() && (url.front() == ' ' || url.front() == '\t'))
            url.remove_prefix(1);
        while (!url.empty() && (url.back() == ' ' || url.back() == '\t'))
            url.remove_suffix(1);
        if (!url.empty())
            out.emplace_back(url);
        if (comma == std::string_view::npos)
            break;
        servers.remove_prefix(comma + 1);
    }
    return out;
}

/** A server list (`nats://user:secret@host:4222,host2:4222`) for logs:
    each URL without its user information. */
inline std::string
redact_servers(std::string_view servers)
{
    std::string out;
    while (true) {
        auto const comma = servers.find(',');
        std::string_view url = servers.substr(0, comma);
        auto const scheme = url.find("://");
        std::size_t const host = scheme == std::string_view::npos ? 0 : scheme + 3;
        auto const at = url.find('@', host);
        if (!out.empty())
            out += ',';
        if (at == std::string_view::npos) {
            out += url;
        }
        else {
            out += url.substr(0, host);
            out += url.substr(at + 1);
        }
        if (comma == std::string_view::npos)
            break;
        servers.remove_prefix(comma + 1);
    }
    return out;
}

//--------------------------------------------------------------------------
// The header names the store writes (values percent-encoded with
// keep_in_header unless said otherwise).

inline constexpr char const* header_msg_id = "Nats-Msg-Id";
inline constexpr char const* header_app = "Hl7-Sending-Application";
inline constexpr char const* header_facility = "Hl7-Sending-Facility";
inline constexpr char const* header_control_id = "Hl7-Control-Id";
inline constexpr char const* header_type = "Hl7-Message-Type";
inline constexpr char const* header_peer = "Hl7-Peer";
/// Milliseconds since the Unix epoch, decimal.
inline constexpr char const* header_received = "Hl7-Received";
/// Dead letters: the reason given to `dead`.
inline constexpr char const* header_dead_reason = "Hl7-Dead-Reason";
/// Dead letters: the message's sequence in the main stream (decimal).
inline constexpr char const* header_dead_sequence = "Hl7-Dead-Sequence";
/// Dead letters: the main stream's name.
inline constexpr char const* header_dead_stream = "Hl7-Dead-Stream";
/// Dead letters: how often it had been delivered (decimal).
inline constexpr char const* header_dead_deliveries = "Hl7-Dead-Deliveries";

//--------------------------------------------------------------------------
// A reader for JetStream's answer to a publish: {"stream":"S","seq":5},
// {"stream":"S","seq":5,"duplicate": true}, or
// {"error":{"code":503,"err_code":10077,"description":"..."}}. Tolerant of
// white space, key order and members it does not know (skipped, nested
// or not); anything that is not such an object is reported as not parsed.

struct pub_ack
{
    bool parsed = false;
    std::string stream{};
    std::uint64_t seq = 0;
    bool duplicate = false;
    /// From "error": the HTTP-like code (503...), JetStream's err_code, the text.
    bool has_error = false;
    int code = 0;
    int err_code = 0;
    std::string description{};
};

class json_reader
{
public:
    explicit json_reader(std::string_view text) noexcept : s_(text) {}

    void
    skip_ws() noexcept
    {
        while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r'))
            ++i_;
    }

    bool
    eat(char c) noexcept
    {
        skip_ws();
        if (i_ < s_.size() && s_[i_] == c) {
            ++i_;
            return true;
        }
        return false;
    }

    bool
    peek(char c) noexcept
    {
        skip_ws();
        return i_ < s_.size() && s_[i_] == c;
    }

    bool
    at_end() noexcept
    {
        skip_ws();
        return i_ == s_.size();
    }

    /// A JSON string (escapes decoded; \u00XX as one byte, other \u as '?').
    std::optional<std::string>
    string()
    {
        if (!eat('"'))
            return std::nullopt;
        std::string out;
        while (i_ < s_.size()) {
            char c = s_[i_++];
            if (c == '"')
                return out;
            if (c != '\\') {
                out += c;
                continue;
            }
            if (i_ >= s_.size())
                return std::nullopt;
            char e = s_[i_++];
            switch (e) {
            case '"': out += '"'; break;
            case '\\': out += '\\'; break;
            case '/': out += '/'; break;
            case 'b': out += '\b'; break;
            case 'f': out += '\f'; break;
            case 'n': out += '\n'; break;
            case 'r': out += '\r'; break;
            case 't': out += '\t'; break;
            case 'u': {
                if (i_ + 4 > s_.size())
                    return std::nullopt;
                unsigned v = 0;
                for (int k = 0; k < 4; ++k) {
                    int const h = hex_value(s_[i_ + k]);
                    if (h < 0)
                        return std::nullopt;
                    v = v * 16 + static_cast<unsigned>(h);
                }
                i_ += 4;
                out += v < 0x80 ? static_cast<char>(v) : '?';
                break;
            }
            default: return std::nullopt;
            }
        }
        return std::nullopt;
    }

    /// A non-negative or negative integer (fractions and exponents are skipped over).
    std::optional<std::int64_t>
    integer()
    {
        skip_ws();
        std::size_t const start = i_;
        if (i_ < s_.size() && s_[i_] == '-')
            ++i_;
        while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9')
            ++i_;
        std::int64_t v = 0;
        auto const [p, ec] = std::from_chars(s_.data() + start, s_.data() + i_, v);
        if (ec != std::errc() || p != s_.data() + i_)
            return std::nullopt;
        // A fraction or exponent: not expected here, skipped.
        while (i_ < s_.size() && (s_[i_] == '.' || s_[i_] == 'e' || s_[i_] == 'E' || s_[i_] == '+' || s_[i_] == '-' ||
                                  (s_[i_] >= '0' && s_[i_] <= '9')))
            ++i_;
        return v;
    }

    std::optional<bool>
    boolean()
    {
        skip_ws();
        if (s_.substr(i_, 4) == "true") {
            i_ += 4;
            return true;
        }
        if (s_.substr(i_, 5) == "false") {
            i_ += 5;
            return false;
        }
        return std::nullopt;
    }

    /// Skips any value; false if it is malformed. `depth` bounds nesting.
    bool
    skip_value(int depth = 0)
    {
        if (depth > 32)
            return false;
        skip_ws();
        if (i_ >= s_.size())
            return false;
        char const c = s_[i_];
        if (c == '"')
            return string().has_value();
        if (c == '{' || c == '[') {
            char const close = c == '{' ? '}' : ']';
            ++i_;
            if (eat(close))
                return true;
            for (;;) {
                if (c == '{') {
                    if (!string() || !eat(':'))
                        return false;
                }
                if (!skip_value(depth + 1))
                    return false;
                if (eat(','))
                    continue;
                return eat(close);
            }
        }
        if (c == 't' || c == 'f')
            return boolean().has_value();
        if (s_.substr(i_, 4) == "null") {
            i_ += 4;
            return true;
        }
        return integer().has_value();
    }

    /** Reads an object, calling `member(key, reader)` for each member; the
        callback reads the value or returns false to have it skipped. */
    template<class Member>
    bool
    object(Member member)
    {
        if (!eat('{'))
            return false;
        if (eat('}'))
            return true;
        for (;;) {
            auto key = string();
            if (!key || !eat(':'))
                return false;
            std::size_t const before = i_;
            if (!member(*key, *this)) {
                i_ = before;
                if (!skip_value())
                    return false;
            }
            if (eat(','))
                continue;
            return eat('}');
        }
    }

private:
    std::string_view s_;
    std::size_t i_ = 0;
};

inline pub_ack
parse_pub_ack(std::string_view text)
{
    pub_ack a;
    bool bad = false; // a known member with a value of the wrong kind
    json_reader r(text);
    bool const ok = r.object([&](std::string const& key, json_reader& v) -> bool {
        if (key == "stream") {
            auto s = v.string();
            bad |= !s;
            if (s)
                a.stream = std::move(*s);
            return true;
        }
        if (key == "seq") {
            auto n = v.integer();
            bad |= !n || *n < 0;
            if (n && *n >= 0)
                a.seq = static_cast<std::uint64_t>(*n);
            return true;
        }
        if (key == "duplicate") {
            auto b = v.boolean();
            bad |= !b;
            a.duplicate = b.value_or(false);
            return true;
        }
        if (key == "error") {
            a.has_error = true;
            bool const inner = v.object([&](std::string const& k, json_reader& e) -> bool {
                if (k == "code" || k == "err_code") {
                    auto n = e.integer();
                    bad |= !n;
                    (k == "code" ? a.code : a.err_code) = static_cast<int>(n.value_or(0));
                    return true;
                }
                if (k == "description") {
                    auto s = e.string();
                    bad |= !s;
                    a.description = s.value_or(std::string());
                    return true;
                }
                return false;
            });
            bad |= !inner;
            return true;
        }
        return false;
    });
    a.parsed = ok && !bad && r.at_end() && (a.has_error || !a.stream.empty());
    return a;
}

} // namespace hl7::store::detail

#endif
