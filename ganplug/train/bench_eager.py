"""PyTorch eager timings of a checkpoint's generator, for ``ganplug bench --checkpoint``.

The training side's half of the benchmark: it needs torch, so ``runtime/bench.py`` imports
it only when a checkpoint is given.
"""

from __future__ import annotations

from typing import Sequence

import torch

from ..runtime.bench import BenchRow, time_calls
from ..seeds import z_batch
from .checkpoint import load_generator
from .models import ContractModel


def bench_torch(source: str, batches: Sequence[int], runs: int, threads: int) -> list[BenchRow]:
    """PyTorch eager on the checkpoint's EMA generator, post-processing included (as the ONNX graph)."""
    g, cfg, _ = load_generator(source)
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
