#ifndef HL7_SEPARATORS_HPP
#define HL7_SEPARATORS_HPP

#include <string>
#include <string_view>

namespace hl7 {

/// The segment terminator HL7 v2 writes between and after segments.
inline constexpr char segment_terminator = '\r';

/** The delimiters a message declares in MSH-1 and MSH-2 (or BHS/FHS).

    Defaults are the HL7 recommended `|^~\&`. A parsed message carries the
    delimiters its header declared; a message built from scratch uses these
    unless told otherwise.
*/
struct separators
{
    char field = '|';
    char component = '^';
    char repetition = '~';
    char escape = '\\';
    char subcomponent = '&';

    /// MSH-2 as it would be written for these delimiters, e.g. `^~\&`.
    std::string
    encoding_characters() const
    {
        return {component, repetition, escape, subcomponent};
    }

    /// True when `c` is one of the five delimiters.
    constexpr bool
    is_delimiter(char c) const noexcept
    {
        return c == field || c == component || c == repetition || c == escape ||
               c == subcomponent;
    }

    /** True when the five characters are distinct and none is a segment
        terminator (CR or LF): otherwise splitting would be ambiguous. */
    constexpr bool
    valid() const noexcept
    {
        char const all[5] = {field, component, repetition, escape, subcomponent};
        for (int i = 0; i < 5; ++i) {
            if (all[i] == '\r' || all[i] == '\n' || all[i] == '\0')
                return false;
            for (int j = i + 1; j < 5; ++j)
                if (all[i] == all[j])
                    return false;
        }
        return true;
    }

    friend constexpr bool operator==(separators const&, separators const&) = default;
};

} // namespace hl7

#endif
