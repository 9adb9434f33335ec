"""Pickled ``G_ema`` (a tree of :class:`Persistent` records) -> our :class:`Generator`.

The constructor arguments come from ``_init_kwargs`` (unknown ones are refused: they may
change the network); every class name in the tree must be the one our module at that place
stands for; the tensors must match our state dict key for key and shape for shape; and the
geometry we derive (paddings, factors, clamps) must equal what the file recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from torch import nn

from . import stylegan2, stylegan3
from .generator import MAPPING_KWARGS, Generator
from .unpickle import Persistent, SnapshotError, load_snapshot

TOP_KWARGS = {"z_dim", "c_dim", "w_dim", "img_resolution", "img_channels", "mapping_kwargs"}
NVLABS_CLASS = {  # our module class -> the NVlabs class it rebuilds
    "Generator": "Generator", "MappingNetwork": "MappingNetwork", "FullyConnected": "FullyConnectedLayer",
    "SynthesisNetwork": "SynthesisNetwork", "SynthesisBlock": "SynthesisBlock", "SynthesisLayer": "SynthesisLayer",
    "ToRGBLayer": "ToRGBLayer", "Conv2dLayer": "Conv2dLayer", "SynthesisInput": "SynthesisInput",
}


@dataclass(frozen=True)
class Imported:
    """A rebuilt generator and what the export stamps into the file."""

    generator: Generator
    source: str  # nvlabs-stylegan2, nvlabs-stylegan3-t or nvlabs-stylegan3-r
    kwargs: dict
    training_set: str


def _fail(path: Path, what: str) -> SnapshotError:
    return SnapshotError(f"{path}: {what}; nothing written")


def _kind(path: Path, g: Persistent) -> str:
    if g.class_name != "Generator":
        raise _fail(path, f"G_ema is a {g.class_name!r}, a class this importer does not know "
                          "(it reads the Generator of NVlabs StyleGAN2, StyleGAN2-ADA and StyleGAN3)")
    syn = g.state.get("_modules", {}).get("synthesis")
    children = syn.state.get("_modules", {}) if isinstance(syn, Persistent) else {}
    if "input" in children:
        return "stylegan3"
    if "b4" in children:
        return "stylegan2"
    raise _fail(path, "G_ema has no synthesis network this importer knows (neither StyleGAN2 blocks nor a StyleGAN3 input layer)")


def _kwargs(path: Path, g: Persistent, kind: str) -> dict:
    """Constructor arguments, flattened (StyleGAN2-ADA nests ``synthesis_kwargs``), checked."""
    if g.state.get("_init_args"):
        raise _fail(path, "G_ema was built with positional arguments, which this importer does not know")
    kw = {k: (dict(v) if isinstance(v, dict) else v) for k, v in dict(g.state.get("_init_kwargs") or {}).items()}
    kw.update(kw.pop("synthesis_kwargs", None) or {})
    known = TOP_KWARGS | (stylegan2.SYNTHESIS_KWARGS if kind == "stylegan2" else stylegan3.SYNTHESIS_KWARGS)
    unknown = sorted(set(kw) - known) + sorted(f"mapping_kwargs.{k}" for k in set(kw.get("mapping_kwargs") or {}) - MAPPING_KWARGS)
    if unknown:
        raise _fail(path, f"G_ema has constructor argument(s) {', '.join(unknown)} that this importer does not know "
                          "(a newer or modified NVlabs version?)")
    missing = sorted({"z_dim", "c_dim", "w_dim", "img_resolution", "img_channels"} - set(kw))
    if missing:
        raise _fail(path, f"G_ema lacks constructor argument(s) {', '.join(missing)}")
    if kind == "stylegan2" and "conv_clamp" not in kw:  # StyleGAN2-ADA's default (None) differs from stylegan3's (256)
        kw["conv_clamp"] = _attr(g, ["synthesis", "b4", "conv1"], "conv_clamp", 256)
    return kw


def _attr(node: Persistent, names: list[str], attr: str, default: Any) -> Any:
    for n in names:
        node = node.state.get("_modules", {}).get(n)
        if not isinstance(node, Persistent):
            return default
    return node.state.get(attr, default)


def _walk(node: Persistent, prefix: str = "") -> Iterator[tuple[str, Persistent]]:
    yield prefix, node
    for name, child in (node.state.get("_modules") or {}).items():
        if isinstance(child, Persistent):
            yield from _walk(child, f"{prefix}{name}.")


def _tensors(node: Persistent) -> dict[str, torch.Tensor]:
    out = {}
    for prefix, n in _walk(node):
        for group in ("_parameters", "_buffers"):
            for k, v in (n.state.get(group) or {}).items():
                if v is not None:
                    if not isinstance(v, torch.Tensor):
                        raise SnapshotError(f"{prefix}{k} is not a tensor")
                    out[prefix + k] = v
    return out


def _plain(v: Any) -> Any:
    if isinstance(v, (np.ndarray, list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    return v


def _check_tree(path: Path, g: Persistent, model: nn.Module) -> None:
    """Class names and recorded geometry, module by module."""
    ours = dict(model.named_modules())
    for prefix, node in _walk(g):
        name = prefix.rstrip(".")
        mine = ours.get(name)
        want = NVLABS_CLASS.get(type(mine).__name__) if mine is not None else None
        if want != node.class_name:
            where = f"G_ema.{name}" if name else "G_ema"
            raise _fail(path, f"{where} is a {node.class_name!r}, expected {want or 'nothing there'} "
                              "(unknown class name or layout)")
        for attr, value in (mine.nvlabs_attrs() if hasattr(mine, "nvlabs_attrs") else {}).items():
            if attr in node.state and _plain(node.state[attr]) != _plain(value):
                raise _fail(path, f"G_ema.{name}.{attr} is {_plain(node.state[attr])} in the file but "
                                  f"{_plain(value)} when rebuilt from its constructor arguments")


def _load_tensors(path: Path, g: Persistent, model: nn.Module) -> None:
    try:
        got = _tensors(g)
    except SnapshotError as e:
        raise _fail(path, f"G_ema.{e}") from None
    want = model.state_dict()
    missing, extra = sorted(set(want) - set(got)), sorted(set(got) - set(want))
    if missing or extra:
        what = ([f"missing {', '.join(missing[:3])}"] if missing else []) + ([f"unexpected {', '.join(extra[:3])}"] if extra else [])
        raise _fail(path, f"G_ema's tensors do not fit the rebuilt network ({'; '.join(what)})")
    for k, v in want.items():
        if tuple(got[k].shape) != tuple(v.shape):
            raise _fail(path, f"G_ema.{k} has shape {list(got[k].shape)}, the rebuilt network expects {list(v.shape)}")
    model.load_state_dict({k: got[k].float() for k in want})


def rebuild(path: str | Path, snapshot: dict | None = None) -> Imported:
    """Read ``path`` safely and return the rebuilt ``G_ema`` in eval mode."""
    path = Path(path)
    snapshot = load_snapshot(path) if snapshot is None else snapshot
    g = snapshot["G_ema"]
    kind = _kind(path, g)
    kw = _kwargs(path, g, kind)
    try:
        model = Generator(kind, **kw)
    except (TypeError, ValueError, ZeroDivisionError) as e:
        raise _fail(path, f"G_ema's constructor arguments do not build a {kind} network ({e})") from None
    _check_tree(path, g, model)
    _load_tensors(path, g, model)
    model.eval().requires_grad_(False).freeze()
    source = "nvlabs-stylegan2" if kind == "stylegan2" else (
        "nvlabs-stylegan3-r" if kw.get("use_radial_filters") else "nvlabs-stylegan3-t")
    ts = snapshot.get("training_set_kwargs")
    data = Path(str(ts.get("path"))).name if isinstance(ts, dict) and ts.get("path") else "unknown (NVlabs snapshot)"
    return Imported(model, source, kw, data)
