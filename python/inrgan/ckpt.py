"""Trainer checkpoint files: atomic saves, stale-temp cleanup, and split parts for transport.

    save_atomic(obj, "RUN/checkpoint.pt")       # temp file, flush + fsync, rename, fsync dir
    ck = load("RUN/checkpoint.pt")              # a .pt file ...
    ck = load("DIR/checkpoint.json")            # ... or the manifest of split parts
    split("RUN/checkpoint.pt", "OUT", part_bytes=15 << 20)   # -> OUT/checkpoint.json + parts

Atomicity: torch.save writes to `PATH.tmp<pid>` in the same folder, which is flushed and
fsync'ed, then os.replace()d over PATH and the folder fsync'ed. A process killed at any moment
leaves PATH either the previous complete checkpoint or the new complete one, never a torn file;
at worst a `PATH.tmp<pid>` file remains, which remove_stale_temps() deletes on the next start.

Split parts: `NAME.partK` files of at most part_bytes each and `NAME.json` holding the total
size, the sha256 of the whole file and of every part (a transport with a per-file size limit,
e.g. the GPU machine's $OUT). load() of the manifest checks every digest before unpickling.
"""

import glob
import hashlib
import io
import json
import os

import torch

from . import safetensors_io
from .convert import sha256_file

__all__ = ["save_atomic", "load", "split", "join", "remove_stale_temps", "sha256_file"]


def _write_atomic(path, write):
    safetensors_io.write_atomic_with(path, write, tmp="%s.tmp%d" % (path, os.getpid()),
                                     sync_dir=True)


def save_atomic(obj, path):
    """torch.save(obj) to path so that a kill at any moment leaves path complete."""
    _write_atomic(path, lambda f: torch.save(obj, f))


def remove_stale_temps(path):
    """Deletes PATH.tmp<pid> files of processes that no longer run; returns their names."""
    removed = []
    for t in glob.glob(glob.escape(path) + ".tmp*"):
        pid = t[len(path) + 4:]
        if pid.isdigit() and int(pid) != os.getpid():
            try:
                os.kill(int(pid), 0)
                continue                     # that process still runs: not ours to delete
            except ProcessLookupError:
                pass
            except PermissionError:
                continue
        elif pid.isdigit():
            continue
        try:
            os.unlink(t)
            removed.append(t)
        except OSError:
            pass
    return removed


def split(path, outdir, part_bytes=15 << 20, name=None):
    """Copies checkpoint `path` into outdir as NAME.part0.. (each <= part_bytes) plus the
    manifest NAME.json; returns the manifest path. Parts and manifest are written atomically,
    the manifest last."""
    if part_bytes < 1:
        raise ValueError("part_bytes must be >= 1")
    name = name or os.path.splitext(os.path.basename(path))[0]
    os.makedirs(outdir, exist_ok=True)
    whole = hashlib.sha256()
    parts = []
    with open(path, "rb") as f:
        k = 0
        while True:
            b = f.read(part_bytes)
            if not b and k > 0:
                break
            whole.update(b)
            pname = "%s.part%d" % (name, k)
            _write_atomic(os.path.join(outdir, pname), lambda o, b=b: o.write(b))
            parts.append({"file": pname, "bytes": len(b),
                          "sha256": hashlib.sha256(b).hexdigest()})
            k += 1
            if len(b) < part_bytes:
                break
    manifest = {"format": "inrgan split checkpoint 1", "source": os.path.basename(path),
                "bytes": sum(p["bytes"] for p in parts), "sha256": whole.hexdigest(),
                "parts": parts}
    mpath = os.path.join(outdir, name + ".json")
    _write_atomic(mpath, lambda o: o.write(json.dumps(manifest, indent=1).encode()))
    return mpath


def join(manifest_path):
    """The bytes of a split checkpoint, every part's and the whole file's sha256 checked."""
    with open(manifest_path) as f:
        m = json.load(f)
    if not isinstance(m, dict) or m.get("format") != "inrgan split checkpoint 1":
        raise ValueError("%s: not a split-checkpoint manifest" % manifest_path)
    base = os.path.dirname(os.path.abspath(manifest_path))
    buf = bytearray()
    for p in m["parts"]:
        with open(os.path.join(base, os.path.basename(p["file"])), "rb") as f:
            b = f.read()
        if len(b) != p["bytes"] or hashlib.sha256(b).hexdigest() != p["sha256"]:
            raise ValueError("%s: part %s is damaged or incomplete" % (manifest_path, p["file"]))
        buf += b
    if len(buf) != m["bytes"] or hashlib.sha256(buf).hexdigest() != m["sha256"]:
        raise ValueError("%s: joined checkpoint does not match its sha256" % manifest_path)
    return bytes(buf)


def _weights_only_ok():
    # torch 1.13's weights-only unpickler lacks opcodes the trainer's files use (BINFLOAT)
    try:
        return int(torch.__version__.split(".")[0]) >= 2
    except ValueError:
        return False


def load(path, map_location="cpu"):
    """A checkpoint from a .pt file or from the manifest (.json) of split parts. With torch
    >= 2 unpickled with weights_only=True (tensors, numbers, strings and containers: all the
    trainer writes; the default of torch >= 2.6)."""
    f = io.BytesIO(join(path)) if str(path).endswith(".json") else path
    if _weights_only_ok():
        return torch.load(f, map_location=map_location, weights_only=True)
    return torch.load(f, map_location=map_location)
