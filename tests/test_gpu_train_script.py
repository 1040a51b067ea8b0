#!/usr/bin/python3
"""scripts/gpu-train.sh rehearsed on the CPU with a tiny set and config (about a minute).

    /usr/bin/python3 tests/test_gpu_train_script.py

  * `prepare` with a packed 16x16 set (GPU_TRAIN_DATA_DIR/packed, GPU_TRAIN_RES=16) copies it
    into the carried folder (GPU_TRAIN_DIR) and reports the size that would travel;
  * `run` (BUDGET 24 s, RESERVE 8 s) trains from scratch, stops at its deadline, and leaves in
    $OUT: train.log, log.jsonl (progress lines with img_s and peak_mem_mb, an SWD point with
    its floor), checkpoint.json + parts (each <= PART_MIB), model-fp16.safetensors (fp16, with
    provenance), fakes-latest.png; at most 8 files; within the budget (+ 20 s slack);
  * `prepare FROM` with that $OUT checks and copies the split checkpoint; a second `run`
    resumes from it (its first step follows the first run's last) and its checkpoint's SWD
    history holds both runs' points, which inrgan.plot_swd plots (PNG + CSV);
  * `prepare` with a damaged part refuses (exit != 0), `run` without data says so (exit 2).

Exit 0 pass, 1 fail, 77 if torch is unavailable.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from torch_env import ROOT, check, run_checks  # noqa: E402

from inrgan import ckpt, pack, safetensors_io  # noqa: E402
from train_fixtures import G_SPEC, boxes  # noqa: E402

TMP = tempfile.mkdtemp(prefix="inrgan_gputrain_")
SCRIPT = os.path.join(ROOT, "scripts", "gpu-train.sh")
CONFIG = os.path.join(TMP, "tiny.json")
DATA_DIR = os.path.join(TMP, "data")
CARRY = os.path.join(TMP, "carry")


def setup():
    a = boxes(64, 5)
    os.makedirs(os.path.join(DATA_DIR, "packed"))
    pack.write_packed(a, os.path.join(DATA_DIR, "packed", "open-peeps-16.npy.xz"),
                      {"source": "test boxes", "licence": "CC0"})
    with open(CONFIG, "w") as f:
        json.dump({"g_config": G_SPEC, "batch": 4, "d_channel_base": 64, "d_channel_max": 8,
                   "mbstd_group": 2, "r1_interval": 2, "r1_gamma": 1, "ema_kimg": 0.02,
                   "amp": "bf16", "threads": 1, "kimg": 100000, "tick_seconds": 2,
                   "snap_minutes": 1000, "swd_images": 16, "grid": 4,
                   "dataset_name": "test boxes 16x16"}, f)


def env(**kw):
    e = dict(os.environ)
    e.update(GPU_TRAIN_DIR=CARRY, GPU_TRAIN_DATA_DIR=DATA_DIR, GPU_TRAIN_RES="16",
             GPU_TRAIN_CONFIG=CONFIG, PYTHON=sys.executable, BUDGET="24", RESERVE="8",
             TERM_MARGIN="3", PART_MIB="1")
    e.update({k: str(v) for k, v in kw.items()})
    return e


def sh(*args, **kw):
    return subprocess.run(["sh", SCRIPT] + list(args), env=env(**kw), capture_output=True,
                          text=True, timeout=180)


def run_once(out, run):
    t0 = time.time()
    r = sh("run", OUT=out, GPU_TRAIN_RUN=run)
    dt = time.time() - t0
    assert r.returncode == 0, "run exit %d:\n%s%s" % (r.returncode, r.stdout[-1500:],
                                                       r.stderr[-800:])
    assert dt < 24 + 20, "run took %.1f s for a 24 s budget (+20 s slack for a busy machine)" % dt
    files = sorted(os.listdir(out))
    for f in ("train.log", "log.jsonl", "checkpoint.json", "checkpoint.part0",
              "model-fp16.safetensors", "fakes-latest.png"):
        assert f in files, "%s missing in $OUT: %s" % (f, files)
    assert len(files) <= 8, files
    man = json.load(open(os.path.join(out, "checkpoint.json")))
    assert all(p["bytes"] <= 1 << 20 for p in man["parts"]), man["parts"]
    ck = ckpt.load(os.path.join(out, "checkpoint.json"))
    recs = [json.loads(l) for l in open(os.path.join(out, "log.jsonl"))]
    ticks = [x for x in recs if "img_s" in x]
    swds = [x["swd"] for x in recs if "swd" in x]
    assert ticks and all(x["img_s"] > 0 and x["peak_mem_mb"] > 0 for x in ticks), ticks[:2]
    assert swds and swds[-1]["floor"] > 0, swds
    tensors, meta = safetensors_io.load(os.path.join(out, "model-fp16.safetensors"))
    prov = json.loads(meta["inrgan"]).get("provenance", {})
    assert "hardware" in prov and "swd" in prov, prov
    return ck, dt, r.stdout


@check
def prepare_run_resume():
    setup()
    r = sh("prepare")
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert os.path.exists(os.path.join(CARRY, "open-peeps-16.npy.xz")), os.listdir(CARRY)
    assert "may travel" in r.stdout and "from scratch" in r.stdout, r.stdout
    out1 = os.path.join(TMP, "out1")
    ck1, dt1, _ = run_once(out1, os.path.join(TMP, "run1"))
    assert ck1["step"] > 0
    r = sh("prepare", out1)
    assert r.returncode == 0 and "resuming from kimg" in r.stdout, (r.stdout, r.stderr)
    out2 = os.path.join(TMP, "out2")
    ck2, dt2, text = run_once(out2, os.path.join(TMP, "run2"))
    log2 = open(os.path.join(out2, "train.log")).read()
    assert "resumed from" in log2 and "at kimg %.1f (step %d)" % (
        ck1["cur_nimg"] / 1000, ck1["step"]) in log2, log2[:800]
    assert ck2["step"] > ck1["step"], (ck1["step"], ck2["step"])
    k1 = [e["kimg"] for e in ck1["swd_history"]]
    k2 = [e["kimg"] for e in ck2["swd_history"]]
    assert k2[:len(k1)] == k1 and len(k2) > len(k1), (k1, k2)
    # the curve of both runs from the second run's split checkpoint (inrgan.plot_swd)
    png, csv = os.path.join(TMP, "swd.png"), os.path.join(TMP, "swd.csv")
    r = subprocess.run([sys.executable, "-m", "inrgan.plot_swd",
                        os.path.join(out2, "checkpoint.json"), "-o", png, "--csv", csv],
                       cwd=os.path.join(ROOT, "python"), capture_output=True, text=True,
                       timeout=60)
    rows = open(csv).read().splitlines() if os.path.exists(csv) else []
    assert r.returncode == 0 and len(rows) == 1 + len(k2), (r.stdout, r.stderr, rows)
    from PIL import Image
    assert Image.open(png).size == (720, 400)
    return "run 1: %d steps in %.1f s; run 2 resumed at step %d -> %d in %.1f s; SWD points %d" \
        % (ck1["step"], dt1, ck1["step"], ck2["step"], dt2, len(k2))


@check
def refusals():
    out1 = os.path.join(TMP, "out1")
    bad = os.path.join(TMP, "bad")
    shutil.copytree(out1, bad)
    with open(os.path.join(bad, "checkpoint.part0"), "r+b") as f:
        f.seek(100)
        f.write(b"\x00\x01")
    r = sh("prepare", bad)
    assert r.returncode != 0 and "damaged" in (r.stdout + r.stderr), (r.returncode, r.stderr)
    r = sh("run", OUT=os.path.join(TMP, "out3"), GPU_TRAIN_DIR=os.path.join(TMP, "empty"))
    assert r.returncode == 2 and "missing" in r.stdout, (r.returncode, r.stdout)
    return "damaged part refused by prepare; run without data: exit 2"


if __name__ == "__main__":
    sys.exit(run_checks(tmp=TMP))
