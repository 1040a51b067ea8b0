"""Checkpoints with the structure of the official INR-GAN release pickles, written without the
official code (for tests/test_convert.py).

    write_network_pickle(path, sd, cfg, ...)     stylegan2-ada network pickle of a generator
    legacy_storage_bytes(arr, location, ...)      nested legacy torch.save stream of one storage
    dump(path, obj) / Evil / FakeGlobal           payload pickles for the refusal tests

What the official files hold (reference §3.1) and what is reproduced here:
* pickle.dump(dict(training_set_kwargs=EasyDict, G=..., D=..., G_ema=..., augment_pipe=None))
  at protocol 4;
* every network module is a stylegan2-ada persistent object: REDUCE of
  torch_utils.persistence._reconstruct_persistent_obj with meta {type 'class', version 6,
  module_src, class_name, state = the module's __dict__ (_parameters, _buffers, _modules,
  hooks, _init_args, _init_kwargs and the class's own attributes)};
* extra_convs is a torch.nn.ModuleList (NEWOBJ + BUILD); module cfg attributes are omegaconf
  DictConfig objects (omegaconf 2.0 layout: _metadata, _parent, _content of AnyNodes) whose
  values keep unresolved interpolations ("${coords.low_res_cfg}"); G._init_kwargs['cfg'] is
  the plain dict from OmegaConf.to_container (interpolations unresolved too), mapping_kwargs /
  synthesis_kwargs are dnnlib EasyDicts; numpy float64 scalars (weight gains, fourier_scale);
* tensors: torch._utils._rebuild_tensor_v2 / _rebuild_parameter over storages pickled as
  torch.storage._load_from_bytes(<legacy torch.save stream, protocol 2>);
* CoordFuser._fourier_embs_cache: a plain attribute holding a slice of a larger storage tagged
  'cuda:0' (the official G_ema renders a grid on the GPU before each snapshot).
The module sources are stand-ins that would create a marker file if anyone executed them.
Globals are written by name (FakeGlobal) so nothing official needs to be importable.
"""

import collections
import io
import math
import pickle
import struct

import numpy as np

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
SYS_INFO = {"protocol_version": 1001, "little_endian": True,
            "type_sizes": {"short": 2, "int": 4, "long": 4}}
BUFFER_NAMES = ("resample_filter", "log_basis", "random_basis", "w_avg")


class FakeGlobal:
    """A function or class pickled by reference (module, name) without being importable."""

    def __init__(self, module, name):
        self.module, self.name = module, name

    def __call__(self, *args, **kwargs):      # pickle wants reduce callables to be callable
        raise RuntimeError("fixture stand-in %s.%s is never called" % (self.module, self.name))


RECONSTRUCT = FakeGlobal("torch_utils.persistence", "_reconstruct_persistent_obj")
REBUILD_TENSOR_V2 = FakeGlobal("torch._utils", "_rebuild_tensor_v2")
REBUILD_PARAMETER = FakeGlobal("torch._utils", "_rebuild_parameter")
LOAD_FROM_BYTES = FakeGlobal("torch.storage", "_load_from_bytes")
EASYDICT = FakeGlobal("dnnlib.util", "EasyDict")
MODULE_LIST = FakeGlobal("torch.nn.modules.container", "ModuleList")
DICT_CONFIG = FakeGlobal("omegaconf.dictconfig", "DictConfig")
LIST_CONFIG = FakeGlobal("omegaconf.listconfig", "ListConfig")
ANY_NODE = FakeGlobal("omegaconf.nodes", "AnyNode")
CONTAINER_METADATA = FakeGlobal("omegaconf.base", "ContainerMetadata")
NODE_METADATA = FakeGlobal("omegaconf.base", "Metadata")
TYPING_ANY = FakeGlobal("typing", "Any")
STORAGE_TYPES = {np.dtype(np.float32): FakeGlobal("torch", "FloatStorage"),
                 np.dtype(np.float16): FakeGlobal("torch", "HalfStorage"),
                 np.dtype(np.float64): FakeGlobal("torch", "DoubleStorage")}


class FakeObject:
    """An instance pickled as NEWOBJ(cls, args) [+ SETITEMS items] [+ BUILD state]."""

    def __init__(self, cls, args=(), state=None, items=None):
        self.cls, self.args, self.state, self.items = cls, tuple(args), state, items


class FakePersistent:
    """A stylegan2-ada persistent object."""

    def __init__(self, class_name, module_src, state):
        self.meta = {"type": "class", "version": 6, "module_src": module_src,
                     "class_name": class_name, "state": state}

    def __reduce__(self):
        return (RECONSTRUCT, (self.meta,))


_KEYS = [94823000000000]


class FakeStorage:
    """A storage pickled like torch 1.7 does: _load_from_bytes(legacy torch.save bytes).
    payload/payload_at put an arbitrary object into one of the nested pickles instead."""

    def __init__(self, array, location="cpu", payload=None, payload_at="main"):
        self.array = np.ascontiguousarray(array).reshape(-1)
        self.location = location
        _KEYS[0] += 16
        self.key = str(_KEYS[0])
        self.payload, self.payload_at = payload, payload_at

    def __reduce__(self):
        return (LOAD_FROM_BYTES, (legacy_storage_bytes(self.array, self.location, self.key,
                                                        self.payload, self.payload_at),))


class _TensorArgs:
    def __init__(self, rv):
        self.rv = rv

    def __reduce__(self):
        return self.rv


class FakeTensor:
    """A tensor view of a FakeStorage (offset / shape / stride in elements)."""

    def __init__(self, storage, offset, shape, stride, parameter=False):
        self.storage, self.offset = storage, offset
        self.shape, self.stride, self.parameter = tuple(shape), tuple(stride), parameter

    def __reduce__(self):
        rv = (REBUILD_TENSOR_V2, (self.storage, self.offset, self.shape, self.stride, False,
                                  collections.OrderedDict()))
        if self.parameter:
            return (REBUILD_PARAMETER, (_TensorArgs(rv), False, collections.OrderedDict()))
        return rv


def tensor(arr, parameter=False, location="cpu"):
    """A contiguous FakeTensor owning its storage."""
    arr = np.ascontiguousarray(arr)
    stride = []
    acc = 1
    for n in reversed(arr.shape):
        stride.append(acc)
        acc *= n
    return FakeTensor(FakeStorage(arr, location), 0, arr.shape, tuple(reversed(stride)),
                      parameter)


class Evil:
    """A reduce payload: func(*args) where func is a FakeGlobal or another Evil."""

    def __init__(self, func, args):
        self.func, self.args = func, tuple(args)

    def __call__(self, *args):
        raise RuntimeError("payload stand-in")

    def __reduce__(self):
        return (self.func, self.args)


class Pickler(pickle._Pickler):
    """The pure-Python pickler plus FakeGlobal (written as GLOBAL / STACK_GLOBAL by name) and
    FakeObject (NEWOBJ + SETITEMS + BUILD), as the C pickler writes real ones."""

    dispatch = dict(pickle._Pickler.dispatch)

    def _save_fake_global(self, obj):
        if self.proto >= 4:
            self.save(obj.module)
            self.save(obj.name)
            self.write(pickle.STACK_GLOBAL)
        else:
            self.write(pickle.GLOBAL + obj.module.encode("utf-8") + b"\n"
                       + obj.name.encode("utf-8") + b"\n")
        self.memoize(obj)

    def _save_fake_object(self, obj):
        self.save(obj.cls)
        self.save(obj.args)
        self.write(pickle.NEWOBJ)
        self.memoize(obj)
        if obj.items:
            self._batch_setitems(iter(obj.items.items()))
        if obj.state is not None:
            self.save(obj.state)
            self.write(pickle.BUILD)

    dispatch[FakeGlobal] = _save_fake_global
    dispatch[FakeObject] = _save_fake_object


def dumps(obj, protocol=4, persistent_id=None):
    out = io.BytesIO()
    p = Pickler(out, protocol=protocol)
    if persistent_id is not None:
        p.persistent_id = persistent_id
    p.dump(obj)
    return out.getvalue()


def dump(path, obj, protocol=4):
    with open(path, "wb") as f:
        Pickler(f, protocol=protocol).dump(obj)


def legacy_storage_bytes(arr, location, key, payload=None, payload_at="main"):
    """torch 1.7's torch.save(storage, _use_new_zipfile_serialization=False) stream at pickle
    protocol 2: magic, protocol version, sys_info, the storage as a persistent id
    ('storage', torch.FloatStorage, key, location, numel, None), [key], int64 numel, data."""
    arr = np.ascontiguousarray(arr).reshape(-1)
    marker = object()
    pid = ("storage", STORAGE_TYPES[arr.dtype], key, location, int(arr.size), None)
    out = io.BytesIO()
    out.write(dumps(payload if payload_at == "magic" else LEGACY_MAGIC, 2))
    out.write(dumps(1001, 2))
    out.write(dumps(payload if payload_at == "sys_info" else SYS_INFO, 2))
    out.write(dumps(payload if payload_at == "main" and payload is not None else marker, 2,
                    persistent_id=lambda o: pid if o is marker else None))
    out.write(dumps(payload if payload_at == "keys" else [key], 2))
    out.write(struct.pack("<q", int(arr.size)))
    out.write(arr.astype(arr.dtype.newbyteorder("<")).tobytes())
    return out.getvalue()


# ---- omegaconf-like objects -------------------------------------------------------------------

def dict_config(d, parent=None, key=None):
    """An omegaconf 2.0 DictConfig of the plain dict d (values kept as they are, so
    interpolation strings stay unresolved)."""
    meta = FakeObject(CONTAINER_METADATA, state={
        "ref_type": TYPING_ANY, "object_type": None, "optional": True, "key": key,
        "flags": {}, "key_type": TYPING_ANY, "element_type": TYPING_ANY})
    node = FakeObject(DICT_CONFIG, state=None)
    content = {}
    for k, v in d.items():
        content[k] = _config_node(v, node, k)
    node.state = {"_metadata": meta, "_parent": parent, "_content": content}
    return node


def _config_node(v, parent, key):
    if isinstance(v, dict):
        return dict_config(v, parent, key)
    if isinstance(v, list):
        node = FakeObject(LIST_CONFIG, state=None)
        node.state = {"_metadata": FakeObject(CONTAINER_METADATA, state={
            "ref_type": TYPING_ANY, "object_type": list, "optional": True, "key": key,
            "flags": {}, "element_type": TYPING_ANY}), "_parent": parent,
            "_content": [_config_node(x, node, i) for i, x in enumerate(v)]}
        return node
    return FakeObject(ANY_NODE, state={
        "_metadata": FakeObject(NODE_METADATA, state={
            "ref_type": TYPING_ANY, "object_type": None, "optional": True, "key": key,
            "flags": {}}),
        "_parent": parent, "_val": v})


def easydict(**kw):
    return FakeObject(EASYDICT, items=dict(kw))


# ---- the official hydra config of one of our configs -----------------------------------------

def _res_cfg(emb):
    d = {"log_emb_size": 64 if emb["diagonal"] else 32, "const_emb_size": emb["const"],
         "use_cosine": True}
    if emb["diagonal"]:
        d["use_diagonal"] = True
    if emb["random"]:
        d["random_emb_size"] = emb["random"]
    if emb["log_freqs"] == 0:
        d["log_emb_size"] = 0
    return d


def hydra_config(cfg, old_style=False):
    """The generator section of the official hydra config (as OmegaConf.to_container leaves
    it: interpolations unresolved) describing our config `cfg`. old_style: the churches-era
    config without num_extra_convs and fmm.instance_norm keys."""
    blocks = cfg["blocks"]
    input_grid = blocks[0]["grid"]
    level_emb = {}
    for b in blocks:
        if "embedding" in b:
            level_emb[b["grid"]] = b["embedding"]
    specs = []
    for g in sorted(level_emb):
        if level_emb[g] not in specs:
            specs.append(level_emb[g])
    names = ["low_res_cfg", "medium_res_cfg"] + ["level%d_cfg" % i for i in range(2, 16)]
    coords = {"enabled": True, "per_resolution": True, "kernel_size": 1, "coord_dim": 2,
              "fallback": False, "use_full_cache": False}
    for i, s in enumerate(specs):
        coords[names[i]] = _res_cfg(s)
    res_configs = {}
    r = 4
    while r <= cfg["resolution"]:
        grid = max(r, input_grid)
        emb = level_emb.get(grid, specs[0])
        res_configs[str(r)] = "${coords.%s}" % names[specs.index(emb)]
        r *= 2
    coords["res_configs"] = res_configs
    extra = {}
    for b in blocks:
        if b["extra_convs"]:
            extra[str(b["grid"])] = b["extra_convs"]
    fmm = {"enabled": True, "rank": cfg["rank"], "activation": "demod"}
    g = {"fp32": True, "upsampling_mode": cfg["upsampling"], "use_noise": False,
         "fmaps": 1}
    if not old_style or extra:
        g["num_extra_convs"] = extra
    if cfg["instance_norm"] or not old_style:
        fmm["instance_norm"] = cfg["instance_norm"]
    g["input"] = {"type": "coords", "resolution": input_grid, "coord_fuser_cfg": "${coords}"}
    g["coords"] = coords
    g["fmm"] = fmm
    return g


def _resolve_simple(g, value):
    """Resolves "${a.b}" against g (fixture side, for the module cfg attributes)."""
    if isinstance(value, str) and value.startswith("${") and value.endswith("}"):
        node = g
        for part in value[2:-1].split("."):
            node = node[part]
        return _resolve_simple(g, node)
    return value


# ---- the module tree --------------------------------------------------------------------------

class _Mod:
    def __init__(self, class_name, src, init_args=(), init_kwargs=None, **attrs):
        self.class_name, self.src = class_name, src
        self.init_args, self.init_kwargs = tuple(init_args), dict(init_kwargs or {})
        self.params = collections.OrderedDict()
        self.buffers = collections.OrderedDict()
        self.modules = collections.OrderedDict()
        self.attrs = dict(attrs)

    def fake(self, done):
        if id(self) in done:
            return done[id(self)]
        od = collections.OrderedDict
        state = {"training": False, "_parameters": od(self.params),
                 "_buffers": od(self.buffers), "_non_persistent_buffers_set": set(),
                 "_backward_hooks": od(), "_forward_hooks": od(), "_forward_pre_hooks": od(),
                 "_state_dict_hooks": od(), "_load_state_dict_pre_hooks": od(),
                 "_modules": od((k, None if m is None else m.fake(done))
                                for k, m in self.modules.items())}
        state.update(self.attrs)
        if self.class_name == "ModuleList":
            obj = FakeObject(MODULE_LIST, state=state)
        else:
            state["_init_args"] = self.init_args
            state["_init_kwargs"] = self.init_kwargs
            obj = FakePersistent(self.class_name, self.src, state)
        done[id(self)] = obj
        return obj


def module_sources(marker):
    """Stand-ins for the pickled networks.py / layers.py sources: executing them would
    create `marker`."""
    body = ("# fixture stand-in for the official %s (never to be executed)\n"
            "import os\nopen(%r, 'w').write('the pickled module source was executed')\n")
    return body % ("src/training/networks.py", marker), body % ("src/training/layers.py", marker)


def generator_tree(sd, cfg, marker, hydra=None, cache_batch=2, cache_location="cuda:0",
                   class_overrides=None, cache_fill=None, seed=0):
    """The G_ema module tree (FakePersistent) of the official code for our config `cfg`,
    holding the tensors of `sd` (official name -> np.ndarray). Names of sd that the
    architecture does not have are added to the module their prefix names (so tests can
    inject unexpected tensors); missing ones are simply absent."""
    rng = np.random.RandomState(seed)
    src_net, src_layers = module_sources(marker)
    hydra = hydra if hydra is not None else hydra_config(cfg)
    res = cfg["resolution"]
    z_dim, w_dim = cfg["z_dim"], cfg["w_dim"]
    blocks = cfg["blocks"]
    # the channel_base that gives our channels (the official rule: min(base // res, max))
    channel_max = max(b["channels"] for b in blocks)
    channel_base = blocks[-1]["channels"] * int(blocks[-1]["name"][1:])
    mapping_kwargs = easydict(num_layers=cfg["mapping"]["num_layers"])
    synthesis_kwargs = easydict(channel_base=channel_base, channel_max=channel_max,
                                num_fp16_res=0, conv_clamp=None)
    index = {}

    def mod(path, class_name, src=src_net, **kw):
        m = _Mod(class_name, src, **kw)
        index[path] = m
        return m

    def fc(path, cin, cout, lr=1.0, act="linear", bias_init=0):
        return mod(path, "FullyConnectedLayer",
                   init_args=(cin, cout),
                   init_kwargs={"activation": act, "lr_multiplier": lr, "bias_init": bias_init},
                   activation=act, weight_gain=np.float64(lr / math.sqrt(cin)), bias_gain=lr)

    def layer(path, cin, cout, grid, up, inorm):
        m = mod(path, "SynthesisLayer", init_args=(cin, cout),
                init_kwargs={"w_dim": w_dim, "resolution": grid, "up": 1, "kernel_size": 1,
                             "cfg": hydra, "instance_norm": inorm, "conv_clamp": None,
                             "channels_last": False},
                cfg=dict_config(hydra), resolution=grid, up=up, activation="lrelu",
                conv_clamp=None, padding=0, act_gain=np.float64(math.sqrt(2)),
                instance_norm=inorm)
        m.modules["affine"] = fc(path + ".affine", w_dim, (cin + cout) * cfg["rank"])
        return m

    def torgb(path, cin):
        m = mod(path, "ToRGBLayer", init_args=(cin, 3), init_kwargs={"w_dim": w_dim},
                conv_clamp=None, weight_gain=np.float64(1 / math.sqrt(cin)))
        m.modules["affine"] = fc(path + ".affine", w_dim, cin, bias_init=1)
        return m

    def fuser(path, grid, prev_c, emb, coords_node):
        n_f = 2 * (emb["log_freqs"] * (4 if emb["diagonal"] else 2) + emb["random"])
        try:
            res_cfg_plain = dict(_resolve_simple(hydra, hydra["coords"]["res_configs"][str(grid)]))
        except (KeyError, TypeError, ValueError, RecursionError):   # broken configs in tests
            res_cfg_plain = _res_cfg(emb)
        cache = None
        if n_f and cache_batch:
            total = prev_c + n_f
            n = cache_batch * total * grid * grid
            data = (rng.standard_normal(n).astype(np.float32) if cache_fill is None
                    else np.full(n, cache_fill, np.float32))
            st = FakeStorage(data, cache_location)
            cache = FakeTensor(st, prev_c * grid * grid, (cache_batch, n_f, grid, grid),
                               (total * grid * grid, grid * grid, grid, 1))
        return mod(path, "CoordFuser", src=src_layers,
                   init_args=(coords_node, w_dim, grid),
                   cfg=coords_node, resolution=grid, res_cfg=dict_config(res_cfg_plain),
                   log_emb_size=res_cfg_plain.get("log_emb_size", 0),
                   random_emb_size=emb["random"], shared_emb_size=0, predictable_emb_size=0,
                   const_emb_size=emb["const"], fourier_scale=np.float64(math.sqrt(10)),
                   use_cosine=True, use_raw_coords=False, init_dist="randn",
                   _fourier_embs_cache=cache, _full_cache=None, use_full_cache=False,
                   total_dim=n_f + emb["const"], is_modulated=False)

    gen_kwargs = {"z_dim": z_dim, "w_dim": w_dim, "mapping_kwargs": mapping_kwargs,
                  "synthesis_kwargs": synthesis_kwargs, "cfg": hydra, "c_dim": 0,
                  "img_resolution": res, "img_channels": 3}
    num_ws = cfg["num_ws"]
    G = mod("", "Generator", init_kwargs=gen_kwargs, z_dim=z_dim, c_dim=0, w_dim=w_dim,
            img_resolution=res, img_channels=3, num_ws=num_ws)
    S = mod("synthesis", "SynthesisNetwork",
            init_kwargs={"w_dim": w_dim, "img_resolution": res, "img_channels": 3,
                         "cfg": hydra, "channel_base": channel_base,
                         "channel_max": channel_max, "num_fp16_res": 0, "conv_clamp": None},
            w_dim=w_dim, cfg=dict_config(hydra), img_resolution=res,
            img_resolution_log2=int(math.log2(res)), img_channels=3,
            block_resolutions=[int(b["name"][1:]) for b in blocks], num_ws=num_ws)
    G.modules["synthesis"] = S
    prev_c, prev_grid = 0, None
    for i, b in enumerate(blocks):
        name, grid, c = b["name"], b["grid"], b["channels"]
        p = "synthesis." + name
        bcfg = dict_config(hydra)
        coords_node = bcfg.state["_content"]["coords"]
        up = 2 if (prev_grid is not None and grid == 2 * prev_grid) else 1
        n_conv = (1 if i == 0 else 2) + b["extra_convs"]
        B = mod(p, "SynthesisBlock", init_args=(prev_c, c),
                init_kwargs={"w_dim": w_dim, "resolution": int(name[1:]), "img_channels": 3,
                             "is_last": i == len(blocks) - 1, "use_fp16": False,
                             "cfg": hydra, "conv_clamp": None},
                cfg=bcfg, in_channels=prev_c, w_dim=w_dim, resolution=grid, up=up,
                input_resolution=grid // up, img_channels=3,
                is_last=i == len(blocks) - 1, architecture="skip", use_fp16=False,
                channels_last=False, num_conv=n_conv, num_torgb=1)
        S.modules[name] = B
        if i == 0:
            input_node = bcfg.state["_content"]["input"]
            gi = mod(p + ".input", "GenInput", src=src_layers, init_args=(input_node, c, w_dim),
                     cfg=input_node, total_dim=None)
            ci = mod(p + ".input.input", "CoordsInput", src=src_layers,
                     init_args=(input_node, w_dim), cfg=input_node)
            cf = fuser(p + ".input.input.coord_fuser", grid, 0, b["embedding"], coords_node)
            gi.attrs["total_dim"] = cf.attrs["total_dim"]
            ci.modules["coord_fuser"] = cf
            gi.modules["input"] = ci
            B.modules["input"] = gi
            B.modules["conv1"] = layer(p + ".conv1", cf.attrs["total_dim"], c, grid, 1, False)
        else:
            ce = 0
            if "embedding" in b:
                cf = fuser(p + ".coord_fuser", grid, prev_c, b["embedding"], coords_node)
                ce = cf.attrs["total_dim"]
                B.modules["coord_fuser"] = cf
            else:
                B.attrs["coord_fuser"] = None
            B.modules["conv0"] = layer(p + ".conv0", prev_c + ce, c, grid, 1, False)
            B.modules["conv1"] = layer(p + ".conv1", c, c, grid, 1, cfg["instance_norm"])
        if b["extra_convs"]:
            ml = mod(p + ".extra_convs", "ModuleList")
            for k in range(b["extra_convs"]):
                ml.modules[str(k)] = layer("%s.extra_convs.%d" % (p, k), c, c, grid, 1,
                                           cfg["instance_norm"])
            B.modules["extra_convs"] = ml
        else:
            B.attrs["extra_convs"] = None
        B.modules["torgb"] = torgb(p + ".torgb", c)
        prev_c, prev_grid = c, grid
    M = mod("mapping", "MappingNetwork",
            init_kwargs={"z_dim": z_dim, "c_dim": 0, "w_dim": w_dim, "num_ws": num_ws,
                         "num_layers": cfg["mapping"]["num_layers"]},
            z_dim=z_dim, c_dim=0, w_dim=w_dim, num_ws=num_ws,
            num_layers=cfg["mapping"]["num_layers"], w_avg_beta=0.995)
    for k in range(cfg["mapping"]["num_layers"]):
        M.modules["fc%d" % k] = fc("mapping.fc%d" % k, z_dim if k == 0 else w_dim, w_dim,
                                   lr=cfg["mapping"]["lr_multiplier"], act="lrelu")
    G.modules["mapping"] = M

    for name, arr in sd.items():
        prefix, leaf = name.rsplit(".", 1)
        if prefix not in index:
            raise KeyError("fixture: no module %s for tensor %s" % (prefix, name))
        m = index[prefix]
        if leaf in BUFFER_NAMES:
            m.buffers[leaf] = tensor(np.asarray(arr, np.float32))
        else:
            m.params[leaf] = tensor(np.asarray(arr, np.float32), parameter=True)
    for path, cls in (class_overrides or {}).items():
        index[path].class_name = cls
    return G.fake({})


def discriminator_tree(marker, seed=1):
    """A small stand-in for the pickled D (different classes; one fp16 tensor)."""
    rng = np.random.RandomState(seed)
    src_net, _ = module_sources(marker)
    conv = _Mod("Conv2dLayer", src_net, init_args=(3, 8), activation="lrelu",
                weight_gain=np.float64(1 / math.sqrt(3)))
    conv.params["weight"] = tensor(rng.standard_normal((8, 3, 1, 1)).astype(np.float32), True)
    conv.params["bias"] = tensor(np.zeros(8, np.float32), True)
    conv.buffers["resample_filter"] = tensor(np.full((4, 4), 1 / 16, np.float16))
    D = _Mod("Discriminator", src_net, init_kwargs={"c_dim": 0, "img_resolution": 32,
                                                    "img_channels": 3})
    D.modules["fromrgb"] = conv
    return D.fake({})


def write_network_pickle(path, sd, cfg, marker, hydra=None, sd_train=None, dataset_path=None,
                         cache_batch=2, cache_fill=None, class_overrides=None,
                         with_d=True):
    """Writes an official-structure network pickle: G_ema from sd (official names ->
    arrays), G from sd_train (when given), a small D, training_set_kwargs."""
    data = {}
    data["training_set_kwargs"] = easydict(
        class_name="training.dataset.ImageFolderDataset",
        path=dataset_path or "/datasets/lsun_church_outdoor_train_256.zip", use_labels=False,
        max_size=126227, xflip=True, resolution=cfg["resolution"])
    if sd_train is not None:
        data["G"] = generator_tree(sd_train, cfg, marker, hydra, cache_batch=cache_batch,
                                   cache_fill=cache_fill, seed=7)
    if with_d:
        data["D"] = discriminator_tree(marker)
    data["G_ema"] = generator_tree(sd, cfg, marker, hydra, cache_batch=cache_batch,
                                   cache_fill=cache_fill, class_overrides=class_overrides)
    data["augment_pipe"] = None
    dump(path, data, protocol=4)
