"""``ganplug eval``: SWD between a generator's images and a folder of real ones.

The generator is a contract ONNX model (run on onnxruntime: no torch needed) or a run folder /
checkpoint (its EMA generator, in PyTorch). Generated images are contract seeds 0..N-1, the
real ones a seeded choice of N files of the folder, prepared as the trainer prepares them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from .errors import ConfigError
from .seeds import z_batch
from .swd import Reference, SWDConfig, SWDResult
from .train.data import load_image, scan

log = logging.getLogger("ganplug.eval")


@dataclass(frozen=True)
class EvalConfig:
    source: str  # contract .onnx model, run folder or checkpoint file
    data: str
    images: int = 2048
    truncation: float = 1.0
    fit: str = "crop"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.images < 2:
            raise ConfigError(f"--images must be at least 2, got {self.images}")
        if self.fit not in ("crop", "pad"):
            raise ConfigError(f"--fit must be crop or pad, got {self.fit!r}")


@dataclass(frozen=True)
class EvalReport:
    swd: SWDResult
    generated: int
    real: int
    resolution: int  # the larger side
    width: int = 0
    height: int = 0


def real_images(folder: Path, resolution: int | tuple[int, int], count: int, fit: str = "crop", seed: int = 0) -> np.ndarray:
    """Up to ``count`` images of ``folder`` (a seeded choice) at ``resolution`` (N or (W, H)), uint8 [N, H, W, 3],
    cropped or padded to the W:H aspect as the trainer does; unreadable files skipped."""
    files = scan(folder)
    order = np.random.default_rng(seed).permutation(len(files))
    out = []
    for i in order:
        if len(out) == count:
            break
        try:
            out.append(load_image(files[i], resolution, fit))
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
            log.warning("skipping %s: unreadable", files[i])
    if len(out) < 2:
        raise ConfigError(f"{folder}: fewer than 2 readable images")
    return np.stack(out)


def generated_images(source: str, count: int, truncation: float = 1.0, batch: int = 64) -> np.ndarray:
    """Contract images of seeds 0..count-1 from an ONNX model or a run's EMA generator."""
    if source.endswith(".onnx"):
        from .runtime.engine import Engine, EngineConfig

        engine = Engine(source, EngineConfig(device="cpu", cache_dir=None))
        return np.concatenate([engine.run(z_batch(list(range(i, min(i + batch, count))), engine.info.z_dim), truncation)
                               for i in range(0, count, batch)])
    import torch

    from .train.checkpoint import load_generator
    from .train.loop import generate

    g, cfg, _ = load_generator(source)
    return generate(g, cfg.z_dim, torch.device("cpu"), range(count), batch, truncation)


def evaluate(config: EvalConfig) -> EvalReport:
    """SWD of the model's images against real ones loaded at the model's W x H (its frames' shape,
    which is ``ModelMetadata.frame_size`` for an ONNX model)."""
    fake = generated_images(config.source, config.images, config.truncation)
    height, width = fake.shape[1:3]
    real = real_images(Path(config.data), (width, height), config.images, config.fit, config.seed)
    if fake.shape[-1] != real.shape[-1]:
        fake = fake[..., : real.shape[-1]]  # an RGBA model against RGB data: compare colour only
    result = Reference(real, SWDConfig(seed=config.seed)).distance(fake)
    return EvalReport(result, len(fake), len(real), max(width, height), width, height)
