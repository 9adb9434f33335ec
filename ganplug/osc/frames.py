"""Contract 3: frames over OSC (see ``docs/protocol.md``).

A frame is sent as one or more messages ``/ganplug/frame iiiiiib``:
frame id, chunk index, chunk count, width, height, channels, payload blob.
Payloads in chunk order concatenate to the H*W*C uint8 pixels, row-major,
top row first. Every encoded message fits in ``max_datagram`` bytes.

Compressed frames (``encoding`` jpeg or png) are ``/ganplug/image iiiiiisb``:
the same six ints, a format string, then a chunk of the encoded file; payloads
in chunk order concatenate to one JPEG or PNG file of the frame.
"""

from __future__ import annotations

import io
import struct
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError

FRAME_ADDRESS = "/ganplug/frame"
FRAME_TYPES = "iiiiiib"
IMAGE_ADDRESS = "/ganplug/image"
IMAGE_TYPES = "iiiiiisb"
ENCODINGS = ("raw", "jpeg", "png")
DEFAULT_JPEG_QUALITY = 85
PNG_COMPRESS_LEVEL = 1  # zlib level 1: a third of level 6's encode time for ~1.5x the bytes
# Linux charges a loopback datagram of up to ~7,800 bytes 8 KB of receive buffer, one of 8,192 bytes
# 16 KB: at 7,680 an app's default buffer (212,992 bytes) holds 25 chunks instead of 12.
DEFAULT_MAX_DATAGRAM = 7680
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
_IMAGE_PREFIX = _osc_string(IMAGE_ADDRESS) + _osc_string("," + IMAGE_TYPES)
_SIX = struct.Struct(">6i")
_BLOB_SIZE = struct.Struct(">i")
_FORMATS = {"jpeg": _osc_string("jpeg"), "png": _osc_string("png")}
IMAGE_HEADER_BYTES = len(_IMAGE_PREFIX) + _SIX.size + 8 + _BLOB_SIZE.size  # the format string takes at most 8


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


def compress(pixels: np.ndarray, encoding: str, quality: int = DEFAULT_JPEG_QUALITY) -> tuple[bytes, int]:
    """The JPEG or PNG file of an H×W×C uint8 frame, and the channels it holds.

    JPEG has no alpha: RGBA frames lose it (3 channels); PNG keeps every channel.
    """
    from PIL import Image

    c = pixels.shape[2]
    if encoding == "jpeg":
        if not 1 <= quality <= 100:
            raise ConfigError(f"jpeg quality must be 1..100, got {quality}")
        keep = 1 if c <= 2 else 3  # grey (+ alpha) -> grey, RGB(A) -> RGB
        opts = {"quality": quality}
    elif encoding == "png":
        keep = c
        opts = {"compress_level": PNG_COMPRESS_LEVEL}
    else:
        raise ConfigError(f"encoding must be one of {', '.join(ENCODINGS)}, got {encoding!r}")
    img = Image.fromarray(pixels[:, :, 0] if keep == 1 else np.ascontiguousarray(pixels[:, :, :keep]))
    out = io.BytesIO()
    img.save(out, encoding.upper(), **opts)
    return out.getvalue(), keep


def encode_image(frame_id: int, pixels: np.ndarray, encoding: str, quality: int = DEFAULT_JPEG_QUALITY,
                 max_datagram: int | None = DEFAULT_MAX_DATAGRAM) -> list[bytes]:
    """``/ganplug/image`` messages (datagram bytes) carrying one frame as a JPEG or PNG file;
    ``max_datagram=None``: a single message (for TCP)."""
    if pixels.dtype != np.uint8 or pixels.ndim != 3:
        raise ValueError(f"a frame is uint8 [H, W, C], got {pixels.dtype} {pixels.shape}")
    data, channels = compress(pixels, encoding, quality)
    h, w, _ = pixels.shape
    if max_datagram is None:
        max_datagram = IMAGE_HEADER_BYTES + len(data) + 4
    step = (max_datagram - IMAGE_HEADER_BYTES) // 4 * 4
    if step < 4:
        raise ConfigError(f"--max-datagram {max_datagram} leaves no room for an image chunk")
    count = max(1, -(-len(data) // step))
    fid, fmt = frame_id % FRAME_ID_MODULO, _FORMATS[encoding]
    out = []
    for i in range(count):
        part = data[i * step:(i + 1) * step]
        out.append(b"".join((_IMAGE_PREFIX, _SIX.pack(fid, i, count, w, h, channels), fmt,
                             _BLOB_SIZE.pack(len(part)), part, b"\0" * (-len(part) % 4))))
    return out


def encode(frame_id: int, pixels: np.ndarray, encoding: str = "raw", quality: int = DEFAULT_JPEG_QUALITY,
           max_datagram: int | None = DEFAULT_MAX_DATAGRAM) -> list[bytes]:
    """One frame as OSC messages: ``/ganplug/frame`` for raw, ``/ganplug/image`` for jpeg or png.
    ``max_datagram=None`` makes one message of the whole frame (for TCP)."""
    if encoding == "raw":
        return encode_frame(frame_id, pixels, pixels.nbytes + HEADER_BYTES + 4 if max_datagram is None else max_datagram)
    return encode_image(frame_id, pixels, encoding, quality, max_datagram)


def decompress(data: bytes, width: int, height: int, channels: int) -> np.ndarray | None:
    """Pixels of a JPEG or PNG file, or None when it is not an image of that shape."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.size != (width, height):  # checked before the pixels are decoded
                return None
            pixels = np.asarray(img.convert({1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[channels]))
    except Exception:  # Pillow raises many types for a corrupt file
        return None
    return pixels.reshape(height, width, channels)


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
    header: tuple  # count, width, height, channels, format
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
        size = self._valid_size(frame_id, index, count, width, height, channels, payload)
        if size is None:
            return None
        if count > size:
            self.rejected += 1
            return None
        data = self._collect(frame_id, index, count, (count, width, height, channels, "raw"), payload)
        if data is None:
            return None
        if len(data) != size:
            self.rejected += 1
            return None
        self.completed += 1
        return Frame(frame_id, width, height, channels, np.frombuffer(data, np.uint8).reshape(height, width, channels))

    def add_image(self, frame_id: int, index: int, count: int, width: int, height: int, channels: int, fmt: str,
                  payload: bytes) -> Frame | None:
        """Feed one chunk of a compressed frame (the arguments of one ``/ganplug/image`` message)."""
        size = self._valid_size(frame_id, index, count, width, height, channels, payload)
        if size is None:
            return None
        if fmt not in ("jpeg", "png") or count > size:
            self.rejected += 1
            return None
        data = self._collect(frame_id, index, count, (count, width, height, channels, fmt), payload)
        if data is None:
            return None
        pixels = decompress(data, width, height, channels)
        if pixels is None:
            self.rejected += 1
            return None
        self.completed += 1
        return Frame(frame_id, width, height, channels, pixels)

    def _valid_size(self, frame_id: object, index: object, count: object, width: object, height: object,
                    channels: object, payload: object) -> int | None:
        """The frame's byte size, or None (counted as rejected) for a malformed chunk."""
        ints = (frame_id, index, count, width, height, channels)
        if all(type(v) is int for v in ints):
            size = width * height * channels
            if (0 <= index < count and 0 < width and 0 < height and 1 <= channels <= 4 and 0 < size <= MAX_FRAME_BYTES
                    and isinstance(payload, (bytes, bytearray, memoryview))):
                return size
        self.rejected += 1
        return None

    def _collect(self, frame_id: int, index: int, count: int, header: tuple, payload: bytes) -> bytes | None:
        """Keep one chunk; the frame's bytes once all its chunks are in, else None."""
        if self._last is not None and not _newer(frame_id, self._last):
            if (self._last - frame_id) % FRAME_ID_MODULO < RESTART_GAP:
                return None  # late chunk of a frame already shown or given up
            self._last = None  # the sender started counting again
            self.dropped += len(self._pending)
            self._pending.clear()
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
        return data
