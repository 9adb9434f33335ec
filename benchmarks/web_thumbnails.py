"""Frames while the control surface loads thumbnails, measured at a real UDP receiver.

`ganplug serve --web` (the bundled 64 px model unless --model) at --fps; a FrameReceiver with the
OS default receive buffer counts frames. First --seconds with no page, then --pages new pages of
64 thumbnails each (seeds never asked before, so each is rendered), fetched over 6 connections as
a browser does. Prints frames per second received before and during, the largest gap between
frames, and how long the thumbnails took. Goal: during ≥ 95 % of the target fps.

    ./dev bench web_thumbnails [--fps 30] [--pages 4] [--seconds 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(__file__))

from common import free_port, server  # noqa: E402
from ganplug.osc.receive import FrameReceiver  # noqa: E402
from ganplug.runtime.engine import default_model_path  # noqa: E402

THUMBS_PER_PAGE = 64


def arrivals(rx: FrameReceiver, seconds: float) -> list[float]:
    return [time.monotonic() for _ in rx.frames(seconds=seconds)]


def rate(times: list[float], start: float, end: float) -> tuple[float, float]:
    """(frames per second, largest gap in ms) of the arrivals between start and end."""
    inside = [t for t in times if start <= t <= end]
    gaps = [b - a for a, b in zip(inside, inside[1:])] or [float("nan")]
    return len(inside) / max(end - start, 1e-9), max(gaps) * 1e3


def load_pages(web_port: int, pages: int, psi: float, took: list[float]) -> None:
    """Fetch pages × 64 thumbnails of fresh seeds; record each page's time."""
    def one(seed: int) -> None:
        with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/ui/thumb/{seed}.jpg?psi={psi}", timeout=60) as r:
            r.read()
    with ThreadPoolExecutor(6) as pool:
        for p in range(pages):
            t0 = time.monotonic()
            list(pool.map(one, range(100_000 + p * THUMBS_PER_PAGE, 100_000 + (p + 1) * THUMBS_PER_PAGE)))
            took.append(time.monotonic() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(default_model_path()))
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--pages", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=3.0)
    a = ap.parse_args()
    rx = FrameReceiver("127.0.0.1", free_port(), rcvbuf=0)
    web = free_port()
    with server(a.model, "--send", f"127.0.0.1:{rx.address[1]}", "--web", f"127.0.0.1:{web}", "--fps", str(a.fps)):
        arrivals(rx, 2.0)  # warm up
        t0 = time.monotonic()
        before = arrivals(rx, a.seconds)
        base_fps, base_gap = rate(before, t0, time.monotonic())
        took: list[float] = []
        loader = threading.Thread(target=load_pages, args=(web, a.pages, 0.7, took))
        t1 = time.monotonic()
        loader.start()
        during: list[float] = []
        while loader.is_alive():
            during += arrivals(rx, 0.5)
        t2 = t1 + sum(took)
        fps, gap = rate(during, t1, t2)
    rx.close()
    n = a.pages * THUMBS_PER_PAGE
    print(f"model {os.path.basename(a.model)}, target {a.fps:g} fps")
    print(f"no page:    {base_fps:5.1f} fps received, largest gap {base_gap:5.1f} ms")
    print(f"thumbnails: {fps:5.1f} fps received, largest gap {gap:5.1f} ms while {n} thumbnails loaded in {sum(took):.2f} s "
          f"({sum(took) / n * 1e3:.1f} ms each; pages {', '.join(f'{t:.2f}' for t in took)} s)")
    print(f"during/target: {fps / a.fps * 100:.1f} %  (goal >= 95 %)")


if __name__ == "__main__":
    main()
