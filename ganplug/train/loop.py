"""The training loop: data, steps, previews, metrics, checkpoints, clean interruption.

One step (docs/training.md explains the recipe):
  D:  softplus(D(aug(G(z)))) + softplus(-D(aug(x)))        non-saturating logistic loss
  R1: every r1_interval steps, r1_interval * gamma/2 * |grad_x D(aug(x))|^2   (lazy regularisation)
  G:  softplus(-D(aug(G(z)))) on the same fakes, through the updated discriminator
  then the moving average of G, and ADA's update of the augmentation probability.
"""

from __future__ import annotations

import copy
import inspect
import json
import logging
import math
import os
import signal
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..errors import CheckpointError, ConfigError
from ..seeds import z_batch
from ..swd import Reference, SWDConfig
from . import checkpoint, distributed
from .augment import AdaptiveP, augment
from .config import ARCHITECTURE_FIELDS, TrainConfig
from .data import load_folder, scan
from .models import build_for, to_uint8_nhwc

log = logging.getLogger("ganplug.train")

PREVIEW_SEEDS = tuple(range(16))


@dataclass(frozen=True)
class TrainResult:
    run: Path
    step: int
    checkpoint: Path | None  # None in processes other than the first of a distributed run
    interrupted: bool
    main: bool = True  # the process that writes files and prints


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
    if "resolution" in explicit and requested.frame_size != saved.frame_size:
        raise CheckpointError(f"{run}: the run was trained with resolution={_size(saved)}; "
                              f"cannot resume with resolution={_size(requested)}")
    clash = [f for f in ARCHITECTURE_FIELDS if f in explicit and getattr(requested, f) != getattr(saved, f)]
    if clash:
        f = clash[0]
        raise CheckpointError(f"{run}: the run was trained with {f}={getattr(saved, f)}; cannot resume with {f}={getattr(requested, f)}")
    changes = {f: getattr(requested, f) for f in explicit if f not in ARCHITECTURE_FIELDS}
    changes["out"] = requested.out
    return saved.replace(**changes), state


def _size(config: TrainConfig) -> str:
    """N for a square run (as it was always shown), WxH otherwise."""
    return str(config.resolution) if config.width == config.height else config.size_text


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
def generate(generator: torch.nn.Module, z_dim: int, device: torch.device, seeds: Sequence[int], batch: int = 64,
             truncation: float = 1.0) -> np.ndarray:
    """Contract images (uint8 NHWC) of ``seeds``: the same pixels export and serve give
    (eval mode, fixed noise; a generator with a truncation input gets ψ as the graph does)."""
    was_training = generator.training
    generator.eval()
    seeds = list(seeds)
    out = []
    for i in range(0, len(seeds), batch):
        z = torch.from_numpy(z_batch(seeds[i:i + batch], z_dim)).to(device)
        if getattr(generator, "has_truncation", False):
            x = generator(z, torch.tensor(truncation, device=device))
        else:
            x = generator(z * truncation if truncation != 1.0 else z)
        out.append(to_uint8_nhwc(x.float()).cpu().numpy())
    generator.train(was_training)
    return np.concatenate(out)


def preview(generator: torch.nn.Module, z_dim: int, device: torch.device, seeds: Sequence[int] = PREVIEW_SEEDS) -> np.ndarray:
    """The sample grid's images: contract seeds 0..15."""
    return generate(generator, z_dim, device, seeds)


def swd_reference(data: np.ndarray, count: int, seed: int = 0) -> Reference:
    """SWD reference of up to ``count`` training images (a seeded choice when there are more)."""
    pick = np.sort(np.random.default_rng(seed).permutation(len(data))[:count])
    return Reference(np.asarray(data[pick]), SWDConfig())


@dataclass(frozen=True)
class Precision:
    """How the steps run: autocast dtype (None = float32) and memory format."""

    dtype: torch.dtype | None
    channels_last: bool

    def autocast(self, device: torch.device):
        return torch.autocast(device.type, dtype=self.dtype or torch.float32, enabled=self.dtype is not None)

    def describe(self) -> str:
        dtype = {None: "float32", torch.bfloat16: "mixed bfloat16", torch.float16: "mixed float16"}[self.dtype]
        return dtype + (", channels_last" if self.channels_last else "")


def resolve_precision(config: TrainConfig, device: torch.device) -> Precision:
    """Mixed precision defaults on with CUDA (bfloat16 where the GPU has it, else float16 with loss
    scaling), off on the CPU; channels_last defaults on everywhere (on a 2-core CPU it gave about 1.4x
    the images/s, docs/training.md); TF32 per ``config.tf32``."""
    cuda = device.type == "cuda"
    amp = config.amp if config.amp is not None else cuda
    dtype = None
    if amp:
        dtype = torch.bfloat16 if not cuda or torch.cuda.is_bf16_supported() else torch.float16
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = config.tf32
        torch.backends.cudnn.allow_tf32 = config.tf32
        torch.backends.cudnn.benchmark = True  # fixed shapes: pick the fastest kernels once
    return Precision(dtype, config.channels_last if config.channels_last is not None else True)


def _real_batch(data: np.ndarray, idx: torch.Tensor, flip: torch.Tensor | None, device: torch.device,
                precision: Precision) -> torch.Tensor:
    """Images ``idx`` of the cached array as float [-1, 1] NCHW on ``device``, mirrored where ``flip``."""
    real = torch.from_numpy(np.ascontiguousarray(data[np.sort(idx.numpy())])).to(device, non_blocking=True)
    real = real.permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)
    if flip is not None:
        f = flip.to(device)
        real[f] = real[f].flip(3)
    if precision.channels_last:
        real = real.contiguous(memory_format=torch.channels_last)
    return real


def _r1_penalty(D: torch.nn.Module, real: torch.Tensor, p: float, policy: tuple[str, ...]) -> torch.Tensor:
    """R1 (Mescheder et al. 2018): squared gradient norm of D's logits at the real images, in float32.
    The gradient is taken with respect to the images before augmentation, as in ADA."""
    x = real.detach().requires_grad_(True)
    logits = D(augment(x, p, policy))
    (grad,) = torch.autograd.grad(logits.sum(), x, create_graph=True)
    # 0 * logits keeps the last bias (no part of the gradient) in the graph, as DDP expects.
    return grad.square().sum((1, 2, 3)).mean() + 0.0 * logits.sum()


def _rng_state(sampler: torch.Generator, device: torch.device) -> dict[str, Any]:
    rng = {"torch": torch.get_rng_state(), "sampler": sampler.get_state()}
    if device.type == "cuda":
        rng["cuda"] = torch.cuda.get_rng_state(device)
    return rng


def train(config: TrainConfig, resume_state: dict[str, Any] | None = None) -> TrainResult:
    """Run (or continue) training until ``config.steps``; returns where it stopped.

    Under ``torchrun`` every process runs this; see ``distributed.py``."""
    device = resolve_device(config.device)
    ddp = distributed.init(device.type)
    if device.type == "cuda" and ddp.enabled:
        device = torch.device("cuda", ddp.local_rank)
    try:
        result = _train(config, resume_state, device, ddp)
        # Leave together: a rank that tore down while the first still wrote its last files once aborted (gloo, CI).
        ddp.barrier()
        return result
    finally:
        distributed.shutdown(ddp)


@dataclass(eq=False)
class _Run:
    """What a run changes as it goes: networks, optimisers, random streams and counters."""

    config: TrainConfig
    path: Path
    device: torch.device
    ddp: distributed.Dist
    precision: Precision
    data: np.ndarray
    images: int  # in the data folder, as the checkpoint records it
    G: torch.nn.Module
    D: torch.nn.Module
    G_ema: torch.nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    scaler_g: torch.amp.GradScaler
    scaler_d: torch.amp.GradScaler
    ada: AdaptiveP
    sampler: torch.Generator  # batches and flips, on the CPU, the same in every process
    clock: "_Clock"
    G_train: torch.nn.Module | None = None  # G and D, wrapped for DDP in a distributed run
    D_train: torch.nn.Module | None = None
    step: int = 0
    images_seen: int = 0
    spent_s: float = 0.0  # the clock as all processes agreed on it after the last step: what schedules read
    r1_value: torch.Tensor | None = None
    settled_at: int = -1  # the step at which G_ema's batch-norm statistics were last re-estimated


@dataclass(eq=False)
class _Clock:
    """Seconds the run has spent, earlier sessions included; SWD measurements are left out."""

    base: float = 0.0  # seconds spent before this session (from the checkpoint)
    start: float = field(default_factory=time.perf_counter)
    excluded: float = 0.0

    def elapsed(self) -> float:
        return self.base + time.perf_counter() - self.start - self.excluded


def progress(config: TrainConfig, step: int, elapsed_s: float) -> float:
    """How far the run is, 0 to 1: the larger of steps done and budget spent. Schedules read it."""
    done = step / config.steps if config.steps else 0.0
    if config.budget_s:
        done = max(done, elapsed_s / config.budget_s)
    return min(max(done, 0.0), 1.0)


def lr_factor(config: TrainConfig, fraction: float) -> float:
    """The learning rates' multiplier: cosine from 1 at the start to ``lr_final`` at the end."""
    return config.lr_final + (1.0 - config.lr_final) * 0.5 * (1.0 + math.cos(math.pi * fraction))


@dataclass(eq=False)
class _Pace:
    """Throughput bookkeeping between metric lines; ``side`` is time spent on samples, SWD and checkpoints."""

    t_last: float
    seen_last: int
    side: float = 0.0


def _train(config: TrainConfig, resume_state: dict[str, Any] | None, device: torch.device, ddp: distributed.Dist) -> TrainResult:
    run = Path(config.out)
    files = scan(Path(config.data))  # a bad data folder fails before anything is written
    if config.batch % ddp.world:
        raise ConfigError(f"--batch {config.batch} must be a multiple of the {ddp.world} training processes")
    if config.threads:
        torch.set_num_threads(config.threads)
    data, summary = _load_data(config, run, ddp, files)
    r = _build(config, run, device, ddp, data, summary.images)
    if resume_state is not None:
        _restore(r, resume_state)
    _wrap_ddp(r)
    reference = _open_run(r)
    result = _loop(r, reference, resumed=resume_state is not None)
    if ddp.main:
        from .plots import write_run_plots

        written = write_run_plots(run, config.arch)
        if written:
            print(f"plots in {run / 'plots'}: {', '.join(p.name for p in written)}", flush=True)
    return result


def _load_data(config: TrainConfig, run: Path, ddp: distributed.Dist, files: list[Path]):
    """The training images as one cached array; the first process writes the cache, the others read it."""
    if ddp.main:
        run.mkdir(parents=True, exist_ok=True)
        data, summary = load_folder(Path(config.data), config.frame_size, run / "cache", config.fit, config.progress, files)
    ddp.barrier()  # the others read the cache the first process wrote
    if not ddp.main:
        data, summary = load_folder(Path(config.data), config.frame_size, run / "cache", config.fit, False, files, write_cache=False)
    if ddp.main:
        if summary.skipped:
            log.warning("skipped %d unreadable file(s) in %s", summary.skipped, config.data)
        log.info("data: %d images of %s px from %s%s", summary.images, config.size_text, config.data,
                 " (cached)" if summary.from_cache else "")
    return data, summary


def _build(config: TrainConfig, run: Path, device: torch.device, ddp: distributed.Dist, data: np.ndarray, images: int) -> _Run:
    """Fresh networks, optimisers and random streams, seeded from the config."""
    precision = resolve_precision(config, device)
    memory_format = torch.channels_last if precision.channels_last else torch.preserve_format
    torch.manual_seed(config.seed)
    G, D = build_for(config)
    if ddp.rank:  # every process its own latents, noise and augmentations
        torch.manual_seed(config.seed + 1_000_003 * ddp.rank)
    G, D = G.to(device, memory_format=memory_format), D.to(device, memory_format=memory_format)
    G_ema = copy.deepcopy(G).eval().requires_grad_(False)
    lazy = _lazy(config)
    opt_g = torch.optim.Adam(G.parameters(), lr=config.lr_g, betas=(config.beta1, config.beta2))
    opt_d = torch.optim.Adam(D.parameters(), lr=config.lr_d * lazy, betas=(config.beta1**lazy, config.beta2**lazy))
    fp16 = precision.dtype == torch.float16
    scaler_g, scaler_d = torch.amp.GradScaler(device.type, enabled=fp16), torch.amp.GradScaler(device.type, enabled=fp16)
    ada = AdaptiveP(config.augment_p if config.augment != "off" else 0.0, config.ada_target, config.ada_kimg,
                    adaptive=config.augment == "ada", max_p=config.ada_max_p)
    sampler = torch.Generator().manual_seed(config.seed + 1)
    return _Run(config, run, device, ddp, precision, data, images, G, D, G_ema, opt_g, opt_d, scaler_g, scaler_d, ada,
                sampler, _Clock(), G_train=G, D_train=D)


def _lazy(config: TrainConfig) -> float:
    """StyleGAN2's correction of D's Adam settings for lazy R1: the fraction of updates that are not R1."""
    return config.r1_interval / (config.r1_interval + 1) if config.r1_gamma > 0 else 1.0


def _restore(r: _Run, state: dict[str, Any]) -> None:
    """Continue from a checkpoint: weights, optimiser moments, loss scales, ADA's p, random streams, counters."""
    r.G.load_state_dict(state["G"])
    r.G_ema.load_state_dict(state["G_ema"])
    r.D.load_state_dict(state["D"])
    for opt, key in ((r.opt_g, "opt_G"), (r.opt_d, "opt_D")):
        settings = [(g["lr"], g["betas"]) for g in opt.param_groups]
        opt.load_state_dict(state[key])
        for g, (lr, betas) in zip(opt.param_groups, settings):  # the config's values: --lr-g etc. may have changed
            g["lr"], g["betas"] = lr, betas
    for scaler, key in ((r.scaler_g, "scaler_G"), (r.scaler_d, "scaler_D")):
        if r.precision.dtype == torch.float16 and state.get(key):
            scaler.load_state_dict(state[key])
    if r.config.augment == "ada" and "augment" in state:
        r.ada.load_state_dict(state["augment"])
    rng = state["rng"]
    r.sampler.set_state(rng["sampler"])
    per_rank = state.get("rng_ranks") or [rng]
    if len(per_rank) == r.ddp.world:
        rng = per_rank[r.ddp.rank]
        torch.set_rng_state(rng["torch"])
        if r.device.type == "cuda" and "cuda" in rng:
            torch.cuda.set_rng_state(rng["cuda"], r.device)
    elif r.ddp.main:
        log.warning("resuming a run of %d processes with %d: random streams start afresh, so the run will not "
                    "repeat an uninterrupted one exactly", len(per_rank), r.ddp.world)
    r.step, r.images_seen = int(state["step"]), int(state["images_seen"])
    r.clock.base = r.spent_s = float(state.get("elapsed_s", 0.0))
    if r.ddp.main:
        _truncate_metrics(r.path / "metrics.jsonl", r.step)
        limits = [f"step {r.step} of {r.config.steps}" if r.config.steps else f"step {r.step}"]
        if r.config.minutes:
            limits.append(f"{r.clock.base / 60:.2f} of {r.config.minutes:g} minutes spent")
        print(f"resuming {r.path} at {', '.join(limits)}", flush=True)


def _wrap_ddp(r: _Run) -> None:
    if not r.ddp.enabled:
        return
    from torch.nn.parallel import DistributedDataParallel as DDP

    ids = [r.device.index] if r.device.type == "cuda" else None
    # Buffers (batch-norm statistics, w_avg) start equal, then follow each process's slice; rank 0's are saved.
    no_sync = {"forward_sync_buffers": False} if "forward_sync_buffers" in inspect.signature(DDP).parameters \
        else {"broadcast_buffers": False}
    r.G_train = DDP(r.G, device_ids=ids, **no_sync)
    r.D_train = DDP(r.D, device_ids=ids, **no_sync)
    # The [1, C] weight of D's last layer gets [1, 1]-strided gradients in the R1 pass: same memory, harmless.
    warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")


def _open_run(r: _Run) -> Reference | None:
    """First process: tidy and describe the run folder; returns the SWD reference (None when off or not first)."""
    config, run = r.config, r.path
    if not r.ddp.main:
        return None
    for p in checkpoint.remove_partial(run):
        log.warning("removed %s, left by a run killed while saving", p.name)
    (run / "training_options.json").write_text(json.dumps(config.to_dict(), indent=2) + "\n")
    reference = swd_reference(r.data, config.swd_images) if config.swd_every else None
    print(f"run folder {run}: checkpoints in {run / 'checkpoints'}, samples in {run / 'samples'}, "
          f"metrics in {run / 'metrics.jsonl'}, settings in {run / 'training_options.json'}", flush=True)
    print(f"{config.arch} {config.size_text} px, batch {config.batch}"
          f"{f' over {r.ddp.world} processes' if r.ddp.enabled else ''}, {r.device.type} {r.precision.describe()}, "
          f"augment {config.augment}{f' p={r.ada.p:.3f}' if config.augment != 'off' else ''}, "
          f"R1 gamma {config.r1_gamma:g}, EMA {config.ema_kimg:g} kimg"
          f"{f', budget {config.minutes:g} min' if config.minutes else ''}", flush=True)
    return reference


def _save(r: _Run) -> Path | None:
    """A checkpoint of the whole run (every process takes part; the first writes it)."""
    rngs = r.ddp.gather(_rng_state(r.sampler, r.device))
    digests = r.ddp.gather(distributed.weights_digest(r.G, r.G_ema, r.D)) if r.ddp.enabled else None
    if not r.ddp.main:
        return None
    _settle_ema(r)
    state = {"config": r.config.to_dict(), "step": r.step, "images_seen": r.images_seen,
             "dataset": {"images": r.images, "folder": str(r.config.data)},
             "G": r.G.state_dict(), "G_ema": r.G_ema.state_dict(), "D": r.D.state_dict(),
             "opt_G": r.opt_g.state_dict(), "opt_D": r.opt_d.state_dict(),
             "scaler_G": r.scaler_g.state_dict(), "scaler_D": r.scaler_d.state_dict(),
             "augment": r.ada.state_dict(), "rng": rngs[0], "world": r.ddp.world, "elapsed_s": r.clock.elapsed()}
    if r.ddp.enabled:
        state["rng_ranks"] = rngs
        state["rank_digests"] = digests
        if len(set(digests)) != 1:
            log.warning("step %d: the processes' weights differ (%s)", r.step, ", ".join(d[:12] for d in digests))
    return checkpoint.save(r.path, state, r.step, r.config.keep)


def _loop(r: _Run, reference: Reference | None, resumed: bool) -> TrainResult:
    """Steps until ``config.steps`` or a stop request, with metrics, samples and checkpoints on their schedules."""
    config, ddp = r.config, r.ddp
    last_ckpt = checkpoint.list_checkpoints(r.path)[-1] if ddp.main and checkpoint.list_checkpoints(r.path) else None
    saved_at = r.step if resumed else None  # the step of the newest checkpoint
    bar = None
    if config.progress and ddp.main:
        from tqdm import tqdm

        bar = tqdm(total=config.steps or None, initial=r.step, desc="training", unit="step", dynamic_ncols=True, disable=None)
    metrics = open(r.path / "metrics.jsonl", "a") if ddp.main else None
    pace = _Pace(time.perf_counter(), r.images_seen)
    r.clock.start, r.clock.excluded = time.perf_counter(), 0.0
    interrupted, finished = False, _finished(r)
    try:
        with _StopFlag() as stop:
            while not finished:
                loss_d, loss_g = _step(r)
                stopping, finished = _agree(r, stop.requested)
                rec = _losses_record(r, pace, loss_d, loss_g, finished)
                t_side = time.perf_counter()
                if ddp.main:
                    _report(r, rec, reference, metrics, bar, finished)
                if r.step % config.checkpoint_every == 0 or finished:
                    last_ckpt, saved_at = _save(r), r.step
                pace.side += time.perf_counter() - t_side
                if stopping and not finished:
                    interrupted = True
                    break
            if interrupted or saved_at != r.step:
                last_ckpt = _save(r)
    finally:
        if metrics is not None:
            metrics.close()
        if bar is not None:
            bar.close()
    return TrainResult(run=r.path, step=r.step, checkpoint=last_ckpt, interrupted=interrupted, main=ddp.main)


def _finished(r: _Run) -> bool:
    """The step limit reached, or the time budget spent (by the agreed clock)."""
    steps, budget = r.config.steps, r.config.budget_s
    return bool(steps and r.step >= steps) or bool(budget and r.spent_s >= budget)


def _agree(r: _Run, stop: bool) -> tuple[bool, bool]:
    """(stop requested, run finished): every process stops at the same step, and its schedules
    read the same clock (the first process's, which leaves out its SWD measurements), so weights stay equal."""
    spent = r.clock.elapsed()
    if r.ddp.enabled:
        flags = r.ddp.sum_(torch.tensor([float(stop), spent if r.ddp.main else 0.0], dtype=torch.float64, device=r.device))
        stop, spent = bool(flags[0].item()), flags[1].item()
    r.spent_s = spent
    return stop, _finished(r)


def _step(r: _Run) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimisation step (D, lazy R1, G, EMA, ADA); returns this process's D and G losses."""
    config, ddp, device, ada, policy = r.config, r.ddp, r.device, r.ada, r.config.policy
    local = config.batch // ddp.world  # each process trains on its slice of every batch
    idx = torch.randint(len(r.data), (config.batch,), generator=r.sampler)
    flip = torch.rand(config.batch, generator=r.sampler) < 0.5 if config.mirror else None
    mine = slice(ddp.rank * local, (ddp.rank + 1) * local)
    real = _real_batch(r.data, idx[mine], flip[mine] if flip is not None else None, device, r.precision)
    z = torch.randn(local, config.z_dim, device=device)

    # Discriminator: non-saturating logistic loss on augmented reals and fakes.
    factor = lr_factor(config, progress(config, r.step, r.spent_s)) if config.lr_final != 1.0 else 1.0
    for opt, base in ((r.opt_g, config.lr_g), (r.opt_d, config.lr_d * _lazy(config))):
        for group in opt.param_groups:
            group["lr"] = base * factor
    with r.precision.autocast(device):
        fake = r.G_train(z)
        real_logits = r.D_train(augment(real, ada.p, policy)).float()
        fake_logits = r.D_train(augment(fake.detach(), ada.p, policy)).float()
    loss_d = F.softplus(fake_logits).mean() + F.softplus(-real_logits).mean()
    ada.observe(real_logits)
    r.opt_d.zero_grad(set_to_none=True)
    r.scaler_d.scale(loss_d).backward()
    r.scaler_d.step(r.opt_d)
    r.scaler_d.update()
    if config.r1_gamma > 0 and r.step % config.r1_interval == 0:  # lazy R1, scaled by its interval
        penalty = _r1_penalty(r.D_train, real, ada.p, policy)
        r.opt_d.zero_grad(set_to_none=True)
        (penalty * (config.r1_gamma / 2 * config.r1_interval)).backward()
        r.opt_d.step()
        r.r1_value = penalty.detach()

    # Generator: the same fakes through the updated discriminator (its weights frozen).
    r.D.requires_grad_(False)
    with r.precision.autocast(device):
        loss_g = F.softplus(-r.D(augment(fake, ada.p, policy)).float()).mean()
    r.opt_g.zero_grad(set_to_none=True)
    r.scaler_g.scale(loss_g).backward()
    r.scaler_g.step(r.opt_g)
    r.scaler_g.update()
    r.D.requires_grad_(True)
    _update_ema(r.G_ema, r.G, _ema_beta(config, r.images_seen))

    r.step += 1
    r.images_seen += config.batch
    ada.adjust(r.step, config.batch, ddp.sum_ if ddp.enabled else None)
    return loss_d, loss_g


def _losses_record(r: _Run, pace: _Pace, loss_d: torch.Tensor, loss_g: torch.Tensor, last: bool) -> dict[str, Any]:
    """The metrics line of this step when one is due (losses averaged over processes), else {}."""
    config = r.config
    if not (r.step % config.log_every == 0 or last):
        return {}
    losses = r.ddp.sum_(torch.stack([loss_d.detach(), loss_g.detach()]).float()) / r.ddp.world
    now = time.perf_counter()
    ips = (r.images_seen - pace.seen_last) / max(now - pace.t_last - pace.side, 1e-9)
    pace.t_last, pace.seen_last, pace.side = now, r.images_seen, 0.0
    rec = {"step": r.step, "images": r.images_seen, "loss_d": round(losses[0].item(), 5),
           "loss_g": round(losses[1].item(), 5), "augment_p": round(r.ada.p, 5), "images_per_s": round(ips, 1),
           "minutes": round(r.clock.elapsed() / 60.0, 4)}
    if r.r1_value is not None:
        rec["r1"] = round(r.r1_value.item(), 5)
    return rec


def _report(r: _Run, rec: dict[str, Any], reference: Reference | None, metrics, bar, last: bool) -> None:
    """First process: SWD when due, the metrics line, the progress bar, the sample grid when due."""
    config, step = r.config, r.step
    if reference is not None and (step % config.swd_every == 0 or last):
        t0 = time.perf_counter()
        _settle_ema(r)
        result = reference.distance(generate(r.G_ema, config.z_dim, r.device, range(config.swd_images)))
        rec.update(step=step, images=r.images_seen, minutes=round(r.clock.elapsed() / 60.0, 4), swd=round(result.mean, 3),
                   swd_levels={str(k): round(v, 3) for k, v in result.levels.items()})
        r.clock.excluded += time.perf_counter() - t0  # a diagnostic, not part of the budget
    if rec:
        metrics.write(json.dumps({**rec, "time": round(time.time(), 3)}) + "\n")
        metrics.flush()
        if bar is not None and "loss_d" in rec:
            post = {"img_s": f"{rec['images_per_s']:.0f}", "d": f"{rec['loss_d']:.3f}", "g": f"{rec['loss_g']:.3f}"}
            if config.augment != "off":
                post["p"] = f"{r.ada.p:.3f}"
            bar.set_postfix(post)
        if bar is not None and "swd" in rec:
            bar.write(f"step {step}: SWD x1e3 {rec['swd']:.2f}")
    if bar is not None:
        bar.update(1)
    if step % config.sample_every == 0 or last:
        _settle_ema(r)
        save_grid(preview(r.G_ema, config.z_dim, r.device), r.path / "samples" / f"step-{step:08d}.png")


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


SETTLE_SEEDS = range(1 << 20, (1 << 20) + 256)  # latents that re-estimate G_ema's batch-norm statistics


@torch.no_grad()
def _settle_ema(r: _Run, batch: int = 64) -> None:
    """Re-estimate G_ema's batch-norm statistics from its own activations (no-op without batch norm).

    Every step copies G's statistics into G_ema, but they describe G's current weights, not the
    averaged ones; before the averaged generator is shown, measured or saved, its statistics are
    recomputed in train mode over fixed latents, so the result is deterministic (SWD at the end of
    issue 18's 30-minute runs: 129 -> 94 for `lite`, 81 -> 69 for `dcgan`; docs/training.md)."""
    if r.settled_at == r.step:
        return
    settle_batch_norm(r.G_ema, r.config.z_dim, r.device, batch)
    r.settled_at = r.step


@torch.no_grad()
def settle_batch_norm(g: torch.nn.Module, z_dim: int, device: torch.device, batch: int = 64) -> None:
    """Recompute an averaged generator's batch-norm statistics over ``SETTLE_SEEDS`` in train mode,
    then leave it in eval mode (no-op without batch norm)."""
    if not any(isinstance(m, torch.nn.BatchNorm2d) for m in g.modules()):
        return
    zs = [torch.from_numpy(z_batch(list(SETTLE_SEEDS[i:i + batch]), z_dim)).to(device)
          for i in range(0, len(SETTLE_SEEDS), batch)]
    torch.optim.swa_utils.update_bn(zs, g)
    g.eval()


@torch.no_grad()
def _update_ema(ema: torch.nn.Module, model: torch.nn.Module, beta: float) -> None:
    """Moving average of the weights; buffers (batch-norm statistics) are copied as they are."""
    torch._foreach_lerp_(list(ema.parameters()), list(model.parameters()), 1.0 - beta)
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
