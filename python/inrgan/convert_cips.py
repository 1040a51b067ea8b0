"""Released CIPS checkpoint (.pt) -> inrgan model file (safetensors, family "cips").

    /usr/bin/python3 -m inrgan.convert_cips ckpt.pt -o model.safetensors
        [--key g_ema] [--coords-size N] [--lr-mlp 0.01] [--dtype fp32|fp16]
        [--w-avg-samples N --seed S] [--psi X] [--noise random|zero]

The input is a torch.save of the g_ema state dict, or a dict holding it under "g_ema" (the
training checkpoints also hold "g", "d", optimizers: ignored). It is read with the project's
restricted pickle reader (inrgan.restricted_pickle: nothing in the file is imported or
executed; torch.load is never called). The architecture is inferred from the tensor shapes
(size, hidden, style_dim, n_mlp, channels); every expected tensor must be present with its exact
shape, nothing else may be, and all values must be finite. lr_mlp cannot be inferred (default
0.01, the released models'); coords_size defaults to size (give 1024 for the ffhq1024 model).

Output: the state-dict tensors under their original names (F32, or F16 with --dtype fp16) and
the config (docs/cips.md) as JSON under __metadata__["inrgan"]. With --w-avg-samples N the mean
of N mapped latents (z from torch.randn with --seed) is stored as "w_avg" [style_dim].

Errors: one line on stderr; exit status 2 for a bad or oversized input (resource limits:
docs/converting.md "Limits", raised with --limit NAME=N), 1 when the output cannot be written
(written atomically: no partial file is left).
"""

import argparse
import hashlib
import json
import os
import re
import sys

import numpy as np

from . import restricted_pickle as rp
from . import safetensors_io

__all__ = ["read_state_dict", "infer_config", "convert", "main"]


class ConvertError(ValueError):
    pass


class OutputError(Exception):
    """The output file could not be written (exit status 1)."""


def _cips():
    from . import cips          # imports torch: only once the input has been read and checked
    return cips


def _pick_state_dict(obj, key):
    """The tensors dict: obj itself or obj[key] (key None: 'g_ema' when present)."""
    if not isinstance(obj, dict):
        raise ConvertError("top-level object is a %s, not a dict" % type(obj).__name__)
    if key is not None:
        if key not in obj:
            raise ConvertError("no %r entry in the checkpoint (keys: %s)"
                               % (key, ", ".join(sorted(map(str, obj))[:8])))
        obj = obj[key]
    elif "g_ema" in obj:
        obj = obj["g_ema"]
    if not isinstance(obj, dict):
        raise ConvertError("state dict is a %s, not a dict" % type(obj).__name__)
    sd = {}
    for k, v in obj.items():
        if not isinstance(k, str):
            raise ConvertError("state dict key %r is not a string" % (k,))
        if not isinstance(v, rp.TensorRef):
            raise ConvertError("state dict entry %s is not a tensor (%s)" % (k, type(v).__name__))
        name = k[len("module."):] if k.startswith("module.") else k
        if name in sd:
            raise ConvertError("duplicate tensor %s" % name)
        sd[name] = v
    if not sd:
        raise ConvertError("state dict is empty")
    return sd


def _shape(sd, name, ndim):
    if name not in sd:
        raise ConvertError("missing tensor %s" % name)
    s = tuple(sd[name])
    if len(s) != ndim:
        raise ConvertError("tensor %s has shape %s, expected %d dimensions" % (name, list(s), ndim))
    return s


def infer_config(shapes, coords_size=None, lr_mlp=0.01, provenance=None):
    """Config from {name: shape}. Raises ConvertError naming the first problem."""
    cips = _cips()
    emb = _shape(shapes, "emb.input", 4)
    if emb[0] != 1 or emb[2] != emb[3]:
        raise ConvertError("tensor emb.input has shape %s, expected [1, hidden, n, n]" % list(emb))
    hidden, size = emb[1], emb[2]
    n_mlp = 0
    while "style.%d.weight" % (n_mlp + 1) in shapes:
        n_mlp += 1
    res = "to_rgb_last.conv.weight" in shapes    # CIPSres (landscapes) vs CIPSskip
    mod = _shape(shapes, "linears.0.conv.modulation.weight" if res
                 else "conv1.conv.modulation.weight", 2)
    style_dim = mod[1]
    channels = []
    if res:
        while "linears.%d.conv1.conv.weight" % (len(channels) + 1) in shapes:
            channels.append(_shape(shapes, "linears.%d.conv1.conv.weight" % (len(channels) + 1),
                                   5)[1])
    else:
        while "to_rgbs.%d.conv.weight" % len(channels) in shapes:
            channels.append(_shape(shapes, "linears.%d.conv.weight" % (2 * len(channels)), 5)[1])
    try:
        cfg = dict(format_version=cips.CONFIG_VERSION, family="cips",
                   arch="CIPSres" if res else "CIPSskip",
                   size=size, coords_size=int(coords_size or size), hidden_size=hidden,
                   style_dim=style_dim, n_mlp=n_mlp, lr_mlp=float(lr_mlp), channels=channels,
                   emb_size=size, coords="linspace_y_down",
                   emb_sampling="bilinear_border_align_corners_false", noise="random",
                   truncation_psi=1.0, has_w_avg=False)
        if provenance:
            cfg["provenance"] = dict(provenance)
        cips.validate_config(cfg)
    except ValueError as e:
        raise ConvertError("unsupported architecture: %s" % e) from None
    return cfg


def check_shapes(shapes, cfg):
    exp = _cips().expected_shapes(dict(cfg, has_w_avg=False))
    for name, s in exp.items():
        if name not in shapes:
            raise ConvertError("missing tensor %s" % name)
        if tuple(shapes[name]) != s:
            raise ConvertError("tensor %s has shape %s, expected %s"
                               % (name, list(shapes[name]), list(s)))
    extra = sorted(set(shapes) - set(exp))
    if extra:
        raise ConvertError("unexpected tensor %s (%d extra)" % (extra[0], len(extra)))
    return exp


def read_state_dict(path, key=None, limits=None, check=None):
    """{name: float32 numpy array} of the checkpoint's generator state dict (restricted reader).
    check: optional function {name: shape} -> names to read; it runs before any tensor data is
    read (so a file's tensors are only read once their names and shapes are known good)."""
    with rp.open_checkpoint(path, limits) as ck:
        refs = _pick_state_dict(ck.obj, key)
        names = list(refs) if check is None else list(check({k: t.shape
                                                             for k, t in refs.items()}))
        out = {}
        for k in names:
            t = refs[k]
            if t.dtype_code not in ("<f4", "<f2", "bf16", "<f8"):
                raise ConvertError("tensor %s has dtype %s, expected a float type"
                                   % (k, t.dtype_code))
            out[k] = np.asarray(t.numpy(), dtype=np.float32)
        return out, ck.format


def _mean_w(arrays, cfg, n, seed):
    import torch
    cips = _cips()
    g = cips.CIPSskip(**dict(cips.kwargs_from_config(cfg), size=4, channels=[1],
                             hidden_size=1)).double()
    # only the mapping is needed: load the style.* tensors into a throwaway module
    for k in range(1, cfg["n_mlp"] + 1):
        g.style[k].weight.data = torch.from_numpy(np.array(arrays["style.%d.weight" % k])).double()
        g.style[k].bias.data = torch.from_numpy(np.array(arrays["style.%d.bias" % k])).double()
    gen = torch.Generator().manual_seed(int(seed))
    z = torch.randn(n, cfg["style_dim"], generator=gen).double()
    with torch.no_grad():
        return g.mapping(z).mean(0).numpy().astype(np.float32)


def convert(src, dst, key=None, coords_size=None, lr_mlp=0.01, dtype="fp32", w_avg_samples=0,
            seed=0, psi=1.0, noise="random", limits=None):
    got = {}

    def check(shapes):           # architecture from the shapes, before any data is read
        got["cfg"] = infer_config(shapes, coords_size, lr_mlp)
        got["exp"] = check_shapes(shapes, got["cfg"])
        return list(got["exp"])

    arrays, fmt = read_state_dict(src, key, limits, check)
    cips = _cips()
    cfg, exp = got["cfg"], got["exp"]
    sha = hashlib.sha256()
    with open(src, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            sha.update(chunk)
    cfg["provenance"] = {"source": os.path.basename(src), "sha256": sha.hexdigest(),
                         "format": fmt, "created_by": "python/inrgan/convert_cips.py"}
    cfg["truncation_psi"] = float(psi)
    cfg["noise"] = noise
    tensors = safetensors_io.model_tensors({name: arrays[name] for name in exp}, dtype,
                                           error=ConvertError)
    if w_avg_samples:
        tensors["w_avg"] = _mean_w(arrays, cfg, int(w_avg_samples), seed)   # kept F32
        cfg["has_w_avg"] = True
        cfg["provenance"]["w_avg"] = "mean of %d mapped torch.randn z, seed %d" % (
            w_avg_samples, seed)
    cips.validate_config(cfg)
    try:
        safetensors_io.save(dst, tensors, {"inrgan": json.dumps(cfg, separators=(",", ":"))},
                            align=True)
    except OSError as e:
        raise OutputError("cannot write %s: %s" % (dst, e.strerror or e)) from None
    return cfg


def main(argv=None):
    ap = argparse.ArgumentParser(prog="convert_cips", description=__doc__.split("\n")[0])
    ap.add_argument("src")
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--key", default=None, help="entry holding the state dict (default g_ema "
                    "when present, else the top-level dict)")
    ap.add_argument("--coords-size", type=int, default=None)
    ap.add_argument("--lr-mlp", type=float, default=0.01)
    ap.add_argument("--dtype", choices=("fp32", "fp16"), default="fp32")
    ap.add_argument("--w-avg-samples", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--psi", type=float, default=1.0)
    ap.add_argument("--noise", choices=("random", "zero"), default="random")
    ap.add_argument("--limit", action="append", metavar="NAME=N", default=[],
                    help="raise (or lower) a resource limit for a trusted large file "
                         "(0 = unlimited); names: %s" % ", ".join(rp._flag(n) for n in rp.LIMITS))
    args = ap.parse_args(argv)
    try:
        limits = rp.Limits.parse(args.limit)
    except ValueError as e:
        ap.error(str(e))
    try:
        if args.w_avg_samples < 0:
            raise ConvertError("--w-avg-samples must be >= 0")
        cfg = convert(args.src, args.output, args.key, args.coords_size, args.lr_mlp,
                      args.dtype, args.w_avg_samples, args.seed, args.psi, args.noise, limits)
    except MemoryError:
        print("convert_cips: error: out of memory", file=sys.stderr)
        return 1
    except Exception as e:  # noqa: BLE001 -- any failure: one line
        msg = re.sub(r"\s+", " ", str(e)).strip() or type(e).__name__
        if isinstance(e, OutputError):
            print("convert_cips: error: %s" % msg, file=sys.stderr)
            return 1
        if isinstance(e, OSError):
            msg = "cannot read %s: %s" % (e.filename or args.src, e.strerror or msg)
        elif not isinstance(e, (rp.PickleError, ValueError)):
            msg = "%s: %s" % (type(e).__name__, msg)
        print("convert_cips: error: %s" % msg, file=sys.stderr)
        return 2
    print("converted %s -> %s: %s size %d, hidden %d, style %d, %d params"
          % (args.src, args.output, cfg["arch"], cfg["size"], cfg["hidden_size"],
             cfg["style_dim"], _cips().param_count(cfg)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
