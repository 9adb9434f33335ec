"""Training throughput: `ganplug train` against a plain PyTorch DCGAN loop written here.

Same architecture (ganplug's DCGAN G and D), batch size, optimiser and 64 px data, measured in
one run with the rows interleaved so background load hits them alike. Images/s is the loop's
steady rate (the first --warmup steps and start-up left out). Goal: ganplug >= 1.0x on the CPU.

Rows:
  plain, in memory   the reference loop on a preloaded uint8 tensor (its best case)
  plain, files       the same loop fed by a DataLoader that decodes the image files every epoch
                     (how tutorials write it; the cost ganplug's cache removes)
  ganplug            `ganplug train --arch dcgan --augment off` (EMA on, as always)
  ganplug + ADA      `ganplug train --arch dcgan` (augmentation on, adaptive p)

    ./dev bench train_throughput [--steps 200] [--rounds 2] [--proc DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from PIL import Image  # noqa: E402

from common import CACHE  # noqa: E402

RES, BATCH, Z = 64, 32, 128


class Files(torch.utils.data.Dataset):
    def __init__(self, files: list[Path]):
        self.files = files

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> torch.Tensor:
        im = Image.open(self.files[i]).convert("RGB").resize((RES, RES), Image.Resampling.LANCZOS)
        return torch.from_numpy(np.asarray(im).copy()).permute(2, 0, 1)


def plain_loop(batches, steps: int, warmup: int) -> float:
    """The textbook DCGAN step (PyTorch's example): images/s after ``warmup`` steps."""
    from ganplug.train.models import build

    torch.manual_seed(0)
    G, D = build("dcgan", z_dim=Z, resolution=RES, channels=3, g_width=32, d_width=32)
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    t0 = None
    for step in range(steps + warmup):
        if step == warmup:
            t0 = time.perf_counter()
        real = next(batches).float().div(127.5).sub(1.0)
        fake = G(torch.randn(BATCH, Z))
        loss_d = F.softplus(-D(real)).mean() + F.softplus(D(fake.detach())).mean()
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        loss_g = F.softplus(-D(fake)).mean()
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
    return steps * BATCH / (time.perf_counter() - t0)


def in_memory(data: torch.Tensor):
    g = torch.Generator().manual_seed(1)
    while True:
        yield data[torch.randint(len(data), (BATCH,), generator=g)]


def from_files(files: list[Path]):
    loader = torch.utils.data.DataLoader(Files(files), batch_size=BATCH, shuffle=True, drop_last=True, num_workers=1)
    while True:
        yield from loader


def ganplug_loop(data_dir: Path, steps: int, warmup: int, **kw) -> float:
    from ganplug.train.config import TrainConfig
    from ganplug.train.loop import train

    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        cache = CACHE / "throughput-cache"
        if cache.is_dir():  # the decoded array from an earlier row: only the loop is measured
            run.mkdir()
            (run / "cache").symlink_to(cache.resolve(), target_is_directory=True)
        total = steps + warmup
        train(TrainConfig(data=str(data_dir), out=str(run), arch="dcgan", resolution=RES, batch=BATCH, steps=total,
                          log_every=warmup, sample_every=10**9, checkpoint_every=10**9, swd_every=0, progress=False, **kw))
        if not cache.is_dir():
            cache.parent.mkdir(parents=True, exist_ok=True)
            (run / "cache").rename(cache)
        recs = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    first = next(r for r in recs if r["step"] == warmup)
    return (recs[-1]["images"] - first["images"]) / (recs[-1]["time"] - first["time"])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=200, help="timed steps per row and round (default 200)")
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--proc", help="an existing `ganplug dataset` folder (default: generate 4000 images of 128 px)")
    ap.add_argument("--files", action="store_true", help="also time the plain loop reading files (slow)")
    a = ap.parse_args()

    from ganplug.procedural import generate
    from ganplug.train.data import load_folder, scan

    proc = Path(a.proc) if a.proc else CACHE / "procedural"
    if not a.proc and len(list(proc.glob("*.png"))) != 4000:
        generate(proc, 4000, 128, seed=0)
    arr, _ = load_folder(proc, RES, CACHE / "throughput-plain", progress=False)
    data = torch.from_numpy(np.array(arr)).permute(0, 3, 1, 2).contiguous()
    rows: dict[str, list[float]] = {}
    print(f"DCGAN {RES}px, widths 32, batch {BATCH}, {torch.get_num_threads()} torch threads, {a.steps} timed steps "
          f"after {a.warmup}, {a.rounds} rounds; torch {torch.__version__}", flush=True)
    for rnd in range(a.rounds):
        rows.setdefault("plain, in memory", []).append(plain_loop(in_memory(data), a.steps, a.warmup))
        rows.setdefault("ganplug (augment off)", []).append(ganplug_loop(proc, a.steps, a.warmup, augment="off"))
        rows.setdefault("ganplug (default: ADA)", []).append(ganplug_loop(proc, a.steps, a.warmup))
        if a.files:
            rows.setdefault("plain, files (DataLoader)", []).append(plain_loop(from_files(scan(proc)), a.steps, a.warmup))
        print(f"round {rnd + 1}: " + ", ".join(f"{k} {v[-1]:.0f}" for k, v in rows.items()), flush=True)
    base = float(np.median(rows["plain, in memory"]))
    print(f"\n| loop | images/s (median of {a.rounds}) | vs plain in memory |\n|---|---:|---:|")
    for name, v in rows.items():
        print(f"| {name} | {np.median(v):.1f} | {np.median(v) / base:.2f}x |")


if __name__ == "__main__":
    main()
