"""Quality at a fixed image budget: SWD of training recipes on two data sets, and augmentation
on and off on a 100-image subset.

Rows (each a `ganplug train` run of --kimg thousand images, then SWD of 1024 images of its EMA
generator against 2048 images of the *full* data set, the same reference for every row). Runs
are kept in --out: a later call with a larger --kimg resumes them (exactly) instead of starting
again. img/s is the median of the run's metrics log.
  plain-dcgan    DCGAN, no augmentation, no moving average (what a textbook loop does)
  dcgan          DCGAN with ganplug's defaults (ADA augmentation, EMA)
  style          the style-based generator with ganplug's defaults (ADA, EMA, R1)
  *-100/...      a recipe on the first 100 procedural images, augmentation ada / off (/ fixed 0.5)

Data sets: `procedural` (ganplug dataset, 4000 images of 128 px, trained at 64 px) and `photos`
(2000 random 64x64 crops of scikit-image's bundled colour photographs, seeded).

    ./dev bench train_quality [--kimg 20] [--only procedural/style ...] [--proc DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from common import CACHE  # noqa: E402

PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "hubble_deep_field.jpg", "ihc.png", "motorcycle_left.png",
          "motorcycle_right.png", "retina.jpg", "rocket.jpg")

RECIPES = {  # row -> (TrainConfig overrides, use the 100-image subset)
    "plain-dcgan": ({"arch": "dcgan", "augment": "off", "ema_kimg": 0.0}, False),
    "dcgan": ({"arch": "dcgan"}, False),
    "style": ({"arch": "style"}, False),
    "style-100/ada": ({"arch": "style"}, True),
    "style-100/off": ({"arch": "style", "augment": "off"}, True),
    "style-100/fixed0.5": ({"arch": "style", "augment": "fixed", "augment_p": 0.5}, True),
    "dcgan-100/ada": ({"arch": "dcgan"}, True),
    "dcgan-100/off": ({"arch": "dcgan", "augment": "off"}, True),
}
DEFAULT_ROWS = ("procedural/plain-dcgan", "procedural/dcgan", "photos/plain-dcgan", "photos/dcgan",
                "procedural/dcgan-100/ada", "procedural/dcgan-100/off", "procedural/style", "photos/style",
                "procedural/style-100/ada", "procedural/style-100/off")


def photo_crops(out: Path, count: int = 2000, size: int = 64, seed: int = 0) -> Path:
    """``count`` random ``size`` px crops of scikit-image's colour photographs (needs the bench extra)."""
    if out.is_dir() and len(list(out.glob("*.png"))) == count:
        return out
    skimage_crops(out, PHOTOS, count, seed, size)
    return out


def skimage_crops(out: Path, names: tuple[str, ...], count: int, seed: int, size: int = 64) -> None:
    """``count`` random ``size`` px RGB crops of the named scikit-image pictures, as PNGs in ``out``."""
    import skimage

    root = Path(skimage.__file__).parent / "data"
    pictures = [np.asarray(Image.open(root / name).convert("RGB")) for name in names]
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        im = pictures[rng.integers(len(pictures))]
        y, x = rng.integers(0, im.shape[0] - size + 1), rng.integers(0, im.shape[1] - size + 1)
        Image.fromarray(im[y:y + size, x:x + size]).save(out / f"{i:05d}.png")


def subset(src: Path, out: Path, count: int = 100) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    for p in sorted(src.glob("*.png"))[:count]:
        link = out / p.name
        if not link.exists():
            link.symlink_to(p.resolve())
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kimg", type=float, default=20.0, help="training budget per row, thousands of images (default 20)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--only", nargs="+", default=list(DEFAULT_ROWS), help="rows, DATASET/RECIPE (default: %(default)s)")
    ap.add_argument("--proc", help="an existing `ganplug dataset` folder to use as the procedural set")
    ap.add_argument("--out", default=str(CACHE / "quality"), help="folder for data and runs")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--eval-images", type=int, default=1024)
    a = ap.parse_args()

    import torch

    from ganplug.procedural import generate
    from ganplug.swd import Reference
    from ganplug.train.config import TrainConfig
    from ganplug.train.data import load_folder
    from ganplug.train.loop import generate as generate_images
    from ganplug.train.loop import train
    from ganplug.train import checkpoint

    out = Path(a.out)
    proc = Path(a.proc) if a.proc else out / "procedural"
    if not a.proc and len(list(proc.glob("*.png"))) != 4000:
        generate(proc, 4000, 128, seed=0)
    sets = {"procedural": proc, "photos": photo_crops(out / "photos")}
    refs: dict[str, Reference] = {}
    steps = int(a.kimg * 1000 / a.batch)
    print(f"budget {a.kimg:g} kimg = {steps} steps of {a.batch} at 64 px; SWD x1e3 of {a.eval_images} EMA images "
          f"vs 2048 images of the full set; torch threads {a.threads or torch.get_num_threads()}", flush=True)
    results = []
    for row in a.only:
        name, recipe = row.split("/", 1)
        overrides, small = RECIPES[recipe]
        data = subset(sets[name], out / f"{name}-100") if small else sets[name]
        if name not in refs:
            full, _ = load_folder(sets[name], 64, out / "cache" / name, progress=False)
            pick = np.sort(np.random.default_rng(0).permutation(len(full))[:2048])
            refs[name] = Reference(np.asarray(full[pick]))
        run = out / "runs" / f"{name}-{recipe.replace('/', '-')}"
        cfg = TrainConfig(data=str(data), out=str(run), resolution=64, batch=a.batch, steps=steps, progress=False,
                          swd_every=0, sample_every=max(steps // 4, 1), checkpoint_every=steps, threads=a.threads,
                          **overrides)
        # A run of a smaller budget continues to this one (resuming is exact, so this equals a fresh run).
        state = checkpoint.load(run) if checkpoint.list_checkpoints(run) else None
        if state is not None and state["step"] > steps:
            raise SystemExit(f"{run} is past {steps} steps; remove it or give a larger --kimg")
        t0 = time.perf_counter()
        if state is None or state["step"] < steps:
            train(cfg, state)
        wall = time.perf_counter() - t0
        g, _, _ = checkpoint.load_generator(str(run))
        swd = refs[name].distance(generate_images(g, cfg.z_dim, torch.device("cpu"), range(a.eval_images)))
        lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
        p = lines[-1].get("augment_p", 0.0)
        ips = float(np.median([x["images_per_s"] for x in lines if "images_per_s" in x]))
        results.append((row, wall, ips, p, swd))
        print(f"{row:<28} {wall:7.0f} s  {ips:6.1f} img/s  p_end {p:.3f}  {swd}", flush=True)

    print(f"\n| data set / recipe | wall s (this call) | img/s | final p | SWD mean | " +
          " | ".join(f"{r} px" for r in sorted(results[0][4].levels, reverse=True)) + " |")
    print("|---|---:|---:|---:|---:|" + "---:|" * len(results[0][4].levels))
    for row, wall, ips, p, swd in results:
        print(f"| {row} | {wall:.0f} | {ips:.1f} | {p:.3f} | **{swd.mean:.2f}** | " +
              " | ".join(f"{v:.2f}" for _, v in sorted(swd.levels.items(), reverse=True)) + " |")


if __name__ == "__main__":
    main()
