"""Checkpoint -> contract ONNX file, checked against PyTorch before it is written.

Needs the ``train`` extra (torch, onnx, onnxscript); the serving side never imports this module.
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from . import contract
from .errors import ExportError
from .seeds import z_batch

log = logging.getLogger("ganplug.export")

OPSET = 18
EXPORTERS = ("auto", "dynamo", "legacy")
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
    exporter: str = "auto"  # one of EXPORTERS: auto (current, falling back to legacy), dynamo or legacy
    half: bool = False  # also write NAME.fp16.onnx for GPU serving
    split: bool = False  # style models: also write NAME.mapping.onnx and NAME.synthesis.onnx


@dataclass(frozen=True)
class ExportReport:
    path: Path
    exporter: str
    max_diff: int
    mean_diff: float
    seeds: int
    size_bytes: int
    half: Path | None = None
    parts: tuple[Path, ...] = ()


def export_graph(model, example: dict, output: str, path: Path, opset: int, exporter: str) -> str:
    """Write the bare graph with inputs named and shaped as ``example`` (the first one's batch
    axis dynamic, the others fixed, as the scalar ``truncation``) and one output; returns which
    exporter produced it."""
    import torch

    inputs = list(example)
    dynamic: dict = {name: None for name in inputs}
    dynamic[inputs[0]] = {0: torch.export.Dim("N", min=1, max=4096)}
    args = tuple(example.values())
    if exporter in ("auto", "dynamo"):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                prog = torch.onnx.export(model, args, None, input_names=inputs, output_names=[output],
                                         dynamic_shapes=dynamic, dynamo=True, opset_version=opset, verbose=False)
            prog.save(str(path))
            return "dynamo"
        except Exception as e:  # the new exporter fails in many ways; the legacy one is the fallback
            if exporter == "dynamo":
                raise ExportError(f"the torch.export-based exporter failed: {str(e).splitlines()[0][:300]}") from None
            print(f"ganplug export: current exporter failed ({type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}); using the legacy exporter")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, args, str(path), input_names=inputs, output_names=[output],
                          dynamic_axes={inputs[0]: {0: "N"}, output: {0: "N"}},
                          opset_version=opset, dynamo=False)
    return "legacy"


def export(config: ExportConfig) -> ExportReport:
    """Export, add contract metadata, validate, check parity, then move into place atomically."""
    from .nvlabs import is_snapshot

    if is_snapshot(config.source):  # an NVlabs StyleGAN pickle: its own import path (docs/importing.md)
        from .nvlabs.export import export_snapshot

        return export_snapshot(config)
    return _export_run(config)


def _export_run(config: ExportConfig) -> ExportReport:
    """A ganplug training run or checkpoint to the contract."""
    import onnx
    import torch

    from .train.checkpoint import load_generator
    from .train.models import ContractModel

    g, cfg, state = load_generator(config.source)
    if config.split and not hasattr(g, "synthesize"):
        raise ExportError(f"--split needs a style model (mapping z -> w, then synthesis); this run is {cfg.arch}")
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
    meta = contract.ModelMetadata(
        contract=contract.CONTRACT_VERSION, z_dim=cfg.z_dim, resolution=max(cfg.frame_size), channels=cfg.channels,
        width=cfg.width, height=cfg.height, architecture=cfg.arch, dataset=dataset, step=state["step"], images_seen=state["images_seen"],
        parameters=sum(p.numel() for p in g.parameters()))
    if hasattr(g, "features"):
        from .train.directions import principal_directions

        meta = meta.with_directions(principal_directions(g, cfg.z_dim))
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".ganplug-export-") as tmpdir:
        raw = Path(tmpdir) / "raw.onnx"
        example = {contract.INPUT_Z: torch.zeros(2, cfg.z_dim)}
        if model.has_truncation:
            example[contract.INPUT_TRUNCATION] = torch.tensor(1.0)
        used = export_graph(model, example, contract.OUTPUT_IMAGE, raw, config.opset, config.exporter)
        m = onnx.load(str(raw), load_external_data=True)
        staged = _finish(m, replace(meta, exporter=used, precision="fp32"), Path(tmpdir) / "model.onnx")
        max_diff, mean_diff = _parity(staged, z, want, "fp32", MAX_LEVELS, MAX_MEAN_LEVELS)
        half = None
        if config.half:
            from onnxconverter_common import float16

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # it warns for every weight it rounds to fp16's range
                h = float16.convert_float_to_float16(m, keep_io_types=True)
            staged_half = _finish(h, replace(meta, exporter=used, precision="fp16"), Path(tmpdir) / "model-fp16.onnx")
            _parity(staged_half, z, want, "fp16", HALF_MAX_LEVELS, HALF_MAX_MEAN_LEVELS)
            half = out.with_name(out.stem + ".fp16" + out.suffix)
        parts = _split(g, cfg, replace(meta, precision="fp32"), z, want, Path(tmpdir), config) if config.split else {}
        if half:
            os.replace(staged_half, half)
        for name, staged_part in parts.items():
            os.replace(staged_part, out.with_name(f"{out.stem}.{name}{out.suffix}"))
        os.replace(staged, out)
    return ExportReport(out, used, max_diff, mean_diff, len(PARITY_SEEDS), out.stat().st_size, half,
                        tuple(out.with_name(f"{out.stem}.{name}{out.suffix}") for name in parts))


def _split(g, cfg, meta: contract.ModelMetadata, z: np.ndarray, want: dict[float, np.ndarray], tmpdir: Path,
           config: ExportConfig) -> dict[str, Path]:
    """Export the mapping and synthesis graphs of a style generator, check that the two chained
    give the whole model's frames (same bounds), and return their staged paths."""
    import onnx
    import onnxruntime as ort
    import torch

    from .train.models import MappingPart, SynthesisPart

    base = replace(meta, directions=None, directions_shape=None)  # directions live in z: the mapping's
    staged = {}
    for name, module, example, output in (
            ("mapping", MappingPart(g), {contract.INPUT_Z: torch.zeros(2, cfg.z_dim), contract.INPUT_TRUNCATION: torch.tensor(1.0)},
             contract.OUTPUT_W),
            ("synthesis", SynthesisPart(g), {contract.INPUT_W: torch.zeros(2, cfg.z_dim)}, contract.OUTPUT_IMAGE)):
        raw = tmpdir / f"raw-{name}.onnx"
        used = export_graph(module.eval(), example, output, raw, config.opset, config.exporter)
        part_meta = replace(meta if name == "mapping" else base, part=name, w_dim=cfg.z_dim, exporter=used)
        staged[name] = _finish(onnx.load(str(raw), load_external_data=True), part_meta, tmpdir / f"model-{name}.onnx")
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    mapping, synthesis = (ort.InferenceSession(str(staged[n]), opts, providers=["CPUExecutionProvider"]) for n in staged)

    def chained(z: np.ndarray, psi: float) -> np.ndarray:
        w = mapping.run(None, {contract.INPUT_Z: z, contract.INPUT_TRUNCATION: np.array(psi, np.float32)})[0]
        return synthesis.run(None, {contract.INPUT_W: w})[0]

    _compare(chained, z, want, "split (mapping -> synthesis)", MAX_LEVELS, MAX_MEAN_LEVELS)
    return staged


def _finish(m, meta: contract.ModelMetadata, path: Path) -> Path:
    """Stamp contract metadata, run onnx.checker, save."""
    import onnx

    del m.metadata_props[:]
    onnx.helper.set_model_props(m, meta.to_props())
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
    return _compare(lambda z, psi: engine.run(z, truncation=psi), z, want, label, max_levels, max_mean)


def _compare(run, z: np.ndarray, want: dict[float, np.ndarray], label: str, max_levels: int, max_mean: float) -> tuple[int, float]:
    """Frames of ``run(z, ψ)`` against PyTorch's at every ψ of ``want``: print the figures, raise
    :class:`ExportError` past the bounds, return the worst."""
    worst_max, worst_mean = 0, 0.0
    for psi, frames in want.items():
        diff = np.abs(run(z, psi).astype(np.int16) - frames.astype(np.int16))
        max_diff, mean_diff = int(diff.max()), float(diff.mean())
        at = f" at truncation {psi:g}" if len(want) > 1 else ""
        print(f"{label} parity on {len(z)} seeds{at}: max {max_diff} level(s), mean {mean_diff:.4f} "
              f"(allowed max {max_levels}, mean {max_mean})", flush=True)
        if max_diff > max_levels or mean_diff > max_mean:
            raise ExportError(f"{label} ONNX output{at} differs from PyTorch by up to {max_diff} levels (mean {mean_diff:.4f}); nothing written")
        worst_max, worst_mean = max(worst_max, max_diff), max(worst_mean, mean_diff)
    return worst_max, worst_mean
