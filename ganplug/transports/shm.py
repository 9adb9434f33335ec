"""Frames in a named shared-memory block (``ganplug serve --shm NAME``).

Layout, little-endian (``docs/transports.md``; readers are written against it):

- bytes 0–63, header: ``b"GPLG"``, u32 version = 1, u32 width, u32 height,
  u32 channels, u32 slots (≥ 2), u64 sequence, u64 frame id, u32 ready slot, zeros.
- then ``slots`` pixel buffers of width × height × channels bytes, top row first,
  channels interleaved.

The writer fills a slot that is not the ready slot, makes ``sequence`` odd, sets the
frame id and ready slot, and makes ``sequence`` even again (a seqlock). A reader reads
``sequence`` (even), copies the ready slot, reads ``sequence`` again and keeps the copy
only if it did not change. A new frame size recreates the block under the same name;
the old block is first marked dead (magic zeroed, sequence left odd) so readers that
still map it know to open the name again. Sequence 0 means no frame has been written yet.
"""

from __future__ import annotations

import logging
import struct
import time
from multiprocessing import shared_memory

import numpy as np

from ..errors import ConfigError
from ..logs import LogThrottle
from ..osc.send import once_log
from . import ticks

log = logging.getLogger("ganplug.shm")

MAGIC = b"GPLG"
VERSION = 1
HEADER_BYTES = 64
HEADER = struct.Struct("<4sIIIII")  # magic, version, width, height, channels, slots
SEQUENCE = struct.Struct("<Q")  # at byte 24
PUBLISH = struct.Struct("<QI")  # frame id at 32, ready slot at 40
SEQUENCE_AT, PUBLISH_AT = 24, 32
DEFAULT_SLOTS = 2


def block_size(width: int, height: int, channels: int, slots: int) -> int:
    """Bytes of a block holding the header and ``slots`` frames."""
    return HEADER_BYTES + slots * width * height * channels


class ShmSink:
    """A FrameSink that writes every frame into the shared-memory block ``shm_name``."""

    def __init__(self, shm_name: str, slots: int = DEFAULT_SLOTS, errors: LogThrottle | None = None):
        if slots < 2:
            raise ConfigError(f"--shm needs at least 2 slots, got {slots}")
        if not shm_name or "/" in shm_name or len(shm_name) > 200:
            raise ConfigError(f"--shm name {shm_name!r}: 1-200 characters, no '/'")
        self.name = f"shm:{shm_name}"
        self.shm_name, self.slots = shm_name, slots
        self.errors = errors or once_log(log)
        self.shm: shared_memory.SharedMemory | None = None
        self.shape: tuple[int, int, int] | None = None
        self.views: list[np.ndarray] = []
        self.sequence = 0
        self.ready = 0
        self.frames = 0
        self.write_seconds = 0.0  # time spent in send_frame, for the status line and benchmarks

    def _create(self, shape: tuple[int, int, int]) -> None:
        """(Re)create the block for frames of ``shape``, replacing one of another size."""
        self._retire()
        h, w, c = shape
        size = block_size(w, h, c, self.slots)
        try:
            shm = shared_memory.SharedMemory(self.shm_name, create=True, size=size)
        except FileExistsError:  # left behind by a writer that crashed: take the name over
            stale = shared_memory.SharedMemory(self.shm_name)
            stale.close()
            stale.unlink()
            shm = shared_memory.SharedMemory(self.shm_name, create=True, size=size)
        shm.buf[:HEADER_BYTES] = bytes(HEADER_BYTES)
        HEADER.pack_into(shm.buf, 0, MAGIC, VERSION, w, h, c, self.slots)
        frame = w * h * c
        self.views = [np.ndarray(shape, np.uint8, shm.buf, HEADER_BYTES + i * frame) for i in range(self.slots)]
        self.shm, self.shape, self.sequence, self.ready = shm, shape, 0, 0
        log.info("%s: %dx%dx%d, %d slots, %d bytes", self.name, w, h, c, self.slots, size)

    def _retire(self) -> None:
        """Mark the current block dead for readers still mapping it, then unlink it."""
        if self.shm is None:
            return
        self.views = []
        try:
            SEQUENCE.pack_into(self.shm.buf, SEQUENCE_AT, self.sequence | 1)
            self.shm.buf[:4] = bytes(4)
            self.shm.close()
            self.shm.unlink()
        except (OSError, BufferError) as e:
            self.errors(f"{self.name}: cannot remove the old block: {e}")
        self.shm = None

    def send_frame(self, frame_id: int, pixels: np.ndarray, budget: float) -> None:
        """Copy the frame into a free slot and publish it. Never raises on I/O."""
        start = time.perf_counter()
        try:
            if pixels.shape != self.shape:
                self._create(pixels.shape)
            slot = (self.ready + 1) % self.slots
            self.views[slot][...] = pixels
            buf = self.shm.buf
            SEQUENCE.pack_into(buf, SEQUENCE_AT, self.sequence + 1)  # odd: publishing
            PUBLISH.pack_into(buf, PUBLISH_AT, frame_id % 2**64, slot)
            self.sequence += 2
            SEQUENCE.pack_into(buf, SEQUENCE_AT, self.sequence)  # even: consistent
            self.ready = slot
            self.frames += 1
        except (OSError, ValueError) as e:
            self.errors(f"{self.name}: {e}")
        self.write_seconds += time.perf_counter() - start

    def close(self) -> None:
        """Remove the block (readers that still map it see it marked dead)."""
        self._retire()


def pattern_frame(frame_id: int, height: int, width: int, channels: int) -> np.ndarray:
    """The frame ``--demo`` writes: byte i of the frame is (i + frame_id) mod 256, so a frame
    mixed from two frames (torn) shows at once."""
    base = (np.arange(height * width * channels, dtype=np.uint32) % 256).astype(np.uint8)
    return (base + np.uint8(frame_id % 256)).reshape(height, width, channels)


def demo(shm_name: str, width: int, height: int, channels: int, fps: float, frames: int) -> dict:
    """Write ``frames`` test-pattern frames at ``fps``; returns the writer's cost per frame."""
    sink = ShmSink(shm_name)
    base = pattern_frame(0, height, width, channels)
    t0, cpu0 = time.perf_counter(), time.process_time()
    try:
        for i in ticks(fps, frames):
            sink.send_frame(i, base + np.uint8(i % 256), 1.0 / fps)
    finally:
        wall = time.perf_counter() - t0
        sink.close()
    return {"frames": sink.frames, "write_ms": 1e3 * sink.write_seconds / max(sink.frames, 1),
            "fps": sink.frames / wall, "cpu": (time.process_time() - cpu0) / wall}


def main(argv: list[str] | None = None) -> None:
    """``python -m ganplug.transports.shm NAME``: write a test pattern, for checking readers."""
    import argparse
    import json

    p = argparse.ArgumentParser(description="write ganplug's shared-memory test pattern (byte i = i + frame id, mod 256)")
    p.add_argument("name")
    p.add_argument("--size", default="1024x1024", help="WIDTHxHEIGHT")
    p.add_argument("--channels", type=int, default=4)
    p.add_argument("--fps", type=float, default=60.0)
    p.add_argument("--frames", type=int, default=600)
    a = p.parse_args(argv)
    w, h = (int(v) for v in a.size.lower().split("x"))
    print(json.dumps(demo(a.name, w, h, a.channels, a.fps, a.frames)), flush=True)


if __name__ == "__main__":
    main()
