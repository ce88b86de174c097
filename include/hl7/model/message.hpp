#ifndef HL7_MESSAGE_HPP
#define HL7_MESSAGE_HPP

#include <hl7/model/detail/message_index.hpp>
#include <hl7/model/error.hpp>
#include <hl7/model/escape.hpp>
#include <hl7/parser/parse_options.hpp>
#include <hl7/model/path.hpp>
#include <hl7/model/separators.hpp>

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace hl7 {

class message;
struct ack_options;

namespace detail {
struct message_builder;
} // namespace detail

//--------------------------------------------------------------------------
// Views. Cheap to copy; valid until the message they come from is edited,
// moved from or destroyed. raw() is the text as it stands in the message
// (escape sequences intact); value() decodes escape sequences.

/// A sub-component, component or repetition: a range of one field's text.
class component_view
{
public:
    component_view() = default;

    /// The escaped text as it stands in the message.
    std::string_view raw() const noexcept { return node_.raw(); }

    /// The text with escape sequences decoded.
    std::string value() const;

    /// False for a part past the end of its parent (it reads as empty).
    bool present() const noexcept { return node_.present(); }

    bool empty() const noexcept { return node_.begin == node_.end; }

    /// Number of sub-components (at least 1 when present).
    std::size_t size() const noexcept { return present() ? 1 + node_.count(detail::subcomponent_mark) : 0; }

    /// Sub-component `s` (1-based); empty past the end.
    component_view subcomponent(std::size_t s) const noexcept
    {
        return component_view(node_.child(detail::subcomponent_mark, s));
    }

private:
    friend class repetition_view;
    explicit component_view(detail::node n) noexcept : node_(n) {}
    detail::node node_;
};

/// One repetition of a field.
class repetition_view
{
public:
    repetition_view() = default;

    std::string_view raw() const noexcept { return node_.raw(); }
    std::string value() const;
    bool present() const noexcept { return node_.present(); }
    bool empty() const noexcept { return node_.begin == node_.end; }

    /// Number of components (at least 1 when present).
    std::size_t size() const noexcept { return present() ? 1 + node_.count(detail::component_mark) : 0; }

    /// Component `c` (1-based); empty past the end.
    component_view component(std::size_t c) const noexcept
    {
        return component_view(node_.child(detail::component_mark, c));
    }

    component_view operator[](std::size_t c) const noexcept { return component(c); }

private:
    friend class field_view;
    explicit repetition_view(detail::node n) noexcept : node_(n) {}
    detail::node node_;
};

/// One field of a segment, with all its repetitions.
class field_view
{
public:
    field_view() = default;

    std::string_view raw() const noexcept { return node_.raw(); }

    /// Decoded text (MSH-1 and MSH-2 are returned as they are).
    std::string value() const;

    /// False for a field past the end of its segment (it reads as empty).
    bool present() const noexcept { return node_.present(); }
    bool empty() const noexcept { return node_.begin == node_.end; }

    /// True for the HL7 explicit null `""`.
    bool is_null() const noexcept { return raw() == "\"\""; }

    /// Number of repetitions (at least 1 when present).
    std::size_t size() const noexcept { return present() ? 1 + node_.count(detail::repetition_mark) : 0; }

    /// Repetition `r` (1-based); empty past the end.
    repetition_view repetition(std::size_t r) const noexcept
    {
        return repetition_view(node_.child(detail::repetition_mark, r));
    }

    repetition_view operator[](std::size_t r) const noexcept { return repetition(r); }

    /// Component `c` of the first repetition.
    component_view component(std::size_t c) const noexcept { return repetition(1).component(c); }

private:
    friend class segment_view;
    friend class message;
    explicit field_view(detail::node n) noexcept : node_(n) {}
    detail::node node_;
};

/** One segment. Field n is HL7 field n for every segment: field 0 is the
    segment id and, for MSH/BHS/FHS, field 1 is the field separator and field 2
    the encoding characters. */
class segment_view
{
public:
    segment_view() = default;

    /// The segment id, e.g. "PID".
    std::string_view id() const noexcept { return field(0).raw(); }

    /// The segment's text without its terminator.
    std::string_view raw() const noexcept;

    /// The number of the last field present (0 when only the id is there).
    std::size_t size() const noexcept;

    /// Field `n`; empty (present() false) past the end.
    field_view field(std::size_t n) const noexcept;

    field_view operator[](std::size_t n) const noexcept { return field(n); }

    /// 1-based position of this segment in its message.
    std::size_t position() const noexcept { return index_ + 1; }

private:
    friend class message;
    segment_view(message const* m, std::uint32_t index) noexcept : msg_(m), index_(index) {}
    message const* msg_ = nullptr;
    std::uint32_t index_ = 0;
};

//--------------------------------------------------------------------------

/** A hierarchic designator (HL7 data type HD), as MSH-3 to MSH-6 hold one:
    `namespace id ^ universal id ^ universal id type`. Raw views of the
    message's text (escape sequences intact), valid as long as the views
    of the message they come from. Before v2.3 these fields are plain
    strings: the whole value is then `namespace_id`. */
struct hd
{
    std::string_view namespace_id{};      ///< HD.1, e.g. `LAB`
    std::string_view universal_id{};      ///< HD.2, e.g. an OID
    std::string_view universal_id_type{}; ///< HD.3, e.g. `ISO`
    std::string_view raw{};               ///< the whole field as it stands

    bool empty() const noexcept { return raw.empty(); }
};

/** An HL7 v2 message: segments of fields of repetitions of components of
    sub-components, with the delimiters its MSH declares.

    The message owns its text and keeps a flat index over it, so parsing
    costs a copy and one pass, and serialising an unedited message is a copy.
    Edits rewrite the one segment they touch.

    Indexing is 1-based everywhere, as in HL7; paths read like python-hl7's
    (`msg["PID.F3.R1.C1"]`, `msg["PID.3.1"]`, `msg["OBX2.5"]`).

    @par Thread safety
    Distinct objects: safe. Shared object: const members are safe to call
    concurrently; any edit needs exclusive access.
*/
class message
{
public:
    /// An empty message with the default delimiters `|^~\&`.
    message() = default;

    /// An empty message that will use `seps` (e.g. for building from scratch).
    explicit message(separators const& seps) : seps_(seps) {}

    separators const& delimiters() const noexcept { return seps_; }

    //----------------------------------------------------------------------
    // The header as typed values, so that nobody trips over path rules
    // (`msg["MSH.9"]` is only `ADT`; `MSH.9.2` is the second repetition).
    // Each reads the message's first segment when it is an MSH and returns
    // the raw text of one component (escape sequences intact: these are
    // codes and ids, which rarely hold any; unescape() decodes them): empty
    // when the field is empty or absent, or the first segment is not an MSH.
    // Views are valid until the message is edited, moved from or destroyed.

    /// MSH-9.1, the message code: `ADT` of `ADT^A01^ADT_A01`.
    std::string_view message_type() const noexcept;
    /// MSH-9.2, the trigger event: `A01`.
    std::string_view trigger_event() const noexcept;
    /// MSH-9.3, the message structure (v2.3.1 and later): `ADT_A01`.
    std::string_view message_structure() const noexcept;
    /// MSH-10, the message control id (what an ACK's MSA-2 echoes).
    std::string_view control_id() const noexcept;
    /// MSH-11.1, the processing id: `P` (production), `T` (training), `D` (debugging).
    std::string_view processing_id() const noexcept;
    /// MSH-12.1, the version id: `2.5.1` of `2.5.1^DEU&&HL70399`.
    std::string_view version() const noexcept;
    /// MSH-3, the sending application.
    hd sending_application() const noexcept;
    /// MSH-4, the sending facility.
    hd sending_facility() const noexcept;
    /// MSH-5, the receiving application.
    hd receiving_application() const noexcept;
    /// MSH-6, the receiving facility.
    hd receiving_facility() const noexcept;
    /// MSH-15, the accept acknowledgment type (table 0155: AL, NE, ER, SU; empty: not given).
    std::string_view accept_ack_type() const noexcept;
    /// MSH-16, the application acknowledgment type (table 0155).
    std::string_view application_ack_type() const noexcept;
    /// MSH-18's first repetition, the character set (table 0211; empty means
    /// ASCII). Further repetitions name ISO 2022 code extensions.
    std::string_view character_set() const noexcept;

    /// Number of segments.
    std::size_t size() const noexcept { return segments_.size(); }
    bool empty() const noexcept { return segments_.empty(); }

    /// The segment at 1-based `position`; throws path_error past the end.
    segment_view segment_at(std::size_t position) const;

    /// The `nth` (1-based) segment with this id; throws path_error if absent.
    segment_view segment(std::string_view id, std::size_t nth = 1) const;

    /// All segments with this id, in order (possibly none).
    std::vector<segment_view> segments(std::string_view id) const;

    bool has_segment(std::string_view id) const noexcept;

    /// Iteration over all segments, in order.
    class const_iterator;
    const_iterator begin() const noexcept;
    const_iterator end() const noexcept;

    //----------------------------------------------------------------------
    // Reading by path

    /** The decoded value at `path` ("PID.F3.R1.C1", "PID.3.1", "OBX2.5").

        The reading rules of python-hl7's accessor documentation: where the
        message is deeper than the path, the first child is followed down to
        a value (`PID.3` of `123^^^HOSP` is "123"); where it ends before the
        path does, the value reached is returned if every remaining position
        is 1 (`OBX.6.1.1` of `mg/dl` is "mg/dl"), and otherwise the part is
        absent. Absent parts read as "". MSH-1 and MSH-2 (and BHS/FHS) are
        returned raw; everything else has its escape sequences decoded.

        Throws path_error for a malformed path (`invalid_path`) or a segment
        the message does not have (`segment_not_found`).
    */
    std::string get(std::string_view path) const;

    /// As get(path), reporting failure through `ec` (and returning "").
    std::string get(std::string_view path, std::error_code& ec) const;

    std::string operator[](std::string_view path) const { return get(path); }

    /// The escaped text of the element at `path` (same rules as get).
    std::string_view raw(std::string_view path) const;
    std::string_view raw(std::string_view path, std::error_code& ec) const noexcept;

    /// python-hl7's extract_field with numbers; 0 means "not given".
    std::string extract_field(std::string_view segment_id, std::size_t segment_num = 1,
                              std::size_t field = 1, std::size_t repetition = 1,
                              std::size_t component = 1, std::size_t subcomponent = 1) const;

    //----------------------------------------------------------------------
    // Editing. Every edit invalidates views.

    /** Write `raw_value` verbatim (not escaped) at `path`, creating missing
        fields, repetitions, components and sub-components. Writing below a
        plain value turns it into the first child (python-hl7 issue #55).
        A path with only a field replaces the whole field. The segment must
        exist. Throws path_error; read_only_field for MSH-1/MSH-2. */
    void set(std::string_view path, std::string_view raw_value);

    /// As set(), but `text` is escaped with this message's delimiters first.
    void set_escaped(std::string_view path, std::string_view text);

    /// python-hl7's assign_field with numbers; 0 means "not given".
    void assign_field(std::string_view value, std::string_view segment_id, std::size_t segment_num = 1,
                      std::size_t field = 0, std::size_t repetition = 0, std::size_t component = 0,
                      std::size_t subcomponent = 0);

    /** Append one segment given as text ("PID|1||123") or a bare id ("PID").
        "MSH" alone becomes `MSH|^~\&` with this message's delimiters; a full
        header appended to an empty message sets the delimiters.
        Throws parse_error for text that is not one segment. */
    void append_segment(std::string_view text);

    /// Insert one segment before 1-based `position` (size()+1 appends).
    void insert_segment(std::size_t position, std::string_view text);

    /// Remove the segment at 1-based `position`.
    void remove_segment(std::size_t position);

    /// Remove every segment with this id; returns how many.
    std::size_t remove_segments(std::string_view id);

    /** Append `raw_value` (verbatim, not escaped) as a new repetition of the
        field at `field_path` (`PID.3`, `PID2.13`): after a `~` when the field
        has a value, as its only value when it is empty or absent. Returns
        the new repetition's number. Throws path_error: invalid_path for a
        path below field level, segment_not_found, read_only_field. */
    std::size_t append_repetition(std::string_view field_path, std::string_view raw_value);

    //----------------------------------------------------------------------

    /// Escape `text` with this message's delimiters (see hl7::escape).
    std::string escape(std::string_view text) const { return hl7::escape(text, seps_); }
    std::string escape(std::string_view text, escape_map const& app_map) const
    {
        return hl7::escape(text, seps_, app_map);
    }

    /// Decode escape sequences in `text` with this message's delimiters.
    std::string unescape(std::string_view text) const { return hl7::unescape(text, seps_); }
    std::string unescape(std::string_view text, escape_map const& app_map) const
    {
        return hl7::unescape(text, seps_, app_map);
    }

    /** An acknowledgement of this message, as python-hl7's create_ack: the
        sending and receiving application/facility swapped, MSH-7 now (UTC),
        MSH-9 `ACK^<trigger>^ACK` (`ACK` when MSH-9 has no trigger), MSH-10 a
        fresh control id unless given, MSH-11/MSH-12 copied, and
        `MSA|<code>|<MSH-10>`. Fields missing from a short MSH read as empty.
        Throws path_error (segment_not_found) if there is no MSH. */
    message create_ack(std::string_view code = "AA", std::optional<std::string> message_id = {},
                       std::optional<std::string> application = {},
                       std::optional<std::string> facility = {}) const;

    /// As above, with MSA-3 text and, for AE/AR, an ERR segment (see ack.hpp).
    message create_ack(ack_options const& options) const;

    /// Append the text to `out`: every segment followed by CR.
    void serialize_to(std::string& out) const;

    /// The text: every segment followed by CR.
    std::string to_string() const
    {
        std::string out;
        serialize_to(out);
        return out;
    }

private:
    friend class segment_view;
    friend struct detail::message_builder;

    // Component `c` of header field `n` (first repetition), raw; empty
    // unless the first segment is an MSH.
    std::string_view header_component(std::size_t n, std::size_t c) const noexcept;
    hd header_hd(std::size_t n) const noexcept;

    struct resolved;
    resolved resolve(path const& p, std::error_code& ec) const noexcept;
    void set(path const& p, std::string_view raw_value, std::string_view path_text);
    detail::node field_node(std::uint32_t segment_index, std::size_t n) const noexcept;
    std::string_view segment_id(std::uint32_t segment_index) const noexcept;
    std::uint32_t find_segment(std::string_view id, std::size_t nth) const noexcept;
    void replace_segment_text(std::uint32_t index, std::string_view text);
    void compact_if_wasteful();

    std::string text_;
    separators seps_;
    std::vector<detail::segment_rec> segments_;
    std::vector<detail::field_rec> fields_;
    std::vector<std::uint32_t> marks_;
    // True while text_ is exactly the serialisation (CR-terminated, unedited),
    // so serialising is one copy.
    bool contiguous_ = true;
    // Bytes of text_ that no segment refers to any more (after edits).
    std::size_t dead_bytes_ = 0;
    // Parsed with strict_terminators: LF is data, also in edited segments.
    bool lf_is_data_ = false;
};

class message::const_iterator
{
public:
    using iterator_category = std::random_access_iterator_tag;
    using value_type = segment_view;
    using difference_type = std::ptrdiff_t;
    using pointer = void;
    using reference = segment_view;

    const_iterator() = default;
    segment_view operator*() const noexcept { return segment_view(msg_, index_); }
    const_iterator& operator++() noexcept { ++index_; return *this; }
    const_iterator operator++(int) noexcept { auto t = *this; ++index_; return t; }
    const_iterator& operator--() noexcept { --index_; return *this; }
    const_iterator operator--(int) noexcept { auto t = *this; --index_; return t; }
    const_iterator& operator+=(difference_type n) noexcept { index_ += static_cast<std::uint32_t>(n); return *this; }
    const_iterator& operator-=(difference_type n) noexcept { index_ -= static_cast<std::uint32_t>(n); return *this; }
    friend const_iterator operator+(const_iterator i, difference_type n) noexcept { return i += n; }
    friend const_iterator operator+(difference_type n, const_iterator i) noexcept { return i += n; }
    friend const_iterator operator-(const_iterator i, difference_type n) noexcept { return i -= n; }
    friend difference_type operator-(const_iterator a, const_iterator b) noexcept
    {
        return static_cast<difference_type>(a.index_) - static_cast<difference_type>(b.index_);
    }
    segment_view operator[](difference_type n) const noexcept { return *(*this + n); }
    friend bool operator==(const_iterator a, const_iterator b) noexcept { return a.index_ == b.index_; }
    friend auto operator<=>(const_iterator a, const_iterator b) noexcept { return a.index_ <=> b.index_; }

private:
    friend class message;
    const_iterator(message const* m, std::uint32_t i) noexcept : msg_(m), index_(i) {}
    message const* msg_ = nullptr;
    std::uint32_t index_ = 0;
};

/// The message's text: every segment followed by CR.
inline std::string
to_string(message const& m)
{
    return m.to_string();
}

/// The message's text exactly as sent: every segment followed by CR. (A
/// terminal shows CR-separated segments on top of each other: for people,
/// print hl7::lines(m).)
std::ostream& operator<<(std::ostream& os, message const& m);

/// A message to be printed one segment per line (see hl7::lines).
struct segment_lines
{
    message const& msg;
};

/** For printing a message to people: `std::cout << hl7::lines(msg)` writes
    every segment followed by '\n' instead of HL7's CR. Only the
    terminator changes; bytes inside segments are written as they are. */
inline segment_lines
lines(message const& m) noexcept
{
    return segment_lines{m};
}

std::ostream& operator<<(std::ostream& os, segment_lines const& l);

/// The text of hl7::lines(m): every segment followed by '\n'.
std::string to_string(segment_lines const& l);

} // namespace hl7

#include <hl7/model/impl/message.hpp>

#endif
