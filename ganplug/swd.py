"""Multi-scale sliced Wasserstein distance (SWD) between two sets of images, after Karras et al.
2018, "Progressive Growing of GANs", appendix D. NumPy only: no downloaded network, no torch.

1. Each image is split into a Laplacian pyramid (Burt & Adelson: 5-tap binomial blur, factor 2)
   from its full size down, halving while half the smaller side is still at least 16 px; the
   coarsest level is the Gaussian level itself (16 px for a power-of-two square; 32x18 for
   256x144). Images need not be square: each axis keeps its own size (odd sizes round up).
2. From every level of every image, ``descriptors`` 7x7 neighbourhoods at random positions
   become descriptors of 7 x 7 x C values.
3. Each set's descriptors of one level are normalised by that set's per-channel mean and
   standard deviation (as in the paper), so SWD compares structure and local colour
   statistics rather than a global colour shift.
4. The sliced Wasserstein distance: ``repeats`` times, project both sets onto ``directions``
   random unit vectors, sort, and average the absolute differences of matching quantiles.
   Sets of different sizes are compared at the quantiles of the smaller one.

Values are reported x 1000 like the paper's tables, per level and as their mean. A level is
keyed by its larger side in pixels (its resolution; for 256x128 images the keys are 256, 128,
64 and 32). Lower is better; a set against itself gives 0. Compare numbers measured with the
same settings and image counts only: SWD falls as more descriptors are used.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

_BINOMIAL = np.array([1.0, 4.0, 6.0, 4.0, 1.0], np.float32) / 16.0


@dataclass(frozen=True)
class SWDConfig:
    min_resolution: int = 16
    patch: int = 7
    descriptors: int = 128  # neighbourhoods per image and level (the paper's figure)
    directions: int = 128  # random projections per repeat
    repeats: int = 4  # 4 x 128 = 512 projections, as in the paper
    seed: int = 0


@dataclass(frozen=True)
class SWDResult:
    levels: dict[int, float] = field(default_factory=dict)  # resolution -> SWD x 1000

    @property
    def mean(self) -> float:
        return float(np.mean(list(self.levels.values())))

    def __str__(self) -> str:
        per = "  ".join(f"{r}px {v:.2f}" for r, v in sorted(self.levels.items(), reverse=True))
        return f"SWD x1e3 mean {self.mean:.2f}  ({per})"


def _blur(x: np.ndarray, axis: int) -> np.ndarray:
    """5-tap binomial filter along ``axis`` with reflected edges."""
    pad = [(0, 0)] * x.ndim
    pad[axis] = (2, 2)
    xp = np.pad(x, pad, mode="reflect")
    n = x.shape[axis]
    return sum(w * np.take(xp, np.arange(i, i + n), axis=axis) for i, w in enumerate(_BINOMIAL))


def _down(x: np.ndarray) -> np.ndarray:
    """Blur, then keep every other pixel. ``x`` is [N, H, W, C]."""
    return _blur(_blur(x, 1), 2)[:, ::2, ::2]


def _up(x: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
    """Insert zeros between pixels, then blur with 4x the filter's weight (keeps the mean).
    ``size`` (h, w): the finer level's, when an odd side was halved (default: twice ``x``'s)."""
    n, h, w, c = x.shape
    h2, w2 = size or (2 * h, 2 * w)
    y = np.zeros((n, h2, w2, c), np.float32)
    y[:, ::2, ::2] = x * 4.0
    return _blur(_blur(y, 1), 2)


def laplacian_pyramid(images: np.ndarray, min_resolution: int = 16) -> dict[int, np.ndarray]:
    """uint8 [N, H, W, C] -> {larger side: float32 level}: band-pass levels, then the coarsest Gaussian.
    Halves while half the smaller side is at least ``min_resolution``."""
    g = images.astype(np.float32)
    levels: dict[int, np.ndarray] = {}
    while min(g.shape[1:3]) // 2 >= min_resolution:
        small = _down(g)
        levels[max(g.shape[1:3])] = g - _up(small, g.shape[1:3])
        g = small
    levels[max(g.shape[1:3])] = g
    return levels


def descriptors(images: np.ndarray, cfg: SWDConfig, rng: np.random.Generator, batch: int = 256) -> dict[int, np.ndarray]:
    """Per pyramid level, normalised descriptors of all images: {resolution: [N * descriptors, 7*7*C]}."""
    if images.ndim != 4 or min(images.shape[1:3]) < cfg.min_resolution:
        raise ValueError(f"SWD needs [N, H, W, C] images with sides of at least {cfg.min_resolution} px, got shape {images.shape}")
    out: dict[int, list[np.ndarray]] = {}
    p = cfg.patch
    for start in range(0, len(images), batch):
        for res, level in laplacian_pyramid(images[start:start + batch], cfg.min_resolution).items():
            n = len(level)
            windows = np.lib.stride_tricks.sliding_window_view(level, (p, p), axis=(1, 2))  # [n, H-p+1, W-p+1, C, p, p]
            ys = rng.integers(0, level.shape[1] - p + 1, (n, cfg.descriptors))
            xs = rng.integers(0, level.shape[2] - p + 1, (n, cfg.descriptors))
            d = windows[np.arange(n)[:, None], ys, xs]  # [n, descriptors, C, p, p]
            out.setdefault(res, []).append(d.reshape(n * cfg.descriptors, -1, p * p))
    result = {}
    for res, parts in out.items():
        d = np.concatenate(parts)  # [M, C, p*p]
        d = (d - d.mean((0, 2), keepdims=True)) / (d.std((0, 2), keepdims=True) + 1e-8)
        result[res] = d.reshape(len(d), -1).astype(np.float32)
    return result


def _directions(dims: int, cfg: SWDConfig, res: int, repeat: int) -> np.ndarray:
    """The same random unit directions for both sets (seeded by level and repeat)."""
    d = np.random.default_rng([cfg.seed, res, repeat]).standard_normal((dims, cfg.directions)).astype(np.float32)
    return d / np.linalg.norm(d, axis=0, keepdims=True)


def _sorted_projections(desc: np.ndarray, dirs: np.ndarray) -> np.ndarray:
    return np.sort((desc @ dirs).T, axis=1)  # [directions, M]


def _quantiles(sorted_proj: np.ndarray, m: int) -> np.ndarray:
    """``m`` evenly spaced order statistics of each row."""
    n = sorted_proj.shape[1]
    return sorted_proj[:, ((np.arange(m) + 0.5) * n / m).astype(np.int64)]


class Reference:
    """One image set's sorted projections, computed once and compared with many others
    (the training set, against which the trainer measures every few thousand steps)."""

    def __init__(self, images: np.ndarray, cfg: SWDConfig = SWDConfig()):
        self.cfg, self.size = cfg, tuple(images.shape[1:3])  # (H, W)
        self.resolution = max(self.size)
        desc = descriptors(images, cfg, np.random.default_rng([cfg.seed, 1]))
        self.projections = {res: [_sorted_projections(d, _directions(d.shape[1], cfg, res, r)) for r in range(cfg.repeats)]
                            for res, d in desc.items()}

    def distance(self, images: np.ndarray) -> SWDResult:
        if tuple(images.shape[1:3]) != self.size:
            raise ValueError(f"images of HxW {images.shape[1:3]} compared with a reference of {self.size}")
        desc = descriptors(images, self.cfg, np.random.default_rng([self.cfg.seed, 1]))
        levels = {}
        for res, d in desc.items():
            dists = []
            for r, ref in enumerate(self.projections[res]):
                mine = _sorted_projections(d, _directions(d.shape[1], self.cfg, res, r))
                m = min(mine.shape[1], ref.shape[1])
                dists.append(np.abs(_quantiles(mine, m) - _quantiles(ref, m)).mean())
            levels[res] = float(np.mean(dists)) * 1e3
        return SWDResult(levels)


def swd(a: np.ndarray, b: np.ndarray, cfg: SWDConfig = SWDConfig()) -> SWDResult:
    """SWD between uint8 image sets ``a`` and ``b`` ([N, H, W, C], same H and W)."""
    return Reference(a, cfg).distance(b)
