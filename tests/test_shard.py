#!/usr/bin/python3
"""--shard K/N and `inrgan stitch` (issue 17, docs/scale-out.md).

usage: test_shard.py --inrgan PATH [--maxrss PATH] [--big]
  seeds    the union of N shards of a seed list == the unsharded render, byte for byte
           (N = 1, 2, 3, 7, 12 over 10 seeds: uneven splits and empty shards)
  frames   the same for interp and zoom frames (N = 1, 2, 3, 7); no strip/video when N > 1
  bands    one image: N bands stitched == the unsharded render byte for byte (N = 1, 2, 3, 7;
           INR-GAN and CIPS, --stride, --depth 16, --interp)
  stitch   a missing, duplicated or mismatched band (other seed, other model, not a band,
           corrupt) fails with its named error, exit 2, and writes nothing
  multi    -g llvmpipe,cpu: every image once, each == that device's own render (skip without lavapipe)
  auto     --shard auto from Slurm (ID + COUNT, ID + MIN/MAX) and Kubernetes (auto/N), with the
           one stderr line that says which; bad values are usage errors
  memory   (with --maxrss) peak RSS of stitching synthetic 65536-wide bands (written here with
           correct metadata) stays under 32 MiB; --big: a whole 65536x65536 image (slow, ~12 GB
           of pixels through zlib; prints the peak for docs/scale-out.md)
"""
import argparse
import os
import re
import struct
import subprocess
import sys
import tempfile
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
TINY = os.path.join(HERE, "data", "golden_tiny.safetensors")
BIL = os.path.join(HERE, "data", "tiny_bil.safetensors")
CIPS = os.path.join(HERE, "data", "tiny_cips.safetensors")

failures = []
CLI = None


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def run(args, env=None, **kw):
    e = dict(os.environ)
    for k in list(e):
        if k.startswith("SLURM_") or k == "JOB_COMPLETION_INDEX":
            del e[k]
    e.update(env or {})
    return subprocess.run([CLI] + args, capture_output=True, text=True, env=e, timeout=600, **kw)


def files(d):
    out = {}
    for root, _, names in os.walk(d):
        for n in names:
            p = os.path.join(root, n)
            out[os.path.relpath(p, d)] = open(p, "rb").read()
    return out


def test_seeds(tmp):
    base = ["render", "-m", TINY, "--backend", "cpu", "--seeds", "0-9", "--size", "40x36", "-q"]
    whole = os.path.join(tmp, "whole")
    r = run(base + ["-o", whole])
    check(r.returncode == 0, "seeds: unsharded render")
    ref = files(whole)
    for n in (1, 2, 3, 7, 12):
        d = os.path.join(tmp, f"s{n}")
        ok = True
        for k in range(n):
            r = run(base + ["-o", d, "--shard", f"{k}/{n}"])
            ok = ok and r.returncode == 0
        got = files(d) if os.path.isdir(d) else {}
        check(ok and got == ref, f"seeds: union of {n} shards == the unsharded render ({len(got)} files)")
    # the partition: shard 1/3 of 10 seeds is seeds 3..5 (floor(K*M/N))
    d = os.path.join(tmp, "one")
    run(base + ["-o", d, "--shard", "1/3"])
    check(sorted(os.listdir(d)) == ["seed0003-40x36.png", "seed0004-40x36.png", "seed0005-40x36.png"],
          "seeds: shard 1/3 of 10 seeds renders seeds 3, 4, 5")


def test_frames(tmp):
    for cmd in (["interp", "--seeds", "0,1,2", "--frames", "4"], ["zoom", "--seeds", "3", "--frames", "10"]):
        base = [cmd[0], "-m", TINY, "--backend", "cpu", "--size", "24x24", "-q"] + cmd[1:]
        whole = os.path.join(tmp, cmd[0] + "whole")
        check(run(base + ["-o", whole]).returncode == 0, f"frames: unsharded {cmd[0]}")
        ref = {k: v for k, v in files(whole).items() if k.startswith("frame")}
        for n in (1, 2, 3, 7):
            d = os.path.join(tmp, f"{cmd[0]}{n}")
            ok = all(run(base + ["-o", d, "--shard", f"{k}/{n}"]).returncode == 0 for k in range(n))
            got = files(d)
            frames = {k: v for k, v in got.items() if k.startswith("frame")}
            check(ok and frames == ref, f"frames: {cmd[0]}: union of {n} shards == unsharded ({len(frames)} frames)")
            if n > 1:
                check("strip.png" not in got, f"frames: {cmd[0]}: {n} shards write no strip.png")


def band_case(tmp, tag, args, ns, model=TINY):
    base = ["render", "-m", model, "--backend", "cpu", "-q"] + args
    ref_path = os.path.join(tmp, f"{tag}-whole.png")
    check(run(base + ["-o", ref_path]).returncode == 0, f"bands: {tag}: unsharded render")
    ref = open(ref_path, "rb").read()
    for n in ns:
        d = os.path.join(tmp, f"{tag}-{n}")
        ok = all(run(base + ["-o", os.path.join(d, "img.png"), "--shard", f"{k}/{n}"]).returncode == 0
                 for k in range(n))
        bands = sorted(os.path.join(d, f) for f in os.listdir(d))
        check(ok and [os.path.basename(b) for b in bands] == sorted(f"img.band{k}of{n}.png" for k in range(n)),
              f"bands: {tag}: {n} shards write img.bandKof{n}.png")
        out = os.path.join(d, "stitched.png")
        r = run(["stitch", out] + bands[::-1])  # any order
        check(r.returncode == 0 and open(out, "rb").read() == ref,
              f"bands: {tag}: {n} bands stitched == the unsharded render byte for byte")
    return os.path.join(tmp, f"{tag}-{ns[-1]}")


def test_bands(tmp):
    band_case(tmp, "tiny", ["--seeds", "5", "--size", "200x203"], (1, 2, 3, 7))
    band_case(tmp, "tiny-tiled", ["--seeds", "6", "--size", "96x130", "--tile", "32"], (3, 7))
    band_case(tmp, "stride16", ["--seeds", "2", "--size", "300x280", "--stride", "3", "--depth", "16"], (2, 7))
    band_case(tmp, "interp", ["--interp", "1,2", "--t", "0.3", "--size", "64x80"], (3,))
    band_case(tmp, "cips", ["--seeds", "1", "--size", "48x70"], (2, 3, 7), model=CIPS)
    r = run(["render", "-m", TINY, "--seeds", "1", "--size", "32x4", "--shard", "6/7", "-o",
             os.path.join(tmp, "small.png")])
    check(r.returncode == 2 and "IG_ERR_USAGE" in r.stderr and not os.path.exists(os.path.join(tmp, "small.band6of7.png")),
          "bands: more shards than bands of an image is a usage error: " + r.stderr.strip())
    r = run(["render", "-m", TINY, "--seeds", "1", "--shard", "0/2", "--npy", "-o", os.path.join(tmp, "n.png")])
    check(r.returncode == 2, "bands: --npy with a band is a usage error")


def test_stitch(tmp):
    d = band_case(tmp, "ref", ["--seeds", "5", "--size", "64x64"], (3,))
    b = [os.path.join(d, f"img.band{k}of3.png") for k in range(3)]
    other = os.path.join(tmp, "other")
    run(["render", "-m", TINY, "--backend", "cpu", "-q", "--seeds", "6", "--size", "64x64", "-o",
         os.path.join(other, "img.png"), "--shard", "1/3"])
    run(["render", "-m", BIL, "--backend", "cpu", "-q", "--seeds", "5", "--size", "64x64", "-o",
         os.path.join(other, "m.png"), "--shard", "1/3"])
    run(["render", "-m", TINY, "--backend", "cpu", "-q", "--seeds", "5", "--size", "64x64", "-o",
         os.path.join(other, "d.png"), "--shard", "1/3", "--depth", "16"])
    run(["render", "-m", TINY, "--backend", "cpu", "-q", "--seeds", "5", "--size", "64x64", "-o",
         os.path.join(other, "img.png"), "--shard", "1/4"])
    trunc = os.path.join(other, "trunc.png")
    data = open(b[1], "rb").read()
    open(trunc, "wb").write(data[:len(data) - 40])
    plain = os.path.join(tmp, "ref-whole.png")
    cases = [
        ("missing band", [b[0], b[2]], "IG_ERR_BAND_MISSING"),
        ("duplicated band", [b[0], b[1], b[1], b[2]], "IG_ERR_BAND_DUPLICATE"),
        ("band of another seed", [b[0], os.path.join(other, "img.band1of3.png"), b[2]], "IG_ERR_BAND_MISMATCH"),
        ("band of another model", [b[0], os.path.join(other, "m.band1of3.png"), b[2]], "IG_ERR_BAND_MISMATCH"),
        ("band of another depth", [b[0], os.path.join(other, "d.band1of3.png"), b[2]], "IG_ERR_BAND_MISMATCH"),
        ("band of another split", [b[0], os.path.join(other, "img.band1of4.png"), b[2]], "IG_ERR_BAND_MISMATCH"),
        ("a plain render", [b[0], plain, b[2]], "IG_ERR_BAND_MISMATCH"),
        ("a truncated band", [b[0], trunc, b[2]], "IG_ERR_BAND_MISMATCH"),
        ("a file that does not exist", [b[0], os.path.join(tmp, "nope.png"), b[2]], "IG_ERR_IO"),
    ]
    for what, args, tag in cases:
        od = os.path.join(tmp, "out-" + what.replace(" ", "_"))
        os.makedirs(od)
        r = run(["stitch", os.path.join(od, "x.png")] + args)
        lines = r.stderr.strip().split("\n")
        check(r.returncode in (1, 2) and len(lines) == 1 and lines[0].startswith("inrgan: error: ") and
              lines[0].endswith(f"[{tag}]") and os.listdir(od) == [],
              f"stitch: {what}: {tag}, exit {r.returncode}, nothing written: {lines[-1]}")
    r = run(["stitch", os.path.join(tmp, "x.png")])
    check(r.returncode == 2 and "IG_ERR_USAGE" in r.stderr, "stitch: no band is a usage error")


def test_auto(tmp):
    base = ["render", "-m", TINY, "--backend", "cpu", "--seeds", "0-9", "--size", "24x24"]
    cases = [
        ({"SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_COUNT": "4"}, "auto", "2/4", "Slurm", [5, 6]),
        ({"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_MAX": "4"}, "auto", "2/4",
         "Slurm", [5, 6]),
        ({"JOB_COMPLETION_INDEX": "0"}, "auto/3", "0/3", "Kubernetes", [0, 1, 2]),
    ]
    for i, (env, spec, kn, who, seeds) in enumerate(cases):
        d = os.path.join(tmp, f"a{i}")
        r = run(base + ["-o", d, "--shard", spec], env=env)
        line = [l for l in r.stderr.split("\n") if l.startswith("inrgan: shard ") and " from " in l]
        got = sorted(int(re.match(r"seed(\d+)", f).group(1)) for f in os.listdir(d)) if os.path.isdir(d) else []
        check(r.returncode == 0 and len(line) == 1 and line[0].startswith(f"inrgan: shard {kn} from {who}") and
              got == seeds, f"auto: {env} --shard {spec} -> shard {kn} ({who}), seeds {got}")
    bad = [({}, "auto"), ({"JOB_COMPLETION_INDEX": "1"}, "auto"), ({"JOB_COMPLETION_INDEX": "5"}, "auto/3"),
           ({"SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_COUNT": "4"}, "auto/3"),
           ({"SLURM_ARRAY_TASK_ID": "2"}, "auto"), ({}, "3/3"), ({}, "-1/2"), ({}, "1/0"), ({}, "a/b"), ({}, ""),
           ({}, "1"), ({}, "1/2/3"), ({}, "0/99999999")]
    for env, spec in bad:
        d = os.path.join(tmp, "bad")
        r = run(base + ["-o", d, "--shard", spec], env=env)
        lines = r.stderr.strip().split("\n")
        check(r.returncode == 2 and lines[-1].endswith("[IG_ERR_USAGE]") and not os.path.exists(d),
              f"auto: {env} --shard '{spec}' is a usage error: {lines[-1]}")


def test_multi(tmp):
    """-g llvmpipe,cpu: one queue over lavapipe and the CPU backend (docs/scale-out.md)."""
    if "llvmpipe" not in run(["devices"]).stdout:
        print("skip multi: no lavapipe (Vulkan build with mesa-vulkan-drivers needed)")
        return
    base = ["render", "-m", TINY, "--seeds", "0-11", "--size", "96x64"]
    solo = {}
    for dev, args in (("cpu", ["--backend", "cpu"]), ("vulkan:0", ["-g", "llvmpipe"])):
        d = os.path.join(tmp, dev.replace(":", ""))
        check(run(base + args + ["-o", d, "-q"]).returncode == 0, f"multi: {dev} alone")
        solo[dev] = files(d)
    check(solo["cpu"] != solo["vulkan:0"], "multi: lavapipe and the CPU backend differ (so the check below can fail)")
    d = os.path.join(tmp, "split")
    r = run(base + ["-g", "llvmpipe,cpu", "-o", d])
    got = files(d) if os.path.isdir(d) else {}
    who = re.findall(r"^inrgan: (\S+) rendered on (\S+)$", r.stderr, re.M)
    names = [n for n, _ in who]
    check(r.returncode == 0 and sorted(names) == sorted(k[:-4] for k in solo["cpu"]) and len(set(names)) == 12,
          f"multi: every image rendered exactly once ({len(names)} lines, {len(set(names))} distinct)")
    same = all(got.get(n + ".png") == solo[dev].get(n + ".png") for n, dev in who)
    check(same and len(got) == 12, "multi: each image == that device's own render: " +
          ", ".join(f"{dev} {sum(1 for _, x in who if x == dev)}" for dev in ("cpu", "vulkan:0")))
    # one image: bands of rows through the queue, stitched; each band == that device's own band
    one = ["render", "-m", TINY, "--seeds", "3", "--size", "300x700"]
    out = os.path.join(tmp, "one", "big.png")
    r = run(one + ["-g", "llvmpipe,cpu", "-o", out])
    bands = re.findall(r"^inrgan: big band (\d+)/(\d+) \(rows \d+\.\.\d+\) rendered on (\S+)$", r.stderr, re.M)
    ks = sorted(int(k) for k, _, _ in bands)
    m = int(bands[0][1]) if bands else 0
    check(r.returncode == 0 and m > 1 and ks == list(range(m)) and sorted(os.listdir(os.path.dirname(out))) == ["big.png"],
          f"multi: one 300x700 image in {m} bands, each rendered once, no band file left")
    ref = []
    for k, n, dev in bands:
        d = os.path.join(tmp, "oneref")
        args = ["--backend", "cpu"] if dev == "cpu" else ["-g", "llvmpipe"]
        run(one + args + ["-o", os.path.join(d, "big.png"), "--shard", f"{k}/{n}", "-q"])
        ref.append(os.path.join(d, f"big.band{k}of{n}.png"))
    refpng = os.path.join(tmp, "oneref.png")
    run(["stitch", refpng] + ref)
    check(os.path.exists(out) and os.path.exists(refpng) and open(out, "rb").read() == open(refpng, "rb").read(),
          "multi: the split image == each band as its device renders it alone (" +
          ", ".join(f"{dev} {sum(1 for *_, x in bands if x == dev)}" for dev in ("cpu", "vulkan:0")) + " bands)")
    for spec, extra in (("llvmpipe,llvmpipe", []), ("cpu,cpu", []), ("llvmpipe,cpu", ["--backend", "cpu"]),
                        ("llvmpipe,", []), ("llvmpipe,nosuchgpu", [])):
        d = os.path.join(tmp, "bad")
        r = run(base + ["-g", spec, "-o", d] + extra)
        lines = r.stderr.strip().split("\n")
        check(r.returncode == 2 and lines[-1].startswith("inrgan: error: ") and not os.path.exists(d),
              f"multi: -g '{spec}' {' '.join(extra)} fails, exit 2: {lines[-1]}")


# ---- synthetic bands for the memory check --------------------------------------------------

def chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xffffffff)


def write_band(path, k, n, y0, h, W, H):
    """A band file as render --shard writes it (metadata included), rows of a cheap pattern."""
    meta = {"inrgan-band": "1", "inrgan-model": "fnv1a64=0000000000000000 bytes=0",
            "inrgan-image": f"name=synthetic; size={W}x{H}", "inrgan-shard": f"{k}/{n}",
            "inrgan-rows": f"{y0} {h} {W} {H}", "inrgan-depth": "8"}
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", W, h, 8, 2, 0, 0, 0)))
        for key, v in meta.items():
            f.write(chunk(b"tEXt", key.encode() + b"\0" + v.encode()))
        z = zlib.compressobj(1)
        buf = []
        for y in range(y0, y0 + h):
            buf.append(z.compress(b"\0" + bytes([y & 255, (y >> 8) & 255, 7]) * W))
            if sum(map(len, buf)) > 1 << 20:
                f.write(chunk(b"IDAT", b"".join(buf)))
                buf = []
        buf.append(z.flush())
        f.write(chunk(b"IDAT", b"".join(buf)))
        f.write(chunk(b"IEND", b""))


def stitch_peak(maxrss, tmp, W, H, n):
    paths = []
    for k in range(n):
        y0, y1 = k * H // n, (k + 1) * H // n
        p = os.path.join(tmp, f"syn.band{k}of{n}.png")
        write_band(p, k, n, y0, y1 - y0, W, H)
        paths.append(p)
    out = os.path.join(tmp, "syn.png")
    env = {k: v for k, v in os.environ.items() if k != "INRGAN_PIN_VULKAN_LIBS"}
    t0 = time.time()
    r = subprocess.run([maxrss, CLI, "stitch", out] + paths, capture_output=True, text=True, env=env, timeout=3600)
    dt = time.time() - t0
    m = re.search(r"maxrss_kib (\d+)", r.stderr)
    kib = int(m.group(1)) if m else 1 << 40
    hdr = open(out, "rb").read(33) if os.path.exists(out) else b""
    size_ok = len(hdr) == 33 and struct.unpack(">II", hdr[16:24]) == (W, H)
    for p in paths + [out]:
        if os.path.exists(p):
            os.remove(p)
    return r.returncode, kib, dt, size_ok


def test_memory(tmp, maxrss, big):
    rc, kib, dt, ok = stitch_peak(maxrss, tmp, 65536, 256, 4)
    check(rc == 0 and ok and kib < 32 * 1024,
          f"memory: stitch of 4 synthetic 65536x256 bands: peak RSS {kib / 1024:.1f} MiB (bound 32 MiB), {dt:.1f} s")
    if big:
        rc, kib, dt, ok = stitch_peak(maxrss, tmp, 65536, 65536, 4)
        check(rc == 0 and ok and kib < 32 * 1024,
              f"memory: stitch of 4 synthetic bands of a 65536x65536 image: peak RSS {kib / 1024:.1f} MiB "
              f"(bound 32 MiB), {dt:.0f} s")


def main():
    global CLI
    ap = argparse.ArgumentParser()
    ap.add_argument("--inrgan", required=True)
    ap.add_argument("--maxrss")
    ap.add_argument("--big", action="store_true")
    ap.add_argument("--only", default="")
    a = ap.parse_args()
    CLI = os.path.abspath(a.inrgan)
    tests = [("seeds", test_seeds), ("frames", test_frames), ("bands", test_bands), ("stitch", test_stitch),
             ("auto", test_auto), ("multi", test_multi)]
    if a.maxrss:
        tests.append(("memory", lambda t: test_memory(t, os.path.abspath(a.maxrss), a.big)))
    for name, fn in tests:
        if a.only and name not in a.only.split(","):
            continue
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.time()
            fn(tmp)
            print(f"     ({name}: {time.time() - t0:.1f} s)", flush=True)
    if failures:
        print(f"{len(failures)} FAILED")
        return 1
    print("all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
