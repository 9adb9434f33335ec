"""Offline rendering of a walk: PNG frames into a folder, or a video/GIF through imageio.

Frame k is the walk at walk time ``k * speed / fps``, advanced exactly as the
live server advances it when it keeps its schedule, so the two agree frame for
frame.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..contract import directions
from ..errors import ConfigError
from ..show.table import defaults
from .engine import Engine
from .fit import Fitter, output_for
from .walk import Walker, WalkParams

log = logging.getLogger("ganplug.render")
_D = defaults()
VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".webm", ".avi", ".gif"}


@dataclass(frozen=True)
class RenderConfig:
    output: str
    walk: WalkParams = WalkParams()
    seconds: float | None = None  # None: one period for closed walks (loop, noise), else 10 s
    fps: float = 30.0
    speed: float = _D["speed"]
    truncation: float = _D["truncation"]
    start: float = 0.0  # walk time of the first frame (``/ganplug/state`` reports the live one)
    batch: int = 1  # walk steps per engine run; larger batches can raise throughput
    direction: int | None = None  # semantic direction to move along
    amount: float = 3.0  # how far, in standard deviations
    sweep: bool = False  # -amount .. +amount .. -amount over the clip, instead of a fixed offset
    progress: bool = True
    size: tuple[int, int] | None = None  # (width, height) of the frames written; None = the model's own
    fit: str = "crop"  # crop, pad or stretch, as ``serve --fit``

    def frame_count(self) -> int:
        seconds = self.seconds
        if seconds is None:
            closed = self.walk.mode in ("loop", "noise") and self.walk.latent is None
            seconds = self.walk.period / abs(self.speed) if closed and self.speed else (4.0 if self.sweep else 10.0)
        return max(1, int(math.floor(seconds * self.fps + 1e-6)))


def frames(engine: Engine, config: RenderConfig):
    """Yield (index, uint8 [H, W, C]) for each frame of the walk, fitted to ``config.size`` as ``serve`` fits it."""
    if not config.fps > 0:
        raise ConfigError("--fps must be positive for rendering")
    if config.batch < 1:
        raise ConfigError("--batch must be at least 1")
    walker = Walker(engine.info.z_dim, config.walk, speed=config.speed, blend=0.0)
    walker.time = config.start
    period = 1.0 / config.fps
    n = config.frame_count()
    direction = _direction(engine, config)
    fit = Fitter(engine.info.frame_shape, output_for(engine.info.frame_shape, config.size, config.fit))
    for first in range(0, n, config.batch):
        zs = []
        for k in range(first, min(first + config.batch, n)):
            if k:
                walker.advance(period)
            z = walker.latent()
            if direction is not None:
                # a sweep starts at -amount, reaches +amount half way and returns, so it loops
                a = -config.amount * math.cos(2 * math.pi * k / n) if config.sweep else config.amount
                z = (z + a * direction).astype(np.float32)
            zs.append(z)
        for i, px in enumerate(engine.run(np.stack(zs), config.truncation)):
            yield first + i, fit(px)


def _direction(engine: Engine, config: RenderConfig) -> np.ndarray | None:
    if config.direction is None:
        return None
    d = directions(engine.info)
    if d is None:
        raise ConfigError(f"{engine.info.path} carries no semantic directions (export it again with ganplug export)")
    if not 0 <= config.direction < len(d):
        raise ConfigError(f"--direction {config.direction} is outside 0..{len(d) - 1}")
    return d[config.direction]


def render(engine: Engine, config: RenderConfig) -> tuple[Path, int]:
    """Write every frame; returns (output path, frames written)."""
    out = Path(config.output)
    n = config.frame_count()
    bar = None
    if config.progress:
        from tqdm import tqdm

        bar = tqdm(total=n, desc="rendering", unit="frame", disable=None)
    try:
        if out.suffix.lower() in VIDEO_SUFFIXES:
            written = _write_video(engine, config, out, bar)
        else:
            written = _write_pngs(engine, config, out, bar)
    finally:
        if bar is not None:
            bar.close()
    return out, written


def _write_pngs(engine: Engine, config: RenderConfig, out: Path, bar) -> int:
    from PIL import Image

    out.mkdir(parents=True, exist_ok=True)
    count = 0
    for k, px in frames(engine, config):
        Image.fromarray(px.squeeze(-1) if px.shape[-1] == 1 else px).save(out / f"frame-{k:05d}.png")
        count += 1
        if bar is not None:
            bar.update(1)
    return count


def _write_video(engine: Engine, config: RenderConfig, out: Path, bar) -> int:
    try:
        import imageio.v2 as imageio
    except ModuleNotFoundError:
        raise ConfigError("writing video needs imageio: pip install 'ganplug[video]' (or render to a folder of PNGs)") from None
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.partial{out.suffix}")
    if out.suffix.lower() == ".gif":
        writer = imageio.get_writer(tmp, mode="I", duration=1000.0 / config.fps, loop=0)
    else:
        # yuv420p plays everywhere; quality 8 of 10 keeps gradients clean.
        writer = imageio.get_writer(tmp, fps=config.fps, codec="libx264", quality=8, pixelformat="yuv420p",
                                    macro_block_size=1)
    count = 0
    gif = out.suffix.lower() == ".gif"
    try:
        for k, px in frames(engine, config):
            writer.append_data(np.ascontiguousarray(px[..., :3] if gif else even_sides(px[..., :3], warn=k == 0)))
            count += 1
            if bar is not None:
                bar.update(1)
    finally:
        writer.close()
    tmp.replace(out)
    return count


def even_sides(px: np.ndarray, warn: bool = False) -> np.ndarray:
    """A frame with even width and height, as H.264 in yuv420p needs: an odd side grows by one pixel,
    a copy of the last row or column (``warn``: say so once)."""
    h, w = px.shape[:2]
    if h % 2 == 0 and w % 2 == 0:
        return px
    if warn:
        log.warning("video frames are %dx%d; H.264 needs even sides, so they are written as %dx%d "
                    "(the last row/column repeated); PNGs and GIFs keep the exact size", w, h, w + w % 2, h + h % 2)
    return np.pad(px, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
