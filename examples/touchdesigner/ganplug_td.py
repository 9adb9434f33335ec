"""ganplug frames for a TouchDesigner Script TOP, in plain Python and numpy.

Paste this file into a Text DAT named ``ganplug_td``. The OSC In DAT callback hands
every message to :data:`receiver`; the Script TOP copies :attr:`Receiver.image`.
Nothing here touches TouchDesigner, so the same code runs (and is tested) outside it.

The protocol (docs/protocol.md): ``/ganplug/frame iiiiiib`` carries frame id, chunk
index, chunk count, width, height, channels and a piece of the pixels. The pieces of
one frame, in chunk order, are ``height x width x channels`` uint8, top row first.
``/ganplug/image iiiiiisb`` (``ganplug serve --encoding jpeg|png``) carries the same
ints, a format, and a piece of a JPEG or PNG file; it is decoded with OpenCV (``cv2``),
which TouchDesigner's own Python ships, so nothing needs installing. Without cv2,
compressed frames are counted in ``undecodable`` and the server should send raw.

Messages are parsed here from the raw bytes the OSC In DAT passes to its callback,
rather than from its ``args``, whose handling of blobs TouchDesigner does not document.
"""

from __future__ import annotations

import struct
from collections import OrderedDict

import numpy as np

try:
    import cv2  # bundled with TouchDesigner's Python
except ImportError:
    cv2 = None

FRAME_ADDRESS = "/ganplug/frame"
IMAGE_ADDRESS = "/ganplug/image"
STATE_ADDRESS = "/ganplug/state"
STATE_FIELDS = ("frame", "seed", "walk", "speed", "truncation", "fps", "paused", "measured_fps", "time")
ID_MODULO = 2**31  # frame ids are int32 and wrap to 0
RESTART_GAP = 1024  # an id this far behind the newest means the server restarted
MAX_FRAME_BYTES = 8192 * 8192 * 4


def parse_osc(data: bytes) -> list[tuple[str, list]]:
    """(address, args) of every message in an OSC packet (a message or a bundle).

    Types i, f, s, b, h, d, T, F, N; raises ValueError on anything malformed.
    """
    try:
        return _parse(bytes(data))
    except struct.error as e:
        raise ValueError(f"malformed OSC packet: {e}") from None


def _parse(data: bytes) -> list[tuple[str, list]]:
    if data.startswith(b"#bundle\0"):
        out, at = [], 16  # "#bundle", then the 8-byte time tag
        while at < len(data):
            (size,) = struct.unpack_from(">i", data, at)
            if size < 0 or at + 4 + size > len(data):
                raise ValueError("bundle element runs past the packet")
            out += _parse(data[at + 4:at + 4 + size])
            at += 4 + size
        return out
    address, at = _osc_string(data, 0)
    tags, at = _osc_string(data, at) if at < len(data) else (",", at)
    if not address.startswith("/") or not tags.startswith(","):
        raise ValueError("not an OSC message")
    args = []
    for t in tags[1:]:
        if t in "if":
            args.append(struct.unpack_from(">" + t, data, at)[0])
            at += 4
        elif t in "hd":
            args.append(struct.unpack_from(">q" if t == "h" else ">d", data, at)[0])
            at += 8
        elif t == "s":
            value, at = _osc_string(data, at)
            args.append(value)
        elif t == "b":
            (size,) = struct.unpack_from(">i", data, at)
            if size < 0 or at + 4 + size > len(data):
                raise ValueError("blob runs past the message")
            args.append(data[at + 4:at + 4 + size])
            at += 4 + size + (-size % 4)
        elif t in "TFN":
            args.append({"T": True, "F": False, "N": None}[t])
        else:
            raise ValueError(f"OSC type {t!r} not supported")
    return [(address, args)]


def _osc_string(data: bytes, at: int) -> tuple[str, int]:
    end = data.index(b"\0", at)
    return data[at:end].decode("utf-8", "replace"), end + 4 - (end - at) % 4


def decode_image(data: bytes, channels: int) -> np.ndarray | None:
    """H x W x C pixels, top row first, RGB(A) order, of a JPEG or PNG file; None without cv2
    or for a file cv2 cannot read."""
    if cv2 is None:
        return None
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None:
        return None
    if img.ndim == 2:
        return img[:, :, None]
    return img[:, :, [2, 1, 0, 3]] if img.shape[2] == 4 else img[:, :, ::-1]  # OpenCV keeps BGR(A)


def _is_newer(a: int, b: int) -> bool:
    """Is frame id ``a`` after ``b``, counting across the wrap to 0?"""
    return 0 < (a - b) % ID_MODULO < ID_MODULO // 2


def to_td_image(pixels: np.ndarray) -> np.ndarray:
    """Top-row-first H x W x C uint8 pixels as the H x W x 4 uint8 RGBA array a Script TOP takes.

    TouchDesigner's textures start at the bottom row, so the rows are flipped; a missing
    alpha channel becomes opaque.
    """
    h, w, c = pixels.shape
    out = np.empty((h, w, 4), np.uint8)
    flipped = pixels[::-1]
    if c == 1:
        out[..., :3] = flipped
        out[..., 3] = 255
    elif c == 2:  # grey + alpha
        out[..., :3] = flipped[..., :1]
        out[..., 3] = flipped[..., 1]
    else:
        out[..., :3] = flipped[..., :3]
        out[..., 3] = flipped[..., 3] if c == 4 else 255
    return out


class Receiver:
    """Reassembles ``/ganplug/frame`` and ``/ganplug/image`` chunks and keeps the newest frame and state.

    UDP may drop, duplicate or reorder chunks. A frame counts once all its chunks are in;
    then older unfinished frames are dropped and their late chunks ignored. No chunk is
    ever waited for.
    """

    def __init__(self, max_pending: int = 4):
        self.max_pending = max_pending
        self._pending: OrderedDict[int, tuple[tuple, dict[int, bytes]]] = OrderedDict()
        self._newest: int | None = None
        self.image: np.ndarray | None = None  # H x W x 4 uint8, bottom row first: ready for copyNumpyArray
        self.frame_id: int | None = None
        self.size: tuple[int, int] = (0, 0)  # width, height of the newest frame
        self.state: dict[str, object] = {}
        self.completed = 0
        self.dropped = 0
        self.rejected = 0
        self.undecodable = 0  # compressed frames this Python cannot decode (no cv2)

    def on_bytes(self, data: bytes) -> bool:
        """Feed one raw OSC packet (the OSC In DAT callback's byte data). True when it completed a frame."""
        try:
            messages = parse_osc(data)
        except ValueError:  # UnicodeDecodeError is one too
            self.rejected += 1
            return False
        done = False
        for address, args in messages:
            done = self.on_osc(address, args) or done
        return done

    def on_osc(self, address: str, args) -> bool:
        """Feed one OSC message (address, argument list). True when it completed a frame."""
        if address == FRAME_ADDRESS and len(args) == 7:
            return self.add_chunk(*args) is not None
        if address == IMAGE_ADDRESS and len(args) == 8:
            return self.add_image_chunk(*args) is not None
        if address == STATE_ADDRESS and len(args) == len(STATE_FIELDS):
            self.state = dict(zip(STATE_FIELDS, args))
        return False

    def add_chunk(self, frame_id, index, count, width, height, channels, payload) -> np.ndarray | None:
        """Feed one chunk; returns the finished TouchDesigner image when this chunk completes a frame."""
        data, header = self._collect(frame_id, index, count, width, height, channels, "raw", payload)
        if data is None:
            return None
        _, width, height, channels, _ = header
        if len(data) != width * height * channels:
            self.rejected += 1
            return None
        return self._show(np.frombuffer(data, np.uint8).reshape(height, width, channels), header)

    def add_image_chunk(self, frame_id, index, count, width, height, channels, fmt, payload) -> np.ndarray | None:
        """Feed one chunk of a JPEG or PNG frame; returns the finished image when it completes one."""
        if fmt not in ("jpeg", "png"):
            self.rejected += 1
            return None
        data, header = self._collect(frame_id, index, count, width, height, channels, fmt, payload)
        if data is None:
            return None
        pixels = decode_image(data, header[3])
        if pixels is None:
            self.undecodable += cv2 is None
            self.rejected += cv2 is not None
            return None
        if pixels.shape[:2] != (header[2], header[1]):
            self.rejected += 1
            return None
        return self._show(pixels, header)

    def _show(self, pixels: np.ndarray, header: tuple) -> np.ndarray:
        self.completed += 1
        self.frame_id = self._newest
        self.size = (header[1], header[2])
        self.image = to_td_image(pixels)
        return self.image

    def _collect(self, frame_id, index, count, width, height, channels, fmt, payload) -> tuple[bytes | None, tuple]:
        """Keep one chunk; (the frame's bytes, its header) once all its chunks are in, else (None, header)."""
        try:
            frame_id, index, count, width, height, channels = (int(v) for v in (frame_id, index, count, width, height, channels))
            payload = bytes(payload)
        except (TypeError, ValueError):
            self.rejected += 1
            return None, ()
        header = (count, width, height, channels, fmt)
        size = width * height * channels
        if not (0 <= index < count <= max(size, 1) and width > 0 and height > 0 and 1 <= channels <= 4 and size <= MAX_FRAME_BYTES):
            self.rejected += 1
            return None, header
        if self._newest is not None and not _is_newer(frame_id, self._newest):
            if (self._newest - frame_id) % ID_MODULO < RESTART_GAP:
                return None, header  # a late chunk of a frame already shown or given up
            self._newest = None  # ids went back a long way: the server restarted
            self.dropped += len(self._pending)
            self._pending.clear()
        entry = self._pending.get(frame_id)
        if entry is None or entry[0] != header:
            if entry is not None:
                self.dropped += 1
            entry = self._pending[frame_id] = (header, {})
            while len(self._pending) > self.max_pending:
                self._pending.popitem(last=False)
                self.dropped += 1
        chunks = entry[1]
        chunks[index] = payload
        if len(chunks) < count:
            return None, header
        del self._pending[frame_id]
        for old in [k for k in self._pending if not _is_newer(k, frame_id)]:
            del self._pending[old]
            self.dropped += 1
        self._newest = frame_id
        return b"".join(chunks[i] for i in range(count)), header


# One receiver per TouchDesigner process: the OSC In DAT callback and the Script TOP
# both reach it through op('ganplug_td').module.receiver.
receiver = Receiver()
