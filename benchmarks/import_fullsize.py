"""Importing a full-size NVlabs model: a randomly initialised StyleGAN2 config F (1024 px,
512 channels, z/w 512, 8 mapping layers) written as a genuine-format network snapshot,
exported with `ganplug export` (gates included), then one onnxruntime inference on the CPU.

    ./dev bench import_fullsize [--resolution 1024] [--kind stylegan2|stylegan3] [--exporter legacy]

Prints the pickle size, export time, ONNX file size and CPU inference time (batch 1). Heavy:
minutes and several GB of memory at 1024 px; run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the snapshot writer lives with the tests

CONFIG_F = dict(z_dim=512, c_dim=0, w_dim=512, img_channels=3, mapping_kwargs={"num_layers": 8},
                channel_base=32768, channel_max=512)
STYLEGAN3_T = dict(z_dim=512, c_dim=0, w_dim=512, img_channels=3, mapping_kwargs={"num_layers": 2},
                   channel_base=32768, channel_max=512, magnitude_ema_beta=0.999)


def run(resolution: int = 1024, kind: str = "stylegan2", exporter: str = "legacy", threads: int = 0) -> dict:
    """Write, export and run one full-size model; returns the measured figures."""
    import numpy as np

    from ganplug.export import ExportConfig, export
    from ganplug.runtime.engine import Engine, EngineConfig
    from ganplug.seeds import z_from_seed
    from nvlabs_helpers import random_generator, write_snapshot

    kw = {**(CONFIG_F if kind == "stylegan2" else STYLEGAN3_T), "img_resolution": resolution}
    with tempfile.TemporaryDirectory(prefix="ganplug-import-bench-") as tmp:
        g = random_generator(kind, **kw)
        params = sum(p.numel() for p in g.parameters())
        pkl = write_snapshot(Path(tmp) / "network-snapshot-000000.pkl", g, kw)
        del g
        t0 = time.perf_counter()
        rep = export(ExportConfig(source=str(pkl), output=str(Path(tmp) / "full.onnx"), exporter=exporter))
        export_s = time.perf_counter() - t0
        engine = Engine(str(rep.path), EngineConfig(device="cpu", threads=threads, cache_dir=None))
        z = z_from_seed(0, 512)[None]
        t1 = time.perf_counter()
        frame = engine.run(z, truncation=0.7)
        first_s = time.perf_counter() - t1
        times = []
        for _ in range(3):
            t1 = time.perf_counter()
            engine.run(z, truncation=0.7)
            times.append(time.perf_counter() - t1)
        return {"kind": kind, "resolution": resolution, "parameters": params, "pickle_mb": pkl.stat().st_size / 1e6,
                "onnx_mb": rep.size_bytes / 1e6, "export_s": export_s, "exporter": rep.exporter,
                "first_run_s": first_s, "run_s": float(np.median(times)), "frame_shape": frame.shape,
                "threads": threads or max(1, (os.cpu_count() or 2) - 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--resolution", type=int, default=1024)
    ap.add_argument("--kind", choices=("stylegan2", "stylegan3"), default="stylegan2")
    ap.add_argument("--exporter", choices=("auto", "dynamo", "legacy"), default="legacy")
    ap.add_argument("--threads", type=int, default=0, help="onnxruntime threads (default: all cores but one)")
    a = ap.parse_args()
    r = run(a.resolution, a.kind, a.exporter, a.threads)
    print(f"{r['kind']} {r['resolution']} px, {r['parameters']:,} parameters: pickle {r['pickle_mb']:.1f} MB, "
          f"export {r['export_s']:.1f} s ({r['exporter']} exporter, gates included), ONNX {r['onnx_mb']:.1f} MB, "
          f"CPU inference batch 1 ({r['threads']} threads): first {r['first_run_s']:.2f} s, then {r['run_s']:.2f} s "
          f"(median of 3), frame {r['frame_shape']}")


if __name__ == "__main__":
    main()
