"""Ways frames leave ganplug besides OSC: shared memory (``shm``) and NDI (``ndi``).

Each sink has ``name``, ``send_frame(frame_id, pixels, budget)`` and ``close()``
(the FrameSink interface of ``ganplug.runtime.sinks``).
"""

from __future__ import annotations

import time
from typing import Iterator


def ticks(fps: float, count: int) -> Iterator[int]:
    """Frame numbers 0…count−1, each yielded at its time on a fixed ``fps`` grid (a late frame
    goes at once; the grid does not shift), for the test senders of the transports."""
    period = 1.0 / fps
    t0 = time.perf_counter()
    for i in range(count):
        wait = t0 + i * period - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        yield i
