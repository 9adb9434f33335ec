"""``ganplug info``: check a model against the contract and print what it carries.

Needs only onnxruntime (and onnx, when installed, to count a foreign model's parameters).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from . import contract
from .errors import ContractError
from .runtime.engine import Engine, EngineConfig, default_model_path


@dataclass(frozen=True)
class InfoConfig:
    model: str | None = None  # None: the bundled model
    engine: EngineConfig = EngineConfig()
    bench: bool = False  # also time the model on this machine
    bench_batches: tuple[int, ...] = (1, 4)
    bench_runs: int = 20


def info(config: InfoConfig) -> None:
    """Print the model's graph, metadata, directions, parameter count and provider (and timings).

    A half of a split export is described too; any other contract break raises :class:`ContractError`."""
    try:
        engine = Engine(config.model or str(default_model_path()), config.engine)
    except ContractError:
        if not describe_part(config.model):
            raise
        return
    model = engine.info
    print_graph(model.path, f"version {model.contract}", engine.session, model.metadata)
    print(f"frame      {model.width} x {model.height} (W x H), {model.channels} channels")
    d = contract.directions(model)
    if d is not None:
        print(f"directions {len(d)} in z (/ganplug/direction/0..{len(d) - 1})")
    print(f"parameters {parameter_count(model)}")
    print(f"provider   {engine.provider}")
    if config.bench:
        from .runtime.bench import bench_engine

        for row in bench_engine(engine, config.bench_batches, config.bench_runs, engine.provider):
            print(f"bench      batch {row.batch}: {row.frames_per_s:.1f} frames/s, {row.p50_ms:.2f} ms per run (median)")


def describe_part(path: str | None) -> bool:
    """Describe one half of a split export (which no server plays alone); False if it is not one."""
    import onnxruntime as ort

    if not path:
        return False
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    try:
        session = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    except Exception:  # not loadable at all: the engine's own error says so better
        return False
    props = session.get_modelmeta().custom_metadata_map
    part = contract.split_part(props)
    if part is None:
        return False
    version = props.get(contract.ModelMetadata.key("contract"))
    print_graph(path, f"version {version}, {part} half of a split export", session, props)
    return True


def print_graph(path: str, contract_line: str, session: Any, props: Mapping[str, str]) -> None:
    """The first lines of ``ganplug info``: file, contract, inputs, outputs, metadata."""
    print(f"model      {path} ({Path(path).stat().st_size / 1e6:.2f} MB)")
    print(f"contract   {contract_line}")
    for i in session.get_inputs():
        print(f"input      {i.name} {i.type} {i.shape}")
    for o in session.get_outputs():
        print(f"output     {o.name} {o.type} {o.shape}")
    for k, v in sorted(props.items()):
        print(f"metadata   {k} = {v if len(v) <= 100 else f'<{len(v)} characters>'}")


def parameter_count(model: contract.ModelInfo) -> str:
    """From the export's metadata, else by reading the graph with onnx (when installed)."""
    if model.meta is not None and model.meta.parameters is not None:
        return f"{model.meta.parameters:,}"
    try:
        import onnx
        from onnx import numpy_helper
    except ModuleNotFoundError:
        return "unknown (install onnx to count them)"
    m = onnx.load(model.path, load_external_data=False)
    return f"{sum(numpy_helper.to_array(t).size for t in m.graph.initializer):,} (every initializer of the graph)"
