"""Generator-average half-lives compared inside one training run.

One `ganplug train DATA --minutes M` run (the default recipe, or --flags on top of it) keeps, beside its
own averaged generator, extra moving averages of the same generator weights with longer
half-lives (each KIMG:RAMPUP of --extra: a half-life of KIMG thousand images, at most RAMPUP
times the images seen, as TrainConfig's ema_kimg and ema_rampup). They all see the same
training trajectory, so the comparison isolates the average from the run's luck. Every
--every steps all averages are saved; at the end each snapshot is scored like issue 18 scores
a run (batch-norm statistics settled as the trainer does, SWD x1e3 of contract seeds 0..499
against the set's 500 real images) and the table printed, then each average's SWD levels and
colour statistics (`colour_stats`) at the last snapshot; rows go to OUT/ema.jsonl.

With `--extra` and nothing after it, the script scores the run's own average at every snapshot:
a candidate recipe (`--flags "--d-mbstd 4"`) scored exactly as the default was.

    python benchmarks/ema_sweep.py /path/to/procedural --out /tmp/ema --minutes 30
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shlex
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))

import torch  # noqa: E402

import ganplug.train.loop as loop  # noqa: E402
from train_minutes import halves  # noqa: E402

BASE = "base"


def colour_stats(images) -> dict[str, float]:
    """What the coarse SWD level sees, in 0-1 units: the spread of per-image mean colour across
    images, mean saturation (max - min channel) and its spread, contrast within an image, and
    the mean step between vertical neighbours (edges)."""
    import numpy as np

    x = images.astype(np.float32) / 255
    sat = (x.max(-1) - x.min(-1)).mean((1, 2))
    return {"colour_spread": float(x.mean((1, 2)).std(0).mean()), "saturation": float(sat.mean()),
            "saturation_spread": float(sat.std()), "contrast": float(x.std((1, 2)).mean()),
            "edges": float(np.abs(np.diff(x, axis=1)).mean())}


def install(extra: list[tuple[float, float]], out: Path, every: int) -> None:
    """Wrap the trainer's average update so it also keeps and saves the extra averages."""
    shadows: dict[str, tuple[torch.nn.Module, object]] = {}  # key -> (average, the run's config with its half-life)
    seen = {"images": 0, "config": None, "calls": 0}
    ema_beta, update = loop._ema_beta, loop._update_ema

    def beta(config, images_seen):
        seen["images"], seen["config"] = images_seen, config
        return ema_beta(config, images_seen)

    def update_all(ema, model, b):
        update(ema, model, b)
        for kimg, ramp in extra:
            key = f"{kimg:g}k-{ramp:g}"
            if key not in shadows:
                shadows[key] = copy.deepcopy(ema), seen["config"].replace(ema_kimg=kimg, ema_rampup=ramp)
            average, config = shadows[key]
            update(average, model, ema_beta(config, seen["images"]))
        seen["calls"] += 1
        if seen["calls"] % every == 0:
            step = seen["calls"]
            for key, module in [(BASE, ema), *((k, m) for k, (m, _) in shadows.items())]:
                torch.save(module.state_dict(), out / "ema" / f"{step:08d}-{key}.pt")

    loop._ema_beta, loop._update_ema = beta, update_all


def _score(path: str) -> dict:
    torch.set_num_threads(1)
    from ganplug.swd import swd
    from ganplug.train.loop import generate, settle_batch_norm

    g = _SHARED["generator"]  # each forked worker has its own copy
    g.load_state_dict(torch.load(path, map_location="cpu"))
    settle_batch_norm(g, g.z_dim, torch.device("cpu"))
    images = generate(g, g.z_dim, torch.device("cpu"), range(500))
    result = swd(images, _SHARED["real"])
    step, key = Path(path).stem.split("-", 1)
    return {"step": int(step), "ema": key, "swd": round(result.mean, 2),
            "levels": {k: round(v, 2) for k, v in result.levels.items()},
            **{k: round(v, 4) for k, v in colour_stats(images).items()}}


_SHARED: dict = {}  # the real images and a generator of the run's shape, set before the workers fork


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--every", type=int, default=500, help="steps between snapshots of every average")
    ap.add_argument("--extra", nargs="*", default=["20:0.1", "40:0.2", "80:0.4"], help="KIMG:RAMPUP pairs")
    ap.add_argument("--cache", type=Path, default=None, help="the data set's decoded cache (default OUT/cache)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--flags", default="", help="more `ganplug train` flags, in one quoted string")
    ap.add_argument("--score-only", action="store_true", help="score the snapshots of an earlier run")
    a = ap.parse_args()
    run = a.out / "run"
    (a.out / "ema").mkdir(parents=True, exist_ok=True)
    if not a.score_only:
        install([tuple(map(float, e.split(":"))) for e in a.extra], a.out, a.every)
        from ganplug.cli import main as cli
        cli(["train", str(a.data), "--out", str(run), "--minutes", str(a.minutes), "--swd-every", "500",
             "--no-progress", *shlex.split(a.flags)])
    real, other = halves(a.data, a.cache or a.out / "cache")
    from ganplug.swd import swd
    from ganplug.train.checkpoint import load_generator

    _SHARED["real"], (_SHARED["generator"], _, _) = real, load_generator(run)
    floor = swd(other, real)
    print("floor", round(floor.mean, 2), {k: round(v, 1) for k, v in floor.levels.items()}, flush=True)
    print("real", {k: round(v, 3) for k, v in colour_stats(real).items()}, flush=True)
    jobs = [str(p) for p in sorted((a.out / "ema").glob("*.pt"))]
    with ProcessPoolExecutor(a.workers) as pool:  # forked: the workers inherit _SHARED
        rows = list(pool.map(_score, jobs))
    with open(a.out / "ema.jsonl", "w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    table: dict[int, dict[str, float]] = {}
    for row in rows:
        table.setdefault(row["step"], {})[row["ema"]] = row["swd"]
    keys = sorted({row["ema"] for row in rows}, key=lambda k: (k != BASE, k))
    print("step  " + "  ".join(f"{k:>10}" for k in keys))
    for step in sorted(table):
        print(f"{step:5d} " + "  ".join(f"{table[step].get(k, float('nan')):10.1f}" for k in keys))
    last = max(r["step"] for r in rows)
    for row in rows:
        if row["step"] == last:
            print(row["ema"], row["levels"], {k: row[k] for k in ("colour_spread", "saturation", "saturation_spread",
                                                                    "contrast", "edges")})


if __name__ == "__main__":
    main()
