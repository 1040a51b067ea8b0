"""Restricted reader for untrusted PyTorch / stylegan2-ada pickles: nothing in the file is
imported or executed.

    with open_checkpoint(path) as ck:      # ck.obj: the top-level object, ck.format: str
        ...                                # TensorRef.numpy() reads tensor data lazily

Python's pickle format is a small stack machine whose GLOBAL/REDUCE opcodes import and call
arbitrary functions. This module runs its own interpreter of the opcodes (protocols 0-5) in
which:

* GLOBAL / STACK_GLOBAL resolve only an exact allow-list of (module, name) pairs, each mapped
  to a stand-in written here (tensor/storage rebuild functions, collections.OrderedDict,
  _codecs.encode, numpy scalar/dtype/ndarray reconstruction, a few builtins types, ...).
  Whole modules are never allowed: ('builtins', 'eval'), ('builtins', 'getattr'),
  ('os', 'system'), ('torch', 'load'), ('numpy', 'load') and everything else not listed is
  refused with PickleError naming the global; nothing is imported to find out.
* stylegan2-ada persistent objects (`*.persistence._reconstruct_persistent_obj(meta)`) become
  PersistentObject(class_name, state, module_src): the pickled source text is kept for
  auditing and never executed.
* omegaconf.*, dnnlib.util.EasyDict and torch.nn ModuleList/ModuleDict/Sequential become
  Inert holders (class name + constructor arguments + state + items); typing.* names are
  value-only markers.
* REDUCE / NEWOBJ / INST / OBJ may only call those stand-ins; BUILD, SETITEM(S), APPEND(S)
  and ADDITEMS only touch plain containers and our own holders.
* Tensors are TensorRef objects over Storage objects whose bytes stay in the file until
  TensorRef.numpy() is called, so ignored tensors (G, D, CUDA-tagged caches) cost no memory.
  Storages are CPU byte ranges whatever device tag they carry.
* Storage bytes pickled by `torch.storage._load_from_bytes(b)` are nested legacy torch.save
  streams; they are parsed by the same interpreter under the same restrictions (torch.load is
  never used: its weights_only mode had code-execution bypasses in torch < 2.6,
  CVE-2025-32434).

Formats: plain pickles (stylegan2-ada network pickles, pickled state dicts), torch.save zip
archives (.pt/.pth since torch 1.6) and legacy torch.save streams. Every malformed detail
(truncation, bad opcode, memo/stack errors, tensor views beyond their storage, size
mismatches) raises PickleError with a one-line message.
"""

import codecs
import collections
import io
import os
import re
import stat
import struct
import zipfile
import zlib

import numpy as np

__all__ = ["PickleError", "LimitError", "Limits", "LIMITS", "one_line", "GlobalRef", "Inert",
           "PersistentObject", "Storage", "TensorRef",
           "NdarrayHolder", "Checkpoint", "open_checkpoint", "load_pickle_bytes",
           "allowed_globals", "LEGACY_MAGIC"]

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C      # torch.serialization MAGIC_NUMBER
LEGACY_PROTOCOL = 1001
LAZY_BYTES = 1 << 16                       # bytes objects at least this large stay in the file
MAX_LONG_BYTES = 1 << 16                   # LONG4 arguments larger than this are refused
_CHUNK = 1 << 16


class PickleError(ValueError):
    """Why a pickle was refused (one line: names from the file are escaped, long messages
    shortened)."""

    def __init__(self, msg):
        super().__init__(one_line(msg))


def one_line(msg, limit=600):
    """msg with non-printable characters (line breaks included) escaped, shortened to about
    `limit` characters."""
    msg = str(msg)
    if len(msg) > limit:
        msg = msg[:limit * 2 // 3] + " ... " + msg[-limit // 4:]
    if not msg.isprintable():
        msg = "".join(c if c.isprintable() else "\\x%02x" % ord(c) if ord(c) < 256
                      else "\\u%04x" % ord(c) if ord(c) < 65536 else "\\U%08x" % ord(c)
                      for c in msg)
    return msg


class LimitError(PickleError):
    """A resource limit was reached (the message names the limit and how to raise it)."""

    def __init__(self, msg, name):
        super().__init__(msg)
        self.limit = name


# ---- resource limits -------------------------------------------------------------------------

_KI, _MI, _GI = 1 << 10, 1 << 20, 1 << 30

# name -> (default, what it bounds). Every load is bounded by these whatever the file holds;
# honest files far beyond the released checkpoints may need one raised (Limits(name=N), or
# the converters' --limit NAME=N). docs/converting.md "Limits".
LIMITS = collections.OrderedDict((
    ("zip_members", (65536, "entries in a zip archive (its central directory may hold at "
                            "most 256 bytes per allowed entry)")),
    ("zip_member_bytes", (4 * _GI, "decompressed size of one zip member")),
    ("zip_total_bytes", (16 * _GI, "decompressed size of all zip members together")),
    ("zip_ratio", (100, "decompressed/compressed size of a zip member larger than 1 MiB")),
    ("pickle_bytes", (256 * _MI, "a zip archive's data.pkl (read into memory)")),
    ("string_bytes", (64 * _MI, "one string, bytes object or text line held in memory")),
    ("work", (4000000, "pickle opcodes run + container elements and memo entries created "
                       "(dict and set entries count 4), per file")),
    ("mark_depth", (4096, "nested MARKs (open tuples, lists, dicts being built)")),
    ("composite_keys", (4096, "tuple / frozenset dict keys and set items, per file")),
    ("unused_storage_bytes", (256 * _MI, "bytes of a storage that none of its tensors' "
                                        "views covers")),
    ("tensor_bytes", (4 * _GI, "tensor data read from the file, in total")),
    ("storage_reads", (2, "times over that a storage's bytes may be read through its tensors "
                          "(tensors sharing one storage)")),
))


def _flag(name):
    return name.replace("_", "-")


class Limits:
    """The resource limits of one load; attributes as in LIMITS. Limits(work=10**8) raises
    one; a value of 0 means no limit."""

    __slots__ = tuple(LIMITS)

    def __init__(self, **kw):
        for name, (default, _) in LIMITS.items():
            setattr(self, name, default)
        for name, v in kw.items():
            if name not in LIMITS:
                raise ValueError("unknown limit %r (known: %s)" % (name, ", ".join(LIMITS)))
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError("limit %s must be a non-negative integer" % name)
            setattr(self, name, v)

    @classmethod
    def parse(cls, specs):
        """Limits from 'NAME=N' strings (NAME with - or _, N an integer with an optional
        K/M/G/T suffix: powers of 1024; 0 = unlimited). Raises ValueError."""
        kw = {}
        for spec in specs or ():
            name, sep, value = spec.partition("=")
            name = name.strip().replace("-", "_")
            if not sep or name not in LIMITS:
                raise ValueError("--limit %r: expected NAME=N with NAME one of %s"
                                 % (spec, ", ".join(_flag(n) for n in LIMITS)))
            m = re.fullmatch(r"\s*(\d{1,19})\s*([kKmMgGtT]?)(i?[bB])?\s*", value)
            if not m:
                raise ValueError("--limit %s: %r is not a non-negative integer (optional "
                                 "K/M/G/T suffix)" % (_flag(name), value))
            n = int(m.group(1)) * (1 << (10 * " KMGT".index(m.group(2).upper() or " ")))
            if n >= 1 << 63:
                raise ValueError("--limit %s: %r is too large" % (_flag(name), value))
            kw[name] = n
        return cls(**kw)

    def over(self, name, value):
        """True when value exceeds the limit `name` (0 = unlimited)."""
        lim = getattr(self, name)
        return lim != 0 and value > lim

    def error(self, where, what, name):
        """A LimitError: '<where>: <what> exceeds the limit NAME=N (...)'."""
        return LimitError("%s: %s exceeds the limit %s=%d (%s; if the file is trusted, raise "
                          "it with --limit %s=N)" % (where, what, _flag(name), getattr(self, name),
                                                   LIMITS[name][1], _flag(name)), name)


class _Ctx:
    """Shared accounting of one load (all machines, nested storage streams included)."""

    def __init__(self, limits):
        self.limits = limits if limits is not None else Limits()
        self.max_work = self.limits.work or float("inf")
        self.work = 0
        self.composite = 0
        self.zip_bytes = 0
        self.tensor_bytes = 0
        self.storage_read = {}        # id(root Storage) -> bytes read through its tensors
        self.tensors = []
        self.slice_cache = {}         # id(FileSlice) -> (slice, bytes): read once
        self.encode_cache = {}        # id(str) -> (str, bytes): _codecs.encode once
        self.where = "pickle"

    def charge(self, n):
        self.work += n
        if self.work > self.max_work:
            raise self.limits.error(self.where, "the pickle's work (%d units)" % self.work,
                                    "work")


    def __enter__(self):
        self.prev = _CTX[0]
        _CTX[0] = self
        return self

    def __exit__(self, *exc):
        _CTX[0] = self.prev
        self.slice_cache.clear()
        self.encode_cache.clear()

    def check_unused(self, where):
        """Refuses storages whose tensors' views leave more than unused_storage_bytes of them
        uncovered (they would be read, or decompressed past, for nothing)."""
        ext = {}
        for t in self.tensors:
            lo, hi = t.extent()
            if hi == lo:
                continue
            st = t.storage
            while st.base is not None:
                lo += st.elem_offset
                hi += st.elem_offset
                st = st.base
            e = ext.get(id(st))
            if e is None:
                ext[id(st)] = [st, lo, hi]
            else:
                e[1], e[2] = min(e[1], lo), max(e[2], hi)
        for st, lo, hi in ext.values():
            unused = (st.numel - (hi - lo)) * st.itemsize
            if self.limits.over("unused_storage_bytes", unused):
                raise self.limits.error(where, "storage %s: %d of its %d bytes outside every "
                                        "tensor view" % (st.key, unused,
                                                         st.numel * st.itemsize),
                                        "unused_storage_bytes")


_CTX = [None]


def _ctx():
    c = _CTX[0]
    return c if c is not None else _Ctx(None)     # stand-ins used outside a load


# ---- holders -------------------------------------------------------------------------------

class GlobalRef:
    """What a GLOBAL opcode yields: a name from the allow-list. `call` (REDUCE) and `new`
    (NEWOBJ/INST/OBJ) are stand-ins written in this module, or None when the name is a value
    only (typing.Any, torch.float32, storage types)."""

    __slots__ = ("module", "name", "call", "new", "kind", "info")

    def __init__(self, module, name, call=None, new=None, kind="value", info=None):
        self.module, self.name, self.call, self.new = module, name, call, new
        self.kind, self.info = kind, info

    @property
    def qualname(self):
        return "%s.%s" % (self.module, self.name)

    def __repr__(self):
        return "<global %s>" % self.qualname


class Inert:
    """An object of a class that is never run (omegaconf, EasyDict, ModuleList, ...): its
    class name, constructor arguments, BUILD state and SETITEMS/APPENDS items."""

    __slots__ = ("cls", "args", "kwargs", "state", "items", "listitems")

    def __init__(self, cls, args=(), kwargs=None):
        self.cls = cls
        self.args = tuple(args)
        self.kwargs = dict(kwargs or {})
        self.state = None
        self.items = {}
        self.listitems = []

    def __repr__(self):
        return "<inert %s>" % self.cls


class PersistentObject:
    """A stylegan2-ada persistent object: class name, state (the module's __dict__) and the
    pickled module source (kept for auditing, never executed)."""

    __slots__ = ("class_name", "state", "module_src", "version")

    def __init__(self, class_name, state, module_src, version):
        self.class_name, self.state = class_name, state
        self.module_src, self.version = module_src, version

    def __repr__(self):
        return "<persistent %s>" % self.class_name


class NdarrayHolder:
    """A numpy array rebuilt from numpy.core.multiarray._reconstruct + BUILD."""

    __slots__ = ("array",)

    def __init__(self):
        self.array = None

    def setstate(self, state):
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise PickleError("numpy array state is not a 4/5-tuple")
        if len(state) == 5:
            state = state[1:]
        shape, dtype, fortran, raw = state
        if not isinstance(dtype, _NumpyDtype):
            raise PickleError("numpy array state has no numpy dtype")
        shape = _int_tuple(shape, "numpy array shape")
        raw = _bytes_of(raw, "numpy array data")
        dt = dtype.dtype()
        n = 1
        for s in shape:
            n *= s
        if len(raw) != n * dt.itemsize:
            raise PickleError("numpy array data has %d bytes, expected %d"
                              % (len(raw), n * dt.itemsize))
        arr = np.frombuffer(raw, dtype=dt, count=n)
        self.array = arr.reshape(shape, order="F" if fortran else "C")


class _NumpyDtype:
    """numpy.dtype(spec, align, copy) + BUILD state; only bool/int/uint/float/complex."""

    __slots__ = ("spec", "order")

    _SPEC = re.compile(r"^(b1|\?|[iu][1248]|f[248]|c(8|16))$")

    def __init__(self, spec, align=False, copy=False):
        if not isinstance(spec, str) or not self._SPEC.match(spec):
            raise PickleError("numpy dtype %r is not a plain numeric type" % (spec,))
        self.spec = spec
        self.order = "<"

    def setstate(self, state):
        if not isinstance(state, tuple) or len(state) < 2 or state[1] not in ("<", ">", "|", "="):
            raise PickleError("numpy dtype state is malformed")
        self.order = state[1]

    def dtype(self):
        order = self.order if self.order in ("<", ">") else "<"
        return np.dtype(order + self.spec if self.spec not in ("?", "b1") else "?")


# ---- storages and tensors --------------------------------------------------------------------

_STORAGE_TYPES = {
    "FloatStorage": "<f4", "DoubleStorage": "<f8", "HalfStorage": "<f2",
    "BFloat16Storage": "bf16", "LongStorage": "<i8", "IntStorage": "<i4",
    "ShortStorage": "<i2", "CharStorage": "i1", "ByteStorage": "u1", "BoolStorage": "?",
    "UntypedStorage": "u1",
}


def _np_dtype_of(code):
    return np.dtype("<u2") if code == "bf16" else np.dtype(code)


class FileSlice:
    """A byte range of an open file, read on demand."""

    __slots__ = ("f", "offset", "length", "where")

    def __init__(self, f, offset, length, where):
        self.f, self.offset, self.length, self.where = f, offset, length, where

    def __len__(self):
        return self.length

    def read(self):
        return self.read_range(0, self.length)

    def read_range(self, lo, hi):
        """Bytes [lo, hi) of the slice."""
        self.f.seek(self.offset + lo)
        data = self.f.read(hi - lo)
        if len(data) != hi - lo:
            raise PickleError("%s: truncated: %d bytes at offset %d, only %d present"
                              % (self.where, hi - lo, self.offset + lo, len(data)))
        return data


class _ZipMember:
    """A zip member read as a capped stream: only the bytes up to the end of the requested
    range are decompressed, and every decompressed byte counts towards zip_total_bytes."""

    __slots__ = ("zf", "info", "length", "ctx", "where")

    def __init__(self, zf, info, ctx, where):
        self.zf, self.info, self.length = zf, info, info.file_size
        self.ctx, self.where = ctx, where

    def read(self):
        return self.read_range(0, self.length)

    def __len__(self):
        return self.length

    def read_range(self, lo, hi):
        return _read_member(self.zf, self.info, lo, hi, self.ctx, self.where)


def _read_member(zf, info, lo, hi, ctx, where):
    """Bytes [lo, hi) of a zip member, decompressing no further than hi."""
    name = info.filename
    lim = ctx.limits
    if lim.over("zip_total_bytes", ctx.zip_bytes + hi):
        raise lim.error(where, "reading zip member %s (%d bytes decompressed so far, %d more)"
                        % (name, ctx.zip_bytes, hi), "zip_total_bytes")
    parts = []
    try:
        with zf.open(info) as z:
            pos = 0
            while pos < hi:
                want = min(hi - pos, _CHUNK) if pos < lo else min(hi - pos, 1 << 22)
                if pos < lo:
                    want = min(want, lo - pos)
                b = z.read(want)
                if not b:
                    break
                ctx.zip_bytes += len(b)
                if pos >= lo:
                    parts.append(b)
                pos += len(b)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, zlib.error,
            NotImplementedError, RuntimeError) as e:       # (unsupported method, encrypted)
        raise PickleError("%s: zip member %s is unreadable (%s)"
                          % (where, name, _short(str(e)))) from None
    data = b"".join(parts)
    if len(data) != hi - lo:
        raise PickleError("%s: zip member %s ends after %d bytes, %d declared"
                          % (where, name, pos, info.file_size))
    return data


class Storage:
    """A typed, CPU-located run of `numel` elements. `location` is the device tag from the
    file (e.g. 'cuda:0'); it is recorded, never acted on."""

    __slots__ = ("kind", "code", "numel", "location", "key", "data", "base", "elem_offset",
                 "ctx")

    def __init__(self, kind, code, numel, location, key):
        self.kind, self.code, self.numel = kind, code, numel
        self.location, self.key = location, key
        self.data = None          # bytes | FileSlice | _ZipMember (set when known)
        self.base = None          # root Storage for legacy storage views
        self.elem_offset = 0
        self.ctx = _ctx()         # the load's accounting (tensor_bytes, zip_total_bytes)

    @property
    def itemsize(self):
        return _np_dtype_of(self.code).itemsize

    def array(self):
        """The elements as a read-only 1-D numpy array (bfloat16 as uint16 bits)."""
        return self.read_elems(0, self.numel)

    def read_elems(self, lo, hi):
        """Elements [lo, hi) as a read-only 1-D numpy array; only their bytes are read."""
        if self.base is not None:
            return self.base.read_elems(self.elem_offset + lo, self.elem_offset + hi)
        if self.data is None:
            raise PickleError("storage %s has no data" % self.key)
        dt = _np_dtype_of(self.code)
        if len(self.data) != self.numel * dt.itemsize:
            raise PickleError("storage %s has %d bytes, expected %d"
                              % (self.key, len(self.data), self.numel * dt.itemsize))
        if not 0 <= lo <= hi <= self.numel:
            raise PickleError("storage %s: elements [%d, %d) beyond its %d"
                              % (self.key, lo, hi, self.numel))
        a, b = lo * dt.itemsize, hi * dt.itemsize
        ctx = self.ctx
        ctx.tensor_bytes += b - a
        if ctx.limits.over("tensor_bytes", ctx.tensor_bytes):
            raise ctx.limits.error("storage %s" % self.key, "tensor data read (%d bytes in "
                                   "total)" % ctx.tensor_bytes, "tensor_bytes")
        done = ctx.storage_read[id(self)] = ctx.storage_read.get(id(self), 0) + b - a
        size = self.numel * dt.itemsize
        if ctx.limits.storage_reads and done > ctx.limits.storage_reads * size + _MI:
            raise ctx.limits.error("storage %s" % self.key, "reading its %d bytes %.1f times "
                                   "over" % (size, done / max(size, 1)), "storage_reads")
        raw = self.data[a:b] if isinstance(self.data, bytes) else self.data.read_range(a, b)
        return np.frombuffer(raw, dtype=dt, count=hi - lo)


class TensorRef:
    """A tensor view (offset, size, stride in elements) of a Storage; data read lazily."""

    __slots__ = ("storage", "offset", "shape", "stride", "is_parameter")

    def __init__(self, storage, offset, shape, stride):
        if len(shape) != len(stride):
            raise PickleError("tensor size %s and stride %s differ in length"
                              % (list(shape), list(stride)))
        if offset < 0 or any(s < 0 for s in shape) or any(s < 0 for s in stride):
            raise PickleError("tensor with negative offset, size or stride")
        if all(s > 0 for s in shape):
            last = offset + sum((n - 1) * st for n, st in zip(shape, stride))
            if last >= storage.numel:
                raise PickleError("tensor view (offset %d, size %s, stride %s) exceeds its "
                                  "storage of %d elements"
                                  % (offset, list(shape), list(stride), storage.numel))
            n = 1
            for s in shape:
                n *= s
            if n > storage.numel:     # overlapping strides would multiply the data read
                raise PickleError("tensor of %d elements (size %s, stride %s) over a storage "
                                  "of %d elements: overlapping views are not supported"
                                  % (n, list(shape), list(stride), storage.numel))
        self.storage, self.offset = storage, offset
        self.shape, self.stride = tuple(shape), tuple(stride)
        self.is_parameter = False
        _ctx().tensors.append(self)

    def extent(self):
        """(lo, hi): the storage elements the view touches (hi == lo when empty)."""
        if self.numel == 0:
            return self.offset, self.offset
        return self.offset, self.offset + sum((n - 1) * st
                                              for n, st in zip(self.shape, self.stride)) + 1

    @property
    def dtype_code(self):
        return self.storage.code

    @property
    def numel(self):
        n = 1
        for s in self.shape:
            n *= s
        return n

    def numpy(self):
        """The tensor's values as a numpy array of its shape (bfloat16 becomes float32)."""
        dt = _np_dtype_of(self.storage.code)
        if self.numel == 0:
            out = np.zeros(self.shape, dtype=dt)
        else:
            lo, hi = self.extent()
            flat = self.storage.read_elems(lo, hi)       # only the bytes the view covers
            contiguous = []
            acc = 1
            for n in reversed(self.shape):
                contiguous.append(acc)
                acc *= n
            contiguous = tuple(reversed(contiguous))
            if self.stride == contiguous or self.numel == 1:
                out = flat[:self.numel].reshape(self.shape)
            else:
                view = np.lib.stride_tricks.as_strided(
                    flat, shape=self.shape,
                    strides=[s * dt.itemsize for s in self.stride], writeable=False)
                out = np.array(view, order="C")
        if self.storage.code == "bf16":
            out = (out.astype(np.uint32) << 16).view(np.float32)
        return out

    def __repr__(self):
        return "<tensor %s %s on %s>" % (self.storage.code, list(self.shape),
                                        self.storage.location)


# ---- argument helpers ------------------------------------------------------------------------

def _int(v, what):
    if isinstance(v, bool) or not isinstance(v, int):
        raise PickleError("%s is not an integer (%r)" % (what, type(v).__name__))
    return v


def _int_tuple(v, what):
    if isinstance(v, GlobalRef) or not isinstance(v, (tuple, list)):
        raise PickleError("%s is not a tuple of integers" % what)
    return tuple(_int(x, what) for x in v)


def _bytes_of(v, what):
    if isinstance(v, bytes):
        return v
    if isinstance(v, bytearray):
        _ctx().charge(len(v) // 8 + 1)            # a copy
        return bytes(v)
    if isinstance(v, FileSlice):                 # read once however often it is used
        cache = _ctx().slice_cache
        hit = cache.get(id(v))
        if hit is None:
            hit = cache[id(v)] = (v, v.read())
        return hit[1]
    raise PickleError("%s is not bytes" % what)


# ---- stand-ins for the allow-listed globals ------------------------------------------------

def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False,
                       backward_hooks=None, metadata=None):
    if not isinstance(storage, Storage):
        raise PickleError("tensor rebuilt from a %s, not a storage" % type(storage).__name__)
    return TensorRef(storage, _int(storage_offset, "tensor offset"),
                     _int_tuple(size, "tensor size"), _int_tuple(stride, "tensor stride"))


def _rebuild_tensor(storage, storage_offset, size, stride):
    return _rebuild_tensor_v2(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, state=None):
    if not isinstance(data, TensorRef):
        raise PickleError("parameter rebuilt from a %s, not a tensor" % type(data).__name__)
    data.is_parameter = True
    return data


def _rebuild_from_type_v2(func, new_type, args, state):
    if not (isinstance(func, GlobalRef) and func.call in (_rebuild_tensor_v2, _rebuild_tensor)):
        raise PickleError("_rebuild_from_type_v2 with a rebuild function other than "
                          "_rebuild_tensor_v2")
    if not (isinstance(new_type, GlobalRef) and new_type.kind == "tensor_type"):
        raise PickleError("_rebuild_from_type_v2 with an unknown tensor type")
    if not isinstance(args, tuple):
        raise PickleError("_rebuild_from_type_v2 arguments are not a tuple")
    t = func.call(*args)
    if new_type.name == "Parameter":
        t.is_parameter = True
    return t


def _ordered_dict(items=()):
    if isinstance(items, (list, tuple)):
        _ctx().charge(len(items))
        out = collections.OrderedDict()
        for pair in items:
            if not isinstance(pair, (list, tuple)) or len(pair) != 2:
                raise PickleError("OrderedDict items are not pairs")
            _set_item(out, pair[0], pair[1])
        return out
    raise PickleError("OrderedDict built from a %s" % type(items).__name__)


def _defaultdict(factory=None, items=None):
    if factory is not None and not isinstance(factory, GlobalRef):
        raise PickleError("defaultdict factory is not a plain type")
    out = {}
    if items is not None:
        if not isinstance(items, dict):
            raise PickleError("defaultdict items are not a dict")
        _ctx().charge(4 * len(items))
        out.update(items)
    return out


def _codecs_encode(obj, encoding="utf-8"):
    if not isinstance(obj, str) or encoding not in ("latin1", "latin-1"):
        raise PickleError("_codecs.encode is allowed only for str -> latin1 bytes")
    cache = _ctx().encode_cache                  # the same text is encoded once
    hit = cache.get(id(obj))
    if hit is None:
        hit = cache[id(obj)] = (obj, obj.encode("latin-1"))
    return hit[1]


def _np_scalar(dtype, data=None):
    if not isinstance(dtype, _NumpyDtype):
        raise PickleError("numpy scalar without a numeric numpy dtype")
    dt = dtype.dtype()
    raw = _bytes_of(data, "numpy scalar data")
    if len(raw) != dt.itemsize:
        raise PickleError("numpy scalar of %d bytes for dtype %s" % (len(raw), dt))
    return np.frombuffer(raw, dtype=dt, count=1)[0]


def _np_reconstruct(subtype, shape, dtype_code):
    if not (isinstance(subtype, GlobalRef) and subtype.kind == "ndarray_type"):
        raise PickleError("numpy _reconstruct of a type other than numpy.ndarray")
    return NdarrayHolder()


def _np_frombuffer(buf, dtype, shape, order="C"):
    if not isinstance(dtype, _NumpyDtype) or order not in ("C", "F"):
        raise PickleError("numpy _frombuffer without a numeric dtype")
    h = NdarrayHolder()
    h.setstate((_int_tuple(shape, "numpy array shape"), dtype, order == "F", buf))
    return h


def _torch_device(kind, index=None):
    if not isinstance(kind, str) or (index is not None and not isinstance(index, int)):
        raise PickleError("torch.device with non-string type")
    return kind if index is None else "%s:%d" % (kind, index)


def _torch_size(dims=()):
    return _int_tuple(dims, "torch.Size")


def _reconstruct_persistent(meta):
    if not isinstance(meta, dict):
        raise PickleError("persistent object metadata is not a dict")
    if meta.get("type") != "class":
        raise PickleError("persistent object of type %r is not supported (only 'class')"
                          % (meta.get("type"),))
    name = meta.get("class_name")
    if not isinstance(name, str) or not name:
        raise PickleError("persistent object without a class name")
    state = meta.get("state")
    if state is not None and not isinstance(state, dict):
        raise PickleError("persistent object %s has a non-dict state" % name)
    src = meta.get("module_src")
    if src is not None and not isinstance(src, str):
        raise PickleError("persistent object %s has a non-text module source" % name)
    return PersistentObject(name, state if state is not None else {}, src, meta.get("version"))


def _container_ctor(kind):
    def make(items=()):
        if kind == "dict":
            if isinstance(items, dict):
                _ctx().charge(4 * len(items))
                return dict(items)
            return dict(_ordered_dict(items))
        if not isinstance(items, (list, tuple, set, frozenset)):
            raise PickleError("builtins.%s built from a %s" % (kind, type(items).__name__))
        _ctx().charge(len(items))
        if kind in ("set", "frozenset"):
            for x in items:
                _check_hashable(x)
        return {"set": set, "frozenset": frozenset, "list": list, "tuple": tuple}[kind](items)
    return make


def _bytearray_ctor(data=b""):
    if data == b"":
        return bytearray()
    raw = _bytes_of(data, "bytearray data")
    _ctx().charge(len(raw) // 8 + 1)
    return bytearray(raw)


def _complex_ctor(re_=0.0, im=0.0):
    if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (re_, im)):
        raise PickleError("complex() from non-numbers")
    return complex(re_, im)


def _copyreg_reconstructor(cls, base, state):
    if not (isinstance(cls, GlobalRef) and cls.new is not None and cls.kind == "inert"):
        raise PickleError("copyreg._reconstructor of a class that is not an inert holder")
    if not (isinstance(base, GlobalRef) and base.module == "builtins"):
        raise PickleError("copyreg._reconstructor with an unexpected base")
    obj = cls.new()
    if state is not None:
        obj.args = (state,)
    return obj


def _inert_class(module, name):
    qual = "%s.%s" % (module, name)

    def new(*args, **kwargs):
        _ctx().charge(len(args) + 4 * len(kwargs))
        return Inert(qual, args, kwargs)
    return GlobalRef(module, name, call=new, new=new, kind="inert")


def _build_allow_list():
    table = {}

    def add(module, name, call=None, new=None, kind="value", info=None):
        table[(module, name)] = GlobalRef(module, name, call, new, kind, info)

    add("torch._utils", "_rebuild_tensor_v2", _rebuild_tensor_v2, kind="function")
    add("torch._utils", "_rebuild_tensor", _rebuild_tensor, kind="function")
    add("torch._utils", "_rebuild_parameter", _rebuild_parameter, kind="function")
    add("torch._utils", "_rebuild_parameter_with_state", _rebuild_parameter, kind="function")
    add("torch._tensor", "_rebuild_from_type_v2", _rebuild_from_type_v2, kind="function")
    add("torch", "Tensor", kind="tensor_type")
    add("torch._tensor", "Tensor", kind="tensor_type")
    add("torch.nn.parameter", "Parameter", kind="tensor_type")
    for sname, code in _STORAGE_TYPES.items():
        add("torch", sname, kind="storage", info=code)
        add("torch.cuda", sname, kind="storage", info=code)
    add("torch.storage", "UntypedStorage", kind="storage", info="u1")
    add("torch.storage", "_load_from_bytes", None, kind="function")   # bound per machine
    for dt in ("float32", "float16", "float64", "bfloat16", "int64", "int32", "int16", "int8",
               "uint8", "bool", "float", "half", "double", "long", "int"):
        add("torch", dt)
    add("torch", "device", _torch_device, kind="function")
    add("torch", "Size", _torch_size, kind="function")
    add("collections", "OrderedDict", _ordered_dict, _ordered_dict, kind="function")
    add("collections", "defaultdict", _defaultdict, kind="function")
    add("_codecs", "encode", _codecs_encode, kind="function")
    add("copyreg", "_reconstructor", _copyreg_reconstructor, kind="function")
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
        add(mod, "scalar", _np_scalar, kind="function")
        add(mod, "_reconstruct", _np_reconstruct, kind="function")
    for mod in ("numpy.core.numeric", "numpy._core.numeric"):
        add(mod, "_frombuffer", _np_frombuffer, kind="function")
    add("numpy", "dtype", _NumpyDtype, kind="function")
    add("numpy", "ndarray", kind="ndarray_type")
    for kind in ("dict", "list", "tuple", "set", "frozenset"):
        f = _container_ctor(kind)
        add("builtins", kind, f, f, kind="function")
    add("builtins", "bytearray", _bytearray_ctor, kind="function")
    add("builtins", "complex", _complex_ctor, kind="function")
    for name in ("object", "str", "int", "float", "bool", "bytes"):
        add("builtins", name)
    for module, name in (("dnnlib.util", "EasyDict"), ("dnnlib", "EasyDict"),
                         ("torch.nn.modules.container", "ModuleList"),
                         ("torch.nn.modules.container", "ModuleDict"),
                         ("torch.nn.modules.container", "Sequential")):
        table[(module, name)] = _inert_class(module, name)
    return table


_ALLOWED = _build_allow_list()
_PY2_MODULES = {"__builtin__": "builtins", "copy_reg": "copyreg"}


def allowed_globals():
    """Sorted 'module.name' strings of the exact allow-list (plus the namespace rules:
    '*.persistence._reconstruct_persistent_obj', 'omegaconf.*' inert, 'typing.*' markers)."""
    return sorted(g.qualname for g in _ALLOWED.values())


def _is_persistence(module, name):
    return name == "_reconstruct_persistent_obj" and (module == "persistence"
                                                       or module.endswith(".persistence"))


_SCALAR_KEYS = (str, bytes, int, float, bool, type(None), GlobalRef)


_HASH_MODULUS = (1 << 61) - 1      # sys.hash_info.modulus on 64-bit CPython


def _check_scalar_key(k):
    # ints hash to themselves modulo 2**61-1: keys i*(2**61-1) all collide and make every
    # insertion scan the others (quadratic). Within +-(2**61-2) distinct ints hash apart.
    if type(k) is int and not -_HASH_MODULUS < k < _HASH_MODULUS:
        raise PickleError("dict key / set item integer %s is out of range (|k| must be "
                          "below 2**61-1)" % _short(k))


def _check_hashable(k):
    """Dict keys and set items: scalars, or flat tuples/frozensets of scalars (nested ones
    could make hashing exponentially slow through shared sub-tuples). Their hashes cannot
    be made to collide in bulk: str/bytes hashes are keyed (SipHash), ints are range-checked,
    floats have few equal-hash values; tuples and frozensets of chosen ints can be given
    equal hashes, so at most `composite_keys` of them are accepted per file."""
    if isinstance(k, _SCALAR_KEYS):
        _check_scalar_key(k)
        return
    if isinstance(k, (tuple, frozenset)) and len(k) <= 64 and all(
            isinstance(x, _SCALAR_KEYS) for x in k):
        for x in k:
            _check_scalar_key(x)
        ctx = _ctx()
        ctx.composite += 1
        if ctx.limits.over("composite_keys", ctx.composite):
            raise ctx.limits.error(ctx.where, "tuple/frozenset keys (%d)" % ctx.composite,
                                   "composite_keys")
        return
    raise PickleError("unexpected dict key / set item of type %s" % type(k).__name__)


def _set_item(target, k, v):
    _check_hashable(k)
    _ctx().charge(3)
    if type(target) in (dict, collections.OrderedDict):
        target[k] = v
    elif isinstance(target, Inert):
        target.items[k] = v
    else:
        raise PickleError("SETITEM on a %s" % type(target).__name__)


# ---- byte source ---------------------------------------------------------------------------

class _Source:
    """Sequential reader over [base, base+length) of a seekable binary file."""

    def __init__(self, f, base, length, where):
        self.f, self.base, self.length, self.where = f, base, length, where
        self.pos = 0
        self.buf = b""
        self.buf_at = 0

    def _truncated(self, n):
        raise PickleError("%s: truncated: %d byte(s) needed at offset %d, but the data ends at "
                          "%d" % (self.where, n, self.base + self.pos, self.base + self.length))

    def _fill(self, n):
        want = min(max(n, _CHUNK), self.length - self.pos)
        self.f.seek(self.base + self.pos)
        data = self.f.read(want)
        if len(data) < n:
            self.length = self.pos + len(data)
            self._truncated(n)
        self.buf, self.buf_at = data, self.pos

    def read(self, n):
        if n > self.length - self.pos:
            self._truncated(n)
        i = self.pos - self.buf_at
        if i < 0 or i + n > len(self.buf):
            self._fill(n)
            i = 0
        self.pos += n
        return self.buf[i:i + n]

    def readline(self, limit=0):
        parts = []
        got = 0
        while True:
            if limit and got > limit:
                raise LimitError("%s: a text line at offset %d is longer than %d bytes"
                                 % (self.where, self.base + self.pos - got, limit),
                                 "string_bytes")
            if self.pos >= self.length:
                self._truncated(1)
            i = self.pos - self.buf_at
            if i < 0 or i >= len(self.buf):
                self._fill(1)
                i = 0
            j = self.buf.find(b"\n", i)
            if j >= 0:
                parts.append(self.buf[i:j])
                self.pos += j + 1 - i
                return b"".join(parts)
            parts.append(self.buf[i:])
            got += len(self.buf) - i
            self.pos += len(self.buf) - i

    def slice(self, n):
        if n > self.length - self.pos:
            self._truncated(n)
        s = FileSlice(self.f, self.base + self.pos, n, self.where)
        self.pos += n
        return s

    def take_bytes(self, n):
        """bytes for small n, a lazy FileSlice for large n."""
        return self.slice(n) if n >= LAZY_BYTES else self.read(n)


def _source_of(data, where):
    if isinstance(data, FileSlice):
        return _Source(data.f, data.offset, data.length, where)
    if isinstance(data, (bytes, bytearray)):
        return _Source(io.BytesIO(bytes(data)), 0, len(data), where)
    raise PickleError("%s: expected bytes, got %s" % (where, type(data).__name__))


# ---- the interpreter -------------------------------------------------------------------------

_STOP = object()


class _Machine:
    """Runs one pickle from a _Source. persistent_load: None (persistent ids refused) or a
    function of the pid object."""

    def __init__(self, src, persistent_load=None, what="pickle", depth=0):
        self.src = src
        self.persistent_load = persistent_load
        self.what = what
        self.depth = depth
        self.ctx = _ctx()
        lim = self.ctx.limits
        self.max_string = lim.string_bytes
        self.max_mark = lim.mark_depth or float("inf")
        d = {}
        for code, fn in (
                (b"(", self._mark), (b".", None), (b"0", self._pop), (b"1", self._pop_mark_op),
                (b"2", self._dup), (b"F", self._float), (b"I", self._int),
                (b"J", self._binint), (b"K", self._binint1), (b"L", self._long),
                (b"M", self._binint2), (b"N", self._none), (b"P", self._persid),
                (b"Q", self._binpersid), (b"R", self._reduce), (b"S", self._string),
                (b"T", self._binstring), (b"U", self._short_binstring),
                (b"V", self._unicode), (b"X", self._binunicode), (b"a", self._append),
                (b"b", self._build), (b"c", self._global), (b"d", self._dict),
                (b"}", self._empty_dict), (b"e", self._appends), (b"g", self._get),
                (b"h", self._binget), (b"i", self._inst), (b"j", self._long_binget),
                (b"l", self._list), (b"]", self._empty_list), (b"o", self._obj),
                (b"p", self._put), (b"q", self._binput), (b"r", self._long_binput),
                (b"s", self._setitem), (b"t", self._tuple), (b")", self._empty_tuple),
                (b"u", self._setitems), (b"G", self._binfloat),
                (b"\x80", self._proto), (b"\x81", self._newobj), (b"\x85", self._tuple1),
                (b"\x86", self._tuple2), (b"\x87", self._tuple3), (b"\x88", self._true),
                (b"\x89", self._false), (b"\x8a", self._long1), (b"\x8b", self._long4),
                (b"B", self._binbytes), (b"C", self._short_binbytes),
                (b"\x8c", self._short_binunicode), (b"\x8d", self._binunicode8),
                (b"\x8e", self._binbytes8), (b"\x8f", self._empty_set),
                (b"\x90", self._additems), (b"\x91", self._frozenset),
                (b"\x92", self._newobj_ex), (b"\x93", self._stack_global),
                (b"\x94", self._memoize), (b"\x95", self._frame),
                (b"\x96", self._bytearray8)):
            d[code[0]] = fn
        self.dispatch = d

    def fail(self, msg, limit=None):
        msg = "%s: %s (at offset %d)" % (self.what, msg, self.src.base + self.src.pos)
        raise PickleError(msg) if limit is None else LimitError(msg, limit)

    def load(self):
        self.stack, self.metastack, self.memo = [], [], {}
        read = self.src.read
        dispatch = self.dispatch
        ctx = self.ctx
        prev_ctx, prev_where = _CTX[0], ctx.where
        _CTX[0], ctx.where = ctx, self.what
        try:
            while True:
                op = read(1)[0]
                ctx.work += 1
                if ctx.work > ctx.max_work:
                    ctx.charge(0)
                if op not in dispatch:
                    if op in (0x82, 0x83, 0x84):
                        self.fail("extension-registry opcode EXT%d refused" % (op - 0x81))
                    if op in (0x97, 0x98):
                        self.fail("out-of-band buffer opcode refused")
                    self.fail("unknown pickle opcode 0x%02x" % op)
                fn = dispatch[op]
                if fn is None:        # STOP
                    if len(self.stack) != 1 or self.metastack:
                        self.fail("STOP with %d stack item(s)" % len(self.stack))
                    return self.stack.pop()
                fn()
        except PickleError as e:
            if str(e).startswith(self.what + ":"):
                raise
            self.fail(str(e), getattr(e, "limit", None))
        except RecursionError:
            self.fail("structure nested too deeply")
        except (IndexError, KeyError, TypeError, ValueError, OverflowError,
                AttributeError) as e:
            self.fail("malformed pickle (%s: %s)" % (type(e).__name__, _short(str(e))))
        finally:
            _CTX[0], ctx.where = prev_ctx, prev_where

    # -- stack helpers
    def _pop_mark(self):
        if not self.metastack:
            self.fail("MARK missing")
        items = self.stack
        self.stack = self.metastack.pop()
        return items

    def _mark(self):
        if len(self.metastack) >= self.max_mark:
            raise self.ctx.limits.error(self.what, "MARK nesting (%d)"
                                        % (len(self.metastack) + 1), "mark_depth")
        self.metastack.append(self.stack)
        self.stack = []

    def _pop(self):
        if self.stack:
            self.stack.pop()
        else:
            self._pop_mark()

    def _pop_mark_op(self):
        self._pop_mark()

    def _dup(self):
        self.stack.append(self.stack[-1])

    # -- scalars
    def _line(self):
        return self.src.readline(self.max_string)

    def _take(self, n):
        """n bytes held in memory (strings, small bytes): at most string_bytes."""
        if self.max_string and n > self.max_string:
            raise self.ctx.limits.error(self.what, "a string of %d bytes" % n, "string_bytes")
        return self.src.read(n)

    def _float(self):
        try:
            self.stack.append(float(self._line().decode("ascii")))
        except (ValueError, UnicodeDecodeError):
            self.fail("bad FLOAT")

    def _int(self):
        line = self._line()
        try:
            if line == b"00":
                v = False
            elif line == b"01":
                v = True
            else:
                v = int(line.decode("ascii"))
        except (ValueError, UnicodeDecodeError):
            self.fail("bad INT")
        self.stack.append(v)

    def _long(self):
        line = self._line()
        if line.endswith(b"L"):
            line = line[:-1]
        if len(line) > 4096:
            self.fail("LONG too long")
        try:
            self.stack.append(int(line.decode("ascii")))
        except (ValueError, UnicodeDecodeError):
            self.fail("bad LONG")

    def _binint(self):
        self.stack.append(struct.unpack("<i", self.src.read(4))[0])

    def _binint1(self):
        self.stack.append(self.src.read(1)[0])

    def _binint2(self):
        self.stack.append(struct.unpack("<H", self.src.read(2))[0])

    def _long1(self):
        n = self.src.read(1)[0]
        self.stack.append(int.from_bytes(self.src.read(n), "little", signed=True))

    def _long4(self):
        n = struct.unpack("<i", self.src.read(4))[0]
        if n < 0 or n > MAX_LONG_BYTES:
            self.fail("LONG4 of %d bytes refused" % n)
        self.stack.append(int.from_bytes(self.src.read(n), "little", signed=True))

    def _binfloat(self):
        self.stack.append(struct.unpack(">d", self.src.read(8))[0])

    def _none(self):
        self.stack.append(None)

    def _true(self):
        self.stack.append(True)

    def _false(self):
        self.stack.append(False)

    # -- strings and bytes
    def _string(self):
        data = self._line().rstrip()
        if len(data) < 2 or data[:1] != data[-1:] or data[:1] not in (b"'", b'"'):
            self.fail("STRING not quoted")
        try:
            raw = codecs.escape_decode(data[1:-1])[0]
        except ValueError:
            self.fail("bad STRING escapes")
        self.stack.append(raw.decode("latin-1"))

    def _binstring(self):
        n = struct.unpack("<i", self.src.read(4))[0]
        if n < 0:
            self.fail("negative BINSTRING length")
        self.stack.append(self._take(n).decode("latin-1"))

    def _short_binstring(self):
        n = self.src.read(1)[0]
        self.stack.append(self.src.read(n).decode("latin-1"))

    def _decode(self, raw):
        try:
            return raw.decode("utf-8", "surrogatepass")
        except UnicodeDecodeError:
            self.fail("string is not UTF-8")

    def _unicode(self):
        try:
            self.stack.append(self._line().decode("raw-unicode-escape"))
        except UnicodeDecodeError:
            self.fail("bad UNICODE")

    def _binunicode(self):
        n = struct.unpack("<I", self.src.read(4))[0]
        self.stack.append(self._decode(self._take(n)))

    def _short_binunicode(self):
        n = self.src.read(1)[0]
        self.stack.append(self._decode(self.src.read(n)))

    def _binunicode8(self):
        n = struct.unpack("<Q", self.src.read(8))[0]
        self.stack.append(self._decode(self._take(n)))

    def _binbytes(self):
        n = struct.unpack("<I", self.src.read(4))[0]
        self.stack.append(self.src.take_bytes(n))

    def _short_binbytes(self):
        n = self.src.read(1)[0]
        self.stack.append(self.src.read(n))

    def _binbytes8(self):
        n = struct.unpack("<Q", self.src.read(8))[0]
        self.stack.append(self.src.take_bytes(n))

    def _bytearray8(self):
        n = struct.unpack("<Q", self.src.read(8))[0]
        self.stack.append(bytearray(self._take(n)))

    # -- containers
    def _empty_tuple(self):
        self.stack.append(())

    def _tuple(self):
        items = self._pop_mark()
        self.stack.append(tuple(items))

    def _tuple1(self):
        self.stack[-1] = (self.stack[-1],)

    def _tuple2(self):
        b = self.stack.pop()
        a = self.stack.pop()
        self.stack.append((a, b))

    def _tuple3(self):
        c = self.stack.pop()
        b = self.stack.pop()
        a = self.stack.pop()
        self.stack.append((a, b, c))

    def _empty_list(self):
        self.stack.append([])

    def _list(self):
        items = self._pop_mark()
        self.stack.append(items)

    def _extend(self, target, items):
        if type(target) is list:
            target.extend(items)
        elif isinstance(target, Inert):
            target.listitems.extend(items)
        else:
            self.fail("APPEND on a %s" % type(target).__name__)

    def _append(self):
        v = self.stack.pop()
        self._extend(self.stack[-1], [v])

    def _appends(self):
        items = self._pop_mark()
        self._extend(self.stack[-1], items)

    def _empty_dict(self):
        self.stack.append({})

    def _dict(self):
        items = self._pop_mark()
        if len(items) % 2:
            self.fail("DICT with an odd number of items")
        d = {}
        for i in range(0, len(items), 2):
            _set_item(d, items[i], items[i + 1])
        self.stack.append(d)

    def _setitem(self):
        v = self.stack.pop()
        k = self.stack.pop()
        _set_item(self.stack[-1], k, v)

    def _setitems(self):
        items = self._pop_mark()
        if len(items) % 2:
            self.fail("SETITEMS with an odd number of items")
        target = self.stack[-1]
        for i in range(0, len(items), 2):
            _set_item(target, items[i], items[i + 1])

    def _empty_set(self):
        self.stack.append(set())

    def _additems(self):
        items = self._pop_mark()
        target = self.stack[-1]
        if type(target) is not set:
            self.fail("ADDITEMS on a %s" % type(target).__name__)
        self.ctx.charge(3 * len(items))
        for x in items:
            _check_hashable(x)
            target.add(x)

    def _frozenset(self):
        items = self._pop_mark()
        self.ctx.charge(3 * len(items))
        for x in items:
            _check_hashable(x)
        self.stack.append(frozenset(items))

    # -- memo
    def _memo_get(self, i):
        if i not in self.memo:
            self.fail("memo key %d missing" % i)
        self.stack.append(self.memo[i])

    def _get(self):
        line = self._line()
        try:
            i = int(line.decode("ascii")) if len(line) < 24 else -1
        except (ValueError, UnicodeDecodeError):
            self.fail("bad GET")
        self._memo_get(i)

    def _binget(self):
        self._memo_get(self.src.read(1)[0])

    def _long_binget(self):
        self._memo_get(struct.unpack("<I", self.src.read(4))[0])

    def _memo_put(self, i):
        if i not in self.memo:
            if not 0 <= i < 1 << 32:      # (and int keys hash apart: no collisions)
                self.fail("memo key %s out of range" % _short(i))
            self.ctx.charge(4)
        self.memo[i] = self.stack[-1]

    def _put(self):
        line = self._line()
        try:
            i = int(line.decode("ascii")) if len(line) < 24 else -1
        except (ValueError, UnicodeDecodeError):
            self.fail("bad PUT")
        self._memo_put(i)

    def _binput(self):
        self._memo_put(self.src.read(1)[0])

    def _long_binput(self):
        self._memo_put(struct.unpack("<I", self.src.read(4))[0])

    def _memoize(self):
        self._memo_put(len(self.memo))

    # -- protocol
    def _proto(self):
        v = self.src.read(1)[0]
        if v > 5:
            self.fail("unsupported pickle protocol %d" % v)

    def _frame(self):
        self.src.read(8)          # framing is only a read-ahead hint

    # -- globals and calls
    def find_class(self, module, name):
        if not isinstance(module, str) or not isinstance(name, str):
            self.fail("GLOBAL with non-string names")
        module = _PY2_MODULES.get(module, module)     # protocol 0-2 pickles name these
        g = _ALLOWED.get((module, name))
        if g is not None:
            if g.qualname == "torch.storage._load_from_bytes":
                return GlobalRef(module, name, self._load_from_bytes, kind="function")
            return g
        if _is_persistence(module, name):
            return GlobalRef(module, name, _reconstruct_persistent, kind="function")
        if module == "omegaconf" or module.startswith("omegaconf."):
            return _inert_class(module, name)
        if module == "typing":
            return GlobalRef(module, name)
        self.fail("refusing global %s.%s: not in the allow-list (nothing was imported or "
                  "executed)" % (module, name))

    def _global(self):
        module = self._decode(self._line())
        name = self._decode(self._line())
        self.stack.append(self.find_class(module, name))

    def _stack_global(self):
        name = self.stack.pop()
        module = self.stack.pop()
        self.stack.append(self.find_class(module, name))

    def _call(self, func, args, kwargs=None, new=False):
        fn = None
        if isinstance(func, GlobalRef):
            fn = func.new if new else func.call
        if fn is None:
            self.fail("refusing to call %r" % (func,))
        if not isinstance(args, tuple):
            self.fail("arguments of %r are not a tuple" % (func,))
        if kwargs is not None and not (isinstance(kwargs, dict)
                                       and all(isinstance(k, str) for k in kwargs)):
            self.fail("keyword arguments of %r are not a str-keyed dict" % (func,))
        try:
            return fn(*args, **(kwargs or {}))
        except PickleError as e:
            self.fail("%s: %s" % (func.qualname, e), getattr(e, "limit", None))
        except (TypeError, ValueError, OverflowError) as e:
            self.fail("bad arguments for %s (%s)" % (func.qualname, _short(str(e))))

    def _reduce(self):
        args = self.stack.pop()
        func = self.stack.pop()
        self.stack.append(self._call(func, args))

    def _newobj(self):
        args = self.stack.pop()
        cls = self.stack.pop()
        self.stack.append(self._call(cls, args, new=True))

    def _newobj_ex(self):
        kwargs = self.stack.pop()
        args = self.stack.pop()
        cls = self.stack.pop()
        self.stack.append(self._call(cls, args, kwargs, new=True))

    def _inst(self):
        module = self._decode(self._line())
        name = self._decode(self._line())
        cls = self.find_class(module, name)
        args = tuple(self._pop_mark())
        self.stack.append(self._call(cls, args, new=True))

    def _obj(self):
        items = self._pop_mark()
        if not items:
            self.fail("OBJ without a class")
        self.stack.append(self._call(items[0], tuple(items[1:]), new=True))

    def _build(self):
        state = self.stack.pop()
        inst = self.stack[-1]
        if isinstance(inst, Inert):
            if inst.state is None:
                inst.state = state
            elif isinstance(inst.state, dict) and isinstance(state, dict):
                self.ctx.charge(4 * len(state))
                inst.state.update(state)
            else:
                inst.state = state
        elif isinstance(inst, PersistentObject):
            if not isinstance(state, dict):
                self.fail("BUILD of persistent %s with a non-dict state" % inst.class_name)
            self.ctx.charge(4 * len(state))
            inst.state.update(state)
        elif isinstance(inst, (_NumpyDtype, NdarrayHolder)):
            try:
                inst.setstate(state)
            except PickleError as e:
                self.fail(str(e))
        elif type(inst) in (dict, collections.OrderedDict):
            if not (isinstance(state, dict) or state is None
                    or (isinstance(state, tuple) and len(state) == 2)):
                self.fail("BUILD of a dict with a %s state" % type(state).__name__)
            # attribute state of a state_dict (`_metadata`): not needed, dropped
        else:
            self.fail("BUILD on a %s refused" % type(inst).__name__)

    # -- persistent ids and nested storages
    def _persid(self):
        pid = self._decode(self._line())
        self._persistent(pid)

    def _binpersid(self):
        self._persistent(self.stack.pop())

    def _persistent(self, pid):
        if self.persistent_load is None:
            self.fail("persistent id in a pickle that must not have any")
        try:
            self.stack.append(self.persistent_load(pid))
        except PickleError as e:
            self.fail(str(e), getattr(e, "limit", None))

    def _load_from_bytes(self, data):
        if self.depth >= 1:
            raise PickleError("storage bytes nested inside storage bytes")
        where = "%s storage bytes" % self.what
        obj = _load_legacy(_source_of(data, where), where, depth=self.depth + 1)
        if not isinstance(obj, Storage):
            raise PickleError("storage bytes hold a %s, not a storage" % type(obj).__name__)
        return obj


def _storage_from_pid(pid, what):
    """('storage', storage_type, key, location, numel[, view_metadata]) -> parts."""
    if not isinstance(pid, tuple) or len(pid) not in (5, 6) or pid[0] != "storage":
        raise PickleError("%s: unsupported persistent id %r" % (what, _short(pid)))
    stype, key, location, numel = pid[1:5]
    if not (isinstance(stype, GlobalRef) and stype.kind == "storage"):
        raise PickleError("%s: persistent id with storage type %r" % (what, _short(stype)))
    if not isinstance(key, str) or not isinstance(location, str):
        raise PickleError("%s: persistent id with a non-string key or location" % what)
    numel = _int(numel, "storage size")
    if numel < 0:
        raise PickleError("%s: negative storage size" % what)
    view = pid[5] if len(pid) == 6 else None
    return stype, key, location, numel, view


def _short(obj):
    r = repr(obj)
    return r if len(r) < 80 else r[:77] + "..."


def _load_legacy(src, where, depth=0, first=None):
    """Legacy torch.save stream: magic, protocol, sys_info, the object, storage keys, then
    for each key an int64 element count + raw data. `first`: the already-read magic."""
    def one(persistent_load=None, what=where):
        return _Machine(src, persistent_load, what, depth).load()

    magic = first if first is not None else one()
    if magic != LEGACY_MAGIC:
        raise PickleError("%s: not a torch.save stream (bad magic number)" % where)
    proto = one()
    if proto != LEGACY_PROTOCOL:
        raise PickleError("%s: unsupported torch.save protocol %r" % (where, proto))
    info = one()
    if isinstance(info, dict) and info.get("little_endian", True) is not True:
        raise PickleError("%s: big-endian torch.save data is not supported" % where)
    storages = {}

    def persistent_load(pid):
        stype, key, location, numel, view = _storage_from_pid(pid, where)
        root = storages.get(key)
        if root is None:
            root = Storage(stype.name, stype.info, numel, location, key)
            storages[key] = root
        if view is None:
            return root
        if (not isinstance(view, tuple) or len(view) != 3 or not isinstance(view[0], str)):
            raise PickleError("%s: malformed storage view" % where)
        vkey, voff, vsize = view[0], _int(view[1], "view offset"), _int(view[2], "view size")
        if voff < 0 or vsize < 0 or voff + vsize > root.numel:
            raise PickleError("%s: storage view beyond its storage" % where)
        v = storages.get(vkey)
        if v is None:
            v = Storage(stype.name, stype.info, vsize, location, vkey)
            v.base, v.elem_offset = root, voff
            storages[vkey] = v
        return v

    obj = one(persistent_load, where)
    keys = one()
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise PickleError("%s: storage key list is malformed" % where)
    for k in keys:
        st = storages.get(k)
        if st is None or st.base is not None:
            raise PickleError("%s: storage key %s was not declared" % (where, k))
        (count,) = struct.unpack("<q", src.read(8))
        if count != st.numel:
            raise PickleError("%s: storage %s holds %d elements, its declaration says %d"
                              % (where, k, count, st.numel))
        st.data = src.take_bytes(count * st.itemsize)
    for k, st in storages.items():
        if st.base is None and st.data is None:
            raise PickleError("%s: storage %s has no data" % (where, k))
    return obj


# ---- files -----------------------------------------------------------------------------------

class Checkpoint:
    """An opened checkpoint: obj (the top-level object), format ('pickle', 'torch-zip',
    'torch-legacy'), size (bytes). Keep it open while reading TensorRef data."""

    def __init__(self, f, obj, fmt, size, zf=None):
        self._f, self._zf = f, zf
        self.obj, self.format, self.size = obj, fmt, size

    def close(self):
        if self._zf is not None:
            self._zf.close()
        self._f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def load_pickle_bytes(data, what="pickle", limits=None):
    """The object of an in-memory plain pickle (same restrictions; no persistent ids)."""
    with _Ctx(limits) as ctx:
        obj = _Machine(_source_of(data, what), None, what).load()
        ctx.check_unused(what)
        return obj


_EOCD = b"PK\x05\x06"


def _zip_directory(f, size, where, limits):
    """Checks the zip central directory before zipfile parses it (its ZipInfo objects cost
    ~10x the directory's size): entries and directory bytes within zip_members."""
    tail = min(size, 65536 + 22)
    f.seek(size - tail)
    buf = f.read(tail)
    at = buf.rfind(_EOCD)
    if at < 0 or at + 22 > len(buf):
        raise PickleError("%s: not a readable zip archive (no end of central directory)"
                          % where)
    entries, cd_size = struct.unpack("<HI", buf[at + 10:at + 16])
    cd_end = size - tail + at                 # where the directory ends (as zipfile reads it)
    if at >= 20 and buf[at - 20:at - 16] == b"PK\x06\x07":        # zip64 locator
        (z64,) = struct.unpack("<Q", buf[at - 12:at - 4])
        if z64 + 56 <= size:
            f.seek(z64)
            rec = f.read(56)
            if rec[:4] == b"PK\x06\x06":
                entries, cd_size = struct.unpack("<QQ", rec[32:48])
                cd_end = z64
    if limits.over("zip_members", entries):
        raise limits.error(where, "a zip archive of %d entries" % entries, "zip_members")
    if limits.zip_members:
        # zipfile parses the whole directory whatever its entry count says: count the
        # entries here (the directory is at most 256 bytes per allowed entry)
        if cd_size > 256 * limits.zip_members:
            raise limits.error(where, "a zip central directory of %d bytes" % cd_size,
                               "zip_members")
        f.seek(max(cd_end - cd_size, 0))
        cd = f.read(cd_size)
        pos = n = 0
        while pos + 46 <= len(cd) and cd[pos:pos + 4] == b"PK\x01\x02":
            n += 1
            if n > limits.zip_members:
                raise limits.error(where, "a zip archive of more than %d entries"
                                   % limits.zip_members, "zip_members")
            ln, lx, lc = struct.unpack("<HHH", cd[pos + 28:pos + 34])
            pos += 46 + ln + lx + lc
    f.seek(0)


def _check_members(zf, where, limits):
    total = 0
    n = 0
    for info in zf.infolist():
        n += 1
        size = info.file_size
        if limits.over("zip_member_bytes", size):
            raise limits.error(where, "zip member %s (%d bytes decompressed)"
                               % (info.filename, size), "zip_member_bytes")
        if (info.compress_type != zipfile.ZIP_STORED and size > _MI
                and limits.over("zip_ratio", size // max(info.compress_size, 1))):
            raise limits.error(where, "zip member %s (%d bytes from %d compressed, ratio %d)"
                               % (info.filename, size, info.compress_size,
                                  size // max(info.compress_size, 1)), "zip_ratio")
        total += size
    if limits.over("zip_members", n):
        raise limits.error(where, "a zip archive of %d entries" % n, "zip_members")
    if limits.over("zip_total_bytes", total):
        raise limits.error(where, "zip members of %d bytes in total (decompressed)" % total,
                           "zip_total_bytes")


def _load_zip(f, size, where, ctx):
    limits = ctx.limits
    _zip_directory(f, size, where, limits)
    try:
        zf = zipfile.ZipFile(f)
        names = zf.namelist()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError,
            RuntimeError) as e:
        raise PickleError("%s: not a readable zip archive (%s)" % (where, e)) from None
    try:
        _check_members(zf, where, limits)
        pkls = [n for n in names if n == "data.pkl" or n.endswith("/data.pkl")]
        if len(pkls) != 1:
            raise PickleError("%s: zip archive without exactly one data.pkl (not a torch.save "
                              "file)" % where)
        prefix = pkls[0][:-len("data.pkl")]
        order = prefix + "byteorder"
        if order in names and (zf.getinfo(order).file_size > 16
                               or _read_member(zf, zf.getinfo(order), 0,
                                               zf.getinfo(order).file_size, ctx,
                                               where).strip() not in (b"little",)):
            raise PickleError("%s: big-endian torch.save data is not supported" % where)
        infos = {i.filename: i for i in zf.infolist()}
        storages = {}

        def persistent_load(pid):
            stype, key, location, numel, view = _storage_from_pid(pid, where)
            if view is not None:
                raise PickleError("%s: storage views are not expected in zip archives" % where)
            st = storages.get(key)
            if st is None:
                st = Storage(stype.name, stype.info, numel, location, key)
                member = prefix + "data/" + key
                info = infos.get(member)
                if info is None:
                    raise PickleError("%s: storage %s has no data member" % (where, key))
                if info.file_size != numel * st.itemsize:
                    raise PickleError("%s: storage %s has %d bytes, expected %d"
                                      % (where, key, info.file_size, numel * st.itemsize))
                st.data = _ZipMember(zf, info, ctx, where)
                storages[key] = st
            return st

        info = infos[pkls[0]]
        if limits.over("pickle_bytes", info.file_size):
            raise limits.error(where, "%s of %d bytes" % (pkls[0], info.file_size),
                               "pickle_bytes")
        pkl = _read_member(zf, info, 0, info.file_size, ctx, where)
        obj = _Machine(_source_of(pkl, where + " data.pkl"), persistent_load,
                       where + " data.pkl").load()
        ctx.check_unused(where)
        return Checkpoint(f, obj, "torch-zip", size, zf)
    except BaseException:
        zf.close()
        raise


def open_checkpoint(path, limits=None):
    """Opens a .pkl/.pt/.pth file under the restrictions above and the resource `limits`
    (a Limits; None: the defaults); returns a Checkpoint. Raises PickleError (LimitError
    when a limit is reached) or OSError (the file cannot be opened or read)."""
    path = os.fspath(path)
    where = os.path.basename(path)
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))   # a FIFO must not block
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise PickleError("%s: not a regular file" % where)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    f = os.fdopen(fd, "rb")
    try:
        size = st.st_size
        if size == 0:
            raise PickleError("%s: empty file" % where)
        head = f.read(4)
        f.seek(0)
        with _Ctx(limits) as ctx:
            if head == b"PK\x03\x04":
                return _load_zip(f, size, where, ctx)
            src = _Source(f, 0, size, where)
            first = _Machine(src, None, where).load()
            if isinstance(first, int) and not isinstance(first, bool) and first == LEGACY_MAGIC:
                obj = _load_legacy(src, where, first=first)
                ctx.check_unused(where)
                return Checkpoint(f, obj, "torch-legacy", size)
            ctx.check_unused(where)
            return Checkpoint(f, first, "pickle", size)
    except BaseException:
        f.close()
        raise
