#!/usr/bin/python3
"""Trainer speed options on the CPU (tiny config, well under a minute): --amp, the loss scale,
--compile's fallback, data on the device, img/s and peak memory in the log.

    /usr/bin/python3 tests/test_train_amp.py

  * --amp bf16 on the CPU: G's synthesis and D run under bf16 autocast (checked with forward
    pre-hooks), except D's R1 pass, which runs in fp32; losses finite, G / D / G_ema change;
  * the loss scaler (--amp fp16's; fp16 autocast itself needs CUDA): a non-finite gradient
    skips the step and halves the scale, finite gradients are unscaled exactly, the scale
    doubles after growth_interval good steps;
  * --amp fp16 on the CPU is refused with one error line, exit 2;
  * --compile 1 trains; where torch has no torch.compile (Debian's 1.13) it says so in one line;
    with a stand-in torch.compile: G.synthesis and D are wrapped, and a raising one falls back
    to eager with one line;
  * progress lines carry img/s and the peak memory; log.jsonl has img_s and peak_mem_mb;
  * --data-on-device: the uint8 data set sits on the training device.

Exit 0 pass, 1 fail, 77 if torch is unavailable.
"""

import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile

from torch_env import ROOT, np, torch, check, run_checks  # noqa: E402,F401

from inrgan import train  # noqa: E402
from train_fixtures import flat, make_data, train_argv  # noqa: E402

torch.set_num_threads(1)

TMP = tempfile.mkdtemp(prefix="inrgan_amp_")
DATA = os.path.join(TMP, "boxes.npy")


make_data(DATA, 32, 4)


def argv(outdir, *extra):
    return train_argv(DATA, outdir, *extra)


@check
def bf16_autocast_step():
    args = train.parse_args(argv(os.path.join(TMP, "bf16"), "--amp", "bf16", "--quiet"))
    tr = train.Trainer(args, train.ImageDataset(args.data))
    seen = {"G": [], "D": []}

    def rec(name):
        def hook(mod, inp):
            seen[name].append(torch.get_autocast_cpu_dtype() if torch.is_autocast_cpu_enabled()
                              else torch.float32)
        return hook
    tr.G.synthesis.register_forward_pre_hook(rec("G"))
    tr.D.register_forward_pre_hook(rec("D"))
    g0, d0, e0 = flat(tr.G), flat(tr.D), flat(tr.G_ema)
    losses = [tr.train_step() for _ in range(2)]
    for l in losses:
        assert all(np.isfinite(v) for v in l.values()), l
    assert "R1" in losses[0] and losses[0]["R1"] > 0, losses[0]
    assert seen["G"] and all(d == torch.bfloat16 for d in seen["G"]), seen["G"]
    # step 0 (R1): G-step D, fake D (bf16), real D (fp32); step 1: three bf16 D passes
    assert seen["D"] == [torch.bfloat16, torch.bfloat16, torch.float32] + [torch.bfloat16] * 3, \
        seen["D"]
    assert not torch.equal(flat(tr.G), g0) and not torch.equal(flat(tr.D), d0) \
        and not torch.equal(flat(tr.G_ema), e0), "parameters did not change"
    for p in list(tr.G.parameters()) + list(tr.D.parameters()):
        assert p.dtype == torch.float32, "a parameter left fp32: %s" % p.dtype
    return "G and D under bf16, the R1 pass fp32; losses %s" % {
        k: round(v, 3) for k, v in losses[-1].items()}


@check
def loss_scaler():
    p = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    opt = torch.optim.SGD([p], lr=0.5)
    s = train.LossScaler(True, init_scale=8.0, growth_interval=2)
    loss = s.scale_loss((p * torch.tensor([1.0, float("inf")])).sum())
    loss.backward()
    assert not s.step(opt, [p]) and s.scale == 4.0 and s.skipped == 1, s.state_dict()
    assert torch.equal(p.detach(), torch.tensor([1.0, 2.0])), "a skipped step moved p"
    for k in range(2):
        opt.zero_grad()
        s.scale_loss((p * torch.tensor([3.0, -1.0])).sum()).backward()
        before = p.detach().clone()
        assert s.step(opt, [p])
        assert torch.equal(p.detach(), before - 0.5 * torch.tensor([3.0, -1.0])), \
            "gradient not unscaled exactly: %s" % p.detach()
    assert s.scale == 8.0 and s.good_steps == 0, s.state_dict()
    t = train.LossScaler(True)
    t.load_state_dict(s.state_dict())
    assert t.state_dict() == s.state_dict()
    off = train.LossScaler(False)
    assert off.scale_loss(torch.tensor(3.0)) == 3.0
    return "skip + halve on inf, exact unscale, growth after 2 good steps, state round trip"


@check
def fp16_on_cpu_refused():
    r = subprocess.run([sys.executable, "-m", "inrgan.train"] + argv(os.path.join(TMP, "f16"),
                       "--amp", "fp16", "--kimg", "0.008", "--quiet"),
                       cwd=os.path.join(ROOT, "python"), capture_output=True, text=True,
                       timeout=120)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and "fp16" in lines[0] and "error" in lines[0], \
        (r.returncode, r.stderr[-400:])
    return lines[0]


@check
def compile_and_log_lines():
    run = os.path.join(TMP, "comp")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        tr = train.train(train.parse_args(argv(run, "--compile", "1", "--kimg", "0.012",
                                               "--tick-seconds", "0.001", "--amp", "bf16")))
    text = out.getvalue()
    notes = [l for l in text.splitlines() if l.startswith("compile:")]
    assert len(notes) == 1, text
    if not hasattr(torch, "compile"):
        assert "no torch.compile" in notes[0] and "eager" in notes[0], notes
    assert tr.step == 3, tr.step
    prog = [l for l in text.splitlines() if l.startswith("kimg")]
    assert prog and all(" img/s " in l and " mem rss-peak " in l for l in prog), prog
    recs = [json.loads(l) for l in open(os.path.join(run, "log.jsonl"))]
    ticks = [r for r in recs if "img_s" in r]
    assert ticks and all(r["img_s"] > 0 and r["peak_mem_mb"] > 10 for r in ticks), ticks
    assert tr.dataset.images.device == tr.device
    return "%s | %s" % (notes[0], prog[-1][:110])


@check
def compile_paths_with_a_stand_in():
    """The branches Debian's torch 1.13 cannot reach: torch.compile present (a stand-in that
    records what it wraps) and torch.compile raising."""
    args = train.parse_args(argv(os.path.join(TMP, "stand"), "--compile", "1", "--quiet"))
    ds = train.ImageDataset(args.data)
    had = hasattr(torch, "compile")
    old = getattr(torch, "compile", None)
    wrapped = []
    try:
        torch.compile = lambda m: wrapped.append(m) or m
        tr = train.Trainer(args, ds)
        assert tr.compiled and wrapped == [tr.G.synthesis, tr.D], wrapped
        assert any("wrapped in torch.compile" in n for n in tr.notes), tr.notes
        losses = tr.train_step()
        assert all(np.isfinite(v) for v in losses.values()), losses

        def boom(m):
            raise RuntimeError("no compiler here\nmore")
        torch.compile = boom
        tr = train.Trainer(args, ds)
        assert not tr.compiled and tr.D_fwd is tr.D and tr.G_synthesis is tr.G.synthesis
        note = [n for n in tr.notes if n.startswith("compile:")]
        assert note == ["compile: torch.compile failed (RuntimeError: no compiler here); "
                        "running eager"], note
    finally:
        if had:
            torch.compile = old
        else:
            del torch.compile
    return note[0]


@check
def data_off_device():
    tr = train.train(train.parse_args(argv(os.path.join(TMP, "off"), "--data-on-device", "0",
                                           "--kimg", "0.004", "--quiet")))
    assert tr.dataset.images.device.type == "cpu" and tr.step == 1
    return "trains with the data on the host"


if __name__ == "__main__":
    sys.exit(run_checks(tmp=TMP))
