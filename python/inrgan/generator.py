"""PyTorch INR-GAN generator whose module tree and state_dict names match the official G_ema.

    G = Generator(cfg)                     # cfg from inrgan.config (validated)
    img = G(z, psi=0.7)                    # [B, 3, res, res]
    img, blocks = G(z, psi, return_blocks=True)   # blocks: name -> (x, rgb) after each block

Math: reference §1.2-§1.12 (mapping with equalized LR, truncation, FMM layers
rownorm(W_s * (1 + L R / sqrt(r))), instance norm for -bil, modulated ToRGB, skip architecture,
coordinate embeddings cat(sin(Phi p), cos(Phi p), const)). Initialisation: reference §3.4.
Works in float32 and float64 (G.double()), on CPU, and can be built on the meta device
(Generator(cfg, device="meta")) to count parameters without allocating.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import config as config_mod

__all__ = ["Generator", "MappingNetwork", "SynthesisNetwork", "SynthesisBlock",
           "SynthesisLayer", "ToRGBLayer", "FullyConnectedLayer", "CoordFuser",
           "coordinate_grid", "log_basis_rows", "resample_filter_value", "param_count",
           "randomize_biases", "SQRT2"]

SQRT2 = math.sqrt(2.0)


def resample_filter_value():
    """The official (unused) 4x4 resample filter: outer([1,3,3,1]) / 64."""
    f = torch.tensor([1.0, 3.0, 3.0, 1.0])
    return torch.outer(f, f) / 64.0


def log_basis_rows(log_freqs, diagonal):
    """Closed-form logarithmic basis (reference §1.8) as a list of (a_x, a_y) rows, in float64:
    horizontal (0, pi/2 2^k) for k < K, vertical (pi/2 2^k, 0), then if diagonal the main
    diagonal (-pi/4 2^k, pi/4 2^k) and the anti-diagonal (pi/4 2^k, pi/4 2^k)."""
    rows = [(0.0, math.pi / 2 * 2.0 ** k) for k in range(log_freqs)]
    rows += [(math.pi / 2 * 2.0 ** k, 0.0) for k in range(log_freqs)]
    if diagonal:
        rows += [(-math.pi / 4 * 2.0 ** k, math.pi / 4 * 2.0 ** k) for k in range(log_freqs)]
        rows += [(math.pi / 4 * 2.0 ** k, math.pi / 4 * 2.0 ** k) for k in range(log_freqs)]
    return rows


def coordinate_grid(n, dtype=torch.float32, device=None):
    """(x, y), each [n, n], of an n x n level (reference §1.7): t_k = 2k/n - 1;
    x = t_j at column j, y = t_{n-1-i} at row i (y points up)."""
    t = torch.arange(n, dtype=torch.float64) * 2.0 / n - 1.0
    x = t.view(1, n).expand(n, n)
    y = t.flip(0).view(n, 1).expand(n, n)
    return x.to(dtype=dtype, device=device), y.to(dtype=dtype, device=device)


def _param(shape, device, fill=None, scale=1.0):
    if fill is None:
        t = torch.randn(shape, device=device)
        if scale != 1.0:
            t = t * scale
    else:
        t = torch.full(shape, float(fill), device=device)
    return nn.Parameter(t)


class FullyConnectedLayer(nn.Module):
    """Equalized-LR linear layer: y = x (V lr / sqrt(in))^T + c lr; stored V ~ randn / lr,
    stored c = bias_init (as the official FullyConnectedLayer)."""

    def __init__(self, in_features, out_features, lr_multiplier=1.0, bias_init=0.0,
                 activation="linear", device=None):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.activation = activation
        self.lr_multiplier = lr_multiplier
        self.weight = _param([out_features, in_features], device, scale=1.0 / lr_multiplier)
        self.bias = _param([out_features], device, fill=float(bias_init))
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x):
        y = x @ (self.weight * self.weight_gain).t() + self.bias * self.bias_gain
        if self.activation == "lrelu":
            y = F.leaky_relu(y, 0.2) * SQRT2
        return y


class MappingNetwork(nn.Module):
    """z -> w: normalize 2nd moment, num_layers x FC(lrelu, lr 0.01); w_avg buffer."""

    def __init__(self, z_dim, w_dim, num_layers, lr_multiplier, device=None):
        super().__init__()
        self.z_dim, self.w_dim, self.num_layers = z_dim, w_dim, num_layers
        for i in range(num_layers):
            layer = FullyConnectedLayer(z_dim if i == 0 else w_dim, w_dim,
                                        lr_multiplier=lr_multiplier, activation="lrelu",
                                        device=device)
            setattr(self, "fc%d" % i, layer)
        self.register_buffer("w_avg", torch.zeros([w_dim], device=device))

    def forward(self, z, psi=1.0):
        x = z * torch.rsqrt(z.square().mean(dim=1, keepdim=True) + 1e-8)
        for i in range(self.num_layers):
            x = getattr(self, "fc%d" % i)(x)
        if psi != 1:
            x = self.w_avg + psi * (x - self.w_avg)
        return x


class SynthesisLayer(nn.Module):
    """FMM layer (reference §1.4): W = rownorm(W_s * (1 + L R / sqrt(r))); y = W x per pixel;
    out = lrelu(y + b, 0.2) * sqrt(2). Optional instance norm of the input (-bil models)."""

    def __init__(self, in_channels, out_channels, w_dim, rank, instance_norm=False,
                 resample_filter=False, device=None):
        super().__init__()
        self.in_channels, self.out_channels, self.rank = in_channels, out_channels, rank
        self.instance_norm = instance_norm
        self.weight = _param([out_channels, in_channels, 1, 1], device)
        self.bias = _param([out_channels], device, fill=0.0)
        if resample_filter:
            self.register_buffer("resample_filter", resample_filter_value().to(device))
        self.affine = FullyConnectedLayer(w_dim, (in_channels + out_channels) * rank,
                                          bias_init=0.0, device=device)

    def weights(self, w):
        """Per-image weight matrices [B, C_out, C_in] from w [B, w_dim]."""
        s = self.affine(w)
        co, ci, r = self.out_channels, self.in_channels, self.rank
        left = s[:, :co * r].reshape(-1, co, r)
        right = s[:, co * r:].reshape(-1, r, ci)
        m = torch.bmm(left, right) / math.sqrt(r)
        wt = self.weight.reshape(1, co, ci) * (m + 1.0)
        return wt / (wt.norm(dim=2, keepdim=True) + 1e-8)

    def forward(self, x, w):
        b, c, h, wd = x.shape
        if self.instance_norm:
            x = x / (x.std(dim=(2, 3), keepdim=True, unbiased=True) + 1e-8)
        y = torch.bmm(self.weights(w), x.reshape(b, c, h * wd))
        y = y + self.bias.reshape(1, -1, 1)
        return (F.leaky_relu(y, 0.2) * SQRT2).reshape(b, self.out_channels, h, wd)


class ToRGBLayer(nn.Module):
    """Modulated 1x1 ToRGB without demodulation (reference §1.6)."""

    def __init__(self, in_channels, w_dim, device=None):
        super().__init__()
        self.in_channels = in_channels
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1.0, device=device)
        self.weight = _param([3, in_channels, 1, 1], device)
        self.bias = _param([3], device, fill=0.0)

    def forward(self, x, w):
        b, c, h, wd = x.shape
        s = self.affine(w) / math.sqrt(self.in_channels)          # [B, C]
        wt = self.weight.reshape(1, 3, c) * s.reshape(b, 1, c)     # [B, 3, C]
        y = torch.bmm(wt, x.reshape(b, c, h * wd)) + self.bias.reshape(1, 3, 1)
        return y.reshape(b, 3, h, wd)


class CoordFuser(nn.Module):
    """Fixed coordinate embedding of one level (reference §1.8):
    E = cat(sin(Phi p), cos(Phi p), const_embs), Phi = log_basis rows then random_basis rows."""

    def __init__(self, grid, emb, device=None):
        super().__init__()
        self.grid = grid
        self.n_log = config_mod.n_log_rows(emb)
        self.n_random = emb["random"]
        self.n_const = emb["const"]
        if self.n_const > 0:
            self.const_embs = _param([1, self.n_const, grid, grid], device)
        if self.n_log > 0:
            rows = log_basis_rows(emb["log_freqs"], emb["diagonal"])
            self.register_buffer("log_basis",
                                 torch.tensor(rows, dtype=torch.float32).to(device))
        if self.n_random > 0:
            self.register_buffer("random_basis",
                                 torch.randn([self.n_random, 2], device=device)
                                 * math.sqrt(10.0))
        self.channels = config_mod.embedding_channels(emb)

    def basis(self):
        parts = []
        if self.n_log > 0:
            parts.append(self.log_basis)
        if self.n_random > 0:
            parts.append(self.random_basis)
        return torch.cat(parts, dim=0) if parts else None

    def forward(self, batch):
        """[batch, C_e, grid, grid] in the dtype of the module."""
        n = self.grid
        feats = []
        phi = self.basis()
        if phi is not None:
            x, y = coordinate_grid(n, dtype=phi.dtype, device=phi.device)
            arg = phi[:, 0].reshape(-1, 1, 1) * x + phi[:, 1].reshape(-1, 1, 1) * y
            feats += [torch.sin(arg), torch.cos(arg)]
        if self.n_const > 0:
            feats.append(self.const_embs[0])
        e = torch.cat(feats, dim=0)
        return e.unsqueeze(0).expand(batch, -1, -1, -1)


class _Wrapper(nn.Module):
    """Holds a child under a fixed name (for the official b4.input.input.coord_fuser path)."""

    def __init__(self, name, child):
        super().__init__()
        setattr(self, name, child)


class SynthesisBlock(nn.Module):
    """One block: [up2 + concat embedding] conv0, [IN] conv1, [IN] extra convs, ToRGB."""

    def __init__(self, block_cfg, prev_channels, prev_grid, cfg, resample_filter=False,
                 device=None):
        super().__init__()
        self.name = block_cfg["name"]
        self.grid = block_cfg["grid"]
        self.channels = block_cfg["channels"]
        self.is_first = prev_grid is None
        self.upsamples = (not self.is_first) and self.grid == 2 * prev_grid
        self.upsampling = cfg["upsampling"]
        inorm = cfg["instance_norm"]
        w_dim, rank = cfg["w_dim"], cfg["rank"]
        if resample_filter:
            self.register_buffer("resample_filter", resample_filter_value().to(device))
        fuser = None
        if "embedding" in block_cfg:
            fuser = CoordFuser(self.grid, block_cfg["embedding"], device=device)
        c_e = fuser.channels if fuser is not None else 0
        if self.is_first:
            # official path: synthesis.b4.input.input.coord_fuser
            self.input = _Wrapper("input", _Wrapper("coord_fuser", fuser))
            self.conv1 = SynthesisLayer(c_e, self.channels, w_dim, rank, instance_norm=False,
                                        resample_filter=resample_filter, device=device)
        else:
            if fuser is not None:
                self.coord_fuser = fuser
            self.conv0 = SynthesisLayer(prev_channels + c_e, self.channels, w_dim, rank,
                                        instance_norm=False, resample_filter=resample_filter,
                                        device=device)
            self.conv1 = SynthesisLayer(self.channels, self.channels, w_dim, rank,
                                        instance_norm=inorm, resample_filter=resample_filter,
                                        device=device)
        if block_cfg["extra_convs"] > 0:
            self.extra_convs = nn.ModuleList([
                SynthesisLayer(self.channels, self.channels, w_dim, rank, instance_norm=inorm,
                               resample_filter=resample_filter, device=device)
                for _ in range(block_cfg["extra_convs"])])
        else:
            self.extra_convs = None
        self.torgb = ToRGBLayer(self.channels, w_dim, device=device)

    def fuser(self):
        if self.is_first:
            return self.input.input.coord_fuser
        return getattr(self, "coord_fuser", None)

    def _up2(self, t):
        n = t.shape[-1]
        if self.upsampling == "nearest":
            return F.interpolate(t, size=(2 * n, 2 * n), mode="nearest")
        return F.interpolate(t, size=(2 * n, 2 * n), mode="bilinear", align_corners=True)

    def forward(self, x, rgb, w):
        batch = w.shape[0]
        fuser = self.fuser()
        if self.is_first:
            x = self.conv1(fuser(batch), w)
        else:
            if self.upsamples:
                x = self._up2(x)
            if fuser is not None:
                x = torch.cat([x, fuser(batch).to(x.dtype)], dim=1)
            x = self.conv0(x, w)
            x = self.conv1(x, w)
        if self.extra_convs is not None:
            for layer in self.extra_convs:
                x = layer(x, w)
        y = self.torgb(x, w)
        if rgb is None:
            rgb = y
        elif self.upsamples:
            rgb = self._up2(rgb) + y
        else:
            rgb = rgb + y
        return x, rgb


class SynthesisNetwork(nn.Module):
    def __init__(self, cfg, resample_filter=False, device=None):
        super().__init__()
        self.block_names = []
        prev_c, prev_grid = None, None
        for b in cfg["blocks"]:
            block = SynthesisBlock(b, prev_c, prev_grid, cfg, resample_filter=resample_filter,
                                   device=device)
            setattr(self, b["name"], block)
            self.block_names.append(b["name"])
            prev_c, prev_grid = b["channels"], b["grid"]

    def forward(self, w, return_blocks=False):
        x = rgb = None
        blocks = {}
        for name in self.block_names:
            x, rgb = getattr(self, name)(x, rgb, w)
            if return_blocks:
                blocks[name] = (x, rgb)
        return (rgb, blocks) if return_blocks else rgb


class Generator(nn.Module):
    """INR-GAN generator (official G_ema names; synthesis registered before mapping).

    resample_filter=True also registers the unused official 4x4 resample_filter buffers, so a
    state_dict with them loads strictly."""

    def __init__(self, cfg, resample_filter=False, device=None):
        super().__init__()
        config_mod.validate(cfg)
        self.cfg = cfg
        self.z_dim, self.w_dim = cfg["z_dim"], cfg["w_dim"]
        self.synthesis = SynthesisNetwork(cfg, resample_filter=resample_filter, device=device)
        self.mapping = MappingNetwork(cfg["z_dim"], cfg["w_dim"], cfg["mapping"]["num_layers"],
                                      cfg["mapping"]["lr_multiplier"], device=device)

    def forward(self, z, psi=1.0, return_blocks=False):
        """z [B, z_dim] -> image [B, 3, res, res]; with return_blocks also
        {block name: (x [B,C,H,W], rgb [B,3,H,W])}."""
        dtype = self.mapping.w_avg.dtype
        z = torch.as_tensor(z).to(dtype)
        if z.dim() != 2 or z.shape[1] != self.z_dim:
            raise ValueError("z must be [B, %d] (got %s)" % (self.z_dim, list(z.shape)))
        w = self.mapping(z, psi=psi)
        return self.synthesis(w, return_blocks=return_blocks)


def param_count(module):
    """Number of trainable parameters (buffers excluded), cf. docs/cli.md."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


@torch.no_grad()
def randomize_biases(G, scale=0.5):
    """Replaces the zero/one-initialised tensors (FMM and ToRGB biases, affine biases,
    mapping biases, w_avg) by random values of about `scale` at runtime, so tests exercise
    them. Uses torch's global RNG."""
    for name, p in G.named_parameters():
        if not name.endswith("bias"):
            continue
        if name.startswith("mapping."):
            lr = G.cfg["mapping"]["lr_multiplier"]
            p.copy_(torch.randn_like(p) * scale / lr)   # runtime bias = stored * lr
        elif name.endswith("torgb.affine.bias"):
            p.copy_(1.0 + torch.randn_like(p) * scale)
        else:
            p.copy_(torch.randn_like(p) * scale)
    G.mapping.w_avg.copy_(torch.randn_like(G.mapping.w_avg) * scale)
    return G
