#ifndef HL7_TESTS_SUPPORT_PYTHON_ORACLE_HPP
#define HL7_TESTS_SUPPORT_PYTHON_ORACLE_HPP

// Runs a script under Debian's python-hl7 (HL7_SYSTEM_PYTHON) to compare our
// results with the reference implementation. Test support only.

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

namespace hl7_test {

/** Runs `script` with one argument, a file holding `input_lines`, and
    returns its standard output split into lines (without the newline).
    An empty result means python-hl7 could not be run. */
inline std::vector<std::string>
run_python_hl7(std::string const& name, std::string const& script, std::vector<std::string> const& input_lines)
{
    namespace fs = std::filesystem;
    fs::path const dir = fs::temp_directory_path() / ("hl7_" + name + "_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    {
        std::ofstream(dir / "run.py") << script;
        std::ofstream input(dir / "input.txt");
        for (auto const& line : input_lines)
            input << line << '\n';
    }
    std::string const command = std::string(HL7_SYSTEM_PYTHON) + " " + (dir / "run.py").string() + " " +
                                (dir / "input.txt").string() + " 2>/dev/null";
    std::vector<std::string> out;
    if (FILE* pipe = ::popen(command.c_str(), "r")) {
        std::string line;
        for (int c; (c = std::fgetc(pipe)) != EOF;) {
            if (c == '\n') {
                out.push_back(line);
                line.clear();
            }
            else {
                line += static_cast<char>(c);
            }
        }
        ::pclose(pipe);
    }
    fs::remove_all(dir);
    return out;
}

} // namespace hl7_test

#endif
