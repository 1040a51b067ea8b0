#!/usr/bin/python3
"""Help that matches: for every `inrgan` command, the options its parser accepts (the option
tables in src/cli/*.c), the options its --help lists and the options docs/cli.md documents for
it are the same set; each listed option is really accepted (not "unknown option"); `inrgan help
COMMAND` equals `COMMAND --help`; `--version` and `help` are listed.

usage: test_cli_help.py --inrgan PATH
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
COMMANDS = ["info", "render", "interp", "zoom", "bench", "devices", "serve"]
# src/cli/main.c's command bits (cli_opt.cmds)
BITS = {"render": 1, "interp": 2, "zoom": 4, "info": 8, "devices": 16}

failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def run(cli, args, **kw):
    return subprocess.run([cli] + args, capture_output=True, text=True, timeout=120, **kw)


def source_options():
    """{command: set of '--name'} from the option tables in the C sources."""
    main = open(os.path.join(ROOT, "src", "cli", "main.c")).read()
    bench = open(os.path.join(ROOT, "src", "cli", "bench.c")).read()
    consts = {"C_RENDER": 1, "C_INTERP": 2, "C_ZOOM": 4, "C_INFO": 8, "C_DEVICES": 16,
              "C_FRAMES": 6, "C_RIZ": 7}
    table = main[main.index("static const cli_opt g_options[]"):]
    table = table[:table.index("{0, 0, 0, 0, 0, 0, 0}}")]
    out = {c: set() for c in COMMANDS}
    for m in re.finditer(r'\{"([a-z][a-z0-9-]*)",\s*(?:\'.\'|0),\s*\w+,\s*[\w\']+,\s*([A-Z_ |]+),', table):
        mask = 0
        for part in m.group(2).split("|"):
            mask |= consts[part.strip()]
        for cmd, bit in BITS.items():
            if mask & bit:
                out[cmd].add("--" + m.group(1))
    btable = bench[bench.index("static const cli_opt bench_options[]"):]
    btable = btable[:btable.index("{0, 0, 0, 0, 0, 0, 0}}")]
    out["bench"] = {"--" + n for n in re.findall(r'\{"([a-z][a-z0-9-]*)",', btable)}
    serve = open(os.path.join(ROOT, "src", "cli", "serve.c")).read()
    stable = serve[serve.index("static const cli_opt g_serve_opts[]"):]
    stable = stable[:stable.index("{0, 0, 0, 0, 0, 0, 0}}")]
    out["serve"] = {"--" + n for n in re.findall(r'\{"([a-z][a-z0-9-]*)",', stable)}
    return out


def help_options(text):
    """(set of '--name', {'--name': metavar or None}) from the options part of a --help text."""
    names, meta = set(), {}
    for line in text.splitlines():
        m = re.match(r"^  (?:-\w, )?\s*--([a-z][a-z0-9-]*)(?: (\S+))?", line)
        if m:
            names.add("--" + m.group(1))
            meta["--" + m.group(1)] = m.group(2)
    return names, meta


def doc_sections():
    """{command: set of '--name'} from docs/cli.md's option tables."""
    text = open(os.path.join(ROOT, "docs", "cli.md")).read()
    sections = re.split(r"^## ", text, flags=re.M)
    out = {c: set() for c in COMMANDS}
    for sec in sections:
        title = sec.splitlines()[0] if sec else ""
        sec = sec.split("\n### ")[0]  # the option table comes before any subsection
        rows = [l for l in sec.splitlines() if l.startswith("| `-")]
        if title.startswith("`inrgan render`"):  # the shared table: | option | commands | meaning |
            for row in rows:
                cells = [c.strip() for c in row.strip("|").split(" | ")]
                spell = re.findall(r"--([a-z][a-z0-9-]*)", cells[0])
                for cmd in re.findall(r"render|interp|zoom", cells[1]):
                    out[cmd].update("--" + s for s in spell[:1])
        else:
            for cmd in ("info", "bench", "devices", "serve"):
                if title.startswith("`inrgan %s`" % cmd):
                    for row in rows:
                        spell = re.findall(r"--([a-z][a-z0-9-]*)", row.split(" | ")[0])
                        out[cmd].update("--" + s for s in spell[:1])
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--inrgan", required=True)
    a = ap.parse_args()
    cli = os.path.abspath(a.inrgan)
    src, docs = source_options(), doc_sections()
    top = run(cli, ["--help"])
    check(top.returncode == 0 and "--version" in top.stdout and "inrgan help" in top.stdout,
          "inrgan --help lists --version and help")
    for cmd in COMMANDS:
        check(("inrgan " + cmd) in top.stdout, "inrgan --help lists %s" % cmd)
    ver = run(cli, ["--version"])
    check(ver.returncode == 0 and ver.stdout.strip() != "", "--version prints the build id")
    with tempfile.TemporaryDirectory(prefix="ig-help-") as tmp:
        missing_model = os.path.join(tmp, "no-such-model.safetensors")
        for cmd in COMMANDS:
            p = run(cli, [cmd, "--help"])
            q = run(cli, ["help", cmd])
            check(p.returncode == 0 and p.stdout.startswith("usage: inrgan " + cmd),
                  "%s --help prints its own help (%r)" % (cmd, p.stdout[:40]))
            check(q.returncode == 0 and q.stdout == p.stdout, "inrgan help %s equals %s --help" % (cmd, cmd))
            names, meta = help_options(p.stdout)
            check(names == src[cmd], "%s: --help lists exactly the parser's options (only in parser: %s; "
                  "only in help: %s)" % (cmd, sorted(src[cmd] - names), sorted(names - src[cmd])))
            check(names == docs[cmd], "%s: docs/cli.md documents exactly its options (undocumented: %s; "
                  "documented but refused: %s)" % (cmd, sorted(names - docs[cmd]), sorted(docs[cmd] - names)))
            # every listed option is accepted by the parser (a missing model stops the run after it)
            bad = []
            for name in sorted(names - {"--help"}):
                value = "-" if (cmd, name) == ("devices", "--json") else "1"  # stdout: writes no file
                args = [cmd, name] + ([value] if meta.get(name) else [])
                if cmd != "devices" and name not in ("--model", "--config"):
                    args += ["-m", missing_model]
                r = run(cli, args, cwd=tmp)
                if "unknown option" in r.stderr or "needs a value" in r.stderr or "takes no value" in r.stderr:
                    bad.append("%s: %s" % (name, r.stderr.strip()))
            check(not bad, "%s: every option in --help is accepted %s" % (cmd, bad))
            check(os.listdir(tmp) == [], "%s: probing the options wrote nothing (%s)" % (cmd, os.listdir(tmp)))
        # an option of another command is refused, in the house form with the hint
        for cmd, foreign in (("zoom", "--view"), ("interp", "--npy"), ("info", "--seeds"), ("devices", "--seeds")):
            r = run(cli, [cmd, foreign, "1"] if foreign != "--npy" else [cmd, foreign])
            lines = r.stderr.strip().splitlines()
            check(r.returncode == 2 and len(lines) == 1 and
                  lines[0] == "inrgan: error: unknown option '%s' (see 'inrgan %s --help') [IG_ERR_USAGE]"
                  % (foreign, cmd), "%s %s is refused as unknown: %r" % (cmd, foreign, r.stderr.strip()))
    print("%d failure(s)" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
