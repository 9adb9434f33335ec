"""``ganplug bench``: frames/s and latency of a model, per provider and batch size.

With ``--checkpoint``, PyTorch eager rows come from ``train/bench_eager.py``, which needs
torch; without it, nothing here imports torch.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Callable, Sequence

import numpy as np

from ..errors import ConfigError
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


@dataclass(frozen=True)
class BenchConfig:
    """What ``ganplug bench`` times: every way this machine runs the model, and PyTorch eager
    on ``checkpoint`` when one is given (that needs the ``train`` extra)."""

    model: str
    engine: EngineConfig = EngineConfig()
    batches: tuple[int, ...] = (1, 2, 4, 8)
    runs: int = 30
    checkpoint: str | None = None

    def __post_init__(self) -> None:
        if self.runs < 1 or any(b < 1 for b in self.batches):
            raise ConfigError("--runs and --batches must be at least 1")


def bench(config: BenchConfig, announce: Callable[[Engine], None] = lambda engine: None) -> list[BenchRow]:
    """Rows for every engine variant and batch size; ``announce`` sees the first engine before timing starts."""
    variants = engine_variants(config.model, config.engine)
    announce(variants[0][1])
    rows = []
    for label, engine in variants:
        rows += bench_engine(engine, config.batches, config.runs, label)
    if config.checkpoint:
        from ..train.bench_eager import bench_torch  # torch: only here, only when asked for

        rows += bench_torch(config.checkpoint, config.batches, config.runs, config.engine.threads)
    return rows


def table(rows: Sequence[BenchRow]) -> str:
    lines = [f"{'backend':<28} {'batch':>5} {'p50 ms':>8} {'p90 ms':>8} {'frames/s':>9}"]
    for r in rows:
        lines.append(f"{r.backend:<28} {r.batch:>5} {r.p50_ms:>8.2f} {r.p90_ms:>8.2f} {r.frames_per_s:>9.1f}")
    return "\n".join(lines)
