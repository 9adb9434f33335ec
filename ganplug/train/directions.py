"""Semantic directions in the latent space, found as GANSpace does (Härkönen et al. 2020).

For a generator fed z directly (DCGAN), principal components of an early layer's
activations over many random z are the main ways the images vary; regressing z on the
components' coordinates gives, for each, the direction in z that moves along it. The
directions are unit vectors, so an amount of 1 is one standard deviation of the prior.
"""

from __future__ import annotations

import numpy as np
import torch

DIRECTIONS = 16
SAMPLES = 4096
SEED = 20201


@torch.no_grad()
def principal_directions(generator: torch.nn.Module, z_dim: int, k: int = DIRECTIONS, n: int = SAMPLES) -> np.ndarray:
    """[k, z_dim] float32 unit directions, strongest first, from ``generator.features(z)``."""
    z = torch.from_numpy(np.random.default_rng(SEED).standard_normal((n, z_dim)).astype(np.float32))
    feats = torch.cat([generator.features(z[i:i + 512]).flatten(1) for i in range(0, n, 512)]).double()
    x = feats - feats.mean(0)
    _, _, vt = torch.linalg.svd(x, full_matrices=False)
    k = min(k, vt.shape[0], z_dim)
    coords = x @ vt[:k].T  # [n, k]
    coords = coords / coords.std(0)
    u = torch.linalg.lstsq(coords, z.double()).solution  # [k, z_dim]: z ≈ coords @ u
    u = u / u.norm(dim=1, keepdim=True)
    return u.float().numpy()
