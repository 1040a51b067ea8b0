#!/usr/bin/python3
"""Python side checks: safetensors I/O, configs, the torch Generator's names/counts/math,
model export/load, the seed RNG and the golden fixture.

    /usr/bin/python3 tests/test_python_io.py

Exit 0 when every check passes, 1 otherwise (each failure is printed), 77 when torch or
numpy cannot be imported (use Debian's /usr/bin/python3).
"""

import json
import math
import os
import struct
import sys
import tempfile

from torch_env import ROOT, check, np, run_checks, torch  # noqa: F401 (sys.path; exit 77 w/o torch)

from inrgan import config, export, generator, latents, safetensors_io  # noqa: E402


def expect(cond, msg):
    if not cond:
        raise AssertionError(msg)


def expect_raises(fn, what, needle=None):
    try:
        fn()
    except ValueError as e:
        if needle is not None and needle.lower() not in str(e).lower():
            raise AssertionError("%s: error message %r lacks %r" % (what, str(e), needle))
        return str(e)
    raise AssertionError("%s: no ValueError raised" % what)


# ------------------------------------------------------------------------------------------
# Reference §3.3 state_dict of the FFHQ/Bedrooms config, written out from the reference text
# (names, shapes, parameter/buffer), independently of inrgan/generator.py.

def _layer(prefix, cout, cin, affine_rows, filters):
    out = [(prefix + ".weight", (cout, cin, 1, 1), "P"), (prefix + ".bias", (cout,), "P")]
    if filters:
        out.append((prefix + ".resample_filter", (4, 4), "B"))
    out += [(prefix + ".affine.weight", (affine_rows, 512), "P"),
            (prefix + ".affine.bias", (affine_rows,), "P")]
    return out


def _torgb(prefix, cin):
    return [(prefix + ".weight", (3, cin, 1, 1), "P"), (prefix + ".bias", (3,), "P"),
            (prefix + ".affine.weight", (cin, 512), "P"), (prefix + ".affine.bias", (cin,), "P")]


def reference_state_dict(filters, extra=True):
    s = "synthesis."
    ref = []
    if filters:
        ref.append((s + "b4.resample_filter", (4, 4), "B"))
    ref += [(s + "b4.input.input.coord_fuser.const_embs", (1, 128, 32, 32), "P"),
            (s + "b4.input.input.coord_fuser.log_basis", (20, 2), "B")]
    ref += _layer(s + "b4.conv1", 512, 168, 6800, filters)
    ref += _torgb(s + "b4.torgb", 512)
    for b in ("b8", "b16", "b32"):
        if filters:
            ref.append((s + b + ".resample_filter", (4, 4), "B"))
        ref += _layer(s + b + ".conv0", 512, 512, 10240, filters)
        ref += _layer(s + b + ".conv1", 512, 512, 10240, filters)
        ref += _torgb(s + b + ".torgb", 512)
    if filters:
        ref.append((s + "b64.resample_filter", (4, 4), "B"))
    ref += [(s + "b64.coord_fuser.const_embs", (1, 128, 64, 64), "P"),
            (s + "b64.coord_fuser.log_basis", (24, 2), "B")]
    ref += _layer(s + "b64.conv0", 512, 688, 12000, filters)
    ref += _layer(s + "b64.conv1", 512, 512, 10240, filters)
    ref += _torgb(s + "b64.torgb", 512)
    for b, c, grid, n_log, cin0, a0, a1 in (("b128", 256, 128, 14, 668, 9240, 5120),
                                            ("b256", 128, 256, 16, 416, 5440, 2560)):
        if filters:
            ref.append((s + b + ".resample_filter", (4, 4), "B"))
        ref += [(s + b + ".coord_fuser.const_embs", (1, 64, grid, grid), "P"),
                (s + b + ".coord_fuser.log_basis", (n_log, 2), "B"),
                (s + b + ".coord_fuser.random_basis", (32, 2), "B")]
        ref += _layer(s + b + ".conv0", c, cin0, a0, filters)
        ref += _layer(s + b + ".conv1", c, c, a1, filters)
        if extra:
            ref += _layer(s + b + ".extra_convs.0", c, c, a1, filters)
        ref += _torgb(s + b + ".torgb", c)
    ref += [("mapping.w_avg", (512,), "B"),
            ("mapping.fc0.weight", (512, 512), "P"), ("mapping.fc0.bias", (512,), "P"),
            ("mapping.fc1.weight", (512, 512), "P"), ("mapping.fc1.bias", (512,), "P")]
    return ref


# The example config of docs/model-format.md (without provenance).
DOC_FFHQ_CONFIG = json.loads("""
{"format_version": 1, "family": "inrgan", "resolution": 256, "z_dim": 512, "w_dim": 512,
 "mapping": {"num_layers": 2, "lr_multiplier": 0.01}, "rank": 10, "upsampling": "nearest",
 "instance_norm": false, "num_ws": 16, "truncation_psi": 1.0,
 "blocks": [
  {"name": "b4", "grid": 32, "channels": 512, "extra_convs": 0,
   "embedding": {"log_freqs": 5, "diagonal": true, "random": 0, "const": 128}},
  {"name": "b8", "grid": 32, "channels": 512, "extra_convs": 0},
  {"name": "b16", "grid": 32, "channels": 512, "extra_convs": 0},
  {"name": "b32", "grid": 32, "channels": 512, "extra_convs": 0},
  {"name": "b64", "grid": 64, "channels": 512, "extra_convs": 0,
   "embedding": {"log_freqs": 6, "diagonal": true, "random": 0, "const": 128}},
  {"name": "b128", "grid": 128, "channels": 256, "extra_convs": 1,
   "embedding": {"log_freqs": 7, "diagonal": false, "random": 32, "const": 64}},
  {"name": "b256", "grid": 256, "channels": 128, "extra_convs": 1,
   "embedding": {"log_freqs": 8, "diagonal": false, "random": 32, "const": 64}}]}
""")


def tiny_model(kind, seed=0):
    torch.manual_seed(seed)
    G = generator.Generator(config.tiny(kind))
    generator.randomize_biases(G)
    return G.eval()


def raw_header(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    return n, json.loads(blob[8:8 + n].decode("utf-8")), blob


def write_raw(path, header, data, hlen=None):
    h = json.dumps(header).encode("utf-8")
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h) if hlen is None else hlen))
        f.write(h)
        f.write(data)


# ------------------------------------------------------------------------------------------
@check
def safetensors_round_trip(tmp):
    rng = np.random.default_rng(1)
    t = {"a.f32": rng.standard_normal((3, 5)).astype(np.float32),
         "b.f16": rng.standard_normal((7,)).astype(np.float16),       # 14 bytes: odd offsets
         "c.f32": rng.standard_normal((2, 3, 1, 1)).astype(np.float32),
         "d.scalar": np.array(1.5, dtype=np.float32),
         "e.torch16": torch.randn(5, 3).half(),
         "f.from64": rng.standard_normal((4,)),                        # float64 -> F32
         "g.fortran": np.asfortranarray(rng.standard_normal((3, 4)).astype(np.float32))}
    meta = {"inrgan": '{"x": 1}', "other": "ünïcode ✓"}
    for align in (False, True):
        p = os.path.join(tmp, "rt_%d.safetensors" % align)
        safetensors_io.save(p, t, meta, align=align)
        back, m = safetensors_io.load(p)
        expect(m == meta, "metadata round trip: %r != %r" % (m, meta))
        expect(set(back) == set(t), "names differ: %s" % sorted(back))
        for k, v in t.items():
            ref = v.numpy() if isinstance(v, torch.Tensor) else v
            want = np.float16 if ref.dtype == np.float16 else np.float32
            expect(back[k].dtype == want, "%s: dtype %s, expected %s" % (k, back[k].dtype, want))
            expect(back[k].shape == ref.shape, "%s: shape %s" % (k, back[k].shape))
            expect(np.array_equal(back[k], ref.astype(want)), "%s: values differ" % k)
        n, header, blob = raw_header(p)
        offs = {k: v["data_offsets"] for k, v in header.items() if k != "__metadata__"}
        dts = {k: v["dtype"] for k, v in header.items() if k != "__metadata__"}
        if align:
            expect((8 + n) % 8 == 0, "align=True: data section starts at %d" % (8 + n))
            for k, (b, _) in offs.items():
                size = 4 if dts[k] == "F32" else 2
                expect(b % size == 0, "align=True: %s at offset %d" % (k, b))
        else:
            mis = [k for k, (b, _) in offs.items() if dts[k] == "F32" and (8 + n + b) % 4]
            expect(mis, "align=False should leave some F32 tensor unaligned in this test")
        # tensors are back to back (no gaps), as the reference implementation requires
        spans = sorted(offs.values())
        expect(spans[0][0] == 0 and all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
               and spans[-1][1] == len(blob) - 8 - n, "data section is not packed")
    # explicit order
    p = os.path.join(tmp, "order.safetensors")
    order = ["c.f32", "a.f32", "b.f16", "d.scalar", "e.torch16", "f.from64", "g.fortran"]
    safetensors_io.save(p, t, None, order=order)
    _, header, _ = raw_header(p)
    got = sorted((v["data_offsets"][0], k) for k, v in header.items() if k != "__metadata__")
    expect([k for _, k in got] == order, "order not kept: %s" % got)
    expect("__metadata__" not in header, "empty metadata should be omitted")
    expect_raises(lambda: safetensors_io.save(p, t, None, order=order[:-1]), "bad order")
    expect_raises(lambda: safetensors_io.save(p, {"i": np.arange(3)}, None), "int tensor")
    expect_raises(lambda: safetensors_io.save(p, {"x": np.zeros(2, np.float32)}, {"k": 1}),
                  "non-string metadata")
    leftovers = [f for f in os.listdir(tmp) if f.endswith(".tmp")]
    expect(not leftovers, "temporary files left behind: %s" % leftovers)
    return "fp32/fp16/scalar/torch/float64 inputs, align False+True, order, metadata: exact"


@check
def safetensors_strict_parsing(tmp):
    p = os.path.join(tmp, "bad.safetensors")
    good = {"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}
    data = np.zeros(2, np.float32).tobytes()
    cases = [
        ("short file", lambda: open(p, "wb").write(b"\x01\x00"), "shorter"),
        ("header beyond file", lambda: write_raw(p, good, data, hlen=10 ** 6), "beyond"),
        ("not JSON", lambda: open(p, "wb").write(struct.pack("<Q", 3) + b"{x]"), "JSON"),
        ("not an object", lambda: write_raw(p, [1, 2], b""), "object"),
        ("unknown dtype", lambda: write_raw(p, {"x": dict(good["x"], dtype="F64")}, data),
         "dtype"),
        ("size mismatch", lambda: write_raw(p, {"x": dict(good["x"], shape=[3])}, data),
         "bytes"),
        ("outside data", lambda: write_raw(p, {"x": dict(good["x"], data_offsets=[4, 12])},
                                           data), "outside"),
        ("negative dim", lambda: write_raw(p, {"x": dict(good["x"], shape=[-2])}, data),
         "negative"),
        ("overlap", lambda: write_raw(p, {"x": good["x"], "y": {"dtype": "F16", "shape": [2],
                                                               "data_offsets": [4, 8]}}, data),
         "overlap"),
        ("missing key", lambda: write_raw(p, {"x": {"dtype": "F32", "shape": [2]}}, data),
         "malformed"),
        ("metadata not str", lambda: write_raw(p, dict(good, __metadata__={"a": 1}), data),
         "metadata"),
        ("bool in shape", lambda: write_raw(p, {"x": dict(good["x"], shape=[True, 2])}, data),
         "shape"),
    ]
    for what, make, needle in cases:
        make()
        expect_raises(lambda: safetensors_io.load(p), what, needle)
    # duplicate names
    with open(p, "wb") as f:
        h = (b'{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
             b'"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}')
        f.write(struct.pack("<Q", len(h)) + h + data)
    expect_raises(lambda: safetensors_io.load(p), "duplicate names", "duplicate")
    # a valid hand-written file with padding spaces and a gap loads
    write_raw(p, good, data + b"\0\0")
    back, meta = safetensors_io.load(p)
    expect(back["x"].tolist() == [0.0, 0.0] and meta == {}, "valid hand-written file")
    return "%d malformed files refused with ValueError" % (len(cases) + 1)


@check
def state_dict_names_ffhq(tmp):
    for filters in (False, True):
        G = generator.Generator(config.official("ffhq256"), resample_filter=filters,
                                device="meta")
        got = [(k, tuple(v.shape)) for k, v in G.state_dict().items()]
        ref = [(k, s) for k, s, _ in reference_state_dict(filters)]
        if got != ref:
            for i, (a, b) in enumerate(zip(got, ref)):
                if a != b:
                    raise AssertionError("filters=%s: entry %d is %s, reference %s"
                                         % (filters, i, a, b))
            raise AssertionError("filters=%s: %d entries vs %d in the reference"
                                 % (filters, len(got), len(ref)))
        buffers = {k for k, _ in G.named_buffers()}
        ref_buffers = {k for k, _, kind in reference_state_dict(filters) if kind == "B"}
        expect(buffers == ref_buffers, "buffers differ: %s" % sorted(buffers ^ ref_buffers))
    n = len(reference_state_dict(False))
    return "ffhq256 state_dict == reference §3.3 (%d entries; %d with resample filters), " \
           "names, shapes, order, buffers" % (n, len(reference_state_dict(True)))


@check
def state_dict_names_churches(tmp):
    for name in ("churches256",):
        G = generator.Generator(config.official(name), device="meta")
        got = [(k, tuple(v.shape)) for k, v in G.state_dict().items()]
        ref = [(k, s) for k, s, _ in reference_state_dict(False, extra=False)]
        expect(got == ref, "churches256 state_dict differs from the reference minus extra_convs")
        expect(not any("extra_convs" in k for k, _ in got), "churches has extra_convs")
    for name in ("ffhq256-bil", "bedrooms256", "bedrooms256-bil", "churches256-bil"):
        G = generator.Generator(config.official(name), device="meta")
        got = [(k, tuple(v.shape)) for k, v in G.state_dict().items()]
        ref = [(k, s) for k, s, _ in reference_state_dict(False)]
        expect(got == ref, "%s state_dict differs from the ffhq reference" % name)
    return "churches256 = reference minus extra_convs; bedrooms/-bil = ffhq keys"


@check
def param_counts(tmp):
    want = {"ffhq256": 72436573, "bedrooms256": 72436573, "ffhq256-bil": 72436573,
            "churches256": 68414429}
    msgs = []
    for name, n in want.items():
        G = generator.Generator(config.official(name), device="meta")
        got = export.param_count(G)
        expect(got == n, "%s: %d parameters, expected %d" % (name, got, n))
        msgs.append("%s %d" % (name, got))
    ref_p = sum(math.prod(s) for _, s, kind in reference_state_dict(True) if kind == "P")
    ref_b = sum(math.prod(s) for _, s, kind in reference_state_dict(True) if kind == "B")
    expect(ref_p == 72436573, "reference list sums to %d parameters" % ref_p)
    expect(ref_b == 1140, "reference list sums to %d buffer values (§2.3: 1,140)" % ref_b)
    G = generator.Generator(config.official("ffhq256"), resample_filter=True, device="meta")
    nb = sum(b.numel() for b in G.buffers())
    expect(nb == 1140, "buffers %d != 1140" % nb)
    return ", ".join(msgs) + " (meta device); buffers 1140"


@check
def configs(tmp):
    cfg = config.official("ffhq256")
    expect(cfg == DOC_FFHQ_CONFIG, "official('ffhq256') differs from docs/model-format.md")
    ch = config.official("churches256")
    expect(ch["num_ws"] == 14 and all(b["extra_convs"] == 0 for b in ch["blocks"]),
           "churches: num_ws 14, no extra convs")
    for name in config.OFFICIAL_NAMES:
        c = config.official(name)
        bil = name.endswith("-bil")
        expect(c["upsampling"] == ("bilinear" if bil else "nearest")
               and c["instance_norm"] == bil, "%s: upsampling/instance_norm" % name)
        expect(json.loads(config.to_json(c)) == c, "%s: JSON round trip" % name)
    for kind in config.TINY_KINDS:
        c = config.tiny(kind)
        expect(c["resolution"] <= 64, "tiny outputs <= 64")
        for b, layers, _ in config.layer_shapes(c):
            for _, cin, cout in layers:
                expect(8 <= cin <= 64 and 8 <= cout <= 64,
                       "tiny-%s %s widths %d->%d outside 8..64" % (kind, b["name"], cin, cout))
    t = config.tiny("nearest")
    expect(any(b.get("embedding", {}).get("random", 0) > 0 for b in t["blocks"]),
           "tiny needs a random basis")
    expect(config.tiny("bil")["instance_norm"] and config.tiny("bil")["upsampling"] == "bilinear",
           "tiny bil")
    bad = [
        (lambda c: c.update(format_version=2), "format_version"),
        (lambda c: c.update(family="cips"), "family"),
        (lambda c: c.update(upsampling="bicubic"), "upsampling"),
        (lambda c: c.update(instance_norm=1), "instance_norm"),
        (lambda c: c.update(resolution=128), "resolution"),
        (lambda c: c.update(rank=0), "rank"),
        (lambda c: c.update(bogus=1), "unknown"),
        (lambda c: c["blocks"][1].update(embedding=dict(c["blocks"][0]["embedding"])),
         "forbidden"),
        (lambda c: c["blocks"][4].pop("embedding"), "required"),
        (lambda c: c["blocks"][4].update(grid=128), "grid"),
        (lambda c: c["blocks"][2].update(name="b8"), "duplicate"),
        (lambda c: c["blocks"][2].update(name="x16"), "name"),
        (lambda c: c["blocks"][5].update(extra_convs=17), "extra_convs"),
        (lambda c: c["mapping"].update(lr_multiplier=0), "lr_multiplier"),
        (lambda c: c.update(truncation_psi=float("nan")), "truncation_psi"),
        (lambda c: c.update(provenance={"a": 1}), "provenance"),
    ]
    for mutate, needle in bad:
        c = json.loads(json.dumps(DOC_FFHQ_CONFIG))
        mutate(c)
        expect_raises(lambda: config.validate(c), "bad config (%s)" % needle, needle)
    return "ffhq256 == doc example; 6 official + 3 tiny configs; %d bad configs refused" % len(bad)


@check
def log_basis_and_coordinates(tmp):
    G = generator.Generator(config.official("ffhq256"), device="meta")
    # b4: K = 5, diagonals: rows as §1.8 (closed form rounded to float32)
    fz = generator.CoordFuser(32, DOC_FFHQ_CONFIG["blocks"][0]["embedding"])
    lb = fz.log_basis.numpy()
    expect(lb.shape == (20, 2) and lb.dtype == np.float32, "b4 log_basis shape")
    for k in range(5):
        f2, f4 = math.pi / 2 * 2 ** k, math.pi / 4 * 2 ** k
        rows = {k: (0.0, f2), 5 + k: (f2, 0.0), 10 + k: (-f4, f4), 15 + k: (f4, f4)}
        for r, (ax, ay) in rows.items():
            expect(lb[r, 0] == np.float32(ax) and lb[r, 1] == np.float32(ay),
                   "log_basis row %d = %s, expected (%r, %r)" % (r, lb[r], ax, ay))
    del G
    # embedding values at two pixels of a 16x16 level with a random basis
    torch.manual_seed(3)
    emb = {"log_freqs": 4, "diagonal": False, "random": 3, "const": 2}
    fz = generator.CoordFuser(16, emb).double()
    with torch.no_grad():
        e = fz(1)[0]
    phi = torch.cat([fz.log_basis, fz.random_basis]).numpy()
    n = 16
    for (i, j) in ((0, 0), (5, 11), (15, 15)):
        x = 2 * j / n - 1
        y = 2 * (n - 1 - i) / n - 1
        want = [math.sin(a * x + b * y) for a, b in phi] + \
               [math.cos(a * x + b * y) for a, b in phi] + \
               list(fz.const_embs[0, :, i, j].detach().numpy())
        got = e[:, i, j].numpy()
        err = float(np.max(np.abs(got - np.array(want))))
        expect(err < 1e-12, "embedding at (%d,%d) off by %g" % (i, j, err))
    expect(e.shape == (2 * (8 + 3) + 2, 16, 16), "embedding channels")
    return "log_basis closed form (b4, float32-exact); E at pixels (0,0),(5,11),(15,15) " \
           "matches sin/cos(Φ·(x,y)) with y up, tol 1e-12"


@check
def forward_fp32_vs_fp64(tmp):
    out = []
    z = torch.from_numpy(np.random.default_rng(5).standard_normal((3, 32)).astype(np.float32))
    for kind in config.TINY_KINDS:
        G = tiny_model(kind)
        with torch.no_grad():
            img32, b32 = G(z, psi=0.7, return_blocks=True)
            G64 = tiny_model(kind).double()
            img64, b64 = G64(z.double(), psi=0.7, return_blocks=True)
        err = float((img32.double() - img64).abs().max())
        berr = max(float((b32[k][0].double() - b64[k][0]).abs().max()) for k in b64)
        expect(img32.shape == (3, 3, 32, 32), "image shape %s" % (tuple(img32.shape),))
        expect(err <= 1e-4 and berr <= 1e-4, "tiny-%s fp32 vs fp64: image %g, blocks %g"
               % (kind, err, berr))
        last = list(b64)[-1]
        expect(torch.equal(b64[last][1], img64), "last block rgb != image")
        expect(float(img64.abs().max()) > 0.1, "image is ~0")
        out.append("%s %.2g" % (kind, max(err, berr)))
    return "max abs fp32-fp64 (tol 1e-4): " + ", ".join(out)


def numpy_reference(sd, cfg, z, psi):
    """Independent float64 numpy re-statement of reference §1.12 from the raw state dict
    (one image at a time, explicit loops over layers), for cross-checking generator.py."""
    sd = {k: v.detach().double().numpy() for k, v in sd.items()}
    lr = cfg["mapping"]["lr_multiplier"]
    wd, r = cfg["w_dim"], cfg["rank"]
    lrelu = lambda v: np.where(v >= 0, v, 0.2 * v) * math.sqrt(2.0)  # noqa: E731

    def up2(t):  # t [C, n, n]
        n = t.shape[-1]
        if cfg["upsampling"] == "nearest":
            return t.repeat(2, axis=1).repeat(2, axis=2)
        src = np.arange(2 * n) * (n - 1) / (2 * n - 1)
        i0 = np.floor(src).astype(int)
        i1 = np.minimum(i0 + 1, n - 1)
        f = src - i0
        rows = t[:, i0, :] * (1 - f)[None, :, None] + t[:, i1, :] * f[None, :, None]
        return rows[:, :, i0] * (1 - f)[None, None, :] + rows[:, :, i1] * f[None, None, :]

    def fmm(prefix, x, w, inorm):
        cin, n = x.shape[0], x.shape[1]
        if inorm:
            x = x / (x.reshape(cin, -1).std(axis=1, ddof=1)[:, None, None] + 1e-8)
        s = sd[prefix + ".affine.weight"] @ w / math.sqrt(wd) + sd[prefix + ".affine.bias"]
        ws = sd[prefix + ".weight"][:, :, 0, 0]
        cout = ws.shape[0]
        L = s[:cout * r].reshape(cout, r)
        R = s[cout * r:].reshape(r, cin)
        W = ws * (1 + L @ R / math.sqrt(r))
        W = W / (np.sqrt((W * W).sum(axis=1, keepdims=True)) + 1e-8)
        y = np.einsum("oc,cp->op", W, x.reshape(cin, -1)) + sd[prefix + ".bias"][:, None]
        return lrelu(y).reshape(cout, n, n)

    def torgb(prefix, x, w):
        c = x.shape[0]
        m = (sd[prefix + ".affine.weight"] @ w / math.sqrt(wd) + sd[prefix + ".affine.bias"])
        W = sd[prefix + ".weight"][:, :, 0, 0] * (m / math.sqrt(c))[None, :]
        return (W @ x.reshape(c, -1) + sd[prefix + ".bias"][:, None]).reshape(3, *x.shape[1:])

    def embedding(prefix, grid, emb):
        t = 2 * np.arange(grid) / grid - 1
        X = np.tile(t[None, :], (grid, 1))
        Y = np.tile(t[::-1][:, None], (1, grid))
        rows = []
        K = emb["log_freqs"]
        for k in range(K):
            rows.append((0.0, np.float32(math.pi / 2 * 2 ** k)))
        for k in range(K):
            rows.append((np.float32(math.pi / 2 * 2 ** k), 0.0))
        if emb["diagonal"]:
            for k in range(K):
                rows.append((np.float32(-math.pi / 4 * 2 ** k), np.float32(math.pi / 4 * 2 ** k)))
            for k in range(K):
                rows.append((np.float32(math.pi / 4 * 2 ** k), np.float32(math.pi / 4 * 2 ** k)))
        if emb["random"]:
            rows += [tuple(v) for v in sd[prefix + ".random_basis"]]
        arg = np.stack([a * X + b * Y for a, b in rows]) if rows else np.zeros((0, grid, grid))
        parts = [np.sin(arg), np.cos(arg)]
        if emb["const"]:
            parts.append(sd[prefix + ".const_embs"][0])
        return np.concatenate(parts, axis=0)

    imgs = []
    for zi in z:
        x = zi / math.sqrt(np.mean(zi * zi) + 1e-8)
        for i in range(cfg["mapping"]["num_layers"]):
            W = sd["mapping.fc%d.weight" % i]
            x = lrelu(x @ (W * lr / math.sqrt(W.shape[1])).T + sd["mapping.fc%d.bias" % i] * lr)
        w = sd["mapping.w_avg"] + psi * (x - sd["mapping.w_avg"])
        feat = rgb = None
        prev_grid = None
        for b in cfg["blocks"]:
            pre = "synthesis." + b["name"]
            inorm = cfg["instance_norm"]
            if prev_grid is None:
                e = embedding(pre + ".input.input.coord_fuser", b["grid"], b["embedding"])
                feat = fmm(pre + ".conv1", e, w, False)
            else:
                up = b["grid"] == 2 * prev_grid
                if up:
                    feat = np.concatenate([up2(feat), embedding(pre + ".coord_fuser", b["grid"],
                                                                b["embedding"])], axis=0)
                feat = fmm(pre + ".conv0", feat, w, False)
                feat = fmm(pre + ".conv1", feat, w, inorm)
            for k in range(b["extra_convs"]):
                feat = fmm(pre + ".extra_convs.%d" % k, feat, w, inorm)
            y = torgb(pre + ".torgb", feat, w)
            if rgb is None:
                rgb = y
            elif b["grid"] == 2 * prev_grid:
                rgb = up2(rgb) + y
            else:
                rgb = rgb + y
            prev_grid = b["grid"]
        imgs.append(rgb)
    return np.stack(imgs)


@check
def forward_vs_numpy_reference(tmp):
    out = []
    z = np.random.default_rng(9).standard_normal((2, 32))
    for kind in config.TINY_KINDS:
        G = tiny_model(kind, seed=11).double()
        with torch.no_grad():
            got = G(torch.from_numpy(z), psi=0.7).numpy()
        want = numpy_reference(G.state_dict(), G.cfg, z, 0.7)
        err = float(np.max(np.abs(got - want)))
        expect(err <= 1e-9, "tiny-%s: torch vs numpy reference max abs %g" % (kind, err))
        out.append("%s %.2g" % (kind, err))
    return "fp64 torch Generator vs independent numpy §1.12 (tol 1e-9): " + ", ".join(out)


@check
def truncation(tmp):
    G = tiny_model("nearest").double()
    z = torch.randn(2, 32, dtype=torch.float64)
    with torch.no_grad():
        img0 = G(z, psi=0.0)
        expect(float((img0[0] - img0[1]).abs().max()) < 1e-12, "psi=0: images should be equal")
        w = G.mapping(z, psi=1.0)
        w7 = G.mapping(z, psi=0.7)
        expect(torch.allclose(w7, G.mapping.w_avg + 0.7 * (w - G.mapping.w_avg), atol=1e-12),
               "psi=0.7 lerp")
        expect(torch.equal(G(z), G(z, psi=1.0)), "default psi is 1")
    return "psi=0 gives w_avg for every z; psi lerps toward w_avg"


@check
def export_load_round_trip(tmp):
    out = []
    z = torch.from_numpy(latents.seeds_to_z([0, 1], 32))
    for kind in config.TINY_KINDS:
        G = tiny_model(kind, seed=7)
        with torch.no_grad():
            ref = G(z, psi=0.7)
        for dtype, align, filters in (("fp32", True, False), ("fp32", False, True),
                                      ("fp16", False, False), ("fp16", True, True)):
            p = os.path.join(tmp, "m_%s_%s_%d_%d.safetensors" % (kind, dtype, align, filters))
            export.save_model(G, p, dtype=dtype, include_resample_filter=filters, align=align)
            tensors, meta = safetensors_io.load(p)
            n_filters = sum(k.endswith("resample_filter") for k in tensors)
            expect((n_filters > 0) == filters, "resample filters present=%s" % (n_filters > 0))
            cfg = json.loads(meta["inrgan"])
            expect(cfg["provenance"]["source"] == "random init", "default provenance")
            G2, cfg2 = export.load_model(p)
            expect(cfg2 == cfg, "config round trip")
            with torch.no_grad():
                got = G2(z, psi=0.7)
            if dtype == "fp32":
                expect(torch.equal(got, ref), "%s fp32: outputs differ after load" % kind)
            else:
                for k, v in tensors.items():
                    leaf = k.rsplit(".", 1)[-1]
                    want = np.float32 if leaf in export.FP32_BUFFERS else np.float16
                    expect(v.dtype == want, "fp16 file: %s is %s" % (k, v.dtype))
                Gh = tiny_model(kind, seed=7)
                with torch.no_grad():
                    for name, prm in Gh.named_parameters():
                        prm.copy_(prm.half().float())
                    want_img = Gh(z, psi=0.7)
                expect(torch.equal(got, want_img), "%s fp16: differs from fp16-rounded G" % kind)
                out_err = float((got - ref).abs().max())
        out.append("%s (fp16 vs fp32 weights %.2g)" % (kind, out_err))
    return "save/load identical outputs, fp32 + fp16 (== fp16-rounded weights), " \
           "aligned/unaligned, with/without resample filters: " + ", ".join(out)


@check
def load_model_strict(tmp):
    G = tiny_model("churches")
    p = os.path.join(tmp, "good.safetensors")
    export.save_model(G, p)
    tensors, meta = safetensors_io.load(p)
    q = os.path.join(tmp, "broken.safetensors")
    cases = []

    def case(what, t, m, needle):
        cases.append(what)
        safetensors_io.save(q, t, m)
        expect_raises(lambda: export.load_model(q), what, needle)

    name = "synthesis.b8.conv0.weight"
    case("unexpected tensor", dict(tensors, **{"synthesis.b8.conv9.weight": tensors[name]}),
         meta, "unexpected")
    case("missing tensor", {k: v for k, v in tensors.items() if k != name}, meta, "missing")
    case("wrong shape", dict(tensors, **{name: tensors[name][:-1]}), meta, "shape")
    nan = tensors[name].copy()
    nan[0, 0, 0, 0] = np.nan
    case("NaN", dict(tensors, **{name: nan}), meta, "finite")
    case("no config", tensors, {}, "inrgan")
    case("bad config", tensors, {"inrgan": meta["inrgan"].replace('"rank": 3', '"rank": 0')},
         "rank")
    case("bad filter", dict(tensors, **{"synthesis.b4.resample_filter":
                                        np.zeros((3, 3), np.float32)}), meta, "shape")
    return "%d defective model files refused" % len(cases)


@check
def export_cli(tmp):
    p = os.path.join(tmp, "cli.safetensors")
    rc = export.main(["--config", "tiny-bil", "--seed", "3", "-o", p, "--random-biases",
                      "--dtype", "fp16", "--psi", "0.8", "-q"])
    expect(rc == 0, "export CLI rc %d" % rc)
    G, cfg = export.load_model(p)
    expect(cfg["truncation_psi"] == 0.8 and cfg["upsampling"] == "bilinear", "CLI config")
    expect(cfg["provenance"]["config"] == "tiny-bil", "CLI provenance")
    return "python -m inrgan.export --config tiny-bil ... loads back"


@check
def seeds(tmp):
    # independent C implementation of the documented RNG printed these (float32, %.9g)
    known = {0: [-1.88390839, 0.864506841, 0.227607936, -0.0421126857, -0.221437886,
                 0.419332832],
             1: [-0.0342673212, -1.2926085, -2.50006747, 0.911466599, 0.0877224654,
                 -1.08038473],
             4294967295: [-0.796593308, 0.753736317, 2.06565547, 1.03701782, 1.57422209,
                          -0.181652427]}
    expect(next(latents.splitmix64_stream(0)) == 0xE220A8397B1DCDAF, "splitmix64(0) first")
    for s, vals in known.items():
        z = latents.seed_to_z(s, 6)
        expect(z.dtype == np.float32 and z.shape == (6,), "dtype/shape")
        expect(np.array_equal(z, np.array(vals, np.float32)),
               "seed %d: %s != %s" % (s, z.tolist(), vals))
    a = latents.seed_to_z(0, 512)
    expect(np.array_equal(a, latents.seed_to_z(0, 512)), "not deterministic")
    expect(np.all(np.isfinite(a)), "non-finite z")
    expect(not np.array_equal(a, latents.seed_to_z(1, 512)), "seeds 0 and 1 give the same z")
    expect(abs(float(a.mean())) < 0.2 and 0.8 < float(a.std()) < 1.2,
           "seed 0: mean %g std %g" % (a.mean(), a.std()))
    expect(np.array_equal(latents.seed_to_z(5, 7), latents.seed_to_z(5, 8)[:7]), "odd z_dim")
    expect(latents.seeds_parse("0-7,12") == [0, 1, 2, 3, 4, 5, 6, 7, 12], "seeds_parse")
    expect(latents.seeds_parse("3") == [3], "single seed")
    for bad in ("", "1,", "a", "5-3", "-1", "1-2-3", "4294967296"):
        expect_raises(lambda: latents.seeds_parse(bad), "seeds_parse(%r)" % bad)
    return "seed 0/1/2^32-1 first 6 values == independent C implementation (exact fp32); " \
           "determinism; seeds differ; seeds_parse"


@check
def golden_fixture(tmp):
    d = os.path.join(ROOT, "tests", "data")
    paths = [os.path.join(d, f) for f in ("golden_tiny.safetensors", "golden_z.npy",
                                           "golden_image.npy")]
    if not all(os.path.exists(p) for p in paths):
        raise AssertionError("golden fixture missing: run /usr/bin/python3 "
                             "python/tests/make_golden.py")
    size = sum(os.path.getsize(p) for p in paths)
    expect(size < 200 * 1024, "golden fixture is %d bytes" % size)
    G, cfg = export.load_model(paths[0])
    z = np.load(paths[1])
    img = np.load(paths[2])
    with torch.no_grad():
        got = G.double()(torch.from_numpy(z).double(), psi=cfg["truncation_psi"]).numpy()
    err = float(np.max(np.abs(got - img)))
    expect(err <= 1e-5, "golden image differs from the fp64 forward by %g" % err)
    return "tests/data golden (%d bytes): fp64 forward reproduces it, max abs %.2g (tol 1e-5)" \
           % (size, err)


def main():
    with tempfile.TemporaryDirectory(prefix="inrgan_pyio_") as tmp:
        return run_checks(tmp)


if __name__ == "__main__":
    sys.exit(main())
