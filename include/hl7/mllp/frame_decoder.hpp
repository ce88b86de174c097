#ifndef HL7_MLLP_FRAME_DECODER_HPP
#define HL7_MLLP_FRAME_DECODER_HPP

// Sans-I/O MLLP frame decoder: bytes in, complete payloads out. No Asio, no
// clocks, no sockets; the async operations, mllp::stream and the coroutine
// facade are thin loops around it, and it is tested with plain strings.

#include <hl7/mllp/error.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

namespace hl7::mllp {

/// Start block, VT (0x0B): begins a frame.
inline constexpr char start_block = '\x0b';
/// End block, FS (0x1C): followed by `carriage_return`, ends a frame.
inline constexpr char end_block = '\x1c';
/// CR (0x0D): the second byte of the frame trailer.
inline constexpr char carriage_return = '\x0d';

/** Default largest frame payload: 16 MiB.

    python-hl7 accepts 64 KiB (asyncio's default limit), too small for
    messages that carry documents or images as base64 in OBX-5; 16 MiB fits
    those and still bounds the memory one connection can make us hold.
*/
inline constexpr std::size_t default_max_frame_size = std::size_t{16} << 20;

/** What to do with bytes that are not inside a frame.

    @li `lenient` (the default everywhere): anything before a start block
    (VT) is skipped silently, including the stray CR/LF many senders write
    between frames. A VT *inside* a frame means the sender gave up on that
    frame and started again: the unfinished frame is dropped and decoding
    restarts at the new VT (`restarted_frames()` counts these). Nothing in
    an unterminated frame can have been acknowledged, so nothing acknowledged
    is lost. Real HL7 text never contains VT (control characters are escaped).

    @li `strict`: python-hl7's `readblock()`. Everything up to the next FS CR
    is one block; a block that does not begin with VT is reported as
    `error::invalid_block` (and consumed), so a stray newline before a frame
    makes that whole frame invalid. A VT inside a frame is payload.

    In both modes only the two-byte sequence FS CR ends a frame; a lone FS is
    payload. One bad frame never affects the frames after it.
*/
enum class framing : unsigned char { lenient, strict };

/** Incremental MLLP decoder (`VT payload FS CR`).

    Input goes in with `prepare()`/`commit()` (read straight into the
    decoder's buffer, no copy) or `put()` (copies). Output comes out of
    `next()`, one event per call:

    @li a payload (`std::optional` holds a view of the bytes between VT and
        FS CR, not including them);
    @li "need more input" (empty optional, `ec` clear);
    @li a bad block (empty optional, `ec` = `error::invalid_block` or
        `error::frame_too_large`). These are not fatal: the block is already
        consumed and the next call continues with whatever follows it;
    @li after `put_eof()`: `error::incomplete_frame` once if the input ended
        inside a frame (`partial()` holds its bytes), then `error::end_of_stream`
        for every later call.

    A payload can also be moved out as a `std::string` with `take()`: large
    payloads are handed over with the buffer they were read into, not copied
    (the zero-copy path of `stream_reader::readmessage()`).

    @par Size limit and memory
    A frame whose payload grows past `max_frame_size()` is not buffered any
    further: its bytes are dropped as they arrive until its FS CR, and then
    `error::frame_too_large` is reported once for it (in lenient mode also
    when a VT restarts decoding first, however the input was split). The buffer therefore never holds more
    than `max_frame_size() + 3` bytes of a frame plus one read's worth of
    input, however long the frame or the junk. A buffer that grew past 4 MiB
    is released once it is empty again.

    @par Lifetimes
    A payload view (and `partial()`) stays valid until the next call of
    `prepare()`, `put()`, `take()` or `reset()`; `next()` itself does not
    move data, so several payloads decoded from one input can be used
    together.

    @par Thread safety
    Distinct objects: safe. Shared objects: unsafe.
*/
class frame_decoder
{
public:
    /// Smallest free space `prepare()` offers (one read's worth).
    static constexpr std::size_t default_read_size = 4096;
    /// Initial allocation, made on the first `prepare()`/`put()`.
    static constexpr std::size_t initial_buffer_size = 16 * 1024;
    /// Larger buffers are released when they become empty.
    static constexpr std::size_t shrink_threshold = std::size_t{4} << 20;
    /// `take()` hands over payloads of at least this size without copying them.
    static constexpr std::size_t adopt_threshold = 64 * 1024;

    explicit frame_decoder(std::size_t max_frame_size = default_max_frame_size,
                           framing policy = framing::lenient) noexcept
        : max_(max_frame_size), policy_(policy)
    {
    }

    frame_decoder(frame_decoder&&) noexcept = default;
    frame_decoder& operator=(frame_decoder&&) noexcept = default;

    /// Largest payload accepted, in bytes (default 16 MiB).
    std::size_t
    max_frame_size() const noexcept
    {
        return max_;
    }

    /// Changes the limit; applies to the frame in progress too.
    void
    max_frame_size(std::size_t n) noexcept
    {
        max_ = n;
    }

    framing
    policy() const noexcept
    {
        return policy_;
    }

    /// Changes the junk policy; best done between frames.
    void
    policy(framing p) noexcept
    {
        policy_ = p;
    }

    //----------------------------------------------------------------------
    // Input

    /** Returns writable space for at least `n` more bytes (at least
        `default_read_size` when `n` is 0), usually more: read into all of it,
        then `commit()` what was read. Invalidates payload views.

        The bytes of a frame in progress are kept at the front of the buffer
        (moving at most what arrived with the frame's first read), so that a
        large payload can be handed over by `take()` as it is. */
    std::span<char>
    prepare(std::size_t n = 0)
    {
        if (n == 0)
            n = default_read_size;
        std::size_t const live = end_ - begin_;
        if (live == 0 && buf_.size() > shrink_threshold)
            std::string().swap(buf_);
        if (live == 0)
            begin_ = scan_ = end_ = 0;
        else if (begin_ != 0 && state_ == state::frame)
            slide();
        if (buf_.size() - end_ < n) {
            if (begin_ > 0 && buf_.size() - live >= n)
                slide(); // the undecoded bytes to the front instead of growing
            else
                grow(live + n);
        }
        return {buf_.data() + end_, buf_.size() - end_};
    }

    /// Makes `n` bytes written into the space from `prepare()` part of the input.
    void
    commit(std::size_t n) noexcept
    {
        end_ += std::min(n, buf_.size() - end_);
    }

    /// Copies `bytes` into the input (prepare + memcpy + commit).
    void
    put(std::string_view bytes)
    {
        if (bytes.empty())
            return;
        auto space = prepare(bytes.size());
        std::memcpy(space.data(), bytes.data(), bytes.size());
        commit(bytes.size());
    }

    /// Marks the end of input (the peer closed). Frames already buffered are
    /// still returned by `next()`; then the end is reported.
    void
    put_eof() noexcept
    {
        eof_ = true;
    }

    //----------------------------------------------------------------------
    // Output

    /** Decodes the next event from the buffered input; see the class
        description. Never throws. */
    std::optional<std::string_view>
    next(std::error_code& ec) noexcept
    {
        ec.clear();
        for (;;) {
            switch (state_) {
            case state::closed:
                ec = error::end_of_stream;
                return std::nullopt;

            case state::idle:
                if (policy_ == framing::lenient) {
                    char const* vt = find(begin_, end_, start_block);
                    if (vt == nullptr) {
                        skipped_ += end_ - begin_;
                        begin_ = scan_ = end_;
                        return need_more(ec);
                    }
                    std::size_t const at = offset(vt);
                    skipped_ += at - begin_;
                    begin_ = scan_ = at + 1;
                    vt_ = true;
                } else {
                    if (begin_ == end_)
                        return need_more(ec);
                    // Strict: the block starts here, VT or not.
                    vt_ = buf_[begin_] == start_block;
                    if (vt_)
                        ++begin_;
                    scan_ = begin_;
                }
                state_ = state::frame;
                ++started_;
                break;

            case state::frame: {
                bool const lenient = policy_ == framing::lenient;
                for (;;) {
                    char const* fs = find(scan_, end_, end_block);
                    std::size_t const fs_at = fs ? offset(fs) : end_;
                    if (lenient) {
                        if (char const* vt = find(scan_, fs_at, start_block)) {
                            // A new start inside the frame: the sender began
                            // again; drop the unfinished frame. If it was
                            // already over the limit, say so, as when its
                            // bytes come in several inputs (discard state).
                            std::size_t const at = offset(vt);
                            bool const oversized = at - begin_ > max_;
                            ++restarted_;
                            ++started_;
                            begin_ = scan_ = at + 1;
                            if (oversized) {
                                ec = error::frame_too_large;
                                return std::nullopt;
                            }
                            continue;
                        }
                    }
                    if (fs == nullptr) {
                        scan_ = end_;
                        break;
                    }
                    if (fs_at + 1 == end_) {
                        scan_ = fs_at; // the CR may come with the next input
                        break;
                    }
                    if (buf_[fs_at + 1] != carriage_return) {
                        scan_ = fs_at + 1; // a lone FS is payload
                        continue;
                    }
                    // A complete block: its payload is [begin_, fs_at).
                    std::size_t const block = begin_;
                    begin_ = scan_ = fs_at + 2;
                    state_ = state::idle;
                    if (!vt_) { // strict only: a block that does not start with VT
                        ec = error::invalid_block;
                        return std::nullopt;
                    }
                    std::size_t const size = fs_at - block;
                    if (size > max_) {
                        ec = error::frame_too_large;
                        return std::nullopt;
                    }
                    return std::string_view(buf_.data() + block, size);
                }
                // Incomplete: bytes [begin_, scan_) belong to the block for
                // sure (scan_ stops at a pending FS). Past the limit, switch
                // to dropping the rest of this frame.
                std::size_t const held = scan_ - begin_;
                std::size_t const payload_held = vt_ ? held : (held > 0 ? held - 1 : 0);
                if (payload_held > max_) {
                    discard_error_ = vt_ ? error::frame_too_large : error::invalid_block;
                    state_ = state::discard;
                    begin_ = scan_;
                    break;
                }
                return need_more(ec);
            }

            case state::discard: {
                bool const lenient = policy_ == framing::lenient;
                for (;;) {
                    char const* fs = find(scan_, end_, end_block);
                    std::size_t const fs_at = fs ? offset(fs) : end_;
                    if (lenient) {
                        if (char const* vt = find(scan_, fs_at, start_block)) {
                            // The oversized frame never ended; report it and
                            // decode the new one.
                            begin_ = scan_ = offset(vt) + 1;
                            vt_ = true;
                            state_ = state::frame;
                            ++restarted_;
                            ++started_;
                            ec = discard_error_;
                            return std::nullopt;
                        }
                    }
                    if (fs == nullptr) {
                        begin_ = scan_ = end_;
                        break;
                    }
                    if (fs_at + 1 == end_) {
                        begin_ = scan_ = fs_at; // keep the FS: CR may follow
                        break;
                    }
                    if (buf_[fs_at + 1] != carriage_return) {
                        scan_ = fs_at + 1;
                        continue;
                    }
                    begin_ = scan_ = fs_at + 2;
                    state_ = state::idle;
                    ec = discard_error_;
                    return std::nullopt;
                }
                return need_more(ec);
            }
            }
        }
    }

    /** Moves `payload`, which must be the payload the last call of `next()`
        returned, out of the decoder.

        A payload of at least `adopt_threshold` bytes at the front of the
        buffer (which is where `prepare()` keeps a frame that needed more than
        one read) is handed over with the buffer itself: the string's
        capacity is that buffer's, no byte of the payload is copied, and the
        decoder continues in a new buffer with the bytes that followed the
        frame (at most one read's worth). Any other payload is copied.
        Invalidates every view into the decoder. */
    std::string
    take(std::string_view payload)
    {
        bool const last = payload.data() + payload.size() + 2 == buf_.data() + begin_ && state_ == state::idle;
        if (!last || payload.data() != buf_.data() || payload.size() < adopt_threshold)
            return std::string(payload);
        std::size_t const rest = end_ - begin_;
        std::string out;
        out.swap(buf_);
        // The next large frame is likely as large: start the new buffer at
        // this one's size rather than growing into it again.
        hint_ = payload.size() + 64 * 1024;
        if (rest != 0) {
            allocate(std::max(rest + default_read_size, hint_), out.data() + begin_, rest);
            hint_ = 0;
        }
        begin_ = scan_ = 0;
        end_ = rest;
        out.resize(payload.size()); // shrinking keeps the allocation
        return out;
    }

    /// After `error::incomplete_frame`: the bytes of the unfinished frame as
    /// received, starting with its VT (strict: the unfinished block). Empty
    /// if that frame was already over the size limit (or, should memory run
    /// out, could not be kept).
    std::string_view
    partial() const noexcept
    {
        return partial_;
    }

    //----------------------------------------------------------------------
    // Observers

    /// True while a frame (strict: any block) has started and not ended.
    /// The facade uses it to tell an idle connection from a slow frame.
    bool
    in_frame() const noexcept
    {
        return state_ == state::frame || state_ == state::discard;
    }

    /// True once `put_eof()` was called.
    bool
    eof() const noexcept
    {
        return eof_;
    }

    /// Input bytes held and not yet decoded (or held as the current frame's payload).
    std::size_t
    buffered() const noexcept
    {
        return end_ - begin_;
    }

    /// Bytes of memory held by the buffer.
    std::size_t
    capacity() const noexcept
    {
        return buf_.size();
    }

    /// Lenient mode: bytes skipped outside frames so far.
    std::uint64_t
    skipped_bytes() const noexcept
    {
        return skipped_;
    }

    /// Lenient mode: unfinished frames abandoned because a new VT arrived
    /// (those already over the limit were also reported as frame_too_large).
    std::uint64_t
    restarted_frames() const noexcept
    {
        return restarted_;
    }

    /// Frames (strict: blocks) begun so far, including bad ones.
    std::uint64_t
    frames_started() const noexcept
    {
        return started_;
    }

    /// Forgets all input and state (keeps the limit, the policy and the memory).
    void
    reset() noexcept
    {
        begin_ = scan_ = end_ = 0;
        state_ = state::idle;
        eof_ = false;
        partial_.clear();
    }

private:
    enum class state : unsigned char { idle, frame, discard, closed };

    char const*
    find(std::size_t from, std::size_t to, char c) const noexcept
    {
        if (from >= to)
            return nullptr;
        return static_cast<char const*>(std::memchr(buf_.data() + from, c, to - from));
    }

    static std::size_t
    saturating_add(std::size_t a, std::size_t b) noexcept
    {
        return a > SIZE_MAX - b ? SIZE_MAX : a + b;
    }

    std::size_t
    offset(char const* p) const noexcept
    {
        return static_cast<std::size_t>(p - buf_.data());
    }

    // Moves the undecoded bytes [begin_, end_) to the front.
    void
    slide() noexcept
    {
        std::size_t const live = end_ - begin_;
        std::memmove(buf_.data(), buf_.data() + begin_, live);
        scan_ -= begin_;
        end_ = live;
        begin_ = 0;
    }

    // A new buffer of `size` usable bytes starting with `keep[0, n)`.
    void
    allocate(std::size_t size, char const* keep, std::size_t n)
    {
        std::string b;
        b.reserve(size);
        b.append(keep, n);
        b.resize(size); // a std::string, so that take() can hand it over
        buf_.swap(b);
    }

    // Room for `needed` bytes from begin_ on: grow geometrically, but never
    // much past what one maximal frame plus one read can need (the memory
    // bound above).
    void
    grow(std::size_t needed)
    {
        std::size_t const live = end_ - begin_;
        std::size_t const read = needed - live;
        std::size_t const ceiling = saturating_add(max_, 3 + read);
        std::size_t size = std::max({buf_.size() * 2, initial_buffer_size, hint_});
        size = std::max(needed, std::min(size, std::max(ceiling, needed)));
        hint_ = 0;
        allocate(size, buf_.data() + begin_, live);
        scan_ -= begin_;
        end_ = live;
        begin_ = 0;
    }

    std::optional<std::string_view>
    need_more(std::error_code& ec) noexcept
    {
        if (!eof_)
            return std::nullopt;
        partial_.clear();
        if (state_ == state::frame) {
            // The VT is no longer in the buffer (prepare() moved the payload
            // to the front), so the partial frame is assembled once, here.
            try {
                partial_.reserve(end_ - begin_ + 1);
                if (vt_)
                    partial_ += start_block;
                partial_.append(buf_.data() + begin_, end_ - begin_);
            } catch (...) {
                partial_.clear();
            }
            ec = error::incomplete_frame;
        } else if (state_ == state::discard) {
            ec = error::incomplete_frame;
        } else {
            ec = error::end_of_stream;
        }
        begin_ = scan_ = end_;
        state_ = state::closed;
        return std::nullopt;
    }

    std::string buf_;      // size() is the usable capacity
    std::size_t begin_ = 0; // first byte not yet consumed (in a frame: its first payload byte)
    std::size_t scan_ = 0;  // where the search for the trailer resumes
    std::size_t end_ = 0;   // end of the committed input
    std::size_t hint_ = 0;  // size for the next allocation (after take() handed a buffer over)
    std::size_t max_;
    std::string partial_;
    std::uint64_t skipped_ = 0;
    std::uint64_t restarted_ = 0;
    std::uint64_t started_ = 0;
    framing policy_;
    state state_ = state::idle;
    error discard_error_ = error::frame_too_large;
    bool vt_ = false; // the frame in progress began with VT (strict: not necessarily)
    bool eof_ = false;
};

} // namespace hl7::mllp

#endif
