"""NVlabs snapshot -> contract ONNX file, written only after two parity gates pass:

1. the rebuild against NVlabs' own outputs (``NAME.ref.npz`` beside the pickle, when present):
   raw float images within :data:`REF_ATOL` at ψ = 1 and 0.7;
2. the ONNX graph against the rebuild: uint8 frames within :data:`MAX_LEVELS` at both ψ, on
   the contract's parity seeds (and, for conditional models, every class).
"""

from __future__ import annotations

from dataclasses import replace

import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

from .. import contract
from ..errors import ExportError
from ..export import HALF_MAX_LEVELS, MAX_LEVELS, PARITY_SEEDS, PARITY_TRUNCATION, ExportConfig, ExportReport
from ..seeds import z_batch
from .generator import Generator, MappingGraph, SynthesisGraph, WholeGraph
from .ops import to_uint8_nhwc
from .rebuild import Imported, rebuild

REF_ATOL = 1e-3  # rebuild vs NVlabs' float output, absolute
REF_KEYS = {1.0: "float_psi1", 0.7: "float_psi07"}
INPUT_C = contract.INPUT_C


def reference_file(source: Path) -> Path | None:
    """NVlabs' outputs shipped beside ``NAME[.redacted].pkl`` as ``NAME.ref.npz``, if any."""
    for cand in (source.with_suffix(".ref.npz"), source.with_name(source.name.split(".")[0] + ".ref.npz")):
        if cand.is_file():
            return cand
    return None


@torch.no_grad()
def check_reference(g: Generator, ref_path: Path) -> float:
    """Worst |rebuild - NVlabs| over the reference seeds at both ψ; raises past :data:`REF_ATOL`."""
    ref = np.load(ref_path)
    z = torch.from_numpy(ref["z"])
    c = torch.from_numpy(ref["c"]) if g.c_dim else None
    worst = 0.0
    for psi, key in REF_KEYS.items():
        got = torch.cat([g(z[i:i + 1], c[i:i + 1] if c is not None else None, torch.tensor(psi)) for i in range(len(z))])
        diff = float(np.abs(got.numpy() - ref[key]).max())
        print(f"rebuild vs NVlabs reference ({ref_path.name}, {len(z)} seeds) at truncation {psi:g}: "
              f"max {diff:.2e} (allowed {REF_ATOL:g})", flush=True)
        if not diff <= REF_ATOL:
            raise ExportError(f"the rebuilt network differs from NVlabs' reference outputs by {diff:.2e} at truncation {psi:g} "
                              f"(allowed {REF_ATOL:g}); nothing written")
        worst = max(worst, diff)
    return worst


def _labels(g: Generator, n: int) -> np.ndarray | None:
    """One-hot labels cycling through every class (None for unconditional models)."""
    if not g.c_dim:
        return None
    return np.eye(g.c_dim, dtype=np.float32)[np.arange(n) % g.c_dim]


def _trace(module: torch.nn.Module, example: dict, output: str, path: Path, opset: int, exporter: str) -> str:
    """Export ``module`` with the batch axis of every non-scalar input dynamic; returns the exporter
    used. ``auto`` tries the legacy (TorchScript) exporter first: for these networks it is about 3x
    faster than the torch.export-based one and passes the same gates (docs/importing.md)."""
    order = {"auto": ("legacy", "dynamo"), "legacy": ("legacy",), "dynamo": ("dynamo",)}[exporter]
    for i, name in enumerate(order):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                (_trace_legacy if name == "legacy" else _trace_dynamo)(module, example, output, path, opset)
            return name
        except Exception as e:  # noqa: BLE001 — exporters fail in many ways; the other one is the fallback
            first = str(e).splitlines()[0][:300] if str(e) else type(e).__name__
            if i == len(order) - 1:
                raise ExportError(f"the {name} ONNX exporter failed: {first}") from None
            print(f"ganplug export: the {name} exporter failed ({type(e).__name__}); trying the {order[i + 1]} one", flush=True)
    raise AssertionError("unreachable")


def _trace_legacy(module: torch.nn.Module, example: dict, output: str, path: Path, opset: int) -> None:
    torch.onnx.export(module, tuple(example.values()), str(path), input_names=list(example), output_names=[output],
                      opset_version=opset, dynamo=False,
                      dynamic_axes={**{k: {0: "N"} for k, v in example.items() if v.ndim}, output: {0: "N"}})


def _trace_dynamo(module: torch.nn.Module, example: dict, output: str, path: Path, opset: int) -> None:
    batch = torch.export.Dim("N", min=1, max=4096)
    prog = torch.onnx.export(module, tuple(example.values()), None, input_names=list(example), output_names=[output],
                             dynamic_shapes={k: ({0: batch} if v.ndim else None) for k, v in example.items()},
                             dynamo=True, opset_version=opset, verbose=False)
    prog.save(str(path))


def _finish(raw: Path, meta: contract.ModelMetadata, path: Path, half: bool = False) -> Path:
    """Stamp metadata, optionally convert to fp16, check with onnx.checker, save."""
    import onnx

    m = onnx.load(str(raw), load_external_data=True)
    if half:
        from onnxconverter_common import float16

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = float16.convert_float_to_float16(m, keep_io_types=True)
    del m.metadata_props[:]
    onnx.helper.set_model_props(m, meta.to_props())
    m.producer_name = "ganplug"
    try:
        onnx.checker.check_model(m, full_check=True)
    except Exception as e:  # noqa: BLE001
        raise ExportError(f"the exported graph fails onnx.checker: {str(e).splitlines()[0][:300]}") from None
    onnx.save(m, str(path))
    return path


def _session(path: Path):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def _gate(label: str, got: np.ndarray, want: np.ndarray, psi: float, bound: int) -> tuple[int, float]:
    """Print and check the largest and mean uint8 difference; returns both."""
    diff = np.abs(got.astype(np.int16) - want.astype(np.int16))
    worst, mean = int(diff.max()), float(diff.mean())
    print(f"{label} vs rebuild on {len(got)} seeds at truncation {psi:g}: max {worst} level(s), "
          f"mean {mean:.4f} (allowed max {bound})", flush=True)
    if worst > bound:
        raise ExportError(f"{label} output at truncation {psi:g} differs from the rebuild by up to {worst} levels "
                          f"(allowed {bound}); nothing written")
    return worst, mean


def _chunks(n: int, resolution: int) -> list[slice]:
    """Seed batches for the gates: 16 at 256 px and below, then fewer, so 1024 px fits in memory."""
    size = max(1, min(16, 16 * 256 * 256 // (resolution * resolution)))
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


def _run(session, z: np.ndarray, psi: float, c: np.ndarray | None, resolution: int) -> np.ndarray:
    return np.concatenate([session.run(None, _inputs(z[s], psi, None if c is None else c[s]))[0]
                           for s in _chunks(len(z), resolution)])


def _inputs(z: np.ndarray, psi: float, c: np.ndarray | None) -> dict[str, np.ndarray]:
    feed = {contract.INPUT_Z: z, contract.INPUT_TRUNCATION: np.asarray(psi, np.float32)}
    if c is not None:
        feed[INPUT_C] = c
    return feed


def _example(g: Generator) -> dict[str, torch.Tensor]:
    ex = {contract.INPUT_Z: torch.zeros(2, g.z_dim), contract.INPUT_TRUNCATION: torch.tensor(1.0)}
    if g.c_dim:
        ex[INPUT_C] = torch.from_numpy(_labels(g, 2))
    return ex


def metadata(imp: Imported, dataset: str | None) -> contract.ModelMetadata:
    """Contract metadata of an imported generator."""
    g = imp.generator
    return contract.ModelMetadata(
        contract=contract.CONTRACT_VERSION, z_dim=g.z_dim, resolution=g.img_resolution, channels=g.img_channels,
        width=g.img_resolution, height=g.img_resolution,
        architecture=g.kind, dataset=dataset or imp.training_set, source=imp.source, w_dim=g.w_dim, num_ws=g.num_ws,
        parameters=sum(p.numel() for p in g.parameters()), c_dim=g.c_dim or None)


def export_snapshot(config: ExportConfig) -> ExportReport:
    """Import ``config.source`` (an NVlabs pickle), gate it, write ``config.output`` (and halves)."""
    from ..train.directions import principal_directions

    source, out = Path(config.source), Path(config.output)
    imp = rebuild(source)
    g = imp.generator
    ref = reference_file(source)
    if ref is not None:
        check_reference(g, ref)
    else:
        print(f"no NVlabs reference outputs beside {source.name} (NAME.ref.npz); checking the export against the rebuild only", flush=True)
    z = z_batch(list(PARITY_SEEDS), g.z_dim)
    c = _labels(g, len(z))
    tz, tc = torch.from_numpy(z), None if c is None else torch.from_numpy(c)
    with torch.no_grad():
        want = {psi: torch.cat([to_uint8_nhwc(g(tz[s], None if tc is None else tc[s], torch.tensor(psi)))
                                for s in _chunks(len(z), g.img_resolution)]).numpy() for psi in PARITY_TRUNCATION}
    meta = metadata(imp, config.dataset).with_directions(principal_directions(g, g.z_dim))
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".ganplug-export-") as tmp:
        tmpdir = Path(tmp)
        used = _trace(WholeGraph(g).eval(), _example(g), contract.OUTPUT_IMAGE, tmpdir / "raw.onnx", config.opset, config.exporter)
        staged = {out: _finish(tmpdir / "raw.onnx", replace(meta, exporter=used, precision="fp32"), tmpdir / "model.onnx")}
        worst, mean = _check_whole(staged[out], z, c, want, "ONNX", MAX_LEVELS)
        if config.half:
            half = out.with_name(out.stem + ".fp16" + out.suffix)
            staged[half] = _finish(tmpdir / "raw.onnx", replace(meta, exporter=used, precision="fp16"), tmpdir / "half.onnx", half=True)
            _check_whole(staged[half], z, c, want, "fp16 ONNX", HALF_MAX_LEVELS)
        if config.split:
            staged.update(_split(g, meta, z, c, want, tmpdir, out, config))
        _check_engine(staged[out], g)
        for final, path in staged.items():
            os.replace(path, final)
    parts = tuple(p for p in staged if p.stem.endswith((".mapping", ".synthesis")))
    half_path = next((p for p in staged if p.stem.endswith(".fp16")), None)
    return ExportReport(out, used, worst, mean, len(z), out.stat().st_size, half_path, parts)


def _check_whole(path: Path, z: np.ndarray, c: np.ndarray | None, want: dict, label: str, bound: int) -> tuple[int, float]:
    s = _session(path)
    res = int(next(iter(want.values())).shape[1])
    figures = [_gate(label, _run(s, z, psi, c, res), frames, psi, bound) for psi, frames in want.items()]
    return max(f[0] for f in figures), max(f[1] for f in figures)


def _check_engine(path: Path, g: Generator) -> None:
    """The file loads in ganplug's engine as a contract model (the server's own check)."""
    from ..runtime.engine import Engine, EngineConfig

    engine = Engine(str(path), EngineConfig(device="cpu", cache_dir=None))
    if engine.info.c_dim != g.c_dim:
        raise ExportError(f"the written file reports c_dim {engine.info.c_dim}, expected {g.c_dim}")


def _split(g: Generator, meta: contract.ModelMetadata, z: np.ndarray, c: np.ndarray | None, want: dict, tmpdir: Path, out: Path,
           config: ExportConfig) -> dict[Path, Path]:
    """Mapping (z, ψ[, c] -> w) and synthesis (w -> image) graphs, checked chained against the rebuild."""
    base = replace(meta, directions=None, directions_shape=None)  # directions live in z: the mapping's
    staged = {}
    for name, module, example, output in (
            ("mapping", MappingGraph(g), _example(g), contract.OUTPUT_W),
            ("synthesis", SynthesisGraph(g), {contract.INPUT_W: torch.zeros(2, g.w_dim)}, contract.OUTPUT_IMAGE)):
        raw = tmpdir / f"raw-{name}.onnx"
        used = _trace(module.eval(), example, output, raw, config.opset, config.exporter)
        part = replace(meta if name == "mapping" else base, part=name, exporter=used, precision="fp32")
        staged[out.with_name(f"{out.stem}.{name}{out.suffix}")] = _finish(raw, part, tmpdir / f"model-{name}.onnx")
    mapping, synthesis = (_session(p) for p in staged.values())
    for psi, frames in want.items():
        w = mapping.run(None, _inputs(z, psi, c))[0]
        got = np.concatenate([synthesis.run(None, {contract.INPUT_W: w[s]})[0] for s in _chunks(len(w), g.img_resolution)])
        _gate("split (mapping -> synthesis) ONNX", got, frames, psi, MAX_LEVELS)
    return staged
