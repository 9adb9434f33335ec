"""Beat clocks: the server's own (tempo from /ganplug/bpm and tap tempo) and Ableton Link.

A clock answers "which beat is it now?" as a float that only ever moves forward
smoothly: changing the tempo re-anchors it, so the beat count does not jump.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque

from ..errors import ConfigError

TAP_RESET = 2.0  # seconds without a tap start a new tap sequence
TAP_WINDOW = 4  # intervals averaged


class BeatClock:
    """Beats since an origin at a given tempo, anchored so tempo changes never jump."""

    def __init__(self, bpm: float = 120.0, now: float | None = None):
        self._bpm = bpm
        self._t0 = time.monotonic() if now is None else now
        self._b0 = 0.0

    @property
    def bpm(self) -> float:
        return self._bpm

    def beat(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        return self._b0 + (now - self._t0) * self._bpm / 60.0

    def set_bpm(self, bpm: float, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self._b0, self._t0, self._bpm = self.beat(now), now, bpm

    def align(self, now: float | None = None) -> None:
        """Make ``now`` a whole beat (a tap lands on the beat)."""
        now = time.monotonic() if now is None else now
        self._b0, self._t0 = float(round(self.beat(now))), now


class TapTempo:
    """Tempo from taps: the mean of the last few intervals, restarted after a pause."""

    def __init__(self) -> None:
        self.taps: deque[float] = deque(maxlen=TAP_WINDOW + 1)

    def tap(self, now: float | None = None) -> float | None:
        """Register a tap; returns the tempo once two taps are in, else None."""
        now = time.monotonic() if now is None else now
        if self.taps and now - self.taps[-1] > TAP_RESET:
            self.taps.clear()
        self.taps.append(now)
        if len(self.taps) < 2:
            return None
        span = self.taps[-1] - self.taps[0]
        return 60.0 * (len(self.taps) - 1) / span if span > 0 else None


class LinkClock:
    """Ableton Link through the ``aalink`` package, on a thread with its own event loop.

    Tempo and beat are shared with every Link peer on the network (quantum 4: bars of four).
    """

    def __init__(self, bpm: float = 120.0, quantum: float = 4.0):
        try:
            import aalink
        except ModuleNotFoundError:
            raise ConfigError("--link needs the aalink package: pip install 'ganplug[link]'") from None
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()
        self._link = None

        async def make():
            return aalink.Link(bpm)  # attaches to the running loop: this thread's

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            self._link = self._loop.run_until_complete(make())
            self._link.quantum = quantum
            self._link.enabled = True
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="ganplug-link", daemon=True)
        self._thread.start()
        if not ready.wait(5):
            raise ConfigError("Ableton Link did not start")

    @property
    def bpm(self) -> float:
        return float(self._link.tempo)

    @property
    def peers(self) -> int:
        return int(self._link.num_peers)

    def beat(self, now: float | None = None) -> float:
        return float(self._link.beat)

    def phase(self) -> float:
        """Position inside the bar, 0 <= phase < quantum."""
        return float(self._link.phase)

    def set_bpm(self, bpm: float, now: float | None = None) -> None:
        self._loop.call_soon_threadsafe(setattr, self._link, "tempo", float(bpm))

    def align(self, now: float | None = None) -> None:
        """Link owns the beat grid: a tap sets the tempo but does not move the session's phase."""

    def close(self) -> None:
        def stop() -> None:
            self._link.enabled = False
            self._loop.stop()
        self._loop.call_soon_threadsafe(stop)
        self._thread.join(2)


def phase_error(position: float, target: float) -> float:
    """``target - position`` wrapped to [-0.5, 0.5): how far a walk is from its beat-aligned place, in periods."""
    return (target - position + 0.5) % 1.0 - 0.5
