"""The training loop: data, steps, previews, metrics, checkpoints, clean interruption."""

from __future__ import annotations

import copy
import json
import logging
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..errors import CheckpointError
from ..seeds import z_batch
from . import checkpoint
from .config import ARCHITECTURE_FIELDS, TrainConfig
from .data import load_folder, scan
from .models import build, to_uint8_nhwc

log = logging.getLogger("ganplug.train")

PREVIEW_SEEDS = tuple(range(16))


@dataclass(frozen=True)
class TrainResult:
    run: Path
    step: int
    checkpoint: Path
    interrupted: bool


class _StopFlag:
    """First Ctrl-C (or SIGTERM) asks the loop to save and stop at the next step boundary;
    a second one aborts at once, leaving the last checkpoint as it was."""

    def __init__(self) -> None:
        self.requested = False
        self._old: dict[int, Any] = {}

    def _handler(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> "_StopFlag":
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old[sig] = signal.signal(sig, self._handler)
            except ValueError:  # not the main thread: no signal handling, no harm
                pass
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise CheckpointError("--device cuda asked for, but PyTorch sees no CUDA device")
    return torch.device(name)


def resume_config(run: Path, requested: TrainConfig, explicit: set[str]) -> tuple[TrainConfig, dict[str, Any]]:
    """The config to continue ``run`` with: the run's own, with ``steps`` and any
    explicitly given non-architecture setting taken from ``requested``."""
    state = checkpoint.load(run)
    saved = TrainConfig.from_dict(state["config"])
    clash = [f for f in ARCHITECTURE_FIELDS if f in explicit and getattr(requested, f) != getattr(saved, f)]
    if clash:
        f = clash[0]
        raise CheckpointError(f"{run}: the run was trained with {f}={getattr(saved, f)}; cannot resume with {f}={getattr(requested, f)}")
    changes = {f: getattr(requested, f) for f in explicit if f not in ARCHITECTURE_FIELDS}
    changes["out"] = requested.out
    return saved.replace(**changes), state


def save_grid(images: np.ndarray, path: Path, cols: int = 4) -> None:
    """Tile uint8 NHWC images into one PNG."""
    n, h, w, c = images.shape
    rows = -(-n // cols)
    grid = np.zeros((rows * h, cols * w, c), np.uint8)
    for i, im in enumerate(images):
        r, q = divmod(i, cols)
        grid[r * h:(r + 1) * h, q * w:(q + 1) * w] = im
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid.squeeze(-1) if c == 1 else grid).save(path)


@torch.no_grad()
def preview(generator: torch.nn.Module, z_dim: int, device: torch.device, seeds: tuple[int, ...] = PREVIEW_SEEDS) -> np.ndarray:
    """Contract images (uint8 NHWC) of ``seeds``: the same pixels export and serve give."""
    was_training = generator.training
    generator.eval()
    z = torch.from_numpy(z_batch(list(seeds), z_dim)).to(device)
    out = to_uint8_nhwc(generator(z)).cpu().numpy()
    generator.train(was_training)
    return out


def train(config: TrainConfig, resume_state: dict[str, Any] | None = None) -> TrainResult:
    """Run (or continue) training until ``config.steps``; returns where it stopped."""
    run = Path(config.out)
    device = resolve_device(config.device)
    files = scan(Path(config.data))  # a bad data folder fails before anything is written
    run.mkdir(parents=True, exist_ok=True)
    if config.threads:
        torch.set_num_threads(config.threads)

    data, summary = load_folder(Path(config.data), config.resolution, run / "cache", config.fit, config.progress, files)
    if summary.skipped:
        log.warning("skipped %d unreadable file(s) in %s", summary.skipped, config.data)
    log.info("data: %d images from %s%s", summary.images, config.data, " (cached)" if summary.from_cache else "")
    print(f"run folder {run}: checkpoints in {run / 'checkpoints'}, samples in {run / 'samples'}, "
          f"metrics in {run / 'metrics.jsonl'}, settings in {run / 'training_options.json'}", flush=True)

    torch.manual_seed(config.seed)
    G, D = build(config.arch, z_dim=config.z_dim, resolution=config.resolution, channels=config.channels,
                 g_width=config.g_width, d_width=config.d_width)
    G, D = G.to(device), D.to(device)
    G_ema = copy.deepcopy(G).eval().requires_grad_(False)
    opt_g = torch.optim.Adam(G.parameters(), lr=config.lr_g, betas=(config.beta1, config.beta2))
    opt_d = torch.optim.Adam(D.parameters(), lr=config.lr_d, betas=(config.beta1, config.beta2))
    sampler = torch.Generator().manual_seed(config.seed + 1)  # batches and flips, on the CPU
    step, images_seen = 0, 0

    if resume_state is not None:
        G.load_state_dict(resume_state["G"])
        G_ema.load_state_dict(resume_state["G_ema"])
        D.load_state_dict(resume_state["D"])
        opt_g.load_state_dict(resume_state["opt_G"])
        opt_d.load_state_dict(resume_state["opt_D"])
        sampler.set_state(resume_state["rng"]["sampler"])
        torch.set_rng_state(resume_state["rng"]["torch"])
        if device.type == "cuda" and "cuda" in resume_state["rng"]:
            torch.cuda.set_rng_state(resume_state["rng"]["cuda"])
        step, images_seen = int(resume_state["step"]), int(resume_state["images_seen"])
        _truncate_metrics(run / "metrics.jsonl", step)

    (run / "training_options.json").write_text(json.dumps(config.to_dict(), indent=2) + "\n")

    def state() -> dict[str, Any]:
        rng = {"torch": torch.get_rng_state(), "sampler": sampler.get_state()}
        if device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state()
        return {"config": config.to_dict(), "step": step, "images_seen": images_seen,
                "dataset": {"images": summary.images, "folder": str(config.data)},
                "G": G.state_dict(), "G_ema": G_ema.state_dict(), "D": D.state_dict(), "opt_G": opt_g.state_dict(), "opt_D": opt_d.state_dict(), "rng": rng}

    last_ckpt = checkpoint.list_checkpoints(run)[-1] if checkpoint.list_checkpoints(run) else None
    n = len(data)
    bar = None
    if config.progress:
        from tqdm import tqdm

        bar = tqdm(total=config.steps, initial=step, desc="training", unit="step", dynamic_ncols=True, disable=None)
    metrics = open(run / "metrics.jsonl", "a")
    t_last, seen_last = time.perf_counter(), images_seen
    interrupted = False
    try:
        with _StopFlag() as stop:
            while step < config.steps:
                idx = torch.randint(n, (config.batch,), generator=sampler)
                real = torch.from_numpy(np.ascontiguousarray(data[np.sort(idx.numpy())])).to(device)
                real = real.permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)
                if config.mirror:
                    flip = torch.rand(config.batch, generator=sampler) < 0.5
                    real[flip.to(device)] = real[flip.to(device)].flip(3)
                z = torch.randn(config.batch, config.z_dim, device=device)

                fake = G(z)
                loss_d = F.softplus(-D(real)).mean() + F.softplus(D(fake.detach())).mean()
                opt_d.zero_grad(set_to_none=True)
                loss_d.backward()
                opt_d.step()
                loss_g = F.softplus(-D(fake)).mean()
                opt_g.zero_grad(set_to_none=True)
                loss_g.backward()
                opt_g.step()
                _update_ema(G_ema, G, _ema_beta(config, images_seen))

                step += 1
                images_seen += config.batch
                if step % config.log_every == 0 or step == config.steps:
                    now = time.perf_counter()
                    ips = (images_seen - seen_last) / max(now - t_last, 1e-9)
                    t_last, seen_last = now, images_seen
                    rec = {"step": step, "images": images_seen, "loss_d": round(loss_d.item(), 5),
                           "loss_g": round(loss_g.item(), 5), "images_per_s": round(ips, 1), "time": time.time()}
                    metrics.write(json.dumps(rec) + "\n")
                    metrics.flush()
                    if bar is not None:
                        bar.set_postfix(img_s=f"{ips:.0f}", d=f"{rec['loss_d']:.3f}", g=f"{rec['loss_g']:.3f}")
                if bar is not None:
                    bar.update(1)
                if step % config.sample_every == 0 or step == config.steps:
                    save_grid(preview(G_ema, config.z_dim, device), run / "samples" / f"step-{step:08d}.png")
                if step % config.checkpoint_every == 0 or step == config.steps:
                    last_ckpt = checkpoint.save(run, state(), step, config.keep)
                if stop.requested:
                    interrupted = True
                    break
            if interrupted or last_ckpt is None or not last_ckpt.name.endswith(f"{step:08d}.pt"):
                last_ckpt = checkpoint.save(run, state(), step, config.keep)
    finally:
        metrics.close()
        if bar is not None:
            bar.close()
    return TrainResult(run=run, step=step, checkpoint=last_ckpt, interrupted=interrupted)


def _ema_beta(config: TrainConfig, images_seen: int) -> float:
    """Per-step decay for a half-life of ``ema_kimg`` thousand images, ramped up over the
    first images (half-life at most ``ema_rampup`` of the images seen) so early averages
    do not drag in the random initial weights."""
    if config.ema_kimg <= 0:
        return 0.0
    half_life = config.ema_kimg * 1000
    if config.ema_rampup > 0:
        half_life = min(half_life, max(images_seen, config.batch) * config.ema_rampup)
    return 0.5 ** (config.batch / half_life)


@torch.no_grad()
def _update_ema(ema: torch.nn.Module, model: torch.nn.Module, beta: float) -> None:
    """Moving average of the weights; buffers (batch-norm statistics) are copied as they are."""
    for pe, p in zip(ema.parameters(), model.parameters()):
        pe.lerp_(p, 1.0 - beta)
    for be, b in zip(ema.buffers(), model.buffers()):
        be.copy_(b)


def _truncate_metrics(path: Path, step: int) -> None:
    """Drop metric lines past ``step`` so a resumed run's log reads as one run."""
    if not path.exists():
        return
    keep = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line)["step"] <= step:
                keep.append(line)
        except (ValueError, KeyError, TypeError):
            continue
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(k + "\n" for k in keep))
    os.replace(tmp, path)
