"""CIPS (Anokhin et al., CVPR'21): the CIPSskip generator in PyTorch, with the state-dict names
and shapes of the released checkpoints (rosinality-style naming; reference §5).

    G = CIPSskip()                                     # released config: 256, hidden 512, ...
    G = CIPSskip(**small_kwargs(size=16, hidden=32))   # tiny test model
    img = G(z, noise="zero")                           # [B, 3, n, n], range about [-1, 1]
    cfg = cips_config(G)                               # JSON-able dict, "family": "cips"
    expected_shapes(cfg) -> OrderedDict name -> shape; param_count(cfg_or_G)

Math (reference §5; the original code is model/GeneratorsCIPS.py CIPSskip and model/blocks.py,
quoted below only as formulas):

* Mapping (§5 "Mapping"): w = f8(...f1(PixelNorm(z))), PixelNorm(z) = z / sqrt(mean(z^2) + 1e-8),
  f_k(x) = lrelu(x (W_k c)^T + b_k lr_mul, 0.2) * sqrt(2), c = lr_mul / sqrt(in_dim)
  (EqualLinear with lr_mul = lr_mlp = 0.01, fused leaky ReLU). One w for all layers.
* Truncation (§5 "Truncation"): w' = w_avg + psi (w - w_avg) on w (what the authors' notebook
  does with input_is_latent=True). truncation_mode="original" reproduces the code's quirk: with
  input_is_latent=False the lerp is applied to z before the mapping.
* Coordinates (§5 "Input encoding"): x_j = -1 + 2j/(W-1), y_i = -1 + 2i/(H-1); channel 0 = x
  (grows right), channel 1 = y (grows DOWN, row 0 = -1): torch.linspace(-1, 1, n).
* Fourier features (§5): F = sin(B (x, y) + c), B = lff.ffm.conv.weight [hidden, 2, 1, 1],
  c = lff.ffm.conv.bias (a plain 1x1 conv, no equalized-LR scaling).
* Coordinate embedding (§5): emb.input [1, hidden, size, size]. In training at the native size it
  is used as is; otherwise (always in eval()) it is read with
  grid_sample(mode='bilinear', padding_mode='border', align_corners=False) at the coordinates.
  Input to the first layer: cat([F, E], channel) -> 2*hidden channels.
* ModFC = StyledConv with a 1x1 ModulatedConv2d (§5 "ModFC layers"):
  s = w (M c)^T + m lr_mul, M = conv.modulation.weight [C_in, style_dim], bias init 1, c = 1/sqrt(style_dim);
  W' = W / sqrt(C_in) * s (per input channel), W = conv.weight[0, :, :, 0, 0] [C_out, C_in];
  demodulation W'' = W' / sqrt(sum_i W'^2 + 1e-8) (per output row);
  y = W'' x; y += noise.weight * n  (n ~ N(0,1) per pixel, one channel broadcast, fresh per call);
  y = lrelu(y + activate.bias, 0.2) * sqrt(2).
* Layers (§5 "Layers"): conv1 (2*hidden -> channels[0]), then pairs linears[2i], linears[2i+1]
  (channels[i-1] -> channels[i] -> channels[i], channels[-1] := channels[0] for i = 0),
  i = 0 .. log2(size)-2; after each pair a ToRGB:
  rgb += W_rgb' x + bias, W_rgb' = W_rgb / sqrt(C) * s (modulated, NO demodulation).
  Output = the sum of the ToRGBs (no tanh; range about [-1, 1]).

Noise argument of forward(): None = fresh torch.randn per layer from the global RNG (the original
behaviour), "zero" = no noise, an int = a seed (torch.Generator, drawn in layer order
conv1, linears.0, linears.1, ...), a torch.Generator, or a list of per-layer tensors
[B or 1, 1, H, W] (None entries = fresh random).
"""

import collections
import json
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["CIPSskip", "CIPSres", "from_config", "cips_config", "validate_config", "expected_shapes", "param_count",
           "make_coords", "default_channels", "small_kwargs", "kwargs_from_config",
           "macs_per_pixel", "view_coords", "engine_noise", "engine_noises", "save_model",
           "CONFIG_VERSION"]

CONFIG_VERSION = 1
SQRT2 = math.sqrt(2.0)
LRELU_SLOPE = 0.2
EPS = 1e-8


def default_channels(size=256, channel_multiplier=2, res=False):
    """The `channels` dict of the original code (index 0..8), cut to log2(size)-1 pairs
    (CIPSres's table differs from index 7 on)."""
    m = channel_multiplier
    table = [512, 512, 512, 512, 256 * m, 128 * m, 64 * m] + ([64 * m, 32 * m] if res
                                                                else [32 * m, 16 * m])
    n = _n_pairs(size)
    if n > len(table):
        raise ValueError("size %d needs %d channel entries; give channels explicitly" % (size, n))
    return table[:n]


def _n_pairs(size):
    log_size = int(math.log(size, 2))
    if size < 4 or (1 << log_size) != size:
        raise ValueError("size must be a power of two >= 4 (got %r)" % (size,))
    return log_size - 1


def make_coords(batch, height, width, device="cpu", dtype=torch.float32):
    """CIPS coordinates [B, 2, H, W]: channel 0 = linspace(-1, 1, W) along columns (x right),
    channel 1 = linspace(-1, 1, H) along rows (y DOWN). (The original helper repeats with the
    wrong axis when H != W; this one is correct for rectangles and equal for squares.)"""
    x = torch.linspace(-1, 1, width, device=device, dtype=dtype).view(1, 1, 1, width)
    y = torch.linspace(-1, 1, height, device=device, dtype=dtype).view(1, 1, height, 1)
    return torch.cat([x.expand(batch, 1, height, width), y.expand(batch, 1, height, width)], 1)


# ---- building blocks (module/parameter names as in the released state dicts) -----------------

def _param(shape, device, init):
    t = torch.empty(shape, device=device)
    if t.device.type != "meta":
        with torch.no_grad():
            init(t)
    return nn.Parameter(t)


class PixelNorm(nn.Module):
    def forward(self, x):
        return x * torch.rsqrt(torch.mean(x * x, dim=1, keepdim=True) + EPS)


class EqualLinear(nn.Module):
    """y = x (W c)^T + b lr_mul, c = lr_mul / sqrt(in_dim); optional fused lrelu."""

    def __init__(self, in_dim, out_dim, bias_init=0.0, lr_mul=1.0, activation=None, device=None):
        super().__init__()
        self.weight = _param((out_dim, in_dim), device, lambda t: t.normal_().div_(lr_mul))
        self.bias = _param((out_dim,), device, lambda t: t.fill_(bias_init))
        self.scale = lr_mul / math.sqrt(in_dim)
        self.lr_mul = lr_mul
        self.activation = activation

    def forward(self, x):
        out = F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)
        if self.activation:
            out = F.leaky_relu(out, LRELU_SLOPE) * SQRT2
        return out


class FusedLeakyReLU(nn.Module):
    def __init__(self, channels, device=None):
        super().__init__()
        self.bias = _param((channels,), device, lambda t: t.zero_())

    def forward(self, x):
        return F.leaky_relu(x + self.bias.view(1, -1, 1, 1), LRELU_SLOPE) * SQRT2


class ModulatedConv2d(nn.Module):
    """1x1 modulated conv; weight [1, C_out, C_in, 1, 1], modulation EqualLinear(style, C_in)."""

    def __init__(self, in_channel, out_channel, style_dim, demodulate=True, device=None):
        super().__init__()
        self.in_channel, self.out_channel = in_channel, out_channel
        self.scale = 1.0 / math.sqrt(in_channel)        # fan_in = C_in * 1 * 1
        self.weight = _param((1, out_channel, in_channel, 1, 1), device, lambda t: t.normal_())
        self.modulation = EqualLinear(style_dim, in_channel, bias_init=1.0, device=device)
        self.demodulate = demodulate

    def forward(self, x, w):
        s = self.modulation(w)                                          # [B, C_in]
        wt = self.scale * self.weight[0, :, :, 0, 0].unsqueeze(0) * s.unsqueeze(1)  # [B,O,I]
        if self.demodulate:
            wt = wt * torch.rsqrt(wt.pow(2).sum(2, keepdim=True) + EPS)
        return torch.einsum("boi,bihw->bohw", wt, x)


class NoiseInjection(nn.Module):
    def __init__(self, device=None):
        super().__init__()
        self.weight = _param((1,), device, lambda t: t.zero_())

    def forward(self, x, noise=None):
        if noise is None:
            b, _, h, w_ = x.shape
            noise = x.new_empty(b, 1, h, w_).normal_()
        return x + self.weight * noise


class StyledConv(nn.Module):
    def __init__(self, in_channel, out_channel, style_dim, demodulate=True, device=None):
        super().__init__()
        self.conv = ModulatedConv2d(in_channel, out_channel, style_dim, demodulate, device)
        self.noise = NoiseInjection(device)
        self.activate = FusedLeakyReLU(out_channel, device)

    def forward(self, x, w, noise=None):
        return self.activate(self.noise(self.conv(x, w), noise))


class ToRGB(nn.Module):
    def __init__(self, in_channel, style_dim, device=None):
        super().__init__()
        self.conv = ModulatedConv2d(in_channel, 3, style_dim, demodulate=False, device=device)
        self.bias = _param((1, 3, 1, 1), device, lambda t: t.zero_())

    def forward(self, x, w, skip=None):
        out = self.conv(x, w) + self.bias
        return out if skip is None else out + skip


class ConLinear(nn.Module):
    """The first (SIREN-like) layer: nn.Conv2d(2, hidden, 1), weight U(+-sqrt(9/2))."""

    def __init__(self, ch_in, ch_out, device=None):
        super().__init__()
        self.conv = nn.Conv2d(ch_in, ch_out, 1, device=device)
        if self.conv.weight.device.type != "meta":
            nn.init.uniform_(self.conv.weight, -math.sqrt(9 / ch_in), math.sqrt(9 / ch_in))

    def forward(self, x):
        return self.conv(x)


class LFF(nn.Module):
    def __init__(self, hidden, device=None):
        super().__init__()
        self.ffm = ConLinear(2, hidden, device)

    def forward(self, coords):
        return torch.sin(self.ffm(coords))


class ConstantInput(nn.Module):
    def __init__(self, channel, size, device=None):
        super().__init__()
        self.input = _param((1, channel, size, size), device, lambda t: t.normal_())


# ---- the generators --------------------------------------------------------------------------

class EqualConv1x1(nn.Module):
    """CIPSres's channel-changing skip: ConvLayer(in, out, 1, activate=False, bias=False) of the
    original = an EqualConv2d without bias, y = (W / sqrt(C_in)) x."""

    def __init__(self, in_channel, out_channel, device=None):
        super().__init__()
        self.weight = _param((out_channel, in_channel, 1, 1), device, lambda t: t.normal_())
        self.scale = 1.0 / math.sqrt(in_channel)

    def forward(self, x):
        return torch.einsum("oi,bihw->bohw", self.weight[:, :, 0, 0] * self.scale, x)


class StyledResBlock(nn.Module):
    """CIPSres block: out = (conv2(conv1(x)) + skip(x)) / sqrt(2), skip the identity when the
    width does not change (state-dict names conv1.*, conv2.*, skip.0.weight)."""

    def __init__(self, in_channel, out_channel, style_dim, device=None):
        super().__init__()
        self.conv1 = StyledConv(in_channel, out_channel, style_dim, device=device)
        self.conv2 = StyledConv(out_channel, out_channel, style_dim, device=device)
        self.skip = (nn.Sequential(EqualConv1x1(in_channel, out_channel, device))
                     if in_channel != out_channel else None)

    def forward(self, x, w, noise1=None, noise2=None):
        out = self.conv2(self.conv1(x, w, noise1), w, noise2)
        return (out + (x if self.skip is None else self.skip(x))) / SQRT2


class _CIPS(nn.Module):
    """What both generators share: LFF, the coordinate embedding, the mapping, truncation, the
    input of the first layer and the per-layer noise. Subclasses build the layers in the
    registration order of the original (lff, emb, <layers>, style) and define _synthesis."""

    def _common(self, size, hidden_size, n_mlp, style_dim, lr_mlp, activation, channel_multiplier,
                channels, coords_size, device, res):
        if activation not in (None, "fused_lrelu"):
            raise ValueError("only the default activation (fused leaky ReLU) is implemented")
        n_pairs = _n_pairs(size)
        channels = (list(channels) if channels is not None
                    else default_channels(size, channel_multiplier, res))
        if len(channels) != n_pairs:
            raise ValueError("channels must have log2(size)-1 = %d entries" % n_pairs)
        self.size, self.hidden_size, self.style_dim = size, hidden_size, style_dim
        self.n_mlp, self.lr_mlp, self.channel_multiplier = n_mlp, lr_mlp, channel_multiplier
        self.channels = [int(c) for c in channels]
        self.coords_size = int(coords_size or size)
        self.log_size = n_pairs + 1
        self.lff = LFF(hidden_size, device)
        self.emb = ConstantInput(hidden_size, size, device)

    def _mapping_net(self, device):
        layers = [PixelNorm()]
        for _ in range(self.n_mlp):
            layers.append(EqualLinear(self.style_dim, self.style_dim, lr_mul=self.lr_mlp,
                                      activation="fused_lrelu", device=device))
        self.style = nn.Sequential(*layers)

    @property
    def num_noise_layers(self):
        return 1 + 2 * len(self.channels)

    def mapping(self, z):
        return self.style(z)

    @torch.no_grad()
    def mean_w(self, n=100, seed=0):
        """Mean of n mapped latents (the authors' notebook uses 100) for truncation."""
        g = torch.Generator().manual_seed(int(seed))
        p = self.emb.input
        z = torch.randn(n, self.style_dim, generator=g).to(p.dtype)
        return self.mapping(z.to(p.device)).mean(0)

    def embedding(self, coords):
        """E at the coordinates: the stored tensor in training at the native size, otherwise
        bilinear grid_sample (padding border, align_corners False), as in the original."""
        b, _, h, w_ = coords.shape
        if self.training and h == w_ == self.size:
            return self.emb.input.expand(b, -1, -1, -1)
        return F.grid_sample(self.emb.input.expand(b, -1, -1, -1),
                             coords.permute(0, 2, 3, 1).contiguous(), mode="bilinear",
                             padding_mode="border", align_corners=False)

    def _noises(self, noise, b, h, w_, like):
        n = self.num_noise_layers
        if noise is None:
            return [None] * n
        if isinstance(noise, str):
            if noise != "zero":
                raise ValueError("noise must be None, 'zero', a seed, a Generator or a list")
            return [like.new_zeros(1, 1, h, w_)] * n
        if isinstance(noise, int) and not isinstance(noise, bool):
            noise = torch.Generator().manual_seed(noise)
        if isinstance(noise, torch.Generator):
            return [torch.randn(b, 1, h, w_, generator=noise).to(like) for _ in range(n)]
        noise = list(noise)
        if len(noise) != n:
            raise ValueError("noise list needs %d entries" % n)
        return [None if t is None else t.to(like) for t in noise]

    def forward(self, latent, input_is_latent=False, noise=None, psi=1.0, w_avg=None,
                coords=None, coords_size=None, truncation_mode="w", return_w=False):
        if isinstance(latent, (list, tuple)):
            latent = latent[0]                       # the original takes [latent]
        p = self.emb.input
        latent = latent.to(device=p.device, dtype=p.dtype)
        if psi != 1 and w_avg is None:
            raise ValueError("psi != 1 needs w_avg (see mean_w)")
        if truncation_mode not in ("w", "original"):
            raise ValueError("truncation_mode must be 'w' or 'original'")
        if truncation_mode == "original" and psi != 1:
            latent = w_avg + psi * (latent - w_avg)
        w = latent if input_is_latent else self.mapping(latent)
        if truncation_mode == "w" and psi != 1:
            w = w_avg.to(w) + psi * (w - w_avg.to(w))
        b = w.shape[0]
        if coords is None:
            n = int(coords_size or self.coords_size)
            coords = make_coords(b, n, n, device=w.device, dtype=w.dtype)
        coords = coords.to(w)
        _, _, h, w_ = coords.shape
        noises = self._noises(noise, b, h, w_, w)
        x = torch.cat([self.lff(coords), self.embedding(coords)], 1)
        rgb = self._synthesis(x, w, noises)
        return (rgb, w) if return_w else rgb


class CIPSskip(_CIPS):
    """conv1, then pairs linears[2i], linears[2i+1] with rgb += to_rgbs[i](x) after each."""

    def __init__(self, size=256, hidden_size=512, n_mlp=8, style_dim=512, lr_mlp=0.01,
                 activation=None, channel_multiplier=2, channels=None, coords_size=None,
                 device=None, **kwargs):
        super().__init__()
        self._common(size, hidden_size, n_mlp, style_dim, lr_mlp, activation, channel_multiplier,
                     channels, coords_size, device, res=False)
        in_ch = self.channels[0]
        self.conv1 = StyledConv(2 * hidden_size, in_ch, style_dim, device=device)
        self.linears = nn.ModuleList()
        self.to_rgbs = nn.ModuleList()
        for out_ch in self.channels:
            self.linears.append(StyledConv(in_ch, out_ch, style_dim, device=device))
            self.linears.append(StyledConv(out_ch, out_ch, style_dim, device=device))
            self.to_rgbs.append(ToRGB(out_ch, style_dim, device=device))
            in_ch = out_ch
        self._mapping_net(device)

    def _synthesis(self, x, w, noises):
        x = self.conv1(x, w, noises[0])
        rgb = None
        for i, to_rgb in enumerate(self.to_rgbs):
            x = self.linears[2 * i](x, w, noises[1 + 2 * i])
            x = self.linears[2 * i + 1](x, w, noises[2 + 2 * i])
            rgb = to_rgb(x, w, rgb)
        return rgb


class CIPSres(_CIPS):
    """The landscapes model: linears[0] (StyledConv), then log2(size)-1 StyledResBlocks
    linears[1..], then one to_rgb_last. Noise layers in call order: linears.0, then conv1 and
    conv2 of each block."""

    def __init__(self, size=256, hidden_size=512, n_mlp=8, style_dim=512, lr_mlp=0.01,
                 activation=None, channel_multiplier=2, channels=None, coords_size=None,
                 device=None, **kwargs):
        super().__init__()
        self._common(size, hidden_size, n_mlp, style_dim, lr_mlp, activation, channel_multiplier,
                     channels, coords_size, device, res=True)
        in_ch = self.channels[0]
        self.linears = nn.ModuleList([StyledConv(2 * hidden_size, in_ch, style_dim,
                                                 device=device)])
        for out_ch in self.channels:
            self.linears.append(StyledResBlock(in_ch, out_ch, style_dim, device=device))
            in_ch = out_ch
        self.to_rgb_last = ToRGB(in_ch, style_dim, device=device)
        self._mapping_net(device)

    def _synthesis(self, x, w, noises):
        x = self.linears[0](x, w, noises[0])
        for k, block in enumerate(self.linears[1:]):
            x = block(x, w, noises[1 + 2 * k], noises[2 + 2 * k])
        return self.to_rgb_last(x, w)


ARCHS = {"CIPSskip": CIPSskip, "CIPSres": CIPSres}


def from_config(cfg, device=None):
    """The generator a model-file config describes (weights uninitialised: load them)."""
    return ARCHS[validate_config(cfg)["arch"]](device=device, **kwargs_from_config(cfg))


# ---- config, shapes, counts ------------------------------------------------------------------

def small_kwargs(size=16, hidden=32, style_dim=32, n_mlp=2, channels=None):
    """Keyword arguments of a tiny CIPSskip for tests (channels default: 32, 32, 16, ...)."""
    n = _n_pairs(size)
    if channels is None:
        channels = [max(8, 32 >> max(0, i - 1)) for i in range(n)]
    return dict(size=size, hidden_size=hidden, style_dim=style_dim, n_mlp=n_mlp,
                channels=channels)


def cips_config(G=None, provenance=None, arch="CIPSskip", **kwargs):
    """The model-file config (JSON-able dict) of G or of CIPSskip(**kwargs). Schema: docs/cips.md."""
    if G is None:
        G = ARCHS[arch](device="meta", **kwargs)
    cfg = collections.OrderedDict([
        ("format_version", CONFIG_VERSION),
        ("family", "cips"),
        ("arch", type(G).__name__),
        ("size", G.size),
        ("coords_size", G.coords_size),
        ("hidden_size", G.hidden_size),
        ("style_dim", G.style_dim),
        ("n_mlp", G.n_mlp),
        ("lr_mlp", G.lr_mlp),
        ("channels", list(G.channels)),
        ("emb_size", G.size),
        ("coords", "linspace_y_down"),
        ("emb_sampling", "bilinear_border_align_corners_false"),
        ("noise", "random"),
        ("truncation_psi", 1.0),
        ("has_w_avg", False),
    ])
    if provenance is not None:
        cfg["provenance"] = {str(k): str(v) for k, v in provenance.items()}
    validate_config(cfg)
    return dict(cfg)


_KEYS = {"format_version", "family", "arch", "size", "coords_size", "hidden_size", "style_dim",
         "n_mlp", "lr_mlp", "channels", "emb_size", "coords", "emb_sampling", "noise",
         "truncation_psi", "has_w_avg", "provenance"}


def _int(cfg, k, lo, hi):
    v = cfg.get(k)
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise ValueError("cips config: %s must be an integer in %d..%d (got %r)" % (k, lo, hi, v))
    return v


def validate_config(cfg):
    if not isinstance(cfg, dict):
        raise ValueError("cips config: not an object")
    extra = set(cfg) - _KEYS
    if extra:
        raise ValueError("cips config: unknown field %s" % sorted(extra)[0])
    if cfg.get("family") != "cips":
        raise ValueError("cips config: family must be \"cips\" (got %r)" % (cfg.get("family"),))
    if cfg.get("format_version") != CONFIG_VERSION:
        raise ValueError("cips config: unsupported format_version %r" % (cfg.get("format_version"),))
    if cfg.get("arch") not in ARCHS:
        raise ValueError("cips config: arch must be \"CIPSskip\" or \"CIPSres\" (got %r)"
                         % (cfg.get("arch"),))
    size = _int(cfg, "size", 4, 4096)
    n = _n_pairs(size)
    _int(cfg, "coords_size", 2, 16384)
    _int(cfg, "hidden_size", 1, 8192)
    _int(cfg, "style_dim", 1, 8192)
    _int(cfg, "n_mlp", 0, 32)
    if _int(cfg, "emb_size", 1, 4096) != size:
        raise ValueError("cips config: emb_size must equal size")
    lr = cfg.get("lr_mlp")
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not (lr > 0 and lr < 1e6):
        raise ValueError("cips config: lr_mlp must be a positive number")
    ch = cfg.get("channels")
    if (not isinstance(ch, list) or len(ch) != n
            or any(isinstance(c, bool) or not isinstance(c, int) or not 1 <= c <= 8192
                   for c in ch)):
        raise ValueError("cips config: channels must be %d integers in 1..8192" % n)
    for k, allowed in (("coords", ("linspace_y_down",)),
                       ("emb_sampling", ("bilinear_border_align_corners_false",)),
                       ("noise", ("random", "zero"))):
        if cfg.get(k) not in allowed:
            raise ValueError("cips config: %s must be one of %s (got %r)" % (k, allowed, cfg.get(k)))
    psi = cfg.get("truncation_psi")
    if isinstance(psi, bool) or not isinstance(psi, (int, float)) or not math.isfinite(psi):
        raise ValueError("cips config: truncation_psi must be a finite number")
    if not isinstance(cfg.get("has_w_avg"), bool):
        raise ValueError("cips config: has_w_avg must be a bool")
    prov = cfg.get("provenance", {})
    if not isinstance(prov, dict) or not all(isinstance(v, str) for v in prov.values()):
        raise ValueError("cips config: provenance must be an object of strings")
    return cfg


def kwargs_from_config(cfg):
    validate_config(cfg)
    return dict(size=cfg["size"], hidden_size=cfg["hidden_size"], n_mlp=cfg["n_mlp"],
                style_dim=cfg["style_dim"], lr_mlp=cfg["lr_mlp"], channels=cfg["channels"],
                coords_size=cfg["coords_size"])


def expected_shapes(cfg):
    """OrderedDict tensor name -> shape (state_dict order of the original module), computed from
    the config alone (plus "w_avg" [style_dim] when cfg["has_w_avg"])."""
    validate_config(cfg)
    S, H, E = cfg["style_dim"], cfg["hidden_size"], cfg["size"]
    out = collections.OrderedDict()
    out["lff.ffm.conv.weight"] = (H, 2, 1, 1)
    out["lff.ffm.conv.bias"] = (H,)
    out["emb.input"] = (1, H, E, E)

    def styled(prefix, cin, cout):
        out[prefix + ".conv.weight"] = (1, cout, cin, 1, 1)
        out[prefix + ".conv.modulation.weight"] = (cin, S)
        out[prefix + ".conv.modulation.bias"] = (cin,)
        out[prefix + ".noise.weight"] = (1,)
        out[prefix + ".activate.bias"] = (cout,)

    def to_rgb(prefix, c):
        out[prefix + ".bias"] = (1, 3, 1, 1)           # own parameter: before the child's
        out[prefix + ".conv.weight"] = (1, 3, c, 1, 1)
        out[prefix + ".conv.modulation.weight"] = (c, S)
        out[prefix + ".conv.modulation.bias"] = (c,)

    ch = cfg["channels"]
    cin = ch[0]
    if cfg["arch"] == "CIPSres":
        styled("linears.0", 2 * H, ch[0])
        for k, c in enumerate(ch):
            styled("linears.%d.conv1" % (k + 1), cin, c)
            styled("linears.%d.conv2" % (k + 1), c, c)
            if cin != c:
                out["linears.%d.skip.0.weight" % (k + 1)] = (c, cin, 1, 1)
            cin = c
        to_rgb("to_rgb_last", cin)
    else:
        styled("conv1", 2 * H, ch[0])
        for i, c in enumerate(ch):
            styled("linears.%d" % (2 * i), cin, c)
            styled("linears.%d" % (2 * i + 1), c, c)
            cin = c
        for i, c in enumerate(ch):
            to_rgb("to_rgbs.%d" % i, c)
    for k in range(1, cfg["n_mlp"] + 1):
        out["style.%d.weight" % k] = (S, S)
        out["style.%d.bias" % k] = (S,)
    if cfg["has_w_avg"]:
        out["w_avg"] = (S,)
    return out


def param_count(cfg_or_G):
    """Number of generator parameters (w_avg excluded)."""
    if isinstance(cfg_or_G, nn.Module):
        return sum(p.numel() for p in cfg_or_G.parameters())
    return sum(math.prod(s) for k, s in expected_shapes(cfg_or_G).items() if k != "w_avg")


def macs_per_pixel(cfg):
    """Multiply-accumulates per output pixel of the synthesis (modulation/mapping excluded):
    LFF 2*hidden + the first layer + the 2*len(channels) ModFC layers + the ToRGBs (CIPSskip:
    one per pair; CIPSres: the final one, plus the 1x1 skips where the width changes)."""
    validate_config(cfg)
    H, ch = cfg["hidden_size"], cfg["channels"]
    res = cfg["arch"] == "CIPSres"
    m = 2 * H + 2 * H * ch[0]
    cin = ch[0]
    for c in ch:
        m += cin * c + c * c + (0 if res else 3 * c) + (cin * c if res and cin != c else 0)
        cin = c
    return m + (3 * cin if res else 0)


def config_json(cfg):
    return json.dumps(validate_config(cfg), sort_keys=False, separators=(",", ":"))


def view_coords(view, width, height, native, batch=1, dtype=torch.float32):
    """CIPS coordinates [B, 2, H, W] of an engine view (docs/coordinates.md; docs/cips.md).

    Engine plane (y up): x_j = x0 + (x1-x0) j/W, y_i = y1 - (y1-y0)(i+1)/H. Mapped so that the
    engine's native view (-1,-1,1,1) at the native size n is exactly the CIPS linspace grid:
        x' = (x + 1) n/(n-1) - 1,   y' = (1 - y) n/(n-1) - (n+1)/(n-1)   (y' grows down).
    Computed in float64, then cast."""
    x0, y0, x1, y1 = (float(v) for v in view)
    n = float(native)
    j = torch.arange(width, dtype=torch.float64)
    i = torch.arange(height, dtype=torch.float64)
    x = x0 + (x1 - x0) * j / width
    y = y1 - (y1 - y0) * (i + 1) / height
    xc = (x + 1) * n / (n - 1) - 1
    yc = (1 - y) * n / (n - 1) - (n + 1) / (n - 1)
    xs = xc.view(1, 1, 1, width).expand(batch, 1, height, width)
    ys = yc.view(1, 1, height, 1).expand(batch, 1, height, width)
    return torch.cat([xs, ys], 1).to(dtype)


# ---- the engine's seeded noise (src/noise.h), for parity with the C and Vulkan backends -------

def _mix32(x):
    import numpy as np
    x = x.astype(np.uint32)
    x ^= x >> np.uint32(16)
    x *= np.uint32(0x85EBCA6B)
    x ^= x >> np.uint32(13)
    x *= np.uint32(0xC2B2AE35)
    x ^= x >> np.uint32(16)
    return x


def engine_noise(seed, layer, rows, cols):
    """n(seed, layer, row, col) of src/noise.h on the grid rows x cols (global pixel indices of
    the render): the sum of twelve 16-bit uniforms (u + 1/2)/65536 minus 6, float32 [H, W]."""
    import numpy as np
    with np.errstate(over="ignore"):
        r = np.asarray(rows, dtype=np.uint32).reshape(-1, 1)
        c = np.asarray(cols, dtype=np.uint32).reshape(1, -1)
        h = _mix32(_mix32(_mix32(_mix32(np.array([seed], np.uint32)) + np.uint32(layer)) + r) + c)
        total = np.zeros(h.shape, np.int64)
        for k in range(6):
            v = _mix32(h + np.uint32((k * 0x9E3779B9) & 0xFFFFFFFF))
            total += (v & np.uint32(0xFFFF)).astype(np.int64) + (v >> np.uint32(16)).astype(np.int64)
    return ((total + 6 - 6 * 65536).astype(np.float32) * np.float32(1.0 / 65536.0))


def engine_noises(G, seeds, rows, cols):
    """The per-layer noise list for G.forward(noise=...) that reproduces the engine's seeded
    noise for images with noise seeds `seeds` (one per image) on the given global rows/cols."""
    import numpy as np
    out = []
    for layer in range(G.num_noise_layers):
        n = np.stack([engine_noise(s, layer, rows, cols) for s in seeds])[:, None]
        out.append(torch.from_numpy(n))
    return out


def save_model(G, path, w_avg=None, psi=1.0, noise="random", fp16=False, provenance=None):
    """Writes G as an engine model file (family "cips"; docs/cips.md): the state dict in the
    released names, F32 (or F16 with fp16=True; w_avg stays F32), the config under
    __metadata__["inrgan"]."""
    import numpy as np
    from . import safetensors_io
    cfg = cips_config(G, provenance)
    cfg["truncation_psi"] = float(psi)
    cfg["noise"] = noise
    dt = np.float16 if fp16 else np.float32
    tensors = {k: v.detach().cpu().numpy().astype(dt) for k, v in G.state_dict().items()}
    if w_avg is not None:
        cfg["has_w_avg"] = True
        tensors["w_avg"] = np.asarray(w_avg.detach().cpu().numpy(), np.float32)
    validate_config(cfg)
    safetensors_io.save(path, tensors, {"inrgan": json.dumps(cfg, separators=(",", ":"))},
                        align=not fp16)
    return cfg
