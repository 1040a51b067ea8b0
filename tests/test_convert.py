#!/usr/bin/python3
"""The checkpoint converter (python/inrgan/convert.py, restricted_pickle.py).

    /usr/bin/python3 tests/test_convert.py --inrgan build/inrgan [--keep DIR] [--skip-full]

Fixtures are built here (tests/fixtures_official.py) with the structure of the official
stylegan2-ada network pickles: persistent-object reduce calls carrying module source, class
name and state; omegaconf-like DictConfig objects and a plain hydra cfg with unresolved
interpolations; EasyDicts; numpy scalars; storages as nested legacy torch.save streams, the
coordinate caches tagged 'cuda:0'; a G (training copy, other weights) and a D beside G_ema.

1. fixture fidelity: our nested storage streams load with real torch.load; real torch
   pickles and torch.save files (zip, legacy) load with the restricted reader;
2. churches-like (old-style config without num_extra_convs), bedrooms/ffhq-like (nearest,
   extra convs) and -bil configs (small variants: the tiny configs of inrgan.config) convert
   through the CLI; the file holds exactly G_ema's tensors and the pickled architecture;
   `inrgan render --backend cpu` matches the torch Generator with the same weights within
   1e-4; fp16 output; the module sources (which would create a marker file) never run;
3. state dicts (.pt zip, .pth legacy, pickled dict, 'G_ema.' prefix) with --config;
4. malicious pickles are refused and nothing runs (marker file absent): os/posix.system,
   builtins eval/getattr/__import__, torch.load, numpy runstring/load, protocol-0 INST and
   GLOBAL forms, a payload in a persistent object's state, and the same payloads hidden in a
   storage's nested bytes (main pickle, sys_info, key list); a positive control runs every
   payload with the real unpickler in a subprocess and sees each one create the marker;
5. one-line errors (CLI exit 2): missing / unexpected / mis-shaped tensors, truncated files,
   unknown classes, unsupported variants, bad interpolations, missing --config, garbage;
6. a full-size FFHQ-config fixture (72,436,573 parameters, caches included) converts; its
   time is printed; `inrgan info` reports the parameter count.

Exit 0 pass, 1 failure, 2 usage, 77 if torch is unavailable.
"""

import argparse
import collections
import hashlib
import io
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PYDIR = os.path.join(ROOT, "python")
sys.path.insert(0, PYDIR)
sys.path.insert(0, HERE)
PY = "/usr/bin/python3"

try:
    import numpy as np
    import torch
except ImportError as e:  # pragma: no cover
    print("SKIP: %s (run with /usr/bin/python3, which has python3-torch)" % e)
    sys.exit(77)

import fixtures_official as fx  # noqa: E402
from inrgan import config, convert, export, generator, restricted_pickle as rp  # noqa: E402
from inrgan import safetensors_io  # noqa: E402

torch.set_num_threads(min(2, os.cpu_count() or 1))
TOL = 1e-4
PSI = 0.8
FAILURES = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        FAILURES.append(what)
    return cond


def run_convert(args, timeout=600):
    env = dict(os.environ, PYTHONPATH=PYDIR, PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run([PY, "-B", "-m", "inrgan.convert"] + args, capture_output=True,
                          text=True, timeout=timeout, env=env, cwd=ROOT)


def expect_error(fn, phrase, what, marker=None):
    """fn() must raise ConversionError whose one-line message contains phrase."""
    try:
        fn()
    except convert.ConversionError as e:
        msg = str(e)
        ok = phrase.lower() in msg.lower() and "\n" not in msg
        check(ok, "%s -> %s" % (what, msg if ok else "unexpected message: " + msg))
    except Exception as e:  # noqa: BLE001
        check(False, "%s -> raised %s: %s" % (what, type(e).__name__, e))
    else:
        check(False, "%s -> no error" % what)
    if marker is not None:
        check(not os.path.exists(marker), "%s: nothing executed (no marker file)" % what)


def make_generator(kind_cfg, seed):
    torch.manual_seed(seed)
    with torch.no_grad():
        G = generator.Generator(kind_cfg, resample_filter=True)
        generator.randomize_biases(G)
    return G


def state_arrays(G):
    return collections.OrderedDict((k, v.detach().numpy().copy())
                                   for k, v in G.state_dict().items())


def compare_file(path, sd, what):
    tensors, meta = safetensors_io.load(path)
    want = [k for k in sd if not k.endswith("resample_filter")]
    same_names = sorted(tensors) == sorted(want)
    check(same_names, "%s: file holds exactly the G_ema tensors (%d)" % (what, len(want)))
    if same_names:
        bad = [k for k in want if not np.array_equal(tensors[k], sd[k].astype(np.float32))]
        check(not bad, "%s: every tensor bit-identical to the source%s"
              % (what, "" if not bad else " (differs: %s)" % bad[:3]))
    return tensors, json.loads(meta["inrgan"])


def arch(cfg):
    return {k: v for k, v in cfg.items() if k not in ("provenance", "truncation_psi")}


# ---- 1. fixture fidelity ---------------------------------------------------------------------

def test_fidelity(tmp):
    arr = np.random.RandomState(3).standard_normal(37).astype(np.float32)
    for loc in ("cpu", "cuda:0"):
        b = fx.legacy_storage_bytes(arr, loc, "1234")
        st = torch.load(io.BytesIO(b), map_location="cpu")      # our own trusted bytes
        check(np.array_equal(np.array(st.tolist(), np.float32), arr),
              "fixture storage stream (%s) is what torch.load reads" % loc)
    t = torch.randn(4, 5).t()
    p = torch.nn.Parameter(torch.randn(3))
    sl = torch.randn(9)[2:5]
    obj = rp.load_pickle_bytes(pickle.dumps({"t": t, "p": p, "s": sl}, 4))
    check(np.array_equal(obj["t"].numpy(), t.numpy()) and obj["p"].is_parameter
          and np.array_equal(obj["p"].numpy(), p.detach().numpy())
          and np.array_equal(obj["s"].numpy(), sl.numpy()),
          "real torch tensor pickles (storages as torch.save bytes) read back exactly")
    sd = collections.OrderedDict(a=torch.randn(2, 3), b=torch.randn(4).half(),
                                 c=torch.randn(3, 3).t(), d=torch.randn(10)[3:6])
    for legacy in (False, True):
        path = os.path.join(tmp, "sd%d.pt" % legacy)
        torch.save(sd, path, _use_new_zipfile_serialization=not legacy)
        with rp.open_checkpoint(path) as ck:
            ok = all(np.array_equal(ck.obj[k].numpy(), v.numpy()) for k, v in sd.items())
            check(ok and ck.format == ("torch-legacy" if legacy else "torch-zip"),
                  "real torch.save %s file reads back exactly" % ck.format)


# ---- 2. conversion and parity ----------------------------------------------------------------

KINDS = (("churches", "churches-tiny.pkl", True, 1.0),
         ("nearest", "bedrooms-tiny.pkl", False, 0.9),
         ("bil", "ffhq-bil-tiny.pkl", False, 1.0))


def test_parity(cli, tmp, marker):
    made = {}
    for seed, (kind, fname, old_style, psi_default) in enumerate(KINDS):
        cfg = config.tiny(kind)
        G = make_generator(cfg, seed)
        sd = state_arrays(G)
        sd_train = collections.OrderedDict((k, v * 0.5 + 0.25) for k, v in sd.items())
        pkl = os.path.join(tmp, fname)
        fx.write_network_pickle(pkl, sd, cfg, marker,
                                hydra=fx.hydra_config(cfg, old_style=old_style),
                                sd_train=sd_train)
        out = os.path.join(tmp, fname.replace(".pkl", ".safetensors"))
        js = os.path.join(tmp, fname + ".json")
        p = run_convert([pkl, "-o", out, "--json", js])
        if not check(p.returncode == 0, "%s: CLI converts (exit %d) %s"
                     % (fname, p.returncode, p.stderr.strip()[-300:] if p.returncode else "")):
            continue
        check("ignored 3 cache tensor(s) (cuda:0)" in p.stderr,
              "%s: the CUDA-tagged caches are reported as ignored" % fname)
        summary = json.load(open(js))
        check(summary["parameters"] == generator.param_count(G)
              and summary["sha256"] == hashlib.sha256(open(pkl, "rb").read()).hexdigest(),
              "%s: --json summary (%d parameters)" % (fname, summary["parameters"]))
        tensors, meta_cfg = compare_file(out, sd, fname)
        check(arch(meta_cfg) == arch(cfg), "%s: pickled architecture read back (%s, IN %s, "
              "extra convs %s)" % (fname, meta_cfg["upsampling"], meta_cfg["instance_norm"],
                                   [b["extra_convs"] for b in meta_cfg["blocks"]]))
        check(meta_cfg["truncation_psi"] == psi_default,
              "%s: default psi %g" % (fname, meta_cfg["truncation_psi"]))
        prov = meta_cfg.get("provenance", {})
        sha = hashlib.sha256(open(pkl, "rb").read()).hexdigest()
        check(prov.get("sha256") == sha and prov.get("source") == fname
              and prov.get("config") == "G_ema._init_kwargs",
              "%s: provenance records source, sha256 and config origin" % fname)
        # C CPU backend vs the torch reference with the same weights
        z = np.random.RandomState(100 + seed).randn(2, cfg["z_dim"])
        zpath = os.path.join(tmp, "z_%s.npy" % kind)
        np.save(zpath, z)
        rdir = os.path.join(tmp, "render_" + kind)
        r = subprocess.run([cli, "render", "-m", out, "--z", zpath, "--npy", "-o", rdir,
                            "--backend", "cpu", "--truncation", str(PSI), "-q"],
                           capture_output=True, text=True, timeout=300)
        if check(r.returncode == 0, "%s: inrgan render exits 0 %s" % (fname, r.stderr.strip())):
            with torch.no_grad():
                ref = G.double()(torch.from_numpy(z), psi=PSI).numpy()
            err = max(float(np.abs(np.load(os.path.join(rdir, "z%04d.npy" % i)) - ref[i]).max())
                      for i in range(2))
            check(err <= TOL, "%s: C render matches the torch Generator (max abs %.2e)"
                  % (fname, err))
        made[kind] = (cfg, sd, pkl)
    check(not os.path.exists(marker), "no pickled module source was executed (no marker)")
    # fp16 output
    if "nearest" in made:
        cfg, sd, pkl = made["nearest"]
        out = os.path.join(tmp, "fp16.safetensors")
        convert.convert(pkl, out, dtype="fp16", psi=0.7)
        tensors, meta = safetensors_io.load(out)
        keep32 = [k for k in tensors if k.rsplit(".", 1)[-1] in export.FP32_BUFFERS]
        ok = all(tensors[k].dtype == (np.float32 if k in keep32 else np.float16) for k in tensors)
        ok = ok and all(np.array_equal(tensors[k], sd[k].astype(tensors[k].dtype))
                        for k in tensors)
        check(ok and json.loads(meta["inrgan"])["truncation_psi"] == 0.7,
              "--dtype fp16: parameters F16, bases/w_avg F32, values rounded once; --psi kept")
        G2, _ = export.load_model(out)
        check(G2 is not None, "fp16 file loads with export.load_model")
    foreign = sorted(m for m in sys.modules
                     if m.split(".")[0] in ("torch_utils", "dnnlib", "omegaconf", "training"))
    check(not foreign, "converting in-process imported none of the pickle's modules %s"
          % (foreign or ""))
    return made


# ---- 3. state dicts --------------------------------------------------------------------------

def test_state_dicts(tmp, made):
    if "nearest" not in made:
        return
    cfg, sd, _ = made["nearest"]
    tsd = collections.OrderedDict((k, torch.from_numpy(v)) for k, v in sd.items())
    cases = []
    p = os.path.join(tmp, "g.pt")
    torch.save(tsd, p)
    cases.append((p, "torch.save zip .pt"))
    p = os.path.join(tmp, "g.pth")
    torch.save(collections.OrderedDict(("G_ema." + k, v) for k, v in tsd.items()), p,
               _use_new_zipfile_serialization=False)
    cases.append((p, "legacy .pth with 'G_ema.' prefix"))
    p = os.path.join(tmp, "g_sd.pkl")
    with open(p, "wb") as f:
        pickle.dump({"G_ema": tsd}, f)
    cases.append((p, "pickled {'G_ema': state_dict}"))
    for path, what in cases:
        out = path + ".safetensors"
        r = run_convert([path, "-o", out, "--config", "tiny-nearest", "-q"])
        if check(r.returncode == 0, "state dict (%s) converts with --config%s"
                 % (what, " (%s)" % r.stderr.strip() if r.returncode else "")):
            _, meta = compare_file(out, sd, what)
            check(arch(meta) == arch(cfg), "%s: config from --config" % what)
    r = run_convert([cases[0][0], "-o", os.path.join(tmp, "x.safetensors")])
    check(r.returncode == 2 and "--config" in r.stderr and len(r.stderr.strip().splitlines()) == 1,
          "state dict without --config: exit 2, one line: %s" % r.stderr.strip())
    bad = collections.OrderedDict(tsd)
    bad.pop("synthesis.b16.conv0.bias")
    p = os.path.join(tmp, "bad.pt")
    torch.save(bad, p)
    expect_error(lambda: convert.convert(p, None, config_name="tiny-nearest"),
                 "missing tensor(s): synthesis.b16.conv0.bias", "state dict missing a tensor")


# ---- 4. malicious pickles --------------------------------------------------------------------

def payloads(tmp, marker):
    """(name, path, expected phrase) of payload pickles that create `marker` when run."""
    G = fx.FakeGlobal
    touch = "touch " + marker
    pycode = "open(%r, 'w').write('pwned')" % marker
    inner = os.path.join(tmp, "inner_payload.pkl")
    fx.dump(inner, fx.Evil(G("os", "system"), (touch,)))
    evil = collections.OrderedDict()      # name of the first global -> (payload, runs code)
    evil["os.system"] = (fx.Evil(G("os", "system"), (touch,)), True)
    evil["posix.system"] = (fx.Evil(G("posix", "system"), (touch,)), True)
    evil["builtins.eval"] = (fx.Evil(G("builtins", "eval"), (pycode,)), True)
    evil["builtins.getattr"] = (fx.Evil(
        fx.Evil(G("builtins", "getattr"),
                (fx.Evil(G("builtins", "__import__"), ("os",)), "system")), (touch,)), True)
    evil["builtins.__import__"] = (fx.Evil(G("builtins", "__import__"), ("os",)), False)
    evil["torch.load"] = (fx.Evil(G("torch", "load"), (inner,)), True)
    evil["numpy.testing._private.utils.runstring"] = (fx.Evil(
        G("numpy.testing._private.utils", "runstring"), (pycode, {})), True)
    evil["numpy.load"] = (fx.Evil(G("numpy", "load"), (inner, None, True)), True)
    out = []
    for name, (obj, creates) in evil.items():
        path = os.path.join(tmp, "evil_top_%s.pkl" % name)
        fx.dump(path, {"G_ema": obj, "augment_pipe": None})
        out.append(("top level " + name, path, "refusing global " + name, creates))
    # protocol-0 forms written by hand
    for name, blob in (("INST os.system", b"(S'" + touch.encode() + b"'\nios\nsystem\n."),
                       ("GLOBAL os.system", b"cos\nsystem\n(S'" + touch.encode() + b"'\ntR.")):
        path = os.path.join(tmp, "evil_p0_%s.pkl" % name.split()[0])
        with open(path, "wb") as f:
            f.write(blob)
        out.append(("protocol 0 " + name, path, "refusing global os.system", True))
    # a payload inside a persistent object's state
    path = os.path.join(tmp, "evil_state.pkl")
    fx.dump(path, {"G_ema": fx.FakePersistent("Generator", "# src", {
        "_init_kwargs": {"cfg": {"x": evil["os.system"][0]}}})})
    out.append(("payload in a persistent object's state", path, "refusing global os.system",
                True))
    # hidden in a storage's nested torch.save bytes
    hidden = (("os.system", "main"), ("builtins.eval", "main"), ("builtins.getattr", "main"),
              ("torch.load", "main"), ("numpy.testing._private.utils.runstring", "main"),
              ("os.system", "sys_info"), ("os.system", "keys"), ("os.system", "magic"))
    for name, at in hidden:
        # (a 'cuda:0' tag would stop the real CPU-only loader before the key list: use cpu)
        st = fx.FakeStorage(np.zeros(4, np.float32), "cpu" if at == "keys" else "cuda:0",
                            payload=evil[name][0], payload_at=at)
        t = fx.FakeTensor(st, 0, (4,), (1,), parameter=True)
        path = os.path.join(tmp, "evil_storage_%s_%s.pkl" % (at, name))
        fx.dump(path, {"G_ema": fx.FakePersistent("Generator", "# src", {
            "_parameters": collections.OrderedDict(weight=t)})})
        out.append(("%s hidden in storage bytes (%s pickle)" % (name, at), path,
                    "refusing global " + name, True))
    return out


def test_malicious(tmp, marker):
    cases = payloads(tmp, marker)
    for what, path, phrase, _ in cases:
        expect_error(lambda: convert.convert(path, os.path.join(tmp, "never.safetensors")),
                     phrase, what, marker)
    check(not os.path.exists(os.path.join(tmp, "never.safetensors")),
          "no output file written for refused inputs")
    r = run_convert([cases[0][1], "-o", os.path.join(tmp, "never.safetensors")])
    check(r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
          and "refusing global os.system" in r.stderr,
          "CLI on a payload: exit 2, one line: %s" % r.stderr.strip())
    check(not os.path.exists(marker), "CLI on a payload: nothing executed")
    # positive control: the real unpickler runs every payload (in a throw-away subprocess)
    live = [path for _, path, _, creates in cases if creates]
    # (the runner stands in torch_utils.persistence, as the official repo would provide it)
    runner = ("import os, pickle, sys, json, types\nm = sys.argv[1]\nres = []\n"
              "tu = types.ModuleType('torch_utils')\n"
              "tu.persistence = types.ModuleType('torch_utils.persistence')\n"
              "tu.persistence._reconstruct_persistent_obj = lambda meta: meta\n"
              "sys.modules.update({'torch_utils': tu, 'torch_utils.persistence': tu.persistence})\n"
              "for p in sys.argv[2:]:\n"
              "    try:\n        pickle.load(open(p, 'rb'))\n    except Exception:\n"
              "        pass\n    res.append(os.path.exists(m))\n"
              "    if os.path.exists(m):\n        os.unlink(m)\n"
              "print(json.dumps(res))\n")
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    r = subprocess.run([PY, "-B", "-c", runner, marker] + live, capture_output=True,
                       text=True, timeout=300, env=env, cwd=tmp)
    try:
        res = json.loads(r.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        res = []
    check(len(res) == len(live) and all(res),
          "positive control: every payload creates the marker under the real unpickler "
          "(%d/%d)" % (sum(res), len(live)))
    if os.path.exists(marker):
        os.unlink(marker)


# ---- 5. one-line errors ----------------------------------------------------------------------

def test_errors(tmp, marker, made):
    if "nearest" not in made:
        return
    cfg, sd, good = made["nearest"]

    def fixture(name, sd2=None, hydra=None, **kw):
        path = os.path.join(tmp, "err_%s.pkl" % name)
        fx.write_network_pickle(path, sd2 if sd2 is not None else sd, cfg, marker,
                                hydra=hydra, **kw)
        return path

    def conv(path, **kw):
        return lambda: convert.convert(path, None, **kw)

    sd2 = collections.OrderedDict(sd)
    sd2.pop("synthesis.b8.conv0.weight")
    expect_error(conv(fixture("missing", sd2)), "missing tensor(s): synthesis.b8.conv0.weight",
                 "missing tensor")
    sd2 = collections.OrderedDict(sd)
    sd2["synthesis.b8.conv0.noise_strength"] = np.zeros((), np.float32)
    expect_error(conv(fixture("extra", sd2)), "unexpected tensor(s): "
                 "synthesis.b8.conv0.noise_strength (unsupported variant: noise",
                 "unexpected tensor")
    sd2 = collections.OrderedDict(sd)
    sd2["synthesis.b16.conv1.weight"] = np.zeros((16, 15, 1, 1), np.float32)
    expect_error(conv(fixture("shape", sd2)), "tensor synthesis.b16.conv1.weight has shape "
                 "[16, 15, 1, 1], expected [16, 16, 1, 1]", "shape mismatch")
    expect_error(conv(fixture("class", class_overrides={"synthesis.b8.conv0": "FancyLayer"})),
                 "unsupported variant: G_ema.synthesis.b8.conv0 is a persistent FancyLayer",
                 "unknown persistent class")

    def hydra_with(fn):
        h = fx.hydra_config(cfg)
        fn(h)
        return h

    variants = (
        ("upsampling_mode None", lambda h: h.update(upsampling_mode=None),
         "unsupported variant: upsampling_mode None"),
        ("use_noise", lambda h: h.update(use_noise=True), "unsupported variant: use_noise"),
        ("fmm tanh", lambda h: h["fmm"].update(activation="tanh"),
         "unsupported variant: fmm.activation 'tanh'"),
        ("predictable embeddings", lambda h: h["coords"]["medium_res_cfg"].update(
            predictable_emb_size=16), "predictable_emb_size > 0"),
        ("missing interpolation target", lambda h: h["coords"]["res_configs"].update(
            {"16": "${coords.nope_cfg}"}), "names a missing key"),
        ("resolver interpolation", lambda h: h["input"].update(resolution="${env:RES}"),
         "uses a resolver"),
        ("interpolation cycle", lambda h: h["coords"].update(low_res_cfg="${coords.x}",
                                                             x="${coords.low_res_cfg}"),
         "cycle"),
    )
    for name, fn, phrase in variants:
        expect_error(conv(fixture(name.split()[0], hydra=hydra_with(fn))), phrase, name)
    expect_error(conv(good, config_name="tiny-bil"),
                 "--config tiny-bil differs from the pickled architecture in: instance_norm, "
                 "upsampling", "--config disagreeing with the pickle")
    # truncation at several points, including inside a storage's bytes
    blob = open(good, "rb").read()
    cut_points = (1, 100, len(blob) // 3, len(blob) // 2, len(blob) - 1)
    for n in cut_points:
        path = os.path.join(tmp, "trunc_%d.pkl" % n)
        with open(path, "wb") as f:
            f.write(blob[:n])
        expect_error(conv(path), "truncated", "file truncated to %d of %d bytes" % (n, len(blob)))
    path = os.path.join(tmp, "trunc_%d.pkl" % (len(blob) // 2))
    r = run_convert([path, "-o", os.path.join(tmp, "t.safetensors")])
    check(r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
          and "truncated" in r.stderr, "CLI on a truncated file: exit 2, one line: %s"
          % r.stderr.strip())
    garbage = os.path.join(tmp, "garbage.pkl")
    with open(garbage, "wb") as f:
        f.write(b"\x00\x01not a pickle at all")
    expect_error(conv(garbage), "unknown pickle opcode", "garbage file")
    empty = os.path.join(tmp, "empty.pkl")
    open(empty, "wb").close()
    expect_error(conv(empty), "empty file", "empty file")
    plain = os.path.join(tmp, "plain.pkl")
    with open(plain, "wb") as f:
        pickle.dump({"hello": [1, 2, 3]}, f)
    expect_error(conv(plain), "neither a stylegan2-ada network pickle", "pickle of other data")
    # resource exhaustion through shared sub-structures ("billion laughs")
    lst = [1]
    tup = (1,)
    for _ in range(60):
        lst = [lst, lst]
        tup = (tup, tup)
    # (a dict keyed by `tup` cannot even be built here: hashing it is exponential; write the
    # DICT opcodes around the tuple's own pickle instead)
    key_blob = b"\x80\x02}" + pickle.dumps(tup, 2)[2:-1] + b"K\x01s."
    for name, obj, phrase in (
            ("shared nested lists in the config", {"G_ema": fx.FakePersistent(
                "Generator", "#", {"_init_kwargs": {"cfg": {"x": lst}}})}, "too large"),
            ("shared nested tuple as a dict key", key_blob, "unexpected dict key")):
        path = os.path.join(tmp, "laughs_%d.pkl" % len(name))
        if isinstance(obj, bytes):
            with open(path, "wb") as f:
                f.write(obj)
        else:
            fx.dump(path, obj)
        t0 = time.time()
        expect_error(conv(path), phrase, name)
        check(time.time() - t0 < 10, "%s: refused quickly (%.2f s)" % (name, time.time() - t0))
    fuzz(tmp, good)
    check(not os.path.exists(marker), "error cases: nothing executed")


def fuzz(tmp, good, n=150, seed=11):
    """Random corruptions of the structure bytes (opcodes, their arguments, the nested storage
    pickles) give a conversion or a one-line ConversionError, never another exception."""
    import pickletools
    import random
    blob = open(good, "rb").read()
    positions = []
    for op, arg, pos in pickletools.genops(blob):      # our own fixture: trusted
        positions.extend(range(pos, pos + 3))
        if op.name in ("BINBYTES", "BINBYTES8"):
            hdr = 5 if op.name == "BINBYTES" else 9
            positions.extend(range(pos + hdr, pos + hdr + min(len(arg), 260)))
    rng = random.Random(seed)
    path = os.path.join(tmp, "fuzz.pkl")
    counts = collections.Counter()
    bad = []
    for _ in range(n):
        b = bytearray(blob)
        for _ in range(rng.choice((1, 1, 2, 3))):
            pos = rng.choice(positions)
            r = rng.random()
            if r < 0.4:
                b[pos] = rng.randrange(256)
            elif r < 0.8:
                b[pos] ^= 1 << rng.randrange(8)
            else:
                del b[pos:pos + rng.randrange(1, 8)]
        with open(path, "wb") as f:
            f.write(b)
        try:
            convert.convert(path, None)
            counts["converted"] += 1
        except convert.ConversionError as e:
            counts["refused"] += 1
            if "\n" in str(e):
                bad.append("multi-line message")
        except Exception as e:  # noqa: BLE001
            bad.append("%s: %s" % (type(e).__name__, e))
    check(not bad, "fuzz: %d corrupted fixtures -> %d refused with one line, %d converted%s"
          % (n, counts["refused"], counts["converted"], "; " + "; ".join(bad[:3]) if bad else ""))


def test_interpolations():
    r = convert.resolve_interpolations
    cfg = {"a": {"b": 3, "c": "${a.b}", "d": "${.b}", "e": "x_${a.b}_y"},
           "f": "${a}", "g": {"h": "${..f.b}"}}
    out = r(cfg)
    check(out["a"]["c"] == 3 and out["a"]["d"] == 3 and out["a"]["e"] == "x_3_y"
          and out["f"]["c"] == 3 and out["g"]["h"] == 3,
          "interpolations: absolute, relative, embedded, nested")
    # the omegaconf-like DictConfig of the fixtures reads back as the plain hydra dict
    cfg = config.tiny("bil")
    hydra = fx.hydra_config(cfg)
    obj = rp.load_pickle_bytes(fx.dumps({"cfg": fx.dict_config(hydra)}))
    plain = convert.to_plain(obj["cfg"])
    check(plain == hydra, "DictConfig (omegaconf 2.0 layout, interpolations kept) -> plain dict")
    a, _ = convert.config_from_init_kwargs((), {"z_dim": 32, "w_dim": 16, "img_resolution": 32,
                                                "mapping_kwargs": {"num_layers": 2},
                                                "synthesis_kwargs": {"channel_base": 256,
                                                                     "channel_max": 16},
                                                "cfg": obj["cfg"]}, cfg["truncation_psi"])
    check(arch(a) == arch(cfg), "architecture from a DictConfig cfg equals the tiny-bil config")


# ---- 6. full size ----------------------------------------------------------------------------

def test_full(cli, tmp, marker):
    cfg = config.official("ffhq256")
    t0 = time.time()
    G = make_generator(cfg, 5)
    sd = state_arrays(G)
    del G
    pkl = os.path.join(tmp, "ffhq.pkl")
    fx.write_network_pickle(pkl, sd, cfg, marker, cache_batch=1, cache_fill=0.0,
                            dataset_path="/datasets/ffhq256.zip")
    t_fixture = time.time() - t0
    out = os.path.join(tmp, "ffhq.safetensors")
    t0 = time.time()
    r = run_convert([pkl, "-o", out], timeout=600)
    t_conv = time.time() - t0
    inner = [ln.strip() for ln in r.stderr.splitlines() if ln.strip().endswith(" s")]
    print("full-size FFHQ fixture: %.0f MB pickle written in %.1f s; conversion %.2f s wall "
          "(CLI incl. interpreter start; converter's own timing %s)"
          % (os.path.getsize(pkl) / 1e6, t_fixture, t_conv, inner[-1] if inner else "?"))
    if not check(r.returncode == 0, "full-size FFHQ fixture converts%s"
                 % ("" if r.returncode == 0 else " (%s)" % r.stderr.strip()[-300:])):
        return
    check("official architecture: ffhq256, bedrooms256" in r.stderr,
          "full-size: recognised as the official ffhq256/bedrooms256 architecture")
    i = subprocess.run([cli, "info", "-m", out], capture_output=True, text=True, timeout=120)
    check(i.returncode == 0 and "72,436,573" in i.stdout,
          "full-size: `inrgan info` reports 72,436,573 parameters")
    compare_file(out, sd, "full-size")
    check(not os.path.exists(marker), "full-size: nothing executed")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--inrgan", required=True, help="path of the inrgan CLI")
    ap.add_argument("--keep", help="keep the fixtures in this directory")
    ap.add_argument("--skip-full", action="store_true", help="skip the full-size FFHQ fixture")
    a = ap.parse_args()
    if not os.access(a.inrgan, os.X_OK):
        print("usage: --inrgan must name the built CLI (%s)" % a.inrgan)
        return 2
    tmp = a.keep or tempfile.mkdtemp(prefix="ig-convert-")
    os.makedirs(tmp, exist_ok=True)
    marker = os.path.join(tmp, "EXECUTED_MARKER")
    t0 = time.time()
    try:
        test_fidelity(tmp)
        test_interpolations()
        made = test_parity(a.inrgan, tmp, marker)
        test_state_dicts(tmp, made)
        test_malicious(tmp, marker)
        test_errors(tmp, marker, made)
        if not a.skip_full:
            test_full(a.inrgan, tmp, marker)
    finally:
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print("%d failure(s), %.1f s" % (len(FAILURES), time.time() - t0))
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
