"""``ganplug bench``: frames/s and latency of a model, per provider and batch size.

PyTorch eager rows are added for a checkpoint when torch is installed; the
serving side never needs it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Callable, Sequence

import numpy as np

from ..seeds import z_batch
from .engine import Engine, EngineConfig


@dataclass(frozen=True)
class BenchRow:
    backend: str
    batch: int
    p50_ms: float
    p90_ms: float

    @property
    def frames_per_s(self) -> float:
        return self.batch / (self.p50_ms / 1e3)


def time_calls(fn: Callable[[], object], runs: int, warmup: int = 3) -> tuple[float, float]:
    """Median and 90th percentile of ``fn``'s wall time, in milliseconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    ms = np.array(times) * 1e3
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 90))


def bench_engine(engine: Engine, batches: Sequence[int], runs: int, label: str) -> list[BenchRow]:
    rows = []
    for b in batches:
        z = z_batch(list(range(b)), engine.info.z_dim)
        p50, p90 = time_calls(lambda: engine.run(z), runs)
        rows.append(BenchRow(label, b, p50, p90))
    return rows


def engine_variants(model: str, base: EngineConfig) -> list[tuple[str, Engine]]:
    """One engine per way of running this model here: CPU, and CUDA with and without I/O binding."""
    import onnxruntime as ort

    out = [("onnxruntime-cpu", Engine(model, replace(base, device="cpu")))]
    if base.device != "cpu" and "CUDAExecutionProvider" in ort.get_available_providers():
        for bound in (False, True):
            e = Engine(model, replace(base, device="cuda", io_binding=bound))
            if e.provider == "cuda":
                out.append(("onnxruntime-cuda" + ("+iobinding" if bound else ""), e))
    return out


def bench_torch(source: str, batches: Sequence[int], runs: int, threads: int) -> list[BenchRow]:
    """PyTorch eager on the checkpoint's EMA generator, post-processing included (as the ONNX graph)."""
    import torch

    from ..export import _load_generator
    from ..train.models import ContractModel

    g, cfg, _ = _load_generator(source)
    if threads:
        torch.set_num_threads(threads)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    rows = []
    for dev in devices:
        model = ContractModel(g.to(dev)).eval()
        for b in batches:
            z = torch.from_numpy(z_batch(list(range(b)), cfg.z_dim)).to(dev)

            def call() -> None:
                with torch.no_grad():
                    model(z).cpu()
            p50, p90 = time_calls(call, runs)
            rows.append(BenchRow(f"torch-eager-{dev}", b, p50, p90))
    return rows


def table(rows: Sequence[BenchRow]) -> str:
    lines = [f"{'backend':<28} {'batch':>5} {'p50 ms':>8} {'p90 ms':>8} {'frames/s':>9}"]
    for r in rows:
        lines.append(f"{r.backend:<28} {r.batch:>5} {r.p50_ms:>8.2f} {r.p90_ms:>8.2f} {r.frames_per_s:>9.1f}")
    return "\n".join(lines)
