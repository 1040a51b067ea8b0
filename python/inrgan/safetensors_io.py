"""Minimal safetensors reader/writer (F32 and F16 only).

Layout (docs/model-format.md):

    [u64 little-endian N] [N bytes of JSON header] [data section]

The header maps tensor names to {"dtype", "shape", "data_offsets"} (offsets relative to the
start of the data section) plus an optional "__metadata__" string -> string map.

    save(path, tensors, metadata=None, align=False, order=None)
    load(path) -> (dict name -> np.ndarray, metadata dict)

`save` writes atomically (temporary file in the same directory, then os.replace).
write_atomic(path, data) and write_atomic_with(path, write) do that for any file (the trainer's
checkpoints too, inrgan.ckpt).
`load` is strict: every malformed detail raises ValueError with a message naming the problem.
"""

import json
import math
import os
import struct
import tempfile

import numpy as np

__all__ = ["save", "load", "DTYPES"]

# safetensors dtype name -> numpy little-endian dtype
DTYPES = {"F32": np.dtype("<f4"), "F16": np.dtype("<f2")}
_NAME_OF = {np.dtype(np.float32): "F32", np.dtype(np.float16): "F16"}

_MAX_HEADER = 100 * 1024 * 1024  # refuse absurd header lengths (the reference lib uses 100 MB)


def _to_numpy(name, value):
    """Converts one tensor value to a C-contiguous little-endian float32/float16 array."""
    try:
        import torch  # optional: only needed when torch tensors are passed
    except ImportError:  # pragma: no cover
        torch = None
    if torch is not None and isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        if value.dtype == torch.bfloat16:
            raise ValueError("tensor %r: bfloat16 is not supported (only F32, F16)" % name)
        value = value.numpy()
    if not isinstance(value, np.ndarray):
        raise ValueError("tensor %r: expected a numpy array or torch tensor, got %s"
                         % (name, type(value).__name__))
    if value.dtype.kind != "f":
        raise ValueError("tensor %r: dtype %s is not a float type (only F32, F16 are written)"
                         % (name, value.dtype))
    dt = np.dtype(value.dtype.newbyteorder("="))
    if dt == np.dtype(np.float16):
        out = value.astype("<f2", copy=False)
    elif dt == np.dtype(np.float32):
        out = value.astype("<f4", copy=False)
    else:  # float64 and other float types are stored as F32
        out = value.astype("<f4")
    if not out.flags.c_contiguous:
        out = out.copy(order="C")  # (np.ascontiguousarray would turn 0-d into 1-d)
    return out


def save(path, tensors, metadata=None, align=False, order=None):
    """Writes `tensors` (dict name -> np.ndarray | torch.Tensor) to `path` as safetensors.

    * float32 and float16 arrays keep their dtype (F32 / F16); other float types become F32;
      non-float arrays are refused.
    * metadata: dict str -> str stored under "__metadata__" (omitted when None/empty).
    * order: list of tensor names giving the order of the data section (a permutation of
      the keys); default: the dict's order.
    * align=False: the header is not padded and tensors are packed back to back, so offsets
      may be unaligned (valid: readers must copy). align=True: the header is padded with
      spaces to a multiple of 8 bytes and tensors are stably sorted by element size (largest
      first), so every tensor starts at a multiple of its element size, without gaps (the
      layout of the reference implementation).
    The file is written to a temporary file in the same directory and renamed over `path`.
    """
    if not isinstance(tensors, dict):
        raise ValueError("tensors must be a dict name -> array")
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        raise ValueError("metadata must be a dict str -> str")
    for k, v in metadata.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise ValueError("metadata must map str -> str (key %r has a %s value)"
                             % (k, type(v).__name__))
    names = list(tensors.keys())
    if order is not None:
        order = list(order)
        if sorted(order) != sorted(names) or len(set(order)) != len(order):
            raise ValueError("order must be a permutation of the tensor names")
        names = order
    for n in names:
        if not isinstance(n, str) or not n:
            raise ValueError("tensor names must be non-empty strings (got %r)" % (n,))
        if n == "__metadata__":
            raise ValueError("'__metadata__' cannot be used as a tensor name")
    arrays = [(n, _to_numpy(n, tensors[n])) for n in names]
    if align:
        arrays.sort(key=lambda item: -item[1].dtype.itemsize)  # stable sort

    header = {}
    if metadata:
        header["__metadata__"] = dict(metadata)
    offset = 0
    for n, a in arrays:
        nbytes = a.size * a.dtype.itemsize
        header[n] = {"dtype": _NAME_OF[np.dtype(a.dtype.newbyteorder("="))],
                     "shape": [int(d) for d in a.shape],
                     "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    hbytes = json.dumps(header, separators=(",", ":"), ensure_ascii=True).encode("utf-8")
    if align:
        hbytes += b" " * ((-(8 + len(hbytes))) % 8)

    def chunks():
        yield struct.pack("<Q", len(hbytes))
        yield hbytes
        for _, a in arrays:
            yield memoryview(np.ascontiguousarray(a)).cast("B")
    write_atomic(path, chunks())


def write_atomic(path, data):
    """Writes `data` (bytes, or an iterable of bytes-like chunks) to `path` atomically: a
    temporary file in the same directory, flushed and fsync'ed, then renamed over `path`.
    On any failure (e.g. ENOSPC) the temporary file is removed and `path` is untouched."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        data = (data,)

    def write(f):
        for chunk in data:
            f.write(chunk)

    write_atomic_with(path, write)


def _fsync_dir(path):
    try:
        fd = os.open(os.path.dirname(os.path.abspath(path)) or ".", os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomic_with(path, write, tmp=None, sync_dir=False):
    """Replaces `path` atomically by what write(f) writes to a binary file: a temporary file in
    the same directory (named `tmp`, or a fresh hidden name given the umask's permissions),
    flushed and fsync'ed, then renamed over `path`, and with sync_dir the directory fsync'ed.
    On any failure (e.g. ENOSPC) the temporary file is removed and `path` is untouched."""
    path = os.fspath(path)
    fresh = tmp is None
    if fresh:
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp",
                                   dir=os.path.dirname(os.path.abspath(path)))
    try:
        with (os.fdopen(fd, "wb") if fresh else open(tmp, "wb")) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        if fresh:  # mkstemp's file is 0600
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    if sync_dir:
        _fsync_dir(path)


def _no_duplicates(pairs):
    d = {}
    for k, v in pairs:
        if k in d:
            raise ValueError("duplicate key %r in the safetensors header" % (k,))
        d[k] = v
    return d


def _refuse_constant(name):
    raise ValueError("non-standard JSON constant %s" % name)


def _is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)


def load(path):
    """Reads a safetensors file. Returns (dict name -> np.ndarray, metadata dict).

    Arrays are native-endian float32 / float16 copies, in header order. Raises ValueError on
    any malformed detail: short file, header length beyond the file, header not a JSON object,
    duplicate names, malformed entries, unknown dtype, negative shape, byte range not matching
    the shape, range outside the data section, overlapping ranges, metadata not str -> str.
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        blob = f.read()
    where = os.path.basename(path)
    if len(blob) < 8:
        raise ValueError("%s: file is %d bytes, shorter than the 8-byte header length"
                         % (where, len(blob)))
    (hlen,) = struct.unpack("<Q", blob[:8])
    if hlen > len(blob) - 8:
        raise ValueError("%s: header length %d goes beyond the end of the file (%d bytes)"
                         % (where, hlen, len(blob)))
    if hlen > _MAX_HEADER:
        raise ValueError("%s: header length %d is absurd" % (where, hlen))
    try:
        text = blob[8:8 + hlen].decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError("%s: header is not UTF-8 (%s)" % (where, e)) from None
    try:
        header = json.loads(text, object_pairs_hook=_no_duplicates,
                            parse_constant=_refuse_constant)
    except ValueError as e:
        raise ValueError("%s: header is not valid JSON: %s" % (where, e)) from None
    if not isinstance(header, dict):
        raise ValueError("%s: header is not a JSON object" % where)

    data = memoryview(blob)[8 + hlen:]
    metadata = {}
    if "__metadata__" in header:
        meta = header["__metadata__"]
        if not isinstance(meta, dict):
            raise ValueError("%s: __metadata__ is not an object" % where)
        for k, v in meta.items():
            if not isinstance(v, str):
                raise ValueError("%s: __metadata__[%r] is not a string" % (where, k))
        metadata = dict(meta)

    ranges = []
    entries = []
    for name, e in header.items():
        if name == "__metadata__":
            continue
        if not name:
            raise ValueError("%s: empty tensor name" % where)
        if not isinstance(e, dict):
            raise ValueError("%s: tensor %r: entry is not an object" % (where, name))
        keys = set(e.keys())
        if keys != {"dtype", "shape", "data_offsets"}:
            missing = {"dtype", "shape", "data_offsets"} - keys
            extra = keys - {"dtype", "shape", "data_offsets"}
            raise ValueError("%s: tensor %r: malformed entry (missing %s, unexpected %s)"
                             % (where, name, sorted(missing), sorted(extra)))
        dtype = e["dtype"]
        if not isinstance(dtype, str):
            raise ValueError("%s: tensor %r: dtype is not a string" % (where, name))
        if dtype not in DTYPES:
            raise ValueError("%s: tensor %r: unsupported dtype %r (only F32, F16)"
                             % (where, name, dtype))
        shape = e["shape"]
        if not isinstance(shape, list) or not all(_is_int(d) for d in shape):
            raise ValueError("%s: tensor %r: shape must be a list of integers" % (where, name))
        if any(d < 0 for d in shape):
            raise ValueError("%s: tensor %r: negative dimension in shape %s"
                             % (where, name, shape))
        offs = e["data_offsets"]
        if (not isinstance(offs, list) or len(offs) != 2
                or not all(_is_int(o) for o in offs)):
            raise ValueError("%s: tensor %r: data_offsets must be [begin, end] integers"
                             % (where, name))
        begin, end = offs
        if begin < 0 or end < begin:
            raise ValueError("%s: tensor %r: bad data_offsets %s" % (where, name, offs))
        if end > len(data):
            raise ValueError("%s: tensor %r: range [%d, %d) is outside the data section "
                             "(%d bytes)" % (where, name, begin, end, len(data)))
        numel = math.prod(shape) if shape else 1
        itemsize = DTYPES[dtype].itemsize
        if numel * itemsize != end - begin:
            raise ValueError("%s: tensor %r: shape %s x %s needs %d bytes but the range holds %d"
                             % (where, name, shape, dtype, numel * itemsize, end - begin))
        ranges.append((begin, end, name))
        entries.append((name, dtype, shape, begin, end))

    ranges = sorted(r for r in ranges if r[1] > r[0])  # empty tensors occupy no bytes
    for (b0, e0, n0), (b1, e1, n1) in zip(ranges, ranges[1:]):
        if b1 < e0:
            raise ValueError("%s: tensors %r and %r overlap in the data section"
                             % (where, n0, n1))

    tensors = {}
    for name, dtype, shape, begin, end in entries:
        arr = np.frombuffer(data[begin:end], dtype=DTYPES[dtype])
        tensors[name] = arr.astype(DTYPES[dtype].newbyteorder("="), copy=True).reshape(shape)
    return tensors, metadata


def model_tensors(arrays, dtype="fp32", keep32=(), error=ValueError):
    """The arrays of a model file as the converters write them: float32, or float16 with
    dtype="fp16" except the names whose last component is in keep32 (buffers kept F32).
    Refuses (raises `error`) non-finite values and values that overflow fp16."""
    out = {}
    for name, a in arrays.items():
        a32 = np.asarray(a, dtype=np.float32)
        if not np.all(np.isfinite(a32)):
            raise error("tensor %s has non-finite values" % name)
        if dtype == "fp16" and name.rsplit(".", 1)[-1] not in keep32:
            h = a32.astype(np.float16)
            if not np.all(np.isfinite(h)):
                raise error("tensor %s overflows fp16 (use --dtype fp32)" % name)
            out[name] = h
        else:
            out[name] = a32
    return out
