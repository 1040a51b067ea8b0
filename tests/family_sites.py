#!/usr/bin/env python3
"""tests/family_sites.py [ROOT] - model families are table entries, not `if` branches.

Outside the lowering (src/lower.c), a family's enum value (IG_FAMILY_CIPS) may appear in the C
sources of src/ and viewer/ only as the index of a family-table entry (`[IG_FAMILY_CIPS] = ...`,
a designated initializer: the per-backend family tables, model.c's and describe.c's). Any other
use (a `kind == IG_FAMILY_CIPS` test) fails, with its file and line. Comments are ignored.
--self-test first shows that a test outside the tables fails and a table entry passes.
"""
import os
import re
import sys

TABLE_ENTRY = re.compile(r"^\s*\[IG_FAMILY_CIPS\]\s*=")
ALLOWED_FILES = {"src/lower.c"}


def strip_comments(text):
    # keep line numbers: replace each comment by as many newlines as it spans
    return re.sub(r"/\*.*?\*/|//[^\n]*", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)


def check(root):
    bad = []
    for d in ("src", "viewer"):
        for dp, _, fns in os.walk(os.path.join(root, d)):
            for fn in sorted(fns):
                if not fn.endswith((".c", ".h")):
                    continue
                path = os.path.relpath(os.path.join(dp, fn), root)
                if path in ALLOWED_FILES:
                    continue
                with open(os.path.join(root, path), encoding="utf-8", errors="replace") as f:
                    lines = strip_comments(f.read()).split("\n")
                for i, line in enumerate(lines, 1):
                    if "IG_FAMILY_CIPS" in line and not TABLE_ENTRY.match(line):
                        bad.append(f"{path}:{i}: {line.strip()}")
    return bad


def self_test():
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        os.makedirs(os.path.join(d, "src"))
        p = os.path.join(d, "src", "x.c")
        with open(p, "w") as f:
            f.write("static const int t[] = {\n    [IG_FAMILY_CIPS] = 1, /* IG_FAMILY_CIPS */\n};\n")
        assert check(d) == [], "a table entry was refused"
        with open(p, "a") as f:
            f.write("int f(const ig_config *c) { return c->kind == IG_FAMILY_CIPS; }\n")
        assert len(check(d)) == 1, "a family test outside the tables was not found"


def main(argv):
    if "--self-test" in argv:
        self_test()
    args = [a for a in argv[1:] if not a.startswith("--")]
    root = os.path.abspath(args[0] if args else os.path.join(os.path.dirname(__file__), ".."))
    bad = check(root)
    for b in bad:
        print("family test outside the family tables and src/lower.c: " + b)
    if bad:
        return 1
    print("family_sites: IG_FAMILY_CIPS only in family tables and src/lower.c")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
