"""Read ganplug frames from shared memory (``ganplug serve --shm NAME``): numpy and the
standard library only, so it can be copied into any Python app (TouchDesigner's too).

    python examples/python/shm_reader.py ganplug            # prints frame rate and ids
    python examples/python/shm_reader.py ganplug --check    # against `python -m ganplug.transports.shm ganplug`

The layout is in docs/transports.md: a 64-byte header (b"GPLG", version, width, height,
channels, slots, sequence, frame id, ready slot), then ``slots`` frames. The writer
publishes with a seqlock; :meth:`ShmReader.read` keeps a copy only if the sequence did
not change while copying, so a frame is never torn.
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import sys
import time
from multiprocessing import resource_tracker, shared_memory

import numpy as np

MAGIC, VERSION = b"GPLG", 1
HEADER = struct.Struct("<4sIIIII")  # magic, version, width, height, channels, slots
SEQUENCE_AT, PUBLISH_AT = 24, 32
SEQUENCE, PUBLISH = struct.Struct("<Q"), struct.Struct("<QI")  # sequence; frame id, ready slot
REOPEN_AFTER = 1.0  # seconds without a new frame before looking for a new block under the name


def attach(name: str) -> shared_memory.SharedMemory:
    """Map an existing block without letting this process delete it when it exits.

    Python 3.8-3.12 register every attached block with the resource tracker, which
    unlinks it at exit (taking it away from the writer and every other reader).
    """
    if sys.version_info >= (3, 13):
        return shared_memory.SharedMemory(name, track=False)
    shm = shared_memory.SharedMemory(name)
    if os.name == "posix":
        resource_tracker.unregister("/" + name.lstrip("/"), "shared_memory")
    return shm


class ShmReader:
    """The newest frame of a ganplug shared-memory block, never torn."""

    def __init__(self, name: str):
        self.name = name
        self.shm: shared_memory.SharedMemory | None = None
        self.shape: tuple[int, int, int] | None = None
        self.last_sequence = 0
        self.last_new = time.monotonic()
        self.retries = 0  # copies thrown away because the writer published meanwhile
        self._out: np.ndarray | None = None

    def _open(self) -> bool:
        try:
            shm = attach(self.name)
        except (FileNotFoundError, ValueError):  # no writer yet, or a block still being created
            return False
        magic, version, w, h, c, slots = HEADER.unpack_from(shm.buf, 0)
        if magic != MAGIC or version != VERSION or slots < 2 or shm.size < 64 + slots * w * h * c:
            shm.close()
            return False
        self.shm, self.shape, self.slots = shm, (h, w, c), slots
        self.last_sequence, self.last_new = 0, time.monotonic()
        self._out = np.empty(self.shape, np.uint8)
        return True

    def close(self) -> None:
        """Unmap the block (never deletes it: the writer owns it)."""
        if self.shm is not None:
            self._out = None
            self.shm.close()
            self.shm = None

    def read(self) -> tuple[int, np.ndarray] | None:
        """``(frame id, pixels)`` of a frame newer than the last one read, else None.

        ``pixels`` is H x W x C uint8, top row first; the array is reused by the next
        call (copy it to keep it).
        """
        if self.shm is None and not self._open():
            return None
        buf = self.shm.buf
        for _ in range(3):
            seq = SEQUENCE.unpack_from(buf, SEQUENCE_AT)[0]
            if bytes(buf[:4]) != MAGIC or (seq == self.last_sequence and time.monotonic() - self.last_new > REOPEN_AFTER):
                self.close()  # the writer left or made a new block (new size or restart)
                return None
            if seq == 0 or seq == self.last_sequence:
                return None
            if seq & 1:
                continue  # the writer is publishing right now
            frame_id, slot = PUBLISH.unpack_from(buf, PUBLISH_AT)
            h, w, c = self.shape
            start = 64 + slot * h * w * c
            np.copyto(self._out, np.ndarray(self.shape, np.uint8, buf, start))
            if SEQUENCE.unpack_from(buf, SEQUENCE_AT)[0] == seq:
                self.last_sequence, self.last_new = seq, time.monotonic()
                return frame_id, self._out
            self.retries += 1
        return None


_BASES: dict[int, np.ndarray] = {}


def pattern_ok(frame_id: int, pixels: np.ndarray) -> bool:
    """Is this ganplug's test pattern for ``frame_id`` (byte i = i + frame id, mod 256)?"""
    flat = pixels.reshape(-1)
    base = _BASES.get(flat.size)
    if base is None:
        base = _BASES[flat.size] = (np.arange(flat.size, dtype=np.uint32) % 256).astype(np.uint8)
    return bool(((flat - base) == np.uint8(frame_id % 256)).all())


def main() -> None:
    p = argparse.ArgumentParser(description="read ganplug frames from shared memory")
    p.add_argument("name", nargs="?", default="ganplug")
    p.add_argument("--seconds", type=float, default=10.0, help="stop after this long (default 10)")
    p.add_argument("--frames", type=int, default=0, help="stop after this frame id has been seen")
    p.add_argument("--check", action="store_true", help="verify the test pattern of `python -m ganplug.transports.shm`")
    a = p.parse_args()
    reader = ShmReader(a.name)
    got = torn = 0
    ids: list[int] = []
    copy_s = 0.0
    end = time.monotonic() + a.seconds
    while time.monotonic() < end:
        t = time.perf_counter()
        frame = reader.read()
        if frame is None:
            if a.frames and got and reader.shm is None:
                break  # the writer finished and removed its block
            time.sleep(0.001)
            continue
        copy_s += time.perf_counter() - t
        frame_id, pixels = frame
        got += 1
        ids.append(frame_id)
        torn += a.check and not pattern_ok(frame_id, pixels)
        if a.frames and frame_id >= a.frames - 1:
            break
    reader.close()
    span = (ids[-1] - ids[0] + 1) if ids else 0
    print(json.dumps({"frames": got, "torn": int(torn), "missed": span - len(set(ids)), "first": ids[:1],
                      "last": ids[-1:], "retries": reader.retries, "read_ms": 1e3 * copy_s / max(got, 1),
                      "shape": list(reader.shape or ())}), flush=True)


if __name__ == "__main__":
    main()
