"""Contract 1: how a seed becomes a latent vector.

Every part of ganplug (training previews, ``render``, ``serve``, examples) turns
an integer seed into ``z`` with :func:`z_from_seed` and nothing else, so a seed
names the same image everywhere. NumPy's ``default_rng`` (PCG64) and its
``standard_normal`` are specified to give the same stream on every platform.
"""

from __future__ import annotations

import numpy as np

SEED_MIN = 0
SEED_MAX = 2**31 - 1  # seeds travel as OSC int32


def z_from_seed(seed: int, z_dim: int) -> np.ndarray:
    """The contract latent of ``seed``: float32, shape ``(z_dim,)``."""
    if not SEED_MIN <= int(seed) <= SEED_MAX:
        raise ValueError(f"seed {seed} is outside {SEED_MIN}..{SEED_MAX}")
    return np.random.default_rng(int(seed)).standard_normal(z_dim).astype(np.float32)


def z_batch(seeds: list[int] | tuple[int, ...], z_dim: int) -> np.ndarray:
    """Stack :func:`z_from_seed` for several seeds: float32 ``(len(seeds), z_dim)``."""
    return np.stack([z_from_seed(s, z_dim) for s in seeds]) if seeds else np.zeros((0, z_dim), np.float32)
