#!/usr/bin/python3
"""CIPS: the C engine (CPU backend) against the PyTorch CIPSskip (python/inrgan/cips.py).

    /usr/bin/python3 tests/test_cips_parity.py --inrgan build/inrgan [--full] [--keep DIR]

Small random CIPSskip models (every parameter random, noise weights and biases nonzero) are
written as model files and rendered with
  `inrgan render -m M --seeds S --npy --backend cpu --noise zero|N [--truncation P] [--view/--size/--stride]`;
the float images must equal the float64 torch forward of the weights read back from the file,
with z = seed_to_z(S), coordinates from cips.view_coords and, for seeded noise, the engine's
noise reproduced by cips.engine_noises: max abs error <= 1e-4 (TOL). Cases: zero and seeded
noise, batch of 2, w_avg + truncation 0.7, coords_size != size, a non-native view at a non-square
size, stride 2, n_mlp 0, an fp16 file, params-space interpolation.

--full (not in the sanitizer build): a full-size CIPS-256 fixture in the released naming
(random weights, torch.save of {"g_ema": state_dict}) goes through inrgan.convert_cips; `inrgan
info` must report 44,317,092 parameters and 445.8 GFLOP; `inrgan render` of the whole 256x256
image on the CPU must succeed; and the exact stride-8 subsample (32x32 pixels) must match torch.

Exit 0 on pass, 1 on a mismatch, 2 on bad usage, 77 if torch is unavailable.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

from torch_env import ROOT, np, torch  # noqa: E402,F401  (sys.path, skip without torch)

from inrgan import cips, latents, safetensors_io  # noqa: E402

TOL = 1e-4
FAILURES = []


def run(cli, args, timeout=600):
    p = subprocess.run([cli] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout)
    if p.returncode != 0:
        raise AssertionError("rc %d: %s\n  stderr: %s" % (p.returncode, " ".join(args),
                                                          p.stderr.decode(errors="replace")))
    return p.stdout.decode()


def randomize(G, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in G.named_parameters():
            if name.endswith("noise.weight"):
                p.copy_(0.3 * torch.randn(p.shape, generator=g))
            elif name.endswith("modulation.bias"):
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=g))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            elif name.startswith("style."):
                p.copy_(torch.randn(p.shape, generator=g) / G.lr_mlp)
            elif name == "lff.ffm.conv.weight":
                p.copy_(torch.rand(p.shape, generator=g) * 4.2 - 2.1)
            else:
                p.copy_(torch.randn(p.shape, generator=g))


def write_model(G, path, w_avg=None, psi=1.0, fp16=False):
    cips.save_model(G, path, w_avg, psi, fp16=fp16)


def read_back(path):
    """G (float64) with the weights exactly as the file holds them, its w_avg, its config."""
    arrays, meta = safetensors_io.load(path)
    cfg = json.loads(meta["inrgan"])
    G = cips.from_config(cfg).double().eval()
    G.load_state_dict({k: torch.from_numpy(np.array(v, dtype=np.float64))
                       for k, v in arrays.items() if k != "w_avg"})
    w_avg = torch.from_numpy(np.array(arrays["w_avg"], np.float64)) if "w_avg" in arrays else None
    return G, w_avg, cfg


def torch_images(G, w_avg, cfg, seeds, psi, noise, view=(-1, -1, 1, 1), size=None, stride=1,
                 interp=None):
    n = cfg["coords_size"]
    W, H = size or (n, n)
    z = torch.from_numpy(latents.seeds_to_z(seeds, cfg["style_dim"])).double()
    coords = cips.view_coords(view, W, H, n, batch=len(seeds), dtype=torch.float64)
    coords = coords[:, :, ::stride, ::stride]
    rows, cols = range(0, H, stride), range(0, W, stride)
    nz = "zero" if noise == "zero" else [t.double() for t in
                                         cips.engine_noises(G, noise, rows, cols)]
    with torch.no_grad():
        if interp is None:
            return G(z, noise=nz, psi=psi, w_avg=w_avg, coords=coords).numpy()
        # params space: every per-image layer weight lerped (the engine's IG_SPACE_PARAMS)
        zb, t = interp
        zb = torch.from_numpy(latents.seeds_to_z(zb, cfg["style_dim"])).double()
        return params_lerp(G, z, zb, t, coords, nz).numpy()


def params_lerp(G, za, zb, t, coords, noise):
    wa, wb = G.mapping(za), G.mapping(zb)

    def weight(mod, w, demod):
        s = mod.modulation(w)
        wt = mod.scale * mod.weight[0, :, :, 0, 0].unsqueeze(0) * s.unsqueeze(1)
        if demod:
            wt = wt * torch.rsqrt(wt.pow(2).sum(2, keepdim=True) + cips.EPS)
        return wt

    def lerp(mod, demod):
        return (1 - t) * weight(mod, wa, demod) + t * weight(mod, wb, demod)

    b = za.shape[0]
    h, w_ = coords.shape[2:]
    noises = [torch.zeros(1, 1, h, w_, dtype=torch.float64)] * G.num_noise_layers \
        if isinstance(noise, str) else noise

    def styled(layer, x, k):
        y = torch.einsum("boi,bihw->bohw", lerp(layer.conv, True), x)
        y = y + layer.noise.weight * noises[k]
        return layer.activate(y)

    x = torch.cat([G.lff(coords), G.embedding(coords)], 1)
    x = styled(G.conv1, x, 0)
    rgb = 0
    for i, to_rgb in enumerate(G.to_rgbs):
        x = styled(G.linears[2 * i], x, 1 + 2 * i)
        x = styled(G.linears[2 * i + 1], x, 2 + 2 * i)
        rgb = torch.einsum("boi,bihw->bohw", lerp(to_rgb.conv, False), x) + to_rgb.bias + rgb
    assert b == rgb.shape[0]
    return rgb


def c_images(cli, path, tmp, seeds, args):
    out = os.path.join(tmp, "out")
    shutil.rmtree(out, ignore_errors=True)
    run(cli, ["render", "-m", path, "--seeds", ",".join(map(str, seeds)), "--npy", "-o", out,
              "--backend", "cpu", "-q", "--batch", "2"] + args)
    names = sorted(f for f in os.listdir(out) if f.endswith(".npy"))
    if "--interp" not in args:  # seedNNNN.npy, or seedNNNN-WxH... when size/view/stride differ from native
        names = [next(f for f in names if f == "seed%04d.npy" % s or f.startswith("seed%04d-" % s))
                 for s in seeds]
    return np.stack([np.load(os.path.join(out, f)).astype(np.float64) for f in names])


def compare(what, got, want):
    if got.shape != want.shape:
        raise AssertionError("%s: C shape %s, torch %s" % (what, got.shape, want.shape))
    err = float(np.max(np.abs(got - want)))
    if not err <= TOL:
        raise AssertionError("%s: max abs error %.3g > %g" % (what, err, TOL))
    print("ok   %-58s max |C - torch| = %.2e" % (what, err))
    return err


def case(cli, tmp, name, kwargs, seed, fp16=False, psi=1.0, coords_size=None, renders=(),
         arch="CIPSskip"):
    G = cips.ARCHS[arch](coords_size=coords_size, **kwargs)
    randomize(G, seed)
    w_avg = None
    if psi != 1.0:
        w_avg = 0.3 * torch.randn(G.style_dim, generator=torch.Generator().manual_seed(seed + 1))
    path = os.path.join(tmp, name + ".safetensors")
    write_model(G, path, w_avg, psi, fp16)
    Gd, w_avg_d, cfg = read_back(path)
    for label, seeds, noise, extra, tkw in renders:
        args = list(extra) + ["--noise", "zero" if noise == "zero" else str(noise[0])]
        got = c_images(cli, path, tmp, seeds, args)
        want = torch_images(Gd, w_avg_d, cfg, seeds, psi, noise, **tkw)
        try:
            compare("%s: %s" % (name, label), got, want)
        except AssertionError as e:
            FAILURES.append(str(e))
            print("FAIL " + str(e))


def small_cases(cli, tmp):
    k16 = cips.small_kwargs(size=16, hidden=32, style_dim=32, n_mlp=2)
    case(cli, tmp, "cips16", k16, 1, renders=[
        ("native, zero noise, 2 images", [3, 4], "zero", [], {}),
        ("native, seeded noise 9", [3, 4], [9, 9], [], {}),
        ("view (-0.5,-0.3)-(0.7,0.9) at 20x12, noise 5", [5], [5],
         ["--view", "-0.5,-0.3,0.7,0.9", "--size", "20x12"],
         dict(view=(-0.5, -0.3, 0.7, 0.9), size=(20, 12))),
        ("stride 2 of 32x32, noise 2", [6], [2], ["--size", "32x32", "--stride", "2"],
         dict(size=(32, 32), stride=2)),
    ])
    case(cli, tmp, "cips16_wavg_psi07_coords24", k16, 2, psi=0.7, coords_size=24, renders=[
        ("psi 0.7 from the file, coords_size 24, noise 1", [7, 8], [1, 1], [], {}),
    ])
    case(cli, tmp, "cips8_nmlp0", cips.small_kwargs(size=8, hidden=16, style_dim=16, n_mlp=0,
                                                   channels=[16, 8]), 3, renders=[
        ("n_mlp 0, zero noise", [1], "zero", [], {}),
    ])
    case(cli, tmp, "cips16_fp16", k16, 4, fp16=True, renders=[
        ("fp16 file, noise 3", [2], [3], [], {}),
    ])
    # CIPSres (the landscapes structure): identity and 1x1 skips, one final ToRGB
    res = cips.small_kwargs(size=16, hidden=32, style_dim=32, n_mlp=2, channels=[32, 16, 8])
    case(cli, tmp, "cipsres16", res, 6, arch="CIPSres", renders=[
        ("CIPSres, zero noise, 2 images", [3, 4], "zero", [], {}),
        ("CIPSres, seeded noise 4, view at 20x12", [5], [4],
         ["--view", "-0.5,-0.3,0.7,0.9", "--size", "20x12"],
         dict(view=(-0.5, -0.3, 0.7, 0.9), size=(20, 12))),
    ])
    case(cli, tmp, "cipsres16_wavg", res, 7, arch="CIPSres", psi=0.7, fp16=True, renders=[
        ("CIPSres, fp16 file, psi 0.7, noise 2", [1], [2], [], {}),
    ])
    case(cli, tmp, "cips16_params", k16, 5, renders=[
        ("--interp 3,4 --t 0.3 --space params", [3], "zero",
         ["--interp", "3,4", "--t", "0.3", "--space", "params"], dict(interp=([4], 0.3))),
    ])


def bad_inputs(cli, tmp):
    """CIPS files and options the engine must refuse with one line, exit 2, nothing written."""
    G = cips.CIPSskip(**cips.small_kwargs(size=8, hidden=16, style_dim=16, channels=[16, 8]))
    randomize(G, 7)
    good = {k: v.detach().numpy().astype(np.float32) for k, v in G.state_dict().items()}
    cfg = cips.cips_config(G)

    def variant(name, tensors, config):
        path = os.path.join(tmp, name + ".safetensors")
        safetensors_io.save(path, tensors, {"inrgan": json.dumps(config)})
        return path

    nan = dict(good)
    nan["emb.input"] = good["emb.input"].copy()
    nan["emb.input"][0, 3, 2, 1] = np.nan
    missing = {k: v for k, v in good.items() if k != "linears.1.noise.weight"}
    extra = dict(good, **{"linears.9.noise.weight": np.zeros(1, np.float32)})
    shape = dict(good, **{"emb.input": np.zeros((1, 16, 4, 4), np.float32)})
    psi_cfg = dict(cfg, truncation_psi=0.7)
    res_cfg = dict(cfg, arch="CIPSdeep")
    cases = [
        ("NaN in emb.input", variant("nan", nan, cfg), [], "holds NaN"),
        ("missing noise weight", variant("missing", missing, cfg), [], "is missing"),
        ("extra tensor", variant("extra", extra, cfg), [], "not part of this architecture"),
        ("wrong embedding shape", variant("shape", shape, cfg), [], "has shape"),
        ("psi 0.7 without w_avg in the config", variant("psi", good, psi_cfg), [], "needs w_avg"),
        ("unknown arch CIPSdeep", variant("res", good, res_cfg), [], "CIPSdeep"),
        ("CIPSres config over CIPSskip tensors", variant("mix", good, dict(cfg, arch="CIPSres")), [],
         "has shape"),
        ("--truncation 0.5 without w_avg", variant("ok", good, cfg), ["--truncation", "0.5"],
         "needs w_avg"),
        ("--noise banana", variant("ok2", good, cfg), ["--noise", "banana"], "--noise"),
    ]
    for what, path, extra_args, msg in cases:
        out = os.path.join(tmp, "bad_out")
        shutil.rmtree(out, ignore_errors=True)
        p = subprocess.run([cli, "render", "-m", path, "--seeds", "0", "-o", out, "--backend",
                            "cpu", "-q"] + extra_args, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
        err = p.stderr.decode(errors="replace").strip()
        ok = p.returncode == 2 and msg in err and len(err.splitlines()) == 1 and \
            not (os.path.isdir(out) and os.listdir(out))
        if ok:
            print("ok   refused: %-40s %s" % (what, err))
        else:
            FAILURES.append("%s: rc %d, stderr %r" % (what, p.returncode, err))
            print("FAIL %s: rc %d, stderr %r" % (what, p.returncode, err))


def full_fixture(cli, tmp):
    """The released CIPS-256 structure with random weights, through the converter."""
    G = cips.CIPSskip()
    randomize(G, 11)
    pt = os.path.join(tmp, "cips256_fixture.pt")
    torch.save({"g_ema": G.state_dict()}, pt)
    del G
    model = os.path.join(tmp, "cips256.safetensors")
    p = subprocess.run([sys.executable, "-m", "inrgan.convert_cips", pt, "-o", model],
                       cwd=os.path.join(ROOT, "python"), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    if p.returncode != 0:
        raise AssertionError("convert_cips failed: %s" % p.stderr.decode())
    info = run(cli, ["info", "-m", model])
    for want in ("parameters:   44,317,092", "model GFLOP per 256x256 image: 445.8"):
        if want not in info:
            raise AssertionError("info lacks %r:\n%s" % (want, info))
    print("ok   full-size fixture: info reports 44,317,092 parameters, 445.8 GFLOP")
    out = os.path.join(tmp, "full")
    run(cli, ["render", "-m", model, "--seeds", "1", "-o", out, "--backend", "cpu", "-q"],
        timeout=1200)
    if not os.path.getsize(os.path.join(out, "seed0001.png")) > 1000:
        raise AssertionError("full-size render: no PNG")
    print("ok   full-size fixture: 256x256 render on the CPU backend")
    Gd, _, cfg = read_back(model)
    got = c_images(cli, model, tmp, [1], ["--stride", "8", "--noise", "1"])
    want = torch_images(Gd, None, cfg, [1], 1.0, [1], size=(256, 256), stride=8)
    compare("full-size fixture: stride-8 subsample vs torch, noise 1", got, want)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--inrgan", required=True)
    ap.add_argument("--full", action="store_true")
    ap.add_argument("--keep", default=None)
    args = ap.parse_args()
    if not os.path.exists(args.inrgan):
        print("inrgan CLI not found: %s" % args.inrgan)
        return 2
    tmp = args.keep or tempfile.mkdtemp(prefix="ig_cips_parity_")
    os.makedirs(tmp, exist_ok=True)
    try:
        small_cases(args.inrgan, tmp)
        bad_inputs(args.inrgan, tmp)
        if args.full:
            try:
                full_fixture(args.inrgan, tmp)
            except AssertionError as e:
                FAILURES.append(str(e))
                print("FAIL " + str(e))
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print("%d failure(s)" % len(FAILURES))
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
