#!/usr/bin/python3
"""Trainer checkpoints (CPU, tiny config, well under a minute).

    /usr/bin/python3 tests/test_train_ckpt.py

  * resume under --amp bf16: a run split in two (--resume auto) ends bit-identical to the
    uninterrupted run (G, G_ema, D and both Adam states);
  * the checkpoint leaves out Adam's exp_avg (beta1 = 0) and still resumes exactly; its pickle
    references only globals that torch >= 2's weights_only loader accepts;
  * split parts: inrgan.ckpt.split -> manifest + parts under a size limit; --resume MANIFEST
    gives the same state; a damaged part is refused (ValueError, and exit 2 from the CLI);
  * packed data (inrgan.pack): .npy.xz + provenance JSON round trip, read by ImageDataset,
    the 2x2 box average, a damaged file refused;
  * SIGKILL in the middle of a checkpoint save (a child process whose second save is stalled
    half-written): checkpoint.pt is still the previous complete checkpoint, the torn temp file
    is removed by the next start, and resuming from it reaches exactly the state of a run
    that was never killed.

Exit 0 pass, 1 fail, 77 if torch is unavailable.
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time

from torch_env import ROOT, np, torch, check, run_checks  # noqa: E402,F401

from inrgan import ckpt, train  # noqa: E402
from train_fixtures import flat, make_data, train_argv  # noqa: E402

torch.set_num_threads(1)

def argv(data, outdir, *extra):
    return train_argv(data, outdir, "--quiet", *extra)


def same_state(a, b):
    """True when two trainers hold bit-identical G, G_ema, D and Adam states."""
    if not (torch.equal(flat(a.G), flat(b.G)) and torch.equal(flat(a.G_ema), flat(b.G_ema))
            and torch.equal(flat(a.D), flat(b.D))):
        return False
    for oa, ob in ((a.opt_G, b.opt_G), (a.opt_D, b.opt_D)):
        for k, s in oa.state_dict()["state"].items():
            t = ob.state_dict()["state"][k]
            if not torch.equal(s["exp_avg_sq"], t["exp_avg_sq"]):
                return False
    return a.step == b.step and a.cur_nimg == b.cur_nimg


TMP = tempfile.mkdtemp(prefix="inrgan_ckpt_")
DATA = os.path.join(TMP, "boxes.npy")
make_data(DATA, 48, 3)
_CONT = {}


def continuous(kimg, *extra):
    key = (kimg,) + extra
    if key not in _CONT:
        _CONT[key] = train.train(train.parse_args(
            argv(DATA, os.path.join(TMP, "cont%d" % len(_CONT)), "--kimg", kimg, *extra)))
    return _CONT[key]


@check
def resume_bf16_matches_continuous():
    t0 = time.time()
    one = continuous("0.040", "--amp", "bf16")
    run = os.path.join(TMP, "split_bf16")
    train.train(train.parse_args(argv(DATA, run, "--kimg", "0.020", "--amp", "bf16")))
    two = train.train(train.parse_args(argv(DATA, run, "--kimg", "0.040", "--amp", "bf16",
                                            "--resume", "auto")))
    assert one.step == 10, "steps %d" % one.step
    assert same_state(one, two), "split bf16 run differs from the continuous run"
    return "10 steps, bit-identical after the resume (%.1fs)" % (time.time() - t0)


@check
def compact_adam_state():
    ck = torch.load(os.path.join(TMP, "split_bf16", "checkpoint.pt"))
    assert ck["version"] == train.CHECKPOINT_VERSION
    for name in ("opt_G", "opt_D"):
        st = ck[name]["state"]
        assert st and all("exp_avg" not in s and "exp_avg_sq" in s for s in st.values()), \
            "%s holds exp_avg with beta1 = 0" % name
    return "no exp_avg in opt_G/opt_D"


@check
def pickle_globals_weights_only_safe():
    """torch >= 2.6 loads with weights_only=True by default (ckpt.load asks for it with torch
    >= 2); its unpickler accepts only an allow-list of globals. Debian's 1.13 cannot run that
    loader on these files, so check the pickle's globals against the allow-list instead."""
    import io
    import pickletools
    import zipfile
    allowed = {("collections", "OrderedDict"), ("torch._utils", "_rebuild_tensor_v2"),
               ("torch._utils", "_rebuild_parameter"), ("torch", "FloatStorage"),
               ("torch", "ByteStorage"), ("torch", "LongStorage"), ("torch", "BFloat16Storage"),
               ("torch", "HalfStorage"), ("torch", "DoubleStorage"), ("torch", "IntStorage")}
    path = os.path.join(TMP, "split_bf16", "checkpoint.pt")
    with zipfile.ZipFile(path) as z:
        pk = z.read([n for n in z.namelist() if n.endswith("data.pkl")][0])
    ops = list(pickletools.genops(io.BytesIO(pk)))
    seen = set()
    for i, (op, arg, _) in enumerate(ops):
        if op.name == "GLOBAL":
            seen.add(tuple(arg.split(" ", 1)))
        elif op.name == "STACK_GLOBAL":
            seen.add((ops[i - 2][1], ops[i - 1][1]))
        assert op.name not in ("INST", "OBJ", "EXT1", "EXT2", "EXT4"), op.name
    assert seen <= allowed, "globals outside the weights_only allow-list: %s" % (seen - allowed)
    return "globals: %s" % ", ".join(sorted(".".join(g) for g in seen))


@check
def split_parts_resume():
    run = os.path.join(TMP, "split_bf16")
    parts = os.path.join(TMP, "parts")
    size = os.path.getsize(os.path.join(run, "checkpoint.pt"))
    m = ckpt.split(os.path.join(run, "checkpoint.pt"), parts, part_bytes=size // 3 + 1)
    man = json.load(open(m))
    assert len(man["parts"]) == 3 and all(p["bytes"] <= size // 3 + 1 for p in man["parts"]), \
        man["parts"]
    assert sum(p["bytes"] for p in man["parts"]) == size
    a = train.train(train.parse_args(argv(DATA, os.path.join(TMP, "fromparts"), "--kimg",
                                          "0.040", "--amp", "bf16", "--resume", m)))
    b = continuous("0.040", "--amp", "bf16")
    assert same_state(a, b), "resume from split parts differs"
    # a damaged part is refused before unpickling
    p1 = os.path.join(parts, man["parts"][1]["file"])
    with open(p1, "r+b") as f:
        f.seek(10)
        f.write(b"\xff")
    try:
        ckpt.load(m)
        raise AssertionError("a damaged part was accepted")
    except ValueError as e:
        assert "damaged" in str(e), e
    r = subprocess.run([sys.executable, "-m", "inrgan.train"] + argv(
        DATA, os.path.join(TMP, "badparts"), "--kimg", "0.04", "--resume", m),
        cwd=os.path.join(ROOT, "python"), capture_output=True, text=True, timeout=120)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and "damaged" in lines[0], \
        (r.returncode, r.stderr[-500:])
    return "3 parts of <= %d B; resume exact; damaged part refused, exit 2: %s" % (
        size // 3 + 1, lines[0][:80])


CHILD = r"""
import io, os, sys, time
sys.path.insert(0, sys.argv[1])
import torch
from inrgan import train
orig = torch.save
calls = [0]
def slow_save(obj, f, *a, **k):
    calls[0] += 1
    if calls[0] < 2:
        return orig(obj, f, *a, **k)
    buf = io.BytesIO()
    orig(obj, buf, *a, **k)
    data = buf.getvalue()
    f.write(data[:len(data) // 2])
    f.flush()
    print("SAVING", flush=True)
    time.sleep(600)
    f.write(data[len(data) // 2:])
torch.save = slow_save
train.train(train.parse_args(sys.argv[2:]))
"""


@check
def sigkill_mid_save():
    t0 = time.time()
    run = os.path.join(TMP, "killed")
    # snapshots every 0.008 kimg (2 steps): the first completes, the second stalls half-way
    a = argv(DATA, run, "--kimg", "0.040", "--snap-kimg", "0.008")
    p = subprocess.Popen([sys.executable, "-c", CHILD, os.path.join(ROOT, "python")] + a,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = ""
        deadline = time.time() + 120
        while "SAVING" not in line and time.time() < deadline:
            line = p.stdout.readline()
            if not line and p.poll() is not None:
                break
        assert "SAVING" in line, "child never reached the stalled save: %s" % p.stderr.read()
        p.send_signal(signal.SIGKILL)
        p.wait(30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    ck_path = os.path.join(run, "checkpoint.pt")
    temps = [n for n in os.listdir(run) if n.startswith("checkpoint.pt.tmp")]
    assert temps, "no torn temp file: the kill did not land mid-save"
    ck = torch.load(ck_path)
    assert ck["step"] == 2, "checkpoint.pt step %r (expected the first snapshot, 2)" % ck["step"]
    # the next start removes the torn file and resumes from the complete checkpoint
    b = train.train(train.parse_args(argv(DATA, run, "--kimg", "0.040", "--resume", "auto")))
    left = [n for n in os.listdir(run) if n.startswith("checkpoint.pt.tmp")]
    assert not left, "stale temp files left: %s" % left
    assert same_state(b, continuous("0.040")), "resumed after the kill != never-killed run"
    return "killed with %s half-written; resumed from step 2 to the exact continuous state " \
        "(%.1fs)" % (temps[0], time.time() - t0)


@check
def packed_data():
    from inrgan import pack
    from inrgan.dataset import ImageDataset
    a = np.load(DATA)
    out = os.path.join(TMP, "boxes-16.npy.xz")
    meta = pack.write_packed(a, out, {"source": "test boxes", "licence": "CC0"})
    side = json.load(open(out + ".json"))
    assert side == meta and side["count"] == 48 and side["resolution"] == 16, side
    assert side["sha256"] == ckpt.sha256_file(out)
    b = pack.read_packed(out)
    assert b.dtype == np.uint8 and np.array_equal(a, b), "round trip differs"
    ds = ImageDataset(out)
    assert len(ds) == 48 and ds.resolution == 16 and torch.equal(
        ds.images, torch.from_numpy(a).permute(0, 3, 1, 2)), "ImageDataset(.npy.xz) differs"
    # 2x2 box mean, rounded half up
    four = np.array([[[[1], [2]], [[2], [2]]]], np.uint8).repeat(3, axis=3)
    assert pack.box_downsample(four, 2).reshape(-1).tolist() == [2, 2, 2], \
        pack.box_downsample(four, 2)
    small = pack.box_downsample(a, 2)
    assert small.shape == (48, 8, 8, 3) and int(small[0, 0, 0, 0]) == (
        int(a[0, :2, :2, 0].astype(int).sum()) + 2) // 4
    # a changed byte: refused by the sha256 (and, without the .json, by xz's CRC)
    raw = bytearray(open(out, "rb").read())
    raw[len(raw) // 2] ^= 0x40
    open(out, "wb").write(bytes(raw))
    for chk in (True, False):
        try:
            pack.read_packed(out, check=chk)
            raise AssertionError("a damaged pack was accepted (check=%s)" % chk)
        except ValueError:
            pass
    return "%d -> %d bytes, round trip exact, damage refused" % (a.nbytes, meta["bytes"])


if __name__ == "__main__":
    sys.exit(run_checks(tmp=TMP))
