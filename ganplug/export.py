"""Checkpoint -> contract ONNX file, checked against PyTorch before it is written.

Needs the ``train`` extra (torch, onnx, onnxscript); the serving side never imports this module.
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import contract
from .errors import ExportError
from .seeds import z_batch

log = logging.getLogger("ganplug.export")

OPSET = 18
PARITY_SEEDS = tuple(range(1000, 1016))
PARITY_TRUNCATION = (1.0, 0.7)  # models with a truncation input are checked at each of these ψ
MAX_LEVELS = 1  # largest allowed difference between PyTorch and ONNX, in uint8 levels
MAX_MEAN_LEVELS = 0.05
HALF_MAX_LEVELS = 8  # fp16 weights and activations: a looser, documented bound
HALF_MAX_MEAN_LEVELS = 0.5


@dataclass(frozen=True)
class ExportConfig:
    source: str
    output: str
    dataset: str | None = None  # description stored in the file; default: from the checkpoint
    opset: int = OPSET
    exporter: str = "auto"  # auto (current, falling back to legacy), dynamo or legacy
    half: bool = False  # also write NAME.fp16.onnx for GPU serving


@dataclass(frozen=True)
class ExportReport:
    path: Path
    exporter: str
    max_diff: int
    mean_diff: float
    seeds: int
    size_bytes: int
    half: Path | None = None


def _load_generator(source: str):
    from .train import checkpoint
    from .train.config import TrainConfig
    from .train.models import build

    state = checkpoint.load(Path(source))
    cfg = TrainConfig.from_dict(state["config"])
    g, _ = build(cfg.arch, z_dim=cfg.z_dim, resolution=cfg.resolution, channels=cfg.channels,
                 g_width=cfg.g_width, d_width=cfg.d_width, map_layers=cfg.map_layers)
    try:
        g.load_state_dict(state["G_ema"])
    except RuntimeError as e:
        from .errors import CheckpointError

        raise CheckpointError(f"{state['path']}: weights do not fit a {cfg.arch} generator ({str(e).splitlines()[0]})") from None
    g.eval().requires_grad_(False)
    return g, cfg, state


def _export_graph(model, z_dim: int, path: Path, opset: int, exporter: str) -> str:
    """Write the bare graph; returns which exporter produced it. A model with ``has_truncation``
    gets the contract's scalar ``truncation`` input after ``z``."""
    import torch

    example: tuple = (torch.zeros(2, z_dim),)
    inputs = [contract.INPUT_Z]
    dynamic: dict = {"z": {0: torch.export.Dim("N", min=1, max=4096)}}
    if getattr(model, "has_truncation", False):
        example += (torch.tensor(1.0),)
        inputs.append(contract.INPUT_TRUNCATION)
        dynamic["truncation"] = None
    if exporter in ("auto", "dynamo"):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                prog = torch.onnx.export(model, example, None, input_names=inputs, output_names=[contract.OUTPUT_IMAGE],
                                         dynamic_shapes=dynamic, dynamo=True, opset_version=opset, verbose=False)
            prog.save(str(path))
            return "dynamo"
        except Exception as e:  # the new exporter fails in many ways; the legacy one is the fallback
            if exporter == "dynamo":
                raise ExportError(f"the torch.export-based exporter failed: {str(e).splitlines()[0][:300]}") from None
            print(f"ganplug export: current exporter failed ({type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}); using the legacy exporter")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, example, str(path), input_names=inputs, output_names=[contract.OUTPUT_IMAGE],
                          dynamic_axes={contract.INPUT_Z: {0: "N"}, contract.OUTPUT_IMAGE: {0: "N"}},
                          opset_version=opset, dynamo=False)
    return "legacy"


def export(config: ExportConfig) -> ExportReport:
    """Export, add contract metadata, validate, check parity, then move into place atomically."""
    import onnx
    import torch

    from .train.models import ContractModel

    g, cfg, state = _load_generator(config.source)
    model = ContractModel(g).eval()
    out = Path(config.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    dataset = config.dataset or f"{Path(state['dataset']['folder']).name} ({state['dataset']['images']} images)"

    z = z_batch(list(PARITY_SEEDS), cfg.z_dim)
    with torch.no_grad():  # PyTorch's frames, per ψ the check uses
        if model.has_truncation:
            want = {psi: model(torch.from_numpy(z), torch.tensor(psi)).numpy() for psi in PARITY_TRUNCATION}
        else:
            want = {1.0: model(torch.from_numpy(z)).numpy()}
    meta = {
        "contract": contract.CONTRACT_VERSION, "z_dim": str(cfg.z_dim), "resolution": str(cfg.resolution),
        "channels": str(cfg.channels), "architecture": cfg.arch, "dataset": dataset, "step": str(state["step"]),
        "images_seen": str(state["images_seen"]), "parameters": str(sum(p.numel() for p in g.parameters())),
    }
    if hasattr(g, "features"):
        from .train.directions import principal_directions

        meta.update({k[len(contract.META_PREFIX):]: v for k, v in contract.encode_directions(principal_directions(g, cfg.z_dim)).items()})
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".ganplug-export-") as tmpdir:
        raw = Path(tmpdir) / "raw.onnx"
        used = _export_graph(model, cfg.z_dim, raw, config.opset, config.exporter)
        m = onnx.load(str(raw), load_external_data=True)
        staged = _finish(m, {**meta, "exporter": used, "precision": "fp32"}, Path(tmpdir) / "model.onnx")
        max_diff, mean_diff = _parity(staged, z, want, "fp32", MAX_LEVELS, MAX_MEAN_LEVELS)
        half = None
        if config.half:
            from onnxconverter_common import float16

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # it warns for every weight it rounds to fp16's range
                h = float16.convert_float_to_float16(m, keep_io_types=True)
            staged_half = _finish(h, {**meta, "exporter": used, "precision": "fp16"}, Path(tmpdir) / "model-fp16.onnx")
            _parity(staged_half, z, want, "fp16", HALF_MAX_LEVELS, HALF_MAX_MEAN_LEVELS)
            half = out.with_name(out.stem + ".fp16" + out.suffix)
            os.replace(staged_half, half)
        os.replace(staged, out)
    return ExportReport(out, used, max_diff, mean_diff, len(PARITY_SEEDS), out.stat().st_size, half)


def _finish(m, meta: dict[str, str], path: Path) -> Path:
    """Stamp contract metadata, run onnx.checker, save."""
    import onnx

    del m.metadata_props[:]
    onnx.helper.set_model_props(m, {contract.META_PREFIX + k: v for k, v in meta.items()})
    m.producer_name = "ganplug"
    try:
        onnx.checker.check_model(m, full_check=True)
    except Exception as e:
        raise ExportError(f"the exported graph fails onnx.checker: {str(e).splitlines()[0][:300]}") from None
    onnx.save(m, str(path))
    return path


def _parity(path: Path, z: np.ndarray, want: dict[float, np.ndarray], label: str, max_levels: int, max_mean: float) -> tuple[int, float]:
    """Load ``path`` in onnxruntime (CPU; this also checks the contract) and compare with PyTorch's
    frames at every truncation ψ of ``want``; returns the worst figures."""
    from .runtime.engine import Engine, EngineConfig

    quiet = logging.getLogger("ganplug.engine")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # no "fp16 on the CPU" notice for our own check
    try:
        engine = Engine(str(path), EngineConfig(device="cpu", cache_dir=None))
    finally:
        quiet.setLevel(level)
    worst_max, worst_mean = 0, 0.0
    for psi, frames in want.items():
        got = engine.run(z, truncation=psi)
        diff = np.abs(got.astype(np.int16) - frames.astype(np.int16))
        max_diff, mean_diff = int(diff.max()), float(diff.mean())
        at = f" at truncation {psi:g}" if len(want) > 1 else ""
        print(f"{label} parity on {len(z)} seeds{at}: max {max_diff} level(s), mean {mean_diff:.4f} "
              f"(allowed max {max_levels}, mean {max_mean})", flush=True)
        if max_diff > max_levels or mean_diff > max_mean:
            raise ExportError(f"{label} ONNX output{at} differs from PyTorch by up to {max_diff} levels (mean {mean_diff:.4f}); nothing written")
        worst_max, worst_mean = max(worst_max, max_diff), max(worst_mean, mean_diff)
    return worst_max, worst_mean
