#!/usr/bin/python3
"""Mutation fuzzer for the restricted unpickler (python/inrgan/restricted_pickle.py).

    /usr/bin/python3 tests/fuzz_unpickler.py [--seconds 15] [--seed N] [--findings DIR]
    nice -n 19 /usr/bin/python3 tests/fuzz_unpickler.py --seconds 1800 --findings /tmp/fz

Seeds are built here (no files in the tree): stdlib pickles of protocols 0-5 of plain data,
the fixture structures of tests/fixtures_official.py (persistent objects, omegaconf-like
configs, EasyDicts, numpy scalars, tensors over nested legacy storage streams), legacy
torch.save streams and torch.save-style zip archives (written by hand), and payload pickles
(os.system, eval, __import__, subprocess, ...) that would create a marker file if anything
ran them. Each round takes a corpus entry and applies 1-8 mutations: byte flips, random
bytes, interesting integers (0, 1, 0x7f, 0xff, 0x7fffffff, 0xffffffff, 2**63-1, ...) over
length fields, opcode insertions, deletions, duplications, splices from other entries and
truncations. Inputs are run in-process through rp.load_pickle_bytes, or written to a file
and opened with rp.open_checkpoint (zip / legacy streams); every TensorRef found is read
(TensorRef.numpy()).

Loaded objects also go through the converter's reading (inrgan.convert: read_checkpoint,
config_from_init_kwargs with its interpolations, collect_tensors; torch is not needed there).

An input fails the run ("finding", saved under --findings) when:
* anything but restricted_pickle.PickleError or convert.ConversionError escapes (MemoryError,
  RecursionError, TypeError, ...), or a message spans several lines;
* the marker file exists afterwards (something ran), or a new module was imported;
* one input takes more than --max-seconds (default 5 s).
The process runs with RLIMIT_AS 1 GiB, so a memory blow-up surfaces as MemoryError (a
finding). Inputs whose outcome (the error message with its numbers removed, or the type of
the loaded object) is new are added to the corpus (a cheap coverage proxy).

Exit 0: no findings; 1: findings; 77: numpy missing. Prints executions, corpus size,
distinct outcomes and findings.
"""

import argparse
import collections
import io
import os
import pickle
import random
import re
import resource
import struct
import subprocess
import sys
import tempfile
import time
import zipfile

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "python"))
sys.path.insert(0, HERE)

try:
    import numpy as np
except ImportError:  # pragma: no cover
    print("SKIP: numpy missing")
    sys.exit(77)

from inrgan import convert, restricted_pickle as rp  # noqa: E402
import fixtures_official as fx  # noqa: E402

INTERESTING = (0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0xffff, 0x10000, 0x7fffffff,
               0x80000000, 0xffffffff, 1 << 32, (1 << 63) - 1, 1 << 63, (1 << 64) - 1)
OPCODES = [bytes([c]) for c in b"(.0123FIJKLMNPQRSTUVXabcd}eghijl]opqrstuG"] + \
    [bytes([c]) for c in range(0x80, 0x99)]


# ---- seeds -------------------------------------------------------------------------------------

def _zip(members):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        for name, data in members:
            z.writestr(name, data)
    return out.getvalue()


class _ZipStorage:
    def __init__(self, key, arr):
        self.key, self.arr = key, np.ascontiguousarray(arr, np.float32).reshape(-1)


def _zip_checkpoint(sd):
    """A torch.save-style zip of {name: (array, view)} built without torch."""
    storages = []

    def pid(obj):
        if isinstance(obj, _ZipStorage):
            return ("storage", fx.STORAGE_TYPES[np.dtype(np.float32)], obj.key, "cpu",
                    obj.arr.size)
        return None

    obj = collections.OrderedDict()
    for i, (name, arr) in enumerate(sd.items()):
        st = _ZipStorage(str(i), arr)
        storages.append(st)
        stride = tuple(int(np.prod(arr.shape[k + 1:])) for k in range(arr.ndim))
        obj[name] = fx.Evil(fx.REBUILD_TENSOR_V2, (st, 0, tuple(arr.shape), stride, False,
                                                   collections.OrderedDict()))
    pkl = fx.dumps(obj, protocol=2, persistent_id=pid)
    members = [("archive/data.pkl", pkl), ("archive/byteorder", b"little")]
    members += [("archive/data/" + st.key, st.arr.tobytes()) for st in storages]
    members.append(("archive/version", b"3\n"))
    return _zip(members)


def _legacy(sd):
    """A legacy torch.save stream of {name: array}."""
    keys = []

    def pid(obj):
        if isinstance(obj, _ZipStorage):
            return ("storage", fx.STORAGE_TYPES[np.dtype(np.float32)], obj.key, "cpu",
                    obj.arr.size, None)
        return None

    obj = {}
    sts = []
    for i, (name, arr) in enumerate(sd.items()):
        st = _ZipStorage(str(100 + i), arr)
        sts.append(st)
        keys.append(st.key)
        stride = tuple(int(np.prod(arr.shape[k + 1:])) for k in range(arr.ndim))
        obj[name] = fx.Evil(fx.REBUILD_TENSOR_V2, (st, 0, tuple(arr.shape), stride, False,
                                                   collections.OrderedDict()))
    out = io.BytesIO()
    out.write(fx.dumps(fx.LEGACY_MAGIC, 2))
    out.write(fx.dumps(1001, 2))
    out.write(fx.dumps(fx.SYS_INFO, 2))
    out.write(fx.dumps(obj, 2, persistent_id=pid))
    out.write(fx.dumps(keys, 2))
    for st in sts:
        out.write(struct.pack("<q", st.arr.size))
        out.write(st.arr.tobytes())
    return out.getvalue()


def seeds(marker):
    rng = np.random.RandomState(0)
    plain = [None, True, 1, -1, 1 << 70, 2.5, "text", b"bytes", bytearray(b"ba"), (1, 2),
             [1, [2, [3]]], {"a": 1, 2: (3,)}, {1, 2}, frozenset({3}), collections.OrderedDict(a=1),
             {"k": ["x" * 300, b"y" * 70000]}, complex(1, 2), list(range(300)),
             {"nested": {"d": [{"e": i} for i in range(20)]}}]
    out = []
    for proto in range(0, 6):
        for obj in plain:
            try:
                out.append(("mem", pickle.dumps(obj, proto)))
            except (pickle.PicklingError, TypeError):
                pass
    out.append(("mem", pickle.dumps(np.float32(1.5), 2)))
    out.append(("mem", pickle.dumps(np.arange(6, dtype=np.float32).reshape(2, 3), 2)))
    out.append(("mem", pickle.dumps(np.arange(6, dtype=np.int64), 4)))
    # fixture structures: a persistent object with config holders and tensors
    t = fx.tensor(rng.standard_normal((3, 4)).astype(np.float32), parameter=True)
    cfg = fx.dict_config({"a": 1, "b": "${a}", "c": {"d": [1, 2]}})
    obj = {"G_ema": fx.FakePersistent("Generator", "import os\n", {
        "_parameters": collections.OrderedDict(w=t), "_buffers": collections.OrderedDict(),
        "_modules": collections.OrderedDict(), "cfg": cfg, "gain": np.float64(0.5),
        "_init_kwargs": fx.easydict(z_dim=4, cfg={"x": "${y}"})}),
        "training_set_kwargs": fx.easydict(path="/data/x.zip")}
    for proto in (2, 4):
        out.append(("mem", fx.dumps(obj, proto)))
    big = fx.tensor(rng.standard_normal(20000).astype(np.float32))    # lazy storage bytes
    out.append(("file", fx.dumps({"t": big, "v": fx.FakeTensor(big.storage, 5, (3, 3),
                                                                (3, 1))}, 4)))
    sd = collections.OrderedDict(a=rng.standard_normal((2, 3)).astype(np.float32),
                                 b=np.arange(5, dtype=np.float32))
    out.append(("file", _zip_checkpoint(sd)))
    out.append(("file", _legacy(sd)))
    # a tiny official-structure network pickle, built in a child (it needs torch; this process
    # stays without it, so that its memory limit means the same with and without torch)
    with tempfile.NamedTemporaryFile(suffix=".pkl") as f:
        code = ("import collections, sys, torch\n"
                "sys.path[:0] = [%r, %r]\n"
                "import fixtures_official as fx\n"
                "from inrgan import config, generator\n"
                "cfg = config.builtin('tiny-nearest')\n"
                "torch.manual_seed(0)\n"
                "G = generator.Generator(cfg, resample_filter=True)\n"
                "sd = collections.OrderedDict((k, v.detach().numpy().copy())\n"
                "                             for k, v in G.state_dict().items())\n"
                "fx.write_network_pickle(sys.argv[1], sd, cfg, sys.argv[2], with_d=False)\n"
                % (HERE, os.path.join(os.path.dirname(HERE), "python")))
        r = subprocess.run([sys.executable, "-B", "-c", code, f.name, marker],
                           capture_output=True)
        if r.returncode == 0:
            out.append(("file", f.read()))
    # payloads: each would create the marker if run
    cmd = "touch %s" % marker
    for payload in (fx.Evil(fx.FakeGlobal("os", "system"), (cmd,)),
                    fx.Evil(fx.FakeGlobal("posix", "system"), (cmd,)),
                    fx.Evil(fx.FakeGlobal("builtins", "eval"),
                            ("__import__('os').system(%r)" % cmd,)),
                    fx.Evil(fx.FakeGlobal("subprocess", "call"), (["touch", marker],)),
                    fx.Evil(fx.FakeGlobal("builtins", "__import__"), ("os",))):
        for proto in (0, 2, 4):
            out.append(("mem", fx.dumps({"x": payload}, proto)))
    return out


# ---- mutation ----------------------------------------------------------------------------------

def mutate(data, corpus, rnd):
    b = bytearray(data)
    for _ in range(rnd.randint(1, 8)):
        n = len(b)
        k = rnd.randrange(10)
        if n == 0:
            b += rnd.choice(OPCODES)
            continue
        i = rnd.randrange(n)
        if k == 0:                                   # bit flip
            b[i] ^= 1 << rnd.randrange(8)
        elif k == 1:                                 # random byte
            b[i] = rnd.randrange(256)
        elif k == 2:                                 # interesting integer over a field
            v = rnd.choice(INTERESTING)
            w = rnd.choice((1, 2, 4, 8))
            b[i:i + w] = (v & ((1 << (8 * w)) - 1)).to_bytes(w, "little")
        elif k == 3:                                 # insert an opcode (maybe with an arg)
            ins = rnd.choice(OPCODES) + bytes(rnd.randrange(256) for _ in range(rnd.randrange(9)))
            b[i:i] = ins
        elif k == 4:                                 # delete a run
            del b[i:i + rnd.randint(1, 16)]
        elif k == 5:                                 # duplicate a run
            j = min(n, i + rnd.randint(1, 64))
            b[j:j] = b[i:j] * rnd.randint(1, 8)
        elif k == 6:                                 # splice from another entry
            other = rnd.choice(corpus)[1]
            if other:
                a = rnd.randrange(len(other))
                piece = other[a:a + rnd.randint(1, 256)]
                b[i:i + rnd.randint(0, len(piece))] = piece
        elif k == 7:                                 # truncate
            del b[i:]
        elif k == 8:                                 # MARK / memo ops around a point
            b[i:i] = rnd.choice((b"(", b"(((", b"\x94", b"q\x00", b"h\x00", b"2", b"0"))
        else:                                        # swap two runs
            j = rnd.randrange(n)
            L = rnd.randint(1, 8)
            b[i:i + L], b[j:j + L] = b[j:j + L], b[i:i + L]
    return bytes(b)


# ---- execution -----------------------------------------------------------------------------

_NUM = re.compile(r"\d+")
_ADDR = re.compile(r"0x[0-9a-f]+")
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|global \S+|<[^>]*>|\([^()]*\)")


def outcome_key(kind, text):
    """The outcome with names, numbers and quoted parts removed (so that the corpus keeps
    inputs that reach a new check, not every new spelling of the same one)."""
    if "not in the allow-list" in text:
        text = "refusing global"
    return kind + ":" + _NUM.sub("N", _QUOTED.sub("Q", _ADDR.sub("A", text)))[:40]


def walk_tensors(obj, budget=20000):
    """Every TensorRef reachable from obj (bounded walk)."""
    out, stack, seen = [], [obj], set()
    while stack and budget > 0:
        budget -= 1
        o = stack.pop()
        if id(o) in seen:
            continue
        seen.add(id(o))
        if isinstance(o, rp.TensorRef):
            out.append(o)
        elif isinstance(o, dict):
            stack.extend(o.values())
        elif isinstance(o, (list, tuple)):
            stack.extend(o)
        elif isinstance(o, rp.PersistentObject):
            stack.append(o.state)
        elif isinstance(o, rp.Inert):
            stack.extend([o.args, o.state, o.items, o.listitems])
    return out


class _Loaded:
    def __init__(self, obj):
        self.obj = obj


def convert_checks(obj):
    """The converter's reading of a loaded object (no torch): checkpoint kind, config from
    G_ema._init_kwargs, the module tree. ConversionError is the expected failure."""
    try:
        kind, root, data = convert.read_checkpoint(_Loaded(obj))
        if kind == "network":
            st = root.state
            convert.config_from_init_kwargs(st.get("_init_args"), st.get("_init_kwargs"))
            convert.collect_tensors(root)
        return "convert ok"
    except convert.ConversionError as e:
        msg = str(e)
        if "\n" in msg:
            raise AssertionError("multi-line ConversionError: %r" % msg[:200])
        return "convert: " + " ".join(msg.split()[:4])


def run_one(kind, data, path):
    """Returns the outcome key; raises anything that is not a PickleError."""
    try:
        if kind == "mem":
            obj = rp.load_pickle_bytes(data)
            for t in walk_tensors(obj):
                t.numpy()
            return outcome_key("ok", type(obj).__name__ + convert_checks(obj))
        with open(path, "wb") as f:
            f.write(data)
        with rp.open_checkpoint(path) as ck:
            for t in walk_tensors(ck.obj):
                t.numpy()
            return outcome_key("ok", ck.format + ":" + type(ck.obj).__name__
                               + convert_checks(ck.obj))
    except rp.PickleError as e:
        msg = str(e)
        if "\n" in msg:
            raise AssertionError("multi-line PickleError: %r" % msg[:200])
        return outcome_key("err", msg.split(": ", 1)[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--findings", default=None, help="folder for failing inputs")
    ap.add_argument("--max-seconds", type=float, default=5.0, help="per input")
    ap.add_argument("--rlimit-as", type=int, default=1 << 30)
    a = ap.parse_args()
    resource.setrlimit(resource.RLIMIT_AS, (a.rlimit_as, a.rlimit_as))
    seed = a.seed if a.seed is not None else int(time.time())
    rnd = random.Random(seed)
    tmp = tempfile.mkdtemp(prefix="fuzz_unpickler.")
    marker = os.path.join(tmp, "MARKER")
    path = os.path.join(tmp, "input")
    corpus = seeds(marker)
    outcomes = collections.Counter()
    for kind, data in corpus:                         # the seeds themselves must be clean
        outcomes[run_one(kind, data, path)] += 1
    modules0 = set(sys.modules)     # after the seeds: zipfile loads its cp437 codec lazily
    findings = []
    execs = 0
    slowest = 0.0
    t_end = time.monotonic() + a.seconds
    while time.monotonic() < t_end:
        kind, base = rnd.choice(corpus)
        data = mutate(base, corpus, rnd)
        t0 = time.monotonic()
        problem = None
        try:
            key = run_one(kind, data, path)
        except MemoryError:
            problem = "MemoryError"
        except BaseException as e:  # noqa: BLE001 -- the point of the fuzzer
            if isinstance(e, KeyboardInterrupt):
                raise
            problem = "%s: %s" % (type(e).__name__, str(e)[:200])
        dt = time.monotonic() - t0
        slowest = max(slowest, dt)
        execs += 1
        if problem is None and dt > a.max_seconds:
            problem = "slow: %.1f s" % dt
        if problem is None and os.path.exists(marker):
            problem = "marker file created: something ran"
        if problem is None and len(sys.modules) != len(modules0):
            new = sorted(set(sys.modules) - modules0)
            modules0 = set(sys.modules)
            problem = "imported %s" % ", ".join(new[:5])
        if problem is not None:
            findings.append(problem)
            print("FINDING %s (%s input, %d bytes)" % (problem, kind, len(data)), flush=True)
            if a.findings:
                os.makedirs(a.findings, exist_ok=True)
                with open(os.path.join(a.findings, "finding%03d.%s" % (len(findings), kind)),
                          "wb") as f:
                    f.write(data)
            continue
        if outcomes[key] == 0 and len(data) < 1 << 20:
            corpus.append((kind, data))
        outcomes[key] += 1
    try:
        os.unlink(path)
    except OSError:
        pass
    os.rmdir(tmp) if not os.listdir(tmp) else None
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print("fuzz_unpickler: seed %d, %.0f s, %d executions (%.0f/s), corpus %d, %d distinct "
          "outcomes, slowest input %.2f s, peak RSS %d MB, %d finding(s)"
          % (seed, a.seconds, execs, execs / max(a.seconds, 1e-9), len(corpus), len(outcomes),
             slowest, rss, len(findings)))
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
