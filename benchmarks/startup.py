"""Time to first frame: loading a model and running it once, with and without the cached
optimised graph (`EngineConfig.cache_dir`). Each start is a fresh process.

    ./dev bench startup [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))

from common import dcgan_model  # noqa: E402

PROBE = """
import sys, time
t0 = time.perf_counter()
from ganplug.runtime.engine import Engine, EngineConfig
import numpy as np
t1 = time.perf_counter()
cache = None if sys.argv[2] == 'off' else sys.argv[2]
e = Engine(sys.argv[1], EngineConfig(device='cpu', cache_dir=cache))
e.run(np.zeros((1, e.info.z_dim), np.float32))
t2 = time.perf_counter()
print(f"{(t2 - t1) * 1e3:.1f} {(t2 - t0) * 1e3:.1f} {int(e.cached_start)}")
"""


def start(path, cache: str) -> tuple[float, float, bool]:
    out = subprocess.run([sys.executable, "-c", PROBE, str(path), cache], capture_output=True, text=True, check=True).stdout.split()
    return float(out[0]), float(out[1]), out[2] == "1"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256])
    a = p.parse_args()
    print(f"{'px':>4} {'MB':>6} {'no cache ms':>12} {'first start ms':>15} {'cached start ms':>16}   (engine + first frame; imports excluded)")
    for res in a.sizes:
        _, path = dcgan_model(res)
        plain, first, cached = [], [], []
        for _ in range(a.repeat):
            plain.append(start(path, "off")[0])
            with tempfile.TemporaryDirectory() as d:
                ms, _, hit = start(path, d)
                assert not hit
                first.append(ms)
                ms, _, hit = start(path, d)
                assert hit
                cached.append(ms)
        mb = path.stat().st_size / 1e6
        print(f"{res:>4} {mb:>6.1f} {statistics.median(plain):>12.1f} {statistics.median(first):>15.1f} {statistics.median(cached):>16.1f}",
              flush=True)


if __name__ == "__main__":
    main()
