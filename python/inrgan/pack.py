"""Packed training data: a uint8 image array as an xz-compressed .npy with a provenance file.

    python -m inrgan.pack open-peeps-128.npy -o DIR/open-peeps-128.npy.xz \\
        [--seeds open-peeps-128.npy.seeds.txt] [--resolution 64] [--name open-peeps]
    images = read_packed("DIR/open-peeps-128.npy.xz")       # uint8 [N, R, R, 3], checked

Writes OUT (an .npy file compressed with xz: LZMA2 preset 6, CRC64; `xz -d` opens it too)
and OUT.json (provenance): source, licence, image count, resolution, resampling, the sha256
of OUT and of the raw array bytes, the sha256 of the kept seed list and its first/last seed,
the command. --resolution R (R < the source's, a power-of-two factor) first averages each
k x k block (exact mean, rounded half up): the 64x64 set is the 128x128 set averaged 2x2.

read_packed streams the decompression into one preallocated array (peak memory about the
array's size) and, when OUT.json is there, checks OUT's sha256 against it first.

On open-peeps (12,000 images, cartoon faces with flat colours), xz preset 6 keeps 3.2 % of the
raw bytes at 128x128 where zlib -9 (np.savez_compressed) keeps 10.7 % (measured on the first
1,000 images; docs/training.md has the sizes of the full files).
"""

import argparse
import hashlib
import json
import lzma
import os
import sys

import numpy as np

from . import safetensors_io
from .convert import sha256_file

__all__ = ["read_packed", "write_packed", "box_downsample", "OPEN_PEEPS_PROVENANCE"]

MAX_BYTES = 16 << 30          # refuse arrays whose header claims more than 16 GiB

OPEN_PEEPS_PROVENANCE = {
    "source": "DiceBear avatars, npm @dicebear/core@9.4.3 + @dicebear/open-peeps@9.4.3, "
              "seeds open-peeps-0, open-peeps-1, ... (scripts/dataset/gen_svgs.mjs), the first "
              "N unique SVG strings kept (exact duplicates dropped), rasterized with Debian "
              "python3-cairosvg 2.5.2 after stripping the viewboxMask, composited over white "
              "(scripts/dataset/rasterize.py)",
    "licence": "images: CC0 1.0 (Open Peeps design by Pablo Stanley, "
               "https://www.openpeeps.com/); DiceBear code: MIT (Florian Koerner)",
}


def box_downsample(a, factor):
    """uint8 [N, H, W, C] -> [N, H/f, W/f, C]: mean of each f x f block, rounded half up."""
    n, h, w, c = a.shape
    if factor < 1 or h % factor or w % factor:
        raise ValueError("cannot average %dx%d images by %d" % (w, h, factor))
    out = np.empty((n, h // factor, w // factor, c), np.uint8)
    for i in range(0, n, 512):      # in chunks: bounded temporary memory
        s = a[i:i + 512].reshape(-1, h // factor, factor, w // factor, factor, c)
        s = s.astype(np.uint32).sum(axis=(2, 4))
        out[i:i + 512] = (s + factor * factor // 2) // (factor * factor)
    return out


def write_packed(images, out, provenance, preset=6):
    """Writes images (uint8 [N, R, R, 3]) to OUT (.npy.xz) and OUT.json; returns the JSON."""
    images = np.ascontiguousarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[3] != 3:
        raise ValueError("expected uint8 [N, R, R, 3], got %s %s" % (images.dtype, images.shape))

    def write_xz(f):
        with lzma.LZMAFile(f, "wb", format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64,
                           preset=preset) as z:
            np.lib.format.write_array(z, images, allow_pickle=False)

    safetensors_io.write_atomic_with(out, write_xz)
    meta = dict(provenance)
    meta.update({
        "file": os.path.basename(out),
        "format": ".npy (uint8 [N, R, R, 3], RGB) compressed with xz (LZMA2 preset %d)" % preset,
        "count": int(images.shape[0]),
        "resolution": int(images.shape[1]),
        "bytes": os.path.getsize(out),
        "raw_bytes": int(images.nbytes),
        "sha256": sha256_file(out),
        "raw_sha256": hashlib.sha256(memoryview(images).cast("B")).hexdigest(),
    })
    safetensors_io.write_atomic(out + ".json", (json.dumps(meta, indent=1) + "\n").encode())
    return meta


def read_packed(path, check=True):
    """uint8 [N, R, R, 3] from a .npy.xz file (its .json's sha256 checked when present)."""
    side = path + ".json"
    if check and os.path.exists(side):
        with open(side) as f:
            want = json.load(f).get("sha256")
        if want and sha256_file(path) != want:
            raise ValueError("%s does not match the sha256 in %s (damaged or replaced)"
                             % (path, side))
    try:
        with lzma.open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
            else:
                raise ValueError("unsupported .npy version %s" % (version,))
            if dtype != np.uint8 or fortran or len(shape) != 4 or shape[3] != 3:
                raise ValueError("expected a C-order uint8 [N, R, R, 3] array, got %s %s"
                                 % (dtype, shape))
            nbytes = int(np.prod(shape, dtype=np.int64))
            if nbytes > MAX_BYTES:
                raise ValueError("array of %d bytes is over the %d-byte limit"
                                 % (nbytes, MAX_BYTES))
            out = np.empty(shape, np.uint8)
            view = memoryview(out).cast("B")
            got = 0
            while got < nbytes:
                k = f.readinto(view[got:got + (64 << 20)])
                if not k:
                    raise ValueError("truncated: %d of %d bytes" % (got, nbytes))
                got += k
            if f.read(1):
                raise ValueError("trailing data after the array")
    except (lzma.LZMAError, EOFError) as e:
        raise ValueError("not a valid xz file: %s" % e) from None
    return out


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m inrgan.pack",
                                description="Pack a uint8 image array (.npy) as .npy.xz with "
                                            "provenance JSON (docs/training.md).")
    p.add_argument("source", help="uint8 [N, R, R, 3] .npy (e.g. from build_open_peeps.sh)")
    p.add_argument("-o", "--output", required=True, help="OUT.npy.xz (and OUT.npy.xz.json)")
    p.add_argument("--seeds", default=None,
                   help="seed list of the source (default SOURCE.seeds.txt if present)")
    p.add_argument("--resolution", type=int, default=None,
                   help="average k x k blocks down to this resolution first")
    p.add_argument("--count", type=int, default=None, help="the first N images only")
    p.add_argument("--name", default="open-peeps",
                   help="data set name; 'open-peeps' adds its source and licence")
    p.add_argument("--preset", type=int, default=6, choices=range(10), help="xz preset")
    a = p.parse_args(argv)
    try:
        src = np.load(a.source, mmap_mode="r")
    except (OSError, ValueError) as e:
        print("inrgan.pack: error: %s: %s" % (a.source, e), file=sys.stderr)
        return 2
    if src.dtype != np.uint8 or src.ndim != 4 or src.shape[3] != 3 or src.shape[1] != src.shape[2]:
        print("inrgan.pack: error: %s: expected uint8 [N, R, R, 3], got %s %s"
              % (a.source, src.dtype, src.shape), file=sys.stderr)
        return 2
    n = src.shape[0] if a.count is None else min(a.count, src.shape[0])
    images = np.asarray(src[:n])
    res0 = images.shape[1]
    resampling = "rendered at %dx%d by cairosvg (no resampling)" % (res0, res0)
    if a.resolution is not None and a.resolution != res0:
        k = res0 // a.resolution if a.resolution > 0 else 0
        if k < 2 or k * a.resolution != res0 or k & (k - 1):
            print("inrgan.pack: error: --resolution %d: not %d divided by a power of two"
                  % (a.resolution, res0), file=sys.stderr)
            return 2
        images = box_downsample(images, k)
        resampling = ("rendered at %dx%d by cairosvg, then the exact mean of each %dx%d block, "
                      "rounded half up (inrgan.pack.box_downsample)" % (res0, res0, k, k))
    prov = dict(OPEN_PEEPS_PROVENANCE) if a.name == "open-peeps" else {"source": a.source}
    prov["name"] = "%s %dx%d" % (a.name, images.shape[1], images.shape[1])
    prov["resampling"] = resampling
    seeds = a.seeds or (a.source + ".seeds.txt")
    if os.path.exists(seeds):
        with open(seeds) as f:
            lst = [s for s in f.read().split("\n") if s][:n]
        if len(lst) != n:
            print("inrgan.pack: error: %s lists %d seeds for %d images" % (seeds, len(lst), n),
                  file=sys.stderr)
            return 2
        prov["seeds"] = "%s .. %s (%d, in order)" % (lst[0], lst[-1], len(lst))
        prov["seeds_sha256"] = hashlib.sha256(("\n".join(lst) + "\n").encode()).hexdigest()
    prov["command"] = "python -m inrgan.pack " + " ".join(
        sys.argv[1:] if argv is None else list(argv))
    meta = write_packed(images, a.output, prov, preset=a.preset)
    print("wrote %s: %d images %dx%d, %d bytes (%.1f %% of %d raw), sha256 %s"
          % (a.output, meta["count"], meta["resolution"], meta["resolution"], meta["bytes"],
             100.0 * meta["bytes"] / meta["raw_bytes"], meta["raw_bytes"], meta["sha256"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
