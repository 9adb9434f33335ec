"""Contract 3: frames over OSC (see ``docs/protocol.md``).

A frame is sent as one or more messages ``/ganplug/frame iiiiiib``:
frame id, chunk index, chunk count, width, height, channels, payload blob.
Payloads in chunk order concatenate to the H*W*C uint8 pixels, row-major,
top row first. Every encoded message fits in ``max_datagram`` bytes.
"""

from __future__ import annotations

import struct
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError

FRAME_ADDRESS = "/ganplug/frame"
FRAME_TYPES = "iiiiiib"
DEFAULT_MAX_DATAGRAM = 8192
FRAME_ID_MODULO = 2**31  # ids are int32 and wrap to 0
MAX_FRAME_BYTES = 8192 * 8192 * 4
RESTART_GAP = 1024  # an id this far behind the newest means the sender restarted, not a late chunk


def _osc_string(s: str) -> bytes:
    b = s.encode("ascii") + b"\0"
    return b + b"\0" * (-len(b) % 4)


# Address and type tags never change: encode them once.
_PREFIX = _osc_string(FRAME_ADDRESS) + _osc_string("," + FRAME_TYPES)
_INTS = struct.Struct(">7i")  # six int arguments, then the blob's length
HEADER_BYTES = len(_PREFIX) + _INTS.size


def max_payload(max_datagram: int) -> int:
    """Largest payload (a multiple of 4) whose message fits in ``max_datagram`` bytes."""
    room = (max_datagram - HEADER_BYTES) // 4 * 4
    if room < 4:
        raise ConfigError(f"--max-datagram {max_datagram} leaves no room for pixels (the header alone is {HEADER_BYTES} bytes)")
    return room


def chunk_count(frame_bytes: int, max_datagram: int) -> int:
    return max(1, -(-frame_bytes // max_payload(max_datagram)))


def encode_frame(frame_id: int, pixels: np.ndarray, max_datagram: int = DEFAULT_MAX_DATAGRAM) -> list[bytes]:
    """OSC messages (datagram bytes) for one H×W×C uint8 frame."""
    if pixels.dtype != np.uint8 or pixels.ndim != 3:
        raise ValueError(f"a frame is uint8 [H, W, C], got {pixels.dtype} {pixels.shape}")
    h, w, c = pixels.shape
    data = memoryview(np.ascontiguousarray(pixels)).cast("B")
    step = max_payload(max_datagram)
    count = chunk_count(len(data), max_datagram)
    fid = frame_id % FRAME_ID_MODULO
    out = []
    for i in range(count):
        part = data[i * step:(i + 1) * step]
        pad = b"\0" * (-len(part) % 4)
        out.append(b"".join((_PREFIX, _INTS.pack(fid, i, count, w, h, c, len(part)), part, pad)))
    return out


@dataclass
class Frame:
    """A reassembled frame: ``pixels`` is uint8 [height, width, channels], top row first."""

    frame_id: int
    width: int
    height: int
    channels: int
    pixels: np.ndarray


@dataclass
class _Partial:
    header: tuple[int, int, int, int]  # count, width, height, channels
    chunks: dict[int, bytes] = field(default_factory=dict)


def _newer(a: int, b: int) -> bool:
    """Is id ``a`` after id ``b``, allowing for wrap-around?"""
    return 0 < (a - b) % FRAME_ID_MODULO < FRAME_ID_MODULO // 2


class FrameAssembler:
    """Reassembles chunks into frames, tolerating loss, duplication and reordering.

    A frame is returned once all its chunks are in. Frames older than the newest
    complete one are dropped, as are partial frames beyond ``max_pending``.
    ``completed``, ``dropped`` (frames given up incomplete) and ``rejected``
    (malformed chunks) count what happened.
    """

    def __init__(self, max_pending: int = 4):
        self.max_pending = max_pending
        self._pending: OrderedDict[int, _Partial] = OrderedDict()
        self._last: int | None = None
        self.completed = 0
        self.dropped = 0
        self.rejected = 0

    def add(self, frame_id: int, index: int, count: int, width: int, height: int, channels: int, payload: bytes) -> Frame | None:
        """Feed one chunk (the arguments of one ``/ganplug/frame`` message)."""
        if not all(type(v) is int for v in (frame_id, index, count, width, height, channels)):
            self.rejected += 1
            return None
        size = width * height * channels
        if not (0 <= index < count and 0 < width and 0 < height and 1 <= channels <= 4 and 0 < size <= MAX_FRAME_BYTES
                and isinstance(payload, (bytes, bytearray, memoryview)) and count <= size):
            self.rejected += 1
            return None
        if self._last is not None and not _newer(frame_id, self._last):
            if (self._last - frame_id) % FRAME_ID_MODULO < RESTART_GAP:
                return None  # late chunk of a frame already shown or given up
            self._last = None  # the sender started counting again
            self.dropped += len(self._pending)
            self._pending.clear()
        header = (count, width, height, channels)
        part = self._pending.get(frame_id)
        if part is None or part.header != header:
            if part is not None:
                self.dropped += 1
            part = self._pending[frame_id] = _Partial(header)
            while len(self._pending) > self.max_pending:
                self._pending.popitem(last=False)
                self.dropped += 1
        part.chunks[index] = bytes(payload)
        if len(part.chunks) < count:
            return None
        data = b"".join(part.chunks[i] for i in range(count))
        del self._pending[frame_id]
        for old in [k for k in self._pending if not _newer(k, frame_id)]:
            del self._pending[old]
            self.dropped += 1
        self._last = frame_id
        if len(data) != size:
            self.rejected += 1
            return None
        self.completed += 1
        pixels = np.frombuffer(data, np.uint8).reshape(height, width, channels)
        return Frame(frame_id, width, height, channels, pixels)
