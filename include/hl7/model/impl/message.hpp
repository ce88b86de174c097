#ifndef HL7_IMPL_MESSAGE_HPP
#define HL7_IMPL_MESSAGE_HPP

// Definitions for hl7/message.hpp: the parse engine, reading by path, and
// editing. Included at the end of message.hpp.

#include <hl7/parser/detail/message_builder.hpp>
#include <hl7/parser/detail/scanner.hpp>

#include <algorithm>
#include <ostream>
#include <utility>

namespace hl7 {

//--------------------------------------------------------------------------
// Parse engine

namespace detail {

inline std::size_t
message_builder::index_segment(message& m, delimiter_scanner const& scanner, std::size_t begin,
                               parse_options const& opts, parse_failure& fail)
{
    std::string_view const text = m.text_;
    char const field_sep = m.seps_.field;
    std::size_t const seg_number = m.segments_.size() + 1;
    auto failed = [&](error e, std::size_t at) {
        fail.ec = make_error_code(e);
        fail.offset = at;
        fail.segment = seg_number;
        return at;
    };
    auto u32 = [](std::size_t v) { return static_cast<std::uint32_t>(v); };
    std::uint32_t const first_field = u32(m.fields_.size());

    std::string_view const id = text.substr(begin, segment_id_length(text.substr(begin), field_sep, scanner.breaks()));
    if (id.empty())
        return failed(error::empty_segment, begin);
    if (opts.validate_segment_ids && !is_valid_segment_id(id))
        return failed(error::invalid_segment_id, begin);
    std::size_t q = begin + id.size();
    m.fields_.push_back(field_rec{u32(begin), u32(q), u32(m.marks_.size()), 0});

    if (q < text.size() && text[q] == field_sep) {
        ++q;
        if (is_header_id(id)) {
            // MSH-1 is the separator itself; MSH-2 the encoding characters,
            // which are never split.
            m.fields_.push_back(field_rec{u32(q - 1), u32(q), u32(m.marks_.size()), 0});
            std::size_t const e = field_end(text, q, field_sep, scanner.breaks());
            m.fields_.push_back(field_rec{u32(q), u32(e), u32(m.marks_.size()), 0});
            q = e;
            if (q == text.size() || text[q] != field_sep)
                goto done;
            ++q;
        }
        std::size_t const field_limit = opts.max_fields + 1 + first_field; // +1: the id
        field_indexer fields{m.fields_, m.marks_, q, u32(m.marks_.size()), field_limit};
        q = scanner.scan(text, q, fields);
        if (m.fields_.size() <= field_limit)
            fields.finish(q);
        if (m.fields_.size() > field_limit)
            return failed(error::too_many_fields, q);
    }
done:
    m.segments_.push_back(segment_rec{u32(begin), u32(q), first_field, u32(m.fields_.size()) - first_field});
    return q;
}

inline parse_failure
message_builder::parse(message& m, std::string_view text, parse_options const& opts)
{
    parse_failure fail;
    m.segments_.clear();
    m.fields_.clear();
    m.marks_.clear();
    m.dead_bytes_ = 0;
    m.contiguous_ = true;
    m.seps_ = separators{};
    m.lf_is_data_ = opts.strict_terminators;

    std::size_t const max_size = std::min(opts.max_message_size, max_indexed_size);
    if (text.size() > max_size) {
        m.text_.clear();
        fail.ec = make_error_code(error::message_too_large);
        fail.offset = max_size;
        return fail;
    }
    m.text_.assign(text.data(), text.size());
    std::string_view const d = m.text_;
    std::size_t const n = d.size();
    line_breaks const breaks = line_breaks::for_options(opts.strict_terminators);

    std::size_t pos = opts.allow_empty_segments ? skip_breaks(d, 0, breaks) : 0;
    if (pos == n) {
        fail.ec = make_error_code(error::empty_message);
        return fail;
    }
    if (pos != 0)
        m.contiguous_ = false;

    // The header declares the delimiters.
    if (!starts_with_header_id(d.substr(pos))) {
        // "M" or "MS" alone is a header cut short; anything else is no header.
        bool const cut_short = n - pos < 3 && std::string_view("MSH").starts_with(d.substr(pos));
        fail.ec = make_error_code(cut_short ? error::truncated_header : error::no_header);
        fail.offset = pos;
        fail.segment = 1;
        return fail;
    }
    std::size_t header_end = 0;
    if (auto ec = read_delimiters(d.substr(pos), m.seps_, header_end)) {
        fail.ec = ec;
        fail.offset = pos + (ec == error::truncated_header ? std::min<std::size_t>(3, n - pos) : 3);
        fail.segment = 1;
        return fail;
    }

    // Reserve by typical density (about one field per 8 bytes and one
    // sub-field mark per 16); growth beyond that is amortised.
    m.segments_.reserve(n / 64 + 4);
    m.fields_.reserve(n / 8 + 16);
    m.marks_.reserve(n / 16 + 16);

    delimiter_scanner const scanner(m.seps_, breaks);
    for (;;) {
        if (m.segments_.size() == opts.max_segments) {
            fail.ec = make_error_code(error::too_many_segments);
            fail.offset = pos;
            fail.segment = m.segments_.size() + 1;
            return fail;
        }
        std::size_t const end = index_segment(m, scanner, pos, opts, fail);
        if (fail.ec)
            return fail;
        pos = end;
        if (pos == n) {
            m.contiguous_ = false; // no terminator after the last segment
            break;
        }
        // One line break; anything but a lone CR is rewritten on output.
        std::size_t const size = break_size(d, pos, breaks);
        if (size != 1 || d[pos] != segment_terminator)
            m.contiguous_ = false;
        pos += size;
        // Empty lines.
        std::size_t const blank = pos;
        pos = skip_breaks(d, pos, breaks);
        if (pos != blank) {
            if (!opts.allow_empty_segments) {
                fail.ec = make_error_code(error::empty_segment);
                fail.offset = blank;
                fail.segment = m.segments_.size() + 1;
                return fail;
            }
            m.contiguous_ = false;
        }
        if (pos == n)
            break;
    }
    if (m.contiguous_ && !m.segments_.empty() && m.segments_.front().begin != 0)
        m.contiguous_ = false;
    return fail;
}

inline segment_rec
message_builder::append_indexed(message& m, std::string_view text, parse_failure& fail)
{
    if (m.text_.size() + text.size() > max_indexed_size) {
        fail.ec = make_error_code(error::message_too_large);
        return {};
    }
    std::size_t const begin = m.text_.size();
    m.text_.append(text);
    parse_options opts;
    opts.max_fields = std::size_t{1} << 30; // an edit is bounded by the message size instead
    delimiter_scanner const scanner(m.seps_, line_breaks::for_options(m.lf_is_data_));
    std::size_t const end = index_segment(m, scanner, begin, opts, fail);
    if (!fail.ec && end != m.text_.size()) {
        fail.ec = make_error_code(error::embedded_terminator);
        fail.offset = end - begin;
    }
    if (fail.ec) {
        // Undo: drop the partial index and text.
        if (m.segments_.size() && m.segments_.back().begin == begin)
            m.segments_.pop_back();
        m.text_.resize(begin);
        return {};
    }
    segment_rec rec = m.segments_.back();
    m.segments_.pop_back();
    return rec;
}

} // namespace detail

//--------------------------------------------------------------------------
// Views

inline std::string
component_view::value() const
{
    return node_.decoded();
}

inline std::string
repetition_view::value() const
{
    return node_.decoded();
}

inline std::string
field_view::value() const
{
    return node_.decoded();
}

inline std::string_view
segment_view::raw() const noexcept
{
    auto const& rec = msg_->segments_[index_];
    return std::string_view(msg_->text_.data() + rec.begin, rec.end - rec.begin);
}

inline std::size_t
segment_view::size() const noexcept
{
    return msg_->segments_[index_].field_count - 1;
}

inline field_view
segment_view::field(std::size_t n) const noexcept
{
    return field_view(msg_->field_node(index_, n));
}

//--------------------------------------------------------------------------
// message: lookup

inline detail::node
message::field_node(std::uint32_t segment_index, std::size_t n) const noexcept
{
    auto const& seg = segments_[segment_index];
    if (n >= seg.field_count)
        return detail::node{};
    auto const& f = fields_[seg.first_field + n];
    detail::node out;
    out.text = text_.data();
    out.begin = f.begin;
    out.end = f.end;
    out.marks = marks_.data() + f.first_mark;
    out.mark_count = f.mark_count;
    out.seps = &seps_;
    out.raw_only = (n == 1 || n == 2) && detail::is_header_id(segment_id(segment_index));
    return out;
}

inline std::string_view
message::segment_id(std::uint32_t segment_index) const noexcept
{
    auto const& f = fields_[segments_[segment_index].first_field];
    return std::string_view(text_.data() + f.begin, f.end - f.begin);
}

inline std::uint32_t
message::find_segment(std::string_view id, std::size_t nth) const noexcept
{
    std::size_t seen = 0;
    for (std::uint32_t i = 0; i < segments_.size(); ++i)
        if (segment_id(i) == id && ++seen == nth)
            return i;
    return static_cast<std::uint32_t>(-1);
}

inline segment_view
message::segment_at(std::size_t position) const
{
    if (position == 0 || position > segments_.size())
        throw path_error(make_error_code(error::index_out_of_range), "segment " + std::to_string(position));
    return segment_view(this, static_cast<std::uint32_t>(position - 1));
}

inline segment_view
message::segment(std::string_view id, std::size_t nth) const
{
    auto i = find_segment(id, nth);
    if (i == static_cast<std::uint32_t>(-1))
        throw path_error(make_error_code(error::segment_not_found),
                         std::string(id) + (nth != 1 ? std::to_string(nth) : std::string()));
    return segment_view(this, i);
}

inline std::vector<segment_view>
message::segments(std::string_view id) const
{
    std::vector<segment_view> out;
    for (std::uint32_t i = 0; i < segments_.size(); ++i)
        if (segment_id(i) == id)
            out.push_back(segment_view(this, i));
    return out;
}

inline bool
message::has_segment(std::string_view id) const noexcept
{
    return find_segment(id, 1) != static_cast<std::uint32_t>(-1);
}

inline message::const_iterator
message::begin() const noexcept
{
    return const_iterator(this, 0);
}

inline message::const_iterator
message::end() const noexcept
{
    return const_iterator(this, static_cast<std::uint32_t>(segments_.size()));
}

//--------------------------------------------------------------------------
// message: reading by path

struct message::resolved
{
    detail::node node; // the element, or absent (reads as "")
};

inline message::resolved
message::resolve(path const& p, std::error_code& ec) const noexcept
{
    ec = {};
    resolved out;
    auto const si = find_segment(p.segment, p.segment_num);
    if (si == static_cast<std::uint32_t>(-1)) {
        ec = make_error_code(error::segment_not_found);
        return out;
    }
    if (p.depth == 0) {
        ec = make_error_code(error::invalid_path);
        return out;
    }
    std::size_t const r = p.repetition ? p.repetition : 1;
    std::size_t const c = p.component ? p.component : 1;
    std::size_t const s = p.subcomponent ? p.subcomponent : 1;

    // The two reading rules of python-hl7's accessor documentation: where
    // the tree is deeper than the path, follow first children; where it
    // ends first, the rest of the path must be all 1s to return the value
    // reached, and otherwise the part is absent and reads as blank.
    detail::node node = field_node(si, p.field);
    std::size_t const below[3] = {r, c, s};
    std::uint32_t const kinds[3] = {detail::repetition_mark, detail::component_mark, detail::subcomponent_mark};
    for (int level = 0; level < 3 && node.present(); ++level) {
        bool const leaf = node.mark_count == 0;
        if (leaf) {
            for (int rest = level; rest < 3; ++rest)
                if (below[rest] != 1)
                    return out;
            break;
        }
        node = node.child(kinds[level], below[level]);
    }
    out.node = node;
    return out;
}

inline std::string_view
message::raw(std::string_view path_text, std::error_code& ec) const noexcept
{
    path const p = parse_path(path_text, ec);
    if (ec)
        return {};
    return resolve(p, ec).node.raw();
}

inline std::string_view
message::raw(std::string_view path_text) const
{
    std::error_code ec;
    auto v = raw(path_text, ec);
    if (ec)
        throw path_error(ec, std::string(path_text));
    return v;
}

inline std::string
message::get(std::string_view path_text, std::error_code& ec) const
{
    path const p = parse_path(path_text, ec);
    if (ec)
        return {};
    auto const r = resolve(p, ec);
    return ec ? std::string() : r.node.decoded();
}

inline std::string
message::get(std::string_view path_text) const
{
    std::error_code ec;
    auto v = get(path_text, ec);
    if (ec)
        throw path_error(ec, std::string(path_text));
    return v;
}

inline std::string
message::extract_field(std::string_view segment_id, std::size_t segment_num, std::size_t field,
                       std::size_t repetition, std::size_t component, std::size_t subcomponent) const
{
    // python-hl7 reads an unspecified position as 1 (`field_num or 1`).
    path const p = make_path(segment_id, segment_num, field ? field : 1, repetition ? repetition : 1,
                             component ? component : 1, subcomponent ? subcomponent : 1);
    std::error_code ec;
    auto const r = resolve(p, ec);
    if (ec)
        throw path_error(ec, hl7::to_string(p));
    return r.node.decoded();
}

//--------------------------------------------------------------------------
// message: editing

namespace detail {

// The byte range [b, e) of child `index` (1-based) of text[b, e) split on
// `sep`, appending separators at `e` (and shifting) when it does not exist.
// Returns the new range; `text` may grow.
inline std::pair<std::size_t, std::size_t>
ensure_child(std::string& text, std::size_t b, std::size_t e, char sep, std::size_t index)
{
    auto const span = find_piece(text, b, e, sep, index);
    if (span.found)
        return {span.begin, span.end};
    std::size_t const missing = index - span.pieces;
    text.insert(e, missing, sep);
    return {e + missing, e + missing};
}

} // namespace detail

inline void
message::replace_segment_text(std::uint32_t index, std::string_view text)
{
    detail::parse_failure fail;
    auto const old = segments_[index];
    auto rec = detail::message_builder::append_indexed(*this, text, fail);
    if (fail.ec)
        throw parse_error(fail.ec, fail.offset, index + 1);
    segments_[index] = rec;
    dead_bytes_ += old.end - old.begin;
    contiguous_ = false;
    compact_if_wasteful();
}

inline void
message::compact_if_wasteful()
{
    if (dead_bytes_ < 4096 || dead_bytes_ < text_.size() / 2)
        return;
    message fresh(seps_);
    fresh.lf_is_data_ = lf_is_data_;
    for (std::uint32_t i = 0; i < segments_.size(); ++i) {
        detail::parse_failure fail;
        auto rec = detail::message_builder::append_indexed(fresh, std::string_view(text_).substr(
                                                                      segments_[i].begin,
                                                                      segments_[i].end - segments_[i].begin),
                                                           fail);
        fresh.segments_.push_back(rec);
    }
    fresh.contiguous_ = false;
    *this = std::move(fresh);
}

inline void
message::set(std::string_view path_text, std::string_view raw_value)
{
    set(parse_path(path_text), raw_value, path_text);
}

inline void
message::set(path const& p, std::string_view raw_value, std::string_view path_text)
{
    auto const si = find_segment(p.segment, p.segment_num);
    if (si == static_cast<std::uint32_t>(-1))
        throw path_error(make_error_code(error::segment_not_found), std::string(path_text));
    if (p.depth == 0)
        throw path_error(make_error_code(error::invalid_path), std::string(path_text));
    auto const& seg = segments_[si];
    std::string text(text_.data() + seg.begin, seg.end - seg.begin);
    std::size_t const id_len = segment_id(si).size();
    bool const header = detail::is_header_id(segment_id(si));
    if (p.field == 0 || (header && (p.field == 1 || p.field == 2)))
        throw path_error(make_error_code(p.field == 0 ? error::invalid_path : error::read_only_field),
                         std::string(path_text));

    // Split only after the id (a letter used as field separator may occur in it).
    if (text.size() == id_len)
        text += seps_.field; // a segment that has only its id
    auto [b, e] = detail::ensure_child(text, id_len + 1, text.size(), seps_.field, detail::field_piece(p.field, header));
    if (p.depth >= 2) {
        std::tie(b, e) = detail::ensure_child(text, b, e, seps_.repetition, p.repetition);
        if (p.depth >= 3) {
            std::tie(b, e) = detail::ensure_child(text, b, e, seps_.component, p.component);
            if (p.depth >= 4)
                std::tie(b, e) = detail::ensure_child(text, b, e, seps_.subcomponent, p.subcomponent);
        }
    }
    text.replace(b, e - b, raw_value);
    try {
        replace_segment_text(si, text);
    }
    catch (parse_error const& e) {
        throw path_error(e.code(), std::string(path_text));
    }
}

inline void
message::set_escaped(std::string_view path_text, std::string_view text)
{
    set(path_text, escape(text));
}

inline void
message::assign_field(std::string_view value, std::string_view segment_id, std::size_t segment_num,
                      std::size_t field, std::size_t repetition, std::size_t component,
                      std::size_t subcomponent)
{
    path const p = make_path(segment_id, segment_num, field, repetition, component, subcomponent);
    set(p, value, hl7::to_string(p));
}

inline void
message::append_segment(std::string_view text)
{
    insert_segment(segments_.size() + 1, text);
}

inline void
message::insert_segment(std::size_t position, std::string_view text)
{
    if (position == 0 || position > segments_.size() + 1)
        throw path_error(make_error_code(error::index_out_of_range), "segment " + std::to_string(position));
    std::string generated;
    if (detail::is_header_id(text)) {
        // A bare header id: write its delimiters.
        generated.assign(text);
        generated += seps_.field;
        generated += seps_.encoding_characters();
        text = generated;
    }
    else if (segments_.empty() && detail::starts_with_header_id(text)) {
        // The first header of a message built from scratch declares the delimiters.
        std::size_t end = 0;
        separators s;
        if (auto ec = detail::read_delimiters(text, s, end))
            throw parse_error(ec, 3, 1);
        seps_ = s;
    }
    detail::parse_failure fail;
    auto rec = detail::message_builder::append_indexed(*this, text, fail);
    if (fail.ec)
        throw parse_error(fail.ec, fail.offset, position);
    segments_.insert(segments_.begin() + static_cast<std::ptrdiff_t>(position - 1), rec);
    if (position != segments_.size() || !contiguous_ || text_.size() != rec.end) {
        contiguous_ = false;
    }
    else {
        // Appending at the end keeps the text contiguous once terminated.
        text_ += segment_terminator;
    }
}

inline void
message::remove_segment(std::size_t position)
{
    if (position == 0 || position > segments_.size())
        throw path_error(make_error_code(error::index_out_of_range), "segment " + std::to_string(position));
    auto const& rec = segments_[position - 1];
    dead_bytes_ += rec.end - rec.begin;
    segments_.erase(segments_.begin() + static_cast<std::ptrdiff_t>(position - 1));
    contiguous_ = false;
    compact_if_wasteful();
}

inline std::size_t
message::remove_segments(std::string_view id)
{
    std::size_t removed = 0;
    for (std::size_t i = segments_.size(); i > 0; --i) {
        if (segment_id(static_cast<std::uint32_t>(i - 1)) == id) {
            dead_bytes_ += segments_[i - 1].end - segments_[i - 1].begin;
            segments_.erase(segments_.begin() + static_cast<std::ptrdiff_t>(i - 1));
            ++removed;
        }
    }
    if (removed) {
        contiguous_ = false;
        compact_if_wasteful();
    }
    return removed;
}

inline std::size_t
message::append_repetition(std::string_view path_text, std::string_view raw_value)
{
    path const p = parse_path(path_text);
    if (p.depth != 1)
        throw path_error(make_error_code(error::invalid_path), std::string(path_text));
    auto const si = find_segment(p.segment, p.segment_num);
    if (si == static_cast<std::uint32_t>(-1))
        throw path_error(make_error_code(error::segment_not_found), std::string(path_text));
    field_view const f(field_node(si, p.field));
    if (f.empty()) {
        set(p, raw_value, path_text);
        return 1;
    }
    std::size_t const n = f.size() + 1;
    std::string value(f.raw());
    value += seps_.repetition;
    value += raw_value;
    set(p, value, path_text);
    return n;
}

//--------------------------------------------------------------------------
// message: serialising

inline void
message::serialize_to(std::string& out) const
{
    if (contiguous_) {
        out.append(text_);
        return;
    }
    std::size_t total = 0;
    for (auto const& s : segments_)
        total += s.end - s.begin + 1;
    out.reserve(out.size() + total);
    for (auto const& s : segments_) {
        out.append(text_.data() + s.begin, s.end - s.begin);
        out += segment_terminator;
    }
}

inline std::ostream&
operator<<(std::ostream& os, message const& m)
{
    return os << m.to_string();
}

inline std::string
to_string(segment_lines const& l)
{
    std::string out;
    for (segment_view const s : l.msg) {
        out += s.raw();
        out += '\n';
    }
    return out;
}

inline std::ostream&
operator<<(std::ostream& os, segment_lines const& l)
{
    return os << to_string(l);
}

//--------------------------------------------------------------------------
// message: the header as typed values

inline std::string_view
message::header_component(std::size_t n, std::size_t c) const noexcept
{
    if (segments_.empty() || segment_id(0) != "MSH")
        return {};
    return segment_view(this, 0).field(n).component(c).raw();
}

inline hd
message::header_hd(std::size_t n) const noexcept
{
    if (segments_.empty() || segment_id(0) != "MSH")
        return {};
    field_view const f = segment_view(this, 0).field(n);
    repetition_view const r = f.repetition(1);
    return hd{r.component(1).raw(), r.component(2).raw(), r.component(3).raw(), f.raw()};
}

inline std::string_view
message::message_type() const noexcept
{
    return header_component(9, 1);
}

inline std::string_view
message::trigger_event() const noexcept
{
    return header_component(9, 2);
}

inline std::string_view
message::message_structure() const noexcept
{
    return header_component(9, 3);
}

inline std::string_view
message::control_id() const noexcept
{
    return header_component(10, 1);
}

inline std::string_view
message::processing_id() const noexcept
{
    return header_component(11, 1);
}

inline std::string_view
message::version() const noexcept
{
    return header_component(12, 1);
}

inline hd
message::sending_application() const noexcept
{
    return header_hd(3);
}

inline hd
message::sending_facility() const noexcept
{
    return header_hd(4);
}

inline hd
message::receiving_application() const noexcept
{
    return header_hd(5);
}

inline hd
message::receiving_facility() const noexcept
{
    return header_hd(6);
}

inline std::string_view
message::accept_ack_type() const noexcept
{
    return header_component(15, 1);
}

inline std::string_view
message::application_ack_type() const noexcept
{
    return header_component(16, 1);
}

inline std::string_view
message::character_set() const noexcept
{
    return header_component(18, 1);
}

} // namespace hl7

#include <hl7/model/ack.hpp>

#endif
