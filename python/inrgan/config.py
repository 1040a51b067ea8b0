"""Architecture configs in the schema of docs/model-format.md (`__metadata__["inrgan"]`).

    official(name)   "ffhq256", "bedrooms256", "churches256" and their "-bil" variants
    tiny(kind)       "nearest", "bil", "churches": tiny synthetic configs for tests
    builtin(name)    any of the above by CLI name ("ffhq256-bil", "tiny-nearest", ...)
    make_config(...) the generic builder behind all of them
    validate(cfg)    strict check of a config dict (raises ValueError)
    to_json(cfg)     the JSON string stored in a model file

Block rules (reference §1.9): block resolutions 4, 8, ..., resolution; block `bR` runs on the
grid max(R, input_grid) (blocks at or below the input grid share it and do not upsample);
channels(R) = min(channel_base // R, channel_max); a coordinate embedding sits on the first
block and on each block that doubles the grid. Embedding of a grid g (reference §1.8):
"low" levels (g <= low_max_grid): log_freqs ceil(log2 g), diagonal, no random basis, 128 const
channels; "medium" levels: no diagonal, 32 random rows, 64 const channels (both overridable).
"""

import copy
import json
import math

__all__ = ["FORMAT_VERSION", "OFFICIAL_NAMES", "TINY_KINDS", "BUILTIN_NAMES", "make_config",
           "official", "tiny", "builtin", "validate", "to_json", "from_json",
           "embedding_channels", "n_log_rows", "layer_shapes"]

FORMAT_VERSION = 1
OFFICIAL_NAMES = ("ffhq256", "bedrooms256", "churches256",
                  "ffhq256-bil", "bedrooms256-bil", "churches256-bil")
TINY_KINDS = ("nearest", "bil", "churches")
BUILTIN_NAMES = OFFICIAL_NAMES + tuple("tiny-" + k for k in TINY_KINDS)

_EMB_LOW = {"diagonal": True, "random": 0, "const": 128}
_EMB_HIGH = {"diagonal": False, "random": 32, "const": 64}


def _is_pow2(n):
    return isinstance(n, int) and n >= 1 and (n & (n - 1)) == 0


def _embedding(grid, spec):
    spec = dict(spec)
    unknown = set(spec) - {"log_freqs", "diagonal", "random", "const"}
    if unknown:
        raise ValueError("unknown embedding option(s) %s" % sorted(unknown))
    log_freqs = spec.get("log_freqs")
    if log_freqs is None:
        log_freqs = int(math.ceil(math.log2(grid))) if grid > 1 else 0
    return {"log_freqs": int(log_freqs), "diagonal": bool(spec.get("diagonal", False)),
            "random": int(spec.get("random", 0)), "const": int(spec.get("const", 0))}


def make_config(resolution, input_grid=32, channel_base=32768, channel_max=512, rank=10,
                z_dim=512, w_dim=512, mapping_layers=2, lr_multiplier=0.01,
                upsampling="nearest", instance_norm=False, extra_convs=None, emb_low=None,
                emb_high=None, low_max_grid=64, num_ws=None, truncation_psi=1.0,
                provenance=None):
    """Generic config builder (see the module docstring for the rules).

    extra_convs: {block resolution (int or str): count}, e.g. {128: 1, 256: 1}.
    emb_low / emb_high: embedding options of the levels with grid <= low_max_grid / above it:
    keys "diagonal", "random", "const" and optionally "log_freqs" (default ceil(log2 grid)).
    num_ws: default = number of FMM layers + 1, as the official code counts it.
    """
    if not _is_pow2(resolution) or resolution < 4:
        raise ValueError("resolution must be a power of two >= 4 (got %r)" % (resolution,))
    if not _is_pow2(input_grid) or input_grid > resolution:
        raise ValueError("input_grid must be a power of two <= resolution (got %r)"
                         % (input_grid,))
    if upsampling not in ("nearest", "bilinear"):
        raise ValueError("upsampling must be 'nearest' or 'bilinear'")
    extra = {}
    for k, v in (extra_convs or {}).items():
        extra[int(k)] = int(v)
    low = dict(_EMB_LOW, **(emb_low or {}))
    high = dict(_EMB_HIGH, **(emb_high or {}))

    res_list = []
    r = 4
    while r <= resolution:
        res_list.append(r)
        r *= 2
    for k in extra:
        if k not in res_list:
            raise ValueError("extra_convs names resolution %d, which has no block" % k)

    blocks = []
    prev_grid = None
    n_fmm = 0
    for r in res_list:
        grid = max(r, input_grid)
        block = {"name": "b%d" % r, "grid": grid,
                 "channels": int(min(channel_base // r, channel_max)),
                 "extra_convs": extra.get(r, 0)}
        if prev_grid is None or grid == 2 * prev_grid:
            block["embedding"] = _embedding(grid, low if grid <= low_max_grid else high)
        n_fmm += (1 if prev_grid is None else 2) + block["extra_convs"]
        blocks.append(block)
        prev_grid = grid

    cfg = {
        "format_version": FORMAT_VERSION,
        "family": "inrgan",
        "resolution": resolution,
        "z_dim": int(z_dim),
        "w_dim": int(w_dim),
        "mapping": {"num_layers": int(mapping_layers), "lr_multiplier": float(lr_multiplier)},
        "rank": int(rank),
        "upsampling": upsampling,
        "instance_norm": bool(instance_norm),
        "num_ws": int(num_ws) if num_ws is not None else n_fmm + 1,
        "truncation_psi": float(truncation_psi),
        "blocks": blocks,
    }
    if provenance is not None:
        cfg["provenance"] = dict(provenance)
    validate(cfg)
    return cfg


def official(name):
    """Config of a released INR-GAN checkpoint family (random-weight architecture).

    "ffhq256", "bedrooms256", "churches256": nearest upsampling, no instance norm; extra convs
    at 128 and 256 except for churches (num_ws 14, else 16). "-bil" variants: bilinear +
    instance norm, extra convs like ffhq. truncation_psi is the README's recommendation
    (bedrooms 0.9, bedrooms-bil 0.95, else 1.0).
    """
    if name not in OFFICIAL_NAMES:
        raise ValueError("unknown official config %r (known: %s)"
                         % (name, ", ".join(OFFICIAL_NAMES)))
    bil = name.endswith("-bil")
    base = name[:-4] if bil else name
    extra = {128: 1, 256: 1} if (bil or base != "churches256") else {}
    psi = 1.0
    if base == "bedrooms256":
        psi = 0.95 if bil else 0.9
    return make_config(256, input_grid=32, channel_base=32768, channel_max=512, rank=10,
                       z_dim=512, w_dim=512, mapping_layers=2, lr_multiplier=0.01,
                       upsampling="bilinear" if bil else "nearest", instance_norm=bil,
                       extra_convs=extra, truncation_psi=psi)


def tiny(kind="nearest"):
    """Tiny synthetic configs for tests (outputs 32x32, widths 8..48, a few thousand
    parameters per layer):

    resolution 32, input grid 8 (b4, b8 on 8x8; b16 on 16x16; b32 on 32x32), channels 16/16/16/8,
    z_dim 32, w_dim 16 (z_dim != w_dim on purpose), rank 3, 2 mapping layers.
    Level 8 embedding: K=3 + diagonals, const 8 (32 ch); levels 16/32: no diagonals, random
    basis 4 rows, const 4 (28 / 32 ch).
    kind "nearest": nearest upsampling, extra convs 1 at b16 and 2 at b32;
    "bil": the same with bilinear upsampling + instance norm; "churches": nearest, no extra convs.
    """
    if kind not in TINY_KINDS:
        raise ValueError("unknown tiny config %r (known: %s)" % (kind, ", ".join(TINY_KINDS)))
    bil = kind == "bil"
    extra = {} if kind == "churches" else {16: 1, 32: 2}
    return make_config(32, input_grid=8, channel_base=256, channel_max=16, rank=3,
                       z_dim=32, w_dim=16, mapping_layers=2, lr_multiplier=0.01,
                       upsampling="bilinear" if bil else "nearest", instance_norm=bil,
                       extra_convs=extra, low_max_grid=8,
                       emb_low={"diagonal": True, "random": 0, "const": 8},
                       emb_high={"diagonal": False, "random": 4, "const": 4})


def builtin(name):
    """Config by CLI name: an official name or "tiny-nearest" / "tiny-bil" / "tiny-churches"."""
    if name in OFFICIAL_NAMES:
        return official(name)
    if name.startswith("tiny-") and name[5:] in TINY_KINDS:
        return tiny(name[5:])
    raise ValueError("unknown config %r (known: %s)" % (name, ", ".join(BUILTIN_NAMES)))


# ---- derived quantities ----------------------------------------------------------------------

def n_log_rows(emb):
    return emb["log_freqs"] * (4 if emb["diagonal"] else 2)


def embedding_channels(emb):
    """C_e = 2 * (n_log + random) + const."""
    return 2 * (n_log_rows(emb) + emb["random"]) + emb["const"]


def layer_shapes(cfg):
    """Per block: list of (layer name, C_in, C_out) for its FMM layers, in forward order,
    plus the block's embedding channels (0 if none). Returns [(block, [(name, cin, cout)], ce)].
    """
    out = []
    prev_c = None
    for i, b in enumerate(cfg["blocks"]):
        ce = embedding_channels(b["embedding"]) if "embedding" in b else 0
        c = b["channels"]
        layers = []
        if i == 0:
            layers.append(("conv1", ce, c))
        else:
            layers.append(("conv0", prev_c + ce, c))
            layers.append(("conv1", c, c))
        for k in range(b["extra_convs"]):
            layers.append(("extra_convs.%d" % k, c, c))
        out.append((b, layers, ce))
        prev_c = c
    return out


# ---- validation ------------------------------------------------------------------------------

_TOP_KEYS = {"format_version", "family", "resolution", "z_dim", "w_dim", "mapping", "rank",
             "upsampling", "instance_norm", "num_ws", "truncation_psi", "blocks"}
_BLOCK_KEYS = {"name", "grid", "channels", "extra_convs"}
_EMB_KEYS = {"log_freqs", "diagonal", "random", "const"}


def _int_field(obj, key, lo, hi, where):
    if key not in obj:
        raise ValueError("config: missing field %s%s" % (where, key))
    v = obj[key]
    if not isinstance(v, int) or isinstance(v, bool):
        raise ValueError("config: field %s%s must be an integer (got %r)" % (where, key, v))
    if not lo <= v <= hi:
        raise ValueError("config: field %s%s = %d out of range [%d, %d]"
                         % (where, key, v, lo, hi))
    return v


def _bool_field(obj, key, where):
    if key not in obj:
        raise ValueError("config: missing field %s%s" % (where, key))
    if not isinstance(obj[key], bool):
        raise ValueError("config: field %s%s must be true/false (got %r)"
                         % (where, key, obj[key]))
    return obj[key]


def _number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def validate(cfg):
    """Checks a config dict against docs/model-format.md. Raises ValueError naming the field.
    Unknown keys are refused (catches misspellings). Returns cfg."""
    if not isinstance(cfg, dict):
        raise ValueError("config: not a JSON object")
    unknown = set(cfg) - _TOP_KEYS - {"provenance"}
    if unknown:
        raise ValueError("config: unknown field(s) %s" % sorted(unknown))
    v = _int_field(cfg, "format_version", 0, 1 << 31, "")
    if v != FORMAT_VERSION:
        raise ValueError("config: unsupported format_version %d (expected %d)"
                         % (v, FORMAT_VERSION))
    if cfg.get("family") != "inrgan":
        raise ValueError("config: unsupported family %r (expected \"inrgan\")"
                         % (cfg.get("family"),))
    _int_field(cfg, "resolution", 1, 1 << 20, "")
    _int_field(cfg, "z_dim", 1, 8192, "")
    _int_field(cfg, "w_dim", 1, 8192, "")
    m = cfg.get("mapping")
    if not isinstance(m, dict):
        raise ValueError("config: field mapping must be an object")
    if set(m) != {"num_layers", "lr_multiplier"}:
        raise ValueError("config: mapping must have exactly num_layers and lr_multiplier "
                         "(got %s)" % sorted(m))
    _int_field(m, "num_layers", 1, 32, "mapping.")
    lr = m["lr_multiplier"]
    if not _number(lr) or not math.isfinite(lr) or lr <= 0:
        raise ValueError("config: mapping.lr_multiplier must be a finite number > 0 (got %r)"
                         % (lr,))
    _int_field(cfg, "rank", 1, 1024, "")
    if cfg.get("upsampling") not in ("nearest", "bilinear"):
        raise ValueError("config: upsampling must be \"nearest\" or \"bilinear\" (got %r)"
                         % (cfg.get("upsampling"),))
    _bool_field(cfg, "instance_norm", "")
    _int_field(cfg, "num_ws", 1, 1 << 20, "")
    psi = cfg.get("truncation_psi")
    if not _number(psi) or not math.isfinite(psi):
        raise ValueError("config: truncation_psi must be a finite number (got %r)" % (psi,))

    blocks = cfg.get("blocks")
    if not isinstance(blocks, list) or not 1 <= len(blocks) <= 32:
        raise ValueError("config: blocks must be a list of 1..32 blocks")
    names = set()
    prev_grid = None
    for i, b in enumerate(blocks):
        where = "blocks[%d]." % i
        if not isinstance(b, dict):
            raise ValueError("config: %s is not an object" % where[:-1])
        unknown = set(b) - _BLOCK_KEYS - {"embedding"}
        if unknown:
            raise ValueError("config: unknown field(s) %s in %s" % (sorted(unknown), where[:-1]))
        name = b.get("name")
        if (not isinstance(name, str) or len(name) < 2 or len(name) > 15 or name[0] != "b"
                or not name[1:].isdigit() or not name[1:].isascii()):
            raise ValueError("config: %sname must be 'b' followed by digits (got %r)"
                             % (where, name))
        if name in names:
            raise ValueError("config: duplicate block name %r" % name)
        names.add(name)
        if prev_grid is None:
            grid = _int_field(b, "grid", 1, 4096, where)
        else:
            grid = _int_field(b, "grid", 1, 1 << 20, where)
            if grid not in (prev_grid, 2 * prev_grid):
                raise ValueError("config: %sgrid = %d must equal the previous grid %d or "
                                 "twice it" % (where, grid, prev_grid))
        _int_field(b, "channels", 1, 8192, where)
        _int_field(b, "extra_convs", 0, 16, where)
        needs_emb = prev_grid is None or grid == 2 * prev_grid
        if needs_emb and "embedding" not in b:
            raise ValueError("config: %sembedding is required (first block or grid doubles)"
                             % where)
        if not needs_emb and "embedding" in b:
            raise ValueError("config: %sembedding is forbidden (block stays on the previous "
                             "grid)" % where)
        if needs_emb:
            e = b["embedding"]
            ew = where + "embedding."
            if not isinstance(e, dict):
                raise ValueError("config: %s must be an object" % ew[:-1])
            if set(e) != _EMB_KEYS:
                raise ValueError("config: %s must have exactly %s (got %s)"
                                 % (ew[:-1], sorted(_EMB_KEYS), sorted(e)))
            _int_field(e, "log_freqs", 0, 24, ew)
            _bool_field(e, "diagonal", ew)
            _int_field(e, "random", 0, 4096, ew)
            _int_field(e, "const", 0, 4096, ew)
            if prev_grid is None and embedding_channels(e) < 1:
                raise ValueError("config: %s of the first block has no channels" % ew[:-1])
        prev_grid = grid
    if cfg["resolution"] != prev_grid:
        raise ValueError("config: resolution %d differs from the last block's grid %d"
                         % (cfg["resolution"], prev_grid))
    if "provenance" in cfg:
        p = cfg["provenance"]
        if not isinstance(p, dict) or not all(isinstance(k, str) and isinstance(x, str)
                                              for k, x in p.items()):
            raise ValueError("config: provenance must be an object of strings")
    return cfg


def to_json(cfg):
    """The config as stored in __metadata__["inrgan"] (validated first)."""
    validate(cfg)
    return json.dumps(cfg, ensure_ascii=True)


def from_json(text):
    """Parses and validates a config JSON string."""
    try:
        cfg = json.loads(text)
    except ValueError as e:
        raise ValueError("config: not valid JSON: %s" % e) from None
    return validate(copy.deepcopy(cfg))
