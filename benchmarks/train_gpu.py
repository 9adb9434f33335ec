"""Quality per minute on a GPU at 256 px: ganplug's recipes and lightweight-gan side by side.

Issue 18's comparison moved to a GPU machine: the procedural set at 256 px (`ganplug dataset
--count 1000 --size 256 --seed 11`), every recipe trained at the same time on the one GPU for
the same wall-clock minutes (each gets what the GPU gives it beside the others), then scored
like train_minutes.py scores: SWD x1e3 of 500 generated images against 500 real ones (a seeded
choice), next to the floor (those 500 against 500 other real images).

Recipes: ganplug's `default` (no flags: `style` with CUDA), `lite` and `dcgan`, all at
`--resolution 256`, and `lightweight-gan` at its own command's defaults (lightweight_gan_run.py).
Each run also keeps points along the way (checkpoints every --checkpoint-every steps for
ganplug; snapshots every minutes/--points for lightweight-gan): up to --points of them per run
are scored too, for SWD against minutes and images.

Everything goes under --out: the runs, results.jsonl (one line per scored point, written as it
comes), summary.md (the table) and sheets of samples (samples-final.jpg: 8 images per recipe;
samples-RECIPE.jpg: 6 images per scored point). A run stopped by a deadline keeps what it wrote.

    python benchmarks/train_gpu.py --minutes 5 --out /tmp/gpu256
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # ganplug from this checkout, installed or not
RECIPES = {"default": [], "lite": ["--arch", "lite"], "dcgan": ["--arch", "dcgan"], "lightweight-gan": None}
EVAL_IMAGES = 500
_REFERENCE = None  # the real images' SWD reference, built once in the parent and shared with forked workers


def _external(recipe: str) -> bool:
    """Whether a run (``RECIPE`` or ``RECIPE+fp32``) is lightweight-gan's rather than ``ganplug train``."""
    return RECIPES[recipe.split("+")[0]] is None


def _scores(result) -> dict:
    return {"swd": round(result.mean, 3), "levels": {str(k): round(v, 3) for k, v in result.levels.items()}}


def launch(recipe: str, data: Path, run: Path, a: argparse.Namespace, extra: tuple[str, ...] = ()) -> subprocess.Popen:
    """Start one training run in the background, its output in RUN.log."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
               OMP_NUM_THREADS=str(a.threads), PYTHONUNBUFFERED="1")
    if _external(recipe):
        cmd = [sys.executable, str(ROOT / "benchmarks" / "lightweight_gan_run.py"), str(data), str(run),
               "--minutes", str(a.minutes), "--snapshot-s", str(a.minutes * 60 / a.points), "--generate", str(EVAL_IMAGES)]
    else:
        cmd = [sys.executable, "-m", "ganplug", "train", str(data), "--out", str(run), "--resolution", str(a.size),
               "--minutes", str(a.minutes), "--threads", str(a.threads), "--device", a.device, "--swd-every", "0",
               "--sample-every", "100000", "--checkpoint-every", str(a.checkpoint_every), "--keep", "100000",
               "--no-progress", *RECIPES[recipe], *extra]
    run.parent.mkdir(parents=True, exist_ok=True)
    log = open(str(run) + ".log", "w")
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)


def train_all(data: Path, runs: dict[str, Path], a: argparse.Namespace, waiting) -> dict[str, Path]:
    """Every recipe at once; ``waiting()`` runs in the meantime. A ganplug run that fails in its first
    90 s is started again without mixed precision (noted in the results). Returns the runs that finished."""
    t0 = time.perf_counter()
    procs = {r: launch(r, data, run, a) for r, run in runs.items()}
    waiting()
    done = {}
    while procs:
        for r, p in list(procs.items()):
            if p.poll() is None:
                continue
            del procs[r]
            if p.returncode == 0:
                done[r] = runs[r]
            elif not _external(r) and time.perf_counter() - t0 < 90 and not r.endswith("+fp32"):
                print(f"{r}: exit {p.returncode} early; again with --no-amp", flush=True)
                runs[r + "+fp32"] = runs[r].with_name(runs[r].name + "-fp32")
                procs[r + "+fp32"] = launch(r, data, runs[r + "+fp32"], a, ("--no-amp",))
            else:
                print(f"{r}: exit {p.returncode} (see {runs[r]}.log)", flush=True)
        time.sleep(1)
    print(f"training done in {time.perf_counter() - t0:.0f} s", flush=True)
    return done


def ganplug_points(run: Path, points: int) -> list[dict]:
    """The run's last checkpoint and up to points-1 others nearest evenly spaced minutes."""
    records = {r["step"]: r for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if "images" in r}
    ckpts = sorted((int(re.findall(r"\d+", p.stem)[0]), p) for p in (run / "checkpoints").glob("checkpoint-*.pt"))
    found = [dict(records[s], path=str(p)) for s, p in ckpts if s in records]
    if not found:
        return []
    last = found[-1]
    chosen = {len(found) - 1}
    for i in range(1, points):
        target = last["minutes"] * i / points
        chosen.add(min(range(len(found)), key=lambda j: abs(found[j]["minutes"] - target)))
    return [found[j] for j in sorted(chosen)]


def generate_ganplug(items: list[tuple[str, dict]], device: str) -> None:
    """Write each point's 500 contract images (EMA generator, seeds 0..499) beside its checkpoint."""
    import torch

    from ganplug.train.checkpoint import load_generator
    from ganplug.train.loop import generate

    dev = torch.device(device)
    for _, point in items:
        g, cfg, _ = load_generator(point["path"])
        np.save(point["path"] + ".npy", generate(g.to(dev), cfg.z_dim, dev, range(EVAL_IMAGES)))


def _distance(path: str) -> dict:
    try:
        result = _REFERENCE.distance(np.load(path))
    except Exception as e:  # one bad point must not cost the others their scores
        return {"error": f"{type(e).__name__}: {e}"}
    return _scores(result)


def sheet(rows: list[tuple[str, np.ndarray]], path: Path, count: int, tile: int) -> None:
    """One captioned row of ``count`` images per entry, each scaled to ``tile`` px, as JPEG."""
    from PIL import ImageDraw

    img = Image.new("RGB", (count * tile + 180, len(rows) * (tile + 4)), "white")
    draw = ImageDraw.Draw(img)
    for i, (caption, images) in enumerate(rows):
        y = i * (tile + 4)
        draw.text((6, y + tile // 2 - 6), caption, fill="black")
        for j, im in enumerate(images[:count]):
            img.paste(Image.fromarray(im).resize((tile, tile), Image.LANCZOS), (180 + j * tile, y))
    img.save(path, quality=90)


def collect_points(runs: dict[str, Path], a: argparse.Namespace) -> list[tuple[str, dict]]:
    """(recipe, point) for every point to score, final points first; ganplug's images generated here."""
    items, mine = [], []
    for recipe, run in runs.items():
        if _external(recipe):  # its images were written by its own process
            snaps = [json.loads(x) for x in (run / "snaps.jsonl").read_text().splitlines()]
            keep = [s for s in snaps if (run / f"snap-{s['snap']}.npy").exists()]
            items += [(recipe, dict(s, path=str(run / f"snap-{s['snap']}"))) for s in keep]
        else:
            mine += [(recipe, p) for p in ganplug_points(run, a.points)]
    if mine:
        t0 = time.perf_counter()
        generate_ganplug(mine, a.device)
        print(f"generated {len(mine)} x {EVAL_IMAGES} ganplug images in {time.perf_counter() - t0:.0f} s", flush=True)
    items += mine
    last = {r: max(p["minutes"] for q, p in items if q == r) for r, _ in items}
    return sorted(items, key=lambda rp: (rp[1]["minutes"] != last[rp[0]], rp[0], rp[1]["minutes"]))


def main() -> None:
    global _REFERENCE
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=5.0, help="budget of every run (default 5)")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--count", type=int, default=1000, help="images in the procedural set")
    ap.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--threads", type=int, default=3, help="CPU threads per ganplug run")
    ap.add_argument("--points", type=int, default=4, help="points scored per run, the last included")
    ap.add_argument("--checkpoint-every", type=int, default=300, help="ganplug runs' steps between scorable points")
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    ap.add_argument("--out", default="/tmp/ganplug-gpu")
    a = ap.parse_args()
    from train_minutes import halves

    from ganplug.procedural import generate
    from ganplug.swd import Reference

    out = Path(a.out)
    data = out / "data" / f"procedural-{a.size}"
    t0 = time.perf_counter()
    if not any(data.glob("*.png")):
        generate(data, a.count, size=a.size, seed=11, progress=False)
    print(f"data set: {a.count} images at {a.size} px in {time.perf_counter() - t0:.0f} s", flush=True)
    results = open(out / "results.jsonl", "w")  # report() reads it back: this round's rows only
    real = {}

    def while_training() -> None:  # one core's work while the GPU trains
        real["real"], other = halves(data, out / "cache", a.size)
        np.save(out / "other.npy", other)
        real["ref"] = Reference(real["real"])
        floor = real["ref"].distance(other)
        results.write(json.dumps({"recipe": "floor", **_scores(floor)}) + "\n")
        results.flush()
        print(f"floor {floor.mean:.1f}", flush=True)

    runs = train_all(data, {r: out / "runs" / r for r in a.recipes}, a, while_training)
    items = collect_points(runs, a)
    _REFERENCE = real["ref"]
    t0 = time.perf_counter()
    import multiprocessing as mp

    with ProcessPoolExecutor(min(a.workers, max(1, len(items))), mp_context=mp.get_context("fork")) as pool:
        futures = [(r, p, pool.submit(_distance, p["path"] + ".npy")) for r, p in items]
        for r, p, f in futures:
            row = {"recipe": r, **{k: p[k] for k in ("step", "images", "minutes")}, **f.result()}
            results.write(json.dumps(row) + "\n")
            results.flush()
            print(json.dumps(row), flush=True)
    print(f"scored {len(items)} points in {time.perf_counter() - t0:.0f} s", flush=True)
    report(out, runs, items)


def report(out: Path, runs: dict[str, Path], items: list[tuple[str, dict]]) -> None:
    """summary.md and the sample sheets, from results.jsonl and the generated images."""
    rows = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    floor = next(r["swd"] for r in rows if r["recipe"] == "floor")
    lines = ["| recipe | images seen | img/s | SWD x1e3 (500 vs 500) | x floor |", "|---|---:|---:|---:|---:|"]
    finals = []
    for recipe in runs:
        mine = sorted((r for r in rows if r["recipe"] == recipe and "swd" in r), key=lambda r: r["minutes"])
        if mine:
            f = mine[-1]
            lines.append(f"| {recipe} | {f['images']} | {f['images'] / (f['minutes'] * 60):.1f} | {f['swd']:.1f} | "
                         f"{f['swd'] / floor:.2f} |")
    lines.append(f"| *floor: real 500 vs real 500* | | | {floor:.1f} | 1.00 |")
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines), flush=True)
    for recipe in runs:
        mine = sorted(((p["minutes"], p["path"]) for r, p in items if r == recipe))
        if mine:
            finals.append((recipe, np.load(mine[-1][1] + ".npy", mmap_mode="r")[:8]))
            sheet([(f"{recipe} {m:.1f} min", np.load(path + ".npy", mmap_mode="r")[:6]) for m, path in mine],
                  out / f"samples-{recipe}.jpg", 6, 160)
    real = np.load(out / "other.npy", mmap_mode="r")[:8]
    sheet(finals + [("real images", real)], out / "samples-final.jpg", 8, 256)


if __name__ == "__main__":
    main()
