#!/usr/bin/python3
"""Hostile and careless command lines (issue 16 items 1, 2, 9, 10, 12, 14; issue 15 items 3-5):
each must end with docs/cli.md's exit code and error form -- one stderr line
`inrgan: error: <what> [IG_ERR_NAME]`, the tag's exit class from src/ig_result.h -- and leave
nothing behind. Also: -o FILE.png, default names, the summary line, info --json (cJSON, '-').

usage: test_cli_probes.py --inrgan PATH
"""
import argparse
import json
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
GOLDEN = os.path.join(HERE, "data", "golden_tiny.safetensors")
LINE = re.compile(r"^inrgan: error: .+ \[(IG_ERR_[A-Z0-9_]+)\]$")

failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def exit_classes():
    text = open(os.path.join(ROOT, "include", "inrgan", "ig_result.h")).read()
    return {"IG_" + n: int(c) for n, c in re.findall(r"X\((\w+),\s*(\d+),", text)}


CLASSES = exit_classes()


def run(cli, args, cwd, stdout=subprocess.PIPE, preexec=None, timeout=300):
    return subprocess.run([cli] + args, stdout=stdout, stderr=subprocess.PIPE, text=True, cwd=cwd,
                          timeout=timeout, preexec_fn=preexec)


def listing(d):
    out = []
    for root, dirs, files in os.walk(d):
        out += [os.path.relpath(os.path.join(root, n), d) for n in dirs + files]
    return sorted(out)


def probe(cli, tmp, args, rc, tag, what, preexec=None, echo=None, stdout=subprocess.PIPE):
    """Runs `args` in an empty folder; checks exit code, the one error line and its tag, the
    tag's documented exit class, and that nothing was left in the folder."""
    work = tempfile.mkdtemp(dir=tmp)
    p = run(cli, args, work, preexec=preexec, stdout=stdout)
    lines = [l for l in p.stderr.splitlines() if l.strip()]
    m = LINE.match(lines[-1]) if lines else None
    errors = [l for l in lines if l.startswith("inrgan: error:")]
    ok = (p.returncode == rc and m is not None and m.group(1) == tag and len(errors) == 1 and
          lines[-1] == errors[0] and CLASSES.get(tag) == rc and (echo is None or echo in lines[-1]))
    left = listing(work)
    check(ok and not left, "%s: %s -> exit %d %r%s" % (what, " ".join(args)[:90], p.returncode,
                                                      lines[-1] if lines else "",
                                                      " LEFT %s" % left if left else ""))
    return p


def limit_file_size(nbytes):
    def f():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, nbytes))
    return f


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--inrgan", required=True)
    a = ap.parse_args()
    cli = os.path.abspath(a.inrgan)
    tmp = tempfile.mkdtemp(prefix="ig-probes-")
    R = ["render", "-m", GOLDEN, "--backend", "cpu", "-o", "out"]
    U, S, V, O = "IG_ERR_USAGE", "IG_ERR_SIZE", "IG_ERR_VIEW", "IG_ERR_OUTPUT"
    try:
        # 16.1: sizes that wrapped around in sscanf("%dx%d")
        for size in ("4294967360x4294967360", "4294967297x4294967297", "99999999999x99999999999",
                     "64x4294967360", "0x64", "-64x64", "2000000x64"):
            probe(cli, tmp, R + ["--size", size], 2, S, "--size out of range", echo="'%s'" % size)
        for size in ("64x64junk", "64", "x64", "64 x64", "0x40x40", "+64x64", "6.4x64", ""):
            probe(cli, tmp, R + ["--size", size], 2, U, "--size malformed")
        # 16.12 and every other numeric option: no trailing junk, no wrap-around
        numeric = [
            (R + ["--batch", "4294967297"], U), (R + ["--batch", "2junk"], U), (R + ["--batch", "0"], U),
            (R + ["--threads", "4294967298"], U), (R + ["--threads", "2junk"], U),
            (R + ["--stride", "4294967298"], U), (R + ["--stride", "2x"], U),
            (R + ["--tile", "4294967360"], U), (R + ["--tile", "64px"], U),
            (R + ["--truncation", "0.5junk"], U), (R + ["--truncation", "nan"], U), (R + ["--truncation", "1e999"], U),
            (R + ["--zoom", "0"], U), (R + ["--zoom", "-2"], U), (R + ["--zoom", "2x"], U),
            (R + ["--center", "1,2,3"], U), (R + ["--center", "1"], U), (R + ["--center", "0x1,0"], U),
            (R + ["--view", "-1,-1,1,1junk"], U), (R + ["--view", "-1,-1,1"], U), (R + ["--view", "inf,0,1,1"], U),
            (R + ["--interp", "0,1", "--t", "0.5x"], U), (R + ["--t", "0.5"], U),
            (R + ["--noise", "4294967297"], U), (R + ["--noise", "7junk"], U), (R + ["--noise", "-1"], U),
            (["info", "-m", GOLDEN, "--config", "tiny-nearest"], U),
            (["interp", "-m", GOLDEN, "--frames", "4294967312", "-o", "out"], U),
            (["interp", "-m", GOLDEN, "--frames", "3junk", "-o", "out"], U),
            (["zoom", "-m", GOLDEN, "--zoom-to", "0", "-o", "out"], U),
            (["zoom", "-m", GOLDEN, "--zoom-to", "8x", "-o", "out"], U),
            (["bench", "--config", "tiny-nearest", "--reps", "4294967298"], U),
            (["bench", "--config", "tiny-nearest", "--reps", "2junk"], U),
            (["bench", "--config", "tiny-nearest", "--warmup", "4294967297"], U),
            (["bench", "--config", "tiny-nearest", "--warmup", "1x"], U),
            (["bench", "--config", "tiny-nearest", "--threads", "4294967297"], U),
            (["bench", "--config", "tiny-nearest", "--threads", "2junk"], U),
            (["bench", "--config", "tiny-nearest", "--sizes", "32,4294967328"], U),
            (["bench", "--config", "tiny-nearest", "--sizes", "32,"], U),
            (["bench", "--config", "tiny-nearest", "--batch", "1,2junk"], U),
        ]
        for args, tag in numeric:
            probe(cli, tmp, args, 2, tag, "numeric option refused")
        # 16.9: an empty (or inverted) view is refused, not replaced by the native one
        for view in ("0,0,0,0", "1,0,0,1", "0,1,1,0"):
            probe(cli, tmp, R + ["--view", view], 2, V, "--view %s" % view)
        # 16.10: an empty -o
        probe(cli, tmp, ["render", "-m", GOLDEN, "-o", ""], 2, U, "-o ''")
        probe(cli, tmp, ["zoom", "-m", GOLDEN, "-o", ""], 2, U, "zoom -o ''")
        probe(cli, tmp, ["zoom", "-m", GOLDEN, "-o", "z.png"], 2, U, "zoom -o FILE.png")
        probe(cli, tmp, R[:-2] + ["--seeds", "0-1", "-o", "one.png"], 2, U, "-o FILE.png with two images")
        # option errors in the house form, with the pointer to the command's help
        for args, what in ((["render", "--sise", "8x8"], "unknown option '--sise'"),
                           (["render", "-s"], "unknown option '-s'"),
                           (["render", "--size"], "option '--size' needs a value"),
                           (["render", "-m"], "option '-m' needs a value"),
                           (["render", "--quiet=1"], "option '--quiet' takes no value"),
                           (["zoom", "--view", "0,0,1,1"], "unknown option '--view'"),
                           (["bench", "--frobnicate"], "unknown option '--frobnicate'"),
                           (["devices", "--seeds", "0"], "unknown option '--seeds'"),
                           (["info", "extra"], "unexpected argument 'extra'"),
                           (["frobnicate"], "unknown command 'frobnicate'"),
                           ([], "no command given"),
                           (["help", "frobnicate"], "unknown command 'frobnicate'")):
            p = probe(cli, tmp, args, 2, U, "usage error", echo=what)
            hint = "(see 'inrgan %s--help')" % (args[0] + " " if args and args[0] not in ("frobnicate", "help") else "")
            check(hint in p.stderr, "%s: the line points to %s" % (" ".join(args), hint))

        # 16.14: a render refused after its output folders were made leaves no folder
        # (the PNG cannot be written: a 64-byte file-size limit)
        probe(cli, tmp, ["render", "-m", GOLDEN, "--backend", "cpu", "--seeds", "0", "-o", "new/deeper"], 1, O,
              "failed write removes the folders it made", preexec=limit_file_size(64))
        # 16.2: info --json on a full disk: exit 1, no file (not even the temporary one)
        probe(cli, tmp, ["info", "-m", GOLDEN, "--json", "info.json"], 1, O, "info --json, file size limit",
              preexec=limit_file_size(64))
        probe(cli, tmp, ["bench", "--config", "tiny-nearest", "--reps", "1", "--json", "b.json", "-q"], 1, O,
              "bench --json, file size limit", preexec=limit_file_size(64))
        probe(cli, tmp, ["devices", "--json", "d.json"], 1, O, "devices --json, file size limit",
              preexec=limit_file_size(16))
        if os.path.exists("/dev/full"):
            for args in (["info", "-m", GOLDEN], ["info", "-m", GOLDEN, "--json", "-"], ["devices"],
                         ["devices", "--json", "-"], ["--help"],
                         ["render", "--help"], ["help", "zoom"], ["--version"],
                         ["bench", "--config", "tiny-nearest", "--reps", "1", "--json", "-", "-q"]):
                with open("/dev/full", "w") as full:
                    probe(cli, tmp, args, 1, O, "stdout on a full disk", stdout=full)
        else:
            print("skip /dev/full probes: no /dev/full")

        # outputs: -o FILE.png, names, summary line
        work = tempfile.mkdtemp(dir=tmp)
        base = ["render", "-m", GOLDEN, "--backend", "cpu", "--seeds", "3"]
        p = run(cli, base + ["-o", "out/"], work)
        check(p.returncode == 0 and "-> out/seed0003.png" in p.stderr and "//" not in p.stderr,
              "summary names the file, no double slash: %r" % p.stderr.strip().splitlines()[-1:])
        p = run(cli, ["render", "-m", GOLDEN, "--backend", "cpu", "--seeds", "0-1", "-o", "out//"], work)
        check(p.returncode == 0 and p.stderr.rstrip().endswith("-> out/") and "//" not in p.stderr,
              "summary names the folder once: %r" % p.stderr.strip().splitlines()[-1:])
        for extra in (["--size", "48x48"], ["--view", "-3,-3,3,3"], ["--stride", "4"], ["--size", "32x32"],
                      ["--center", "0.5,0", "--zoom", "2"], ["--size", "48x40", "--view", "-2,-1,2,1", "--stride", "2"]):
            check(run(cli, base + extra + ["-o", "out", "-q"], work).returncode == 0, "render %s" % " ".join(extra))
        names = sorted(os.listdir(os.path.join(work, "out")))
        want = ["seed0000.png", "seed0001.png", "seed0003-48x40-view-2,-1,2,1-stride2.png", "seed0003-48x48.png",
                "seed0003-stride4.png", "seed0003-view-3,-3,3,3.png", "seed0003-view0,-0.5,1,0.5.png", "seed0003.png"]
        check(names == want, "default names (native, size, view, stride; 32x32 is native): %s" % names)
        p = run(cli, base + ["--size", "40x24", "--npy", "-o", "pics/one.png", "-q"], work)
        check(p.returncode == 0 and sorted(os.listdir(os.path.join(work, "pics"))) == ["one.npy", "one.png"],
              "-o pics/one.png writes exactly pics/one.png (and one.npy with --npy)")
        p = run(cli, base + ["-o", "two.png"], work)
        check(p.returncode == 0 and os.path.isfile(os.path.join(work, "two.png")) and
              p.stderr.rstrip().endswith("-> two.png"), "-o two.png in the current folder: %r" % p.stderr.strip())

        # info --json through cJSON: a path with a quote stays valid JSON; '-' is stdout
        quoted = os.path.join(work, 'a "quoted" \\ model.safetensors')
        with open(GOLDEN, "rb") as f, open(quoted, "wb") as g:
            g.write(f.read())
        p = run(cli, ["info", "-m", quoted, "--json", "q.json"], work)
        try:
            doc = json.load(open(os.path.join(work, "q.json")))
            ok = doc["model"] == quoted and doc["config"]["family"] == "inrgan" and doc["parameters"] > 0
        except (OSError, ValueError, KeyError) as e:
            ok = False
        check(p.returncode == 0 and ok, "info --json with a quote in the path is valid JSON")
        p = run(cli, ["info", "-m", GOLDEN, "--json", "-"], work)
        try:
            ok = json.loads(p.stdout)["resolution"] > 0
        except ValueError:
            ok = False
        check(p.returncode == 0 and ok and not os.path.exists(os.path.join(work, "-")),
              "info --json - writes only JSON to stdout and no file named '-'")
        p = run(cli, ["info", "--config", "tiny-nearest", "--json", "-"], work)
        check(p.returncode == 0 and json.loads(p.stdout)["model"] == "tiny-nearest", "info --config NAME --json -")
        p = run(cli, ["bench", "--config", "tiny-nearest", "--sizes", "32", "--reps", "1", "--warmup", "0",
                      "--json", "-"], work)
        try:
            ok = json.loads(p.stdout)["schema"] == "inrgan-bench/1" and "img/s" in p.stderr
        except ValueError:
            ok = False
        check(p.returncode == 0 and ok, "bench --json -: JSON on stdout, the table on stderr")
    finally:
        subprocess.run(["rm", "-rf", tmp])
    print("%d failure(s)" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
