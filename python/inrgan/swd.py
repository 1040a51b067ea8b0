"""Sliced Wasserstein distance between two image sets on Laplacian-pyramid patches, after the
multi-scale statistical similarity metric of Karras et al. 2018 ("Progressive Growing of GANs",
section 5).

    d = swd(images_a, images_b)       # uint8 or float [N, 3, R, R] tensors/arrays
    d["levels"] -> {resolution: SWD x 1e3}, d["mean"] -> their average (x 1e3)

Recipe (own implementation of the published description):
  * Laplacian pyramid of each image, from R down to 16x16 (5-tap binomial blur, 2x decimation;
    the band-pass levels are image - upsample(downsample(image)); the coarsest level is the
    16x16 low-pass image itself). Pixels are scaled to [-1, 1] first.
  * From every level, `patches` random 7x7x3 neighbourhoods per image (147-D descriptors).
  * Each descriptor set is normalised per channel (mean/std over its patches and pixels).
  * SWD between the two descriptor sets of a level: `directions` random unit vectors in 147-D
    (drawn in `repeats` batches), project both sets, sort, mean absolute difference of the
    sorted projections, averaged over directions; reported x 1e3.
Both sets must have the same number of images. Deterministic for a given `seed`.
device (default "cpu"): where the pyramids, patches and projections are computed. The random
patch positions and directions always come from CPU generators, so every device measures the
same patches along the same directions; on the CPU the projections are float32 and sorted by
numpy (the numbers in docs/training.md), elsewhere they are float64 and sorted by torch (no
TF32; equal to the CPU path within about 1e-5 relative, tested on the CPU with sort="torch").
On a GPU this takes seconds where the CPU path takes about a minute at 128x128 with 1,024
images per set (79 s measured on 2 busy cores; the numpy sort is single-threaded).
The distance between two disjoint halves of the real data is the floor a perfect generator
would reach with the same sample size ("real-vs-real").
"""

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["swd", "laplacian_pyramid", "patch_descriptors"]

_K5 = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0


def _blur(x):
    """Separable 5-tap binomial blur with reflected borders."""
    b, c, h, w = x.shape
    k = _K5.to(x.dtype).to(x.device)
    y = F.pad(x.reshape(b * c, 1, h, w), (2, 2, 2, 2), mode="reflect")
    y = F.conv2d(y, k.reshape(1, 1, 1, 5))
    y = F.conv2d(y, k.reshape(1, 1, 5, 1))
    return y.reshape(b, c, h, w)


def _down(x):
    return _blur(x)[:, :, ::2, ::2]


def _up(x):
    b, c, h, w = x.shape
    y = torch.zeros(b, c, h * 2, w * 2, dtype=x.dtype, device=x.device)
    y[:, :, ::2, ::2] = x
    return _blur(y) * 4.0


def laplacian_pyramid(x, min_res=16):
    """List of band-pass images from full resolution down to min_res (the last one is the
    low-pass image at min_res)."""
    levels = []
    while x.shape[-1] > min_res:
        d = _down(x)
        levels.append(x - _up(d))
        x = d
    levels.append(x)
    return levels


def _as_float(images):
    t = torch.as_tensor(np.asarray(images)) if not torch.is_tensor(images) else images
    if t.dim() == 4 and t.shape[1] != 3 and t.shape[-1] == 3:
        t = t.permute(0, 3, 1, 2)
    if t.dtype == torch.uint8:
        return t.float() / 127.5 - 1.0
    return t.float()


def patch_descriptors(level, patches, gen, patch=7):
    """[N * patches, 3 * patch * patch] random patches of a [N, 3, H, W] level."""
    n, c, h, w = level.shape
    r = patch // 2
    ys = torch.randint(r, h - r, (n, patches), generator=gen).to(level.device)
    xs = torch.randint(r, w - r, (n, patches), generator=gen).to(level.device)
    off = torch.arange(-r, r + 1, device=level.device)
    iy = (ys.view(n, patches, 1, 1) + off.view(1, 1, patch, 1)).expand(n, patches, patch, patch)
    ix = (xs.view(n, patches, 1, 1) + off.view(1, 1, 1, patch)).expand(n, patches, patch, patch)
    bi = torch.arange(n, device=level.device).view(n, 1, 1, 1).expand_as(iy)
    lv = level.permute(0, 2, 3, 1)                           # [N, H, W, C]
    d = lv[bi, iy, ix]                                       # [N, P, patch, patch, C]
    return d.permute(0, 1, 4, 2, 3).reshape(n * patches, c * patch * patch)


def _normalize(desc, c=3):
    d = desc.reshape(desc.shape[0], c, -1)
    mean = d.mean(dim=(0, 2), keepdim=True)
    std = d.std(dim=(0, 2), keepdim=True)
    return ((d - mean) / (std + 1e-8)).reshape(desc.shape[0], -1)


def _sliced(a, b, directions, repeats, gen, sort=None):
    """sort: "numpy" (float32 projections; the CPU default) or "torch" (float64 projections on
    the descriptors' device; the default elsewhere)."""
    total = 0.0
    per = max(1, directions // repeats)
    if sort is None:
        sort = "numpy" if a.device.type == "cpu" else "torch"
    for _ in range(repeats):
        dirs = torch.randn(a.shape[1], per, generator=gen, dtype=torch.float64).float()
        dirs = dirs / dirs.norm(dim=0, keepdim=True)
        if sort == "numpy":
            pa = np.sort((a.cpu() @ dirs).t().contiguous().numpy(), axis=1)
            pb = np.sort((b.cpu() @ dirs).t().contiguous().numpy(), axis=1)
            total += float(np.abs(pa - pb).mean())
        else:
            d = dirs.to(device=a.device, dtype=torch.float64)
            pa = torch.sort(a.double() @ d, dim=0).values
            pb = torch.sort(b.double() @ d, dim=0).values
            total += float((pa - pb).abs().mean())
    return total / repeats


@torch.no_grad()
def swd(images_a, images_b, patches=64, directions=512, repeats=4, min_res=16, seed=0,
        batch=512, device="cpu", sort=None):
    dev = torch.device(device)
    if dev.type == "cuda":      # full fp32 convolutions and products (no TF32) while measuring
        try:                    # the legacy flags (as the trainer sets them); torch >= 2.9
            saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
        except RuntimeError:    # raises when someone mixed them with the new fp32_precision
            saved = None
        if saved is None:
            return _swd(images_a, images_b, patches, directions, repeats, min_res, seed,
                        batch, dev, sort)
        try:
            return _swd(images_a, images_b, patches, directions, repeats, min_res, seed,
                        batch, dev, sort)
        finally:
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved
    return _swd(images_a, images_b, patches, directions, repeats, min_res, seed, batch, dev,
                sort)


def _swd(images_a, images_b, patches, directions, repeats, min_res, seed, batch, device, sort):
    a_all, b_all = _as_float(images_a), _as_float(images_b)
    if a_all.shape != b_all.shape:
        raise ValueError("swd: both sets must have the same shape (%s vs %s)"
                         % (tuple(a_all.shape), tuple(b_all.shape)))
    res = a_all.shape[-1]
    min_res = min(min_res, res)

    def descs(x):
        # the same patch positions for both sets (identical sets give exactly 0)
        gen = torch.Generator().manual_seed(int(seed))
        out = None
        for i in range(0, x.shape[0], batch):
            pyr = laplacian_pyramid(x[i:i + batch].to(device), min_res)
            ds = [patch_descriptors(lv, patches, gen) for lv in pyr]
            if out is None:
                out = [[d] for d in ds]
            else:
                for o, d in zip(out, ds):
                    o.append(d)
        return [_normalize(torch.cat(o)) for o in out]

    da, db = descs(a_all), descs(b_all)
    gen = torch.Generator().manual_seed(int(seed) + 1)
    levels = {}
    r = res
    for x, y in zip(da, db):
        levels[r] = _sliced(x, y, directions, repeats, gen, sort) * 1e3
        r //= 2
    return {"levels": levels, "mean": float(np.mean(list(levels.values())))}
