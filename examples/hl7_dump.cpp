// hl7_dump: show or query the HL7 messages in a file.
//
//   hl7_dump adt.hl7                     every message, field by field, with the path of each value
//   hl7_dump adt.hl7 MSH.10 PID.5 PID.7  one line per message: the values, separated by tabs
//   hl7_dump --count batch.hl7           how many messages the file holds
//
// The file may hold one message, several, a batch or a file (FHS/BHS), with
// CR, LF or CRLF line ends, or MLLP frames as written for python-hl7's
// mllp_send. Paths use python-hl7's accessor syntax: PID.5 (the first
// component of PID-5), PID.5.1.2 (field.repetition.component), PID.F3.R2.C1,
// OBX2.5 (the second OBX).
//
// Exit codes: 0 done, 1 the file cannot be read or parsed, 2 usage error.

#include "hl7_example_input.hpp"

#include <hl7/model.hpp>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace {

constexpr int exit_ok = 0;
constexpr int exit_input = 1;
constexpr int exit_usage = 2;

struct options
{
    std::string file;
    std::vector<std::string> paths;
    bool raw = false;
    bool header = false;
    bool count = false;
    bool strict = false;
};

void
usage(std::ostream& os)
{
    os << "usage: hl7_dump [options] FILE [PATH...]\n"
          "\n"
          "Shows the HL7 messages in FILE (\"-\" reads standard input) field by field,\n"
          "or, given PATHs, prints one line per message with the values at those paths\n"
          "separated by tabs (an absent value prints as an empty string).\n"
          "\n"
          "FILE may hold one message, several, a batch, a file with FHS/BHS, or MLLP\n"
          "frames (VT ... FS CR). Paths: PID.5, PID.5.1.2 (field.repetition.component),\n"
          "PID.F3.R2.C1, OBX2.5 (second OBX), MSH.10.\n"
          "\n"
          "options:\n"
          "  -r, --raw      values as they stand in the message (escape sequences kept)\n"
          "  -H, --header   with PATHs: print the paths as the first line\n"
          "  -c, --count    print only the number of messages\n"
          "      --strict   only CR ends a segment (default: CR, LF and CRLF)\n"
          "  -h, --help     this text\n"
          "\n"
          "exit codes: 0 done, 1 file unreadable or not HL7, 2 usage error\n";
}

// Control characters (a decoded \.br\ is a CR) would break the one-line
// layout; show them C-style instead.
std::string
printable(std::string_view v)
{
    std::string out;
    out.reserve(v.size());
    for (char c : v) {
        auto const u = static_cast<unsigned char>(c);
        if (c == '\r')
            out += "\\r";
        else if (c == '\n')
            out += "\\n";
        else if (c == '\t')
            out += "\\t";
        else if (u < 0x20 || u == 0x7f) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02X", u);
            out += buf;
        }
        else
            out += c;
    }
    return out;
}

void
put_value(std::string const& path, std::string_view value)
{
    std::string line = "  " + path;
    if (line.size() < 18)
        line.resize(18, ' ');
    else
        line += ' ';
    std::cout << line << printable(value) << '\n';
}

bool
is_header_segment(std::string_view id)
{
    return id == "MSH" || id == "BHS" || id == "FHS";
}

// One field: a plain value on one line; a composite one as its raw text,
// then every non-empty part with the path that reads it.
void
dump_field(hl7::field_view const& field, std::string const& path, bool raw)
{
    auto text = [raw](auto const& part) { return raw ? std::string(part.raw()) : part.value(); };
    bool const composite = field.size() > 1 || field.repetition(1).size() > 1 ||
                           field.repetition(1).component(1).size() > 1;
    if (!composite) {
        put_value(path, text(field));
        return;
    }
    put_value(path, field.raw());
    for (std::size_t r = 1; r <= field.size(); ++r) {
        auto const rep = field.repetition(r);
        std::string const rpath = path + '.' + std::to_string(r);
        if (rep.size() <= 1 && rep.component(1).size() <= 1) {
            if (!rep.empty())
                put_value("  " + rpath, text(rep));
            continue;
        }
        for (std::size_t c = 1; c <= rep.size(); ++c) {
            auto const comp = rep.component(c);
            if (comp.empty())
                continue;
            std::string const cpath = rpath + '.' + std::to_string(c);
            if (comp.size() <= 1) {
                put_value("  " + cpath, text(comp));
                continue;
            }
            for (std::size_t s = 1; s <= comp.size(); ++s) {
                auto const sub = comp.subcomponent(s);
                if (!sub.empty())
                    put_value("  " + cpath + '.' + std::to_string(s), text(sub));
            }
        }
    }
}

void
dump_message(hl7::message const& m, std::size_t index, std::size_t total, bool raw)
{
    std::error_code ec;
    std::string const id = m.get("MSH.10", ec);
    auto const type = m.has_segment("MSH") ? m.segment("MSH").field(9).raw() : std::string_view();
    std::cout << "# message " << index << " of " << total << ": " << (type.empty() ? "(no type)" : printable(type))
              << ", control id " << (id.empty() ? "(none)" : printable(id)) << ", " << m.size() << " segments, "
              << hl7::to_string(m).size() << " bytes\n";
    std::map<std::string, std::size_t, std::less<>> seen;
    for (auto const& seg : m) {
        std::string const sid(seg.id());
        std::size_t const nth = ++seen[sid];
        std::string const prefix = sid + (nth > 1 ? std::to_string(nth) : std::string());
        std::cout << printable(sid) << '\n';
        for (std::size_t n = 1; n <= seg.size(); ++n) {
            auto const field = seg.field(n);
            if (field.empty())
                continue;
            std::string const path = prefix + '.' + std::to_string(n);
            // MSH-1 and MSH-2 are the delimiters themselves, not values to split.
            if (is_header_segment(sid) && n <= 2)
                put_value(path, field.raw());
            else
                dump_field(field, path, raw);
        }
    }
}

int
run(options const& o)
{
    for (auto const& p : o.paths) {
        std::error_code ec;
        hl7::parse_path(p, ec);
        if (ec) {
            std::cerr << "hl7_dump: \"" << p << "\" is not a path (try PID.5, PID.5.1.2 or OBX2.5)\n";
            return exit_usage;
        }
    }

    std::vector<hl7::message> messages;
    try {
        hl7::parse_options popts;
        popts.strict_terminators = o.strict;
        messages = hl7_example::messages_in(hl7_example::read_all(o.file), popts);
    }
    catch (hl7_example::input_error const& e) {
        std::cerr << "hl7_dump: " << (o.file == "-" ? "<stdin>" : o.file) << ": " << e.what() << '\n';
        return exit_input;
    }

    if (o.count) {
        std::cout << messages.size() << '\n';
        return exit_ok;
    }

    if (!o.paths.empty()) {
        if (o.header) {
            for (std::size_t i = 0; i < o.paths.size(); ++i)
                std::cout << (i ? "\t" : "") << o.paths[i];
            std::cout << '\n';
        }
        for (auto const& m : messages) {
            for (std::size_t i = 0; i < o.paths.size(); ++i) {
                // A segment this message does not have reads as empty, as
                // an absent field does.
                std::error_code ec;
                std::string const v = o.raw ? std::string(m.raw(o.paths[i], ec)) : m.get(o.paths[i], ec);
                std::cout << (i ? "\t" : "") << printable(ec ? std::string() : v);
            }
            std::cout << '\n';
        }
        return exit_ok;
    }

    for (std::size_t i = 0; i < messages.size(); ++i) {
        if (i)
            std::cout << '\n';
        dump_message(messages[i], i + 1, messages.size(), o.raw);
    }
    return exit_ok;
}

} // namespace

int
main(int argc, char** argv)
{
    options o;
    bool have_file = false;
    bool options_done = false;
    for (int i = 1; i < argc; ++i) {
        std::string_view const a = argv[i];
        if (!options_done && a.size() > 1 && a[0] == '-') {
            if (a == "--") {
                options_done = true;
            }
            else if (a == "-h" || a == "--help") {
                usage(std::cout);
                return exit_ok;
            }
            else if (a == "-r" || a == "--raw") {
                o.raw = true;
            }
            else if (a == "-H" || a == "--header") {
                o.header = true;
            }
            else if (a == "-c" || a == "--count") {
                o.count = true;
            }
            else if (a == "--strict") {
                o.strict = true;
            }
            else {
                std::cerr << "hl7_dump: unknown option " << a << "\n\n";
                usage(std::cerr);
                return exit_usage;
            }
            continue;
        }
        if (!have_file) {
            o.file = std::string(a);
            have_file = true;
        }
        else {
            o.paths.emplace_back(a);
        }
    }
    if (!have_file) {
        usage(std::cerr);
        return exit_usage;
    }
    std::ios::sync_with_stdio(false);
    return run(o);
}
