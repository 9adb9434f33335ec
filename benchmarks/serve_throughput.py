"""Unpaced serving: complete frames/s delivered to a receiver in another process,
divided by the engine's own frames/s (goal ≥ 0.9), at 128 and 256 px.

The engine-only rate uses the engine configuration `serve` uses; both are measured in
this run, for each onnxruntime thread count given.

    ./dev bench serve_throughput [--seconds 10] [--threads 1 2]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))

from common import dcgan_model, free_port, server  # noqa: E402
from ganplug.runtime.engine import Engine, EngineConfig  # noqa: E402
from ganplug.seeds import z_from_seed  # noqa: E402


def engine_rate(path, threads: int, seconds: float) -> float:
    e = Engine(path, EngineConfig(device="cpu", threads=threads))
    e.warm_up()
    z = z_from_seed(0, e.info.z_dim)[None]
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        e.run(z)
        n += 1
    return n / (time.perf_counter() - t0)


def delivered_rate(path, threads: int, seconds: float) -> tuple[float, str]:
    port = free_port()
    rx = subprocess.Popen([sys.executable, "-m", "ganplug", "receive", "--listen", f"127.0.0.1:{port}", "--seconds", str(seconds + 2),
                           "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)
    with server(path, "--send", f"127.0.0.1:{port}", "--fps", "0", "--threads", str(threads), "--seconds", str(seconds + 4)):
        out, err = rx.communicate(timeout=seconds + 30)
    m = re.search(r"received (\d+) complete frames in ([\d.]+) s \(([\d.]+) frames/s\); dropped (\d+) incomplete", out)
    if not m:
        raise RuntimeError(out + err)
    return float(m.group(3)), f"{m.group(1)} frames, {m.group(4)} incomplete"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    a = p.parse_args()
    print(f"{'px':>4} {'threads':>7} {'engine f/s':>11} {'delivered f/s':>14} {'ratio':>6}  notes")
    for res in a.sizes:
        _, path = dcgan_model(res)
        for threads in a.threads:
            eng = engine_rate(path, threads, a.seconds / 2)
            got, note = delivered_rate(path, threads, a.seconds)
            print(f"{res:>4} {threads:>7} {eng:>11.1f} {got:>14.1f} {got / eng:>6.2f}  {note}", flush=True)


if __name__ == "__main__":
    main()
