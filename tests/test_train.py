#!/usr/bin/python3
"""Trainer tests (CPU, tiny config, seconds).

    /usr/bin/python3 tests/test_train.py [--inrgan build/inrgan]

  * a few training steps: finite losses, G / D / G_ema parameters change, w_avg moves;
  * R1 is computed on the first D step (nonzero) and only every r1_interval steps;
  * resume: a checkpoint restores the state exactly (same next-step losses, bit for bit), both
    through Trainer.state_dict/load_state_dict and through train() split into two runs;
  * data parallel: 2 processes (gloo, torch.multiprocessing spawn) take steps and keep
    identical replicas of G, D and G_ema;
  * --config JSON file sets option defaults, the command line overrides it;
  * augmentation keeps shapes and passes gradients;
  * SWD of identical sets is 0, of different sets clearly larger; its GPU path (float64
    projections sorted by torch) gives the CPU path's numbers within 1e-4 relative;
  * the exported G_ema loads in the C engine (`render --z z.npy --npy --backend cpu`) and gives
    the same image as the PyTorch G_ema within 1e-4; provenance is in the metadata.

Exit 0 pass, 1 fail, 2 bad usage, 77 if torch is unavailable.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

from torch_env import ROOT, np, torch  # noqa: E402,F401  (sys.path, skip without torch)

from inrgan import ckpt, export, safetensors_io, swd, train  # noqa: E402
from inrgan.augment import augment  # noqa: E402
from train_fixtures import flat  # noqa: E402

torch.set_num_threads(1)
FAILURES = []

G_SPEC = {"resolution": 32, "input_grid": 8, "channel_base": 128, "channel_max": 16, "rank": 3,
          "z_dim": 32, "w_dim": 16, "low_max_grid": 8,
          "emb_low": {"diagonal": True, "random": 2, "const": 4},
          "emb_high": {"diagonal": False, "random": 4, "const": 2}}


def fail(msg):
    FAILURES.append(msg)
    print("FAIL " + msg, flush=True)


def check(cond, msg):
    if not cond:
        fail(msg)
    return cond


def make_data(path, n=64, res=32, seed=0):
    """Synthetic images: white background with one coloured disc per image."""
    rng = np.random.RandomState(seed)
    yy, xx = np.mgrid[0:res, 0:res]
    out = np.full((n, res, res, 3), 255, np.uint8)
    for i in range(n):
        cy, cx = rng.uniform(res * 0.3, res * 0.7, 2)
        r = rng.uniform(res * 0.15, res * 0.3)
        col = rng.randint(0, 200, 3)
        m = (yy - cy) ** 2 + (xx - cx) ** 2 < r * r
        out[i][m] = col
    np.save(path, out)
    return out


def base_argv(data, outdir, extra=()):
    return ["--data", data, "--outdir", outdir, "--g-config", json.dumps(G_SPEC),
            "--batch", "8", "--d-channel-base", "128", "--d-channel-max", "16",
            "--r1-interval", "4", "--r1-gamma", "1", "--ema-kimg", "0.05",
            "--threads", "1", "--quiet", "--snap-minutes", "1000", "--grid", "4"] + list(extra)


def test_steps(data, tmp):
    args = train.parse_args(base_argv(data, os.path.join(tmp, "steps")))
    ds = train.ImageDataset(args.data)
    tr = train.Trainer(args, ds)
    g0, d0, e0 = flat(tr.G), flat(tr.D), flat(tr.G_ema)
    wa0 = tr.G.mapping.w_avg.clone()
    losses = [tr.train_step() for _ in range(5)]
    for i, l in enumerate(losses):
        for k, v in l.items():
            check(np.isfinite(v), "step %d: %s = %r is not finite" % (i, k, v))
    check("R1" in losses[0] and losses[0]["R1"] > 0,
          "R1 not computed (or zero) on the first D step: %r" % losses[0].get("R1"))
    check("R1" not in losses[1] and "R1" in losses[4],
          "R1 must run every 4th D step (steps 0, 4): %r" % [("R1" in l) for l in losses])
    check(not torch.equal(flat(tr.G), g0), "G parameters did not change")
    check(not torch.equal(flat(tr.D), d0), "D parameters did not change")
    check(not torch.equal(flat(tr.G_ema), e0), "G_ema parameters did not change")
    check(not torch.equal(tr.G.mapping.w_avg, wa0), "w_avg did not move")
    check(tr.cur_nimg == 40 and tr.step == 5, "counters: nimg %d step %d" % (tr.cur_nimg, tr.step))
    print("ok   steps: losses %s" % {k: round(v, 4) for k, v in losses[-1].items()}, flush=True)


def test_resume_trainer(data, tmp):
    argv = base_argv(data, os.path.join(tmp, "resume1"), ["--aug-p", "0.5"])
    args = train.parse_args(argv)
    ds = train.ImageDataset(args.data)
    a = train.Trainer(args, ds)
    for _ in range(3):
        a.train_step()
    path = os.path.join(tmp, "ck.pt")
    ckpt.save_atomic(a.state_dict(), path)
    la = [a.train_step() for _ in range(2)]
    b = train.Trainer(train.parse_args(argv), ds)
    b.load_state_dict(torch.load(path))
    lb = [b.train_step() for _ in range(2)]
    check(la == lb, "resumed losses differ: %r vs %r" % (la, lb))
    check(torch.equal(flat(a.G_ema), flat(b.G_ema)) and torch.equal(flat(a.D), flat(b.D)),
          "resumed G_ema / D differ after 2 steps")
    print("ok   resume (Trainer): next-step losses identical %r" % la[0]["loss_G"], flush=True)


def test_resume_train(data, tmp):
    """train() to 0.048 kimg in one go vs 0.024 kimg, then --resume auto to 0.048."""
    one = os.path.join(tmp, "one")
    two = os.path.join(tmp, "two")
    t1 = train.train(train.parse_args(base_argv(data, one, ["--kimg", "0.048"])))
    train.train(train.parse_args(base_argv(data, two, ["--kimg", "0.024"])))
    t2 = train.train(train.parse_args(base_argv(data, two, ["--kimg", "0.048",
                                                           "--resume", "auto"])))
    check(t1.step == t2.step == 6, "steps %d vs %d (expected 6)" % (t1.step, t2.step))
    check(torch.equal(flat(t1.G_ema), flat(t2.G_ema)) and torch.equal(flat(t1.D), flat(t2.D)),
          "split run with --resume differs from the continuous run")
    ck = torch.load(os.path.join(two, "checkpoint.pt"))
    check(ck["cur_nimg"] == 48, "checkpoint cur_nimg %r" % ck["cur_nimg"])
    check(os.path.exists(os.path.join(two, "samples")) and os.listdir(os.path.join(two, "samples")),
          "no sample grid written")
    print("ok   resume (train): split run == continuous run", flush=True)


def _ddp_worker(rank, world, data, tmp, init):
    torch.set_num_threads(1)
    import torch.distributed as dist
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    args = train.parse_args(base_argv(data, os.path.join(tmp, "ddp")))
    ds = train.ImageDataset(args.data)
    tr = train.Trainer(args, ds, rank=rank, world=world)
    init_g = flat(tr.G)
    losses = [tr.train_step() for _ in range(2)]
    torch.save({"G": flat(tr.G), "D": flat(tr.D), "G_ema": flat(tr.G_ema), "G0": init_g,
                "losses": losses, "batch_gpu": tr.batch_gpu},
               os.path.join(tmp, "ddp_rank%d.pt" % rank))
    dist.barrier()
    dist.destroy_process_group()


def test_ddp(data, tmp):
    import torch.multiprocessing as mp
    init = "file://" + os.path.join(tmp, "ddp_init")
    mp.spawn(_ddp_worker, args=(2, data, tmp, init), nprocs=2, join=True)
    r0 = torch.load(os.path.join(tmp, "ddp_rank0.pt"))
    r1 = torch.load(os.path.join(tmp, "ddp_rank1.pt"))
    check(r0["batch_gpu"] == 4, "per-rank batch %r (expected 8 / 2)" % r0["batch_gpu"])
    for k in ("G", "D", "G_ema", "G0"):
        check(torch.equal(r0[k], r1[k]), "DDP replicas differ in %s" % k)
    check(not torch.equal(r0["G"], r0["G0"]), "DDP: G did not change")
    check(r0["losses"] != r1["losses"], "DDP ranks saw the same batch (losses identical)")
    print("ok   ddp: 2 gloo ranks, replicas identical after 2 steps", flush=True)


def test_config_file(data, tmp):
    cfg = os.path.join(tmp, "conf.json")
    with open(cfg, "w") as f:
        json.dump({"data": data, "outdir": os.path.join(tmp, "cf"), "g-config": G_SPEC,
                   "batch": 12, "r1_gamma": 3.5}, f)
    a = train.parse_args(["--config", cfg, "--batch", "4"])
    check(a.batch == 4 and a.r1_gamma == 3.5 and a.data == data,
          "--config: batch %r r1_gamma %r" % (a.batch, a.r1_gamma))
    check(train.generator_config(a.g_config, 32)["blocks"][0]["channels"] == 16,
          "--config: g_config object not applied")
    with open(cfg, "w") as f:
        json.dump({"bogus_option": 1}, f)
    try:
        with open(os.devnull, "w") as dn:
            old, sys.stderr = sys.stderr, dn
            try:
                train.parse_args(["--config", cfg, "--data", data, "--outdir", tmp])
            finally:
                sys.stderr = old
        fail("--config accepted an unknown option")
    except SystemExit:
        pass
    print("ok   --config JSON", flush=True)


def test_augment():
    x = torch.rand(6, 3, 16, 16, requires_grad=True)
    y = augment(x * 2 - 1, p=1.0)
    check(tuple(y.shape) == (6, 3, 16, 16), "augment shape %s" % (tuple(y.shape),))
    y.square().sum().backward()
    check(x.grad is not None and float(x.grad.abs().sum()) > 0, "augment blocks gradients")
    check(torch.equal(augment(x, p=0.0), x), "augment with p=0 must be the identity")
    print("ok   augment", flush=True)


def test_swd(images):
    a = torch.from_numpy(images[:32]).permute(0, 3, 1, 2)
    b = torch.from_numpy(images[32:64]).permute(0, 3, 1, 2)
    same = swd.swd(a, a, patches=16, directions=64)
    real = swd.swd(a, b, patches=16, directions=64)
    noisy = (a.float() + torch.randn(a.shape, generator=torch.Generator().manual_seed(1)) * 60)
    noisy = noisy.clamp(0, 255).to(torch.uint8)
    diff = swd.swd(noisy, b, patches=16, directions=64)
    check(same["mean"] < 1e-6, "SWD of identical sets %r (expected ~0)" % same["mean"])
    check(diff["mean"] > 1.5 * real["mean"] and diff["mean"] > 1.0,
          "SWD of different sets %.3f not clearly above real-vs-real %.3f"
          % (diff["mean"], real["mean"]))
    check(set(same["levels"]) == {32, 16}, "SWD levels %s" % sorted(same["levels"]))
    # the path used on GPUs (float64 projections sorted by torch) measures the same
    real_t = swd.swd(a, b, patches=16, directions=64, sort="torch")
    rel = max(abs(real_t["levels"][k] - real["levels"][k]) / real["levels"][k]
              for k in real["levels"])
    check(rel < 1e-4, "SWD sort=torch vs numpy: relative difference %.2g" % rel)
    print("ok   swd: identical %.4f, real-vs-real %.2f, noisy-vs-real %.2f"
          % (same["mean"], real["mean"], diff["mean"]), flush=True)


def test_export_c(data, tmp, cli):
    run = os.path.join(tmp, "exp")
    tr = train.train(train.parse_args(base_argv(data, run, ["--kimg", "0.016",
                                                           "--swd-images", "16"])))
    model = os.path.join(tmp, "trained.safetensors")
    G, cfg, prov = train.export_checkpoint(os.path.join(run, "checkpoint.pt"), model,
                                           dataset_name="synthetic discs")
    check(torch.equal(flat(G), flat(tr.G_ema)), "export_checkpoint G differs from G_ema")
    _, meta = safetensors_io.load(model)
    p = json.loads(meta["inrgan"]).get("provenance", {})
    for k in ("dataset", "kimg", "swd", "swd_floor", "command"):
        check(k in p, "provenance lacks %r: %r" % (k, p))
    check(p.get("dataset") == "synthetic discs" and p.get("kimg") == "%.1f" % 0.016,
          "provenance values %r" % p)
    G2, _ = export.load_model(model)
    z = torch.randn(2, cfg["z_dim"], generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        ref = tr.G_ema(z).numpy()
        ref2 = G2(z).numpy()
    check(np.abs(ref - ref2).max() == 0, "load_model differs from G_ema")
    if cli is None:
        print("skip export -> C engine: no inrgan CLI (pass --inrgan PATH)", flush=True)
        return
    zpath = os.path.join(tmp, "z.npy")
    np.save(zpath, z.numpy().astype(np.float32))
    outdir = os.path.join(tmp, "render")
    r = subprocess.run([cli, "render", "-m", model, "--z", zpath, "--npy", "-o", outdir,
                        "--backend", "cpu", "-q"], capture_output=True, text=True)
    if not check(r.returncode == 0, "inrgan render failed (%d): %s" % (r.returncode, r.stderr)):
        return
    worst = 0.0
    for i in range(2):
        c = np.load(os.path.join(outdir, "z%04d.npy" % i))
        check(c.shape == ref[i].shape, "C image shape %s vs %s" % (c.shape, ref[i].shape))
        worst = max(worst, float(np.abs(c - ref[i]).max()))
    check(worst <= 1e-4, "C engine vs PyTorch G_ema: max abs %.3g > 1e-4" % worst)
    print("ok   export -> C engine: max abs %.2g" % worst, flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--inrgan", default=None, help="path of the inrgan CLI")
    p.add_argument("--keep", default=None, help="keep the work files in this directory")
    a = p.parse_args()
    cli = a.inrgan
    if cli is None:
        guess = os.path.join(ROOT, "build", "inrgan")
        cli = guess if os.path.exists(guess) else None
    elif not os.path.exists(cli):
        print("inrgan CLI not found: %s" % cli)
        return 2
    tmp = a.keep or tempfile.mkdtemp(prefix="inrgan_train_")
    os.makedirs(tmp, exist_ok=True)
    try:
        data = os.path.join(tmp, "discs.npy")
        images = make_data(data)
        for name, fn in [("steps", lambda: test_steps(data, tmp)),
                         ("resume_trainer", lambda: test_resume_trainer(data, tmp)),
                         ("resume_train", lambda: test_resume_train(data, tmp)),
                         ("config_file", lambda: test_config_file(data, tmp)),
                         ("augment", test_augment),
                         ("swd", lambda: test_swd(images)),
                         ("ddp", lambda: test_ddp(data, tmp)),
                         ("export_c", lambda: test_export_c(data, tmp, cli))]:
            try:
                fn()
            except Exception as e:  # noqa: BLE001
                import traceback
                traceback.print_exc()
                fail("%s raised %s: %s" % (name, type(e).__name__, e))
    finally:
        if a.keep is None:
            shutil.rmtree(tmp, ignore_errors=True)
    if FAILURES:
        print("%d failure(s)" % len(FAILURES))
        return 1
    print("all trainer tests passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
