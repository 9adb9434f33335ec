"""Fitting a model's frames to the output size: ``--size WxH`` with ``--fit crop|pad|stretch``.

Every model of a show is fitted to one output shape, so receivers see one size and one
channel count whatever model plays. Scaling is Pillow's bilinear resample (a serving
dependency already): on these CPUs it measured as fast as a Resize run by onnxruntime, or
faster (``benchmarks/resize.py``, ``docs/performing.md``), and it releases the GIL while it
works. Crop scales a centred box of the frame (the crop costs nothing: it is the resample's
source box); pad scales the whole frame into the middle of a black (transparent) canvas.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError

FITS = ("crop", "pad", "stretch")
MAX_SIDE = 8192
_SIZE = re.compile(r"^\s*(\d{1,5})\s*[xX]\s*(\d{1,5})\s*$")


def parse_size(text: str) -> tuple[int, int]:
    """``WxH`` (e.g. ``1280x720``) as (width, height); ConfigError otherwise."""
    m = _SIZE.match(text or "")
    if not m:
        raise ConfigError(f"--size must be WIDTHxHEIGHT, e.g. 1280x720, got {text!r}")
    w, h = int(m.group(1)), int(m.group(2))
    if not (1 <= w <= MAX_SIDE and 1 <= h <= MAX_SIDE):
        raise ConfigError(f"--size {w}x{h}: each side must be 1 to {MAX_SIDE} pixels")
    return w, h


@dataclass(frozen=True)
class Output:
    """The shape every frame leaves the server in, and how a model's frames are fitted to it."""

    height: int
    width: int
    channels: int
    fit: str = "crop"

    def __post_init__(self) -> None:
        if self.fit not in FITS:
            raise ConfigError(f"--fit must be one of {', '.join(FITS)}, got {self.fit!r}")
        if self.channels not in (3, 4):
            raise ConfigError(f"output channels must be 3 or 4, got {self.channels}")

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.height, self.width, self.channels)


def output_for(frame_shape: tuple[int, int, int], size: tuple[int, int] | None, fit: str = "crop") -> Output:
    """The output of a show that starts with a model of ``frame_shape`` (H, W, C): ``size`` (W, H) or the model's own."""
    h, w, c = frame_shape
    if size is not None:
        w, h = size
    return Output(h, w, c, fit)


class Fitter:
    """Frames of one model's shape, fitted to an :class:`Output`. The identity when the shapes agree."""

    def __init__(self, frame_shape: tuple[int, int, int], out: Output):
        self.source, self.out = tuple(frame_shape), out
        h, w, _ = self.source
        self.identity = self.source == out.shape
        self.box: tuple[float, float, float, float] = (0.0, 0.0, float(w), float(h))  # the source region used
        self.size, self.offset = (out.width, out.height), (0, 0)  # the scaled region's size, where it goes
        src_aspect, out_aspect = w / h, out.width / out.height
        if out.fit == "crop" and abs(src_aspect - out_aspect) > 1e-9:
            if src_aspect > out_aspect:  # wider than the output: cut the sides
                cw = h * out_aspect
                self.box = ((w - cw) / 2, 0.0, (w + cw) / 2, float(h))
            else:  # taller: cut top and bottom
                ch = w / out_aspect
                self.box = (0.0, (h - ch) / 2, float(w), (h + ch) / 2)
        elif out.fit == "pad":
            scale = min(out.width / w, out.height / h)
            sw, sh = max(1, round(w * scale)), max(1, round(h * scale))
            self.size, self.offset = (sw, sh), ((out.width - sw) // 2, (out.height - sh) // 2)
        self.padded = self.size != (out.width, out.height)
        self.resample = self.size != (w, h) or self.box != (0.0, 0.0, float(w), float(h))

    def __call__(self, pixels: np.ndarray) -> np.ndarray:
        """uint8 [H, W, C] of the model's shape -> uint8 of the output's shape."""
        if self.identity:
            return pixels
        from PIL import Image

        px = _channels(pixels, self.out.channels)
        if self.resample:
            img = Image.fromarray(px, "RGBA" if px.shape[-1] == 4 else "RGB")
            px = np.asarray(img.resize(self.size, Image.BILINEAR, box=self.box))
        if not self.padded:
            return px
        canvas = np.zeros(self.out.shape, np.uint8)
        x, y = self.offset
        canvas[y:y + px.shape[0], x:x + px.shape[1]] = px
        return canvas


def _channels(pixels: np.ndarray, channels: int) -> np.ndarray:
    """RGB to RGBA (opaque) or RGBA to RGB (alpha dropped)."""
    have = pixels.shape[-1]
    if have == channels:
        return pixels
    if have == 4:
        return np.ascontiguousarray(pixels[..., :3])
    alpha = np.full(pixels.shape[:2] + (1,), 255, np.uint8)
    return np.concatenate([pixels, alpha], axis=-1)


def mix(a: np.ndarray, b: np.ndarray, amount: float) -> np.ndarray:
    """``a`` and ``b`` mixed in pixels, ``amount`` of ``b`` (0 = a, 1 = b exactly), in 1/256 steps."""
    w = int(round(min(max(amount, 0.0), 1.0) * 256))
    if w <= 0:
        return a
    if w >= 256:
        return b
    out = a.astype(np.uint16)
    out *= 256 - w
    out += b.astype(np.uint16) * np.uint16(w)
    out >>= 8
    return out.astype(np.uint8)
