"""Model files (docs/model-format.md): safetensors with the raw official tensors and the
architecture config as JSON under __metadata__["inrgan"].

    save_model(G, path, cfg=None, dtype="fp32", provenance=None, include_resample_filter=False)
    load_model(path) -> (Generator, cfg)
    param_count(G)

CLI (random-weight models of any built-in config, the names `inrgan info --config` and
`inrgan bench --config` accept: INR-GAN and CIPS):

    python -m inrgan.export --config tiny-nearest --seed 0 -o model.safetensors
        [--dtype fp32|fp16] [--random-biases] [--resample-filter] [--unaligned] [--psi X]
    python -m inrgan.export --config cips256 --seed 0 -o cips.safetensors [--dtype fp16] [--psi X]
    inrgan-export ...      (the console script of `pip install ./python`, same options)

CIPS built-ins (CIPS_BUILTINS, src/builtin.c): cips256 (the released churches / ffhq256
CIPSskip), cips1024 (the same on the 1024 coordinate grid of ffhq1024), cips256-res (the
landscapes CIPSres), tiny-cips and tiny-cips-res (test models, 16x16). CIPS files are written by
inrgan.cips.save_model (docs/cips.md); --random-biases, --resample-filter and --unaligned are
INR-GAN only.
"""

import argparse
import copy
import math
import os
import sys

import numpy as np
import torch

from . import cips as cips_mod
from . import config as config_mod
from . import safetensors_io
from .generator import Generator, param_count, randomize_biases, resample_filter_value

__all__ = ["save_model", "load_model", "param_count", "main", "FP32_BUFFERS", "CIPS_BUILTINS",
           "cips_builtin", "ALL_BUILTIN_NAMES"]

# CIPS built-ins, as src/builtin.c defines them: name -> (arch, constructor keyword arguments)
CIPS_BUILTINS = {"cips256": ("CIPSskip", dict(coords_size=256)),
                 "cips1024": ("CIPSskip", dict(coords_size=1024)),
                 "cips256-res": ("CIPSres", dict(coords_size=256)),
                 "tiny-cips": ("CIPSskip", dict(cips_mod.small_kwargs())),
                 "tiny-cips-res": ("CIPSres", dict(cips_mod.small_kwargs()))}

ALL_BUILTIN_NAMES = tuple(config_mod.BUILTIN_NAMES) + tuple(CIPS_BUILTINS)


def cips_builtin(name, seed=None):
    """A CIPS generator of a built-in config (random weights; torch.manual_seed(seed) first when
    seed is given) and its model-file config."""
    if name not in CIPS_BUILTINS:
        raise ValueError("unknown CIPS config %r (known: %s)" % (name, ", ".join(CIPS_BUILTINS)))
    arch, kw = CIPS_BUILTINS[name]
    if seed is not None:
        torch.manual_seed(seed)
    with torch.no_grad():
        G = cips_mod.ARCHS[arch](**kw)
    return G, cips_mod.cips_config(G)

# Buffers kept in F32 in fp16 files: rounding the log/random bases or w_avg to fp16 would
# change the coordinate embedding (e.g. pi/2 * 2^7 = 201.06 -> 201.0). The format allows
# a dtype per tensor.
FP32_BUFFERS = ("log_basis", "random_basis", "w_avg", "resample_filter")

_DEFAULT_PROVENANCE = {"source": "random init", "created_by": "python/inrgan/export.py"}


def _resample_filter_names(G):
    """Official names of the resample_filter buffers (every block and every FMM layer)."""
    names = []
    for bname in G.synthesis.block_names:
        block = getattr(G.synthesis, bname)
        names.append("synthesis.%s.resample_filter" % bname)
        for lname in ("conv0", "conv1"):
            if hasattr(block, lname):
                names.append("synthesis.%s.%s.resample_filter" % (bname, lname))
        if block.extra_convs is not None:
            for k in range(len(block.extra_convs)):
                names.append("synthesis.%s.extra_convs.%d.resample_filter" % (bname, k))
    return names


def _expected_tensors(G, include_resample_filter):
    """name -> shape in official state_dict order, with or without the resample filters."""
    if include_resample_filter:
        ref = Generator(G.cfg, resample_filter=True, device="meta")
    else:
        ref = G
    out = {}
    for k, v in ref.state_dict().items():
        if k.endswith("resample_filter") and not include_resample_filter:
            continue
        out[k] = tuple(v.shape)
    return out


def save_model(G, path, cfg=None, dtype="fp32", provenance=None, include_resample_filter=False,
               align=True):
    """Writes G's raw official tensors + config to `path` (atomically).

    dtype "fp16" stores parameters as F16 (refusing values that overflow) and keeps the
    buffers named in FP32_BUFFERS in F32. provenance (dict of str -> str) replaces the
    config's; by default the config's own provenance, else {"source": "random init", ...}.
    align=False writes a packed, unaligned file (valid; exercises readers' unaligned paths).
    """
    if dtype not in ("fp32", "fp16"):
        raise ValueError("dtype must be 'fp32' or 'fp16'")
    cfg = copy.deepcopy(cfg if cfg is not None else G.cfg)
    if provenance is not None:
        cfg["provenance"] = {str(k): str(v) for k, v in provenance.items()}
    elif "provenance" not in cfg:
        cfg["provenance"] = dict(_DEFAULT_PROVENANCE)
    config_mod.validate(cfg)
    base = {k: v for k, v in cfg.items() if k != "provenance"}
    gbase = {k: v for k, v in G.cfg.items() if k != "provenance"}
    if base != gbase:
        raise ValueError("cfg does not describe this generator's architecture")

    sd = G.state_dict()
    expected = _expected_tensors(G, include_resample_filter)
    tensors = {}
    for name, shape in expected.items():
        if name in sd:
            t = sd[name].detach().to("cpu", torch.float64)
        elif name.endswith("resample_filter"):
            t = resample_filter_value().double()
        else:
            raise ValueError("generator lacks tensor %s" % name)
        if tuple(t.shape) != shape:
            raise ValueError("tensor %s has shape %s, expected %s" % (name, tuple(t.shape), shape))
        a = t.numpy()
        if not np.all(np.isfinite(a)):
            raise ValueError("tensor %s has non-finite values" % name)
        keep32 = name.rsplit(".", 1)[-1] in FP32_BUFFERS
        if dtype == "fp16" and not keep32:
            h = a.astype(np.float16)
            if not np.all(np.isfinite(h)):
                raise ValueError("tensor %s overflows fp16" % name)
            tensors[name] = h
        else:
            tensors[name] = a.astype(np.float32)
    metadata = {"inrgan": config_mod.to_json(cfg)}
    safetensors_io.save(path, tensors, metadata, align=align)


def load_model(path):
    """Reads a model file; returns (Generator in float32 on CPU, cfg).

    Strict: the config is validated; every expected tensor must be present with its exact
    shape and finite values; resample_filter buffers are accepted (shape [4, 4]) and
    ignored; any other tensor is an error."""
    tensors, metadata = safetensors_io.load(path)
    where = os.path.basename(os.fspath(path))
    if "inrgan" not in metadata:
        raise ValueError("%s: missing __metadata__[\"inrgan\"] config" % where)
    try:
        cfg = config_mod.from_json(metadata["inrgan"])
    except ValueError as e:
        raise ValueError("%s: %s" % (where, e)) from None
    G = Generator(cfg)
    sd = G.state_dict()
    for name, arr in tensors.items():
        if name.endswith(".resample_filter") and name not in sd:
            if tuple(arr.shape) != (4, 4):
                raise ValueError("%s: tensor %s has shape %s, expected (4, 4)"
                                 % (where, name, tuple(arr.shape)))
            continue
        if name not in sd:
            raise ValueError("%s: unexpected tensor %s" % (where, name))
    new_sd = {}
    for name, ref in sd.items():
        if name not in tensors:
            raise ValueError("%s: missing tensor %s" % (where, name))
        arr = tensors[name]
        if tuple(arr.shape) != tuple(ref.shape):
            raise ValueError("%s: tensor %s has shape %s, expected %s"
                             % (where, name, tuple(arr.shape), tuple(ref.shape)))
        if not np.all(np.isfinite(arr)):
            raise ValueError("%s: tensor %s has non-finite values" % (where, name))
        new_sd[name] = torch.from_numpy(arr.astype(np.float32))
    G.load_state_dict(new_sd, strict=True)
    G.eval()
    return G, cfg


def prog_name(default):
    """argparse prog: the console script's name when run as one (inrgan-export), else `default`."""
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return name if name.startswith("inrgan-") else default


def main(argv=None):
    p = argparse.ArgumentParser(prog=prog_name("python -m inrgan.export"),
                                description="Write a random-weight inrgan model file of a "
                                            "built-in config (INR-GAN or CIPS).",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--config", required=True,
                   help="built-in config: " + ", ".join(ALL_BUILTIN_NAMES))
    p.add_argument("--seed", type=int, default=0, help="torch.manual_seed for the weights")
    p.add_argument("-o", "--output", required=True, help="output .safetensors file")
    p.add_argument("--dtype", choices=("fp32", "fp16"), default="fp32")
    p.add_argument("--random-biases", action="store_true",
                   help="random biases / w_avg instead of the official 0 (1) init (INR-GAN)")
    p.add_argument("--resample-filter", action="store_true",
                   help="also write the unused official resample_filter buffers (INR-GAN)")
    p.add_argument("--unaligned", action="store_true",
                   help="packed, unaligned tensor offsets (INR-GAN)")
    p.add_argument("--psi", type=float, default=None,
                   help="default truncation_psi in the file (default: the config's)")
    p.add_argument("-q", "--quiet", action="store_true")
    args = p.parse_args(argv)
    if args.psi is not None and not math.isfinite(args.psi):
        p.error("--psi must be finite")
    prov = dict(_DEFAULT_PROVENANCE, config=args.config, seed=str(args.seed), dtype=args.dtype)
    if args.config in CIPS_BUILTINS:
        for flag in ("random_biases", "resample_filter", "unaligned"):
            if getattr(args, flag):
                p.error("--%s applies to INR-GAN configs only, not %s"
                        % (flag.replace("_", "-"), args.config))
        G, cfg = cips_builtin(args.config, args.seed)
        psi = 1.0 if args.psi is None else float(args.psi)
        # truncation needs w_avg in the file: the mean of 100 mapped latents (as convert_cips
        # --w-avg-samples 100 and the authors' notebook)
        w_avg = G.mean_w(100, seed=args.seed) if psi != 1.0 else None
        save = lambda: cips_mod.save_model(G, args.output, w_avg=w_avg, psi=psi,  # noqa: E731
                                           fp16=args.dtype == "fp16", provenance=prov)
        n = cips_mod.param_count(cfg)
    else:
        try:
            cfg = config_mod.builtin(args.config)
        except ValueError:
            p.error("unknown config %r (known: %s)" % (args.config, ", ".join(ALL_BUILTIN_NAMES)))
        if args.psi is not None:
            cfg["truncation_psi"] = float(args.psi)
        torch.manual_seed(args.seed)
        with torch.no_grad():
            G = Generator(cfg)
            if args.random_biases:
                randomize_biases(G)
        prov["random_biases"] = str(bool(args.random_biases)).lower()
        save = lambda: save_model(G, args.output, cfg, dtype=args.dtype,  # noqa: E731
                                  provenance=prov, include_resample_filter=args.resample_filter,
                                  align=not args.unaligned)
        n = param_count(G)
    try:
        save()
    except OSError as e:
        print("%s: error: cannot write %s: %s" % (p.prog, args.output, e.strerror or e),
              file=sys.stderr)
        return 1
    if not args.quiet:
        print("wrote %s: config %s, %d parameters, %s"
              % (args.output, args.config, n, args.dtype), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
