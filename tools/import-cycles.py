#!/usr/bin/python3
"""Finds two-file import circles in the workspace's crates.

For each crate under crates/*/src, every .rs file is mapped to its module path (src/lib.rs and
src/main.rs are the root, a/mod.rs and a.rs are `a`, a/b.rs is `a::b`; inline `mod x { ... }`
blocks are modules of their file). Then every path a file names is resolved to the file that
holds what it names:

  - `use` trees (`use crate::a::{b, c::d}`, `pub use super::x`, `use self::y`, and paths that
    start with a child module of the current module, like `use parse::NatRule` in nat/mod.rs);
  - paths in code: `crate::a::b`, `super::x`, `self::y`.

A src/main.rs beside a src/lib.rs, and src/bin/*, are crates of their own and are skipped.

A path resolves to the longest module prefix it names; when the rest starts with a name that
module re-exports (`pub use inner::Thing`), it is followed to the file that defines it, so a
facade's re-export is not mistaken for a dependency on the facade. Comments, doc links and
string literals are ignored. Paths to other crates (portscope_core::...) are not circles within
a crate and are not followed.

Prints every pair of files that import each other, with one path from each side, and exits 1 if
there is any (0 if none). Usage: tools/import-cycles.py [WORKSPACE_ROOT]
"""

import os
import re
import sys

KEYWORDS = {"crate", "super", "self"}


def strip(text):
    """The source with comments, string and char literals blanked (positions kept)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        else:
            raw = re.match(r'b?r(#*)"', text[i:])
            if raw and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
                end = text.find('"' + raw.group(1), i + raw.end())
                j = n if end < 0 else end + 1 + len(raw.group(1))
                out.append(re.sub(r"[^\n]", " ", text[i:j]))
                i = j
            elif c == '"' or (c == "b" and text.startswith('b"', i) and not _ident_before(text, i)):
                j = i + (2 if c == "b" else 1)
                while j < n and text[j] != '"':
                    j += 2 if text[j] == "\\" else 1
                j += 1
                out.append(re.sub(r"[^\n]", " ", text[i:j]))
                i = j
            elif c == "'":
                # A char literal ('a', '\n', '\u{1F}'); a lifetime ('a) has no closing quote.
                m = re.match(r"'(\\u\{[0-9a-fA-F]+\}|\\.|[^\\'])'", text[i:])
                if m:
                    out.append(" " * m.end())
                    i += m.end()
                else:
                    out.append(c)
                    i += 1
            else:
                out.append(c)
                i += 1
    return "".join(out)


def _ident_before(text, i):
    return i > 0 and (text[i - 1].isalnum() or text[i - 1] == "_")


def module_path(src, path):
    rel = os.path.relpath(path, src)[: -len(".rs")].split(os.sep)
    if rel in (["lib"], ["main"]):
        return ()
    if rel[-1] == "mod":
        rel = rel[:-1]
    return tuple(rel)


def inline_modules(code):
    """(start, end, names) of every inline `mod x { ... }` block, outermost first."""
    spans, stack, depth = [], [], 0
    for m in re.finditer(r"\bmod\s+(\w+)\s*\{|\{|\}", code):
        if m.group(1):
            depth += 1
            stack.append((m.group(1), depth, m.start()))
        elif m.group(0) == "{":
            depth += 1
        else:
            if stack and stack[-1][1] == depth:
                name, _, start = stack.pop()
                names = tuple(s[0] for s in stack) + (name,)
                spans.append((start, m.end(), names))
            depth -= 1
    return spans


def context_at(spans, pos):
    best = ()
    for start, end, names in spans:
        if start <= pos < end and len(names) > len(best):
            best = names
    return best


def use_trees(code):
    """(position, [segments], is_pub) for every leaf of every `use` declaration."""
    for m in re.finditer(r"(\bpub(?:\s*\([^)]*\))?\s+)?\buse\s+([^;]*);", code):
        tokens = re.findall(r"::|\{|\}|,|\*|\bas\b|\w+", m.group(2))
        leaves = []
        _parse_tree(tokens, 0, [], leaves)
        for leaf in leaves:
            yield m.start(), leaf, bool(m.group(1))


def _parse_tree(tokens, i, prefix, leaves):
    """Parses one use tree at tokens[i]; returns the index after it."""
    path = list(prefix)
    while i < len(tokens):
        t = tokens[i]
        if t == "{":
            i += 1
            while i < len(tokens) and tokens[i] != "}":
                i = _parse_tree(tokens, i, path, leaves)
                if i < len(tokens) and tokens[i] == ",":
                    i += 1
            return i + 1
        if t == "*":
            leaves.append((path, None))
            return i + 1
        if t == "::":
            i += 1
            continue
        if t in (",", "}"):
            break
        if t == "as":
            alias = tokens[i + 1] if i + 1 < len(tokens) else None
            leaves.append((path, alias))
            return i + 2
        path.append(t)
        i += 1
    if len(path) > len(prefix):
        # `use a::{self}` brings in `a`.
        alias = path[-2] if path[-1] == "self" and len(path) > 1 else path[-1]
        leaves.append((path, alias))
    return i


class Crate:
    def __init__(self, src):
        self.src = src
        self.files = {}  # module path -> file
        self.codes = {}  # file -> stripped code
        self.inline = {}  # file -> inline module spans
        self.modules = {}  # module path (file or inline) -> file
        for root, _, names in os.walk(src):
            for name in sorted(names):
                if name.endswith(".rs"):
                    path = os.path.join(root, name)
                    rel = os.path.relpath(path, src)
                    # A binary's root beside a library is a crate of its own (here: one that
                    # only calls the library), as is every src/bin/ program.
                    if rel.startswith("bin" + os.sep) or (
                        rel == "main.rs" and os.path.exists(os.path.join(src, "lib.rs"))
                    ):
                        continue
                    with open(path, encoding="utf-8", errors="replace") as f:
                        code = strip(f.read())
                    mod = module_path(src, path)
                    self.files[mod] = path
                    self.codes[path] = code
                    self.inline[path] = inline_modules(code)
                    self.modules[mod] = path
                    for _, _, names_ in self.inline[path]:
                        self.modules[mod + names_] = path
        self.file_mod = {f: m for m, f in self.files.items()}
        # Re-exports: module path -> {name: absolute target path}.
        self.reexports = {}
        for path, code in self.codes.items():
            for pos, (segments, alias), is_pub in use_trees(code):
                if not is_pub or alias is None or not segments:
                    continue
                here = self.file_mod[path] + context_at(self.inline[path], pos)
                target = self.absolute(here, segments)
                if target is not None:
                    target = [t for t in target if t != "self"]
                    self.reexports.setdefault(here, {})[alias] = tuple(target)

    def children(self, module):
        return {m[len(module)] for m in self.modules if len(m) > len(module) and m[: len(module)] == module}

    def absolute(self, here, segments):
        """The absolute module path `segments` names from module `here`, or None (another crate)."""
        segments = [s for s in segments if s]
        if not segments:
            return None
        first = segments[0]
        if first == "crate":
            return list(segments[1:])
        if first == "super":
            base = list(here)
            while segments and segments[0] == "super":
                base = base[:-1]
                segments = segments[1:]
            return base + list(segments)
        if first == "self":
            return list(here) + list(segments[1:])
        if first in self.children(here):
            return list(here) + list(segments)
        return None

    def resolve(self, absolute, depth=0):
        """The file that holds what the absolute path names."""
        absolute = [s for s in absolute if s != "self"]
        for cut in range(len(absolute), -1, -1):
            prefix = tuple(absolute[:cut])
            if prefix in self.modules:
                rest = absolute[cut:]
                target = self.reexports.get(prefix, {}).get(rest[0]) if rest else None
                if target is not None and depth < 8 and list(target) != absolute[: cut + 1]:
                    return self.resolve(list(target) + rest[1:], depth + 1)
                return self.modules[prefix]
        return None

    def edges(self):
        """{(from_file, to_file): example path}."""
        found = {}
        path_re = re.compile(r"(?<![\w:])((?:crate|super|self)(?:\s*::\s*\w+)+)")
        for path, code in self.codes.items():
            mod = self.file_mod[path]
            seen = []
            for pos, (segments, _), _ in use_trees(code):
                seen.append((pos, segments))
            for m in path_re.finditer(code):
                seen.append((m.start(), re.split(r"\s*::\s*", m.group(1))))
            for pos, segments in seen:
                here = mod + context_at(self.inline[path], pos)
                absolute = self.absolute(here, segments)
                if absolute is None:
                    continue
                target = self.resolve(absolute)
                if target is not None and target != path:
                    shown = segments[:-1] if segments[-1] == "self" else segments
                    found.setdefault((path, target), "::".join(shown))
        return found


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
    root = os.path.abspath(root)
    crates_dir = os.path.join(root, "crates")
    cycles = []
    files = 0
    for name in sorted(os.listdir(crates_dir)):
        src = os.path.join(crates_dir, name, "src")
        if not os.path.isdir(src):
            continue
        crate = Crate(src)
        files += len(crate.files)
        edges = crate.edges()
        for (a, b), how in sorted(edges.items()):
            if a < b and (b, a) in edges:
                cycles.append((os.path.relpath(a, root), os.path.relpath(b, root), how, edges[(b, a)]))
    for a, b, a_to_b, b_to_a in cycles:
        print(f"{a} <-> {b}")
        print(f"    {a} names {a_to_b}")
        print(f"    {b} names {b_to_a}")
    print(f"{len(cycles)} two-file import circle(s) in {files} files")
    return 1 if cycles else 0


if __name__ == "__main__":
    sys.exit(main())
