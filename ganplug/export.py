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
MAX_LEVELS = 1  # largest allowed difference between PyTorch and ONNX, in uint8 levels
MAX_MEAN_LEVELS = 0.05


@dataclass(frozen=True)
class ExportConfig:
    source: str
    output: str
    dataset: str | None = None  # description stored in the file; default: from the checkpoint
    opset: int = OPSET
    exporter: str = "auto"  # auto (current, falling back to legacy), dynamo or legacy


@dataclass(frozen=True)
class ExportReport:
    path: Path
    exporter: str
    max_diff: int
    mean_diff: float
    seeds: int
    size_bytes: int


def _load_generator(source: str):
    from .train import checkpoint
    from .train.config import TrainConfig
    from .train.models import build

    state = checkpoint.load(Path(source))
    cfg = TrainConfig.from_dict(state["config"])
    g, _ = build(cfg.arch, z_dim=cfg.z_dim, resolution=cfg.resolution, channels=cfg.channels,
                 g_width=cfg.g_width, d_width=cfg.d_width)
    try:
        g.load_state_dict(state["G_ema"])
    except RuntimeError as e:
        from .errors import CheckpointError

        raise CheckpointError(f"{state['path']}: weights do not fit a {cfg.arch} generator ({str(e).splitlines()[0]})") from None
    g.eval().requires_grad_(False)
    return g, cfg, state


def _export_graph(model, z_dim: int, path: Path, opset: int, exporter: str) -> str:
    """Write the bare graph; returns which exporter produced it."""
    import torch

    example = (torch.zeros(2, z_dim),)
    if exporter in ("auto", "dynamo"):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                prog = torch.onnx.export(model, example, None, input_names=[contract.INPUT_Z], output_names=[contract.OUTPUT_IMAGE],
                                         dynamic_shapes={"z": {0: torch.export.Dim("N", min=1, max=4096)}},
                                         dynamo=True, opset_version=opset, verbose=False)
            prog.save(str(path))
            return "dynamo"
        except Exception as e:  # the new exporter fails in many ways; the legacy one is the fallback
            if exporter == "dynamo":
                raise ExportError(f"the torch.export-based exporter failed: {str(e).splitlines()[0][:300]}") from None
            print(f"ganplug export: current exporter failed ({type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}); using the legacy exporter")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, example, str(path), input_names=[contract.INPUT_Z], output_names=[contract.OUTPUT_IMAGE],
                          dynamic_axes={contract.INPUT_Z: {0: "N"}, contract.OUTPUT_IMAGE: {0: "N"}},
                          opset_version=opset, dynamo=False)
    return "legacy"


def export(config: ExportConfig) -> ExportReport:
    """Export, add contract metadata, validate, check parity, then move into place atomically."""
    import onnx
    import torch

    from .runtime.engine import Engine, EngineConfig
    from .train.models import ContractModel

    g, cfg, state = _load_generator(config.source)
    model = ContractModel(g).eval()
    out = Path(config.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    dataset = config.dataset or f"{Path(state['dataset']['folder']).name} ({state['dataset']['images']} images)"

    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".ganplug-export-") as tmpdir:
        raw = Path(tmpdir) / "raw.onnx"
        used = _export_graph(model, cfg.z_dim, raw, config.opset, config.exporter)
        m = onnx.load(str(raw), load_external_data=True)
        onnx.helper.set_model_props(m, {
            contract.META_PREFIX + "contract": contract.CONTRACT_VERSION,
            contract.META_PREFIX + "z_dim": str(cfg.z_dim),
            contract.META_PREFIX + "resolution": str(cfg.resolution),
            contract.META_PREFIX + "channels": str(cfg.channels),
            contract.META_PREFIX + "architecture": cfg.arch,
            contract.META_PREFIX + "dataset": dataset,
            contract.META_PREFIX + "step": str(state["step"]),
            contract.META_PREFIX + "images_seen": str(state["images_seen"]),
            contract.META_PREFIX + "exporter": used,
        })
        m.producer_name = "ganplug"
        try:
            onnx.checker.check_model(m, full_check=True)
        except Exception as e:
            raise ExportError(f"the exported graph fails onnx.checker: {str(e).splitlines()[0][:300]}") from None
        staged = Path(tmpdir) / "model.onnx"
        onnx.save(m, str(staged))

        engine = Engine(str(staged), EngineConfig(device="cpu"))
        z = z_batch(list(PARITY_SEEDS), cfg.z_dim)
        got = engine.run(z)
        with torch.no_grad():
            want = model(torch.from_numpy(z)).numpy()
        diff = np.abs(got.astype(np.int16) - want.astype(np.int16))
        max_diff, mean_diff = int(diff.max()), float(diff.mean())
        print(f"parity on {len(PARITY_SEEDS)} seeds: max {max_diff} level(s), mean {mean_diff:.4f} (allowed max {MAX_LEVELS}, mean {MAX_MEAN_LEVELS})")
        if max_diff > MAX_LEVELS or mean_diff > MAX_MEAN_LEVELS:
            raise ExportError(f"ONNX output differs from PyTorch by up to {max_diff} levels (mean {mean_diff:.4f}); nothing written")
        os.replace(staged, out)
    return ExportReport(out, used, max_diff, mean_diff, len(PARITY_SEEDS), out.stat().st_size)
