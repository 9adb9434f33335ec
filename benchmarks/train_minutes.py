"""Quality per minute: training recipes side by side on the same wall-clock budget.

Every (data set, recipe) pair is one `ganplug train --minutes M --threads T` run; --jobs runs
go at once (two runs of one thread each on a 2-core machine is a fair comparison; run it on a
quiet machine, wall-clock figures mean nothing otherwise). At the end each run's EMA generator
is scored like issue 18 scores it: SWD x1e3 of 500 generated images (contract seeds 0..499)
against 500 real images of the set (a seeded choice, the same for every recipe), next to the
set's floor: those 500 against 500 other real images. One draw of 500 is noisy (a fixed
generator scored 39.0 to 48.4 with four disjoint draws), so the score printed is the mean over
--draws disjoint draws (seeds 0..499, 500..999, ...), with their range beside it; the first
draw alone is the score of the rounds run before --draws.

Printed: one table row per run (images seen, img/s, final SWD, SWD / floor). Written under
--out: the runs, and per data set plots/SET-swd-minutes.png, plots/SET-swd-images.png (the
trainer's SWD log: 512 generated vs 512 training images, every --swd-every steps) and
plots/SET-samples.png (each recipe's last sample grid).

Data sets (made on first use under --out/data):
  procedural  `ganplug dataset --count 1000 --size 64 --seed 11` (issue 18's set)
  photos      2000 random 64 px crops of scikit-image's colour photographs (train_quality.py's set)
  greyscale   1000 random 64 px crops of scikit-image's greyscale pictures and textures (brick,
              grass, gravel, camera, coins, moon, page, text), seed 5; not used for tuning

    python benchmarks/train_minutes.py --minutes 12 [--sets procedural photos] [--recipes default dcgan]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from common import CACHE, ROOT  # noqa: E402

# recipe -> `ganplug train` flags. "default" is no flags at all: whatever this machine gets.
RECIPES = {
    "default": [],
    "dcgan": ["--arch", "dcgan"],
    "style": ["--arch", "style"],
    "lite": ["--arch", "lite"],
    # candidates measured against the defaults (docs/training.md)
    "lite-decay": ["--arch", "lite", "--lr-final", "0.1"],
    "lite-r1": ["--arch", "lite", "--lr-final", "0.1", "--r1-gamma", "0.1"],
    "dcgan-decay": ["--arch", "dcgan", "--lr-final", "0.1"],
    "lite-slowd": ["--arch", "lite", "--lr-d", "2e-4"],
    "lite-fastada": ["--arch", "lite", "--ada-kimg", "25"],
    "lite-both": ["--arch", "lite", "--lr-d", "2e-4", "--ada-kimg", "25"],
    "lite-2e4": ["--arch", "lite", "--lr-g", "2e-4", "--lr-d", "2e-4"],
    "lite-slowd-r1": ["--arch", "lite", "--lr-d", "2e-4", "--r1-gamma", "0.1"],
    "lite-2e4-r1": ["--arch", "lite", "--lr-g", "2e-4", "--lr-d", "2e-4", "--r1-gamma", "0.1"],
    "lite-nohead": ["--arch", "lite", "--g-head", "0"],  # the default before its full-resolution layer
    "lite-mbstd": ["--arch", "lite", "--d-mbstd", "4"],  # a minibatch standard-deviation feature in D
    "lite-amp": ["--arch", "lite", "--amp"],  # bfloat16 autocast (on a CPU: pays where it has AMX)
    "lite-dhead": ["--arch", "lite", "--d-head", "16"],  # a discriminator layer at full resolution
}
GREYSCALE = ("brick.png", "grass.png", "gravel.png", "camera.png", "coins.png", "moon.png", "page.png", "text.png")
EVAL_IMAGES = 500


def make_set(name: str, root: Path) -> Path:
    """The folder of data set ``name`` under ``root``, written on first use."""
    out = root / name
    if out.is_dir() and any(out.glob("*.png")):
        return out
    if name == "procedural":
        from ganplug.procedural import generate

        generate(out, 1000, size=64, seed=11, progress=False)
    elif name == "photos":
        from train_quality import photo_crops

        photo_crops(out)
    elif name == "greyscale":
        from train_quality import skimage_crops

        skimage_crops(out, GREYSCALE, 1000, seed=5)
    else:
        raise SystemExit(f"unknown data set {name!r}")
    return out


def train_run(data: Path, run: Path, recipe: str, seed: int, a: argparse.Namespace) -> float:
    """One `ganplug train` subprocess on its own threads; returns its wall time in seconds."""
    cmd = [sys.executable, "-m", "ganplug", "train", str(data), "--out", str(run), "--minutes", str(a.minutes),
           "--threads", str(a.threads), "--swd-every", str(a.swd_every), "--sample-every", str(a.swd_every),
           "--checkpoint-every", "100000", "--no-progress", "--seed", str(seed), *RECIPES[recipe]]
    threads = str(a.threads)
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS=threads, OPENBLAS_NUM_THREADS=threads,
               MKL_NUM_THREADS=threads)
    t0 = time.perf_counter()
    run.parent.mkdir(parents=True, exist_ok=True)
    if not (run / "plots").is_dir():  # finished runs are kept: delete the folder to run again
        with open(str(run) + ".log", "w") as log:
            subprocess.run(cmd, check=True, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    return time.perf_counter() - t0


def score(run: Path, real: np.ndarray, draws: int = 1) -> list[float]:
    """SWD x1e3 of the run's EMA generator against ``real``, once per disjoint draw of 500
    contract seeds (0..499, 500..999, ...)."""
    import torch

    from ganplug.swd import Reference
    from ganplug.train.checkpoint import load_generator
    from ganplug.train.loop import generate

    g, _, _ = load_generator(str(run))
    ref = Reference(real)
    return [ref.distance(generate(g, g.z_dim, torch.device("cpu"), range(d * EVAL_IMAGES, (d + 1) * EVAL_IMAGES))).mean
            for d in range(draws)]


def halves(data: Path, cache: Path, size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Two disjoint seeded choices of 500 real images at ``size`` px: the reference, and the floor's other half."""
    from ganplug.train.data import load_folder

    images, _ = load_folder(data, size, cache, progress=False)
    order = np.random.default_rng(0).permutation(len(images))
    return np.asarray(images[np.sort(order[:EVAL_IMAGES])]), np.asarray(images[np.sort(order[EVAL_IMAGES:2 * EVAL_IMAGES])])


def set_plots(name: str, runs: dict[str, Path], out: Path, floor: float) -> None:
    from ganplug.train.plots import line_chart, read_metrics, samples_sheet, swd_curve

    rows = {recipe: read_metrics(run) for recipe, run in runs.items()}
    for x, label in (("minutes", "minutes of training"), ("images", "images seen")):
        line_chart({r: swd_curve(m, x) for r, m in rows.items()}, out / f"{name}-swd-{x}.png", xlabel=label,
                   ylabel="SWD x1e3 (512 vs 512)", title=f"{name}: SWD against {label}",
                   hlines=[(2 * floor, "2x floor"), (floor, "floor (real vs real)")])
    last = [(recipe, sorted((run / "samples").glob("step-*.png"))[-1]) for recipe, run in runs.items()
            if any((run / "samples").glob("step-*.png"))]
    samples_sheet(last, out / f"{name}-samples.png", tile=256)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=12.0, help="budget of every run (default 12)")
    ap.add_argument("--sets", nargs="+", default=["procedural", "photos", "greyscale"])
    ap.add_argument("--recipes", nargs="+", default=["default", "dcgan", "style"], choices=list(RECIPES))
    ap.add_argument("--draws", type=int, default=4, help="disjoint draws of 500 generated images per score (default 4)")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0], help="training seeds of every pair (default 0)")
    ap.add_argument("--jobs", type=int, default=2, help="runs at once (default 2)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per run (default 1)")
    ap.add_argument("--swd-every", type=int, default=250, help="steps between the trainer's SWD measurements")
    ap.add_argument("--out", default=str(CACHE / "minutes"))
    a = ap.parse_args()
    from ganplug.swd import swd

    out = Path(a.out)
    sets = {name: make_set(name, out / "data") for name in a.sets}
    tag = f"{a.minutes:g}min"
    # seed 0 keeps the folder name of the rounds run before --seeds, so they are reused
    runs = [(s, r, seed, out / "runs" / tag / (f"{s}-{r}" + (f"-s{seed}" if seed else "")))
            for s in sets for r in a.recipes for seed in a.seeds]
    print(f"{len(runs)} runs of {a.minutes:g} min, {a.jobs} at once, {a.threads} thread(s) each", flush=True)
    with ThreadPoolExecutor(a.jobs) as pool:
        walls = list(pool.map(lambda p: train_run(sets[p[0]], p[3], p[1], p[2], a), runs))
    print(f"\n| data set | recipe | seed | images seen | img/s | SWD x1e3 (500 vs 500: mean of the draws, range) | x floor |\n|---|---|---:|---:|---:|---:|---:|")
    for name in sets:
        real, other = halves(sets[name], out / "cache" / name)
        floor = swd(other, real).mean
        for (s, recipe, seed, run), wall in zip(runs, walls):
            if s != name:
                continue
            last = [r for r in (json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()) if "images" in r][-1]
            values = score(run, real, a.draws)
            value = float(np.mean(values))
            print(f"| {name} | {recipe} | {seed} | {last['images']} | {last['images'] / (last['minutes'] * 60):.1f} | "
                  f"{value:.1f} ({min(values):.1f}-{max(values):.1f}) | {value / floor:.2f} |", flush=True)
        print(f"| {name} | *floor: real 500 vs real 500* | | | | {floor:.1f} | 1.00 |", flush=True)
        set_plots(name, {r + (f" s{seed}" if seed else ""): run for s, r, seed, run in runs if s == name},
                  out / "plots" / tag, floor)
    print(f"\nplots in {out / 'plots' / tag}")


if __name__ == "__main__":
    main()
