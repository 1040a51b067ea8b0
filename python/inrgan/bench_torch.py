"""PyTorch baseline for `inrgan bench`: the same model file or built-in config, at its native
size, in PyTorch eager, written in the same JSON schema (docs/benchmarks.md).

    /usr/bin/python3 -m inrgan.bench_torch --config ffhq256 --batch 4 --reps 5 --json torch.json
    python -m inrgan.bench_torch --config ffhq256 --device cuda --precision fp32,tf32,fp16 --batch 32

On CPU, torch uses all cores (torch.set_num_threads(cores)); Debian's torch needs
libopenblas0-pthread for usable speed. On CUDA: fp32 (TF32 off), tf32 (TF32 matmuls), fp16
(torch.autocast float16); GPU time from CUDA events.
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time

import torch

from . import cips
from . import config as configs
from . import safetensors_io
from .export import CIPS_BUILTINS, load_model  # CIPS built-ins as src/builtin.c names them
from .generator import Generator, param_count

class _CipsBench(torch.nn.Module):
    """A CIPS generator behind the Generator call signature G(z, psi=...): fresh torch.randn
    noise per layer and call, as the original does, so the timing includes it."""

    def __init__(self, G):
        super().__init__()
        self.G = G

    def forward(self, z, psi=1.0):
        return self.G(z)


def _load_cips(path):
    arrays, meta = safetensors_io.load(path)
    cfg = json.loads(meta["inrgan"])
    G = cips.from_config(cfg)
    G.load_state_dict({k: torch.from_numpy(v.astype("float32")) for k, v in arrays.items() if k != "w_avg"})
    return G, cfg


def _is_cips_file(path):
    try:
        return json.loads(safetensors_io.load(path)[1].get("inrgan", "{}")).get("family") == "cips"
    except (ValueError, OSError):
        return False


def cpu_name():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "CPU"


def flops_per_image(cfg):
    """Model FLOPs (2 x nominal MACs, ToRGB included) and what eager PyTorch executes (the
    same: it concatenates and multiplies on the fine grid, no coarse trick)."""
    macs, prev = 0, None
    for i, b in enumerate(cfg["blocks"]):
        px = b["grid"] ** 2
        c = b["channels"]
        emb = b.get("embedding")
        e = configs.embedding_channels(emb) if emb else 0
        if i == 0:
            macs += px * e * c
        else:
            macs += px * (prev + (e if emb else 0)) * c + px * c * c
        macs += px * b["extra_convs"] * c * c + px * 3 * c
        prev = c
    return 2.0 * macs


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    src = ap.add_mutually_exclusive_group()
    src.add_argument("-m", "--model", help="model file")
    src.add_argument("--config", help="built-in config with random weights: " +
                     ", ".join(list(configs.BUILTIN_NAMES) + list(CIPS_BUILTINS)))
    ap.add_argument("--batch", default="1", help="comma list of batch sizes")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--precision", default="fp32", help="comma list of fp32, tf32, fp16 (tf32/fp16: CUDA only)")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (default: all cores)")
    ap.add_argument("--json", help="write results here")
    ap.add_argument("-q", "--quiet", action="store_true")
    a = ap.parse_args(argv)

    cores = os.cpu_count() or 1
    torch.set_num_threads(a.threads or cores)
    dev = torch.device(a.device)
    if (a.model and _is_cips_file(a.model)) or a.config in CIPS_BUILTINS:
        if a.model:
            G, ccfg = _load_cips(a.model)
            name, source = a.model, "file"
        else:
            name, source = a.config, "builtin-random"
            torch.manual_seed(1)
            arch, kw = CIPS_BUILTINS[a.config]
            G = cips.ARCHS[arch](**kw)
            ccfg = cips.cips_config(G)
        cfg = {"resolution": ccfg["coords_size"], "z_dim": ccfg["style_dim"], "family": "cips",
               "macs": cips.macs_per_pixel(ccfg) * ccfg["coords_size"] ** 2,
               "parameters": cips.param_count(ccfg)}
        G = _CipsBench(G)
    elif a.model:
        G, cfg = load_model(a.model)
        name, source = a.model, "file"
    else:
        name = a.config or "ffhq256"
        cfg = configs.builtin(name)
        torch.manual_seed(1)
        G = Generator(cfg)
        source = "builtin-random"
    G = G.to(dev).eval()
    batches = [int(b) for b in a.batch.split(",")]
    precisions = a.precision.split(",")
    for p in precisions:
        if p not in ("fp32", "tf32", "fp16") or (p != "fp32" and a.device == "cpu"):
            print("bench_torch: precision %s is not available on %s" % (p, a.device), file=sys.stderr)
            return 2
    mf = 2.0 * cfg["macs"] if cfg.get("family") == "cips" else flops_per_image(cfg)
    if a.device == "cuda":
        device_name = torch.cuda.get_device_name(dev)
        vendor, driver = "nvidia", "torch %s, CUDA %s" % (torch.__version__, torch.version.cuda)
    else:
        device_name, vendor = cpu_name(), "cpu"
        driver = "torch %s, %d threads" % (torch.__version__, torch.get_num_threads())
    results = []
    if not a.quiet:
        print("torch %s on %s (%s), model %s" % (torch.__version__, device_name, a.device, name))
        print("%-7s %-6s %5s %5s %10s %10s %10s %9s %10s" % ("backend", "prec", "size", "batch", "median ms", "min ms",
                                                             "max ms", "img/s", "model GF/s"))
    for p in precisions:
        if a.device == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = p == "tf32"
            torch.backends.cudnn.allow_tf32 = p == "tf32"
        for b in batches:
            z = torch.randn(b, cfg["z_dim"], device=dev, generator=None)
            ctx = torch.autocast("cuda", dtype=torch.float16) if p == "fp16" else torch.autocast("cpu", enabled=False)
            wall, gpu = [], []
            with torch.no_grad(), ctx:
                for _ in range(a.warmup):
                    G(z, psi=1.0)
                for _ in range(a.reps):
                    if a.device == "cuda":
                        e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                        torch.cuda.synchronize()
                        t0 = time.perf_counter()
                        e0.record()
                        G(z, psi=1.0)
                        e1.record()
                        torch.cuda.synchronize()
                        gpu.append(e0.elapsed_time(e1))
                    else:
                        t0 = time.perf_counter()
                        G(z, psi=1.0)
                    wall.append((time.perf_counter() - t0) * 1e3)
            med = statistics.median(wall)
            ips = b / (med * 1e-3)
            r = {"backend": "torch", "device": device_name, "vendor": vendor, "driver": driver, "api_version": None,
                 "precision": p, "threads": torch.get_num_threads(), "size": cfg["resolution"], "batch": b,
                 "reps": a.reps, "warmup": a.warmup,
                 "wall_ms": {"median": med, "min": min(wall), "max": max(wall)},
                 "gpu_ms": ({"median": statistics.median(gpu), "min": min(gpu), "max": max(gpu)} if gpu else None),
                 "images_per_s": ips, "ms_per_image": med / b,
                 "model_gflop_per_image": mf / 1e9, "executed_gflop_per_image": mf / 1e9,
                 "model_gflops": mf * ips / 1e9, "executed_gflops": mf * ips / 1e9,
                 "peak_gflops": None, "percent_of_peak": None}
            results.append(r)
            if not a.quiet:
                print("%-7s %-6s %5d %5d %10.2f %10.2f %10.2f %9.2f %10.1f" % (
                    "torch", p, cfg["resolution"], b, med, min(wall), max(wall), ips, r["model_gflops"]))
    doc = {"schema": "inrgan-bench/1", "tool": "pytorch", "build": "torch " + torch.__version__,
           "date": datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%SZ"),
           "host": {"cpu": cpu_name(), "cores": cores},
           "model": {"name": name, "family": cfg.get("family", "inrgan"), "source": source,
                     "parameters": cfg["parameters"] if cfg.get("family") == "cips" else param_count(G),
                     "resolution": cfg["resolution"]},
           "peaks": [], "results": results}
    if a.json:
        tmp = a.json + ".tmp"
        with open(tmp, "w") as f:
            json.dump(doc, f, indent=2)
        os.replace(tmp, a.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
