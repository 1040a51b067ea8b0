#!/usr/bin/python3
"""The README's "Using it" commands, run in order in one folder, overwrite no file (issue 15).

Every `build/inrgan render|interp|zoom` line of the section's code blocks runs as written, with
these substitutions, which keep the output names the README's command would produce:
  * `-m MODEL.safetensors` -> the golden INR-GAN test model, `-m *cips*` -> the tiny CIPS one
    (the released files are not here);
  * --backend cpu is added (the rendering device does not change a name);
  * a size with a side above 2048 runs at 1/64 of each side instead (noted): a 16384² render
    takes minutes; a non-native size still gives the "-WxH" name it checks.
Before each command the folder's files are recorded (inode, size, mtime); a command that
replaces or changes any of them fails the test.

usage: test_cli_readme.py --inrgan PATH
"""
import argparse
import os
import re
import shlex
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
GOLDEN = os.path.join(HERE, "data", "golden_tiny.safetensors")
TINY_CIPS = os.path.join(HERE, "data", "tiny_cips.safetensors")

failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def readme_commands():
    text = open(os.path.join(ROOT, "README.md")).read()
    sec = text[text.index("## Using it"):]
    sec = sec[:sec.index("\n## ", 4)]
    cmds = []
    for block in re.findall(r"```\n(.*?)```", sec, flags=re.S):
        for line in block.splitlines():
            line = line.split(" #")[0].strip()
            if re.match(r"build/inrgan (render|interp|zoom) ", line):
                cmds.append(shlex.split(line))
    return cmds


def snapshot(d):
    out = {}
    for root, _, files in os.walk(d):
        for n in files:
            p = os.path.join(root, n)
            st = os.stat(p)
            out[os.path.relpath(p, d)] = (st.st_ino, st.st_size, st.st_mtime_ns)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--inrgan", required=True)
    a = ap.parse_args()
    cli = os.path.abspath(a.inrgan)
    cmds = readme_commands()
    check(len(cmds) >= 8, "found %d render/interp/zoom commands in the README's \"Using it\"" % len(cmds))
    with tempfile.TemporaryDirectory(prefix="ig-readme-") as work:
        for argv in cmds:
            args = argv[1:]
            for i, x in enumerate(args[:-1]):
                if x in ("-m", "--model"):
                    args[i + 1] = TINY_CIPS if "cips" in args[i + 1] else GOLDEN
            if "--size" in args:
                w, h = map(int, args[args.index("--size") + 1].split("x"))
                if max(w, h) > 2048:
                    print("note: %dx%d takes minutes: %s" % (w, h, " ".join(argv)))
                    small = list(args)
                    small[small.index("--size") + 1] = "%dx%d" % (w // 64, h // 64)
                    args = small
                    print("      running it at %s instead, which keeps the name pattern" % small[small.index("--size") + 1])
            before = snapshot(work)
            p = subprocess.run([cli] + args + ["--backend", "cpu", "-q"], cwd=work, capture_output=True, text=True,
                               timeout=900)
            after = snapshot(work)
            changed = sorted(k for k, v in before.items() if after.get(k) != v)
            new = sorted(set(after) - set(before))
            check(p.returncode == 0 and not changed and new,
                  "%s -> exit %d, %d new file(s) %s, overwritten: %s %s" %
                  (" ".join(argv), p.returncode, len(new), new[:3], changed, p.stderr.strip()[-200:]))
    print("%d failure(s)" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
