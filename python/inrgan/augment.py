"""Differentiable augmentation for GAN training on small data sets (in the spirit of
DiffAugment / ADA: the same random transforms are applied to real and generated images before
the discriminator, and gradients flow through them to G).

    x = augment(x, p=0.5, policy="color,translation,cutout")

Each transform is applied to each image independently with probability p; x is [B, 3, H, W]
in [-1, 1]. Transforms:
  color        brightness (+U(-0.5, 0.5)), saturation (x U(0, 2) around the per-pixel gray),
               contrast (x U(0.5, 1.5) around the per-image mean)
  translation  integer shift by up to 1/8 of the size in x and y, uncovered pixels filled
               with white (+1: the data sets here have white backgrounds)
  cutout       one square of half the size at a random position set to 0 (mid gray)
Uses torch's global RNG (saved in the trainer's checkpoints).
"""

import torch

__all__ = ["augment", "POLICIES"]

POLICIES = ("color", "translation", "cutout")


def _mask(b, p, device):
    return (torch.rand(b, 1, 1, 1, device=device) < p).float()


def _color(x, p):
    b = x.shape[0]
    dev = x.device
    m = _mask(b, p, dev)
    x = x + m * (torch.rand(b, 1, 1, 1, device=dev) - 0.5)
    gray = x.mean(dim=1, keepdim=True)
    s = 1.0 + m * (torch.rand(b, 1, 1, 1, device=dev) * 2.0 - 1.0)
    x = gray + (x - gray) * s
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    c = 1.0 + m * (torch.rand(b, 1, 1, 1, device=dev) - 0.5)
    return mean + (x - mean) * c


def _translation(x, p, ratio=0.125):
    b, _, h, w = x.shape
    dev = x.device
    m = (torch.rand(b, device=dev) < p).long()
    sh, sw = max(1, int(h * ratio + 0.5)), max(1, int(w * ratio + 0.5))
    ty = torch.randint(-sh, sh + 1, (b,), device=dev) * m
    tx = torch.randint(-sw, sw + 1, (b,), device=dev) * m
    # gather with a white border: pad, then index the shifted window of every image
    xp = torch.nn.functional.pad(x, (sw, sw, sh, sh), value=1.0)
    iy = torch.arange(h, device=dev).view(1, h, 1) + sh - ty.view(b, 1, 1)
    ix = torch.arange(w, device=dev).view(1, 1, w) + sw - tx.view(b, 1, 1)
    bi = torch.arange(b, device=dev).view(b, 1, 1)
    out = xp.permute(0, 2, 3, 1)[bi, iy, ix]             # [B, H, W, C]
    return out.permute(0, 3, 1, 2)


def _cutout(x, p, ratio=0.5):
    b, _, h, w = x.shape
    dev = x.device
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = torch.randint(0, h + (1 - ch % 2), (b, 1, 1), device=dev)
    cx = torch.randint(0, w + (1 - cw % 2), (b, 1, 1), device=dev)
    yy = torch.arange(h, device=dev).view(1, h, 1)
    xx = torch.arange(w, device=dev).view(1, 1, w)
    inside = ((yy - cy).abs() <= ch // 2) & ((xx - cx).abs() <= cw // 2)
    on = torch.rand(b, 1, 1, device=dev) < p
    keep = (~(inside & on)).unsqueeze(1).to(x.dtype)
    return x * keep


def augment(x, p=0.5, policy="color,translation,cutout"):
    if p <= 0 or not policy:
        return x
    for name in [s.strip() for s in policy.split(",") if s.strip()]:
        if name == "color":
            x = _color(x, p)
        elif name == "translation":
            x = _translation(x, p)
        elif name == "cutout":
            x = _cutout(x, p)
        else:
            raise ValueError("unknown augmentation %r (known: %s)" % (name, ", ".join(POLICIES)))
    return x
