"""lightweight-gan (lucidrains' package of FastGAN, Liu et al. 2021) on a wall-clock budget.

Its own command line has no time budget, so this drives its ``Trainer`` the way its
``lightweight_gan`` command does, with every setting at that command's defaults (read from
its signature, not repeated here): 256 px, batch 10 x 4 accumulated, Adam 2e-4, attention
at 32 px, its automatic augmentation probability. It needs CUDA, as the package does.

Written under OUT: ``metrics.jsonl`` (steps, images, minutes, every 50 steps),
``snap-K.pt`` (the generator every --snapshot-s seconds and at the end) with one line per
snapshot in ``snaps.jsonl``, the package's own sample grids under ``results/``, and with
--generate N, ``snap-K.npy``: N images (uint8 NHWC) from each snapshot's generator in eval
mode, as the package draws its samples. Its EMA generator is not used: the package starts its
moving average only after 20,000 steps, which no run here reaches.

    python benchmarks/lightweight_gan_run.py DATA OUT --minutes 5 --generate 500
"""

from __future__ import annotations

import argparse
import inspect
import json
import time
from pathlib import Path

import numpy as np
import torch


def _listed(value):
    return value if isinstance(value, list) else [value]


def trainer_args(out: Path) -> dict:
    """The arguments ``lightweight_gan`` passes its Trainer when given only --data (one GPU)."""
    from lightweight_gan.cli import train_from_folder

    d = {k: p.default for k, p in inspect.signature(train_from_folder).parameters.items()}
    args = {k: d[k] for k in ("batch_size", "gradient_accumulate_every", "freq_chan_attn", "disc_output_size",
                              "dual_contrast_loss", "antialias", "image_size", "optimizer", "num_workers", "fmap_max",
                              "transparent", "greyscale", "save_every", "evaluate_every", "aug_prob", "dataset_aug_prob",
                              "calculate_fid_every", "calculate_fid_num_images", "clear_fid_cache", "amp", "load_strict")}
    args.update(name="run", results_dir=str(out / "results"), models_dir=str(out / "models"), lr=d["learning_rate"],
                attn_res_layers=_listed(d["attn_res_layers"]), aug_types=_listed(d["aug_types"]),
                num_image_tiles=d["num_image_tiles"] or (4 if d["image_size"] > 512 else 8),
                is_ddp=False, rank=0, world_size=1)
    return args


def train(data: Path, out: Path, minutes: float, snapshot_s: float) -> object:
    """Train until ``minutes`` of wall clock are spent (snapshots included); returns the Trainer."""
    from lightweight_gan import NanException, Trainer
    from retry.api import retry_call

    args = trainer_args(out)
    model = Trainer(**args, hparams=args, use_aim=False)
    model.clear()
    model.set_data_src(str(data))
    per_step = args["batch_size"] * args["gradient_accumulate_every"]
    metrics, snaps = open(out / "metrics.jsonl", "w"), open(out / "snaps.jsonl", "w")
    t0, budget, next_snap, k = time.perf_counter(), minutes * 60.0, snapshot_s, 0

    def snapshot(elapsed: float) -> None:
        nonlocal k
        torch.save(model.GAN.G.state_dict(), out / f"snap-{k}.pt")
        snaps.write(json.dumps({"snap": k, "step": model.steps, "images": model.steps * per_step,
                                "minutes": round(elapsed / 60, 4)}) + "\n")
        snaps.flush()
        k += 1

    while time.perf_counter() - t0 < budget:
        retry_call(model.train, tries=3, exceptions=NanException)
        elapsed = time.perf_counter() - t0  # after the step: the time of the weights a snapshot saves
        if model.steps % 50 == 0:
            metrics.write(json.dumps({"step": model.steps, "images": model.steps * per_step,
                                      "minutes": round(elapsed / 60, 4), "d_loss": model.d_loss,
                                      "g_loss": model.g_loss}) + "\n")
            metrics.flush()
        if elapsed >= next_snap:
            snapshot(elapsed)
            next_snap += snapshot_s
    snapshot(time.perf_counter() - t0)
    metrics.close()
    snaps.close()
    return model


@torch.no_grad()
def generate(model, count: int, seed: int = 0, batch: int = 50) -> np.ndarray:
    """``count`` images (uint8 NHWC) from the model's generator in eval mode, latents from ``seed``."""
    G = model.GAN.G.eval()
    z = torch.randn(count, model.GAN.latent_dim, generator=torch.Generator().manual_seed(seed))
    device = next(G.parameters()).device
    out = [G(z[i:i + batch].to(device)).clamp(0, 1).mul(255).add(0.5).clamp(0, 255).to(torch.uint8)
           for i in range(0, count, batch)]
    return torch.cat(out).permute(0, 2, 3, 1).cpu().numpy()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data")
    ap.add_argument("out")
    ap.add_argument("--minutes", type=float, required=True)
    ap.add_argument("--snapshot-s", type=float, default=60.0)
    ap.add_argument("--generate", type=int, default=0, help="images per snapshot to write as .npy (0 = none)")
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    model = train(Path(a.data), out, a.minutes, a.snapshot_s)
    if a.generate:
        for line in (out / "snaps.jsonl").read_text().splitlines():
            k = json.loads(line)["snap"]
            model.GAN.G.load_state_dict(torch.load(out / f"snap-{k}.pt", map_location="cpu"))
            np.save(out / f"snap-{k}.npy", generate(model, a.generate))
    print(f"lightweight-gan: {model.steps} steps in {a.minutes:g} min", flush=True)


if __name__ == "__main__":
    main()
