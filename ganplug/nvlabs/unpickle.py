"""Read an NVlabs network pickle without running anything from it.

An NVlabs snapshot is a pickled ``dict(G=..., D=..., G_ema=..., ...)`` whose networks are
``torch_utils.persistence`` objects: ``_reconstruct_persistent_obj(meta)`` with the class's
whole module source in ``meta["module_src"]``. Loading it the usual way ``exec``s that source.
Here every global the pickle names must be on :data:`ALLOWED`, each mapped to a function of
ours that only builds data (a :class:`Persistent` record, a numpy array, a torch tensor); the
module source stays a string that is never compiled. Tensor storages are legacy ``torch.save``
streams, decoded by :func:`decode_storage` with a small opcode reader instead of ``pickle.load``.
"""

from __future__ import annotations

import collections
import importlib
import io
import pickle
import pickletools
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import CheckpointError

SNAPSHOT_KEYS = ("G_ema",)  # the network ganplug plays; G and D are read as data and ignored


class SnapshotError(CheckpointError):
    """An NVlabs pickle that cannot be read, is unsafe, or holds no generator we can rebuild."""


@dataclass(frozen=True)
class Persistent:
    """One ``torch_utils.persistence`` object, as data: its class name, its ``__dict__``
    (``state``) and the module source it carries (kept as text, never run)."""

    class_name: str
    state: dict
    module_src: str
    version: int


class EasyDict(dict):
    """Stands in for ``dnnlib.util.EasyDict`` (a dict with attribute access): here a plain dict."""


def _persistent(meta: Any) -> Persistent:
    if not isinstance(meta, dict) or meta.get("type") != "class":
        raise pickle.UnpicklingError("a persistence record that is not a class record")
    name, state, src = meta.get("class_name"), meta.get("state"), meta.get("module_src")
    if not isinstance(name, str) or not isinstance(state, dict) or not isinstance(src, str):
        raise pickle.UnpicklingError("a persistence record without class_name, state or module_src")
    return Persistent(name, state, src, int(meta.get("version", 0)))


def _numpy(name: str) -> Callable:
    """numpy's own array/scalar rebuilders, from wherever this numpy keeps them (1.x or 2.x)."""
    for mod in ("numpy._core.multiarray", "numpy.core.multiarray"):
        try:
            return getattr(importlib.import_module(mod), name)
        except (ImportError, AttributeError):
            continue
    raise pickle.UnpicklingError(f"this numpy has no multiarray.{name}")


def _dtype(*args: Any) -> np.dtype:
    d = np.dtype(*args)
    if d.hasobject:  # object arrays could hold anything; network pickles never need them
        raise pickle.UnpicklingError("refused: a numpy array of Python objects")
    return d


def _frombuffer(buf: bytes, dtype: np.dtype, shape: tuple, order: str) -> np.ndarray:
    return np.frombuffer(buf, _dtype(dtype)).reshape(shape, order=order).copy()


def _rebuild_tensor(storage: Any, offset: int, size: tuple, stride: tuple, *_ignored: Any):
    """A tensor viewing ``storage`` (a 1-D numpy array), bounds checked, copied out."""
    import torch

    if not isinstance(storage, np.ndarray) or storage.ndim != 1:
        raise pickle.UnpicklingError("a tensor without a decoded storage")
    size, stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
    if len(size) != len(stride) or offset < 0 or any(s < 0 for s in size + stride):
        raise pickle.UnpicklingError("a tensor with a malformed shape")
    if all(s > 0 for s in size):
        last = int(offset) + sum((s - 1) * st for s, st in zip(size, stride))
        if last >= storage.size:
            raise pickle.UnpicklingError("a tensor reaching past the end of its storage")
    view = np.lib.stride_tricks.as_strided(storage[int(offset):], size, [st * storage.itemsize for st in stride])
    return torch.from_numpy(np.array(view, copy=True))


def _rebuild_parameter(data: Any, *_ignored: Any) -> Any:
    return data  # a parameter is just its tensor here


ALLOWED: dict[tuple[str, str], Callable] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,  # protocol 3 (Python 3.7, StyleGAN2-ADA's era) has no opcode for sets
    ("dnnlib.util", "EasyDict"): EasyDict,
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _persistent,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("numpy", "dtype"): _dtype,
    ("numpy", "ndarray"): np.ndarray,
}
for _np in ("numpy.core", "numpy._core"):  # numpy 1.x and 2.x write different module names
    ALLOWED[(_np + ".multiarray", "_reconstruct")] = lambda *a: _numpy("_reconstruct")(*a)
    ALLOWED[(_np + ".multiarray", "scalar")] = lambda d, *a: _numpy("scalar")(_dtype(d), *a)
    ALLOWED[(_np + ".numeric", "_frombuffer")] = _frombuffer


class _Refused(pickle.UnpicklingError):
    def __init__(self, name: str):
        super().__init__(name)
        self.name = name


class SafeUnpickler(pickle.Unpickler):
    """Resolves only the globals in :data:`ALLOWED`; any other global stops the load."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED[(module, name)]
        except KeyError:
            raise _Refused(f"{module}.{name}") from None

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("a persistent id outside a tensor storage")


# ------------------------------------------------------------------ legacy torch.save storages

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
STORAGE_TYPES = {"FloatStorage": "<f4", "DoubleStorage": "<f8", "HalfStorage": "<f2", "LongStorage": "<i8",
                 "IntStorage": "<i4", "ShortStorage": "<i2", "CharStorage": "i1", "ByteStorage": "u1",
                 "BoolStorage": "?", "BFloat16Storage": "<u2"}


class _Global(str):
    """A global named inside a storage stream (only ``torch.XStorage`` is accepted)."""


def _read_small_pickle(data: bytes, pos: int) -> tuple[Any, int]:
    """Evaluate the one small pickle at ``data[pos:]`` made of literals, tuples, lists, dicts and
    ``torch.XStorage`` globals; returns (value, position after STOP). Anything else is refused."""
    stack: list = []
    marks: list[int] = []
    memo: dict[int, Any] = {}
    for op, arg, at in pickletools.genops(io.BytesIO(data[pos:])):
        name = op.name
        if name in ("PROTO", "FRAME"):
            continue
        if name == "STOP":
            return stack.pop(), pos + at + 1
        if name == "MARK":
            marks.append(len(stack))
        elif name in ("BININT", "BININT1", "BININT2", "LONG1", "BINUNICODE", "SHORT_BINUNICODE", "BINSTRING",
                      "SHORT_BINSTRING", "BINFLOAT", "BINBYTES", "SHORT_BINBYTES"):
            stack.append(arg)
        elif name in ("NONE", "NEWTRUE", "NEWFALSE"):
            stack.append({"NONE": None, "NEWTRUE": True, "NEWFALSE": False}[name])
        elif name in ("EMPTY_DICT", "EMPTY_LIST", "EMPTY_TUPLE"):
            stack.append({"EMPTY_DICT": {}, "EMPTY_LIST": [], "EMPTY_TUPLE": ()}[name])
        elif name in ("TUPLE", "TUPLE1", "TUPLE2", "TUPLE3"):
            n = len(stack) - marks.pop() if name == "TUPLE" else int(name[-1])
            items = tuple(stack[len(stack) - n:])
            del stack[len(stack) - n:]
            stack.append(items)
        elif name in ("SETITEM", "SETITEMS"):
            start = len(stack) - 2 if name == "SETITEM" else marks.pop()
            flat = stack[start:]
            del stack[start:]
            stack[-1].update(zip(flat[::2], flat[1::2]))
        elif name in ("APPEND", "APPENDS"):
            start = len(stack) - 1 if name == "APPEND" else marks.pop()
            items = stack[start:]
            del stack[start:]
            stack[-1].extend(items)
        elif name in ("BINPUT", "LONG_BINPUT"):
            memo[arg] = stack[-1]
        elif name == "MEMOIZE":
            memo[len(memo)] = stack[-1]
        elif name in ("BINGET", "LONG_BINGET"):
            stack.append(memo[arg])
        elif name == "GLOBAL":
            module, _, cls = arg.partition(" ")
            if module != "torch" or cls not in STORAGE_TYPES:
                raise _Refused(f"{module}.{cls}")
            stack.append(_Global(cls))
        elif name == "BINPERSID":
            stack.append(("persistent", stack.pop()))
        else:
            raise pickle.UnpicklingError(f"unexpected opcode {name} in a tensor storage")
    raise EOFError("storage stream ends inside a pickle")


def decode_storage(blob: bytes) -> np.ndarray:
    """One legacy ``torch.save`` stream of a single storage -> its elements as a 1-D array."""
    if not isinstance(blob, bytes):
        raise pickle.UnpicklingError("a tensor storage that is not bytes")
    magic, pos = _read_small_pickle(blob, 0)
    if magic != LEGACY_MAGIC:
        raise pickle.UnpicklingError("a tensor storage that is not a legacy torch.save stream")
    _protocol, pos = _read_small_pickle(blob, pos)
    sys_info, pos = _read_small_pickle(blob, pos)
    if isinstance(sys_info, dict) and not sys_info.get("little_endian", True):
        raise pickle.UnpicklingError("a big-endian tensor storage")
    obj, pos = _read_small_pickle(blob, pos)
    keys, pos = _read_small_pickle(blob, pos)
    pid = obj[1] if isinstance(obj, tuple) and len(obj) == 2 and obj[0] == "persistent" else None
    if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage" and isinstance(pid[1], _Global)):
        raise pickle.UnpicklingError("a tensor storage stream without a storage")
    if list(keys) != [pid[2]]:
        raise pickle.UnpicklingError("a tensor storage stream holding more than one storage")
    dtype = np.dtype(STORAGE_TYPES[pid[1]])
    if len(blob) < pos + 8:
        raise EOFError("storage data cut short")
    (numel,) = struct.unpack_from("<q", blob, pos)
    end = pos + 8 + numel * dtype.itemsize
    if numel < 0 or numel != pid[4] or len(blob) < end:
        raise EOFError("storage data cut short")
    return np.frombuffer(blob, dtype, numel, pos + 8).copy()


ALLOWED[("torch.storage", "_load_from_bytes")] = decode_storage


# ------------------------------------------------------------------ the snapshot

def is_snapshot(path: str | Path) -> bool:
    """True for a ``.pkl`` file or a pickle of protocol 3 to 5 (NVlabs' writers), but not a folder
    or a torch checkpoint (zip, or a legacy ``torch.save`` stream, which starts with protocol 2)."""
    p = Path(path)
    if not p.is_file() or zipfile.is_zipfile(p):
        return False
    with p.open("rb") as f:
        head = f.read(2)
    return p.suffix.lower() == ".pkl" or (len(head) == 2 and head[0] == 0x80 and 3 <= head[1] <= 5)


def load_snapshot(path: str | Path) -> dict:
    """The top-level dict of an NVlabs snapshot, read with the allow-list. Raises
    :class:`SnapshotError` (one line) for refused globals, truncated or foreign files."""
    p = Path(path)
    try:
        with p.open("rb") as f:
            data = SafeUnpickler(f).load()
    except _Refused as e:
        raise SnapshotError(f"{p}: refused: the pickle asks for {e.name}, which is not on the allow-list of "
                            "an NVlabs network snapshot (nothing in it was run; nothing written)") from None
    except (EOFError, struct.error) as e:
        raise SnapshotError(f"{p}: truncated: the pickle ends early ({e or 'no more data'}); nothing written") from None
    except (pickle.UnpicklingError, ValueError, TypeError, KeyError, IndexError, AttributeError, MemoryError) as e:
        raise SnapshotError(f"{p}: not a readable network pickle ({str(e).splitlines()[0][:160] if str(e) else type(e).__name__}); nothing written") from None
    except OSError as e:
        raise SnapshotError(f"{p}: cannot read ({e.strerror or e})") from None
    if not isinstance(data, dict) or not any(isinstance(v, Persistent) for v in data.values()):
        raise SnapshotError(f"{p}: not an NVlabs network snapshot (expected a dict of networks such as G, D, G_ema); nothing written")
    if not isinstance(data.get("G_ema"), Persistent):
        raise SnapshotError(f"{p}: the snapshot has no G_ema generator (keys: {', '.join(map(str, data))}); nothing written")
    return data
