#!/usr/bin/python3
"""Loader resource and hostile-input suite (issue 16, defects 4, 8, 11).

usage: test_loader_limits.py --inrgan PATH --model VALID.safetensors

Every case runs `inrgan` in a child and checks: the documented exit code, one error line with
the named result, and (release builds) a time bound of 10 s and an address-space limit of
512 MB (RLIMIT_AS; the child's peak RSS is printed). ASan builds cannot run under RLIMIT_AS
(the shadow memory reserves terabytes of address space) and run 5x slower, so there the limit
is not set and the time bound is 60 s; the error checks are the same.

Cases:
  - header bombs (64 MiB headers): 32 M numbers under an unknown entry key (a JSON tree would
    need ~2.7 GB), a 64 MiB config string in __metadata__ (refused with IG_ERR_LIMIT before
    the config is parsed), 1 M junk tensor entries (58 MB; tensor-name matching was quadratic:
    64 s), 100,000 nested arrays;
  - out of memory is reported as IG_ERR_OUT_OF_MEMORY (exit 1), never as bad JSON: the 1 M
    entry file under address-space limits from 512 MB down to 64 MB must give either its
    normal error or IG_ERR_OUT_OF_MEMORY, and at least one limit must give the latter;
  - a FIFO (and /dev/zero) as the model or as --z: refused at once (IG_ERR_MODEL_OPEN,
    IG_ERR_LATENT_FILE), where it used to wait forever for a writer;
  - .npy headers are parsed strictly: '<i8' data with a decoy '<f4' string, unknown or
    repeated keys, a missing key, trailing junk, "(4)" as a shape, data shorter than the
    shape: each IG_ERR_LATENT_FILE; a float32 and a float64 file still render (controls).
"""
import argparse
import json
import os
import resource
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np

LIMIT_AS = 512 << 20


def split(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    return raw[8:8 + n], raw[8 + n:]


def write_model(path, header_bytes, data):
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header_bytes)))
        f.write(header_bytes)
        f.write(data)


def is_asan(binary):
    with open(binary, "rb") as f:
        return b"__asan_init" in f.read()


# A small wrapper process forks, sets RLIMIT_AS, execs the command and reports the child's
# peak RSS from wait4: forking straight from this (large) test process would count its memory
# in the child's ru_maxrss, which survives exec.
WRAP = r"""
import os, resource, sys
limit = int(sys.argv[1])
pid = os.fork()
if pid == 0:
    if limit:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    fd = os.open(os.devnull, os.O_WRONLY)
    os.dup2(fd, 1)
    os.execv(sys.argv[2], sys.argv[2:])
_, status, ru = os.wait4(pid, 0)
sys.stdout.write("%d %d" % (os.waitstatus_to_exitcode(status), ru.ru_maxrss))
"""


def run_limited(cmd, limit_as, timeout):
    """Runs cmd with RLIMIT_AS = limit_as (None: no limit). Returns (rc, stderr, seconds,
    peak RSS in MB of that child); rc None when it had to be killed after `timeout` seconds."""
    t0 = time.monotonic()
    p = subprocess.Popen([sys.executable, "-c", WRAP, str(limit_as or 0)] + cmd,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        return None, "(killed after %d s)" % timeout, time.monotonic() - t0, 0.0
    secs = time.monotonic() - t0
    rc, rss = (int(x) for x in out.split())
    return rc, err.decode(errors="replace"), secs, rss / 1024.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--inrgan", required=True)
    ap.add_argument("--model", required=True)
    a = ap.parse_args()
    asan = is_asan(a.inrgan)
    limit = None if asan else LIMIT_AS
    bound = 60.0 if asan else 10.0
    header, data = split(a.model)
    header = header.rstrip()  # the writer pads the header with blanks after its closing brace
    h = json.loads(header)
    names = [k for k in h if k != "__metadata__"]
    tmp = tempfile.mkdtemp(prefix="ig-limits-")
    failures = []
    print(f"build: {'ASan (no address-space limit, 60 s bound)' if asan else 'release (RLIMIT_AS 512 MB, 10 s bound)'}")

    def check(label, cmd, want_rc, want_name, limit_as=limit, timeout=bound, max_rss=None):
        rc, err, secs, peak = run_limited(cmd, limit_as, timeout + 20)
        lines = [l for l in err.splitlines() if l.strip()]
        problems = []
        if rc is None:
            problems.append(err)
        elif rc != want_rc:
            problems.append(f"exit {rc} (want {want_rc})")
        if want_name and (len(lines) != 1 or want_name not in lines[0]):
            problems.append(f"stderr {err.strip()[:300]!r} (want one line with {want_name})")
        if secs > timeout:
            problems.append(f"took {secs:.1f} s (bound {timeout:.0f} s)")
        if max_rss and not asan and peak > max_rss:
            problems.append(f"peak RSS {peak:.0f} MB (bound {max_rss:.0f} MB)")
        status = "ok  " if not problems else "FAIL"
        print(f"{status} {label:44s} {secs:6.2f} s  peak RSS {peak:6.1f} MB  "
              f"-> {lines[0][:110] if lines else ''}")
        if problems:
            failures.append(f"{label}: " + "; ".join(problems))
        return rc, lines[0] if lines else ""

    try:
        info = lambda path: [a.inrgan, "info", "-m", path]
        # ---- header bombs --------------------------------------------------------------
        mib64 = 64 << 20
        # (1) 32 M numbers in an unknown key of an extra (zero-size) tensor entry
        body = header[:-1] + b', "zz.junk": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0], "pad": ['
        n_nums = (mib64 - len(body) - 4) // 2
        p = os.path.join(tmp, "numbers.safetensors")
        write_model(p, body + b"0," * (n_nums - 1) + b"0]}}", data)
        # memory bound of the header parse: the mapped file plus ~3x the header, plus 32 MB
        check("64 MiB header: 32 M numbers", info(p), 2, "IG_ERR_MODEL_UNEXPECTED_TENSOR",
              max_rss=4 * 64 + 32)
        os.remove(p)
        # (2) a 64 MiB config string
        meta = dict(h["__metadata__"])
        meta["inrgan"] = meta["inrgan"][:-1] + ', "pad": "' + "x" * mib64 + '"}'
        h2 = dict(h)
        h2["__metadata__"] = meta
        p = os.path.join(tmp, "config.safetensors")
        write_model(p, json.dumps(h2).encode(), data)
        check("64 MiB config string", info(p), 2, "IG_ERR_LIMIT")
        os.remove(p)
        # (3) 100,000 nested arrays
        p = os.path.join(tmp, "deep.safetensors")
        write_model(p, b'{"a": ' + b"[" * 100000 + b"]" * 100000 + b"}", b"")
        check("100,000 nested arrays", info(p), 2, "IG_ERR_MODEL_HEADER_JSON")
        os.remove(p)
        # (4) 1 M junk tensor entries after a valid model (58 MB)
        junk = b"".join(b', "junk%07d": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}' % i
                        for i in range(1000000))
        p1m = os.path.join(tmp, "million.safetensors")
        write_model(p1m, header[:-1] + junk + b"}", data)
        print(f"     (1 M entries: header {os.path.getsize(p1m) / 1e6:.1f} MB)")
        hmb = os.path.getsize(p1m) / 2 ** 20
        check("1 M junk entries: info", info(p1m), 2, "IG_ERR_MODEL_UNEXPECTED_TENSOR",
              max_rss=4 * hmb + 32)
        check("1 M junk entries: render", [a.inrgan, "render", "-m", p1m, "--seeds", "0", "-o",
                                           os.path.join(tmp, "out-1m"), "--backend", "cpu"],
              2, "IG_ERR_MODEL_UNEXPECTED_TENSOR")
        if os.path.exists(os.path.join(tmp, "out-1m")) and os.listdir(os.path.join(tmp, "out-1m")):
            failures.append("1 M junk entries: render left output")
        # ---- out of memory is named as such ---------------------------------------------
        if asan:
            print("skip out-of-memory sweep (ASan cannot run under RLIMIT_AS)")
        else:
            oom = 0
            for mb in (512, 256, 192, 160, 128, 96, 64):
                rc, err, secs, peak = run_limited(info(p1m), mb << 20, bound + 20)
                line = err.strip().splitlines()[0] if err.strip() else ""
                if rc == 1 and "IG_ERR_OUT_OF_MEMORY" in line and len(err.strip().splitlines()) == 1:
                    oom += 1
                    verdict = "ok  "
                elif rc == 2 and "IG_ERR_MODEL_UNEXPECTED_TENSOR" in line:
                    verdict = "ok  "
                else:
                    verdict = "FAIL"
                    failures.append(f"1 M entries under {mb} MB: rc={rc} {err.strip()[:200]!r}")
                print(f"{verdict} {'1 M junk entries, RLIMIT_AS %d MB' % mb:44s} {secs:6.2f} s  peak RSS {peak:6.1f} MB  "
                      f"-> {line[:110]}")
            if oom == 0:
                failures.append("no address-space limit gave IG_ERR_OUT_OF_MEMORY")
        os.remove(p1m)

        # ---- FIFOs and other non-regular files -------------------------------------------
        fifo = os.path.join(tmp, "model.fifo")
        os.mkfifo(fifo)
        check("FIFO as the model: info", info(fifo), 2, "IG_ERR_MODEL_OPEN", timeout=10)
        check("FIFO as the model: render", [a.inrgan, "render", "-m", fifo, "--seeds", "0", "-o",
                                            os.path.join(tmp, "out-fifo"), "--backend", "cpu"],
              2, "IG_ERR_MODEL_OPEN", timeout=10)
        check("/dev/zero as the model", info("/dev/zero"), 2, "IG_ERR_MODEL_OPEN", timeout=10)
        zfifo = os.path.join(tmp, "z.fifo")
        os.mkfifo(zfifo)
        render_z = lambda z: [a.inrgan, "render", "-m", a.model, "--z", z, "-o",
                              os.path.join(tmp, "out-z"), "--backend", "cpu", "-q"]
        check("FIFO as --z", render_z(zfifo), 2, "IG_ERR_LATENT_FILE", timeout=10)

        # ---- .npy headers, strictly ------------------------------------------------------
        cfg = json.loads(h["__metadata__"]["inrgan"])
        zd = cfg["z_dim"]

        def npy(name, hdr, payload, version=1):
            text = hdr.encode("latin1")
            pre = 10 if version == 1 else 12
            pad = (64 - (pre + len(text) + 1) % 64) % 64
            text += b" " * pad + b"\n"
            blob = b"\x93NUMPY" + bytes([version, 0]) + (
                struct.pack("<H", len(text)) if version == 1 else struct.pack("<I", len(text)))
            path = os.path.join(tmp, name)
            open(path, "wb").write(blob + text + payload)
            return path

        f32 = np.random.default_rng(1).standard_normal((2, zd)).astype(np.float32)
        good = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, %d), }" % zd
        check("npy control: float32 [2, z]", render_z(npy("ok32.npy", good, f32.tobytes())), 0, None)
        check("npy control: float64 [z], v2 header",
              render_z(npy("ok64.npy", "{'descr': '<f8', 'fortran_order': False, 'shape': (%d,), }" % zd,
                           f32[0].astype(np.float64).tobytes(), version=2)), 0, None)
        i8 = np.arange(2 * zd, dtype=np.int64).tobytes()
        bad = {
            "int64 data with a decoy '<f4' string":
                ("{'descr': '<i8', 'fortran_order': False, 'shape': (2, %d), 'x': \"'descr': '<f4'\"}" % zd, i8),
            "decoy '<f4' inside another key's string":
                ("{'descr': '<i8', 'fortran_order': False, 'shape': (2, %d), }   # 'descr': '<f4'" % zd, i8),
            "unknown key": ("{'descr': '<f4', 'fortran_order': False, 'shape': (2, %d), 'x': 1}" % zd, f32.tobytes()),
            "repeated descr": ("{'descr': '<i8', 'descr': '<f4', 'fortran_order': False, 'shape': (2, %d)}" % zd,
                               i8),
            "missing fortran_order": ("{'descr': '<f4', 'shape': (2, %d), }" % zd, f32.tobytes()),
            "fortran_order 'False' as a string": (
                "{'descr': '<f4', 'fortran_order': 'False', 'shape': (2, %d), }" % zd, f32.tobytes()),
            "shape (z) without the tuple comma": ("{'descr': '<f4', 'fortran_order': False, 'shape': (%d), }" % zd,
                                                  f32[0].tobytes()),
            "big-endian float32": ("{'descr': '>f4', 'fortran_order': False, 'shape': (2, %d), }" % zd,
                                   f32.byteswap().tobytes()),
            "data shorter than the shape (2^31 rows)": (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (2147483648, %d), }" % zd, f32.tobytes()),
            "not a dict": ("['descr', '<f4']", f32.tobytes()),
        }
        for i, (label, (hdr, payload)) in enumerate(bad.items()):
            check("npy: " + label, render_z(npy("bad%d.npy" % i, hdr, payload)), 2, "IG_ERR_LATENT_FILE")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{len(failures)} failures")
    for f in failures:
        print("FAIL", f)
    return 1 if failures else 0


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(main())
