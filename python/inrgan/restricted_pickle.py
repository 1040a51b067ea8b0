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
import struct
import zipfile

import numpy as np

__all__ = ["PickleError", "GlobalRef", "Inert", "PersistentObject", "Storage", "TensorRef",
           "NdarrayHolder", "Checkpoint", "open_checkpoint", "load_pickle_bytes",
           "allowed_globals", "LEGACY_MAGIC"]

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C      # torch.serialization MAGIC_NUMBER
LEGACY_PROTOCOL = 1001
LAZY_BYTES = 1 << 16                       # bytes objects at least this large stay in the file
MAX_LONG_BYTES = 1 << 16                   # LONG4 arguments larger than this are refused
_CHUNK = 1 << 16


class PickleError(ValueError):
    """Why a pickle was refused (one line)."""


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
        self.f.seek(self.offset)
        data = self.f.read(self.length)
        if len(data) != self.length:
            raise PickleError("%s: truncated: %d bytes at offset %d, only %d present"
                              % (self.where, self.length, self.offset, len(data)))
        return data


class _ZipMember:
    __slots__ = ("zf", "name", "length")

    def __init__(self, zf, name, length):
        self.zf, self.name, self.length = zf, name, length

    def read(self):
        try:
            data = self.zf.read(self.name)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
            raise PickleError("zip member %s is unreadable (%s)" % (self.name, e)) from None
        if len(data) != self.length:
            raise PickleError("zip member %s has %d bytes, expected %d"
                              % (self.name, len(data), self.length))
        return data


class Storage:
    """A typed, CPU-located run of `numel` elements. `location` is the device tag from the
    file (e.g. 'cuda:0'); it is recorded, never acted on."""

    __slots__ = ("kind", "code", "numel", "location", "key", "data", "base", "elem_offset")

    def __init__(self, kind, code, numel, location, key):
        self.kind, self.code, self.numel = kind, code, numel
        self.location, self.key = location, key
        self.data = None          # bytes | FileSlice | _ZipMember (set when known)
        self.base = None          # root Storage for legacy storage views
        self.elem_offset = 0

    @property
    def itemsize(self):
        return _np_dtype_of(self.code).itemsize

    def array(self):
        """The elements as a read-only 1-D numpy array (bfloat16 as uint16 bits)."""
        if self.base is not None:
            return self.base.array()[self.elem_offset:self.elem_offset + self.numel]
        if self.data is None:
            raise PickleError("storage %s has no data" % self.key)
        raw = self.data if isinstance(self.data, bytes) else self.data.read()
        dt = _np_dtype_of(self.code)
        if len(raw) != self.numel * dt.itemsize:
            raise PickleError("storage %s has %d bytes, expected %d"
                              % (self.key, len(raw), self.numel * dt.itemsize))
        return np.frombuffer(raw, dtype=dt, count=self.numel)


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
        self.storage, self.offset = storage, offset
        self.shape, self.stride = tuple(shape), tuple(stride)
        self.is_parameter = False

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
            flat = self.storage.array()
            contiguous = []
            acc = 1
            for n in reversed(self.shape):
                contiguous.append(acc)
                acc *= n
            contiguous = tuple(reversed(contiguous))
            if self.stride == contiguous or self.numel == 1:
                out = flat[self.offset:self.offset + self.numel].reshape(self.shape)
            else:
                view = np.lib.stride_tricks.as_strided(
                    flat[self.offset:], shape=self.shape,
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
        return bytes(v)
    if isinstance(v, FileSlice):
        return v.read()
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
        out.update(items)
    return out


def _codecs_encode(obj, encoding="utf-8"):
    if not isinstance(obj, str) or encoding not in ("latin1", "latin-1"):
        raise PickleError("_codecs.encode is allowed only for str -> latin1 bytes")
    return obj.encode("latin-1")


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
                return dict(items)
            return dict(_ordered_dict(items))
        if not isinstance(items, (list, tuple, set, frozenset)):
            raise PickleError("builtins.%s built from a %s" % (kind, type(items).__name__))
        if kind in ("set", "frozenset"):
            for x in items:
                _check_hashable(x)
        return {"set": set, "frozenset": frozenset, "list": list, "tuple": tuple}[kind](items)
    return make


def _bytearray_ctor(data=b""):
    return bytearray(_bytes_of(data, "bytearray data")) if data != b"" else bytearray()


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


def _check_hashable(k):
    """Dict keys and set items: scalars, or flat tuples/frozensets of scalars (nested ones
    could make hashing exponentially slow through shared sub-tuples)."""
    if isinstance(k, _SCALAR_KEYS):
        return
    if isinstance(k, (tuple, frozenset)) and len(k) <= 64 and all(
            isinstance(x, _SCALAR_KEYS) for x in k):
        return
    raise PickleError("unexpected dict key / set item of type %s" % type(k).__name__)


def _set_item(target, k, v):
    _check_hashable(k)
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

    def readline(self):
        parts = []
        while True:
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

    def fail(self, msg):
        raise PickleError("%s: %s (at offset %d)" % (self.what, msg,
                                                     self.src.base + self.src.pos))

    def load(self):
        self.stack, self.metastack, self.memo = [], [], {}
        read = self.src.read
        dispatch = self.dispatch
        try:
            while True:
                op = read(1)[0]
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
            self.fail(str(e))
        except RecursionError:
            self.fail("structure nested too deeply")
        except (IndexError, KeyError, TypeError, ValueError, OverflowError,
                AttributeError) as e:
            self.fail("malformed pickle (%s: %s)" % (type(e).__name__, _short(str(e))))

    # -- stack helpers
    def _pop_mark(self):
        if not self.metastack:
            self.fail("MARK missing")
        items = self.stack
        self.stack = self.metastack.pop()
        return items

    def _mark(self):
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
        return self.src.readline()

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
        self.stack.append(self.src.read(n).decode("latin-1"))

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
        self.stack.append(self._decode(self.src.read(n)))

    def _short_binunicode(self):
        n = self.src.read(1)[0]
        self.stack.append(self._decode(self.src.read(n)))

    def _binunicode8(self):
        n = struct.unpack("<Q", self.src.read(8))[0]
        self.stack.append(self._decode(self.src.read(n)))

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
        self.stack.append(bytearray(self.src.read(n)))

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
        for x in items:
            _check_hashable(x)
            target.add(x)

    def _frozenset(self):
        items = self._pop_mark()
        for x in items:
            _check_hashable(x)
        self.stack.append(frozenset(items))

    # -- memo
    def _memo_get(self, i):
        if i not in self.memo:
            self.fail("memo key %d missing" % i)
        self.stack.append(self.memo[i])

    def _get(self):
        try:
            i = int(self._line().decode("ascii"))
        except (ValueError, UnicodeDecodeError):
            self.fail("bad GET")
        self._memo_get(i)

    def _binget(self):
        self._memo_get(self.src.read(1)[0])

    def _long_binget(self):
        self._memo_get(struct.unpack("<I", self.src.read(4))[0])

    def _put(self):
        try:
            i = int(self._line().decode("ascii"))
        except (ValueError, UnicodeDecodeError):
            self.fail("bad PUT")
        self.memo[i] = self.stack[-1]

    def _binput(self):
        self.memo[self.src.read(1)[0]] = self.stack[-1]

    def _long_binput(self):
        self.memo[struct.unpack("<I", self.src.read(4))[0]] = self.stack[-1]

    def _memoize(self):
        self.memo[len(self.memo)] = self.stack[-1]

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
            self.fail("%s: %s" % (func.qualname, e))
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
                inst.state.update(state)
            else:
                inst.state = state
        elif isinstance(inst, PersistentObject):
            if not isinstance(state, dict):
                self.fail("BUILD of persistent %s with a non-dict state" % inst.class_name)
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
            self.fail(str(e))

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


def load_pickle_bytes(data, what="pickle"):
    """The object of an in-memory plain pickle (same restrictions; no persistent ids)."""
    return _Machine(_source_of(data, what), None, what).load()


def _load_zip(f, size, where):
    try:
        zf = zipfile.ZipFile(f)
        names = zf.namelist()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
        raise PickleError("%s: not a readable zip archive (%s)" % (where, e)) from None
    try:
        pkls = [n for n in names if n == "data.pkl" or n.endswith("/data.pkl")]
        if len(pkls) != 1:
            raise PickleError("%s: zip archive without exactly one data.pkl (not a torch.save "
                              "file)" % where)
        prefix = pkls[0][:-len("data.pkl")]
        order = prefix + "byteorder"
        if order in names and (zf.getinfo(order).file_size > 16
                               or zf.read(order).strip() not in (b"little",)):
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
                st.data = _ZipMember(zf, member, info.file_size)
                storages[key] = st
            return st

        try:
            pkl = zf.read(pkls[0])
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
            raise PickleError("%s: %s is unreadable (%s)" % (where, pkls[0], e)) from None
        obj = _Machine(_source_of(pkl, where + " data.pkl"), persistent_load,
                       where + " data.pkl").load()
        return Checkpoint(f, obj, "torch-zip", size, zf)
    except BaseException:
        zf.close()
        raise


def open_checkpoint(path):
    """Opens a .pkl/.pt/.pth file under the restrictions above; returns a Checkpoint."""
    path = os.fspath(path)
    where = os.path.basename(path)
    f = open(path, "rb")
    try:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            raise PickleError("%s: empty file" % where)
        head = f.read(4)
        f.seek(0)
        if head == b"PK\x03\x04":
            return _load_zip(f, size, where)
        src = _Source(f, 0, size, where)
        first = _Machine(src, None, where).load()
        if isinstance(first, int) and not isinstance(first, bool) and first == LEGACY_MAGIC:
            obj = _load_legacy(src, where, first=first)
            return Checkpoint(f, obj, "torch-legacy", size)
        return Checkpoint(f, first, "pickle", size)
    except BaseException:
        f.close()
        raise
