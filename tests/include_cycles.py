#!/usr/bin/env python3
"""tests/include_cycles.py [ROOT] - fail on include cycles among the C sources.

Two graphs are built from the sources under src/, viewer/, tests/ and include/ (and the
record headers under shaders/records/), from the text alone (no build needed):

1. The header graph: header A -> header B when A has `#include "B"`. Any cycle fails.

2. The module graph. A module is one .c file. Module a.c depends on module b.c when
   - a.c includes, directly or through other headers, a header h that declares a function
     or an extern variable f,
   - b.c defines f (at file scope, not `static`), and
   - a.c uses f (the identifier f appears in a.c outside comments and strings),
   with a.c != b.c. In words: a.c includes a header that b.c implements, and uses that part
   of it. A cycle in this graph (a.c -> b.c -> ... -> a.c) is an include cycle at module
   level: a.c includes b.h whose implementation b.c includes (through a chain) a.h. Such a
   pair cannot be understood, tested or replaced one at a time. Any cycle fails.

Prints every cycle found (one strongly connected component per line) and exits 1, or prints
the number of modules and edges checked and exits 0. Use --graph to print the module edges.
--self-test first checks the checker on two small made-up trees: a module pair that uses each
other (a.c -> b.h, b.c -> a.h) and a header pair that includes each other must fail, the same
trees with one use or include removed must pass.
"""
import os
import re
import sys

DIRS = ["src", "viewer", "tests", "include"]
RECORDS = "shaders/records"

COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)
STRING = re.compile(r'"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'')
INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"', re.M)
IDENT = re.compile(r"[A-Za-z_]\w*")
KEYWORDS = {"if", "for", "while", "switch", "return", "sizeof", "defined", "_Static_assert",
            "static_assert", "__attribute__", "typedef"}


def strip(text):
    return STRING.sub('""', COMMENT.sub(" ", text))


def top_level(text):
    """The text at brace depth 0 (function bodies and struct bodies removed), by statement."""
    out, depth = [], 0
    for ch in text:
        if ch == "{":
            depth += 1
            if depth == 1:
                out.append("{")
            continue
        if ch == "}":
            depth -= 1
            if depth == 0:
                out.append("}")
            continue
        if depth == 0:
            out.append(ch)
    return "".join(out)


def logical_lines(text):
    """Remove preprocessor lines (with continuations)."""
    return re.sub(r"^\s*#(?:[^\n]*\\\n)*[^\n]*", " ", text, flags=re.M)


def declared(text):
    """Functions and extern variables a header declares."""
    names = set()
    for stmt in logical_lines(top_level(strip(text))).split(";"):
        s = " ".join(stmt.split())
        if not s or s.startswith("typedef") or "}" in s:
            s = s.rsplit("}", 1)[-1].strip()
            if not s or s.startswith("typedef"):
                continue
        m = re.search(r"\b([A-Za-z_]\w*)\s*\((?![^()]*\)\s*\()", s)  # name( ... ) not (*fp)(
        if m and "(*" not in s[: m.end()]:
            if m.group(1) not in KEYWORDS:
                names.add(m.group(1))
            continue
        if s.startswith("extern"):
            m = re.search(r"\b([A-Za-z_]\w*)\s*(?:\[[^\]]*\])*\s*$", s)
            if m:
                names.add(m.group(1))
    return names


def defined(text):
    """Non-static functions and variables a .c file defines at file scope."""
    names = set()
    flat = logical_lines(strip(text))
    # function definitions: "... name(params) {" at depth 0
    depth = 0
    i = 0
    buf = []
    while i < len(flat):
        ch = flat[i]
        if ch == "{":
            if depth == 0:
                head = "".join(buf).rsplit(";", 1)[-1]
                head = head.rsplit("}", 1)[-1]
                h = " ".join(head.split())
                m = re.search(r"\b([A-Za-z_]\w*)\s*\([^()]*(?:\([^()]*\)[^()]*)*\)\s*$", h)
                if m and not re.search(r"\bstatic\b", h) and m.group(1) not in KEYWORDS:
                    names.add(m.group(1))
                elif not re.search(r"\b(static|typedef|struct|enum|union)\b", h.split("=")[0]) and "=" in h:
                    m = re.search(r"\b([A-Za-z_]\w*)\s*(?:\[[^\]]*\])*\s*=", h)
                    if m:
                        names.add(m.group(1))
                buf = []
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                buf = []
        elif depth == 0:
            buf.append(ch)
        i += 1
    # file-scope variables without braces: "type name = value;" or "type name;"
    for stmt in top_level(flat).split(";"):
        s = " ".join(stmt.rsplit("}", 1)[-1].split())
        if not s or "(" in s.split("=")[0] or re.search(r"\b(static|typedef|extern)\b", s):
            continue
        m = re.search(r"\b([A-Za-z_]\w*)\s*(?:\[[^\]]*\])*\s*(?:=|$)", s)
        if m and len(s.split("=")[0].split()) >= 2:
            names.add(m.group(1))
    return names


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--")]
    root = os.path.abspath(args[0] if args else os.path.join(os.path.dirname(__file__), ".."))
    files = {}
    for d in DIRS + [RECORDS]:
        for dp, _, fns in os.walk(os.path.join(root, d)):
            for fn in fns:
                if fn.endswith((".c", ".h")):
                    p = os.path.relpath(os.path.join(dp, fn), root)
                    with open(os.path.join(root, p), encoding="utf-8", errors="replace") as f:
                        files[p] = f.read()
    by_base = {}
    for p in files:
        by_base.setdefault(os.path.basename(p), []).append(p)

    def resolve(src, name):
        cand = os.path.normpath(os.path.join(os.path.dirname(src), name))
        if cand in files:
            return cand
        for d in ["src", "include/inrgan", "shaders"] + DIRS:
            cand = os.path.normpath(os.path.join(d, name))
            if cand in files:
                return cand
        hits = by_base.get(os.path.basename(name), [])
        return hits[0] if len(hits) == 1 else None  # generated headers (ig_build.h) resolve to None

    inc = {p: [q for q in (resolve(p, n) for n in INCLUDE.findall(t)) if q] for p, t in files.items()}
    failed = False

    # 1. header include cycles
    hdrs = [p for p in files if p.endswith(".h")]
    hgraph = {h: [q for q in inc[h] if q.endswith(".h")] for h in hdrs}
    for comp in sccs(hgraph):
        print("header include cycle: " + " -> ".join(comp + [comp[0]]))
        failed = True

    # 2. module cycles
    decl = {h: declared(files[h]) for h in hdrs}
    sources = sorted(p for p in files if p.endswith(".c"))
    defs = {c: defined(files[c]) for c in sources}
    definer = {}
    for c in sources:
        for n in defs[c]:
            definer.setdefault(n, set()).add(c)

    def reach(p):
        seen, todo = set(), list(inc[p])
        while todo:
            h = todo.pop()
            if h in seen or not h.endswith(".h"):
                continue
            seen.add(h)
            todo.extend(inc[h])
        return seen

    graph, why = {}, {}
    for a in sources:
        used = set(IDENT.findall(strip(files[a])))
        visible = set()
        for h in reach(a):
            visible |= decl[h]
        # tests and programs are linked with different sets of objects; a module's edges go to the
        # modules that define what it uses, among those in the same program area (see AREAS)
        graph[a] = []
        for n in sorted(used & visible):
            for b in definer.get(n, ()):
                if b != a and same_program(a, b):
                    if b not in graph[a]:
                        graph[a].append(b)
                    why.setdefault((a, b), n)
    edges = sum(len(v) for v in graph.values())
    if "--graph" in argv:
        for a in sources:
            for b in graph[a]:
                print(f"{a} -> {b} ({why[(a, b)]})")
    for comp in sccs(graph):
        # show one edge per member so the loop can be read
        steps = []
        for a in comp:
            nxt = [b for b in graph[a] if b in comp]
            steps.append(f"{a} -> {nxt[0]} (uses {why[(a, nxt[0])]})")
        print("module include cycle: " + "; ".join(steps))
        failed = True
    if failed:
        return 1
    print(f"include_cycles: no cycles ({len(hdrs)} headers, {len(sources)} modules, {edges} module edges)")
    return 0


def same_program(a, b):
    """Tests define their own main and helpers; a test file never implements the library."""
    lib = lambda p: p.startswith(("src/", "include/"))
    if lib(b):
        return True
    return os.path.dirname(a) == os.path.dirname(b)


def sccs(graph):
    """Strongly connected components with more than one node (Tarjan, iterative)."""
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(graph.get(root, ())))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            advanced = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(graph.get(w, ()))))
                    advanced = True
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def self_test():
    import contextlib
    import io
    import tempfile

    def run(tree):
        with tempfile.TemporaryDirectory() as d:
            for path, text in tree.items():
                os.makedirs(os.path.dirname(os.path.join(d, path)), exist_ok=True)
                with open(os.path.join(d, path), "w") as f:
                    f.write(text)
            with contextlib.redirect_stdout(io.StringIO()):
                return main(["include_cycles.py", d])

    mod = {
        "src/a.h": "int a_f(int x);\n",
        "src/b.h": "int b_f(int x);\n",
        "src/a.c": '#include "a.h"\n#include "b.h"\nint a_f(int x) { return b_f(x) + 1; }\n',
        "src/b.c": '#include "b.h"\n#include "a.h"\nint b_f(int x) { return x ? a_f(x - 1) : 0; }\n',
    }
    assert run(mod) == 1, "a module cycle was not found"
    mod["src/b.c"] = '#include "b.h"\nint b_f(int x) { return x; }\n'
    assert run(mod) == 0, "a tree without cycles failed"
    hdr = {"src/x.h": '#include "y.h"\n', "src/y.h": '#include "x.h"\n'}
    assert run(hdr) == 1, "a header cycle was not found"
    hdr["src/y.h"] = "int y;\n"
    assert run(hdr) == 0, "a header tree without cycles failed"


if __name__ == "__main__":
    if "--self-test" in sys.argv:
        self_test()
    sys.exit(main([a for a in sys.argv if a != "--self-test"]))
