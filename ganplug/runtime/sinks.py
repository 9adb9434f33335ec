"""Every way frames leave the server is a sink, run on a thread of its own.

OSC over UDP and TCP (:mod:`ganplug.osc.send`, one sink per destination), the web page
(:mod:`ganplug.web.server`), shared memory and NDI (:mod:`ganplug.transports`). :class:`SinkThread` gives each sink a newest-wins frame slot and a bounded
message queue, so a slow or dead sink never delays the others or the render loop.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from ..logs import LogThrottle

if TYPE_CHECKING:
    from .config import ServeConfig

log = logging.getLogger("ganplug.send")

MAX_MESSAGES = 256  # messages queued for one sink before the oldest are dropped
POLL_SECONDS = 0.05  # a sink with a ``poll()`` method gets it at least this often (TCP flushes its buffer)
CLOSE_SECONDS = 2.0


@runtime_checkable
class FrameSink(Protocol):
    """Where frames go. ``send_frame`` runs on the sink's own thread; ``pixels`` is H x W x C uint8,
    C-contiguous and read-only; ``budget`` is the seconds until the next frame is due (1/fps; 0 =
    as fast as possible), of which a paced sink may use ~80 %. Never raises on I/O: log each distinct
    error once. A sink may also define ``poll()``, called at least every 50 ms while idle."""

    name: str

    def send_frame(self, frame_id: int, pixels: np.ndarray, budget: float) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class MessageSink(FrameSink, Protocol):
    """A sink that also carries OSC messages (state, audio features)."""

    def send_messages(self, packets: list[bytes]) -> None: ...


class SinkThread:
    """One daemon thread per sink: ``publish`` and ``put_messages`` never block the caller."""

    def __init__(self, sink: FrameSink, max_messages: int = MAX_MESSAGES):
        self.sink = sink
        self.replaced = 0  # frames overwritten before the sink took them
        self.dropped_messages = 0
        self._frame: tuple[int, np.ndarray, float] | None = None
        self._messages: deque[bytes] = deque()
        self._max_messages = max_messages
        self._carries_messages = isinstance(sink, MessageSink)
        self._cond = threading.Condition()
        self._closed = False
        self._warn = LogThrottle(log)
        self._thread = threading.Thread(target=self._run, name=f"ganplug-sink {sink.name}"[:60], daemon=True)
        self._thread.start()

    def publish(self, frame_id: int, pixels: np.ndarray, budget: float) -> None:
        """Hand over a frame; one not yet taken is replaced (newest wins)."""
        with self._cond:
            if self._frame is not None:
                self.replaced += 1
            self._frame = (frame_id, pixels, budget)
            self._cond.notify()

    def put_messages(self, packets: list[bytes]) -> None:
        """Queue messages for a MessageSink (ignored by frame-only sinks); full: the oldest go."""
        if not self._carries_messages or not packets:
            return
        with self._cond:
            self._messages.extend(packets)
            over = len(self._messages) - self._max_messages
            for _ in range(max(over, 0)):
                self._messages.popleft()
            self._cond.notify()
        if over > 0:
            self.dropped_messages += over
            self._warn(f"{self.sink.name}: too slow, dropped {self.dropped_messages} messages so far", key="messages")

    def _take(self) -> tuple[list[bytes], tuple[int, np.ndarray, float] | None, bool]:
        with self._cond:
            if self._frame is None and not self._messages and not self._closed:
                self._cond.wait(POLL_SECONDS)
            messages, frame = list(self._messages), self._frame
            self._messages.clear()
            self._frame = None
            return messages, frame, self._closed

    def _run(self) -> None:
        poll = getattr(self.sink, "poll", None)
        while True:
            messages, frame, closed = self._take()
            if closed:
                break
            try:
                if messages:
                    self.sink.send_messages(messages)
                if frame is not None:
                    self.sink.send_frame(*frame)
                if poll is not None:
                    poll()
            except Exception as e:  # a sink's bug costs its frame, not the thread: the next may go through
                log.debug("sink %s", self.sink.name, exc_info=True)
                self._warn(f"{self.sink.name}: {type(e).__name__}: {e}", key="fail:" + type(e).__name__)
        try:
            self.sink.close()
        except Exception as e:  # closing is best effort
            self._warn(f"{self.sink.name}: close: {type(e).__name__}: {e}", key="close")

    def stop(self) -> None:
        """Ask the thread to end and close its sink; returns at once (safe on the render thread)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def close(self, timeout: float = CLOSE_SECONDS) -> None:
        """Stop, waiting up to ``timeout`` seconds for the sink to be closed."""
        self.stop()
        self._thread.join(timeout)


class Sinks:
    """The server's list of sink threads; sinks come and go while it runs (copy on write)."""

    def __init__(self) -> None:
        self.threads: tuple[SinkThread, ...] = ()
        self._replaced_gone = 0  # frames replaced in sinks since removed, for the closing summary
        self._lock = threading.Lock()

    def add(self, sink: FrameSink) -> SinkThread:
        thread = SinkThread(sink)
        with self._lock:
            self.threads = self.threads + (thread,)
        return thread

    def remove(self, sink: FrameSink) -> None:
        """Stop ``sink``'s thread, which then closes it; returns at once. Unknown sinks are ignored."""
        with self._lock:
            gone = [t for t in self.threads if t.sink is sink]
            self.threads = tuple(t for t in self.threads if t.sink is not sink)
        for t in gone:
            self._replaced_gone += t.replaced
            t.stop()

    def publish(self, frame_id: int, pixels: np.ndarray, budget: float) -> None:
        for t in self.threads:
            t.publish(frame_id, pixels, budget)

    def put_messages(self, packets: list[bytes]) -> None:
        for t in self.threads:
            t.put_messages(packets)

    @property
    def replaced(self) -> int:
        return self._replaced_gone + sum(t.replaced for t in self.threads)

    def close(self) -> None:
        with self._lock:
            threads, self.threads = self.threads, ()
        for t in threads:
            self._replaced_gone += t.replaced
            t.close()


def transport_sinks(config: "ServeConfig") -> list[FrameSink]:
    """The sinks that are not OSC destinations: shared memory (``--shm``) and NDI (``--ndi``).
    A name that cannot work, or NDI without its runtime, is a :class:`ConfigError` at start."""
    sinks: list[FrameSink] = []
    try:
        if config.shm:
            from ..transports.shm import ShmSink

            sinks.append(ShmSink(config.shm))
        if config.ndi:
            from ..transports.ndi import NdiSink

            sinks.append(NdiSink(config.ndi))
    except BaseException:
        for s in sinks:
            s.close()
        raise
    return sinks
