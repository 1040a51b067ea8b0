#!/usr/bin/python3
"""Tiled renders as a user meets them: bounded memory, signals, open files, progress, outputs.

usage: test_render_io.py --inrgan PATH [--maxrss PATH | --no-memory]   (--maxrss: tests/maxrss.c,
needed for the peak-RSS checks; --no-memory skips them, for sanitizer builds whose shadow memory
says nothing about the program's own)

Checks (issues 13, 15, 16; docs/coordinates.md "Tiles and memory", docs/cli.md):
  memory   peak RSS (tests/maxrss.c: wait4 of the child) of 1,048,576x64 and of batch 64 at 8192^2 renders
           stays within the budget plus the stated overhead (32 MiB + the model's tensors)
  signals  SIGINT/SIGTERM mid-render: exit 130, no temporary file, no partial output;
           a SIGKILLed run's temporary files are removed by the next run in that folder
  nofile   --batch larger than `ulimit -n` renders every image
  progress a long render reports progress on a pseudo-terminal (bar) and on a pipe (lines);
           -q silences it
  formats  16-bit PNG rounds to the 8-bit PNG exactly; tiled float (.npy, .tif) equals the
           untiled float render exactly
"""
import argparse
import os
import pty
import re
import resource
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zlib

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
MODEL = os.path.join(HERE, "data", "golden_tiny.safetensors")
OVERHEAD_KB = 32 * 1024  # docs/coordinates.md: fixed overhead beyond the budget (+ model tensors)

failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


MAXRSS = None  # tests/maxrss.c


def peak_rss(cmd):
    """Runs cmd under tests/maxrss (a small parent: a child forked from this Python would count
    Python's resident set in its peak); returns (exit code, stderr text, peak RSS in KiB)."""
    # INRGAN_PIN_VULKAN_LIBS (scripts/test.sh, for the leak checker) keeps lavapipe and the
    # validation layer loaded even for --backend cpu: about 64 MiB that is not the render's
    env = {k: v for k, v in os.environ.items() if k != "INRGAN_PIN_VULKAN_LIBS"}
    r = subprocess.run([MAXRSS] + cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=600,
                       env=env)
    lines = r.stderr.rstrip("\n").split("\n")
    m = re.match(r"maxrss_kib (\d+)$", lines[-1])
    return r.returncode, "\n".join(lines[:-1]), int(m.group(1)) if m else 1 << 40


def test_memory(cli, tmp):
    model_kb = os.path.getsize(MODEL) // 1024
    cases = [
        # (what, args, budget MiB): strides keep the CPU time small; the bound is the real one
        ("1048576x64 --stride 4, 64 MiB budget", ["--seeds", "0", "--size", "1048576x64", "--stride", "4",
                                                  "--memory", "64"], 64),
        ("1048576x64 --stride 8, default 1 GiB budget", ["--seeds", "0", "--size", "1048576x64", "--stride", "8"],
         1024),
        ("batch 64 at 8192x8192 --stride 32, 32 MiB budget", ["--seeds", "0-63", "--batch", "64", "--size",
                                                               "8192x8192", "--stride", "32", "--memory", "32"], 32),
        ("batch 64 at 8192x8192 --stride 32, 16 MiB budget", ["--seeds", "0-63", "--batch", "64", "--size",
                                                               "8192x8192", "--stride", "32", "--memory", "16"], 16),
    ]
    for what, args, mib in cases:
        out = os.path.join(tmp, "mem")
        t0 = time.time()
        rc, err, kb = peak_rss([cli, "render", "-m", MODEL, "--backend", "cpu", "-o", out] + args)
        bound = mib * 1024 + OVERHEAD_KB + model_kb
        split = [l for l in err.splitlines() if "at a time" in l]
        print(f"     {what}: {kb / 1024:.1f} MiB peak (bound {bound / 1024:.0f} MiB), {time.time() - t0:.1f} s"
              + (f"; {split[0]}" if split else ""))
        check(rc == 0, f"memory: {what} renders (rc {rc}: {err.strip()[-200:]})")
        check(kb <= bound, f"memory: {what}: peak RSS {kb} KiB <= {bound} KiB")
        shutil.rmtree(out, ignore_errors=True)
    # a batch split is said once on stderr
    rc, err, _ = peak_rss([cli, "render", "-m", MODEL, "--backend", "cpu", "-o", os.path.join(tmp, "mem"),
                           "--seeds", "0-63", "--batch", "64", "--size", "512x512", "--memory", "16"])
    check(rc == 0 and len(re.findall(r"\d+ of 64 at a time", err)) == 1, "memory: a split batch is announced once")


def leftovers(d):
    return sorted(f for f in os.listdir(d) if ".tmp" in f) if os.path.isdir(d) else []


def test_signals(cli, tmp):
    for sig in (signal.SIGINT, signal.SIGTERM):
        out = os.path.join(tmp, f"sig{int(sig)}")
        p = subprocess.Popen([cli, "render", "-m", MODEL, "--backend", "cpu", "-o", out, "--seeds", "0-3",
                              "--batch", "4", "--size", "4096x4096", "--npy"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        t0 = time.time()
        while time.time() - t0 < 60 and not leftovers(out):
            time.sleep(0.05)
        had_tmp = bool(leftovers(out))
        time.sleep(0.3)
        p.send_signal(sig)
        err = p.communicate(timeout=60)[1]
        files = os.listdir(out) if os.path.isdir(out) else []
        check(had_tmp, f"signals: {sig.name}: temporary files existed mid-render")
        check(p.returncode == 130, f"signals: {sig.name}: exit 130 (got {p.returncode})")
        check("[IG_ERR_INTERRUPTED]" in err, f"signals: {sig.name}: error line ({err.strip()[-120:]!r})")
        check(files == [], f"signals: {sig.name}: no temporary or partial file left ({files})")
    # SIGKILL leaves temporary files; the next run in that folder removes them (dead PIDs only)
    out = os.path.join(tmp, "killed")
    p = subprocess.Popen([cli, "render", "-m", MODEL, "--backend", "cpu", "-o", out, "--seeds", "0-1",
                          "--size", "4096x4096"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.time()
    while time.time() - t0 < 60 and not leftovers(out):
        time.sleep(0.05)
    p.kill()
    p.wait()
    stale = leftovers(out)
    check(len(stale) > 0, f"signals: SIGKILL leaves temporary files ({stale})")
    alive = os.path.join(out, f"seed0009.png.tmp{os.getpid()}")  # a live process's: kept
    open(alive, "w").close()
    other = os.path.join(out, "notes.txt.tmp1")  # not ours: kept
    open(other, "w").close()
    r = subprocess.run([cli, "render", "-m", MODEL, "--backend", "cpu", "-o", out, "--seeds", "5"],
                       capture_output=True, text=True, timeout=60)
    left = leftovers(out)
    check(r.returncode == 0 and "stale temporary file" in r.stderr, "signals: next run reports removing stale files")
    check(sorted(left) == sorted([os.path.basename(alive), os.path.basename(other)]),
          f"signals: stale files of the dead run removed, others kept ({left})")


def test_nofile(cli, tmp):
    def limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
    for extra, per in (([], 1), (["--npy", "--tiff"], 3)):
        out = os.path.join(tmp, "nofile")
        r = subprocess.run([cli, "render", "-m", MODEL, "--backend", "cpu", "-o", out, "--seeds", "0-199",
                            "--batch", "200", "-q"] + extra, capture_output=True, text=True, timeout=300,
                           preexec_fn=limit)
        n = len(os.listdir(out)) if os.path.isdir(out) else 0
        check(r.returncode == 0 and n == 200 * per,
              f"nofile: ulimit -n 64, --batch 200 {' '.join(extra)}: rc {r.returncode}, {n} files "
              f"({r.stderr.strip()[-160:]})")
        shutil.rmtree(out, ignore_errors=True)


def run_pty(cmd):
    """Runs cmd with stderr (and stdout) on a pseudo-terminal; returns (rc, output)."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(cmd[0], cmd)
    chunks = []
    while True:
        try:
            r, _, _ = select.select([fd], [], [], 120)
            if not r:
                break
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), b"".join(chunks).decode("utf-8", "replace")


def test_progress(cli, tmp):
    out = os.path.join(tmp, "prog")
    cmd = [cli, "render", "-m", MODEL, "--backend", "cpu", "-o", out, "--seeds", "0", "--size", "2048x2048"]
    rc, text = run_pty(cmd)
    bars = re.findall(r"\rrender \[=* *\] +\d+% [^\r\n]*ETA [0-9:?]+", text)
    check(rc == 0 and len(bars) >= 1, f"progress: terminal shows a redrawn bar ({len(bars)} draws)")
    check(any(" 100% " in b for b in bars), "progress: the bar ends at 100 %")
    t0 = time.time()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    took = time.time() - t0
    lines = [l for l in r.stderr.splitlines() if l.startswith("render: ")]
    print(f"     pipe: {took:.1f} s, {len(lines)} progress lines: {lines[-1] if lines else ''}")
    check(r.returncode == 0 and "\r" not in r.stderr, "progress: no bar on a pipe")
    check(len(lines) >= 1 and all(re.search(r"\d+% .*Mpx.*/s, ETA", l) for l in lines),
          "progress: lines with %, pixels, rate and ETA on a pipe")
    check(len(lines) <= 2 + took / 5, "progress: a line every 5 s at most on a pipe")
    check(lines and "100%" in lines[-1], "progress: last line at 100 %")
    r = subprocess.run(cmd + ["-q"], capture_output=True, text=True, timeout=300)
    check(r.returncode == 0 and r.stderr == "", f"progress: -q prints nothing ({r.stderr[:80]!r})")
    rc, text = run_pty(cmd + ["-q"])
    check(rc == 0 and text == "", "progress: -q prints nothing on a terminal")
    r = subprocess.run(cmd[:-1] + ["64x64"], capture_output=True, text=True, timeout=60)
    check(r.returncode == 0 and "render:" not in r.stderr, "progress: nothing for a render under a second")


def read_png(path):
    """Minimal PNG reader (8/16-bit RGB, non-interlaced): array [H, W, 3] uint8/uint16."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, hdr = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            hdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    w, h, depth, ctype, _, _, interlace = hdr
    assert ctype == 2 and interlace == 0
    bpp = 3 * depth // 8
    raw = zlib.decompress(idat)
    stride = w * bpp
    out = np.zeros((h, stride), np.uint8)
    prev = np.zeros(stride, np.int32)
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = np.frombuffer(raw, np.uint8, stride, y * (stride + 1) + 1).astype(np.int32)
        cur = np.zeros(stride, np.int32)
        if f in (0, 2):
            cur = (line + (prev if f == 2 else 0)) & 255
        else:
            for i in range(stride):
                a = cur[i - bpp] if i >= bpp else 0
                b = prev[i]
                c = prev[i - bpp] if i >= bpp else 0
                if f == 1:
                    p = a
                elif f == 3:
                    p = (a + b) // 2
                else:
                    pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                    p = a if pa <= pb and pa <= pc else b if pb <= pc else c
                cur[i] = (line[i] + p) & 255
        out[y] = cur
        prev = cur
    if depth == 16:
        return out.view(">u2").reshape(h, w, 3).astype(np.uint16)
    return out.reshape(h, w, 3)


def read_tiff(path):
    """Minimal reader of our float32 RGB TIFF (classic, little-endian, uncompressed strips)."""
    data = open(path, "rb").read()
    assert data[:4] == b"II*\x00"
    ifd = struct.unpack("<I", data[4:8])[0]
    n = struct.unpack("<H", data[ifd:ifd + 2])[0]
    tags = {}
    for i in range(n):
        tag, typ, cnt, val = struct.unpack("<HHII", data[ifd + 2 + 12 * i:ifd + 14 + 12 * i])
        if typ == 3 and cnt == 1:
            val &= 0xFFFF
        tags[tag] = (typ, cnt, val)

    def arr(tag):
        typ, cnt, val = tags[tag]
        size = 2 if typ == 3 else 4
        if cnt * size <= 4:
            return list(struct.unpack("<" + ("H" if size == 2 else "I") * cnt,
                                      struct.pack("<I", val)[:cnt * size]))
        return list(struct.unpack("<" + ("H" if size == 2 else "I") * cnt, data[val:val + cnt * size]))
    w, h = tags[256][2], tags[257][2]
    assert tags[259][2] == 1 and arr(339) == [3, 3, 3] and arr(258) == [32, 32, 32] and tags[277][2] == 3
    px = b"".join(data[o:o + c] for o, c in zip(arr(273), arr(279)))
    return np.frombuffer(px, "<f4").reshape(h, w, 3)


def test_formats(cli, tmp):
    base = ["render", "-m", MODEL, "--backend", "cpu", "--seeds", "3,7", "--size", "203x141",
            "--view", "-1.3,-1.1,1.2,0.9"]

    def render(name, extra):
        out = os.path.join(tmp, name)
        r = subprocess.run([cli] + base + ["-o", out, "-q"] + extra, capture_output=True, text=True, timeout=120)
        check(r.returncode == 0, f"formats: render {name} ({r.stderr.strip()[-160:]})")
        return out
    tiled = render("tiled", ["--npy", "--tiff", "--memory", "16", "-t", "24"])
    whole = render("whole", ["--npy", "--tiff", "-t", "4096"])
    dump = render("dump", ["--dump-blocks", "--npy"])  # the untiled float path of --dump-blocks
    d16 = render("d16", ["--depth", "16", "--memory", "16", "-t", "40"])
    # the CLI names non-native renders seedNNNN-WxH-view-...: one such name per seed
    suffix = "-203x141-view-1.3,-1.1,1.2,0.9"
    for s in ("seed0003" + suffix, "seed0007" + suffix):
        a = np.load(os.path.join(tiled, s + ".npy"))
        b = np.load(os.path.join(whole, s + ".npy"))
        c = np.load(os.path.join(dump, s + ".npy"))
        check(a.shape == (3, 141, 203) and a.dtype == np.float32, f"formats: {s}.npy is float32 [3,H,W]")
        check(np.array_equal(a, b), f"formats: {s}: tiled .npy == single-tile .npy exactly")
        check(np.array_equal(a, c), f"formats: {s}: tiled .npy == untiled (--dump-blocks) .npy exactly")
        ta = read_tiff(os.path.join(tiled, s + ".tif"))
        tb = read_tiff(os.path.join(whole, s + ".tif"))
        check(np.array_equal(ta, tb), f"formats: {s}: tiled .tif == single-tile .tif exactly")
        want = a.transpose(1, 2, 0) * np.float32(0.5) + np.float32(0.5)
        check(np.array_equal(ta, want), f"formats: {s}: .tif == 0.5 * npy + 0.5 (float32)")
        p8 = read_png(os.path.join(tiled, s + ".png"))
        p8w = read_png(os.path.join(whole, s + ".png"))
        p16 = read_png(os.path.join(d16, s + ".png"))
        check(np.array_equal(p8, p8w), f"formats: {s}: tiled 8-bit PNG == single-tile PNG")
        q8 = np.clip(a.transpose(1, 2, 0) * np.float32(127.5) + np.float32(128), 0, 255).astype(np.uint8)
        check(np.array_equal(p8, q8), f"formats: {s}: 8-bit PNG == floor(clamp(127.5 x + 128)) of the .npy")
        check(p16.dtype == np.uint16 and np.array_equal((p16.astype(np.int64) + 128) // 257, p8),
              f"formats: {s}: (q16 + 128) // 257 == the 8-bit PNG exactly")
        check(int(p16.max()) > 255 and len(np.unique(p16)) > len(np.unique(p8)),
              f"formats: {s}: the 16-bit PNG holds more levels than the 8-bit one")
    r = subprocess.run([cli] + base + ["-o", os.path.join(tmp, "bad"), "--depth", "12"], capture_output=True,
                       text=True)
    check(r.returncode == 2, "formats: --depth 12 is a usage error")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--inrgan", required=True)
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--maxrss")
    ap.add_argument("--only", default="")
    a = ap.parse_args()
    cli = os.path.abspath(a.inrgan)
    global MAXRSS
    if not a.no_memory and not a.maxrss:
        ap.error("--maxrss PATH (tests/maxrss.c) or --no-memory")
    MAXRSS = a.maxrss and os.path.abspath(a.maxrss)
    tests = [("formats", test_formats), ("nofile", test_nofile), ("signals", test_signals),
             ("progress", test_progress)]
    if not a.no_memory:
        tests.append(("memory", test_memory))
    for name, fn in tests:
        if a.only and name not in a.only.split(","):
            continue
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.time()
            fn(cli, tmp)
            print(f"     ({name}: {time.time() - t0:.1f} s)", flush=True)
    if failures:
        print(f"{len(failures)} FAILED")
        return 1
    print("all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
