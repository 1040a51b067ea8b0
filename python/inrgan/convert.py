"""Official INR-GAN checkpoints -> inrgan model files (docs/model-format.md), without importing
or executing anything from the checkpoint.

    python -m inrgan.convert IN.pkl -o OUT.safetensors [--dtype fp16] [--truncation PSI]
    python -m inrgan.convert STATE.pt -o OUT.safetensors --config ffhq256

Inputs:
* the released stylegan2-ada network pickles (churches.pkl, bedrooms.pkl, ffhq.pkl and the
  -bil variants): a pickled dict whose 'G_ema' is a persistent Generator object. The file is
  read by inrgan.restricted_pickle (an allow-listed pickle interpreter of our own: persistent
  objects become class name + state, omegaconf/EasyDict objects inert holders, tensors lazy
  byte ranges); the pickled module sources are kept for --audit and never executed.
  The architecture is read from G_ema._init_kwargs (cfg with its hydra interpolations such as
  "${coords.low_res_cfg}" resolved here, mapping_kwargs, synthesis_kwargs, img_resolution).
* plain state dicts in the official naming (.pt/.pth zip or legacy torch.save files, or a
  pickled dict of tensors, optionally under 'G_ema' or with a 'G_ema.' prefix). They carry no
  config: --config NAME (inrgan.config.builtin names) is required.

Every tensor of G_ema (module _parameters and persistent _buffers) is checked against the
architecture: the expected names and shapes come from inrgan.generator.Generator built (on the
meta device) from the config that inrgan.config.make_config derives. Missing, unexpected or
mis-shaped tensors are errors; plain tensor attributes (the _fourier_embs_cache /_full_cache
coordinate caches, possibly CUDA-tagged) are ignored and never read; the unused
resample_filter buffers are dropped. Provenance (source file name, sha256, source format,
config origin) goes into the file's metadata.

Failures raise ConversionError with one line naming the problem; the CLI prints it and exits 2.
Reading is bounded by restricted_pickle.Limits (zip sizes, pickle work, MARK depth, ...; the
message names the limit, --limit NAME=N raises it for a trusted file; docs/converting.md
"Limits"). Outputs are written atomically; when one cannot be written (OutputError) the CLI
exits 1 and leaves no file.
"""

import argparse
import collections
import hashlib
import json
import math
import os
import re
import sys
import time

import numpy as np

from . import config as config_mod
from . import restricted_pickle as rp
from . import safetensors_io

__all__ = ["ConversionError", "OutputError", "convert", "read_checkpoint",
           "config_from_init_kwargs",
           "resolve_interpolations", "main", "KNOWN_CLASSES"]

# persistent classes that may appear in an INR-GAN G_ema (reference §3.1)
KNOWN_CLASSES = ("Generator", "MappingNetwork", "SynthesisNetwork", "SynthesisBlock",
                 "SynthesisLayer", "ToRGBLayer", "FullyConnectedLayer", "GenInput",
                 "CoordsInput", "CoordFuser")
_MODULE_LIST = "torch.nn.modules.container.ModuleList"
_FLOAT_CODES = ("<f4", "<f2", "<f8", "bf16")
_GEN_POSITIONAL = ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels",
                   "mapping_kwargs", "synthesis_kwargs", "cfg")


class ConversionError(ValueError):
    """Why a checkpoint could not be converted (one line: text from the file escaped, long
    messages shortened)."""

    def __init__(self, msg):
        super().__init__(rp.one_line(msg))


class OutputError(Exception):
    """An output file could not be written (disk full, permissions): exit status 1."""


def _names(items, limit=4):
    items = list(items)
    s = ", ".join(items[:limit])
    if len(items) > limit:
        s += " (+%d more)" % (len(items) - limit)
    return s


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 22)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


# ---- plain data out of the pickled config objects -------------------------------------------

_PLAIN_BUDGET = 200000     # config nodes; shared sub-structures could otherwise explode
_TEXT_BUDGET = 16 << 20    # characters built by string interpolations, in total
_MAX_DEPTH = 64            # module tree and config nesting
_MAX_NAME = 1024           # characters of one module / tensor name


def _sub(where, key):
    """where + '.' + key for messages, both shortened (keys may be huge strings)."""
    key = str(key) if not isinstance(key, str) else key
    if len(key) > 64:
        key = key[:40] + "..." + key[-16:]
    where = "%s.%s" % (where, key)
    return where if len(where) <= 200 else where[:80] + "..." + where[-100:]


def to_plain(obj, where="cfg", depth=0, budget=None):
    """Config data (dicts, lists, scalars) out of plain containers, EasyDict and omegaconf
    DictConfig/ListConfig/value-node holders. Anything else is an error."""
    if budget is None:
        budget = [_PLAIN_BUDGET]
    budget[0] -= 1
    if budget[0] < 0 or depth > 64:
        if len(where) > 60:
            where = where[:40] + "..." + where[-16:]
        raise ConversionError("%s: config structure %s" % (
            where, "too large" if budget[0] < 0 else "nested too deeply"))
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if not isinstance(k, (str, int)) or isinstance(k, bool):
                raise ConversionError("%s: key %r is not a string" % (where, k))
            out[k] = to_plain(v, _sub(where, k), depth + 1, budget)
        return out
    if isinstance(obj, (list, tuple)):
        return [to_plain(v, _sub(where, "[%d]" % i), depth + 1, budget)
                for i, v in enumerate(obj)]
    if isinstance(obj, rp.Inert):
        cls = obj.cls
        state = obj.state if isinstance(obj.state, dict) else {}
        if cls.endswith(".EasyDict"):
            d = dict(obj.items)
            d.update(state)
            return to_plain(d, where, depth + 1, budget)
        if cls.startswith("omegaconf."):
            if "_content" in state:
                content = state["_content"]
                if isinstance(content, (dict, list, tuple)) or content is None:
                    return to_plain(content, where, depth + 1, budget)
                if isinstance(content, str):        # an interpolation or "???"
                    return content
            if "_val" in state:
                return to_plain(state["_val"], where, depth + 1, budget)
        raise ConversionError("%s: cannot read a %s inside the config" % (where, cls))
    if isinstance(obj, rp.NdarrayHolder) and obj.array is not None:
        budget[0] -= obj.array.size          # tolist makes a Python object per element
        if budget[0] < 0:
            raise ConversionError("%s: config structure too large" % where[:60])
        return obj.array.tolist()
    raise ConversionError("%s: unexpected %s inside the config" % (where, type(obj).__name__))


_INTERP = re.compile(r"\$\{([^${}]*)\}")


def resolve_interpolations(root):
    """Resolves omegaconf interpolations ("${a.b}", relative "${.x}", embedded "p_${a}") in a
    plain config, relative to `root`. Resolver calls ("${env:X}") are refused."""
    budget = [_PLAIN_BUDGET]
    text = [_TEXT_BUDGET]

    def lookup(key, path, depth):
        if ":" in key:
            raise ConversionError("config interpolation ${%s} uses a resolver (not supported)"
                                  % key)
        if key.startswith("."):
            n = len(key) - len(key.lstrip("."))
            base = list(path[:max(len(path) - n, 0)])
            key = key[n:]
        else:
            base = []
        node = root
        full = list(base)
        for part in base:
            node = node[part]
        for part in key.split(".") if key else []:
            if isinstance(node, str) and "${" in node:     # an interpolation on the way
                node = res(node, full, depth + 1)
            if isinstance(node, dict):
                hit = part if part in node else (int(part) if part.isdigit() and int(part) in node
                                                 else None)
                if hit is None:
                    raise ConversionError("config interpolation ${%s} names a missing key "
                                          "(%s)" % (key, part))
                node = node[hit]
                full.append(hit)
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
                full.append(int(part))
            else:
                raise ConversionError("config interpolation ${%s} names a missing key (%s)"
                                      % (key, part))
        return res(node, full, depth + 1)

    def res(value, path, depth):
        budget[0] -= 1
        if budget[0] < 0:
            raise ConversionError("config interpolations expand too much")
        if depth > 32:
            raise ConversionError("config interpolations form a cycle (at %s)"
                                  % ".".join(map(str, path)))
        if isinstance(value, str) and "${" in value:
            m = _INTERP.fullmatch(value.strip())
            if m:
                return lookup(m.group(1).strip(), path, depth)
            parts = []
            pos = 0
            for m in _INTERP.finditer(value):
                parts.append(value[pos:m.start()])
                v = lookup(m.group(1).strip(), path, depth)
                if isinstance(v, (dict, list)):
                    raise ConversionError("config interpolation ${%s} inside a string names "
                                          "a container" % m.group(1))
                parts.append(str(v))
                pos = m.end()
            parts.append(value[pos:])
            out = "".join(parts)
            text[0] -= len(out)
            if text[0] < 0:
                raise ConversionError("config interpolations expand too much (over %d "
                                      "characters)" % _TEXT_BUDGET)
            return out
        if isinstance(value, dict):
            return {k: res(v, path + [k], depth) for k, v in value.items()}
        if isinstance(value, list):
            return [res(v, path + [i], depth) for i, v in enumerate(value)]
        return value

    return res(root, [], 0)


# ---- config of an official Generator ------------------------------------------------------------

def _get(d, key, default=None):
    if not isinstance(d, dict):
        return default
    if key in d:
        return d[key]
    if isinstance(key, str) and key.isdigit() and int(key) in d:
        return d[int(key)]
    return default


def _need(d, key, where):
    v = _get(d, key)
    if v is None:
        raise ConversionError("pickled config lacks %s%s" % (where, key))
    return v


def _as_int(v, what):
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v != int(v):
        raise ConversionError("pickled config: %s is not an integer (%r)" % (what, v))
    return int(v)


def _unsupported(what):
    raise ConversionError("unsupported variant: %s" % what)


def _embedding_from(res_cfg, grid, where):
    """Our embedding spec from an official res_configs entry (reference §1.8, layers.py
    CoordFuser): log basis K = ceil(log2 grid) per direction, random/const sizes."""
    if res_cfg is None:
        raise ConversionError("pickled config lacks %s" % where)
    if not isinstance(res_cfg, dict):
        raise ConversionError("pickled config: %s is not a mapping" % where)
    for key in ("shared_emb_size", "predictable_emb_size"):
        if _as_int(res_cfg.get(key, 0) or 0, where + "." + key) > 0:
            _unsupported("%s.%s > 0 (learned or w-dependent Fourier basis)" % (where, key))
    if res_cfg.get("use_raw_coords", False):
        _unsupported("%s.use_raw_coords (raw coordinates as features)" % where)
    log_size = _as_int(res_cfg.get("log_emb_size", 0) or 0, where + ".log_emb_size")
    random = _as_int(res_cfg.get("random_emb_size", 0) or 0, where + ".random_emb_size")
    const = _as_int(res_cfg.get("const_emb_size", 0) or 0, where + ".const_emb_size")
    diagonal = bool(res_cfg.get("use_diagonal", False))
    log_freqs = (grid - 1).bit_length() if log_size > 0 else 0        # ceil(log2(grid))
    n_log = log_freqs * (4 if diagonal else 2)
    if n_log > log_size > 0:
        raise ConversionError("pickled config: %s.log_emb_size %d is smaller than the %d log "
                              "basis rows of a %d grid (the official code would refuse it)"
                              % (where, log_size, n_log, grid))
    if (n_log + random) > 0 and not res_cfg.get("use_cosine", False):
        _unsupported("%s.use_cosine false (sin-only embeddings)" % where)
    return {"log_freqs": log_freqs, "diagonal": diagonal if log_freqs else False,
            "random": random, "const": const}


def config_from_init_kwargs(init_args, init_kwargs, psi=1.0):
    """Our config (inrgan.config schema) from the official Generator's _init_args /
    _init_kwargs. Raises ConversionError for anything the engine does not implement.
    Returns (cfg, notes)."""
    notes = []
    kw = {}
    args = to_plain(list(init_args or ()), "G_ema._init_args")
    if len(args) > len(_GEN_POSITIONAL):
        raise ConversionError("G_ema._init_args has %d positional arguments" % len(args))
    kw.update(zip(_GEN_POSITIONAL, args))
    kw.update(to_plain(init_kwargs or {}, "G_ema._init_kwargs"))
    if "cfg" not in kw:
        _unsupported("G_ema._init_kwargs has no 'cfg' (a plain StyleGAN2-ADA generator, not "
                     "INR-GAN)")
    g = resolve_interpolations(to_plain(kw["cfg"], "cfg"))
    if not isinstance(g, dict):
        raise ConversionError("G_ema._init_kwargs['cfg'] is not a mapping")

    z_dim = _as_int(_need(kw, "z_dim", ""), "z_dim")
    w_dim = _as_int(_need(kw, "w_dim", ""), "w_dim")
    c_dim = _as_int(kw.get("c_dim", 0) or 0, "c_dim")
    if c_dim:
        _unsupported("conditional generator (c_dim=%d)" % c_dim)
    res = _as_int(_need(kw, "img_resolution", ""), "img_resolution")
    if _as_int(kw.get("img_channels", 3), "img_channels") != 3:
        _unsupported("img_channels=%r (only RGB)" % kw.get("img_channels"))

    mk = kw.get("mapping_kwargs") or {}
    mapping_layers = _as_int(mk.get("num_layers", 8), "mapping_kwargs.num_layers")
    lr_mult = mk.get("lr_multiplier", 0.01)
    if mk.get("activation", "lrelu") != "lrelu":
        _unsupported("mapping activation %r" % mk.get("activation"))
    if mk.get("layer_features") not in (None, w_dim):
        _unsupported("mapping layer_features=%r" % mk.get("layer_features"))
    if mk.get("w_avg_beta", 0.995) is None:
        _unsupported("mapping without w_avg (w_avg_beta=None)")

    sk = kw.get("synthesis_kwargs") or {}
    channel_base = sk.get("channel_base")
    if channel_base is None:
        channel_base = int(float(g.get("fmaps", 1)) * 32768)
    channel_base = _as_int(channel_base, "synthesis_kwargs.channel_base")
    channel_max = _as_int(sk.get("channel_max", 512), "synthesis_kwargs.channel_max")
    if sk.get("architecture", "skip") != "skip":
        _unsupported("synthesis architecture %r (only 'skip')" % sk.get("architecture"))
    if sk.get("conv_clamp") is not None:
        _unsupported("conv_clamp=%r (activation clamping of mixed-precision training)"
                     % sk.get("conv_clamp"))
    fp16_res = _as_int(sk.get("num_fp16_res", 0) or 0, "synthesis_kwargs.num_fp16_res")
    if fp16_res:
        notes.append("G used fp16 in its %d highest resolutions; weights are converted as fp32"
                     % fp16_res)

    up = g.get("upsampling_mode")
    if up not in ("nearest", "bilinear"):
        _unsupported("upsampling_mode %r (only 'nearest' and 'bilinear')" % (up,))
    if g.get("use_noise"):
        _unsupported("use_noise true (noise inputs)")
    fmm = g.get("fmm") or {}
    if not fmm.get("enabled", False):
        _unsupported("fmm.enabled false (StyleGAN2 modulated convolutions)")
    rank = _as_int(_need(fmm, "rank", "fmm."), "fmm.rank")
    if fmm.get("activation", "demod") != "demod":
        _unsupported("fmm.activation %r (only 'demod')" % fmm.get("activation"))
    instance_norm = bool(fmm.get("instance_norm", False))

    coords = g.get("coords") or {}
    if not coords.get("enabled", False):
        _unsupported("coords.enabled false (no coordinate embeddings)")
    if not coords.get("per_resolution", False):
        _unsupported("coords.per_resolution false (embeddings on every block)")
    if coords.get("fallback", False):
        _unsupported("coords.fallback true")
    if _as_int(coords.get("kernel_size", 1), "coords.kernel_size") != 1:
        _unsupported("coords.kernel_size %r (only 1x1)" % coords.get("kernel_size"))
    if _as_int(coords.get("coord_dim", 2), "coords.coord_dim") != 2:
        _unsupported("coords.coord_dim %r" % coords.get("coord_dim"))
    inp = g.get("input") or {}
    if inp.get("type") != "coords":
        _unsupported("input.type %r (only 'coords')" % (inp.get("type"),))
    input_grid = _as_int(_need(inp, "resolution", "input."), "input.resolution")
    fuser_cfg = inp.get("coord_fuser_cfg")
    if not isinstance(fuser_cfg, dict):
        raise ConversionError("pickled config lacks input.coord_fuser_cfg")
    if not (res >= 4 and res & (res - 1) == 0):
        _unsupported("img_resolution %d" % res)
    if not (input_grid >= 1 and input_grid & (input_grid - 1) == 0 and input_grid <= res):
        _unsupported("input.resolution %d" % input_grid)

    raw_extra = g.get("num_extra_convs") or {}
    if not isinstance(raw_extra, dict):
        raise ConversionError("pickled config: num_extra_convs is not a mapping")
    extra_by_grid = {}
    for k, v in raw_extra.items():
        try:
            extra_by_grid[int(k)] = _as_int(v, "num_extra_convs[%s]" % k)
        except ValueError:
            raise ConversionError("pickled config: num_extra_convs key %r" % (k,)) from None

    blocks_res = []
    r = 4
    while r <= res:
        blocks_res.append(r)
        r *= 2
    extra = {}
    emb = {}
    prev_grid = None
    for r in blocks_res:
        grid = max(r, input_grid)
        if extra_by_grid.get(grid, 0):
            extra[r] = extra_by_grid[grid]
        if prev_grid is None:
            emb[r] = _embedding_from(_get(fuser_cfg.get("res_configs"), str(grid)), grid,
                                     "input.coord_fuser_cfg.res_configs.%d" % grid)
        elif grid == 2 * prev_grid:
            emb[r] = _embedding_from(_get(coords.get("res_configs"), str(grid)), grid,
                                     "coords.res_configs.%d" % grid)
        prev_grid = grid
    unused = sorted(set(extra_by_grid) - {max(r, input_grid) for r in blocks_res})
    if any(extra_by_grid[k] for k in unused):
        notes.append("num_extra_convs names grid(s) %s that no block runs on" % unused)

    try:
        cfg = config_mod.make_config(
            res, input_grid=input_grid, channel_base=channel_base, channel_max=channel_max,
            rank=rank, z_dim=z_dim, w_dim=w_dim, mapping_layers=mapping_layers,
            lr_multiplier=float(lr_mult), upsampling=up, instance_norm=instance_norm,
            extra_convs=extra, truncation_psi=psi)
        for b in cfg["blocks"]:
            r = int(b["name"][1:])
            if r in emb:
                b["embedding"] = emb[r]
        config_mod.validate(cfg)
    except ValueError as e:
        _unsupported("the pickled config does not fit the model format (%s)" % e)
    return cfg, notes


# ---- the G_ema tree ------------------------------------------------------------------------------

def _module_state(obj, path):
    if isinstance(obj, rp.PersistentObject):
        if obj.class_name not in KNOWN_CLASSES:
            _unsupported("%s is a persistent %s, unknown to the converter"
                         % (path, obj.class_name))
        return obj.state, obj.class_name
    if isinstance(obj, rp.Inert) and obj.cls == _MODULE_LIST:
        return (obj.state if isinstance(obj.state, dict) else {}), "ModuleList"
    raise ConversionError("%s is a %s, not a module of an INR-GAN generator"
                          % (path, getattr(obj, "cls", type(obj).__name__)))


def collect_tensors(g_ema):
    """(tensors, ignored, classes): official state_dict names -> TensorRef for every
    parameter and persistent buffer; ignored = [(name, TensorRef)] for tensor attributes
    outside _parameters/_buffers (caches); classes = Counter of module classes."""
    tensors = collections.OrderedDict()
    ignored = []
    classes = collections.Counter()
    stack = [("", g_ema, "G_ema", 0)]
    seen = set()
    while stack:
        prefix, obj, path, depth = stack.pop()
        if id(obj) in seen:
            raise ConversionError("%s appears twice in the module tree" % path)
        if depth > _MAX_DEPTH:
            raise ConversionError("%s: module tree nested deeper than %d" % (path, _MAX_DEPTH))
        seen.add(id(obj))
        state, cls = _module_state(obj, path)
        classes[cls] += 1
        params = state.get("_parameters") or {}
        buffers = state.get("_buffers") or {}
        modules = state.get("_modules") or {}
        skip = state.get("_non_persistent_buffers_set") or set()
        for what, d in (("_parameters", params), ("_buffers", buffers), ("_modules", modules)):
            if not isinstance(d, dict):
                raise ConversionError("%s.%s is not a dict" % (path, what))
        for d in (params, buffers, modules):
            for name in d:
                if len(str(name)) > _MAX_NAME:
                    raise ConversionError("%s: a module or tensor name of %d characters"
                                          % (path, len(str(name))))
        for group, d in (("parameter", params), ("buffer", buffers)):
            for name, t in d.items():
                if t is None or (group == "buffer" and name in skip):
                    continue
                if not isinstance(t, rp.TensorRef):
                    raise ConversionError("%s %s%s is a %s, not a tensor"
                                          % (group, prefix, name, type(t).__name__))
                tensors[prefix + str(name)] = t
        for name, v in state.items():
            if isinstance(v, rp.TensorRef):
                ignored.append((prefix + str(name), v))
        children = []
        for name, m in modules.items():
            if m is not None:
                children.append((prefix + str(name) + ".", m, "%s.%s" % (path, name),
                                 depth + 1))
        stack.extend(reversed(children))
    return tensors, ignored, classes


def _find_tensor_dict(obj):
    """A state dict (name -> TensorRef) inside a plain checkpoint, or None."""
    def is_sd(d):
        return (isinstance(d, dict) and d
                and all(isinstance(v, rp.TensorRef) for v in d.values())
                and all(isinstance(k, str) for k in d))
    if isinstance(obj, dict):
        for key in ("G_ema", "state_dict", "g_ema"):
            if key in obj and is_sd(obj[key]):
                return obj[key]
        if is_sd(obj):
            names = list(obj)
            if any(k.startswith("G_ema.") for k in names):
                return collections.OrderedDict((k[6:], v) for k, v in obj.items()
                                               if k.startswith("G_ema."))
            return obj
    return None


def read_checkpoint(ck):
    """('network', G_ema PersistentObject, data dict) or ('state_dict', tensors, None)."""
    obj = ck.obj
    if isinstance(obj, dict) and "G_ema" in obj and isinstance(obj["G_ema"],
                                                                rp.PersistentObject):
        return "network", obj["G_ema"], obj
    if isinstance(obj, rp.PersistentObject):
        return "network", obj, {}
    sd = _find_tensor_dict(obj)
    if sd is not None:
        return "state_dict", sd, None
    if isinstance(obj, dict) and "G_ema" in obj:
        raise ConversionError("G_ema is a %s, neither a persistent Generator nor a state dict"
                              % type(obj["G_ema"]).__name__)
    raise ConversionError("the file holds a %s: neither a stylegan2-ada network pickle (dict "
                          "with G_ema) nor a state dict of tensors" % type(obj).__name__)


# ---- checks against the architecture ------------------------------------------------------------

def expected_tensors(cfg):
    """OrderedDict official name -> shape (resample_filter buffers included), param count."""
    from .generator import Generator, param_count
    G = Generator(cfg, resample_filter=True, device="meta")
    shapes = collections.OrderedDict((k, tuple(v.shape)) for k, v in G.state_dict().items())
    return shapes, param_count(G)


_HINTS = (("noise_const", "noise inputs (use_noise)"), ("noise_strength", "noise inputs"),
          ("shared_basis", "learned Fourier basis (shared_emb_size)"),
          ("coord_fuser.affine", "w-dependent Fourier basis (predictable_emb_size)"),
          (".skip.", "resnet architecture"), ("mapping.embed", "conditional mapping"),
          ("input.input.weight", "constant input"))


def verify_tensors(tensors, expected):
    """Raises ConversionError naming missing / unexpected / mis-shaped / non-float tensors."""
    extra = [k for k in tensors if k not in expected]
    missing = [k for k in expected if k not in tensors and not k.endswith("resample_filter")]
    problems = []
    if missing:
        problems.append("missing tensor(s): " + _names(missing))
    if extra:
        hint = ""
        for pat, what in _HINTS:
            if any(pat in k for k in extra):
                hint = " (unsupported variant: %s)" % what
                break
        problems.append("unexpected tensor(s): " + _names(extra) + hint)
    if problems:
        raise ConversionError("; ".join(problems))
    for k, t in tensors.items():
        if t.shape != expected[k]:
            raise ConversionError("tensor %s has shape %s, expected %s"
                                  % (k, list(t.shape), list(expected[k])))
        if t.dtype_code not in _FLOAT_CODES:
            raise ConversionError("tensor %s has element type %s, expected floating point"
                                  % (k, t.dtype_code))


def _closed_form_ok(name, arr, cfg):
    from .generator import log_basis_rows
    block = name.split(".")[1]
    for b in cfg["blocks"]:
        if b["name"] == block and "embedding" in b:
            e = b["embedding"]
            ref = np.array(log_basis_rows(e["log_freqs"], e["diagonal"]), dtype=np.float64)
            if ref.shape != arr.shape:
                return False
            return bool(np.all(np.abs(arr - ref) <= 1e-6 * np.maximum(np.abs(ref), 1.0)))
    return True


# ---- writing --------------------------------------------------------------------------------

def _fp32_buffers():
    from .export import FP32_BUFFERS
    return FP32_BUFFERS


def write_model(path, cfg, arrays, dtype="fp32"):
    """Writes name -> float array (official order) as a model file (F32, or F16 with the
    FP32_BUFFERS kept F32). Refuses non-finite values and fp16 overflow."""
    tensors = safetensors_io.model_tensors(arrays, dtype, _fp32_buffers(), ConversionError)
    safetensors_io.save(path, tensors, {"inrgan": config_mod.to_json(cfg)}, align=True)


def _architecture(cfg):
    return {k: v for k, v in cfg.items() if k not in ("provenance", "truncation_psi")}


def official_matches(cfg):
    """Official config names whose architecture equals cfg's (nearest ffhq256 and
    bedrooms256 are identical)."""
    arch = _architecture(cfg)
    return [n for n in config_mod.OFFICIAL_NAMES
            if _architecture(config_mod.official(n)) == arch]


def _default_psi(hints, upsampling):
    """README recommendations: psi 0.9 for bedrooms.pkl, 0.95 for bedrooms-bil.pkl, else 1."""
    if any("bedroom" in str(h).lower() for h in hints if h):
        return (0.95 if upsampling == "bilinear" else 0.9), "README recommendation for bedrooms"
    return 1.0, "default"


def convert(src, dst, dtype="fp32", config_name=None, psi=None, audit=None, limits=None):
    """Converts `src` (.pkl network pickle or state dict) to the model file `dst`.
    Returns a summary dict; raises ConversionError (bad input, resource limits included),
    OutputError (dst cannot be written) or OSError (src cannot be read). audit: optional
    callable(str) receiving the pickled classes with their module-source hashes. limits:
    restricted_pickle.Limits (None: the defaults)."""
    t0 = time.time()
    if dtype not in ("fp32", "fp16"):
        raise ConversionError("dtype must be fp32 or fp16")
    if psi is not None and not math.isfinite(psi):
        raise ConversionError("--truncation must be finite")
    src = os.fspath(src)
    if dst is not None and os.path.exists(dst) and os.path.samefile(src, dst):
        raise ConversionError("output would overwrite the input")
    base = os.path.basename(src)
    try:
        ck = rp.open_checkpoint(src, limits)
    except rp.PickleError as e:
        raise ConversionError(str(e)) from None
    with ck:
        try:
            return _convert_loaded(ck, src, base, dst, dtype, config_name, psi, audit, t0)
        except rp.PickleError as e:
            raise ConversionError(str(e)) from None


def _convert_loaded(ck, src, base, dst, dtype, config_name, psi, audit, t0):
    kind, root, data = read_checkpoint(ck)
    notes = []
    provenance = collections.OrderedDict()
    provenance["source"] = base
    provenance["source_format"] = {"pickle": "stylegan2-ada network pickle",
                                   "torch-zip": "torch.save zip state dict",
                                   "torch-legacy": "legacy torch.save state dict"}[ck.format]
    if kind == "state_dict":
        if ck.format == "pickle":
            provenance["source_format"] = "pickled state dict"
        if config_name is None:
            raise ConversionError("%s is a state dict without a config: pass --config NAME "
                                  "(one of %s)" % (base, ", ".join(config_mod.BUILTIN_NAMES)))
        try:
            cfg = config_mod.builtin(config_name)
        except ValueError as e:
            raise ConversionError(str(e)) from None
        if psi is not None:
            cfg["truncation_psi"] = float(psi)
        tensors = collections.OrderedDict((str(k), v) for k, v in root.items())
        ignored = []
        provenance["config"] = "--config " + config_name
    else:
        if root.class_name != "Generator":
            raise ConversionError("G_ema is a persistent %s, not a Generator" % root.class_name)
        state = root.state
        dataset = None
        tsk = data.get("training_set_kwargs") if isinstance(data, dict) else None
        if tsk is not None:
            try:
                tsk = to_plain(tsk, "training_set_kwargs")
                if isinstance(tsk, dict) and isinstance(tsk.get("path"), str):
                    dataset = os.path.basename(tsk["path"])
            except ConversionError:
                notes.append("training_set_kwargs unreadable (ignored)")
        cfg, cnotes = config_from_init_kwargs(state.get("_init_args"),
                                              state.get("_init_kwargs"), 1.0)
        notes += cnotes
        if psi is None:
            psi_v, why = _default_psi([base, dataset], cfg["upsampling"])
        else:
            psi_v, why = float(psi), "--truncation"
        cfg["truncation_psi"] = psi_v
        provenance["config"] = "G_ema._init_kwargs"
        provenance["truncation_psi_from"] = why
        if dataset:
            provenance["dataset"] = dataset
        if config_name is not None:
            try:
                want = config_mod.builtin(config_name)
            except ValueError as e:
                raise ConversionError(str(e)) from None
            a, b = _architecture(want), _architecture(cfg)
            if a != b:
                diff = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
                raise ConversionError("--config %s differs from the pickled architecture in: %s"
                                      % (config_name, ", ".join(diff)))
        if isinstance(root.module_src, str):
            provenance["module_src_sha256"] = hashlib.sha256(
                root.module_src.encode("utf-8", "surrogatepass")).hexdigest()
        tensors, ignored, classes = collect_tensors(root)
        if audit is not None:
            _audit(audit, data if isinstance(data, dict) else {"G_ema": root}, cfg)

    expected, nparams = expected_tensors(cfg)
    verify_tensors(tensors, expected)
    arrays = collections.OrderedDict()
    for name in expected:
        if name.endswith("resample_filter"):
            continue
        arrays[name] = tensors[name].numpy()
        if name.endswith("log_basis") and not _closed_form_ok(name, arrays[name], cfg):
            notes.append("%s differs from the closed-form logarithmic basis (kept as stored)"
                         % name)
    if not np.any(arrays["mapping.w_avg"]):
        notes.append("mapping.w_avg is all zeros (untrained generator?)")
    matches = official_matches(cfg)
    provenance["official_architecture"] = ", ".join(matches) if matches else "none"
    provenance["converter"] = "python/inrgan/convert.py"
    provenance["dtype"] = dtype
    provenance["sha256"] = sha256_file(src)
    cfg["provenance"] = dict(provenance)
    if dst is not None:
        try:
            write_model(dst, cfg, arrays, dtype)
        except OSError as e:
            raise OutputError("cannot write %s: %s" % (dst, e.strerror or e)) from None
    dropped = sorted(k for k in tensors if k.endswith("resample_filter"))
    return {"source": base, "sha256": provenance["sha256"], "format": ck.format,
            "kind": kind, "config": cfg, "official": matches, "parameters": nparams,
            "tensors": len(arrays), "dropped": dropped,
            "ignored": [(n, list(t.shape), t.storage.location) for n, t in ignored],
            "notes": notes, "seconds": time.time() - t0}


def _audit(emit, data, cfg):
    """Lists the persistent classes of the pickle with their module-source hashes."""
    found = collections.OrderedDict()
    stack = [data]
    seen = set()
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, rp.PersistentObject):
            src = obj.module_src or ""
            h = hashlib.sha256(src.encode("utf-8", "surrogatepass")).hexdigest()[:16]
            key = (obj.class_name, h)
            found[key] = found.get(key, (0, src.count("\n") + 1 if src else 0))
            found[key] = (found[key][0] + 1, found[key][1])
            stack.append(obj.state)
        elif isinstance(obj, rp.Inert):
            stack.extend([obj.state, obj.items, obj.listitems])
        elif isinstance(obj, dict):
            stack.extend(obj.values())
        elif isinstance(obj, (list, tuple)):
            stack.extend(obj)
    emit("persistent classes (module source never executed):")
    for (name, h), (n, lines) in found.items():
        emit("  %-22s x%-4d module_src sha256 %s... (%d lines)" % (name, n, h, lines))
    emit("config: " + config_mod.to_json(cfg))


def _one_line(e):
    return re.sub(r"\s+", " ", str(e)).strip() or type(e).__name__


def main(argv=None):
    p = argparse.ArgumentParser(
        prog="python -m inrgan.convert",
        description="Convert an official INR-GAN checkpoint (.pkl network pickle, or a .pt/.pth "
                    "state dict with --config) to an inrgan model file. Nothing from the "
                    "checkpoint is imported or executed.")
    p.add_argument("input", help="checkpoint (.pkl, .pt, .pth)")
    p.add_argument("-o", "--output", help="output model file (.safetensors)")
    p.add_argument("--dtype", choices=("fp32", "fp16"), default="fp32")
    p.add_argument("--config", metavar="NAME",
                   help="architecture of a state dict (required there: %s); for a .pkl, a "
                        "check against the pickled config" % ", ".join(config_mod.BUILTIN_NAMES))
    p.add_argument("--truncation", type=float, default=None, metavar="PSI",
                   help="default truncation psi stored in the file (default: 0.9 / 0.95 for "
                        "bedrooms / bedrooms-bil by file or dataset name, else 1)")
    p.add_argument("--json", metavar="FILE", help="also write the conversion summary as JSON")
    p.add_argument("--audit", action="store_true",
                   help="also list the pickled classes with their source hashes and the config "
                        "(-o may then be omitted)")
    p.add_argument("--limit", action="append", metavar="NAME=N", default=[],
                   help="raise (or lower) a resource limit for a trusted large file, e.g. "
                        "--limit work=100M; 0 = unlimited. Names: %s (docs/converting.md, "
                        "Limits)" % ", ".join(rp._flag(n) for n in rp.LIMITS))
    p.add_argument("-q", "--quiet", action="store_true")
    args = p.parse_args(argv)
    if args.output is None and not args.audit:
        p.error("-o/--output is required (unless --audit)")
    try:
        limits = rp.Limits.parse(args.limit)
    except ValueError as e:
        p.error(str(e))

    def emit(s):
        print(s, file=sys.stderr)

    try:
        s = convert(args.input, args.output, dtype=args.dtype, config_name=args.config,
                    psi=args.truncation, audit=emit if args.audit else None, limits=limits)
        if args.json:
            text = json.dumps(dict(s, output=args.output), indent=1) + "\n"
            try:
                safetensors_io.write_atomic(args.json, text.encode("utf-8"))
            except OSError as e:
                if args.output is not None:      # no half-finished result: drop the model too
                    try:
                        os.unlink(args.output)
                    except OSError:
                        pass
                raise OutputError("cannot write %s: %s" % (args.json, e.strerror or e)) from None
    except ConversionError as e:
        print("inrgan.convert: error: %s" % _one_line(e), file=sys.stderr)
        return 2
    except OutputError as e:
        print("inrgan.convert: error: %s" % _one_line(e), file=sys.stderr)
        return 1
    except OSError as e:
        print("inrgan.convert: error: cannot read %s: %s" % (e.filename or args.input,
                                                             e.strerror or e), file=sys.stderr)
        return 2
    except MemoryError:
        print("inrgan.convert: error: out of memory", file=sys.stderr)
        return 1
    if not args.quiet:
        cfg = s["config"]
        emit("%s (%s, sha256 %s...) -> %s" % (s["source"], s["format"], s["sha256"][:16],
                                             args.output or "(no output)"))
        emit("  config: %s, %s upsampling, instance norm %s, num_ws %d, psi %g; official "
             "architecture: %s" % ("pickled" if s["kind"] == "network" else "--config",
                                   cfg["upsampling"], "on" if cfg["instance_norm"] else "off",
                                   cfg["num_ws"], cfg["truncation_psi"],
                                   ", ".join(s["official"]) or "none"))
        emit("  %d tensors, %s parameters, %s; dropped %d resample_filter buffers"
             % (s["tensors"], format(s["parameters"], ","), args.dtype, len(s["dropped"])))
        if s["ignored"]:
            locs = sorted(set(loc for _, _, loc in s["ignored"]))
            emit("  ignored %d cache tensor(s) (%s), never read: %s"
                 % (len(s["ignored"]), ", ".join(locs), _names(n for n, _, _ in s["ignored"])))
        for n in s["notes"]:
            emit("  note: " + n)
        emit("  %.2f s" % s["seconds"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
