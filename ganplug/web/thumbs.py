"""Thumbnails for the control surface: seeds and presets rendered small, never on the render thread.

A :class:`Thumbnails` owns a second onnxruntime session of the model playing (CPU, one intra-op
thread, so onnxruntime computes on the calling thread) and one worker thread that runs it at a
lower scheduling priority than the render thread. Rendered JPEGs are kept in a bounded LRU
cache keyed by what fixes the picture: the model and (seed, ψ) for a seed, the model and
(file, mtime, size) for a preset. When the show switches models, new thumbnails follow it.
The render loop never waits for any of it; under load the thumbnails wait, not the frames.
"""

from __future__ import annotations

import io
import logging
import os
import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Hashable

import numpy as np

from ..runtime.engine import Engine, EngineConfig
from ..seeds import z_from_seed
from ..show import files

log = logging.getLogger("ganplug.web")

THUMB_SIZE = 96  # pixels on the long side; a model smaller than this is sent at its own size
THUMB_QUALITY = 80
CACHE_ITEMS = 1024  # about 3 KB each: a few MB at most
MAX_PENDING = 256  # renders queued at once; more is refused (503), the page asks again later
NICE = 10  # the worker's niceness: the render thread wins every contended core


class Busy(Exception):
    """Too many thumbnails are waiting; ask again later."""


def _lower_priority() -> None:
    """Lower this worker thread's priority (Linux schedules threads one by one); elsewhere, nothing."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICE)
    except (AttributeError, OSError):
        pass


def to_jpeg(pixels: np.ndarray, size: int = THUMB_SIZE, quality: int = THUMB_QUALITY) -> bytes:
    """One HxWxC uint8 frame as a small JPEG (alpha dropped: a thumbnail is a reminder, not the frame)."""
    from PIL import Image

    img = Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels[..., :3])
    if max(img.size) > size:  # the long side becomes ``size``, the model's aspect kept
        scale = size / max(img.size)
        img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.BOX)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


class Thumbnails:
    """Renders and caches thumbnails on its own thread; every method returns at once with a Future.

    ``check_preset(data, name)`` is the show's own preset check (:meth:`Show.check_preset`), so a
    preset pad shows exactly what loading it would, and a preset the show refuses gets no picture.
    """

    def __init__(self, playing: Callable[[], Engine], directions: Callable[[], np.ndarray | None],
                 check_preset: Callable[[dict, str], Any], size: int = THUMB_SIZE):
        # ``playing()`` is the engine on screen now, ``directions()`` its directions (the show's).
        self.playing, self.directions, self.check_preset, self.size = playing, directions, check_preset, size
        self._engine: Engine | None = None  # opened on the worker at first use: starting it costs the show nothing
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ganplug-thumbs", initializer=_lower_priority)
        self._cache: OrderedDict[Hashable, bytes] = OrderedDict()
        self._pending: dict[Hashable, Future] = {}
        self._lock = threading.Lock()
        self.rendered = 0  # thumbnails computed (cache misses), for tests and benchmarks

    def seed(self, seed: int, psi: float) -> Future:
        """The JPEG of ``seed`` at truncation ``psi``, drawn by the model playing now."""
        src = self.playing()
        z = z_from_seed(seed, src.info.z_dim)
        return self._get(("seed", src.info.path, seed, psi), lambda: self._render(src, z, psi))

    def preset(self, path: Path, name: str) -> Future:
        """The JPEG of the picture preset ``name`` (at ``path``) starts from; BadMessage if it is not a valid preset."""
        st = os.stat(path)  # FileNotFoundError for a missing preset; the worker checks that it is a regular file
        src, directions = self.playing(), self.directions()
        return self._get(("preset", src.info.path, str(path), st.st_mtime_ns, st.st_size),
                         lambda: self._render(src, *self._preset_latent(path, name, src.info.z_dim, directions)))

    def _get(self, key: Hashable, work: Callable[[], bytes]) -> Future:
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                done: Future = Future()
                done.set_result(self._cache[key])
                return done
            if key in self._pending:
                return self._pending[key]
            if len(self._pending) >= MAX_PENDING:
                raise Busy(f"{len(self._pending)} thumbnails are waiting")
            fut = self._pool.submit(self._compute, key, work)
            self._pending[key] = fut
            return fut

    def _compute(self, key: Hashable, work: Callable[[], bytes]) -> bytes:
        try:
            data = work()
        finally:
            with self._lock:
                self._pending.pop(key, None)
        with self._lock:
            self._cache[key] = data
            while len(self._cache) > CACHE_ITEMS:
                self._cache.popitem(last=False)
        return data

    def _render(self, src: Engine, z: np.ndarray, psi: float) -> bytes:
        if self._engine is None or self._engine.info.path != src.info.path:  # a new model is playing
            self._engine = Engine(src.info.path, EngineConfig(device="cpu", threads=1, foreign=src.config.foreign))
        pixels = self._engine.run(np.asarray(z, np.float32)[None], psi)[0]
        self.rendered += 1
        return to_jpeg(pixels, self.size)

    def _preset_latent(self, path: Path, name: str, z_dim: int, directions: np.ndarray | None) -> tuple[np.ndarray, float]:
        """Where a preset starts: its held latent, or its first keyframe (slerp) or seed, moved along its directions."""
        preset = self.check_preset(files.read_preset(path, name), name)
        values = {spec.name: value for spec, value in preset.params}
        psi = float(values.get("truncation", 1.0))
        if preset.latent is not None:
            return np.asarray(preset.latent, np.float64), psi
        keyframes = values.get("keyframes") or ()
        seed = keyframes[0] if keyframes and values.get("walk", "slerp") == "slerp" else values.get("seed", 0)
        z = z_from_seed(int(seed), z_dim).astype(np.float64)
        if preset.directions is not None and directions is not None and preset.directions.any() \
                and preset.directions.shape[0] == directions.shape[0]:
            z = z + preset.directions @ directions
        return z, psi

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
