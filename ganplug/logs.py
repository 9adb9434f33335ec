"""One log throttle for the real-time paths: a flood of the same problem is one line, not thousands."""

from __future__ import annotations

import logging
import time

MAX_KEYS = 1000  # endless distinct garbage must not grow memory


class LogThrottle:
    """Log a line per key at most once per ``interval`` seconds, with a count of what was held back.

    Keys name a kind of problem, never a peer's text. At most ``max_kinds`` kinds are logged per
    interval; the rest are counted in one summary line, so a peer cannot make the log grow faster
    than about ``max_kinds + 1`` lines per interval, however varied what it sends.
    ``interval=None`` logs each key once only (a dead peer at 60 fps is one line, ever).
    Call it as ``throttle(text)`` (the text is the key) or ``throttle(text, key=...)``.
    """

    def __init__(self, logger: logging.Logger, interval: float | None = 5.0, max_kinds: int = 10):
        self.logger, self.interval, self.max_kinds = logger, interval, max_kinds
        self._last: dict[str, tuple[float, int]] = {}
        self._window, self._kinds, self._overflow = -1e9, 0, 0

    def __call__(self, text: str, key: str | None = None) -> None:
        key = text if key is None else key
        now = time.monotonic()
        if now - self._window >= (self.interval or 5.0):
            if self._overflow:
                self.logger.warning(f"{self._overflow} more warning(s) of other kinds held back")
            self._window, self._kinds, self._overflow = now, 0, 0
        if len(self._last) > MAX_KEYS:
            self._last.clear()
        last, held = self._last.get(key, (None, 0))
        if last is not None and (self.interval is None or now - last < self.interval):
            self._last[key] = (last, held + 1)
        elif self._kinds >= self.max_kinds:
            self._overflow += 1
        else:
            self._kinds += 1
            self.logger.warning(text + (f" (and {held} more like it)" if held else ""))
            self._last[key] = (now, 0)
