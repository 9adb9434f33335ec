"""One log throttle for the real-time paths: a flood of the same problem is one line, not thousands."""

from __future__ import annotations

import logging
import time

MAX_KEYS = 1000  # endless distinct garbage must not grow memory


class LogThrottle:
    """Log a line per key at most once per ``interval`` seconds, with a count of what was held back.

    ``interval=None`` logs each key once only (a dead peer at 60 fps is one line, ever).
    Call it as ``throttle(text)`` (the text is the key) or ``throttle(text, key=...)``.
    """

    def __init__(self, logger: logging.Logger, interval: float | None = 5.0):
        self.logger, self.interval = logger, interval
        self._last: dict[str, tuple[float, int]] = {}

    def __call__(self, text: str, key: str | None = None) -> None:
        key = text if key is None else key
        now = time.monotonic()
        if len(self._last) > MAX_KEYS:
            self._last.clear()
        last, held = self._last.get(key, (None, 0))
        if last is None or (self.interval is not None and now - last >= self.interval):
            self.logger.warning(text + (f" (and {held} more like it)" if held else ""))
            self._last[key] = (now, 0)
        else:
            self._last[key] = (last, held + 1)
