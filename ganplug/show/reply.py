"""The one reply path: address and types from the table, written by a thread of its own.

Handlers on the render thread only queue a reply; a slow or vanished sender never costs a frame.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from typing import Callable

from ..logs import LogThrottle
from .inbox import Event
from .table import ERROR, REPLIES

log = logging.getLogger("ganplug.control")

MAX_QUEUED = 1024


def error_packet(text: str) -> bytes:
    """The table's error message, for paths that answer before an event exists (malformed packets)."""
    return ERROR.message(text)


class Replies:
    """A bounded queue of (reply function, packet), drained by one daemon thread; full: the oldest go."""

    def __init__(self, size: int = MAX_QUEUED):
        self._items: deque[tuple[Callable[[bytes], None], bytes]] = deque()
        self._size = size
        self._cond = threading.Condition()
        self._closed = False
        self.dropped = 0
        self._warn = LogThrottle(log)
        self._thread = threading.Thread(target=self._run, name="ganplug-replies", daemon=True)
        self._thread.start()

    def error(self, ev: Event, text: str) -> None:
        """Why ``ev`` was rejected or clamped, to its sender."""
        self.packet(ev, ERROR.message(text))

    def out(self, ev: Event, name: str, *args: object) -> None:
        """The outbound table entry ``name`` (``pong``, ``latent``, ...) with ``args``, to the sender of ``ev``."""
        self.packet(ev, REPLIES[name].message(*args))

    def packet(self, ev: Event, packet: bytes) -> None:
        with self._cond:
            if len(self._items) >= self._size:
                self._items.popleft()
                self.dropped += 1
                self._warn("reply queue full: dropping the oldest replies", key="replies")
            self._items.append((ev.reply, packet))
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._items and not self._closed:
                    self._cond.wait()
                if not self._items:
                    return
                reply, packet = self._items.popleft()
            try:
                reply(packet)
            except Exception as e:  # a reply is a courtesy: its failure must not stop the others
                self._warn(f"reply failed: {type(e).__name__}: {e}", key="reply:" + type(e).__name__)

    def close(self, timeout: float = 1.0) -> None:
        """Send what is queued (for up to ``timeout`` seconds), then stop."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout)
