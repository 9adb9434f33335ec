"""Write NVlabs-format network snapshots from randomly initialised rebuilds, so the importer is
tested on a plain clone without the shared fixtures.

The file has the anatomy of ``training_loop.py``'s ``network-snapshot-*.pkl`` (see
../shared/fixtures/stylegan/README.md): a dict of ``torch_utils.persistence`` records
(``_reconstruct_persistent_obj(meta)``, meta = type, version, module_src, class_name, state),
real torch tensors (pickled by torch itself: ``_rebuild_tensor_v2`` over
``torch.storage._load_from_bytes`` of a legacy ``torch.save`` stream), numpy scalars and arrays,
and ``dnnlib.util.EasyDict``. While writing, stand-in modules named ``torch_utils.persistence``
and ``dnnlib.util`` exist in ``sys.modules`` so pickle can name those globals; they are removed
afterwards.
"""

from __future__ import annotations

import collections
import contextlib
import io
import pickle
import sys
import types
from pathlib import Path

import numpy as np
import torch

from ganplug.nvlabs.generator import Generator
from ganplug.nvlabs.rebuild import NVLABS_CLASS

SOURCE_REMOVED = "# source removed"
TORCH2_HOOKS = ("_backward_pre_hooks", "_forward_hooks_with_kwargs", "_forward_hooks_always_called",
                "_forward_pre_hooks_with_kwargs", "_state_dict_pre_hooks", "_load_state_dict_post_hooks")
TORCH1_HOOKS = ("_backward_hooks", "_forward_hooks", "_forward_pre_hooks", "_state_dict_hooks", "_load_state_dict_pre_hooks")


def _reconstruct_persistent_obj(meta):  # pragma: no cover - only its name is pickled
    raise AssertionError("never called")


class EasyDict(dict):
    pass


_reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
EasyDict.__module__, EasyDict.__qualname__ = "dnnlib.util", "EasyDict"


class Record:
    """Pickles as ``torch_utils.persistence._reconstruct_persistent_obj(meta)``."""

    def __init__(self, meta: dict):
        self.meta = meta

    def __reduce__(self):
        return _reconstruct_persistent_obj, (self.meta,)


@contextlib.contextmanager
def _stand_in_modules():
    names = {"torch_utils": None, "torch_utils.persistence": _reconstruct_persistent_obj, "dnnlib": None, "dnnlib.util": EasyDict}
    saved = {n: sys.modules.get(n) for n in names}
    for name, obj in names.items():
        mod = types.ModuleType(name)
        if obj is not None:
            setattr(mod, obj.__name__, obj)
        sys.modules[name] = mod
    sys.modules["torch_utils"].persistence = sys.modules["torch_utils.persistence"]
    sys.modules["dnnlib"].util = sys.modules["dnnlib.util"]
    try:
        yield
    finally:
        for n, m in saved.items():
            if m is None:
                sys.modules.pop(n, None)
            else:
                sys.modules[n] = m


def _plain_attrs(module: torch.nn.Module) -> dict:
    """What NVlabs keeps in a module's __dict__ besides tensors: numbers, numpy scalars and arrays."""
    attrs = dict(module.nvlabs_attrs()) if hasattr(module, "nvlabs_attrs") else {}
    if "size" in attrs:
        attrs["size"] = np.asarray(attrs["size"])  # a small int64 ndarray, as NVlabs stores it
    for k in ("sampling_rate", "bandwidth"):
        if k in attrs:
            attrs[k] = np.float64(attrs[k])
    if hasattr(module, "weight_gain"):
        attrs["weight_gain"] = np.float64(module.weight_gain)
    return attrs


def record(module: torch.nn.Module, module_src: str, torch1: bool = False, init_kwargs: dict | None = None,
           class_name: str | None = None) -> Record:
    """The persistence record of ``module`` and, recursively, its children."""
    hooks = TORCH1_HOOKS if torch1 else TORCH1_HOOKS + TORCH2_HOOKS
    state = {"training": False, "_parameters": collections.OrderedDict(module._parameters),
             "_buffers": collections.OrderedDict(module._buffers), "_non_persistent_buffers_set": set(),
             **{h: collections.OrderedDict() for h in hooks},
             "_modules": collections.OrderedDict((n, record(m, module_src, torch1)) for n, m in module._modules.items()),
             "_init_args": (), "_init_kwargs": init_kwargs if init_kwargs is not None else {}, **_plain_attrs(module)}
    for name in list(state["_buffers"]):
        if name in module._non_persistent_buffers_set:
            del state["_buffers"][name]  # computed here, not stored by NVlabs
    name = class_name or NVLABS_CLASS[type(module).__name__]
    return Record({"type": "class", "version": 6, "module_src": module_src, "class_name": name, "state": state})


def random_generator(kind: str, seed: int = 0, **kwargs) -> Generator:
    """A randomly initialised rebuild, with non-trivial noise strengths, biases and averages."""
    torch.manual_seed(seed)
    g = Generator(kind, **kwargs).eval()
    with torch.no_grad():
        for name, p in g.named_parameters():
            if name.endswith(("noise_strength", ".bias")):
                p.add_(torch.randn_like(p) * 0.1)
        g.mapping.w_avg.normal_(0, 0.3)
        for name, b in g.named_buffers():
            if name.endswith("magnitude_ema"):
                b.fill_(float(torch.rand(1)) + 0.5)
    return g.requires_grad_(False).freeze()


def snapshot_bytes(g: Generator, init_kwargs: dict, module_src: str = SOURCE_REMOVED, numpy1: bool = False,
                   torch1: bool = False, keys: tuple[str, ...] = ("G", "D", "G_ema"), g_class: str | None = None) -> bytes:
    """A network-snapshot pickle whose G and G_ema are ``g``; ``numpy1`` names numpy 1.x's module
    (numpy.core) and uses protocol 3's text globals, as older files do."""
    kw = EasyDict({k: (EasyDict(v) if isinstance(v, dict) else v) for k, v in init_kwargs.items()})
    nets = {"G": record(g, module_src, torch1, kw, g_class), "G_ema": record(g, module_src, torch1, kw, g_class),
            "D": Record({"type": "class", "version": 6, "module_src": module_src, "class_name": "Discriminator",
                         "state": {"_parameters": collections.OrderedDict(w=torch.randn(4, 3)), "_modules": {}}})}
    data = {k: nets[k] for k in keys}
    data.update(augment_pipe=None, training_set_kwargs=EasyDict(path="~/datasets/test-set.zip", resolution=g.img_resolution))
    buf = io.BytesIO()
    with _stand_in_modules():
        pickle.Pickler(buf, protocol=3 if numpy1 else 4).dump(data)
    raw = buf.getvalue()
    if numpy1:
        raw = raw.replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")
    return raw


def write_snapshot(path: Path, g: Generator, init_kwargs: dict, **kw) -> Path:
    path.write_bytes(snapshot_bytes(g, init_kwargs, **kw))
    return path


SMALL = {  # fast configurations of every supported architecture
    "sg2-skip": ("stylegan2", dict(z_dim=32, c_dim=0, w_dim=32, img_resolution=16, img_channels=3,
                                   mapping_kwargs={"num_layers": 2}, channel_base=256, channel_max=32)),
    "sg2-resnet": ("stylegan2", dict(z_dim=32, c_dim=0, w_dim=32, img_resolution=16, img_channels=3,
                                     mapping_kwargs={"num_layers": 2}, channel_base=256, channel_max=32, architecture="resnet")),
    "sg2-orig": ("stylegan2", dict(z_dim=32, c_dim=0, w_dim=32, img_resolution=16, img_channels=3,
                                   mapping_kwargs={"num_layers": 2}, channel_base=256, channel_max=32, architecture="orig")),
    "sg2-cond": ("stylegan2", dict(z_dim=32, c_dim=3, w_dim=32, img_resolution=16, img_channels=3,
                                   mapping_kwargs={"num_layers": 2}, channel_base=256, channel_max=32)),
    "sg3-t": ("stylegan3", dict(z_dim=32, c_dim=0, w_dim=32, img_resolution=16, img_channels=3,
                                mapping_kwargs={"num_layers": 2}, channel_base=256, channel_max=16, num_layers=6,
                                magnitude_ema_beta=0.999)),
    "sg3-r": ("stylegan3", dict(z_dim=32, c_dim=2, w_dim=32, img_resolution=16, img_channels=3,
                                mapping_kwargs={"num_layers": 2}, channel_base=512, channel_max=32, num_layers=6,
                                conv_kernel=1, use_radial_filters=True, magnitude_ema_beta=0.999)),
}
