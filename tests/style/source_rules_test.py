#!/usr/bin/env python3
"""The rules of the tree that a compiler does not check:

  * layering: each source includes only from the layers below it
      base/     -> base/
      ei_bridge -> base/, ei_bridge/
      config/   -> base/, config/
      daemon/   -> base/, ei_bridge/, config/, daemon/, hornbeam/plugin.h
      plugins/  -> hornbeam/plugin.h and their own folder
  * no source file over 500 lines outside tests/
  * no C++ function over 80 lines outside tests/

usage: source_rules_test.py SOURCE_DIR
"""
import os
import re
import subprocess
import sys
import unittest

ROOT = None
MAX_FILE_LINES = 500
MAX_FUNCTION_LINES = 80
CXX = (".cc", ".h", ".cu")
SOURCE = CXX + (".py", ".sh", ".erl", ".escript", ".c", ".js")

ALLOWED = {
    "base": ("base/",),
    "ei_bridge": ("base/", "ei_bridge/"),
    "config": ("base/", "config/"),
    "daemon": ("base/", "ei_bridge/", "config/", "daemon/", "hornbeam/plugin.h"),
}


def tracked():
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [p for p in out.splitlines() if os.path.isfile(os.path.join(ROOT, p))]


def includes(path):
    with open(os.path.join(ROOT, path), errors="replace") as f:
        return re.findall(r'^\s*#\s*include\s+"([^"]+)"', f.read(), re.M)


def is_source(path):
    if path.endswith(SOURCE) or os.path.basename(path) == "CMakeLists.txt":
        return True
    # Scripts without an extension (scripts/run, scripts/test, ...).
    return path.startswith("scripts/") and "." not in os.path.basename(path)


def function_lengths(text):
    """(first line, length, head) of each function body at namespace or class
    scope, found by brace matching on comment- and string-free text."""
    text = re.sub(r"//[^\n]*|/\*.*?\*/", lambda m: re.sub(r"[^\n]", " ", m.group()), text,
                  flags=re.S)
    text = re.sub(r'"(\\.|[^"\\\n])*"|\'(\\.|[^\'\\\n])*\'', '""', text)
    found, stack, stmt = [], [], ""
    line = 1
    for ch in text:
        if ch == "\n":
            line += 1
        if ch == "{":
            head = stmt.strip()
            in_function = any(kind == "function" for kind, _, _ in stack)
            if in_function:
                kind = "block"
            elif re.match(r"^(template\s*<.*>\s*)?(namespace|class|struct|enum|union|extern)\b",
                          head, re.S):
                kind = "scope"
            elif "(" in head and "=" not in head[:head.find("(")]:
                kind = "function"
            else:
                kind = "block"
            stack.append((kind, line, head[-60:]))
            stmt = ""
        elif ch == "}":
            if stack:
                kind, start, head = stack.pop()
                if kind == "function":
                    found.append((start, line - start - 1, head))
            stmt = ""
        elif ch == ";":
            stmt = ""
        else:
            stmt += ch
    return found


class SourceRulesTest(unittest.TestCase):
    def test_layers_include_only_what_they_may(self):
        bad = []
        for path in tracked():
            if not path.endswith(CXX):
                continue
            top = path.split("/")[0]
            if top in ALLOWED:
                allowed = ALLOWED[top]
            elif top == "plugins":
                allowed = ("hornbeam/plugin.h", os.path.dirname(path) + "/", "plugins/"
                           + path.split("/")[1] + "/")
            else:
                continue
            for inc in includes(path):
                if not inc.startswith(allowed) and "/" in inc:
                    bad.append("%s includes %s" % (path, inc))
        self.assertEqual(bad, [])

    def test_no_source_file_over_500_lines_outside_tests(self):
        long_files = []
        for path in tracked():
            if path.startswith("tests/") or not is_source(path):
                continue
            with open(os.path.join(ROOT, path), errors="replace") as f:
                n = sum(1 for _ in f)
            if n > MAX_FILE_LINES:
                long_files.append("%s: %d lines" % (path, n))
        self.assertEqual(long_files, [])

    def test_no_function_over_80_lines_outside_tests(self):
        long_functions = []
        for path in tracked():
            if path.startswith("tests/") or not path.endswith(CXX):
                continue
            with open(os.path.join(ROOT, path), errors="replace") as f:
                text = f.read()
            for start, n, head in function_lengths(text):
                if n > MAX_FUNCTION_LINES:
                    long_functions.append("%s:%d: %d lines (%s)" % (path, start, n, head))
        self.assertEqual(long_functions, [])

    def test_the_function_scanner_sees_functions(self):
        code = ("namespace a {\nstruct S {\n  int f() const {\n    return 1;\n  }\n};\n"
                "int g(int x) {\n  if (x) {\n    x++;\n  }\n  auto l = [] { return 2; };\n"
                "  return x;\n}\nconst int kT[] = {1, 2};\n}  // namespace a\n")
        got = [(start, n) for start, n, _ in function_lengths(code)]
        self.assertEqual(got, [(3, 1), (7, 5)])


if __name__ == "__main__":
    ROOT = os.path.abspath(sys.argv[1])
    unittest.main(argv=sys.argv[:1], verbosity=2)
