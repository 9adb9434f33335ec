"""One inbox for every source of control: OSC over UDP and TCP, the web page, MIDI, audio, tempo.

Every source calls :meth:`Inbox.put` with an :class:`Event`; the render thread takes events
between frames, within a time budget, so a flood costs queued (then dropped) messages, never
frames. Work that other threads prepared for the render thread (a checked preset) goes
through :meth:`Inbox.later`; :meth:`Inbox.hold` keeps the messages sent after such a command
waiting until its work has landed, so a preset loaded before ``/ganplug/z`` never overwrites it.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Iterator

from ..logs import LogThrottle

log = logging.getLogger("ganplug.control")

QUEUE_SIZE = 4096
APPLY_BUDGET = 0.002  # seconds of control work per frame; the rest waits for the next frame
LATER_SIZE = 64
HOLD_LIMIT = 1.0  # seconds a slow file may hold back the messages sent after its command


def no_reply(packet: bytes) -> None:
    """The reply function of events from inside (audio, MIDI, tempo): problems are logged instead."""


@dataclass(frozen=True)
class Event:
    """One control message: where it goes, its arguments, who sent it and how to answer them.

    ``reply(packet)`` may block briefly on a socket, so only the reply queue
    (:class:`~ganplug.show.reply.Replies`) calls it, never the render thread."""

    address: str
    args: tuple
    source: str
    reply: Callable[[bytes], None] = no_reply
    time: float = field(default_factory=time.monotonic)  # when it arrived (tap tempo counts this, not the frame)


class Inbox:
    """A bounded queue of :class:`Event` (full: the newest is dropped and counted) plus render-thread calls."""

    def __init__(self, size: int = QUEUE_SIZE):
        self._events: queue.Queue[Event] = queue.Queue(size)
        self._later: deque[Callable[[], None]] = deque(maxlen=LATER_SIZE)
        self.dropped = 0
        self._warn = LogThrottle(log)
        self._holds: dict[object, float] = {}  # token -> time.monotonic() when it stops holding
        self._lock = threading.Lock()
        self._wake = threading.Event()  # set when later work arrives or a hold ends

    def put(self, ev: Event) -> bool:
        """Queue an event from any thread; never blocks. False when the inbox is full."""
        try:
            self._events.put_nowait(ev)
            return True
        except queue.Full:
            self.dropped += 1
            self._warn(f"control queue full: dropping messages from {ev.source}", key="flood:" + ev.source.split(":")[0])
            return False

    def later(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the render thread before the next frame (from any thread)."""
        self._later.append(fn)
        self._wake.set()

    def hold(self, what: str, limit: float = HOLD_LIMIT) -> Callable[[], None]:
        """Keep events queued until the returned release is called (after the work's :meth:`later`),
        or for ``limit`` seconds at most: control stays in the order it was sent, and a slow disk
        delays it by ``limit`` at worst. Render-thread calls still run meanwhile."""
        token = object()
        with self._lock:
            self._holds[token] = time.monotonic() + limit

        def release() -> None:
            with self._lock:
                late = self._holds.pop(token, None) is None
            self._wake.set()
            if late:
                self._warn(f"{what} took over {limit:g} s: messages sent after it were applied first", key="hold:" + what)
        return release

    def held(self) -> bool:
        """Whether events are being held back (holds past their limit are dropped here)."""
        with self._lock:
            if not self._holds:
                return False
            now = time.monotonic()
            for token in [t for t, until in self._holds.items() if until <= now]:
                del self._holds[token]
            return bool(self._holds)

    def take(self, budget: float = APPLY_BUDGET) -> Iterator[Event | Callable[[], None]]:
        """Render-thread calls, then events oldest first (none while :meth:`held`), until ``budget``
        seconds have passed."""
        end = time.perf_counter() + budget
        while True:
            # held() before the look at _later: a hold ends only after its work was queued there
            held = self.held()
            if self._later:
                yield self._later.popleft()
                continue
            if held or time.perf_counter() >= end:
                return
            try:
                yield self._events.get_nowait()
            except queue.Empty:
                return

    def wait(self, timeout: float) -> Event | Callable[[], None] | None:
        """The next render-thread call or event, waiting up to ``timeout`` seconds for one; None if none came."""
        held = self.held()
        if self._later:
            return self._later.popleft()
        if held:
            self._wake.clear()
            if not self._later and self.held():  # looked at again: a release may have come before the clear
                self._wake.wait(timeout)
            return self._later.popleft() if self._later else None
        try:
            return self._events.get(timeout=timeout)
        except queue.Empty:
            return None

    def __len__(self) -> int:
        return self._events.qsize()
