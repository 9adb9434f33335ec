"""ganplug frames for a TouchDesigner Script TOP, in plain Python and numpy.

Paste this file into a Text DAT named ``ganplug_td``. The OSC In DAT callback hands
every message to :data:`receiver`; the Script TOP copies :attr:`Receiver.image`.
Nothing here touches TouchDesigner, so the same code runs (and is tested) outside it.

The protocol (docs/protocol.md): ``/ganplug/frame iiiiiib`` carries frame id, chunk
index, chunk count, width, height, channels and a piece of the pixels. The pieces of
one frame, in chunk order, are ``height x width x channels`` uint8, top row first.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

FRAME_ADDRESS = "/ganplug/frame"
STATE_ADDRESS = "/ganplug/state"
STATE_FIELDS = ("frame", "seed", "walk", "speed", "truncation", "fps", "paused", "measured_fps", "time")
ID_MODULO = 2**31  # frame ids are int32 and wrap to 0
RESTART_GAP = 1024  # an id this far behind the newest means the server restarted
MAX_FRAME_BYTES = 8192 * 8192 * 4


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
    """Reassembles ``/ganplug/frame`` chunks and keeps the newest frame and state.

    UDP may drop, duplicate or reorder chunks. A frame counts once all its chunks are in;
    then older unfinished frames are dropped and their late chunks ignored. No chunk is
    ever waited for.
    """

    def __init__(self, max_pending: int = 4):
        self.max_pending = max_pending
        self._pending: OrderedDict[int, tuple[tuple[int, int, int, int], dict[int, bytes]]] = OrderedDict()
        self._newest: int | None = None
        self.image: np.ndarray | None = None  # H x W x 4 uint8, bottom row first: ready for copyNumpyArray
        self.frame_id: int | None = None
        self.size: tuple[int, int] = (0, 0)  # width, height of the newest frame
        self.state: dict[str, object] = {}
        self.completed = 0
        self.dropped = 0
        self.rejected = 0

    def on_osc(self, address: str, args) -> bool:
        """Feed one OSC message (address, argument list). True when it completed a frame."""
        if address == FRAME_ADDRESS and len(args) == 7:
            return self.add_chunk(*args) is not None
        if address == STATE_ADDRESS and len(args) == len(STATE_FIELDS):
            self.state = dict(zip(STATE_FIELDS, args))
        return False

    def add_chunk(self, frame_id, index, count, width, height, channels, payload) -> np.ndarray | None:
        """Feed one chunk; returns the finished TouchDesigner image when this chunk completes a frame."""
        try:
            frame_id, index, count, width, height, channels = (int(v) for v in (frame_id, index, count, width, height, channels))
            payload = bytes(payload)
        except (TypeError, ValueError):
            self.rejected += 1
            return None
        size = width * height * channels
        if not (0 <= index < count <= max(size, 1) and width > 0 and height > 0 and 1 <= channels <= 4 and size <= MAX_FRAME_BYTES):
            self.rejected += 1
            return None
        if self._newest is not None and not _is_newer(frame_id, self._newest):
            if (self._newest - frame_id) % ID_MODULO < RESTART_GAP:
                return None  # a late chunk of a frame already shown or given up
            self._newest = None  # ids went back a long way: the server restarted
            self.dropped += len(self._pending)
            self._pending.clear()
        header = (count, width, height, channels)
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
            return None
        del self._pending[frame_id]
        for old in [k for k in self._pending if not _is_newer(k, frame_id)]:
            del self._pending[old]
            self.dropped += 1
        self._newest = frame_id
        data = b"".join(chunks[i] for i in range(count))
        if len(data) != size:
            self.rejected += 1
            return None
        self.completed += 1
        self.frame_id = frame_id
        self.size = (width, height)
        self.image = to_td_image(np.frombuffer(data, np.uint8).reshape(height, width, channels))
        return self.image


# One receiver per TouchDesigner process: the OSC In DAT callback and the Script TOP
# both reach it through op('ganplug_td').module.receiver.
receiver = Receiver()
