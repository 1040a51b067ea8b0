"""Image data sets for the trainer: an array file or a folder of images, held in memory as
uint8 [N, 3, H, W].

    ds = ImageDataset("/work/data/open-peeps-64.npy")     # .npy / .npz / folder of images
    x = ds.batch(idx, xflip_mask)                         # float [B, 3, H, W] in [-1, 1]

Array files: uint8 [N, H, W, 3] (or [N, H, W] gray, or [N, 3, H, W]); .npz takes the key
"images" or else its first array; .npy.xz is a packed file of inrgan.pack (its sha256 checked
against the .json beside it). Folders: every .png/.jpg/.jpeg/.bmp/.webp file, sorted by
name, converted to RGB with PIL (alpha composited over white). Images must be square with a
power-of-two side; `resolution` resizes (area/box) when given and different.
"""

import os

import numpy as np
import torch

__all__ = ["ImageDataset", "load_array"]

_IMG_EXT = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


def _to_nhwc_uint8(a):
    a = np.asarray(a)
    if a.dtype != np.uint8:
        raise ValueError("image arrays must be uint8 (got %s)" % a.dtype)
    if a.ndim == 3:
        a = np.repeat(a[..., None], 3, axis=3)
    if a.ndim != 4:
        raise ValueError("image array must be [N, H, W, C] (got shape %s)" % (a.shape,))
    if a.shape[1] in (1, 3) and a.shape[3] not in (1, 3):
        a = a.transpose(0, 2, 3, 1)
    if a.shape[3] == 1:
        a = np.repeat(a, 3, axis=3)
    if a.shape[3] != 3:
        raise ValueError("images must have 1 or 3 channels (got shape %s)" % (a.shape,))
    return a


def _load_folder(path):
    from PIL import Image
    names = sorted(n for n in os.listdir(path) if n.lower().endswith(_IMG_EXT))
    if not names:
        raise ValueError("no images in %s" % path)
    out = []
    for n in names:
        im = Image.open(os.path.join(path, n))
        if im.mode in ("RGBA", "LA", "P"):
            im = im.convert("RGBA")
            bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
            im = Image.alpha_composite(bg, im)
        out.append(np.asarray(im.convert("RGB"), dtype=np.uint8))
    shapes = {a.shape for a in out}
    if len(shapes) != 1:
        raise ValueError("images in %s have different sizes: %s" % (path, sorted(shapes)[:4]))
    return np.stack(out)


def load_array(path):
    """uint8 [N, H, W, 3] from a .npy, .npz, packed .npy.xz (inrgan.pack) or image folder."""
    path = os.fspath(path)
    if os.path.isdir(path):
        return _load_folder(path)
    if path.endswith(".xz"):
        from .pack import read_packed
        return read_packed(path)
    if path.endswith(".npz"):
        with np.load(path) as z:
            key = "images" if "images" in z.files else z.files[0]
            return _to_nhwc_uint8(z[key])
    return _to_nhwc_uint8(np.load(path))


class ImageDataset:
    def __init__(self, path, resolution=None, max_images=None, device="cpu"):
        a = load_array(path)
        if max_images is not None:
            a = a[:max_images]
        n, h, w, _ = a.shape
        if h != w or h & (h - 1):
            raise ValueError("images must be square with a power-of-two side (got %dx%d)"
                             % (w, h))
        t = torch.from_numpy(np.ascontiguousarray(a)).permute(0, 3, 1, 2).contiguous()
        if resolution is not None and resolution != h:
            t = torch.nn.functional.interpolate(t.float(), size=(resolution, resolution),
                                                mode="area").round().clamp(0, 255).byte()
        self.path = path
        self.images = t.to(device)                       # uint8 [N, 3, R, R]
        self.resolution = int(self.images.shape[-1])

    def __len__(self):
        return int(self.images.shape[0])

    def batch(self, idx, xflip=None):
        """float [B, 3, R, R] in [-1, 1]; xflip: bool tensor [B] of images to mirror."""
        x = self.images[idx].float() / 127.5 - 1.0
        if xflip is not None:
            x = torch.where(xflip.view(-1, 1, 1, 1).to(x.device), x.flip(3), x)
        return x

    def uint8_subset(self, start, count):
        return self.images[start:start + count]
