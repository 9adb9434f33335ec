"""When to compute a frame and when to publish it: a deadline clock and an estimate of the engine's time.

The render loop computes a frame just before its deadline (the *lead* is about the 95th
percentile of recent engine times), so a control change reaches the screen within about
one engine time, and publishes it at the deadline. A late frame restarts the clock
instead of bursting to catch up.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Callable

import numpy as np

LEAD_QUANTILE, LEAD_MARGIN = 95, 0.0005  # start a frame this far (in recent engine times) before its deadline


class Pacer:
    """The deadline clock of one render loop; its waits end early when ``stop`` is set."""

    def __init__(self, stop: threading.Event):
        self.stop = stop
        self.clock = time.monotonic
        self.deadline = 0.0
        self.period = 0.0  # 1/fps of the frame in progress; 0 = as fast as possible
        self.engine_time = 0.0  # moving average, for the status line
        self.engine_times: deque[float] = deque(maxlen=120)  # the last two seconds or so, for the lead
        self.lead = 0.0
        self.published = 0
        self.measured_fps = 0.0
        self.max_gap = 0.0  # the largest gap between published frames, for the closing summary
        self._last_pub: float | None = None

    def calibrate(self, engine_time: float) -> None:
        """Start from one timed engine run (after warm-up); the clock starts now."""
        self.engine_time = engine_time
        self.lead = 1.5 * engine_time + LEAD_MARGIN
        self.deadline = self.clock()

    def wait_to_compute(self, fps: float, idle: Callable[[float], None] | None = None) -> float:
        """Wait until the next frame should be started; returns its period (0 = as fast as possible).

        ``idle(until)`` is called to spend the wait (it returns by ``until``, time.monotonic, or when
        ``stop`` is set); without it the wait is a sleep."""
        self.period = 1.0 / fps if fps > 0 else 0.0
        if self.period:
            self.deadline += self.period
            now = self.clock()
            if self.deadline < now:  # the engine cannot keep up: restart the clock, do not burst
                self.deadline = now
            # Start as late as possible so control changes show up with the least delay,
            # with a small margin for an engine run slower than its average.
            wake = self.deadline - self.lead
            if wake > now:
                idle(wake) if idle is not None else self.stop.wait(wake - now)
        return self.period

    def computed(self, dt: float) -> None:
        """One engine run took ``dt`` seconds."""
        self.engine_time = dt if self.engine_time == 0 else 0.9 * self.engine_time + 0.1 * dt
        self.engine_times.append(dt)
        if self.published % 10 == 0 or len(self.engine_times) < 10:
            # Long enough for nearly every engine run, and no longer: a longer lead is control latency.
            self.lead = float(np.percentile(self.engine_times, LEAD_QUANTILE)) + LEAD_MARGIN

    def wait_to_publish(self) -> float:
        """Sleep until the deadline; returns the time of publishing."""
        if self.period:
            wait = self.deadline - self.clock()
            if wait > 0:
                self.stop.wait(wait)
        return self.clock()

    def publishing(self, now: float) -> float:
        """A frame goes out at ``now``: returns how far the walk moves (0 for the first frame)."""
        self.published += 1
        last, self._last_pub = self._last_pub, now
        if last is None:
            return 0.0
        gap = now - last
        self.max_gap = max(self.max_gap, gap)
        self.measured_fps = 1.0 / gap if self.measured_fps == 0 else 0.9 * self.measured_fps + 0.1 / max(gap, 1e-6)
        # On schedule the walk moves exactly one period per frame, as in ``render``.
        on_time = self.period and abs(gap - self.period) < 0.5 * self.period
        return self.period if on_time else gap
