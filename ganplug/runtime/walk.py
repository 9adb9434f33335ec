"""Latent walks: pure functions of (seeds, walk time, parameters).

Walk time ``t`` is in seconds at speed 1. Every walk keeps z on the model's
prior (each point is, in distribution, a standard normal vector), so frames look
like the images the model was trained to make:

- ``hold``: the contract latent of one seed.
- ``slerp``: spherical interpolation through keyframe seeds, one keyframe per period.
- ``loop``: z = cos(θ)·a + sin(θ)·b, one turn per period; closed and seamless.
- ``noise``: a sum of harmonics of θ with weights whose squares sum to 1; closed and seamless.
- ``random``: a sum of sinusoids with random frequencies; smooth, never repeating, bounded.

:class:`Walker` adds what a performance needs on top: speed (integrated, so
changing it never jumps), pause, and blends between walks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from ..show.table import EASINGS, WALKS, defaults
from ..seeds import SEED_MAX, z_from_seed

_D = defaults()
NOISE_HARMONICS = 4
RANDOM_COMPONENTS = 8


@dataclass(frozen=True)
class WalkParams:
    """Everything that decides the latent at a given walk time."""

    mode: str = _D["walk"]
    seed: int = _D["seed"]
    keyframes: tuple[int, ...] = _D["keyframes"]
    period: float = _D["period"]
    easing: str = _D["easing"]
    latent: tuple[float, ...] | None = None  # set directly over OSC; overrides mode while set
    offset: tuple[float, ...] = ()  # added to every latent: movement along semantic directions

    def __post_init__(self) -> None:
        if self.mode not in WALKS:
            raise ValueError(f"walk must be one of {', '.join(WALKS)}, got {self.mode!r}")
        if self.easing not in EASINGS:
            raise ValueError(f"easing must be one of {', '.join(EASINGS)}, got {self.easing!r}")
        if not self.period > 0:
            raise ValueError(f"period must be positive, got {self.period}")


@lru_cache(maxsize=256)
def _z(seed: int, z_dim: int) -> np.ndarray:
    z = z_from_seed(seed, z_dim).astype(np.float64)
    z.flags.writeable = False
    return z


@lru_cache(maxsize=16)
def _basis(kind: str, seed: int, z_dim: int, n: int) -> np.ndarray:
    """Fixed random vectors for the noise and random walks, derived from the seed."""
    rng = np.random.default_rng([seed, {"noise": 1, "random": 2}[kind]])
    b = rng.standard_normal((n, z_dim))
    b.flags.writeable = False
    return b


def period_seconds(period: float, bpm: float) -> float:
    """A period given in beats (bpm > 0) or seconds (bpm = 0), in seconds of walk time."""
    return period * 60.0 / bpm if bpm > 0 else period


def ease(x: float, easing: str) -> float:
    if easing == "smooth":
        return x * x * (3.0 - 2.0 * x)
    if easing == "cosine":
        return 0.5 - 0.5 * math.cos(math.pi * x)
    return x


def slerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Spherical interpolation; norms are interpolated linearly so the path stays near the prior's shell."""
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0.0 or nb == 0.0:
        return (1.0 - t) * a + t * b
    ua, ub = a / na, b / nb
    omega = math.acos(max(-1.0, min(1.0, float(ua @ ub))))
    if omega < 1e-6:
        u = ua
    else:
        s = math.sin(omega)
        u = (math.sin((1.0 - t) * omega) * ua + math.sin(t * omega) * ub) / s
    return u * ((1.0 - t) * na + t * nb)


def keyframe_seed(p: WalkParams, i: int) -> int:
    """The i-th keyframe: from the list (cycling) or seed + i (wrapping inside the seed range)."""
    if p.keyframes:
        return p.keyframes[i % len(p.keyframes)]
    return (p.seed + i) % (SEED_MAX + 1)


def latent_at(p: WalkParams, t: float, z_dim: int) -> np.ndarray:
    """The walk's latent at walk time ``t`` (float64, shape (z_dim,)), offset included."""
    z = _walk_latent(p, t, z_dim)
    return z + np.asarray(p.offset) if p.offset else z


def _walk_latent(p: WalkParams, t: float, z_dim: int) -> np.ndarray:
    if p.latent is not None:
        return np.asarray(p.latent, np.float64)
    if p.mode == "hold":
        return _z(p.seed, z_dim)
    x = t / p.period
    if p.mode == "slerp":
        i = math.floor(x)
        return slerp(_z(keyframe_seed(p, i), z_dim), _z(keyframe_seed(p, i + 1), z_dim), ease(x - i, p.easing))
    theta = 2.0 * math.pi * x
    if p.mode == "loop":
        return math.cos(theta) * _z(p.seed, z_dim) + math.sin(theta) * _z((p.seed + 1) % (SEED_MAX + 1), z_dim)
    if p.mode == "noise":
        b = _basis("noise", p.seed, z_dim, 2 * NOISE_HARMONICS)
        k = np.arange(1, NOISE_HARMONICS + 1)
        w = 1.0 / k
        w /= np.sqrt((w * w).sum())
        coef = np.concatenate([w * np.cos(k * theta), w * np.sin(k * theta)])
        return coef @ b
    # random: per-dimension sums of sinusoids with frequencies between 0.5 and 1.5 turns per period
    b = _basis("random", p.seed, z_dim, 3 * RANDOM_COMPONENTS)
    amp, freq, phase = b[:RANDOM_COMPONENTS], b[RANDOM_COMPONENTS:2 * RANDOM_COMPONENTS], b[2 * RANDOM_COMPONENTS:]
    freq = 1.0 + 0.5 * np.tanh(freq)
    return math.sqrt(2.0 / RANDOM_COMPONENTS) * (amp * np.cos(2.0 * math.pi * freq * x + math.pi * phase)).sum(0)


@dataclass
class _Blend:
    params: WalkParams
    time: float
    duration: float
    elapsed: float = 0.0


class Walker:
    """A walk in progress: walk time, speed, pause and blends between walks.

    ``advance(dt)`` moves time forward by ``dt`` real seconds; ``latent()`` is the
    current z. Same calls, same latents: ``render`` and ``serve`` share this.
    """

    def __init__(self, z_dim: int, params: WalkParams = WalkParams(), speed: float = _D["speed"],
                 blend: float = _D["blend"], paused: bool = bool(_D["pause"])):
        self.z_dim = z_dim
        self.params = params
        self.time = 0.0
        self.speed = speed
        self.blend = blend
        self.paused = paused
        self._from: _Blend | None = None

    def set(self, restart: bool = False, cut: bool = False, time: float | None = None, **changes: object) -> None:
        """Change walk parameters or jump in walk time; the change blends over ``self.blend`` seconds
        (0 or ``cut``: at once).

        ``restart`` sets walk time back to 0, so the new walk starts at its first keyframe;
        ``time`` jumps to that walk time.
        """
        new = replace(self.params, **changes)
        if restart:
            time = 0.0
        if new == self.params and time is None:
            return
        if self.blend > 0 and not cut:
            self._from = _Blend(self.params, self.time, self.blend)
        else:
            self._from = None
        self.params = new
        if time is not None:
            self.time = time

    def next_keyframe(self) -> None:
        """Move on: slerp to the next keyframe (the previous one when walking backwards),
        hold to the next seed, the other walks by a quarter period; blended like any change."""
        p, x = self.params, self.time / self.params.period
        if p.mode == "hold":
            self.set(seed=(p.seed + 1) % (SEED_MAX + 1), latent=None)
        elif p.mode == "slerp":
            k = math.floor(x) + 1 if self.speed >= 0 else math.ceil(x) - 1
            self.set(latent=None, time=k * p.period)
        else:
            self.set(latent=None, time=self.time + math.copysign(0.25, self.speed or 1.0) * p.period)

    def shift(self, periods: float) -> None:
        """Nudge walk time by a fraction of a period (phase lock to a beat grid); no blend needed."""
        self.time += periods * self.params.period

    def set_period(self, period: float) -> None:
        """Change the period without a jump: walk time is rescaled so the position stays put."""
        scale = period / self.params.period
        self.time *= scale
        if self._from is not None:
            self._from.time *= period / self._from.params.period
            self._from.params = replace(self._from.params, period=period)
        self.params = replace(self.params, period=period)

    def advance(self, dt: float) -> None:
        """Move on by ``dt`` seconds of real time. Pause freezes walk time; blends still finish."""
        step = 0.0 if self.paused else self.speed * dt
        self.time += step
        if self._from is not None:
            self._from.time += step
            self._from.elapsed += dt
            if self._from.elapsed >= self._from.duration:
                self._from = None

    def latent(self, z_dim: int | None = None) -> np.ndarray:
        """The current latent, float32 (z_dim,). Another ``z_dim`` (a second model, one being switched
        from) walks the same seeds at the same walk time; a held latent and direction offsets, which
        live in this walker's own z space, are left out there."""
        z_dim = z_dim or self.z_dim
        params, blend = self.params, self._from
        if z_dim != self.z_dim:
            params = portable(params)
        z = latent_at(params, self.time, z_dim)
        if blend is not None:
            old = latent_at(blend.params if z_dim == self.z_dim else portable(blend.params), blend.time, z_dim)
            if old.shape == z.shape:  # a blend that began before a change of z_dim cannot span it
                z = slerp(old, z, ease(min(1.0, blend.elapsed / blend.duration), "smooth"))
        return z.astype(np.float32)

    def resize(self, z_dim: int) -> None:
        """Walk another model's z space from now on, at the same walk time and seeds; what lived in
        the old z space (a held latent, direction offsets) is dropped."""
        if z_dim == self.z_dim:
            return
        self.z_dim = z_dim
        self.params = portable(self.params)
        if self._from is not None:
            self._from.params = portable(self._from.params)


def portable(p: WalkParams) -> WalkParams:
    """The walk without what belongs to one z space: the held latent and the direction offset."""
    return p if p.latent is None and not p.offset else replace(p, latent=None, offset=())
