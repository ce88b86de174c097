#!/usr/bin/env python3
"""Turns the code in README.md and in the public headers' @code examples into
translation units the test build compiles (see tests/docs/README.md for the
convention). Run by tests/docs/CMakeLists.txt at configure time:

    extract_docs.py --source-dir SRC --out-dir DIR

writes DIR/<name>.cpp (only when the content changed, so nothing is rebuilt
needlessly) and DIR/doc_blocks.cmake, the list of what to build and run.
Every generated line of a block carries a #line directive pointing at its
place in README.md or the header, so a block that stops compiling is reported
at its own file and line. Exits 1 with "file:line: message" lines for blocks
without a marker or with an unknown one.
"""

import argparse
import os
import re
import sys

MARKER = re.compile(r"^\s*<!--\s*doc-test:\s*(?P<spec>.*?)\s*-->\s*$")
FENCE = re.compile(r"^(?P<indent>\s*)```(?P<lang>[A-Za-z0-9_+-]*)\s*$")
CODE = re.compile(r"(?:^|\s)(?P<code>@code)(?:\{[^}]*\})?(?:\s|$)")
INCLUDE = re.compile(r"^\s*#\s*include\s*[<\"]")

CPP_LANGS = {"cpp", "c++", "cxx"}
CMAKE_LANGS = {"cmake"}
CONTEXTS = ("program", "namespace scope", "function body", "coroutine body", "cmake project", "skip")

# What each fragment context puts around a block. The names a context
# declares are part of the convention: examples may use them.
COROUTINE_PARAMETERS = (
    "[[maybe_unused]] hl7::stream_reader reader, "
    "[[maybe_unused]] hl7::stream_writer writer, "
    "[[maybe_unused]] hl7::message msg, "
    "[[maybe_unused]] hl7::mllp::stream<asio::ip::tcp::socket>& stream"
)


class DocError(Exception):
    pass


class Block:
    """One code block: where it is, its lines and what its marker asks for."""

    def __init__(self, path, first_line, lines, context, options, name=None):
        self.path = path              # absolute path of README.md or the header
        self.first_line = first_line  # 1-based line of lines[0] in path
        self.lines = lines            # the block's lines, indentation kept
        self.context = context
        self.options = options        # dict from the marker: run, run_with, name
        self.name = name


def parse_marker(spec, where):
    """'function body, run' -> ('function body', {'run': True}).
    'program receiver, run with tests/docs/run_receiver.sh' ->
    ('program', {'name': 'receiver', 'run_with': 'tests/docs/run_receiver.sh'})."""
    parts = [p.strip() for p in spec.split(",")]
    head, options = parts[0], {}
    if head.startswith("program"):
        name = head[len("program"):].strip()
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name or ""):
            raise DocError(f"{where}: 'program' needs a name (lowercase, digits, _): <!-- doc-test: program NAME -->")
        head, options["name"] = "program", name
    if head not in CONTEXTS:
        raise DocError(f"{where}: unknown doc-test context '{head}' (one of: {', '.join(CONTEXTS)})")
    for option in parts[1:]:
        if option == "run":
            options["run"] = True
        elif option == "compile only":
            options["compile_only"] = True
        elif option.startswith("run with "):
            options["run_with"] = option[len("run with "):].strip()
        elif head == "skip":
            pass  # free text: why it is not compiled
        else:
            raise DocError(f"{where}: unknown doc-test option '{option}'")
    if options.get("run") and head not in ("function body",):
        raise DocError(f"{where}: ', run' applies to 'function body' (a program runs unless 'compile only')")
    return head, options


def previous_marker(lines, index):
    """The marker on the last non-blank line before lines[index], if any."""
    i = index - 1
    while i >= 0 and not lines[i].strip():
        i -= 1
    if i >= 0:
        m = MARKER.match(lines[i])
        if m:
            return m.group("spec")
    return None


def display(path):
    """How a file is named in messages: relative to the working directory
    (the source tree when run by hand), absolute otherwise."""
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def scan(path, opening, read_block, errors):
    """The blocks of a file: read_block(path, lines, i, match, where, blocks)
    is called at each line where `opening` matches and returns the index of
    the line after its block; a DocError it raises is recorded and scanning
    goes on after that block (error.resume) or the next line."""
    lines = open(path, encoding="utf-8").read().split("\n")
    blocks, i = [], 0
    while i < len(lines):
        m = opening.search(lines[i])
        if not m:
            i += 1
            continue
        where = f"{display(path)}:{i + 1}"
        try:
            i = read_block(path, lines, i, m, where, blocks)
        except DocError as e:
            errors.append(str(e))
            i = getattr(e, "resume", i + 1)
    return blocks


def readme_block(path, lines, i, m, where, blocks):
    lang, start = m.group("lang").lower(), i
    i += 1
    while i < len(lines) and not re.match(r"^\s*```\s*$", lines[i]):
        i += 1
    if i == len(lines):
        raise DocError(f"{where}: code block never closed")
    body, spec = lines[start + 1:i], previous_marker(lines, start)
    try:
        if lang in CPP_LANGS or lang in CMAKE_LANGS:
            if spec is None:
                raise DocError(f"{where}: ```{lang} block without a <!-- doc-test: ... --> marker on the line "
                               "before it (see tests/docs/README.md)")
            context, options = parse_marker(spec, where)
            if context != "skip":
                if (lang in CMAKE_LANGS) != (context == "cmake project"):
                    raise DocError(f"{where}: context '{context}' does not fit a ```{lang} block")
                blocks.append(Block(path, start + 2, body, context, options))
        elif spec is not None:
            raise DocError(f"{where}: doc-test marker before a ```{lang} block (only cpp and cmake blocks are built)")
    except DocError as e:
        e.resume = i + 1
        raise
    return i + 1


def readme_blocks(path, errors):
    return scan(path, FENCE, readme_block, errors)


def header_blocks(path, errors):
    """@code ... @endcode in doc comments. A one-line `@code X @endcode` is a
    completion signature; a block spanning lines needs a marker."""
    return scan(path, CODE, header_block, errors)


def header_block(path, lines, i, m, where, blocks):
    """Reads the block whose @code `m` found on lines[i]; returns the index
    of the line after it."""
    rest = lines[i][m.end("code"):]
    rest = re.sub(r"^\{[^}]*\}", "", rest)  # @code{.cpp}
    end = rest.find("@endcode")
    if end >= 0:
        signature = rest[:end].strip()
        if signature:
            blocks.append(Block(path, i + 1, [signature], "signature", {}))
        return i + 1
    if rest.strip():
        raise DocError(f"{where}: text after @code on its line; start the example on the next line")
    start = i
    i += 1
    while i < len(lines) and "@endcode" not in lines[i]:
        i += 1
    if i == len(lines):
        raise DocError(f"{where}: @code without @endcode")
    if lines[i].strip() != "@endcode":
        raise DocError(f"{display(path)}:{i + 1}: @endcode must be alone on its line")
    body = lines[start + 1:i]
    spec = previous_marker(lines, start)
    if spec is None:
        raise DocError(f"{where}: @code example without a <!-- doc-test: ... --> marker on the line before "
                       "it (see tests/docs/README.md)")
    context, options = parse_marker(spec, where)
    if context in ("program", "cmake project"):
        raise DocError(f"{where}: context '{context}' is for README.md blocks")
    if context != "skip":
        blocks.append(Block(path, start + 2, body, context, options))
    return i + 1


def c_string(path):
    return '"' + path.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Unit:
    """A generated source file, with #line bookkeeping."""

    def __init__(self, out_path):
        self.out_path = out_path
        self.lines = []

    def add(self, *lines):
        self.lines.extend(lines)

    def add_block(self, block, skip_includes):
        """The block's lines under a #line pointing at its origin, then a
        #line back to this file."""
        self.lines.append(f"#line {block.first_line} {c_string(block.path)}")
        for line in block.lines:
            self.lines.append("" if skip_includes and INCLUDE.match(line) else line)
        self.lines.append(f"#line {len(self.lines) + 2} {c_string(self.out_path)}")

    def text(self):
        return "\n".join(self.lines) + "\n"


def hoisted_includes(block):
    return [line.strip() for line in block.lines if INCLUDE.match(line)]


def origin(block, source_dir):
    return f"{os.path.relpath(block.path, source_dir)}:{block.first_line - 1}"


def fragment_unit(block, out_path, source_dir, ident, default_includes):
    """namespace scope / function body / coroutine body, one per unit."""
    unit = Unit(out_path)
    where = origin(block, source_dir)
    unit.add(f"// Generated by tests/docs/extract_docs.py from {where} ({block.context}). Do not edit.")
    includes = hoisted_includes(block) or default_includes
    if block.context == "coroutine body":
        includes = includes + ["#include <hl7/hl7.hpp>", "#include <chrono>"]
    if block.options.get("run"):
        includes = includes + ["#include <cstdio>", "#include <exception>"]
    unit.add(*dict.fromkeys(includes), "")
    emit_fragment(unit, block, ident)
    if block.options.get("run"):
        unit.add("int", "main()", "{", "    try {", f"        {ident}::example();", "    }",
                 "    catch (std::exception const& e) {",
                 f"        std::fprintf(stderr, \"{where}: the example threw: %s\\n\", e.what());",
                 "        return 1;", "    }", "    return 0;", "}")
    return unit


def emit_fragment(unit, block, ident):
    if block.context == "namespace scope":
        unit.add(f"namespace {ident} {{")
        unit.add_block(block, skip_includes=True)
        unit.add(f"}} // namespace {ident}", "")
    elif block.context == "function body":
        unit.add(f"namespace {ident} {{", "void", "example()", "{", "{")
        unit.add_block(block, skip_includes=True)
        unit.add("}", "}", f"}} // namespace {ident}", "")
    elif block.context == "coroutine body":
        # The block sits in an inner scope so that it may declare names the
        # parameters already use (auto [reader, writer] = ...).
        unit.add(f"namespace {ident} {{", "asio::awaitable<void>", f"example({COROUTINE_PARAMETERS})", "{",
                 "using namespace std::chrono_literals;", "{")
        unit.add_block(block, skip_includes=True)
        unit.add("}", "co_return;", "}", f"}} // namespace {ident}", "")
    elif block.context == "signature":
        unit.add(f"namespace {ident} {{", "using signature =")
        unit.add_block(block, skip_includes=True)
        unit.add(";", "static_assert(std::is_function_v<signature>, \"a completion signature is a function type\");",
                 f"}} // namespace {ident}", "")
    else:
        raise AssertionError(block.context)


def write_if_changed(path, text):
    try:
        if open(path, encoding="utf-8").read() == text:
            return
    except FileNotFoundError:
        pass
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def cmake_quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$") + '"'


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--source-dir", required=True)
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--without", action="append", default=[], metavar="REGEX",
                    help="headers (path under include/) of an integration this build lacks: "
                         "their examples are checked for markers but not compiled")
    args = ap.parse_args()
    source_dir = os.path.abspath(args.source_dir)
    out_dir = os.path.abspath(args.out_dir)
    os.makedirs(out_dir, exist_ok=True)

    errors, manifest, written = [], [], set()

    def emit(name, text):
        path = os.path.join(out_dir, name)
        write_if_changed(path, text)
        written.add(name)
        return path

    # README.md: one unit per block.
    readme = os.path.join(source_dir, "README.md")
    blocks = readme_blocks(readme, errors)
    # The header tables name headers; a renamed header must not leave them stale.
    for number, text in enumerate(open(readme, encoding="utf-8"), 1):
        for header in re.findall(r"`(hl7/[A-Za-z0-9_/]+\.hpp)`", text):
            if not os.path.isfile(os.path.join(source_dir, "include", header)):
                errors.append(f"{display(readme)}:{number}: `{header}`: no such header in include/")
    programs = set()
    for block in blocks:
        line = block.first_line - 1
        ident = f"readme_{line}"
        where = origin(block, source_dir)
        if block.context == "program":
            name = block.options["name"]
            if name in programs:
                errors.append(f"{display(readme)}:{line}: a second program named '{name}'")
                continue
            programs.add(name)
            out = os.path.join(out_dir, f"program_{name}.cpp")
            unit = Unit(out)
            unit.add(f"// Generated by tests/docs/extract_docs.py from {where} (program {name}). Do not edit.")
            unit.add_block(block, skip_includes=False)
            emit(os.path.basename(out), unit.text())
            mode = "compile" if block.options.get("compile_only") else "run"
            run_with = block.options.get("run_with", "")
            if run_with:
                run_with = os.path.join(source_dir, run_with)
                if not os.path.isfile(run_with):
                    errors.append(f"{display(readme)}:{line}: run with {block.options['run_with']}: no such file")
            manifest.append(f"hl7_doc_program({name} {cmake_quote(out)} {mode} {cmake_quote(run_with)} "
                            f"{cmake_quote(where)})")
        elif block.context == "cmake project":
            out = os.path.join(out_dir, f"{ident}.cmake")
            emit(os.path.basename(out), "\n".join(block.lines) + "\n")
            manifest.append(f"hl7_doc_cmake_project({ident} {cmake_quote(out)} {cmake_quote(where)})")
        else:
            out = os.path.join(out_dir, f"{ident}.cpp")
            unit = fragment_unit(block, out, source_dir, ident, ["#include <hl7/hl7.hpp>"])
            emit(os.path.basename(out), unit.text())
            kind = "run" if block.options.get("run") else "compile"
            manifest.append(f"hl7_doc_fragment({ident} {cmake_quote(out)} {kind} {cmake_quote(where)})")

    # Headers: all examples in one unit (each unit including the networking
    # headers costs 7-9 s of g++), after every header that has examples.
    include_dir = os.path.join(source_dir, "include")
    out = os.path.join(out_dir, "header_examples.cpp")
    unit = Unit(out)
    unit.add("// Generated by tests/docs/extract_docs.py from the @code examples in include/. Do not edit.")
    includes, examples = [], []
    for root, _, files in sorted(os.walk(include_dir)):
        for file in sorted(files):
            if not file.endswith(".hpp"):
                continue
            path = os.path.join(root, file)
            hblocks = header_blocks(path, errors)
            if not hblocks:
                continue
            rel = os.path.relpath(path, include_dir)
            if any(re.search(pattern, rel) for pattern in args.without):
                continue
            includes.append(f"#include <{rel}>")
            ident = re.sub(r"[^A-Za-z0-9]", "_", rel[:-len(".hpp")])
            for b in hblocks:
                includes += hoisted_includes(b)
                if b.context == "coroutine body":
                    includes += ["#include <hl7/hl7.hpp>", "#include <chrono>"]
                if b.options.get("run"):
                    errors.append(f"{display(path)}:{b.first_line - 1}: header examples are compiled, not run")
                examples.append((b, f"{ident}_line_{b.first_line - 1}"))
    if examples:
        unit.add(*dict.fromkeys(includes + ["#include <type_traits>"]), "")
        for b, ident in examples:
            emit_fragment(unit, b, ident)
        emit(os.path.basename(out), unit.text())
        manifest.append(f"hl7_doc_fragment(header_examples {cmake_quote(out)} compile \"include/\")")

    if errors:
        for e in errors:
            print(e, file=sys.stderr)
        return 1

    # Stale units from blocks that no longer exist would only confuse.
    for name in os.listdir(out_dir):
        if (name.endswith(".cpp") or name.endswith(".cmake")) and name not in written \
                and name != "doc_blocks.cmake":
            os.remove(os.path.join(out_dir, name))
    write_if_changed(os.path.join(out_dir, "doc_blocks.cmake"),
                     "# Generated by tests/docs/extract_docs.py. Do not edit.\n" + "\n".join(manifest) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
