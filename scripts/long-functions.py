#!/usr/bin/env python3
"""Lists C++ function bodies longer than a limit (default 100 lines) under core/, app/, ui/.

Brace matching, not a parser: comments, string and character literals are blanked first, then
every top-level-in-its-scope `{` whose preceding text ends in `)` (optionally followed by
qualifiers such as const/override/noexcept, a trailing return type or a constructor's
initializer list) opens a function body; lambdas inside a body count toward that body.
Exit status 1 when any function is over the limit, so it can gate CI.
Usage: scripts/long-functions.py [--limit N] [paths...]
"""
import argparse
import pathlib
import re
import sys

SKIP_WORDS = ("if", "for", "while", "switch", "catch", "namespace", "class", "struct", "enum", "union")


def blank(text: str) -> str:
    """Replaces comments and literals by spaces, keeping newlines (line numbers stay right)."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i)); i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j])); i = j
        elif text.startswith('R"', i):
            m = re.match(r'R"([^(]*)\(', text[i:])
            end = text.find(")" + (m.group(1) if m else "") + '"', i)
            j = n if end < 0 else end + len(m.group(1) if m else "") + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j])); i = j
        elif c in "\"'":
            if c == "'" and i > 0 and (text[i - 1].isalnum()):  # digit separator 1'000
                out.append(" "); i += 1; continue
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(" " * (min(j + 1, n) - i)); i = j + 1
        else:
            out.append(c); i += 1
    return "".join(out)


def function_name(header: str) -> str | None:
    """The function's name when `header` (text before a `{`) is a function signature."""
    h = header.strip()
    # Drop a constructor initializer list: `X::X(args) : a(b), c{d}`.
    h = re.sub(r"\)\s*:\s*[^;]*$", ")", h, flags=re.S) if re.search(r"\)\s*:[^:]", h) else h
    h = re.sub(r"(\s*(const|override|final|noexcept|mutable|->\s*[\w:<>,\s*&]+))*\s*$", "", h)
    if not h.endswith(")"):
        return None
    depth, k = 0, len(h) - 1
    while k >= 0:
        depth += {")": 1, "(": -1}.get(h[k], 0)
        if depth == 0:
            break
        k -= 1
    m = re.search(r"([~\w:]+|operator\s*\S+)\s*$", h[:k])
    if not m:
        return None
    name = m.group(1)
    last = name.split("::")[-1]
    if last in SKIP_WORDS or last in ("return", "sizeof", "decltype", "alignas"):
        return None
    return name


def long_functions(path: pathlib.Path, limit: int):
    text = blank(path.read_text(encoding="utf-8", errors="replace"))
    stack = []  # (is_function_body, name, start_line)
    last_stop = 0
    for pos, c in enumerate(text):
        if c in ";}":
            if c == "}" and stack:
                is_fn, name, start = stack.pop()
                if is_fn:
                    end = text.count("\n", 0, pos) + 1
                    if end - start + 1 > limit:
                        yield name, start, end - start + 1
            last_stop = pos + 1
        elif c == "{":
            inside_fn = any(s[0] for s in stack)
            name = None if inside_fn else function_name(text[last_stop:pos])
            stack.append((name is not None, name, text.count("\n", 0, pos) + 1))
            last_stop = pos + 1


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("paths", nargs="*", default=["core", "app", "ui"])
    args = parser.parse_args()
    found = 0
    for root in args.paths:
        p = pathlib.Path(root)
        files = [p] if p.is_file() else sorted(p.rglob("*.cpp")) + sorted(p.rglob("*.h"))
        for f in files:
            for name, start, lines in long_functions(f, args.limit):
                print(f"{f}:{start}: {name}: {lines} lines")
                found += 1
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
