"""Trainer for INR-GAN generators (StyleGAN2-ADA-style recipe).

    /usr/bin/python3 -m inrgan.train --data DATA.npy --outdir RUN [--config FILE.json] [options]
    inrgan-train --preset quick --data synthetic --outdir RUN   (first run: a grid within minutes)
    torchrun --nproc_per_node=N -m inrgan.train ...          (data parallel, NCCL or gloo)
    /usr/bin/python3 -m inrgan.train export --checkpoint RUN/checkpoint.pt -o model.safetensors
    /usr/bin/python3 -m inrgan.train sheet DIR -o grid.png    (tile `inrgan render --npy` output)

Recipe: non-saturating logistic loss; lazy R1 on reals (gamma --r1-gamma, every --r1-interval D
steps, the penalty scaled by the interval and added to that step's D loss); no path-length
regulariser, no style mixing; generator EMA (half-life --ema-kimg, ramp-up --ema-rampup);
Adam (beta1 0, beta2 0.99, eps 1e-8); x-flips; optional differentiable augmentation of
everything D sees (--aug-p, inrgan.augment). The mapping network's w_avg tracks the batch mean
of w (beta 0.995), as the official code does during training.

Speed (docs/training.md, "Training on the lent GPU"): --amp bf16|fp16 runs the forward passes of
G and D under autocast (fp16 with a dynamic loss scale; the R1 pass and its penalty always in
fp32; parameters, optimizer state and EMA in fp32); the whole uint8 data set sits on the
training device as one tensor and the batches (indices, x-flips, augmentation) are made there
(--data-on-device); --compile wraps G and D in torch.compile (the R1 pass runs eager: compiled
graphs do not support its double backward), falling back to eager with one line when torch
has no compile or compiling fails. Progress lines show images/s and the peak memory (CUDA:
torch.cuda.max_memory_allocated; CPU: the process's peak RSS). Losses stay on the device
between progress lines (no host sync per step).

Data parallel: every rank draws its own batch (batch / world size images) and its own latents;
gradients are averaged with torch.distributed.all_reduce after each backward pass (the
gradient all-reduce that DistributedDataParallel does, done by hand because the R1 term needs a
double backward, which DDP's hooks do not support), so replicas stay identical. Launch with
torchrun (env:// rendezvous); gloo on CPU, NCCL on CUDA.

Checkpoints (RUN/checkpoint.pt, written atomically by inrgan.ckpt: temp file, flush + fsync,
rename, so a process killed mid-save leaves the previous complete checkpoint; stale temp files
are removed at the next start) hold G, D, G_ema, both optimizers (Adam's first moment is left
out when beta1 = 0: it equals the next gradient, so the resume stays exact), the loss scale, the
counters, the SWD history and the RNG states of every rank, so a killed run resumed with
--resume auto continues with exactly the same next-step losses (same world size, CPU). --resume
also takes the manifest (.json) of a checkpoint split into parts (inrgan.ckpt.split).
Snapshots also write a sample grid RUN/samples/fakesKKKKKK.png (G_ema on the latents of
seeds 0..grid-1, the same latents the C engine uses for those seeds) and, with --swd-images N,
the SWD of N G_ema samples vs N real images next to the real-vs-real floor (two disjoint real
halves of N images each). Progress lines (every --tick-seconds or --tick-kimg, the first after
one step): kimg, images/s, losses, time left. SIGTERM/SIGINT: checkpoint and exit cleanly.

--preset NAME (PRESETS): option defaults, below --config and the command line. --data synthetic
or synthetic:RES: generated shapes written to RUN/synthetic-RES.npy, for a run without a data set.

--config FILE: a JSON object whose keys are the long option names (dashes or underscores),
e.g. {"data": "...", "g_config": {"resolution": 64, "channel_max": 64}, "batch": 16}; the
command line overrides it. --g-config: a built-in config name (inrgan.config.builtin) or a
JSON object of inrgan.config.make_config keyword arguments.
"""

import argparse
import copy
import json
import math
import os
import resource
import signal
import sys
import time
import zlib
import struct

# OpenMP threads that wait by sleeping instead of spinning, unless the user chose: with the
# default spinning, two torch threads on a busy 2-core machine spent 11.3 s per step of a draft
# quick preset instead of 0.97 s (docs/training.md). Takes effect only when torch is first imported here.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F

from . import ckpt as ckpt_mod
from . import config as config_mod
from . import export as export_mod
from . import latents as latents_mod
from .augment import augment as augment_fn
from .dataset import ImageDataset
from .discriminator import Discriminator
from .generator import Generator, param_count
from .swd import swd as swd_fn

__all__ = ["build_parser", "parse_args", "Trainer", "train", "export_checkpoint", "main",
           "write_png", "image_grid"]

CHECKPOINT_VERSION = 2        # 2: Adam exp_avg left out when beta1 == 0, loss scaler state
AMP_MODES = ("off", "bf16", "fp16")


class UsageError(ValueError):
    """Bad input found after option parsing (data, generator config): one error line, exit 2."""


# ---- small utilities -------------------------------------------------------------------------

def write_png(path, img):
    """Writes uint8 [H, W, 3] as an 8-bit RGB PNG (own minimal encoder, zlib)."""
    img = np.ascontiguousarray(img, dtype=np.uint8)
    h, w, c = img.shape
    raw = b"".join(b"\x00" + img[i].tobytes() for i in range(h))

    def chunk(tag, data):
        crc = zlib.crc32(tag + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    png = (b"\x89PNG\r\n\x1a\n"
           + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2 if c == 3 else 0, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(png)
    os.replace(tmp, path)


def to_uint8(x):
    """float [B, 3, H, W] in [-1, 1] -> uint8 [B, H, W, 3] (the official x*127.5+128 rule)."""
    return (x * 127.5 + 128).clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def image_grid(imgs, cols):
    """uint8 [N, H, W, 3] -> one uint8 grid image (rows of `cols`, white padding)."""
    n, h, w, c = imgs.shape
    rows = (n + cols - 1) // cols
    out = np.full((rows * h, cols * w, c), 255, np.uint8)
    for i in range(n):
        r, q = divmod(i, cols)
        out[r * h:(r + 1) * h, q * w:(q + 1) * w] = imgs[i]
    return out


def peak_memory_mb(device):
    """Peak memory of this process in MB: CUDA's max allocated on a CUDA device, else the
    peak resident set size."""
    dev = torch.device(device)
    if dev.type == "cuda":
        return torch.cuda.max_memory_allocated(dev) / 1e6
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3     # KiB on Linux


def _fmt_time(s):
    s = int(s)
    return "%dh%02dm%02ds" % (s // 3600, s // 60 % 60, s % 60)


# ---- options -------------------------------------------------------------------------------

# Presets: option defaults for a purpose (the command line and --config override them).
# quick: a first run on a CPU. A 32x32 generator of 0.53 M parameters (the demo model's shape,
# docs/training.md, at half the resolution) against a 0.05 M-parameter D, batch 16; a progress
# line every 10 s (the first after one step), a sample grid and checkpoint (9 MB) every minute,
# stop after 2 minutes. With `--data synthetic` it needs nothing but this package. It shows the
# loop working (blobs after a few kimg), not a good model.
PRESETS = {
    "quick": {
        "g_config": json.dumps({"input_grid": 8, "channel_base": 1024,
                                "channel_max": 64, "rank": 8, "z_dim": 64, "w_dim": 64,
                                "mapping_layers": 2, "low_max_grid": 32,
                                "emb_low": {"diagonal": True, "random": 8, "const": 8}}),
        # (no "resolution": the data's, e.g. 32 for --data synthetic, 64 for open-peeps-64)
        "batch": 16, "r1_gamma": 0.1, "ema_kimg": 1.0,
        "d_channel_base": 256, "d_channel_max": 32,
        "kimg": 1000.0, "max_minutes": 2.0, "snap_minutes": 1.0, "tick_seconds": 10.0,
        "grid": 16, "threads": 2,
    },
}

SYNTHETIC = "synthetic"
SYNTHETIC_IMAGES = 4096


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows "(default: X)" for options with a default worth showing (not None / off)."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


_EPILOG = """presets (--preset NAME; the command line and --config override them):
%s

other commands:
  %%(prog)s export --checkpoint RUN/checkpoint.pt -o model.safetensors   (G_ema -> model file)
  %%(prog)s sheet DIR -o grid.png          (tile `inrgan render --npy` output into one PNG)

quick start on a CPU (docs/training.md): %%(prog)s --preset quick --data synthetic --outdir runs/quick
"""


def _preset_g_size(spec):
    try:
        cfg = generator_config(spec, 32)
        return "G %.2f M parameters" % (param_count(Generator(cfg, device="meta")) / 1e6)
    except Exception:  # noqa: BLE001 -- help text only
        return "a small G"


def build_parser():
    presets = "\n".join("  %s:%s" % (k, "".join(
        "%s--%s %s" % ("\n    " if i % 4 == 0 else " ", o.replace("_", "-"),
                       "(at 32x32: %s)" % _preset_g_size(v) if o == "g_config" else "%g" % v)
        for i, (o, v) in enumerate(d.items()))) for k, d in PRESETS.items())
    p = argparse.ArgumentParser(prog=export_mod.prog_name("python -m inrgan.train"),
                                description="Train an INR-GAN generator (StyleGAN2-ADA recipe).",
                                formatter_class=_HelpFormatter,
                                usage="%(prog)s --data DATA --outdir DIR [--preset quick] "
                                      "[options]\n       %(prog)s export|sheet ... "
                                      "(%(prog)s export --help)",
                                epilog=_EPILOG % presets)
    a = p.add_argument
    a("--preset", default=None, choices=sorted(PRESETS),
      help="option defaults for a purpose (quick: a first CPU run, sample grids within minutes)")
    a("--config", default=None, help="JSON file of option defaults (long option names)")
    a("--data", default=None,
      help="training images: .npy/.npz uint8 [N,H,W,3], a folder of images, or 'synthetic' / "
           "'synthetic:RES' (%d generated shapes at RES x RES, default 32, written to "
           "OUTDIR/synthetic-RES.npy)" % SYNTHETIC_IMAGES)
    a("--outdir", default=None, help="run directory (checkpoint, samples, log)")
    a("--g-config", default=None,
      help="generator: built-in config name or JSON object of make_config kwargs "
           "(default: make_config at the data resolution, the official widths: large)")
    a("--max-images", type=int, default=None, help="use only the first N images")
    a("--mirror", type=int, default=1, help="random x-flips of the reals (1/0)")
    a("--batch", type=int, default=32, help="total batch over all ranks")
    a("--lr", type=float, default=0.0025, help="learning rate of G and D")
    a("--g-lr", type=float, default=None, help="override G's learning rate")
    a("--d-lr", type=float, default=None, help="override D's learning rate")
    a("--beta1", type=float, default=0.0, help="Adam beta1")
    a("--beta2", type=float, default=0.99, help="Adam beta2")
    a("--r1-gamma", type=float, default=10.0, help="R1 weight gamma (0: off)")
    a("--r1-interval", type=int, default=16, help="lazy R1: every N D steps")
    a("--ema-kimg", type=float, default=10.0, help="G EMA half-life in kimg")
    a("--ema-rampup", type=float, default=0.05,
      help="EMA ramp-up: half-life <= cur_kimg * rampup (0/none: off)")
    a("--d-channel-base", type=int, default=32768, help="D channels: min(base / res, max)")
    a("--d-channel-max", type=int, default=512, help="D channels: min(base / res, max)")
    a("--mbstd-group", type=int, default=4, help="D minibatch-stddev group size")
    a("--aug-p", type=float, default=0.0,
      help="differentiable augmentation probability per transform (0: off)")
    a("--aug-policy", default="color,translation,cutout", help="augmentations (with --aug-p)")
    a("--amp", choices=AMP_MODES, default="off",
      help="autocast of G's and D's forward passes: bf16, fp16 (with a dynamic loss scale; "
           "CUDA only) or off; R1 always fp32")
    a("--amp-d", type=int, default=0,
      help="older option: bf16 autocast for D only, on CUDA (ignored on CPU)")
    a("--compile", type=int, default=0,
      help="torch.compile G and D (1/0); falls back to eager, with a log line, if unavailable")
    a("--data-on-device", type=int, default=1,
      help="hold the uint8 data set on the training device and make batches there (1/0)")
    a("--tf32", type=int, default=1, help="allow TF32 matmuls/convolutions on CUDA (1/0)")
    a("--kimg", type=float, default=1000.0, help="training length in thousands of images")
    a("--max-minutes", type=float, default=None,
      help="stop (checkpoint + exit) after this wall time of this process")
    a("--stop-at", type=float, default=None,
      help="stop (checkpoint + exit) at this Unix time: a global deadline (scripts/gpu-train.sh)")
    a("--tick-kimg", type=float, default=1.0, help="progress line every N kimg ...")
    a("--tick-seconds", type=float, default=10.0,
      help="... or every N seconds, whichever comes first (the first line after one step)")
    a("--snap-minutes", type=float, default=5.0,
      help="checkpoint + sample grid every N minutes")
    a("--snap-kimg", type=float, default=None, help="also checkpoint every N kimg")
    a("--grid", type=int, default=16, help="sample grid size (seeds 0..N-1)")
    a("--swd-images", type=int, default=0,
      help="SWD at each snapshot with N fakes vs N reals (+ real-vs-real floor); 0: off")
    a("--export", default=None, help="write the final G_ema model file here")
    a("--export-dtype", choices=("fp32", "fp16"), default="fp32", help="dtype of --export")
    a("--export-every-snapshot", type=int, default=0,
      help="also export RUN/model-latest.safetensors at each snapshot (1/0)")
    a("--dataset-name", default=None, help="dataset description for the provenance")
    a("--resume", default=None, help="checkpoint path, or 'auto' (RUN/checkpoint.pt if any)")
    a("--seed", type=int, default=0, help="seed of the weights, latents and data order")
    a("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    a("--device", default=None, help="cpu / cuda (default: cuda if available)")
    a("--quiet", action="store_true", help="no progress lines")
    return p


def _option_dests(parser):
    return {act.dest for act in parser._actions if act.dest != "help"}


def parse_args(argv=None):
    parser = build_parser()
    pre, _ = parser.parse_known_args(argv)
    defaults = {}
    preset = pre.preset
    if pre.config:
        with open(pre.config) as f:
            conf = json.load(f)
        if not isinstance(conf, dict):
            parser.error("--config: the file must hold a JSON object")
        dests = _option_dests(parser)
        for k, v in conf.items():
            d = k.replace("-", "_")
            if d not in dests or d == "config":
                parser.error("--config: unknown option %r" % k)
            if d == "g_config" and isinstance(v, dict):
                v = json.dumps(v)
            defaults[d] = v
        if preset is None and defaults.get("preset") is not None:
            preset = defaults["preset"]
            if preset not in PRESETS:
                parser.error("--config: unknown preset %r (known: %s)"
                             % (preset, ", ".join(sorted(PRESETS))))
    if preset:                              # preset < --config file < command line
        parser.set_defaults(**PRESETS[preset])
    parser.set_defaults(**defaults)
    args = parser.parse_args(argv)
    if args.data is None or args.outdir is None:
        parser.error("--data and --outdir are required (on the command line or in --config)")
    if args.batch < 1 or args.r1_interval < 1:
        parser.error("--batch and --r1-interval must be >= 1")
    if not (args.tick_seconds > 0 and args.tick_kimg > 0):
        parser.error("--tick-seconds and --tick-kimg must be > 0")
    if args.data.startswith(SYNTHETIC) and not os.path.exists(args.data):
        try:
            synthetic_resolution(args.data)
        except ValueError as e:
            parser.error(str(e))
    args.argv = list(sys.argv if argv is None else ["inrgan.train"] + list(argv))
    return args


def generator_config(spec, resolution):
    """Config dict from --g-config (name, JSON string or dict) at the data resolution."""
    if spec is None:
        return config_mod.make_config(resolution)
    if isinstance(spec, dict):
        kw = dict(spec)
    elif isinstance(spec, str) and spec.strip().startswith("{"):
        kw = json.loads(spec)
    else:
        return config_mod.builtin(spec)
    if "format_version" in kw:                   # a full config (e.g. from a model file)
        return config_mod.validate(kw)
    kw.setdefault("resolution", resolution)
    return config_mod.make_config(**kw)


def _generator_config_or_error(spec, resolution):
    try:
        return generator_config(spec, resolution)
    except (ValueError, TypeError) as e:      # json errors are ValueErrors
        raise UsageError("--g-config: %s" % e) from None


def synthetic_resolution(spec):
    """RES of 'synthetic' (32) or 'synthetic:RES' (a power of two, 8..256)."""
    if spec == SYNTHETIC:
        return 32
    head, _, tail = spec.partition(":")
    if head == SYNTHETIC and tail.isdigit():
        r = int(tail)
        if 8 <= r <= 256 and r & (r - 1) == 0:
            return r
    raise ValueError("--data %s: expected a file, a folder, 'synthetic' or 'synthetic:RES' "
                     "(RES a power of two, 8..256)" % spec)


def synthetic_images(n=SYNTHETIC_IMAGES, res=32, seed=0):
    """uint8 [n, res, res, 3]: one or two filled shapes (disc, square or diamond) of random
    colour, position and size on white; deterministic for a seed. A stand-in data set for a
    first run that needs no download."""
    rng = np.random.RandomState(seed)
    yy, xx = (np.mgrid[0:res, 0:res] + 0.5) / res
    out = np.full((n, res, res, 3), 255, np.uint8)
    for i in range(n):
        for _ in range(1 + (rng.rand() < 0.3)):
            cy, cx = rng.uniform(0.3, 0.7, 2)
            r = rng.uniform(0.12, 0.3)
            kind = rng.randint(3)
            dy, dx = np.abs(yy - cy), np.abs(xx - cx)
            if kind == 0:
                m = dy * dy + dx * dx < r * r
            elif kind == 1:
                m = np.maximum(dy, dx) < r * 0.85
            else:
                m = dy + dx < r * 1.2
            out[i][m] = rng.randint(0, 220, 3)
    return out


def _dataset_path(args, is_main, world):
    """args.data, or for 'synthetic[:RES]' the file OUTDIR/synthetic-RES.npy (written once,
    atomically, by rank 0)."""
    if not args.data.startswith(SYNTHETIC) or os.path.exists(args.data):
        return args.data
    res = synthetic_resolution(args.data)
    g_res = _generator_config_or_error(args.g_config, res)["resolution"]
    if g_res != res:
        raise UsageError("--data %s is %dx%d but the generator config is %dx%d"
                         % (args.data, res, res, g_res, g_res))
    path = os.path.join(args.outdir, "synthetic-%d.npy" % res)
    if is_main and not os.path.exists(path):
        os.makedirs(args.outdir, exist_ok=True)
        tmp = path + ".tmp%d.npy" % os.getpid()
        np.save(tmp, synthetic_images(SYNTHETIC_IMAGES, res, seed=0))
        os.replace(tmp, path)
    d = _dist()
    if d is not None and world > 1:
        d.barrier()
    if args.dataset_name is None:
        args.dataset_name = "synthetic shapes %dx%d (%d images, inrgan.train)" % (
            res, res, SYNTHETIC_IMAGES)
    return path


# ---- distributed helpers ---------------------------------------------------------------------

def _dist():
    import torch.distributed as dist
    return dist if dist.is_available() and dist.is_initialized() else None


def _all_reduce_mean_(tensors, world):
    d = _dist()
    if d is None or world == 1 or not tensors:
        return
    flat = torch.cat([t.reshape(-1) for t in tensors])
    d.all_reduce(flat)
    flat /= world
    off = 0
    for t in tensors:
        n = t.numel()
        t.copy_(flat[off:off + n].view_as(t))
        off += n


def _sync_grads(module, world, sanitize=True):
    """Averages the gradients over the ranks. sanitize: non-finite entries replaced first
    (fp32/bf16); off with a loss scale, whose overflow check must see them (after the
    all-reduce every rank holds the same sums, so every rank takes the same skip decision)."""
    params = [p for p in module.parameters() if p.requires_grad]
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        if sanitize:
            torch.nan_to_num_(p.grad, nan=0.0, posinf=1e5, neginf=-1e5)
    _all_reduce_mean_([p.grad for p in params], world)


class LossScaler:
    """Dynamic loss scale for fp16 autocast, with the policy of torch's GradScaler: start at
    2**16; when a gradient is not finite, skip the optimizer step and halve the scale; after
    `growth_interval` finite steps in a row, double it. Written here instead of using
    torch.cuda.amp.GradScaler because the gradients are all-reduced by hand (the check runs on
    the averaged gradients, identical on every rank) and so that it runs, and is tested, on any
    device. Disabled: loss and step pass through."""

    def __init__(self, enabled, init_scale=2.0 ** 16, growth_interval=2000):
        self.enabled = bool(enabled)
        self.scale = float(init_scale) if self.enabled else 1.0
        self.growth_interval = int(growth_interval)
        self.good_steps = 0
        self.skipped = 0

    def scale_loss(self, loss):
        return loss * self.scale if self.enabled else loss

    def step(self, opt, params):
        """Unscales the gradients and steps, or skips; returns True when it stepped."""
        if not self.enabled:
            opt.step()
            return True
        grads = [p.grad for p in params if p.grad is not None]
        finite = bool(torch.stack([torch.isfinite(g).all() for g in grads]).all())
        if not finite:
            self.scale *= 0.5
            self.good_steps = 0
            self.skipped += 1
            for g in grads:
                g.zero_()
            return False
        torch._foreach_mul_(grads, 1.0 / self.scale)
        opt.step()
        self.good_steps += 1
        if self.good_steps >= self.growth_interval:
            self.scale *= 2.0
            self.good_steps = 0
        return True

    def state_dict(self):
        return {"enabled": self.enabled, "scale": self.scale, "good_steps": self.good_steps,
                "skipped": self.skipped}

    def load_state_dict(self, s):
        if s and s.get("enabled") and self.enabled:
            self.scale = float(s["scale"])
            self.good_steps = int(s["good_steps"])
            self.skipped = int(s.get("skipped", 0))


def _compact_adam_state(sd, beta1):
    """Adam state dict without exp_avg when beta1 == 0: Adam then sets exp_avg to the new
    gradient before using it (0 * m + g, exactly g), so the stored value never matters."""
    if beta1 != 0:
        return sd
    st = {k: {n: v for n, v in s.items() if n != "exp_avg"} for k, s in sd["state"].items()}
    return {"state": st, "param_groups": sd["param_groups"], "compact": "no exp_avg (beta1 0)"}


def _expand_adam_state(sd):
    if "compact" not in sd:
        return sd
    st = {}
    for k, s in sd["state"].items():
        s = dict(s)
        s["exp_avg"] = torch.zeros_like(s["exp_avg_sq"])
        st[k] = s
    return {"state": st, "param_groups": sd["param_groups"]}


def _broadcast_module(module):
    d = _dist()
    if d is None:
        return
    for t in list(module.parameters()) + list(module.buffers()):
        d.broadcast(t.data, src=0)


# ---- the trainer ---------------------------------------------------------------------------

class Trainer:
    """One rank's training state: G, D, G_ema, optimizers, RNGs, counters.

    train_step() runs one G step and one D step (with R1 every r1_interval D steps) on this
    rank's batch of batch // world images and returns the losses."""

    def __init__(self, args, dataset, rank=0, world=1, device="cpu"):
        self.args = args
        self.notes = []              # lines for the log (compile fallback, ...)
        self.rank, self.world = rank, world
        self.device = torch.device(device)
        self.dataset = dataset
        if args.batch % world:
            raise ValueError("--batch %d is not divisible by the world size %d"
                             % (args.batch, world))
        self.batch_gpu = args.batch // world
        res = dataset.resolution
        self.g_cfg = generator_config(args.g_config, res)
        if self.g_cfg["resolution"] != res:
            raise ValueError("generator resolution %d != data resolution %d"
                             % (self.g_cfg["resolution"], res))

        torch.manual_seed(args.seed)                 # same initial weights on every rank
        self.G = Generator(self.g_cfg).to(self.device).train()
        self.D = Discriminator(res, args.d_channel_base, args.d_channel_max,
                               args.mbstd_group).to(self.device).train()
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        _broadcast_module(self.G)
        _broadcast_module(self.D)
        _broadcast_module(self.G_ema)
        g_lr = args.g_lr if args.g_lr is not None else args.lr
        d_lr = args.d_lr if args.d_lr is not None else args.lr
        betas = (args.beta1, args.beta2)
        self.opt_G = torch.optim.Adam(self.G.parameters(), lr=g_lr, betas=betas, eps=1e-8)
        self.opt_D = torch.optim.Adam(self.D.parameters(), lr=d_lr, betas=betas, eps=1e-8)

        # per-rank streams: torch's global RNG (latents, augmentation) and the data sampler
        torch.manual_seed(args.seed * 1000 + 1 + rank)
        if self.device.type == "cuda":
            torch.cuda.manual_seed(args.seed * 1000 + 1 + rank)
        self.data_gen = torch.Generator().manual_seed(args.seed * 1000 + 500 + rank)
        self.cur_nimg = 0
        self.step = 0                # training iterations (one G + one D step each)
        self.swd_history = []
        self.train_time = 0.0        # accumulated wall time of train steps (all sessions)
        amp = getattr(args, "amp", "off") or "off"
        if amp not in AMP_MODES:
            raise ValueError("--amp %s: expected one of %s" % (amp, ", ".join(AMP_MODES)))
        if amp == "fp16" and self.device.type != "cuda":
            raise ValueError("--amp fp16 needs a CUDA device (use --amp bf16 on %s)"
                             % self.device.type)
        self.amp = amp
        self.amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp)
        # --amp-d (older option): bf16 autocast for D alone, CUDA only
        self.amp_d_only = amp == "off" and bool(args.amp_d) and self.device.type == "cuda"
        self.amp_d = self.amp_d_only or amp != "off"      # kept for callers that read it
        self.scaler_G = LossScaler(amp == "fp16")
        self.scaler_D = LossScaler(amp == "fp16")
        self._setup_compile()

    def _setup_compile(self):
        """G's synthesis and D as compiled callables (the modules themselves stay
        eager: checkpoints, EMA and the R1 pass use them)."""
        self.G_mapping, self.G_synthesis, self.D_fwd = self.G.mapping, self.G.synthesis, self.D
        self.compiled = False
        if not getattr(self.args, "compile", 0):
            return
        if not hasattr(torch, "compile"):
            self.notes.append("compile: torch %s has no torch.compile; running eager"
                              % torch.__version__)
            return
        suppress = ""
        try:
            import importlib
            dynamo = importlib.import_module("torch._dynamo")
            dynamo.config.suppress_errors = True      # a failing graph runs eager
            suppress = "; failing graphs fall back to eager"
        except Exception:  # noqa: BLE001 -- a torch without that switch: compile anyway
            pass
        try:
            self.G_synthesis = torch.compile(self.G.synthesis)
            self.D_fwd = torch.compile(self.D)
            self.compiled = True
            self.notes.append("compile: G.synthesis and D wrapped in torch.compile "
                              "(compiled on first use%s)" % suppress)
        except Exception as e:  # noqa: BLE001 -- any failure: eager
            self.G_mapping, self.G_synthesis, self.D_fwd = self.G.mapping, self.G.synthesis, \
                self.D
            self.notes.append("compile: torch.compile failed (%s: %s); running eager"
                              % (type(e).__name__, str(e).splitlines()[0] if str(e) else ""))

    # -- pieces --
    def _real_batch(self):
        """The indices and flips come from a CPU generator (the same stream on any device);
        gathering, flipping and scaling run where the data set lives (the training device with
        --data-on-device)."""
        n = len(self.dataset)
        idx = torch.randint(n, (self.batch_gpu,), generator=self.data_gen)
        flip = None
        if self.args.mirror:
            flip = torch.rand(self.batch_gpu, generator=self.data_gen) < 0.5
        dev = self.dataset.images.device
        if dev.type != "cpu":
            idx = idx.to(dev, non_blocking=True)
            flip = flip.to(dev, non_blocking=True) if flip is not None else None
        return self.dataset.batch(idx, flip).to(self.device, non_blocking=True)

    def _z(self):
        return torch.randn(self.batch_gpu, self.g_cfg["z_dim"], device=self.device)

    def _autocast(self, on=True):
        if self.amp_dtype is None or not on:
            return torch.autocast(device_type=self.device.type, enabled=False)
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def _run_D(self, img, amp=False, eager=False):
        """D's logits in fp32. amp: under autocast (--amp, or --amp-d's bf16 for D alone);
        eager: the uncompiled D (the R1 pass: double backward)."""
        if self.args.aug_p > 0:
            img = augment_fn(img, self.args.aug_p, self.args.aug_policy)
        d = self.D if eager else self.D_fwd
        if amp and self.amp_d_only:
            with torch.autocast(device_type="cuda", dtype=torch.bfloat16):
                return d(img).float()
        with self._autocast(amp):
            return d(img).float()

    def _update_w_avg(self, w):
        with torch.no_grad():
            m = w.detach().mean(dim=0)
            _all_reduce_mean_([m], self.world)
            wa = self.G.mapping.w_avg
            wa.copy_(m.lerp(wa, 0.995))

    def _update_ema(self):
        a = self.args
        ema_nimg = a.ema_kimg * 1000.0
        if a.ema_rampup:
            ema_nimg = min(ema_nimg, self.cur_nimg * a.ema_rampup)
        beta = 0.5 ** (a.batch / max(ema_nimg, 1e-8))
        with torch.no_grad():
            for pe, p in zip(self.G_ema.parameters(), self.G.parameters()):
                pe.copy_(p.detach().lerp(pe, beta))
            for be, b in zip(self.G_ema.buffers(), self.G.buffers()):
                be.copy_(b)

    # -- one iteration --
    def train_step(self):
        """One G step and one D step; the losses as floats."""
        return {k: float(v) for k, v in self._step().items()}

    def _step(self):
        """One G step and one D step; the losses as 0-d tensors on the device (no host sync,
        except the loss scale's overflow check with --amp fp16)."""
        a = self.args
        # G: non-saturating logistic loss softplus(-D(G(z))); the mapping net in fp32
        self.G.requires_grad_(True)
        self.D.requires_grad_(False)
        w = self.G_mapping(self._z())
        self._update_w_avg(w)
        with self._autocast():
            fake = self.G_synthesis(w)
        loss_G = F.softplus(-self._run_D(fake.float(), True)).mean()
        self.opt_G.zero_grad(set_to_none=True)
        self.scaler_G.scale_loss(loss_G).backward()
        _sync_grads(self.G, self.world, sanitize=not self.scaler_G.enabled)
        self.scaler_G.step(self.opt_G, self.G.parameters())

        # D: softplus(D(fake)) + softplus(-D(real)) [+ lazy R1 on the reals, fp32, eager]
        self.G.requires_grad_(False)
        self.D.requires_grad_(True)
        with torch.no_grad():
            w = self.G_mapping(self._z())
            with self._autocast():
                fake = self.G_synthesis(w).float()
        real = self._real_batch()
        do_r1 = a.r1_gamma > 0 and self.step % a.r1_interval == 0
        real_in = real.detach().requires_grad_(do_r1)
        logits_fake = self._run_D(fake, True)
        logits_real = self._run_D(real_in, not do_r1, eager=do_r1)
        loss_D = F.softplus(logits_fake).mean() + F.softplus(-logits_real).mean()
        total = loss_D
        r1 = None
        if do_r1:
            grad, = torch.autograd.grad(logits_real.sum(), real_in, create_graph=True)
            penalty = grad.float().square().sum(dim=(1, 2, 3))
            r1 = penalty.mean()
            total = total + r1 * (a.r1_gamma / 2) * a.r1_interval
        self.opt_D.zero_grad(set_to_none=True)
        self.scaler_D.scale_loss(total).backward()
        _sync_grads(self.D, self.world, sanitize=not self.scaler_D.enabled)
        self.scaler_D.step(self.opt_D, self.D.parameters())
        self.G.requires_grad_(True)

        self.cur_nimg += a.batch
        self.step += 1
        self._update_ema()
        out = {"loss_G": loss_G.detach(), "loss_D": loss_D.detach(),
               "D_real": logits_real.detach().mean(),
               "D_fake": logits_fake.detach().mean()}
        if r1 is not None:
            out["R1"] = r1.detach()
        return out

    # -- state --
    def rng_state(self):
        s = {"torch": torch.get_rng_state(), "data": self.data_gen.get_state()}
        if self.device.type == "cuda":
            s["cuda"] = torch.cuda.get_rng_state(self.device)
        return s

    def set_rng_state(self, s):
        torch.set_rng_state(s["torch"])
        self.data_gen.set_state(s["data"])
        if self.device.type == "cuda" and "cuda" in s:
            torch.cuda.set_rng_state(s["cuda"], self.device)

    def state_dict(self):
        """The checkpoint (call on every rank: it gathers the RNG states of all ranks)."""
        rngs = [self.rng_state()]
        d = _dist()
        if d is not None and self.world > 1:
            rngs = [None] * self.world
            d.all_gather_object(rngs, self.rng_state())
        return {
            "version": CHECKPOINT_VERSION,
            "g_cfg": self.g_cfg,
            "G": self.G.state_dict(), "D": self.D.state_dict(), "G_ema": self.G_ema.state_dict(),
            "opt_G": _compact_adam_state(self.opt_G.state_dict(), self.args.beta1),
            "opt_D": _compact_adam_state(self.opt_D.state_dict(), self.args.beta1),
            "scaler_G": self.scaler_G.state_dict(), "scaler_D": self.scaler_D.state_dict(),
            "cur_nimg": self.cur_nimg, "step": self.step, "world": self.world,
            "rng": rngs, "swd_history": self.swd_history, "train_time": self.train_time,
            "args": {k: v for k, v in vars(self.args).items()},
        }

    def load_state_dict(self, ck):
        if ck.get("version") not in (1, CHECKPOINT_VERSION):
            raise ValueError("unsupported checkpoint version %r" % ck.get("version"))
        if ck["g_cfg"] != self.g_cfg:
            raise ValueError("checkpoint generator config differs from --g-config")
        self.G.load_state_dict(ck["G"])
        self.D.load_state_dict(ck["D"])
        self.G_ema.load_state_dict(ck["G_ema"])
        self.opt_G.load_state_dict(_expand_adam_state(ck["opt_G"]))
        self.opt_D.load_state_dict(_expand_adam_state(ck["opt_D"]))
        self.scaler_G.load_state_dict(ck.get("scaler_G"))
        self.scaler_D.load_state_dict(ck.get("scaler_D"))
        self.cur_nimg, self.step = int(ck["cur_nimg"]), int(ck["step"])
        self.swd_history = list(ck.get("swd_history", []))
        self.train_time = float(ck.get("train_time", 0.0))
        rngs = ck["rng"]
        if len(rngs) == self.world:
            self.set_rng_state(rngs[self.rank])
        else:   # different world size: reseed deterministically from the step
            torch.manual_seed(self.args.seed * 1000 + 1 + self.rank + 7919 * self.step)
            self.data_gen.manual_seed(self.args.seed * 1000 + 500 + self.rank + 7919 * self.step)

    @torch.no_grad()
    def sample(self, z, psi=1.0, batch=64):
        out = []
        for i in range(0, z.shape[0], batch):
            out.append(self.G_ema(z[i:i + batch].to(self.device), psi=psi).cpu())
        return torch.cat(out)


# ---- loop --------------------------------------------------------------------------------

class _Stop:
    flag = False


def _install_signal_handlers():
    def handler(signum, frame):
        _Stop.flag = True
    for s in (signal.SIGTERM, signal.SIGINT):
        try:
            signal.signal(s, handler)
        except ValueError:      # not the main thread
            pass


def _swd_sets(dataset, n, seed):
    """Two disjoint real sets of n images (a fixed permutation of the data)."""
    g = torch.Generator().manual_seed(seed + 12345)
    perm = torch.randperm(len(dataset), generator=g)
    n = min(n, len(dataset) // 2)
    return dataset.images[perm[:n]].cpu(), dataset.images[perm[n:2 * n]].cpu()


def provenance_for(trainer, swd_entry=None, dataset_name=None, command=None):
    a = trainer.args
    p = {"source": "trained with python/inrgan/train.py",
         "created_by": "python/inrgan/train.py",
         "dataset": dataset_name or a.dataset_name or os.path.basename(str(a.data)),
         "dataset_images": str(len(trainer.dataset)) if trainer.dataset is not None else "",
         "kimg": "%.1f" % (trainer.cur_nimg / 1000.0),
         "steps": str(trainer.step),
         "batch": str(a.batch),
         "train_hours": "%.2f" % (trainer.train_time / 3600.0),
         "recipe": "non-saturating logistic, lazy R1 gamma=%g/%d, EMA %g kimg, Adam(0,0.99) "
                   "lr %g, xflip %d, aug_p %g" % (a.r1_gamma, a.r1_interval, a.ema_kimg,
                                                   a.lr, a.mirror, a.aug_p),
         "command": command or " ".join(getattr(a, "argv", [])),
         }
    if swd_entry is not None:
        p["swd"] = "%.3f" % swd_entry["swd"]
        p["swd_floor"] = "%.3f" % swd_entry["floor"]
        p["swd_images"] = str(swd_entry["images"])
        p["swd_kimg"] = "%.1f" % swd_entry["kimg"]
    return {k: v for k, v in p.items() if v != ""}


def train(args, rank=None, world_size=None, init_method=None):
    """Runs training with parsed args. Distributed when WORLD_SIZE > 1 in the environment
    (torchrun) or when world_size > 1 is given (with init_method, e.g. file://...)."""
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)      # denormals slow CPU training down a lot
    env_world = int(os.environ.get("WORLD_SIZE", "1"))
    world = world_size if world_size is not None else env_world
    rank = rank if rank is not None else int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda":
        torch.cuda.set_device(local_rank % max(1, torch.cuda.device_count()))
        device = "cuda:%d" % torch.cuda.current_device()
    if world > 1:
        import torch.distributed as dist
        backend = "nccl" if device.startswith("cuda") else "gloo"
        if init_method is None:
            dist.init_process_group(backend)
        else:
            dist.init_process_group(backend, init_method=init_method, rank=rank,
                                    world_size=world)
    is_main = rank == 0
    log = (lambda *m: print(*m, flush=True)) if (is_main and not args.quiet) else (lambda *m: None)

    if device.startswith("cuda"):
        torch.backends.cudnn.benchmark = True
        try:    # the legacy flags only (torch >= 2.9 refuses a mix with fp32_precision)
            torch.backends.cuda.matmul.allow_tf32 = bool(args.tf32)
            torch.backends.cudnn.allow_tf32 = bool(args.tf32)
        except RuntimeError as e:
            print("tf32: flags not set (%s)" % str(e).splitlines()[0], flush=True)
    data_path = _dataset_path(args, is_main, world)
    data_device = device if args.data_on_device else "cpu"
    try:
        dataset = ImageDataset(data_path, max_images=args.max_images, device=data_device)
    except (OSError, ValueError) as e:
        raise UsageError("--data %s: %s" % (data_path, getattr(e, "strerror", None) or e)) \
            from None
    if len(dataset) == 0:
        raise UsageError("--data %s: no images" % data_path)
    g_res = _generator_config_or_error(args.g_config, dataset.resolution)["resolution"]
    if g_res != dataset.resolution:
        raise UsageError("generator resolution %d != data resolution %d (--g-config)"
                         % (g_res, dataset.resolution))
    try:
        tr = Trainer(args, dataset, rank, world, device)
    except ValueError as e:
        raise UsageError(str(e)) from None
    for note in tr.notes:
        log(note)
    os.makedirs(args.outdir, exist_ok=True)
    ck_path = os.path.join(args.outdir, "checkpoint.pt")
    if is_main:
        for t in ckpt_mod.remove_stale_temps(ck_path):
            log("removed %s (a save that did not finish; %s is the last complete checkpoint)"
                % (t, ck_path))
    resume = args.resume
    if resume == "auto":
        resume = ck_path if os.path.exists(ck_path) else None
    if resume:
        try:
            ck = ckpt_mod.load(resume, map_location=device)
        except (OSError, ValueError, RuntimeError) as e:
            raise UsageError("--resume %s: %s" % (resume, getattr(e, "strerror", None) or e)) \
                from None
        tr.load_state_dict(ck)
        log("resumed from %s at kimg %.1f (step %d)" % (resume, tr.cur_nimg / 1000, tr.step))
        del ck
    if is_main:
        os.makedirs(os.path.join(args.outdir, "samples"), exist_ok=True)
        with open(os.path.join(args.outdir, "options.json"), "w") as f:
            json.dump({k: v for k, v in vars(args).items()}, f, indent=1)
    log("data %s: %d images %dx%d on %s; G %d params, D %d params; batch %d (%d ranks x %d) "
        "on %s; amp %s%s" % (args.data, len(dataset), dataset.resolution, dataset.resolution,
                             dataset.images.device, param_count(tr.G), param_count(tr.D),
                             args.batch, world, tr.batch_gpu, device, tr.amp,
                             ", compiled" if tr.compiled else ""))

    swd_real = swd_floor = None
    if args.swd_images > 0 and is_main:
        swd_real, swd_other = _swd_sets(dataset, args.swd_images, args.seed)
        if tr.swd_history:
            swd_floor = tr.swd_history[-1]["floor"]
        else:
            t0 = time.time()
            swd_floor = swd_fn(swd_real, swd_other, device=device)["mean"]
            log("SWD floor (real vs real, %d vs %d images): %.3f  [%.0fs]"
                % (swd_real.shape[0], swd_other.shape[0], swd_floor, time.time() - t0))
        del swd_other
    grid_z = torch.from_numpy(latents_mod.seeds_to_z(list(range(args.grid)),
                                                     tr.g_cfg["z_dim"]))

    def snapshot(final=False):
        entry = None
        if final:
            # the run is ending (a deadline, a signal): secure the state before the slower
            # grid and SWD, in case a hard kill follows; saved again below with the SWD point.
            # Every rank calls state_dict (it gathers the RNG states), rank 0 writes.
            state = tr.state_dict()
            if is_main:
                ckpt_mod.save_atomic(state, ck_path)
                log("checkpoint %s at kimg %.1f (before the final SWD)"
                    % (ck_path, tr.cur_nimg / 1000.0))
            del state
        if is_main:
            kimg = tr.cur_nimg / 1000.0
            imgs = to_uint8(tr.sample(grid_z))
            cols = int(math.ceil(math.sqrt(args.grid)))
            grid_path = os.path.join(args.outdir, "samples", "fakes%07.1f.png" % kimg)
            write_png(grid_path, image_grid(imgs, cols))
            log("sample grid %s" % grid_path)
            if swd_real is not None:
                t0 = time.time()
                state = torch.get_rng_state()
                g = torch.Generator().manual_seed(args.seed + 777)
                z = torch.randn(swd_real.shape[0], tr.g_cfg["z_dim"], generator=g)
                fakes = tr.sample(z)
                torch.set_rng_state(state)
                d = swd_fn(fakes, swd_real, device=tr.device)
                entry = {"kimg": kimg, "swd": d["mean"], "floor": swd_floor,
                         "levels": {str(k): v for k, v in d["levels"].items()},
                         "images": int(swd_real.shape[0])}
                tr.swd_history.append(entry)
                log("SWD kimg %.1f: %.3f (floor %.3f) levels %s  [%.0fs]"
                    % (kimg, d["mean"], swd_floor,
                       " ".join("%d:%.2f" % kv for kv in d["levels"].items()), time.time() - t0))
                with open(os.path.join(args.outdir, "log.jsonl"), "a") as f:
                    f.write(json.dumps({"swd": entry}) + "\n")
        # broadcast the SWD history so every rank's checkpoint state matches
        d_ = _dist()
        if d_ is not None and world > 1:
            obj = [tr.swd_history]
            d_.broadcast_object_list(obj, src=0)
            tr.swd_history = obj[0]
        state = tr.state_dict()
        if is_main:
            ckpt_mod.save_atomic(state, ck_path)
            if args.export_every_snapshot:
                export_mod.save_model(tr.G_ema, os.path.join(args.outdir,
                                                             "model-latest.safetensors"),
                                      tr.g_cfg, dtype=args.export_dtype,
                                      provenance=provenance_for(tr, _last_swd(tr)))
            log("checkpoint %s at kimg %.1f%s" % (ck_path, tr.cur_nimg / 1000.0,
                                                   " (final)" if final else ""))

    _install_signal_handlers()
    total_nimg = int(args.kimg * 1000)
    start = time.time()
    tick_start_nimg = tr.cur_nimg
    tick_start = start
    tick_pause = 0.0            # snapshot time inside the current tick (not counted in img/s)
    first_tick = True           # the first progress line comes after one step
    last_snap_time = start
    last_snap_nimg = tr.cur_nimg
    sums, counts = {}, {}
    stop_reason = None
    if args.stop_at is not None:
        log("global deadline: stop at %s (%.0f s from now)"
            % (time.strftime("%H:%M:%S", time.localtime(args.stop_at)), args.stop_at - start))
    log("training to %g kimg%s; progress every %g s or %g kimg, snapshot every %g min -> %s"
        % (args.kimg, "" if args.max_minutes is None else
           " or %g minutes" % args.max_minutes, args.tick_seconds, args.tick_kimg,
           args.snap_minutes, os.path.join(args.outdir, "samples")))
    while True:
        if tr.cur_nimg >= total_nimg:
            stop_reason = "reached %g kimg" % args.kimg
            break
        if args.max_minutes is not None and time.time() - start >= args.max_minutes * 60:
            stop_reason = "reached --max-minutes"
            break
        if args.stop_at is not None and time.time() >= args.stop_at:
            stop_reason = "reached --stop-at"
            break
        stop = _Stop.flag
        if world > 1:       # on the training device: NCCL reduces CUDA tensors only
            f = torch.tensor([1.0 if stop else 0.0], device=tr.device)
            _dist().all_reduce(f)
            stop = float(f) > 0
        if stop:
            stop_reason = "signal"
            break
        t0 = time.time()
        losses = tr._step()
        tr.train_time += time.time() - t0
        for k, v in losses.items():
            sums[k] = sums[k] + v if k in sums else v
            counts[k] = counts.get(k, 0) + 1
        now = time.time()
        if (first_tick or tr.cur_nimg - tick_start_nimg >= args.tick_kimg * 1000
                or now - tick_start >= args.tick_seconds):
            first_tick = False
            dt = now - tick_start - tick_pause
            ips = (tr.cur_nimg - tick_start_nimg) / max(dt, 1e-9)
            avg = {k: float(sums[k]) / counts[k] for k in sums}
            mem = peak_memory_mb(tr.device)
            left = (total_nimg - tr.cur_nimg) / max(ips, 1e-9)
            if args.max_minutes is not None:
                left = min(left, args.max_minutes * 60 - (now - start))
            if args.stop_at is not None:
                left = min(left, args.stop_at - now)
            log("kimg %8.3f  step %7d  img/s %7.1f  G %.4f  D %.4f  R1 %s  Dreal %+.2f  "
                "Dfake %+.2f  mem %s %.0f MB%s  time %s  left ~%s"
                % (tr.cur_nimg / 1000.0, tr.step, ips, avg["loss_G"], avg["loss_D"],
                   "%.4f" % avg["R1"] if "R1" in avg else "-", avg["D_real"], avg["D_fake"],
                   "cuda-peak" if tr.device.type == "cuda" else "rss-peak", mem,
                   "  scale %g/%g" % (tr.scaler_G.scale, tr.scaler_D.scale)
                   if tr.scaler_G.enabled else "",
                   _fmt_time(tr.train_time), _fmt_time(max(left, 0))))
            if is_main:
                rec = {"kimg": tr.cur_nimg / 1000.0, "step": tr.step, "img_s": ips,
                       "train_time": tr.train_time, "peak_mem_mb": mem, **avg}
                if tr.scaler_G.enabled:
                    rec.update(scale_G=tr.scaler_G.scale, scale_D=tr.scaler_D.scale,
                               skipped=tr.scaler_G.skipped + tr.scaler_D.skipped)
                with open(os.path.join(args.outdir, "log.jsonl"), "a") as f:
                    f.write(json.dumps(rec) + "\n")
            sums, counts = {}, {}
            tick_start, tick_start_nimg, tick_pause = time.time(), tr.cur_nimg, 0.0
        want_snap = time.time() - last_snap_time >= args.snap_minutes * 60
        if args.snap_kimg and tr.cur_nimg - last_snap_nimg >= args.snap_kimg * 1000:
            want_snap = True
        if world > 1:   # every rank must agree (the snapshot has collectives)
            f = torch.tensor([1.0 if want_snap else 0.0], device=tr.device)
            _dist().all_reduce(f)
            want_snap = float(f) > 0
        if want_snap:
            t_snap = time.time()
            snapshot()
            last_snap_time, last_snap_nimg = time.time(), tr.cur_nimg
            tick_pause += last_snap_time - t_snap
    log("stopping: %s" % stop_reason)
    if tr.cur_nimg != last_snap_nimg or not os.path.exists(ck_path):
        snapshot(final=True)
    if args.export and is_main:
        export_mod.save_model(tr.G_ema, args.export, tr.g_cfg, dtype=args.export_dtype,
                              provenance=provenance_for(tr, _last_swd(tr)))
        log("exported G_ema to %s (%s)" % (args.export, args.export_dtype))
    d_ = _dist()
    if d_ is not None:
        d_.barrier()
        d_.destroy_process_group()
    return tr


def _last_swd(tr):
    return tr.swd_history[-1] if tr.swd_history else None


# ---- export from a checkpoint ---------------------------------------------------------------

def export_checkpoint(checkpoint, output, dtype="fp32", dataset_name=None, psi=None,
                      extra_provenance=None):
    """Writes the G_ema of a checkpoint to a model file with training provenance."""
    ck = ckpt_mod.load(checkpoint, map_location="cpu")
    cfg = copy.deepcopy(ck["g_cfg"])
    if psi is not None:
        cfg["truncation_psi"] = float(psi)
    G = Generator(cfg)
    G.load_state_dict(ck["G_ema"])
    args = argparse.Namespace(**ck["args"])

    class _Shim:
        pass
    shim = _Shim()
    shim.args, shim.dataset = args, None
    shim.cur_nimg, shim.step = ck["cur_nimg"], ck["step"]
    shim.train_time = ck.get("train_time", 0.0)
    hist = ck.get("swd_history", [])
    prov = provenance_for(shim, hist[-1] if hist else None, dataset_name)
    if extra_provenance:
        prov.update({str(k): str(v) for k, v in extra_provenance.items()})
    export_mod.save_model(G, output, cfg, dtype=dtype, provenance=prov)
    return G, cfg, prov


def _export_main(argv):
    p = argparse.ArgumentParser(prog="python -m inrgan.train export",
                                description="Export a checkpoint's G_ema to a model file.")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--dtype", choices=("fp32", "fp16"), default="fp32")
    p.add_argument("--dataset-name", default=None)
    p.add_argument("--psi", type=float, default=None, help="default truncation psi in the file")
    p.add_argument("--note", action="append", default=[],
                   help="extra provenance KEY=VALUE (repeatable)")
    a = p.parse_args(argv)
    extra = {}
    for kv in a.note:
        k, _, v = kv.partition("=")
        extra[k] = v
    G, cfg, prov = export_checkpoint(a.checkpoint, a.output, a.dtype, a.dataset_name, a.psi,
                                     extra)
    print("wrote %s: %d parameters, %s, kimg %s, swd %s (floor %s)"
          % (a.output, param_count(G), a.dtype, prov.get("kimg"), prov.get("swd", "-"),
             prov.get("swd_floor", "-")), file=sys.stderr)
    return 0


def _sheet_main(argv):
    p = argparse.ArgumentParser(prog="python -m inrgan.train sheet",
                                description="Tile the float images [3,H,W] *.npy of a folder "
                                            "(e.g. from `inrgan render --npy`) into one PNG.")
    p.add_argument("folder")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--cols", type=int, default=None)
    a = p.parse_args(argv)
    names = sorted(n for n in os.listdir(a.folder) if n.endswith(".npy"))
    if not names:
        p.error("no .npy files in %s" % a.folder)
    imgs = torch.stack([torch.from_numpy(np.load(os.path.join(a.folder, n))) for n in names])
    cols = a.cols or int(math.ceil(math.sqrt(len(names))))
    write_png(a.output, image_grid(to_uint8(imgs.float()), cols))
    print("wrote %s (%d images)" % (a.output, len(names)), file=sys.stderr)
    return 0


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "export":
        return _export_main(argv[1:])
    if argv and argv[0] == "sheet":
        return _sheet_main(argv[1:])
    args = parse_args(argv)
    try:
        train(args)
    except UsageError as e:
        print("%s: error: %s" % (export_mod.prog_name("python -m inrgan.train"), e),
              file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
