#!/usr/bin/python3
"""The Python package and the trainer's first run (docs/training.md "Installing", "Quick start").

    /usr/bin/python3 tests/test_pypkg.py [--inrgan build/inrgan] [--keep DIR]

  * `pip install ./python` offline (--no-build-isolation --no-index, pip's config ignored) into
    a fresh `python3 -m venv --system-site-packages`: every console script (inrgan-convert,
    inrgan-convert-cips, inrgan-export, inrgan-train, inrgan-bench-torch) answers --help, and
    `python -m inrgan.train --help` works from a folder outside python/ with the installed
    copy (not the source tree); `pip install -e` of the same tree imports from that tree;
  * inrgan-export writes every CIPS built-in the engine knows small enough to be quick
    (tiny-cips, tiny-cips-res) and an INR-GAN one; with --inrgan, `inrgan info -m FILE` equals
    `inrgan info --config NAME` (but for the model line) and the file renders;
  * inrgan-train --help shows the defaults and the quick preset; bad --data / --g-config values
    give one error line, exit 2 and no run folder;
  * the quick start (`--preset quick --data synthetic`), shortened (snapshot after 5 s, stop
    after 20 s): the first progress line comes within FIRST_LINE_S seconds of the start (a
    bound for a busy shared machine; about 3-8 s measured), a sample grid (a 4x4 grid of 32x32
    images: 128x128 PNG) appears, the checkpoint stays under 20 MB.

The install works on a copy of python/ in a temporary folder, so the source tree gets no build/
or *.egg-info. Exit 0 pass, 1 fail, 2 bad usage, 77 skipped (no torch, or no venv/ensurepip).
"""

import argparse
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time

from torch_env import ROOT, check, run_checks  # noqa: F401  (skip without torch)

SCRIPTS = ("inrgan-convert", "inrgan-convert-cips", "inrgan-export", "inrgan-train",
           "inrgan-bench-torch")
FIRST_LINE_S = 45.0
PY = "/usr/bin/python3"


def run(cmd, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 300)
    return subprocess.run(cmd, **kw)


def clean_env():
    env = dict(os.environ)
    for k in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"):
        env.pop(k, None)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def make_venv(path):
    r = run([PY, "-m", "venv", "--system-site-packages", path])
    if r.returncode != 0:
        print("SKIP: python3 -m venv failed (Debian: apt-get install python3-venv): %s"
              % r.stderr.strip()[-300:])
        sys.exit(77)
    return os.path.join(path, "bin")


def pip_install(bindir, *args):
    r = run([os.path.join(bindir, "python"), "-m", "pip", "install", "--isolated",
             "--no-build-isolation", "--no-index", "--disable-pip-version-check", "-q"]
            + list(args), env=clean_env())
    assert r.returncode == 0, "pip install %s failed (%d): %s" % (
        " ".join(args), r.returncode, (r.stdout + r.stderr)[-1500:])


def copy_package(dst):
    os.makedirs(dst)
    shutil.copy(os.path.join(ROOT, "python", "pyproject.toml"), dst)
    shutil.copytree(os.path.join(ROOT, "python", "inrgan"), os.path.join(dst, "inrgan"),
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return dst


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", "%s is not a PNG" % path
    return struct.unpack(">II", head[16:24])


class Ctx:
    pass


@check
def install(c):
    c.src = copy_package(os.path.join(c.tmp, "pkg"))
    c.bin = make_venv(os.path.join(c.tmp, "venv"))
    t = time.time()
    pip_install(c.bin, c.src)
    c.install_s = time.time() - t
    missing = [s for s in SCRIPTS if not os.access(os.path.join(c.bin, s), os.X_OK)]
    assert not missing, "console scripts missing after pip install: %s" % missing
    left = sorted(n for n in os.listdir(c.src) if n not in ("pyproject.toml", "inrgan",
                                                              "build", "inrgan.egg-info"))
    assert not left, "unexpected files in the installed tree: %s" % left
    return "pip install offline in %.1f s; %d console scripts" % (c.install_s, len(SCRIPTS))


@check
def console_help(c):
    for s in SCRIPTS:
        r = run([os.path.join(c.bin, s), "--help"], env=clean_env(), cwd=c.tmp)
        assert r.returncode == 0 and "usage:" in r.stdout, "%s --help: rc %d, %s" % (
            s, r.returncode, (r.stdout + r.stderr)[-500:])
    return "every console script answers --help"


@check
def module_outside_tree(c):
    py = os.path.join(c.bin, "python")
    r = run([py, "-c", "import inrgan, sys; print(inrgan.__file__)"], env=clean_env(), cwd=c.tmp)
    where = r.stdout.strip()
    assert r.returncode == 0 and os.path.join(c.tmp, "venv") in where, (
        "inrgan imported from %r, expected the venv's site-packages (%s)" % (where, r.stderr))
    r = run([py, "-m", "inrgan.train", "--help"], env=clean_env(), cwd=c.tmp)
    assert r.returncode == 0 and "--preset" in r.stdout, "python -m inrgan.train --help: %s" % (
        r.stdout + r.stderr)[-500:]
    return "python -m inrgan.train from %s uses %s" % (c.tmp, where)


@check
def export_cips(c):
    exp = os.path.join(c.bin, "inrgan-export")
    out = []
    for name in ("tiny-cips", "tiny-cips-res", "tiny-nearest"):
        path = os.path.join(c.tmp, name + ".safetensors")
        r = run([exp, "--config", name, "--seed", "1", "-o", path, "-q"], env=clean_env())
        assert r.returncode == 0 and os.path.getsize(path) > 1000, "inrgan-export %s: %s" % (
            name, r.stderr[-500:])
        if c.cli is None:
            out.append(name)
            continue
        a = run([c.cli, "info", "-m", path])
        b = run([c.cli, "info", "--config", name])
        assert a.returncode == 0 and b.returncode == 0, "inrgan info: %s %s" % (a.stderr, b.stderr)
        strip = lambda t: [ln for ln in t.splitlines() if not ln.startswith("model:")]  # noqa: E731
        assert strip(a.stdout) == strip(b.stdout), "%s: info of the exported file differs " \
            "from the built-in:\n%s\n---\n%s" % (name, a.stdout, b.stdout)
        r = run([c.cli, "render", "-m", path, "--seeds", "0", "-o", os.path.join(c.tmp, "r"),
                 "--backend", "cpu", "-q"])
        assert r.returncode == 0, "render %s: %s" % (name, r.stderr)
        out.append(name)
    r = run([exp, "--config", "tiny-cips", "--unaligned", "-o", os.path.join(c.tmp, "x.st")],
            env=clean_env())
    assert r.returncode == 2 and "INR-GAN configs only" in r.stderr, r.stderr
    assert not os.path.exists(os.path.join(c.tmp, "x.st")), "refused export left a file"
    return "exported %s%s" % (", ".join(out), "" if c.cli else " (no --inrgan: not compared)")


@check
def train_help(c):
    r = run([os.path.join(c.bin, "inrgan-train"), "--help"], env=clean_env())
    for want in ("(default: 32)", "(default: 10.0)", "--preset", "quick:", "--data synthetic"):
        assert want in r.stdout, "inrgan-train --help lacks %r" % want
    return "defaults and the quick preset shown"


@check
def train_quick(c):
    run_dir = os.path.join(c.tmp, "quick")
    cmd = [os.path.join(c.bin, "inrgan-train"), "--preset", "quick", "--data", "synthetic",
           "--outdir", run_dir, "--snap-minutes", "0.08", "--max-minutes", "0.33"]
    t0 = time.time()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         env=clean_env(), cwd=c.tmp)
    first = None
    lines = []
    try:
        for line in p.stdout:
            lines.append(line.rstrip())
            if first is None and line.startswith("kimg"):
                first = time.time() - t0
        rc = p.wait(timeout=300)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    log = "\n".join(lines[-15:])
    assert rc == 0, "quick run failed (%d):\n%s" % (rc, log)
    assert first is not None, "no progress line:\n%s" % log
    assert first <= FIRST_LINE_S, "first progress line after %.1f s (> %g s)" % (
        first, FIRST_LINE_S)
    grids = sorted(os.listdir(os.path.join(run_dir, "samples")))
    assert grids, "no sample grid written:\n%s" % log
    size = png_size(os.path.join(run_dir, "samples", grids[0]))
    assert size == (128, 128), "grid %s is %dx%d, expected 128x128" % (grids[0], *size)
    ck = os.path.getsize(os.path.join(run_dir, "checkpoint.pt"))
    assert ck < 20e6, "quick-preset checkpoint is %.1f MB" % (ck / 1e6)
    assert any(ln.startswith("stopping: reached --max-minutes") for ln in lines), log
    return "first progress line after %.1f s, %d grid(s), checkpoint %.1f MB, %.0f s in all" % (
        first, len(grids), ck / 1e6, time.time() - t0)


@check
def train_bad_input(c):
    tr = os.path.join(c.bin, "inrgan-train")
    cases = [(["--data", os.path.join(c.tmp, "missing.npy")], "No such file"),
             (["--data", "synthetic:7"], "power of two"),
             (["--data", "synthetic", "--g-config", '{"bogus": 1}'], "--g-config"),
             (["--data", "synthetic:64", "--g-config", "tiny-nearest"], "generator config")]
    for extra, want in cases:
        out = os.path.join(c.tmp, "bad-run")
        r = run([tr, "--preset", "quick", "--outdir", out] + extra, env=clean_env())
        last = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else ""
        assert r.returncode == 2 and "error:" in last and want in last and \
            "Traceback" not in r.stderr, "%s: rc %d, %r" % (extra, r.returncode, r.stderr[-400:])
        assert not os.path.exists(out), "%s: refused run left %s" % (extra, out)
    return "%d bad inputs: one error line, exit 2, no run folder" % len(cases)


@check
def editable(c):
    src = copy_package(os.path.join(c.tmp, "pkg-e"))
    bindir = make_venv(os.path.join(c.tmp, "venv-e"))
    pip_install(bindir, "-e", src)
    r = run([os.path.join(bindir, "python"), "-c", "import inrgan; print(inrgan.__file__)"],
            env=clean_env(), cwd=c.tmp)
    assert r.returncode == 0 and r.stdout.strip() == os.path.join(src, "inrgan", "__init__.py"), \
        "editable install imports %r (%s)" % (r.stdout.strip(), r.stderr[-300:])
    r = run([os.path.join(bindir, "inrgan-export"), "--help"], env=clean_env())
    assert r.returncode == 0, r.stderr
    return "pip install -e imports from the source tree"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--inrgan", default=None, help="the inrgan CLI (compare info, render)")
    ap.add_argument("--keep", default=None, help="keep the work files in this folder")
    a = ap.parse_args()
    if a.inrgan is not None and not os.path.exists(a.inrgan):
        print("inrgan CLI not found: %s" % a.inrgan)
        return 2
    c = Ctx()
    c.cli = a.inrgan
    c.tmp = a.keep or tempfile.mkdtemp(prefix="inrgan_pypkg_")
    os.makedirs(c.tmp, exist_ok=True)
    try:
        import ensurepip  # noqa: F401
    except ImportError:
        print("SKIP: no ensurepip (Debian: apt-get install python3-venv)")
        return 77
    try:
        rc = run_checks(c)
    finally:
        if a.keep is None:
            shutil.rmtree(c.tmp, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
