#!/usr/bin/python3
"""Parity of the C engine (CPU backend) with the PyTorch Generator (float64).

    /usr/bin/python3 tests/test_parity_torch.py --inrgan build/inrgan [--keep DIR]

For each tiny config (nearest, bil, churches), with random weights and random nonzero biases /
w_avg, exported as fp32 and as fp16 (unaligned offsets, buffers kept F32):
  * `inrgan render -m M --z z.npy -o OUT --backend cpu --npy --dump-blocks --truncation 0.7 -q`
    -> every block's features x [C,H,W] and running rgb [3,H,W] and the final image [3,H,W]
    must match the torch float64 forward (psi 0.7, same z, weights as read back from the file)
    within 1e-4 max abs; the PNG must equal uint8(clamp(x*127.5+128)) of the torch image
    within 1 level
    and uint8 of the C engine's own .npy exactly (float32 conversion, as the official code);
  * `render --seeds 3-4 --npy` must match torch with z = seed_to_z(3), seed_to_z(4).
Plus the committed golden fixture (tests/data): `render --seeds 0-1` with the file's default
psi must reproduce golden_image.npy.

Exit 0 on pass, 1 on a mismatch, 2 on bad usage (CLI missing), 77 if torch is unavailable.
"""

import argparse
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

from torch_env import ROOT, np, torch  # noqa: E402,F401  (sys.path, skip without torch)

from inrgan import config, export, generator, latents  # noqa: E402


PSI = 0.7
TOL = 1e-4
FAILURES = []


def fail(msg):
    FAILURES.append(msg)
    print("FAIL " + msg)


# ---- minimal PNG reader (8-bit RGB / RGBA, non-interlaced) ---------------------------------

def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c)
    return np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))


def read_png(path):
    with open(path, "rb") as f:
        blob = f.read()
    if blob[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("%s: not a PNG" % path)
    pos, idat, ihdr = 8, [], None
    while pos < len(blob):
        (n,) = struct.unpack(">I", blob[pos:pos + 4])
        kind = blob[pos + 4:pos + 8]
        body = blob[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
        pos += 12 + n
    w, h, depth, ctype, _, _, interlace = ihdr
    if depth != 8 or ctype not in (2, 6) or interlace:
        raise ValueError("%s: unsupported PNG (depth %d, color type %d, interlace %d)"
                         % (path, depth, ctype, interlace))
    bpp = 3 if ctype == 2 else 4
    raw = np.frombuffer(zlib.decompress(b"".join(idat)), np.uint8).reshape(h, 1 + w * bpp)
    out = np.zeros((h, w * bpp), np.int64)
    prev = np.zeros(w * bpp, np.int64)
    for i in range(h):
        ft, line = raw[i, 0], raw[i, 1:].astype(np.int64)
        cur = np.zeros(w * bpp, np.int64)
        for j in range(w * bpp):  # tiny images: a plain loop is fine
            a = cur[j - bpp] if j >= bpp else 0
            b = prev[j]
            c = prev[j - bpp] if j >= bpp else 0
            pred = (0, a, b, (a + b) // 2, int(_paeth(np.int64(a), np.int64(b), np.int64(c))))[ft]
            cur[j] = (line[j] + pred) & 255
        out[i] = cur
        prev = cur
    return out.reshape(h, w, bpp)[:, :, :3].astype(np.uint8)


def to_uint8(chw):
    """The official conversion, in float32 like the official torch code and src/image.c:
    uint8(clamp(x * 127.5 + 128, 0, 255)), separate multiply and add, truncation."""
    v = chw.astype(np.float32) * np.float32(127.5) + np.float32(128.0)
    return np.clip(np.floor(v), 0, 255).astype(np.uint8).transpose(1, 2, 0)


# ---- helpers -------------------------------------------------------------------------------

def run_cli(cli, args, timeout=120):
    cmd = [cli] + args
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False, "timed out after %d s: %s" % (timeout, " ".join(cmd))
    if p.returncode != 0:
        return False, "rc %d: %s\n  stderr: %s" % (p.returncode, " ".join(cmd),
                                                   p.stderr.decode(errors="replace").strip())
    return True, ""


def load_npy(path, shape, what):
    if not os.path.exists(path):
        listing = sorted(os.listdir(os.path.dirname(path)))
        raise AssertionError("%s: %s missing (directory holds %s)"
                             % (what, os.path.basename(path), listing[:20]))
    a = np.load(path)
    if a.dtype != np.float32:
        raise AssertionError("%s: %s is %s, expected float32" % (what, path, a.dtype))
    if tuple(a.shape) != tuple(shape):
        raise AssertionError("%s: %s has shape %s, expected %s"
                             % (what, os.path.basename(path), a.shape, tuple(shape)))
    return a.astype(np.float64)


def compare(what, got, want, worst):
    err = float(np.max(np.abs(got - want))) if got.size else 0.0
    if not np.all(np.isfinite(got)):
        err = float("inf")
    worst[0] = max(worst[0], err)
    if err > TOL:
        where = np.unravel_index(np.argmax(np.abs(got - want)), got.shape)
        raise AssertionError("%s: max abs error %.3g > %g at %s (C %.6g, torch %.6g)"
                             % (what, err, TOL, tuple(int(i) for i in where), got[where],
                                want[where]))
    return err


def make_model(kind, tmp, dtype):
    torch.manual_seed({"nearest": 101, "bil": 202, "churches": 303}[kind])
    with torch.no_grad():
        G = generator.Generator(config.tiny(kind))
        generator.randomize_biases(G)
    path = os.path.join(tmp, "tiny_%s_%s.safetensors" % (kind, dtype))
    export.save_model(G, path, dtype=dtype, align=(dtype == "fp32"))
    ref, cfg = export.load_model(path)   # exactly what the file holds (fp16-rounded for fp16)
    return path, ref.double().eval(), cfg


def check_z_render(cli, kind, dtype, tmp):
    model, ref, cfg = make_model(kind, tmp, dtype)
    z = np.random.default_rng({"nearest": 1, "bil": 2, "churches": 3}[kind]) \
        .standard_normal((3, cfg["z_dim"])).astype(np.float32)
    zpath = os.path.join(tmp, "z_%s_%s.npy" % (kind, dtype))
    np.save(zpath, z)
    out = os.path.join(tmp, "out_%s_%s" % (kind, dtype))
    ok, msg = run_cli(cli, ["render", "-m", model, "--z", zpath, "-o", out, "--backend", "cpu",
                            "--npy", "--dump-blocks", "--truncation", str(PSI), "-q"])
    if not ok:
        raise AssertionError(msg)
    with torch.no_grad():
        img, blocks = ref(torch.from_numpy(z).double(), psi=PSI, return_blocks=True)
    worst = [0.0]
    n_arrays = 0
    for i in range(z.shape[0]):
        name = "z%04d" % i
        for bname, (x, rgb) in blocks.items():
            xw, rw = x[i].numpy(), rgb[i].numpy()
            xg = load_npy(os.path.join(out, "%s_%s_x.npy" % (name, bname)), xw.shape,
                          "%s/%s %s" % (kind, dtype, bname))
            rg = load_npy(os.path.join(out, "%s_%s_rgb.npy" % (name, bname)), rw.shape,
                          "%s/%s %s" % (kind, dtype, bname))
            compare("%s/%s image %d block %s x" % (kind, dtype, i, bname), xg, xw, worst)
            compare("%s/%s image %d block %s rgb" % (kind, dtype, i, bname), rg, rw, worst)
            n_arrays += 2
        iw = img[i].numpy()
        ig = load_npy(os.path.join(out, name + ".npy"), iw.shape, "%s/%s final" % (kind, dtype))
        compare("%s/%s image %d final" % (kind, dtype, i), ig, iw, worst)
        n_arrays += 1
        png = read_png(os.path.join(out, name + ".png"))
        d = np.abs(png.astype(int) - to_uint8(iw).astype(int)).max()
        if d > 1:
            raise AssertionError("%s/%s image %d: PNG differs from uint8(torch) by %d levels"
                                 % (kind, dtype, i, d))
        d_self = np.abs(png.astype(int) - to_uint8(ig).astype(int)).max()
        if d_self != 0:
            raise AssertionError("%s/%s image %d: PNG differs from the float32 uint8 conversion "
                                 "of the C .npy by %d"
                                 % (kind, dtype, i, d_self))
    return "tiny-%s %s --z: %d arrays (blocks %s, x+rgb, final) + 3 PNGs, max abs %.2g" \
        % (kind, dtype, n_arrays, ",".join(blocks), worst[0])


def check_seeds_render(cli, kind, tmp):
    model, ref, cfg = make_model(kind, tmp, "fp32")
    out = os.path.join(tmp, "seeds_%s" % kind)
    ok, msg = run_cli(cli, ["render", "-m", model, "--seeds", "3-4", "-o", out, "--backend",
                            "cpu", "--npy", "--truncation", str(PSI), "-q"])
    if not ok:
        raise AssertionError(msg)
    z = latents.seeds_to_z([3, 4], cfg["z_dim"])
    with torch.no_grad():
        img = ref(torch.from_numpy(z).double(), psi=PSI).numpy()
    worst = [0.0]
    for i, s in enumerate((3, 4)):
        got = load_npy(os.path.join(out, "seed%04d.npy" % s), img[i].shape,
                       "%s seeds" % kind)
        compare("%s --seeds image for seed %d" % (kind, s), got, img[i], worst)
    return "tiny-%s --seeds 3-4 vs torch(seed_to_z): max abs %.2g" % (kind, worst[0])


def check_golden(cli, tmp):
    d = os.path.join(ROOT, "tests", "data")
    model = os.path.join(d, "golden_tiny.safetensors")
    want = np.load(os.path.join(d, "golden_image.npy")).astype(np.float64)
    worst = [0.0]
    for k, (label, extra) in enumerate((("--seeds 0-1", ["--seeds", "0-1"]),
                                        ("--z golden_z.npy",
                                         ["--z", os.path.join(d, "golden_z.npy")]))):
        out = os.path.join(tmp, "golden_%d" % k)
        ok, msg = run_cli(cli, ["render", "-m", model, "-o", out, "--backend", "cpu", "--npy",
                                "-q"] + extra)
        if not ok:
            raise AssertionError(msg)
        names = ["seed0000", "seed0001"] if extra[0] == "--seeds" else ["z0000", "z0001"]
        for i, n in enumerate(names):
            got = load_npy(os.path.join(out, n + ".npy"), want[i].shape, "golden")
            compare("golden %s image %d (default psi from file)" % (label, i), got, want[i],
                    worst)
    return "golden fixture (--seeds 0-1 and --z, psi from the file): max abs %.2g" % worst[0]


def main():
    ap = argparse.ArgumentParser(description="C engine vs torch parity")
    ap.add_argument("--inrgan", required=True, help="path to the inrgan CLI binary")
    ap.add_argument("--keep", default=None, help="copy the work directory here for inspection")
    args = ap.parse_args()
    cli = os.path.abspath(args.inrgan)
    if not (os.path.isfile(cli) and os.access(cli, os.X_OK)):
        print("ERROR: inrgan CLI not found or not executable: %s" % cli)
        return 2
    print("comparing %s (CPU backend, fp32) with the torch Generator in float64, psi %g, "
          "tolerance %g max abs" % (cli, PSI, TOL))
    tmp = tempfile.mkdtemp(prefix="inrgan_parity_")
    try:
        checks = []
        for kind in config.TINY_KINDS:
            for dtype in ("fp32", "fp16"):
                checks.append(lambda k=kind, d=dtype: check_z_render(cli, k, d, tmp))
            checks.append(lambda k=kind: check_seeds_render(cli, k, tmp))
        checks.append(lambda: check_golden(cli, tmp))
        for fn in checks:
            try:
                print("ok   " + fn())
            except AssertionError as e:
                fail(str(e))
            except Exception as e:  # noqa: BLE001
                fail("%s: %s" % (type(e).__name__, e))
        if args.keep:
            shutil.copytree(tmp, args.keep, dirs_exist_ok=True)
            print("work files copied to %s" % args.keep)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if FAILURES:
        print("%d check(s) failed" % len(FAILURES))
        return 1
    print("all %d parity checks passed" % len(checks))
    return 0


if __name__ == "__main__":
    sys.exit(main())
