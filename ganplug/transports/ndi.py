"""Frames as an NDI® source (``ganplug serve --ndi NAME``), through the ``ndi-python`` package.

``pip install 'ganplug[ndi]'`` installs ndi-python, whose wheel carries the NDI runtime
(libndi) and its licence file; ganplug itself ships no part of NDI. Every frame goes out
as RGBA (RGB frames get alpha 255) with ``<ganplug frame="ID"/>`` as its metadata.
NDI® is a registered trademark of Vizrt NDI AB (https://ndi.video).
"""

from __future__ import annotations

import logging
import time

import numpy as np

from ..errors import ConfigError
from ..logs import LogThrottle
from ..osc.send import once_log
from . import ticks

log = logging.getLogger("ganplug.ndi")

NDI_NOTICE = "NDI® is a registered trademark of Vizrt NDI AB - https://ndi.video"
INSTALL_HINT = "pip install 'ganplug[ndi]' (the ndi-python package)"


def load_ndi():
    """The ``NDIlib`` module of ndi-python, initialised; ConfigError when it cannot be used."""
    try:
        import NDIlib as ndi
    except ImportError:
        raise ConfigError(f"NDI output needs the NDI runtime: {INSTALL_HINT}") from None
    if not ndi.initialize():
        raise ConfigError("NDI cannot start: this CPU is not supported by the NDI runtime")
    return ndi


class NdiSink:
    """A FrameSink that publishes every frame as the NDI source ``source_name``."""

    def __init__(self, source_name: str, errors: LogThrottle | None = None):
        if not source_name or len(source_name) > 120:
            raise ConfigError(f"--ndi name {source_name!r}: 1-120 characters")
        self.ndi = load_ndi()
        self.name = f"ndi:{source_name}"
        self.errors = errors or once_log(log)
        self.sender = self.ndi.send_create(self.ndi.SendCreate(p_ndi_name=source_name, clock_video=False))
        if self.sender is None:
            raise ConfigError(f"NDI could not create the source {source_name!r}")
        self.video = self.ndi.VideoFrameV2()
        self.video.FourCC = self.ndi.FOURCC_VIDEO_TYPE_RGBA
        self.video.timecode = self.ndi.SEND_TIMECODE_SYNTHESIZE
        self.rgba: np.ndarray | None = None
        self.frames = 0
        self.send_seconds = 0.0
        log.info("%s: sending; %s", self.name, NDI_NOTICE)

    def _as_rgba(self, pixels: np.ndarray) -> np.ndarray:
        """RGBA pixels for NDI: RGBA frames as they are, RGB and grey into a reused buffer."""
        h, w, c = pixels.shape
        if c == 4:
            return np.ascontiguousarray(pixels)  # NDI reads rows of exactly width × 4 bytes
        if self.rgba is None or self.rgba.shape[:2] != (h, w):
            self.rgba = np.full((h, w, 4), 255, np.uint8)
        self.rgba[:, :, :3] = pixels if c == 3 else pixels[:, :, :1]
        return self.rgba

    def send_frame(self, frame_id: int, pixels: np.ndarray, budget: float) -> None:
        """Send one frame (the call returns once NDI has taken the pixels). Never raises on I/O."""
        start = time.perf_counter()
        try:
            rgba = self._as_rgba(pixels)
            v = self.video
            v.data = rgba
            v.xres, v.yres = rgba.shape[1], rgba.shape[0]
            v.line_stride_in_bytes = rgba.shape[1] * 4
            v.frame_rate_N, v.frame_rate_D = (round(1000 / budget), 1000) if budget > 0 else (60000, 1000)
            v.metadata = f'<ganplug frame="{int(frame_id)}"/>'
            self.ndi.send_send_video_v2(self.sender, v)
            self.frames += 1
        except (RuntimeError, ValueError, TypeError) as e:
            self.errors(f"{self.name}: {e}")
        self.send_seconds += time.perf_counter() - start

    def connections(self) -> int:
        """How many NDI receivers are connected now."""
        return int(self.ndi.send_get_no_connections(self.sender, 0))

    def close(self) -> None:
        if self.sender is not None:
            self.ndi.send_destroy(self.sender)
            self.sender = None


def block_frame(frame_id: int, width: int, height: int, block: int = 32) -> np.ndarray:
    """A test frame of flat ``block``-px squares whose colours follow the frame id and the square's
    place: NDI's compression keeps flat squares within a few levels, so content can be checked."""
    by, bx = np.meshgrid(np.arange(-(-height // block)), np.arange(-(-width // block)), indexing="ij")
    k = by * 7 + bx * 13
    colours = np.stack([(frame_id * 67 + k * 29) % 200 + 28, (frame_id * 41 + k * 53) % 200 + 28,
                        (k * 97) % 200 + 28], axis=-1).astype(np.uint8)
    return np.repeat(np.repeat(colours, block, 0), block, 1)[:height, :width]


def demo(source_name: str, width: int, height: int, fps: float, frames: int, wait_for_receiver: float = 10.0) -> dict:
    """Send ``frames`` block frames at ``fps`` once a receiver connects (or after ``wait_for_receiver`` s)."""
    sink = NdiSink(source_name)
    end = time.monotonic() + wait_for_receiver
    while sink.connections() == 0 and time.monotonic() < end:
        time.sleep(0.02)
    cpu0, t0 = time.process_time(), time.perf_counter()
    for i in ticks(fps, frames):
        sink.send_frame(i, block_frame(i, width, height), 1.0 / fps)
    wall = time.perf_counter() - t0
    time.sleep(0.5)  # let the last frames leave before the source goes away
    sink.close()
    return {"frames": sink.frames, "fps": sink.frames / wall, "send_ms": 1e3 * sink.send_seconds / max(sink.frames, 1),
            "cpu": (time.process_time() - cpu0) / wall}


def main(argv: list[str] | None = None) -> None:
    """``python -m ganplug.transports.ndi NAME``: send a test pattern, for checking receivers."""
    import argparse
    import json

    p = argparse.ArgumentParser(description="send ganplug's NDI test pattern (coloured 32 px squares)")
    p.add_argument("name")
    p.add_argument("--size", default="256x256", help="WIDTHxHEIGHT")
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--frames", type=int, default=300)
    a = p.parse_args(argv)
    w, h = (int(v) for v in a.size.lower().split("x"))
    try:
        print(json.dumps(demo(a.name, w, h, a.fps, a.frames)), flush=True)
    except ConfigError as e:
        raise SystemExit(f"ganplug: {e}") from None


if __name__ == "__main__":
    main()
