#!/usr/bin/python3
"""Resource bounds of the checkpoint converters (restricted_pickle.Limits) and their output
handling.

    /usr/bin/python3 tests/test_convert_limits.py [--keep DIR] [--fuzz-seconds 15]

1. Bombs, each built here at test time (a few MB on disk at most) and run through
   `python -m inrgan.convert` in a child process under RLIMIT_AS = 512 MiB. Each must end
   with exit status 2, one line on stderr naming the limit (or the check) that stopped it,
   no output file, in under 10 s wall time and 512 MiB peak RSS (the child's own ru_maxrss,
   from os.wait4). The 512 MiB address-space limit is honest here because the converter
   reads and checks the whole input before it imports torch (python3 + numpy reserve about
   220 MiB of address space; torch alone would need ~800 MiB):
   * zip .pt whose data.pkl inflates to 1 GiB (1 MB on disk), refused by zip-ratio, by
     pickle-bytes with the ratio limit lifted, and with a size field that lies;
   * zip .pt state dict whose tensor is a small view of a 1 GiB deflated storage: zip-ratio,
     then unused-storage-bytes; with both lifted only the view's bytes are read;
   * a pickle copying one large list (and dict) 1,000 times: work;
   * dict keys i*(2**61-1) (80,000 keys, quadratic in Python's dict): refused at once;
   * 50 MB of MARK opcodes: mark-depth; 50 MB of distinct memo puts: work;
   * a zip whose central directory holds 300,000 entries: zip-members;
   * 5,000 tuple keys: composite-keys; one 900 KB byte string copied 1,000 times through
     bytearray(): work; a tensor of 2**28 elements over a 1-element storage (stride 0):
     refused (overlapping view).
2. Honest files: a torch.save state dict of the tiny config converts with the default
   limits; `--limit work=1000` stops it with the work limit named; malformed --limit values
   are usage errors (exit 2). (The full-size FFHQ fixture converts with the defaults in
   tests/test_convert.py.)
3. Output errors exit 1, name the output and leave no file: the model write failing with
   EFBIG (RLIMIT_FSIZE, like a full disk), --json into a missing folder (the model written
   just before is removed too); convert_cips the same.
4. The fuzzer tests/fuzz_unpickler.py runs for --fuzz-seconds (default 15) with no finding.

Exit 0 pass, 1 failure, 77 if torch is unavailable (needed to build the honest fixtures).
"""

import argparse
import collections
import io
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from torch_env import ROOT, np, torch  # noqa: E402,F401  (sys.path, skip without torch)

PYDIR = os.path.join(ROOT, "python")
PY = "/usr/bin/python3"

import fixtures_official as fx  # noqa: E402
from inrgan import config, generator  # noqa: E402

MIB = 1 << 20
GIB = 1 << 30
AS_LIMIT = 512 * MIB
MAX_WALL = 10.0
MAX_RSS = 512 * MIB
FAILURES = []
LAST_CPU = [0.0]


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        FAILURES.append(what)
    return cond


# ---- child processes ---------------------------------------------------------------------------

# A small launcher forks the measured child: a child forked straight from this process (torch
# imported) would inherit this process's resident set into its ru_maxrss.
_LAUNCHER = r"""
import json, os, resource, signal, sys, time
res, as_limit, fsize, argv = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
t0 = time.monotonic()
pid = os.fork()
if pid == 0:
    try:
        os.setpgid(0, 0)
        resource.setrlimit(resource.RLIMIT_CPU, (120, 120))
        if as_limit:
            resource.setrlimit(resource.RLIMIT_AS, (as_limit, as_limit))
        if fsize >= 0:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)    # writes fail with EFBIG instead
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
        os.execv(argv[0], argv)
    finally:
        os._exit(127)
with open(res + ".pid", "w") as f:
    f.write(str(pid))
_, status, ru = os.wait4(pid, 0)
with open(res, "w") as f:
    json.dump({"rc": os.waitstatus_to_exitcode(status), "wall": time.monotonic() - t0,
               "maxrss": ru.ru_maxrss * 1024, "cpu": ru.ru_utime + ru.ru_stime}, f)
"""


def run_child(argv, as_limit=AS_LIMIT, fsize=None, timeout=60):
    """Runs argv with PYTHONPATH=python under the limits; returns (rc, stdout, stderr, wall s,
    peak RSS in bytes of that child alone, from wait4)."""
    env = dict(os.environ, PYTHONPATH=PYDIR, PYTHONDONTWRITEBYTECODE="1")
    with tempfile.TemporaryDirectory() as d, tempfile.TemporaryFile() as out, \
            tempfile.TemporaryFile() as err:
        res = os.path.join(d, "res.json")
        p = subprocess.Popen([PY, "-I", "-S", "-c", _LAUNCHER, res, str(as_limit or 0),
                              str(-1 if fsize is None else fsize)] + list(argv),
                             stdout=out, stderr=err, env=env, cwd=ROOT)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            try:
                with open(res + ".pid") as f:
                    os.killpg(int(f.read()), signal.SIGKILL)
            except (OSError, ValueError):
                pass
            p.wait()
        out.seek(0)
        err.seek(0)
        so = out.read().decode("utf-8", "replace")
        se = err.read().decode("utf-8", "replace")
        try:
            with open(res) as f:
                r = json.load(f)
        except (OSError, ValueError):
            return -1, so, se + "\n(launcher failed or timed out)", float(timeout), 0
        LAST_CPU[0] = r["cpu"]
        return r["rc"], so, se, r["wall"], r["maxrss"]


def convert_argv(src, out, *extra):
    return [PY, "-B", "-m", "inrgan.convert", src, "-o", out] + list(extra)


def expect_refusal(name, src, phrase, tmp, extra=(), argv=None):
    out = os.path.join(tmp, "out.safetensors")
    argv = argv or convert_argv(src, out, "--config", "tiny-nearest", *extra)
    rc, so, se, wall, rss = run_child(argv)
    lines = se.strip().splitlines()
    ok = (rc == 2 and len(lines) == 1 and phrase in lines[0] and wall < MAX_WALL
          and LAST_CPU[0] < MAX_WALL and rss < MAX_RSS and not os.path.exists(out))
    check(ok, "%s: exit %d in %.2f s (%.2f s CPU), peak RSS %.0f MiB: %s" % (
        name, rc, wall, LAST_CPU[0], rss / MIB,
        lines[0] if len(lines) == 1 else repr(se[-300:])))
    if not ok and phrase not in se:
        print("     expected the message to contain %r" % phrase)
    return se


# ---- zip archives written by hand (so that sizes can be chosen freely) -------------------------

def deflate_repeat(chunk, times):
    """A raw deflate stream of chunk * times built without compressing all of it: after a
    full flush the compressor starts afresh, so every repetition compresses the same."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    one = c.compress(chunk) + c.flush(zlib.Z_FULL_FLUSH)
    two = c.compress(chunk) + c.flush(zlib.Z_FULL_FLUSH)
    assert one == two
    crc = 0
    for _ in range(times):
        crc = zlib.crc32(chunk, crc)
    return one * times + c.flush(), crc


def write_zip(path, members):
    """members: (name, data, method, usize, crc) with data the stored/deflated bytes and
    usize/crc what the headers declare (None: computed from stored data)."""
    with open(path, "wb") as f:
        cd = []
        for name, data, method, usize, crc in members:
            name_b = name.encode()
            if usize is None:
                usize = len(data)
            if crc is None:
                crc = zlib.crc32(data)
            off = f.tell()
            f.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0x21, crc,
                                len(data), usize, len(name_b), 0) + name_b)
            f.write(data)
            cd.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0,
                                  0x21, crc, len(data), usize, len(name_b), 0, 0, 0, 0, 0, off)
                      + name_b)
        start = f.tell()
        for e in cd:
            f.write(e)
        size = f.tell() - start
        n = len(cd)
        f.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, min(n, 0xFFFF), min(n, 0xFFFF),
                            size, start, 0))


class ZStorage:
    def __init__(self, key, numel):
        self.key, self.numel = key, numel


def state_dict_pickle(entries):
    """data.pkl of an OrderedDict name -> tensor (storage ZStorage, offset, shape, stride)."""
    def pid(obj):
        if isinstance(obj, ZStorage):
            return ("storage", fx.STORAGE_TYPES[np.dtype(np.float32)], obj.key, "cpu",
                    obj.numel)
        return None
    obj = collections.OrderedDict(
        (name, fx.Evil(fx.REBUILD_TENSOR_V2, (st, off, shape, stride, False,
                                              collections.OrderedDict())))
        for name, (st, off, shape, stride) in entries.items())
    return fx.dumps(obj, protocol=2, persistent_id=pid)


# ---- the bombs ---------------------------------------------------------------------------------

def bomb_zip_pickle(path, lie=False):
    """data.pkl: PROTO 2 then 1 GiB of MARK opcodes, deflated to ~1 MB."""
    body, crc = deflate_repeat(b"(" * MIB, 1024)
    usize = 1000 if lie else GIB
    write_zip(path, [("archive/data.pkl", body, 8, usize, crc),
                     ("archive/byteorder", b"little", 0, None, None)])


def bomb_zip_view(path):
    """A state dict whose tensor is 512 floats of a 1 GiB deflated storage of zeros."""
    st = ZStorage("0", GIB // 4)
    pkl = state_dict_pickle({"mapping.w_avg": (st, 0, (512,), (1,))})
    body, crc = deflate_repeat(bytes(MIB), 1024)
    write_zip(path, [("archive/data.pkl", pkl, 0, None, None),
                     ("archive/byteorder", b"little", 0, None, None),
                     ("archive/data/0", body, 8, GIB, crc)])


def _op_global(module, name):
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def bomb_list_copies(path, dict_=False):
    """One list of 400,000 items (dict of 100,000) copied 1,000 times by builtins.list/dict."""
    out = io.BytesIO()
    out.write(b"\x80\x02]")                            # outer list (kept on the stack)
    if dict_:
        out.write(b"}")
        for i in range(0, 100000, 1000):
            out.write(b"(" + b"".join(b"J" + struct.pack("<i", k) + b"N"
                                      for k in range(i, i + 1000)) + b"u")
    else:
        out.write(b"]")
        for _ in range(400):
            out.write(b"(" + b"N" * 1000 + b"e")
    out.write(b"q\x01")                                # memo 1: the big container
    out.write(b"0")
    out.write(_op_global("builtins", "dict" if dict_ else "list") + b"q\x02")
    out.write(b"0")
    for _ in range(1000):
        out.write(b"h\x02h\x01\x85Ra")                 # outer.append(list(big))
    out.write(b".")
    with open(path, "wb") as f:
        f.write(out.getvalue())


def bomb_hash(path, n=80000):
    """A dict with n int keys i*(2**61-1): all hash to 0 in CPython."""
    out = io.BytesIO()
    out.write(b"\x80\x02}")
    m = (1 << 61) - 1
    for i in range(1, n + 1, 1000):
        out.write(b"(")
        for k in range(i, min(i + 1000, n + 1)):
            b = (k * m).to_bytes(((k * m).bit_length() + 8) // 8, "little", signed=True)
            out.write(b"\x8a" + bytes([len(b)]) + b + b"N")
        out.write(b"u")
    out.write(b".")
    with open(path, "wb") as f:
        f.write(out.getvalue())


def bomb_marks(path):
    with open(path, "wb") as f:
        f.write(b"\x80\x02" + b"(" * (50 * MIB))


def bomb_memo(path):
    """10 million distinct LONG_BINPUT memo entries (50 MB)."""
    with open(path, "wb") as f:
        f.write(b"\x80\x02N")
        f.write(b"".join(b"r" + struct.pack("<I", i) for i in range(10 * MIB)))
        f.write(b".")


def bomb_zip_entries(path, n=300000):
    """A zip of n empty entries (~20 MB, 13 MB of central directory)."""
    with open(path, "wb") as f:
        cd = io.BytesIO()
        for i in range(n):
            name = b"archive/data/%d" % i
            off = f.tell()
            f.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0x21, 0, 0, 0,
                                len(name), 0) + name)
            cd.write(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 0, 0, 0x21, 0,
                                 0, 0, len(name), 0, 0, 0, 0, 0, off) + name)
        start = f.tell()
        f.write(cd.getvalue())
        f.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, len(cd.getvalue()),
                            start, 0))


def bomb_tuple_keys(path, n=5000):
    out = io.BytesIO()
    out.write(b"\x80\x02}(")
    for i in range(n):
        out.write(b"J" + struct.pack("<i", i) + b"K\x01\x86N")
    out.write(b"u.")
    with open(path, "wb") as f:
        f.write(out.getvalue())


def bomb_bytearray(path):
    """One 900 KB bytes object (a lazy file range) turned into 1,000 bytearrays."""
    out = io.BytesIO()
    out.write(b"\x80\x04]")
    out.write(b"B" + struct.pack("<I", 900 * 1024) + bytes(900 * 1024) + b"q\x01" + b"0")
    out.write(_op_global("builtins", "bytearray") + b"q\x02" + b"0")
    for _ in range(1000):
        out.write(b"h\x02h\x01\x85Ra")
    out.write(b".")
    with open(path, "wb") as f:
        f.write(out.getvalue())


def bomb_stride0(path):
    """A legacy-style pickled state dict: a 2**28-element tensor, stride 0, 1-float storage."""
    t = fx.FakeTensor(fx.FakeStorage(np.zeros(1, np.float32)), 0, (1 << 28,), (0,))
    fx.dump(path, {"mapping.w_avg": t}, protocol=4)


def bomb_shared_storage(path):
    """200 tensors, each a full view of one 4 MiB storage (a pickled dict)."""
    st = fx.FakeStorage(np.zeros(MIB, np.float32))
    fx.dump(path, {"t%d" % i: fx.FakeTensor(st, 0, (MIB,), (1,)) for i in range(200)},
            protocol=4)


def bomb_interpolation(path, levels=24):
    """A Generator whose cfg doubles a 4 KiB string 24 times through "${a}${a}" (64 GiB)."""
    cfg = {"a0": "x" * 4096}
    for k in range(1, levels + 1):
        cfg["a%d" % k] = "${a%d}${a%d}" % (k - 1, k - 1)
    g = fx.FakePersistent("Generator", "# never run\n", {"_init_kwargs": {"cfg": cfg}})
    fx.dump(path, {"G_ema": g}, protocol=4)


def bomb_long_key(path):
    """A config dict under an 8 MiB key holding 20,000 entries (each entry's path would
    repeat the key)."""
    cfg = {"k" * (8 * MIB): {"e%d" % i: i for i in range(20000)}}
    g = fx.FakePersistent("Generator", "# never run\n", {"_init_kwargs": {"cfg": cfg}})
    fx.dump(path, {"G_ema": g}, protocol=4)


def bomb_deep_modules(path, levels=20000):
    """G_ema -> _modules.a -> _modules.a -> ... 20,000 persistent modules deep, written
    opcode by opcode (the pickler itself would recurse)."""
    def s(text):
        b = text.encode()
        return b"\x8c" + bytes([len(b)]) + b
    out = io.BytesIO()
    out.write(b"\x80\x02" + _op_global("torch_utils.persistence", "_reconstruct_persistent_obj")
              + b"q\x00" + b"0")
    out.write(b"}")                                                     # innermost: no children
    for k in range(levels):
        # stack: [child state dict or module]; wrap it: {"_modules": {"a": child}}
        if k:
            out.write(b"q\x01" + b"0" + b"}" + s("a") + b"h\x01" + b"s"       # {"a": child}
                      + b"q\x01" + b"0" + b"}" + s("_modules") + b"h\x01" + b"s")
        out.write(b"q\x02" + b"0" + b"h\x00" + b"}(" + s("type") + s("class")
                  + s("class_name") + s("SynthesisBlock" if k + 1 < levels else "Generator")
                  + s("state") + b"h\x02" + b"u" + b"\x85R")
    out.write(b"\x85.")                                                 # a 1-tuple: (G_ema,)
    with open(path, "wb") as f:
        f.write(out.getvalue())


# ---- tests ---------------------------------------------------------------------------------

def test_bombs(tmp):
    p = os.path.join(tmp, "bomb.pt")
    t0 = time.monotonic()
    bomb_zip_pickle(p)
    print("     (zip data.pkl bomb: %.1f MB on disk, built in %.1f s)"
          % (os.path.getsize(p) / 1e6, time.monotonic() - t0))
    expect_refusal("zip data.pkl inflating to 1 GiB", p, "zip-ratio", tmp)
    expect_refusal("zip data.pkl inflating to 1 GiB, --limit zip-ratio=0", p, "pickle-bytes",
                   tmp, ["--limit", "zip-ratio=0"])
    bomb_zip_pickle(p, lie=True)
    expect_refusal("zip data.pkl inflating to 1 GiB, size field says 1000", p, "data.pkl", tmp)

    bomb_zip_view(p)
    print("     (zip storage bomb: %.1f MB on disk)" % (os.path.getsize(p) / 1e6))
    expect_refusal("zip state dict: 2 KiB view of a 1 GiB storage", p, "zip-ratio", tmp)
    expect_refusal("zip state dict: 2 KiB view of a 1 GiB storage, --limit zip-ratio=0", p,
                   "unused-storage-bytes", tmp, ["--limit", "zip-ratio=0"])
    code = ("import resource, sys\n"
            "from inrgan import restricted_pickle as rp\n"
            "lim = rp.Limits(zip_ratio=0, unused_storage_bytes=0)\n"
            "with rp.open_checkpoint(sys.argv[1], lim) as ck:\n"
            "    t = ck.obj['mapping.w_avg']\n"
            "    a = t.numpy()\n"
            "    print(a.shape, float(abs(a).max()), t.storage.ctx.zip_bytes)\n")
    rc, so, se, wall, rss = run_child([PY, "-B", "-c", code, p])
    check(rc == 0 and so.split()[:2] == ["(512,)", "0.0"] and wall < MAX_WALL
          and rss < 128 * MIB,
          "both limits lifted: only the view is read (%s bytes decompressed of 1 GiB; "
          "%.2f s, %.0f MiB)%s" % (so.split()[-1] if so.split() else "?", wall, rss / MIB,
                                   "" if rc == 0 else " " + se[-300:]))

    bomb_list_copies(p)
    print("     (list-copy bomb: %.1f MB on disk)" % (os.path.getsize(p) / 1e6))
    expect_refusal("pickle copying a 400,000-item list 1,000 times", p, "limit work=", tmp)
    bomb_list_copies(p, dict_=True)
    expect_refusal("pickle copying a 100,000-entry dict 1,000 times", p, "limit work=", tmp)

    t0 = time.monotonic()
    bomb_hash(p)
    print("     (hash bomb: %.1f MB on disk, built in %.1f s)"
          % (os.path.getsize(p) / 1e6, time.monotonic() - t0))
    expect_refusal("80,000 dict keys i*(2**61-1)", p, "out of range", tmp)

    bomb_marks(p)
    expect_refusal("50 MB of MARK opcodes", p, "mark-depth", tmp)
    bomb_memo(p)
    expect_refusal("50 MB of distinct memo puts", p, "limit work=", tmp)

    zp = os.path.join(tmp, "entries.pt")
    t0 = time.monotonic()
    bomb_zip_entries(zp)
    print("     (zip directory bomb: %.1f MB on disk, built in %.1f s)"
          % (os.path.getsize(zp) / 1e6, time.monotonic() - t0))
    expect_refusal("zip archive of 300,000 entries", zp, "zip-members", tmp)
    os.unlink(zp)

    bomb_tuple_keys(p)
    expect_refusal("5,000 tuple dict keys", p, "composite-keys", tmp)
    bomb_bytearray(p)
    expect_refusal("900 KB byte string copied 1,000 times by bytearray()", p, "limit work=",
                   tmp)
    bomb_stride0(p)
    expect_refusal("2**28-element stride-0 tensor over 1 float", p, "overlapping", tmp)
    bomb_shared_storage(p)
    code = ("import sys\n"
            "from inrgan import restricted_pickle as rp\n"
            "with rp.open_checkpoint(sys.argv[1]) as ck:\n"
            "    try:\n"
            "        kept = [t.numpy() for t in ck.obj.values()]\n"
            "    except rp.PickleError as e:\n"
            "        print(e, file=sys.stderr)\n"
            "        sys.exit(2)\n")
    expect_refusal("200 tensors sharing one 4 MiB storage, all read", p, "storage-reads", tmp,
                   argv=[PY, "-B", "-c", code, p])
    bomb_interpolation(p)
    expect_refusal("config interpolations doubling a 4 KiB string 24 times", p,
                   "expand too much", tmp, argv=convert_argv(p, os.path.join(tmp, "o")))
    bomb_long_key(p)
    expect_refusal("config with an 8 MiB key over 20,000 entries", p, "lacks z_dim", tmp,
                   argv=convert_argv(p, os.path.join(tmp, "o")))
    bomb_deep_modules(p)
    print("     (module chain: %.1f MB on disk)" % (os.path.getsize(p) / 1e6))
    code = ("import sys\n"
            "from inrgan import convert, restricted_pickle as rp\n"
            "with open(sys.argv[1], 'rb') as f:\n"
            "    g = rp.load_pickle_bytes(f.read())[0]\n"
            "try:\n"
            "    convert.collect_tensors(g)\n"
            "except convert.ConversionError as e:\n"
            "    print(e, file=sys.stderr)\n"
            "    sys.exit(2)\n")
    expect_refusal("G_ema module tree 20,000 levels deep (collect_tensors)", p,
                   "nested deeper than 64", tmp, argv=[PY, "-B", "-c", code, p])
    os.unlink(p)


def tiny_state_dict(path):
    cfg = config.builtin("tiny-nearest")
    torch.manual_seed(0)
    G = generator.Generator(cfg, resample_filter=True)
    torch.save(G.state_dict(), path)


def test_honest_and_flags(tmp):
    src = os.path.join(tmp, "tiny.pt")
    tiny_state_dict(src)
    out = os.path.join(tmp, "tiny.safetensors")
    js = os.path.join(tmp, "tiny.json")
    rc, so, se, wall, rss = run_child(convert_argv(src, out, "--config", "tiny-nearest",
                                                   "--json", js), as_limit=None)
    check(rc == 0 and os.path.exists(out) and os.path.getsize(js) > 100,
          "honest tiny state dict converts with the default limits (%.2f s, %.0f MiB peak "
          "RSS with torch)%s" % (wall, rss / MIB, "" if rc == 0 else ": " + se[-300:]))
    os.unlink(out)
    expect_refusal("honest file, --limit work=1000", src, "limit work=1000", tmp,
                   ["--limit", "work=1000"])
    for bad in ("nosuch=1", "work=-1", "work=1x", "work"):
        rc, so, se, wall, rss = run_child(convert_argv(src, out, "--config", "tiny-nearest",
                                                       "--limit", bad), as_limit=None)
        check(rc == 2 and "--limit" in se and not os.path.exists(out),
              "--limit %s is a usage error (exit %d)" % (bad, rc))
    rc, so, se, wall, rss = run_child(convert_argv(src, out, "--config", "tiny-nearest",
                                                   "--limit", "work=64M", "--limit",
                                                   "zip-total-bytes=0"), as_limit=None)
    check(rc == 0, "--limit work=64M --limit zip-total-bytes=0 (raised, unlimited) converts")
    os.unlink(out)
    return src


def leftovers(folder, keep=()):
    return sorted(n for n in os.listdir(folder) if n not in keep)


def test_output_errors(tmp, src):
    od = os.path.join(tmp, "outdir")
    shutil.rmtree(od, ignore_errors=True)
    os.makedirs(od)
    out = os.path.join(od, "m.safetensors")
    rc, so, se, wall, rss = run_child(convert_argv(src, out, "--config", "tiny-nearest"),
                                      as_limit=None, fsize=64 * 1024)
    lines = se.strip().splitlines()
    check(rc == 1 and len(lines) == 1 and "cannot write " + out in lines[0]
          and "tiny.pt" not in lines[0] and not leftovers(od),
          "model write failing (EFBIG, as on a full disk): exit %d, %s; folder left %s"
          % (rc, lines[-1] if lines else "no message", leftovers(od) or "empty"))
    js = os.path.join(od, "missing", "s.json")
    rc, so, se, wall, rss = run_child(convert_argv(src, out, "--config", "tiny-nearest",
                                                   "--json", js), as_limit=None)
    lines = se.strip().splitlines()
    check(rc == 1 and len(lines) == 1 and "cannot write " + js in lines[0]
          and not leftovers(od),
          "--json into a missing folder: exit %d, %s; model removed, folder left %s"
          % (rc, lines[-1] if lines else "no message", leftovers(od) or "empty"))
    # convert_cips: a CIPS state dict through the same paths
    from inrgan import cips
    torch.manual_seed(1)
    G = cips.CIPSskip(**cips.small_kwargs(size=16))
    csrc = os.path.join(tmp, "cips.pt")
    torch.save({"g_ema": G.state_dict()}, csrc)
    cout = os.path.join(od, "c.safetensors")
    argv = [PY, "-B", "-m", "inrgan.convert_cips", csrc, "-o", cout]
    rc, so, se, wall, rss = run_child(argv, as_limit=None, fsize=4 * 1024)
    lines = se.strip().splitlines()
    check(rc == 1 and len(lines) == 1 and "cannot write " + cout in lines[0]
          and not leftovers(od),
          "convert_cips write failing (EFBIG): exit %d, %s" % (rc, lines[-1] if lines else "-"))
    rc, so, se, wall, rss = run_child(argv + ["--limit", "work=500"])
    lines = se.strip().splitlines()
    check(rc == 2 and len(lines) == 1 and "limit work=500" in lines[0] and rss < MAX_RSS
          and not leftovers(od),
          "convert_cips --limit work=500 under RLIMIT_AS 512 MiB: exit %d, %.0f MiB, %s"
          % (rc, rss / MIB, lines[-1] if lines else "-"))
    bomb_zip_view(os.path.join(tmp, "cbomb.pt"))
    rc, so, se, wall, rss = run_child([PY, "-B", "-m", "inrgan.convert_cips",
                                       os.path.join(tmp, "cbomb.pt"), "-o", cout])
    lines = se.strip().splitlines()
    check(rc == 2 and len(lines) == 1 and "zip-ratio" in lines[0] and wall < MAX_WALL
          and rss < MAX_RSS and not leftovers(od),
          "convert_cips, 1 GiB storage bomb: exit %d in %.2f s, %.0f MiB: %s"
          % (rc, wall, rss / MIB, lines[-1] if lines else "-"))
    rc, so, se, wall, rss = run_child(argv, as_limit=None)
    check(rc == 0 and os.path.exists(cout), "convert_cips converts the honest file")


def test_fuzz(seconds):
    rc, so, se, wall, rss = run_child([PY, "-B", os.path.join(HERE, "fuzz_unpickler.py"),
                                       "--seconds", str(seconds), "--seed", "1"],
                                      as_limit=None, timeout=seconds + 120)
    last = (so.strip().splitlines() or ["(no output)"])[-1]
    check(rc == 0, "fuzz_unpickler %g s: %s%s" % (seconds, last, "" if rc == 0 else
                                                  "\n" + so[-2000:] + se[-1000:]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--keep", default=None, help="work folder to keep")
    ap.add_argument("--fuzz-seconds", type=float, default=15.0)
    a = ap.parse_args()
    tmp = a.keep or tempfile.mkdtemp(prefix="inrgan_limits.")
    os.makedirs(tmp, exist_ok=True)
    t0 = time.monotonic()
    try:
        test_bombs(tmp)
        src = test_honest_and_flags(tmp)
        test_output_errors(tmp, src)
        if a.fuzz_seconds > 0:
            test_fuzz(a.fuzz_seconds)
    finally:
        if a.keep is None:
            shutil.rmtree(tmp, ignore_errors=True)
    print("%d failure(s), %.1f s" % (len(FAILURES), time.monotonic() - t0))
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
