#ifndef HL7_BATCH_HPP
#define HL7_BATCH_HPP

/** @file
    HL7 v2 batches and files (HL7 v2.5 section 2.10.3):

        [FHS]                 file header
        { [BHS]               batch header
          { MSH ... }         messages
          [BTS] }             batch trailer
        [FTS]                 file trailer

    parse_batch(), parse_file() and parse_hl7() follow python-hl7 0.4.5,
    fixing what breaks a byte-exact round trip or loses data:

    - `to_string(parse_batch(s)) == s` (and the same for files) for
      CR-terminated input: no blank line between messages, and no trailer
      invented for a header that had none (python-hl7 writes `BTS`/`FTS`).
    - LF and CRLF end segments too (unless `parse_options::strict_terminators`);
      output always uses CR. Empty lines are skipped (or an error with
      `allow_empty_segments` off).
    - In a file, messages outside any BHS form a header-less batch at the
      position where they stand (python-hl7 moves it after all other batches).
    - BHS and FHS are parsed like MSH, with their own delimiters from
      BHS-1/BHS-2 (FHS-1/FHS-2). BTS and FTS use the delimiters of their
      header (else of the batch's last message, else the defaults).
    - Trailers are kept, not dropped. HL7 makes headers and trailers
      optional independently, so a BTS that closes messages without a BHS
      is kept as a trailer of a header-less batch, and an FTS without an FHS
      as the trailer of a header-less file (python-hl7 silently drops both).
    - Segment kinds are recognised only at the start of a segment: isbatch()
      no longer counts `MSH` inside field data.

    Errors (hl7::batch_error, a hl7::parse_error, with the byte offset and
    1-based segment number in the whole input):

    | code | when |
    |------|------|
    | `duplicate_batch_header` | a BHS while a batch opened by a BHS has no BTS yet; in parse_batch, any second BHS |
    | `duplicate_file_header`  | a second FHS |
    | `segment_before_header`  | a segment other than a header or trailer before any MSH of its batch (python-hl7's "Segment received before message header"); an FHS that is not the first segment; in parse_batch, an FHS, or messages before the BHS |
    | `unexpected_trailer`     | a BTS with no batch to close (no BHS or message since the last batch ended); an FTS as the first segment; anything after the FTS; in parse_batch, an FTS, or anything after the BTS |

    Problems inside a message (bad MSH, limits, ...) are reported as
    hl7::parse_error with the message parser's error code, offset and
    segment number translated to the whole input.

    Limits: `parse_options::max_message_size` bounds the whole input and
    `max_segments` the number of segments in it (headers and trailers
    included); `max_fields` applies to every segment.
*/

#include <hl7/model/error.hpp>
#include <hl7/model/message.hpp>
#include <hl7/model/separators.hpp>
#include <hl7/parser/detail/scanner.hpp>
#include <hl7/parser/parse.hpp>
#include <hl7/parser/parse_options.hpp>

#include <algorithm>
#include <cstddef>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <system_error>
#include <variant>
#include <vector>

namespace hl7 {

/** A batch: an optional BHS, messages, an optional BTS.

    `header` and `trailer` are one-segment messages, so the usual access
    works on them: `b.header->get("BHS.9")`, `b.trailer->get("BTS.1")`.
    Members are public; build a batch by filling them, e.g.
    `b.header = hl7::parse("BHS|^~\\&|APP")` and
    `hl7::message t; t.append_segment("BTS|1"); b.trailer = std::move(t);`.
*/
class batch
{
public:
    std::optional<message> header;  ///< the BHS segment, if any
    std::optional<message> trailer; ///< the BTS segment, if any
    std::vector<message> messages;

    std::size_t size() const noexcept { return messages.size(); }
    bool empty() const noexcept { return messages.empty(); }
    auto begin() noexcept { return messages.begin(); }
    auto end() noexcept { return messages.end(); }
    auto begin() const noexcept { return messages.begin(); }
    auto end() const noexcept { return messages.end(); }

    /// Appends the text: header, messages, trailer, every segment followed by CR.
    void
    serialize_to(std::string& out) const
    {
        if (header)
            header->serialize_to(out);
        for (auto const& m : messages)
            m.serialize_to(out);
        if (trailer)
            trailer->serialize_to(out);
    }
};

/** A file: an optional FHS, batches, an optional FTS. As for batch,
    `header` and `trailer` are one-segment messages (`f.header->get("FHS.9")`). */
class file
{
public:
    std::optional<message> header;  ///< the FHS segment, if any
    std::optional<message> trailer; ///< the FTS segment, if any
    std::vector<batch> batches;

    std::size_t size() const noexcept { return batches.size(); }
    bool empty() const noexcept { return batches.empty(); }
    auto begin() noexcept { return batches.begin(); }
    auto end() noexcept { return batches.end(); }
    auto begin() const noexcept { return batches.begin(); }
    auto end() const noexcept { return batches.end(); }

    /// Appends the text: header, batches, trailer, every segment followed by CR.
    void
    serialize_to(std::string& out) const
    {
        if (header)
            header->serialize_to(out);
        for (auto const& b : batches)
            b.serialize_to(out);
        if (trailer)
            trailer->serialize_to(out);
    }
};

/// The batch's text: every segment followed by CR.
inline std::string
to_string(batch const& b)
{
    std::string out;
    b.serialize_to(out);
    return out;
}

/// The file's text: every segment followed by CR.
inline std::string
to_string(file const& f)
{
    std::string out;
    f.serialize_to(out);
    return out;
}

inline std::ostream&
operator<<(std::ostream& os, batch const& b)
{
    return os << to_string(b);
}

inline std::ostream&
operator<<(std::ostream& os, file const& f)
{
    return os << to_string(f);
}

namespace detail {

enum class batch_kind : unsigned char { msh, bhs, bts, fhs, fts, other };

/// What a segment is, by its first three bytes (as python-hl7 decides).
inline batch_kind
batch_classify(std::string_view seg) noexcept
{
    if (seg.size() < 3)
        return batch_kind::other;
    std::string_view const id = seg.substr(0, 3);
    if (id == "MSH")
        return batch_kind::msh;
    if (id == "BHS")
        return batch_kind::bhs;
    if (id == "BTS")
        return batch_kind::bts;
    if (id == "FHS")
        return batch_kind::fhs;
    if (id == "FTS")
        return batch_kind::fts;
    return batch_kind::other;
}

/// One non-empty line: content [begin, end), next line at `next`.
struct batch_line
{
    std::size_t begin;
    std::size_t end;
    std::size_t next;
    batch_kind kind;
};

[[noreturn]] inline void
batch_throw(error e, std::size_t offset, std::size_t segment, std::string const& why)
{
    auto const ec = make_error_code(e);
    // `why` says what went wrong (what() is exactly this text).
    std::string const what = why + " " + error_position(offset, segment);
    switch (e) {
    case error::duplicate_batch_header:
    case error::duplicate_file_header:
    case error::segment_before_header:
    case error::unexpected_trailer: throw batch_error(ec, offset, segment, what);
    default: throw parse_error(ec, offset, segment, what);
    }
}

/// The non-empty lines of `text`, with the size and segment limits applied.
inline std::vector<batch_line>
batch_split(std::string_view text, parse_options const& opts)
{
    if (text.size() > opts.max_message_size)
        batch_throw(error::message_too_large, opts.max_message_size, 0,
                    "input of " + std::to_string(text.size()) + " bytes exceeds the limit of " +
                        std::to_string(opts.max_message_size));
    std::vector<batch_line> lines;
    for_each_line(text, line_breaks::for_options(opts.strict_terminators), [&](line const& l) {
        if (l.begin == l.end) {
            if (!opts.allow_empty_segments)
                batch_throw(error::empty_segment, l.begin, lines.size() + 1, "empty line");
            return true;
        }
        if (lines.size() >= opts.max_segments)
            batch_throw(error::too_many_segments, l.begin, lines.size() + 1,
                        "more than " + std::to_string(opts.max_segments) + " segments");
        lines.push_back(batch_line{l.begin, l.end, l.next, batch_classify(text.substr(l.begin, l.end - l.begin))});
        return true;
    });
    return lines;
}

/// Which lines form which batch, message, header and trailer.
struct batch_plan
{
    struct span
    {
        std::size_t first; // line index of the MSH
        std::size_t last;  // line index of the message's last segment
    };
    struct one_batch
    {
        std::optional<std::size_t> header;
        std::optional<std::size_t> trailer;
        std::vector<span> messages;
    };
    std::optional<std::size_t> header;
    std::optional<std::size_t> trailer;
    std::vector<one_batch> batches;
};

/** The structure of `lines` (see the error table in the file comment).
    `file_mode` false is parse_batch: one batch, no FHS/FTS. */
inline batch_plan
batch_make_plan(std::vector<batch_line> const& lines, bool file_mode)
{
    batch_plan plan;
    bool open = false;          // plan.batches.back() takes messages
    bool open_explicit = false; // ... and was opened by a BHS
    bool in_message = false;    // its last message takes segments
    bool file_closed = false;   // an FTS was seen
    bool batch_closed = false;  // parse_batch: a BTS was seen

    for (std::size_t i = 0; i < lines.size(); ++i) {
        auto const& l = lines[i];
        auto fail = [&](error e, std::string const& why) { batch_throw(e, l.begin, i + 1, why); };
        if (file_closed)
            fail(error::unexpected_trailer, "segment after the FTS file trailer");
        if (batch_closed) {
            if (l.kind == batch_kind::bhs)
                fail(error::duplicate_batch_header, "batch cannot have more than one BHS segment");
            fail(error::unexpected_trailer, "segment after the BTS batch trailer");
        }
        switch (l.kind) {
        case batch_kind::fhs:
            if (!file_mode)
                fail(error::segment_before_header, "FHS file header in a batch (use parse_file or parse_hl7)");
            if (plan.header)
                fail(error::duplicate_file_header, "file cannot have more than one FHS segment");
            if (i != 0)
                fail(error::segment_before_header, "FHS file header is not the first segment");
            plan.header = i;
            break;
        case batch_kind::fts:
            if (!file_mode)
                fail(error::unexpected_trailer, "FTS file trailer in a batch (use parse_file or parse_hl7)");
            if (i == 0)
                fail(error::unexpected_trailer, "FTS file trailer with nothing before it");
            plan.trailer = i;
            file_closed = true;
            open = in_message = false;
            break;
        case batch_kind::bhs:
            if (open && open_explicit)
                fail(error::duplicate_batch_header, "batch cannot have more than one BHS segment");
            if (!file_mode && !plan.batches.empty())
                fail(error::segment_before_header, "message before the BHS batch header");
            plan.batches.emplace_back();
            plan.batches.back().header = i;
            open = open_explicit = true;
            in_message = false;
            break;
        case batch_kind::bts:
            if (!open)
                fail(error::unexpected_trailer, "BTS batch trailer with no BHS or message before it");
            plan.batches.back().trailer = i;
            open = in_message = false;
            batch_closed = !file_mode;
            break;
        case batch_kind::msh:
            if (!open) {
                plan.batches.emplace_back();
                open = true;
                open_explicit = false;
            }
            plan.batches.back().messages.push_back({i, i});
            in_message = true;
            break;
        case batch_kind::other:
            if (!in_message)
                fail(error::segment_before_header, "segment received before message header");
            plan.batches.back().messages.back().last = i;
            break;
        }
    }
    return plan;
}

class batch_builder
{
public:
    batch_builder(std::string_view text, std::vector<batch_line> const& lines, parse_options const& opts)
        : text_(text), lines_(lines), opts_(opts)
    {
    }

    /// A header (MSH-like) segment as a one-segment message.
    message
    header(std::size_t line) const
    {
        auto const& l = lines_[line];
        return parse_part(l.begin, l.end);
    }

    /// A message: its lines, from the MSH through the terminator of its last segment.
    message
    msg(batch_plan::span s) const
    {
        return parse_part(lines_[s.first].begin, lines_[s.last].next);
    }

    /// A trailer segment as a one-segment message with delimiters `seps`.
    message
    trailer(std::size_t line, separators const& seps) const
    {
        auto const& l = lines_[line];
        std::string_view const content = text_.substr(l.begin, l.end - l.begin);
        auto const fields = static_cast<std::size_t>(std::count(content.begin(), content.end(), seps.field));
        if (fields > opts_.max_fields)
            batch_throw(error::too_many_fields, l.begin, line + 1,
                        "more than " + std::to_string(opts_.max_fields) + " fields");
        message out(seps);
        try {
            out.append_segment(content);
        }
        catch (parse_error const& e) {
            batch_throw(static_cast<error>(e.code().value()), l.begin + std::min(e.offset(), content.size()),
                        line + 1, "malformed trailer segment: " + e.code().message());
        }
        return out;
    }

private:
    message
    parse_part(std::size_t begin, std::size_t end) const
    {
        message out;
        std::error_code ec;
        std::size_t offset = 0;
        parse_into(out, text_.substr(begin, end - begin), ec, opts_, &offset);
        if (ec) {
            std::size_t const at = begin + offset;
            batch_throw(static_cast<error>(ec.value()), at, segment_at(at),
                        ec.message() + " in the message starting at byte " + std::to_string(begin) + ",");
        }
        return out;
    }

    /// 1-based number of the segment containing byte `offset`.
    std::size_t
    segment_at(std::size_t offset) const
    {
        auto it = std::upper_bound(lines_.begin(), lines_.end(), offset,
                                   [](std::size_t o, batch_line const& l) { return o < l.begin; });
        return static_cast<std::size_t>(it - lines_.begin());
    }

    std::string_view text_;
    std::vector<batch_line> const& lines_;
    parse_options const& opts_;
};

inline batch
batch_build(batch_builder const& b, batch_plan::one_batch const& pb, separators const* outer)
{
    batch out;
    if (pb.header)
        out.header = b.header(*pb.header);
    out.messages.reserve(pb.messages.size());
    for (auto const& s : pb.messages)
        out.messages.push_back(b.msg(s));
    if (pb.trailer) {
        separators const seps = out.header             ? out.header->delimiters()
                                : !out.messages.empty() ? out.messages.back().delimiters()
                                : outer                 ? *outer
                                                        : separators{};
        out.trailer = b.trailer(*pb.trailer, seps);
    }
    return out;
}

/// Counts of segment kinds at segment starts, for ishl7/isbatch/isfile.
struct batch_survey
{
    batch_kind first = batch_kind::other;
    batch_kind last = batch_kind::other;
    std::size_t first_size = 0;
    bool any = false;
    std::size_t msh = 0, bhs = 0, bts = 0, fhs = 0, fts = 0;

    batch_survey(std::string_view text, bool strict)
    {
        for_each_line(text, line_breaks::for_options(strict), [&](line const& l) {
            if (l.begin == l.end)
                return true;
            auto const kind = batch_classify(text.substr(l.begin, l.end - l.begin));
            if (!any) {
                any = true;
                first = kind;
                first_size = l.end - l.begin;
            }
            last = kind;
            switch (kind) {
            case batch_kind::msh: ++msh; break;
            case batch_kind::bhs: ++bhs; break;
            case batch_kind::bts: ++bts; break;
            case batch_kind::fhs: ++fhs; break;
            case batch_kind::fts: ++fts; break;
            case batch_kind::other: break;
            }
            return true;
        });
    }

    bool
    is_message() const noexcept
    {
        return first == batch_kind::msh && first_size >= 4 && msh == 1 && bhs + bts + fhs + fts == 0;
    }

    // One batch: no file segments, a BHS only first, a BTS only last.
    bool
    is_batch() const noexcept
    {
        return fhs == 0 && fts == 0 && bhs <= 1 && bts <= 1 && (bhs == 0 || first == batch_kind::bhs) &&
               (bts == 0 || last == batch_kind::bts) && (msh > 1 || bhs == 1 || bts == 1);
    }

    // Anything with file, batch or several message headers that is not one message.
    bool
    is_file() const noexcept
    {
        return !is_message() && (fhs > 0 || fts > 0 || bhs > 0 || bts > 0 || msh > 1);
    }
};

} // namespace detail

/** Parse a batch: `[BHS] {MSH ...} [BTS]`.

    Empty input (or only line breaks) is an empty batch. Each message keeps
    its own delimiters. See the file comment for the rules and errors.

    @throws hl7::batch_error for a structure problem, hl7::parse_error for a
    problem inside a segment or a breached limit.
*/
inline batch
parse_batch(std::string_view text, parse_options const& opts = {})
{
    auto const lines = detail::batch_split(text, opts);
    auto const plan = detail::batch_make_plan(lines, false);
    if (plan.batches.empty())
        return batch{};
    detail::batch_builder const builder(text, lines, opts);
    return detail::batch_build(builder, plan.batches.front(), nullptr);
}

/// As parse_batch(text, opts), reporting failure through `ec` (and returning an empty batch).
inline batch
parse_batch(std::string_view text, std::error_code& ec, parse_options const& opts = {})
{
    ec.clear();
    try {
        return parse_batch(text, opts);
    }
    catch (parse_error const& e) {
        ec = e.code();
        return batch{};
    }
}

/** Parse a file: `[FHS] {[BHS] {MSH ...} [BTS]} [FTS]`.

    Messages outside a BHS ... BTS pair form a header-less batch where they
    stand. Empty input is an empty file. See the file comment for the rules
    and errors.

    @throws hl7::batch_error for a structure problem, hl7::parse_error for a
    problem inside a segment or a breached limit.
*/
inline file
parse_file(std::string_view text, parse_options const& opts = {})
{
    auto const lines = detail::batch_split(text, opts);
    auto const plan = detail::batch_make_plan(lines, true);
    detail::batch_builder const builder(text, lines, opts);
    file out;
    if (plan.header)
        out.header = builder.header(*plan.header);
    separators const* const outer = out.header ? &out.header->delimiters() : nullptr;
    out.batches.reserve(plan.batches.size());
    for (auto const& pb : plan.batches)
        out.batches.push_back(detail::batch_build(builder, pb, outer));
    if (plan.trailer)
        out.trailer = builder.trailer(*plan.trailer, outer ? *outer : separators{});
    return out;
}

/// As parse_file(text, opts), reporting failure through `ec` (and returning an empty file).
inline file
parse_file(std::string_view text, std::error_code& ec, parse_options const& opts = {})
{
    ec.clear();
    try {
        return parse_file(text, opts);
    }
    catch (parse_error const& e) {
        ec = e.code();
        return file{};
    }
}

/** True when `text` looks like one HL7 message: its first segment is an
    MSH with at least a field separator, and no other segment starts with
    MSH, BHS, BTS, FHS or FTS. Cursory, like python-hl7's: the message may
    still fail to parse. Leading line breaks are skipped. */
inline bool
ishl7(std::string_view text)
{
    return detail::batch_survey(text, false).is_message();
}

/** True when `text` looks like one batch: no FHS or FTS, at most one BHS
    and only as the first segment, at most one BTS and only as the last, and
    a BHS, a BTS or more than one MSH. Only segment starts count (python-hl7
    counts `MSH` anywhere, even inside field data). */
inline bool
isbatch(std::string_view text)
{
    return detail::batch_survey(text, false).is_batch();
}

/** True when `text` looks like a file: not one message (ishl7), and an
    FHS, FTS, BHS or BTS or more than one MSH at a segment start. As in
    python-hl7, everything isbatch() accepts is also a file. */
inline bool
isfile(std::string_view text)
{
    return detail::batch_survey(text, false).is_file();
}

/** Parse `text` as whatever it is: a message if ishl7(), else a batch if
    isbatch(), else a file if isfile(). Text that is none of these goes to
    hl7::parse, whose error says why (empty_message, no_header, ...).
    Segment starts are found with `opts.strict_terminators` honoured. */
inline std::variant<message, batch, file>
parse_hl7(std::string_view text, parse_options const& opts = {})
{
    detail::batch_survey const survey(text, opts.strict_terminators);
    if (survey.is_message())
        return parse(text, opts);
    if (survey.is_batch())
        return parse_batch(text, opts);
    if (survey.is_file())
        return parse_file(text, opts);
    return parse(text, opts);
}

} // namespace hl7

#endif
