"""A worker thread with a bounded queue for the show's file I/O (presets, snapshots)."""

from __future__ import annotations

import logging
import queue
import threading
from typing import Callable

from ..logs import LogThrottle

log = logging.getLogger("ganplug.serve")

QUEUE_SIZE = 8  # file jobs waiting; a burst beyond this is dropped, counted and logged once in a while


class Worker:
    """Runs jobs one at a time off the render thread; :meth:`submit` never blocks."""

    def __init__(self, name: str = "ganplug-io", size: int = QUEUE_SIZE):
        self._jobs: queue.Queue[Callable[[], None] | None] = queue.Queue(size)
        self.dropped = 0
        self._warn = LogThrottle(log)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, job: Callable[[], None], what: str) -> bool:
        """Queue ``job``; when the queue is full it is dropped (False) and counted in a summarised line."""
        try:
            self._jobs.put_nowait(job)
            return True
        except queue.Full:
            self.dropped += 1
            self._warn(f"file worker busy: dropped {what} ({self.dropped} dropped so far)", key="worker-full")
            return False

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            try:
                job()
            except Exception as e:  # one failed job must not end the worker
                log.debug("worker job failed", exc_info=True)
                self._warn(f"file worker: {type(e).__name__}: {e}", key="worker:" + type(e).__name__)

    def close(self, timeout: float = 5.0) -> None:
        """Finish queued jobs (for up to ``timeout`` seconds), then stop."""
        try:
            self._jobs.put(None, timeout=timeout)
        except queue.Full:
            return
        self._thread.join(timeout)
