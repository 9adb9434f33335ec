"""A procedural data set of abstract colour images, for the bundled model and tests.

Each image is a domain-warped field of soft blobs and waves, coloured with a
cosine palette (a + b*cos(2*pi*(c*t + d))). Smooth shapes and saturated colour
make latent walks over a small generator look good. Image ``i`` depends only
on ``(seed, i)``, so the set is the same on every machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .errors import ConfigError


@dataclass(frozen=True)
class DatasetConfig:
    """``ganplug dataset``: how many images, how large, from which seed."""

    out: str
    count: int = 2000
    size: int = 128
    seed: int = 0

    def __post_init__(self) -> None:
        if self.count < 1 or self.size < 8:
            raise ConfigError("--count must be at least 1 and --size at least 8")


def make_image(rng: np.random.Generator, size: int) -> np.ndarray:
    """One RGB uint8 image [size, size, 3]."""
    lin = (np.arange(size) + 0.5) / size * 2.0 - 1.0
    y, x = np.meshgrid(lin, lin, indexing="ij")
    # Domain warp: bend the plane with two low-frequency sines.
    amp, f = rng.uniform(0.05, 0.35), rng.uniform(1.0, 4.0, 2)
    ph = rng.uniform(0, 2 * np.pi, 2)
    xw = x + amp * np.sin(f[0] * y + ph[0])
    yw = y + amp * np.sin(f[1] * x + ph[1])

    field = np.zeros_like(x)
    for _ in range(rng.integers(2, 6)):
        cx, cy = rng.uniform(-0.8, 0.8, 2)
        r = rng.uniform(0.15, 0.6)
        field += rng.uniform(0.5, 1.0) * np.exp(-((xw - cx) ** 2 + (yw - cy) ** 2) / (r * r))
    theta, freq = rng.uniform(0, np.pi), rng.uniform(2.0, 9.0)
    field += rng.uniform(0.0, 0.4) * np.sin(freq * (xw * np.cos(theta) + yw * np.sin(theta)) + rng.uniform(0, 2 * np.pi))
    if rng.random() < 0.4:  # concentric rings for some images
        field = 0.5 + 0.5 * np.sin(rng.uniform(6.0, 14.0) * field)

    a = rng.uniform(0.35, 0.65, 3)
    b = rng.uniform(0.3, 0.5, 3)
    c = rng.uniform(0.5, 1.5, 3) * rng.choice([1.0, 0.5])
    d = rng.uniform(0.0, 1.0, 3)
    rgb = a + b * np.cos(2 * np.pi * (c * field[..., None] + d))
    return (np.clip(rgb, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def generate(out: Path, count: int, size: int = 128, seed: int = 0, progress: bool = True) -> list[Path]:
    """Write ``count`` PNG images of ``size`` px into ``out``; returns their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    it = range(count)
    if progress:
        from tqdm import tqdm

        it = tqdm(it, desc="generating images", unit="img", leave=False, disable=None)
    paths = []
    for i in it:
        rng = np.random.default_rng([seed, i])
        path = out / f"{i:05d}.png"
        Image.fromarray(make_image(rng, size)).save(path)
        paths.append(path)
    return paths
