"""Training images/s on a CUDA GPU with mixed precision (and channels_last) on and off, at 128 and
256 px, for the style recipe and DCGAN. Prints a note and exits where there is no CUDA device.

    ./dev bench train_amp [--steps 100] [--batch 32]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))

import torch  # noqa: E402

from common import CACHE  # noqa: E402


def rate(data: Path, arch: str, res: int, batch: int, steps: int, warmup: int, **kw) -> float:
    from ganplug.train.config import TrainConfig
    from ganplug.train.loop import train

    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp)
        train(TrainConfig(data=str(data), out=str(run), arch=arch, resolution=res, batch=batch, steps=steps + warmup,
                          log_every=warmup, sample_every=10**9, checkpoint_every=10**9, swd_every=0, progress=False,
                          device="cuda", **kw))
        recs = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    first = next(r for r in recs if r["step"] == warmup)
    return (recs[-1]["images"] - first["images"]) / (recs[-1]["time"] - first["time"])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    a = ap.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device: nothing to measure (mixed precision is a CUDA option)")
        return
    from ganplug.procedural import generate

    data = CACHE / "procedural-256"
    if len(list(data.glob("*.png"))) != 1000:
        generate(data, 1000, 256, seed=0, progress=False)
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}, batch {a.batch}, {a.steps} timed steps")
    print(f"| arch | px | float32 img/s | mixed img/s | speed-up | mixed + channels_last img/s |\n|---|---:|---:|---:|---:|---:|")
    for arch in ("style", "dcgan"):
        for res in a.sizes:
            off = rate(data, arch, res, a.batch, a.steps, a.warmup, amp=False, channels_last=False)
            on = rate(data, arch, res, a.batch, a.steps, a.warmup, amp=True, channels_last=False)
            both = rate(data, arch, res, a.batch, a.steps, a.warmup, amp=True, channels_last=True)
            print(f"| {arch} | {res} | {off:.0f} | {on:.0f} | {on / off:.2f}x | {both:.0f} |", flush=True)


if __name__ == "__main__":
    main()
