#!/usr/bin/python3
"""CIPS (python/inrgan/cips.py, convert_cips.py): names/shapes of the released CIPSskip state
dict, parameter count, forward determinism and precision, embedding sampling, conversion.

    /usr/bin/python3 tests/test_cips_python.py

Exit 0 when every check passes, 1 otherwise (each failure is printed), 77 when torch or numpy
cannot be imported (use Debian's /usr/bin/python3).
"""

import json
import math
import os
import pickle
import subprocess
import sys
import tempfile

from torch_env import ROOT, check, np, run_checks, torch  # noqa: F401 (sys.path; exit 77 w/o torch)
import torch.nn.functional as F  # noqa: E402

from inrgan import cips, safetensors_io  # noqa: E402

PYDIR = os.path.join(ROOT, "python")


def reference_full_list():
    """The released CIPSskip (size 256) tensor list, written out from reference §5 independently
    of cips.expected_shapes: rosinality naming, channels 512,512,512,512,512,256,128."""
    out = {"lff.ffm.conv.weight": (512, 2, 1, 1), "lff.ffm.conv.bias": (512,),
           "emb.input": (1, 512, 256, 256)}

    def styled(p, cin, cout):
        out[p + ".conv.weight"] = (1, cout, cin, 1, 1)
        out[p + ".conv.modulation.weight"] = (cin, 512)
        out[p + ".conv.modulation.bias"] = (cin,)
        out[p + ".noise.weight"] = (1,)
        out[p + ".activate.bias"] = (cout,)

    styled("conv1", 1024, 512)
    widths = [512, 512, 512, 512, 512, 256, 128]
    cin = 512
    for i, c in enumerate(widths):
        styled("linears.%d" % (2 * i), cin, c)
        styled("linears.%d" % (2 * i + 1), c, c)
        out["to_rgbs.%d.conv.weight" % i] = (1, 3, c, 1, 1)
        out["to_rgbs.%d.conv.modulation.weight" % i] = (c, 512)
        out["to_rgbs.%d.conv.modulation.bias" % i] = (c,)
        out["to_rgbs.%d.bias" % i] = (1, 3, 1, 1)
        cin = c
    for k in range(1, 9):
        out["style.%d.weight" % k] = (512, 512)
        out["style.%d.bias" % k] = (512,)
    return out


def small_model(seed=0, size=16, arch="CIPSskip", **kw):
    torch.manual_seed(seed)
    G = cips.ARCHS[arch](**cips.small_kwargs(size=size, **kw)).eval()
    with torch.no_grad():   # non-trivial values for the zero-initialised parameters
        for name, p in G.named_parameters():
            if name.endswith("noise.weight"):
                p.fill_(0.1)
            elif name.endswith("activate.bias") or name.endswith("to_rgbs.0.bias"):
                p.normal_(0, 0.1)
    return G


@check
def full_size_names_shapes_count():
    G = cips.CIPSskip(device="meta")
    sd = G.state_dict()
    ref = reference_full_list()
    got = {k: tuple(v.shape) for k, v in sd.items()}
    assert set(got) == set(ref), ("names differ: missing %s, extra %s"
                                  % (sorted(set(ref) - set(got))[:3], sorted(set(got) - set(ref))[:3]))
    bad = [k for k in ref if got[k] != ref[k]]
    assert not bad, "shape mismatch %s: %s vs %s" % (bad[0], got[bad[0]], ref[bad[0]])
    assert len(ref) == 122, len(ref)
    cfg = cips.cips_config(G)
    exp = cips.expected_shapes(cfg)
    assert list(exp) == list(sd), "expected_shapes order != module state_dict order"
    n = cips.param_count(cfg)
    assert n == cips.param_count(G) == sum(math.prod(s) for s in ref.values())
    emb = 512 * 256 * 256
    print("  CIPSskip 256 params: %d (%.2f M; embedding %d, other %d)" % (n, n / 1e6, emb, n - emb))
    assert abs(n - 44.3e6) < 0.05e6, n
    macs = cfg["size"] ** 2 * cips.macs_per_pixel(cfg)
    print("  MACs per 256^2 image: %.1f G (%.3f M per pixel)" % (macs / 1e9,
                                                               cips.macs_per_pixel(cfg) / 1e6))
    assert abs(macs / 1e9 - 223) < 1.0, macs


@check
def config_schema():
    cfg = cips.cips_config(cips.CIPSskip(**cips.small_kwargs()))
    assert cfg["family"] == "cips" and cfg["channels"] == [32, 32, 16], cfg
    back = json.loads(json.dumps(cfg))
    cips.validate_config(back)
    kw = cips.kwargs_from_config(back)
    G2 = cips.CIPSskip(device="meta", **kw)
    assert cips.cips_config(G2) == cfg
    for bad in ({"family": "inrgan"}, {"channels": [32, 32]}, {"size": 24}, {"bogus": 1},
                {"noise": "fresh"}, {"emb_size": 32}):
        try:
            cips.validate_config(dict(cfg, **bad))
        except ValueError:
            continue
        raise AssertionError("config accepted %s" % bad)


@check
def coordinates_linspace_y_down():
    c = cips.make_coords(2, 4, 5)
    assert c.shape == (2, 2, 4, 5)
    assert torch.equal(c[0, 0, 0], torch.linspace(-1, 1, 5))          # x along columns
    assert torch.equal(c[0, 1, :, 0], torch.linspace(-1, 1, 4))       # y down the rows
    assert c[0, 1, 0, 0] == -1 and c[0, 1, -1, 0] == 1


@check
def view_mapping():
    n = 16
    native = cips.view_coords((-1, -1, 1, 1), n, n, n, dtype=torch.float64)
    ref = cips.make_coords(1, n, n, dtype=torch.float64)
    assert (native - ref).abs().max() < 1e-12, (native - ref).abs().max()
    dense = cips.view_coords((-1, -1, 1, 1), 2 * n, 2 * n, n, dtype=torch.float64)
    # engine rule: dense column 2j has coarse column j's x, dense row 2i+1 has coarse row i's y
    assert (dense[0, 0, 1, 0::2] - native[0, 0, 0]).abs().max() < 1e-12
    assert (dense[0, 1, 1::2, 0] - native[0, 1, :, 0]).abs().max() < 1e-12
    # a sub-view = the matching crop of the native grid (top-left quarter)
    q = cips.view_coords((-1, 0, 0, 1), n // 2, n // 2, n, dtype=torch.float64)
    assert (q - native[:, :, : n // 2, : n // 2]).abs().max() < 1e-12


@check
def forward_finite_deterministic():
    G = small_model()
    z = torch.randn(2, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        a = G(z, noise="zero")
        b = G(z, noise="zero")
        s1, s2, s3 = G(z, noise=5), G(z, noise=5), G(z, noise=6)
        r1, r2 = G(z), G(z)
    assert a.shape == (2, 3, 16, 16) and torch.isfinite(a).all()
    assert torch.equal(a, b), "zero-noise forward not deterministic"
    assert torch.equal(s1, s2) and not torch.equal(s1, s3) and not torch.equal(s1, a)
    assert not torch.equal(r1, r2), "noise=None must draw fresh noise (original behaviour)"
    with torch.no_grad():
        w = G.mapping(z)
        assert torch.equal(G(w, input_is_latent=True, noise="zero"), a)
        wa = G.mean_w(100, seed=0)
        t = G(z, noise="zero", psi=0.5, w_avg=wa)
        t2 = G(wa + 0.5 * (w - wa), input_is_latent=True, noise="zero")
        assert (t - t2).abs().max() < 1e-5
        t0 = G(z, noise="zero", psi=0.0, w_avg=wa)
        assert torch.allclose(t0[0], t0[1], atol=1e-5), "psi 0 must give the mean image"
        # manual evaluation of the reference formulas for one pixel (independent of modules)
        x = torch.cat([torch.sin(F.conv2d(cips.make_coords(2, 16, 16), G.lff.ffm.conv.weight,
                                          G.lff.ffm.conv.bias)),
                       F.grid_sample(G.emb.input.expand(2, -1, -1, -1),
                                     cips.make_coords(2, 16, 16).permute(0, 2, 3, 1),
                                     padding_mode="border", align_corners=False)], 1)

        def modfc(layer, h, demod=True):
            conv = layer.conv if demod else layer
            W = conv.weight[0, :, :, 0, 0] / math.sqrt(h.shape[1])
            m = conv.modulation
            s = w @ (m.weight * m.lr_mul / math.sqrt(m.weight.shape[1])).t() + m.bias * m.lr_mul
            Wb = W[None] * s[:, None, :]
            if demod:
                Wb = Wb / torch.sqrt((Wb ** 2).sum(2, keepdim=True) + 1e-8)
            y = torch.einsum("boi,bihw->bohw", Wb, h)
            if not demod:
                return y
            y = y + layer.activate.bias.view(1, -1, 1, 1)
            return torch.where(y >= 0, y, 0.2 * y) * math.sqrt(2)

        h = modfc(G.conv1, x)
        rgb = 0
        for i in range(len(G.to_rgbs)):
            h = modfc(G.linears[2 * i + 1], modfc(G.linears[2 * i], h))
            rgb = rgb + modfc(G.to_rgbs[i].conv, h, demod=False) + G.to_rgbs[i].bias
        assert (rgb - a).abs().max() < 1e-4 * (1 + a.abs().max()), (rgb - a).abs().max()


@check
def float64_vs_float32():
    G = small_model(seed=3)
    z = torch.randn(2, 32, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        a = G(z, noise=7)
        G64 = small_model(seed=3).double()
        b = G64(z.double(), noise=7)
    err = (a.double() - b).abs().max().item()
    scale = b.abs().max().item()
    print("  fp32 vs fp64 max |diff| = %.3g (output max %.3g)" % (err, scale))
    assert b.dtype == torch.float64 and err < 1e-4 * max(1.0, scale), err


@check
def embedding_sampling_native_grid():
    """In eval (and off-size) the embedding is grid_sample'd (bilinear, border, align_corners
    False) at the linspace coordinates. At the native n x n grid, pixel i reads continuous
    position p_i = clamp((c_i + 1) n/2 - 0.5, 0, n-1) = clamp(i n/(n-1) - 0.5, 0, n-1): the
    corners are exact, the interior is a half-pixel-varying blend (shift i/(n-1) - 1/2), so the
    eval image is NOT built on the stored embedding values but on a slightly resampled one;
    training at the native size uses the stored values directly."""
    torch.manual_seed(0)
    for n in (8, 16, 17):
        G = cips.CIPSskip(size=16, hidden_size=4, style_dim=8, n_mlp=1, channels=[8, 8, 8]).eval()
        E = torch.randn(1, 4, n, n, dtype=torch.float64)
        G.emb.input = torch.nn.Parameter(E)
        G.size = n
        with torch.no_grad():
            got = G.embedding(cips.make_coords(1, n, n, dtype=torch.float64))
        p = np.clip(np.arange(n) * n / (n - 1) - 0.5, 0, n - 1)
        i0 = np.floor(p).astype(int)
        i1 = np.minimum(i0 + 1, n - 1)
        f = p - i0
        A = np.zeros((n, n))
        A[np.arange(n), i0] += 1 - f
        A[np.arange(n), i1] += f
        En = E[0].numpy()
        ref = np.einsum("ri,cij,sj->crs", A, En, A)        # rows then columns, separable
        assert np.abs(got[0].numpy() - ref).max() < 1e-12, np.abs(got[0].numpy() - ref).max()
        g = got[0].numpy()
        for (r, c) in ((0, 0), (0, n - 1), (n - 1, 0), (n - 1, n - 1)):
            assert np.abs(g[:, r, c] - En[:, r, c]).max() < 1e-12
        assert np.abs(g - En).max() > 1e-3, "interior should be resampled"
        if n % 2 == 1:
            m = n // 2
            assert np.abs(g[:, m, m] - En[:, m, m]).max() < 1e-12
        G.train()
        with torch.no_grad():
            assert torch.equal(G.embedding(cips.make_coords(1, n, n, dtype=torch.float64)), E)


def _run_convert(*args):
    env = dict(os.environ, PYTHONPATH=PYDIR, PYTHONDONTWRITEBYTECODE="1")
    p = subprocess.run([sys.executable, "-m", "inrgan.convert_cips"] + list(args), env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


@check
def convert_roundtrip():
    G = small_model(seed=4)
    sd = G.state_dict()
    with tempfile.TemporaryDirectory() as d:
        plain = os.path.join(d, "g.pt")
        wrapped = os.path.join(d, "ckpt.pt")
        out = os.path.join(d, "m.safetensors")
        torch.save(sd, plain)
        torch.save({"g": sd, "g_ema": sd, "args": {"size": 16}}, wrapped)
        for src, extra in ((plain, []), (wrapped, ["--w-avg-samples", "50", "--coords-size", "32"])):
            rc, so, se = _run_convert(src, "-o", out, *extra)
            assert rc == 0, "convert failed (%d): %s" % (rc, se.strip())
            tensors, meta = safetensors_io.load(out)
            cfg = json.loads(meta["inrgan"])
            cips.validate_config(cfg)
            assert cfg["family"] == "cips" and cfg["channels"] == G.channels
            for k, v in sd.items():
                assert k in tensors, "missing %s" % k
                assert tensors[k].shape == tuple(v.shape) and np.array_equal(tensors[k], v.numpy()), k
            assert set(tensors) - set(sd) == ({"w_avg"} if extra else set())
        assert cfg["coords_size"] == 32 and cfg["has_w_avg"]
        wa = G.mean_w(50, seed=0).numpy()
        assert np.abs(tensors["w_avg"] - wa).max() < 1e-5
        G2 = cips.CIPSskip(**cips.kwargs_from_config(cfg)).eval()
        G2.load_state_dict({k: torch.from_numpy(tensors[k].copy()) for k in sd})
        z = torch.randn(1, 32)
        with torch.no_grad():
            assert torch.equal(G(z, noise="zero", coords_size=32), G2(z, noise="zero"))

        # failures: one line, exit 2
        bad = dict(sd)
        del bad["linears.3.noise.weight"]
        torch.save(bad, plain)
        rc, so, se = _run_convert(plain, "-o", out)
        assert rc == 2 and "missing tensor linears.3.noise.weight" in se and se.count("\n") == 1, (rc, se)
        bad = dict(sd)
        bad["to_rgbs.1.conv.weight"] = torch.zeros(1, 3, 7, 1, 1)
        torch.save(bad, plain)
        rc, so, se = _run_convert(plain, "-o", out)
        assert rc == 2 and "to_rgbs.1.conv.weight" in se and se.count("\n") == 1, (rc, se)
        bad = dict(sd, extra_thing=torch.zeros(3))
        torch.save(bad, plain)
        rc, so, se = _run_convert(plain, "-o", out)
        assert rc == 2 and "unexpected tensor extra_thing" in se, (rc, se)
        bad = dict(sd)
        bad["style.1.bias"] = bad["style.1.bias"].clone().fill_(float("nan"))
        torch.save(bad, plain)
        rc, so, se = _run_convert(plain, "-o", out)
        assert rc == 2 and "non-finite" in se, (rc, se)

        class Evil:
            def __reduce__(self):
                return (os.system, ("echo pwned > %s" % os.path.join(d, "pwned"),))
        with open(plain, "wb") as f:
            pickle.dump({"g_ema": Evil()}, f)
        rc, so, se = _run_convert(plain, "-o", out)
        assert rc == 2 and se.count("\n") == 1 and not os.path.exists(os.path.join(d, "pwned")), (rc, se)
        rc, so, se = _run_convert(os.path.join(d, "nope.pt"), "-o", out)
        assert rc == 2 and se.count("\n") == 1, (rc, se)


@check
def cipsres_structure_and_conversion():
    """CIPSres (the landscapes model): the released names/shapes and count at full size, and a
    small one through the converter (arch recognised, tensors and forward unchanged)."""
    cfg = cips.cips_config(arch="CIPSres")
    exp = cips.expected_shapes(cfg)
    assert cips.param_count(cfg) == 43027858, cips.param_count(cfg)
    assert exp["linears.0.conv.weight"] == (1, 512, 1024, 1, 1)
    assert exp["linears.6.skip.0.weight"] == (256, 512, 1, 1) and "linears.1.skip.0.weight" not in exp
    assert exp["to_rgb_last.conv.weight"] == (1, 3, 128, 1, 1) and "to_rgbs.0.bias" not in exp
    G = small_model(seed=5, arch="CIPSres", channels=[32, 16, 8])
    sd = G.state_dict()
    assert list(sd) == list(cips.expected_shapes(cips.cips_config(G)))
    with tempfile.TemporaryDirectory() as d:
        src, out = os.path.join(d, "landscapes_g_ema.pt"), os.path.join(d, "m.safetensors")
        torch.save(sd, src)
        rc, so, se = _run_convert(src, "-o", out)
        assert rc == 0 and "CIPSres" in so, (rc, so, se)
        tensors, meta = safetensors_io.load(out)
        cfg = json.loads(meta["inrgan"])
        assert cfg["arch"] == "CIPSres" and cfg["channels"] == [32, 16, 8]
        G2 = cips.from_config(cfg).eval()
        G2.load_state_dict({k: torch.from_numpy(tensors[k].copy()) for k in sd})
        z = torch.randn(2, 32)
        with torch.no_grad():
            assert torch.equal(G(z, noise="zero"), G2(z, noise="zero"))


def main():
    return run_checks()


if __name__ == "__main__":
    sys.exit(main())
