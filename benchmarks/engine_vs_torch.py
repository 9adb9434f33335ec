"""The ganplug engine (onnxruntime) against PyTorch eager on the same DCGAN generator.

Batch 1, 64/128/256 px, DCGAN width 64; both sides use every core, measured side by
side in one run. Prints median latencies and the ratio torch / engine (goal: ≥ 2 on CPU).

    ./dev bench engine_vs_torch [--runs 40]
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from common import dcgan_model  # noqa: E402
from ganplug.runtime.bench import time_calls  # noqa: E402
from ganplug.runtime.engine import Engine, EngineConfig  # noqa: E402
from ganplug.seeds import z_from_seed  # noqa: E402
from ganplug.train.models import ContractModel  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=40)
    p.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256])
    a = p.parse_args()
    cores = os.cpu_count() or 1
    torch.set_num_threads(cores)
    print(f"batch 1, {cores} cores, torch {torch.__version__} threads {torch.get_num_threads()}")
    print(f"{'px':>4} {'torch eager ms':>15} {'engine ms':>10} {'engine+spin ms':>15} {'ratio':>6} {'ratio+spin':>11}")
    for res in a.sizes:
        g, path = dcgan_model(res)
        model = ContractModel(g).eval()
        z = z_from_seed(1, 128)[None]
        zt = torch.from_numpy(z)
        plain = Engine(path, EngineConfig(device="cpu", threads=cores))
        spin = Engine(path, EngineConfig(device="cpu", threads=cores, spinning=True))
        with torch.no_grad():
            assert np.abs(model(zt).numpy().astype(int) - plain.run(z).astype(int)).max() <= 1

            def eager() -> None:
                with torch.no_grad():
                    model(zt)
            # interleave the three so background load affects them alike
            t, e, s = [], [], []
            for _ in range(4):
                t.append(time_calls(eager, a.runs // 4)[0])
                e.append(time_calls(lambda: plain.run(z), a.runs // 4)[0])
                s.append(time_calls(lambda: spin.run(z), a.runs // 4)[0])
        tm, em, sm = np.median(t), np.median(e), np.median(s)
        print(f"{res:>4} {tm:>15.2f} {em:>10.2f} {sm:>15.2f} {tm / em:>6.2f} {tm / sm:>11.2f}", flush=True)


if __name__ == "__main__":
    main()
