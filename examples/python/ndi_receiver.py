"""Receive ganplug's NDI® source in Python (``ganplug serve --ndi NAME``), with ndi-python.

    pip install ndi-python
    python examples/python/ndi_receiver.py ganplug                 # prints rate and latency
    python examples/python/ndi_receiver.py ganplug --check         # against `python -m ganplug.transports.ndi ganplug`

NDI sources are named "MACHINE (NAME)"; this finds the first whose NAME matches.
NDI® is a registered trademark of Vizrt NDI AB (https://ndi.video).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import time

import numpy as np

import NDIlib as ndi

FRAME_ID = re.compile(r'<ganplug frame="(\d+)"')


def find_source(name: str, timeout: float):
    """The NDI source called NAME (on any machine), or None after ``timeout`` seconds."""
    finder = ndi.find_create_v2(ndi.FindCreate())
    end = time.monotonic() + timeout
    try:
        while time.monotonic() < end:
            ndi.find_wait_for_sources(finder, 100)
            for s in ndi.find_get_current_sources(finder):
                if s.ndi_name.endswith(f"({name})"):
                    return s
        return None
    finally:
        ndi.find_destroy(finder)


class NdiReceiver:
    """Frames of one NDI source as H x W x 4 uint8 RGBA arrays, top row first."""

    def __init__(self, source):
        self.recv = ndi.recv_create_v3(ndi.RecvCreateV3(color_format=ndi.RECV_COLOR_FORMAT_RGBX_RGBA,
                                                        bandwidth=ndi.RECV_BANDWIDTH_HIGHEST))
        ndi.recv_connect(self.recv, source)

    def read(self, timeout_ms: int = 100) -> tuple[np.ndarray, str, int] | None:
        """(pixels, metadata, sender timestamp in 100 ns units) of the next video frame, or None."""
        kind, video, _, _ = ndi.recv_capture_v2(self.recv, timeout_ms, want_audio=False, want_metadata=False)
        if kind != ndi.FRAME_TYPE_VIDEO:
            return None
        try:
            return np.copy(video.data), video.metadata or "", video.timestamp
        finally:
            ndi.recv_free_video_v2(self.recv, video)

    def close(self) -> None:
        ndi.recv_destroy(self.recv)


def block_error(frame_id: int, pixels: np.ndarray) -> int:
    """Largest difference, in levels, between the centres of the test pattern's 32 px squares
    and what arrived (a wrong frame or a misplaced square differs by tens of levels);
    255 when alpha is not 255 everywhere."""
    from ganplug.transports.ndi import block_frame

    h, w = pixels.shape[:2]
    want = block_frame(frame_id, w, h)
    ys, xs = np.arange(16, h, 32), np.arange(16, w, 32)
    got = pixels[np.ix_(ys, xs)][..., :3].astype(int)
    return 255 if (pixels[..., 3] != 255).any() else int(np.abs(got - want[np.ix_(ys, xs)]).max())


def main() -> None:
    p = argparse.ArgumentParser(description="receive a ganplug NDI source")
    p.add_argument("name", nargs="?", default="ganplug")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--frames", type=int, default=0, help="stop once this frame id has been seen")
    p.add_argument("--check", action="store_true", help="verify the test pattern of `python -m ganplug.transports.ndi`")
    p.add_argument("--tolerance", type=int, default=16, help="levels a square's colour may differ (NDI compresses)")
    a = p.parse_args()
    if not ndi.initialize():
        raise SystemExit("NDI cannot start on this CPU")
    start = time.monotonic()
    source = find_source(a.name, a.seconds)
    if source is None:
        raise SystemExit(f"no NDI source named {a.name!r} found")
    found_s = time.monotonic() - start
    rx = NdiReceiver(source)
    ids, bad, errors, latency, first_at = [], 0, [], [], None
    end = time.monotonic() + a.seconds
    while time.monotonic() < end:
        got = rx.read()
        if got is None:
            continue
        pixels, meta, stamp = got
        m = FRAME_ID.search(meta)
        frame_id = int(m.group(1)) if m else -1
        first_at = first_at or time.monotonic()
        ids.append(frame_id)
        if stamp > 0:
            latency.append(time.time() * 1e3 - stamp / 1e4)
        if a.check:
            errors.append(block_error(frame_id, pixels))
            bad += errors[-1] > a.tolerance
        if a.frames and frame_id >= a.frames - 1:
            break
    wall = time.monotonic() - (first_at or time.monotonic())
    rx.close()
    print(json.dumps({"frames": len(ids), "distinct": len(set(ids)), "bad": int(bad), "first": ids[:1], "last": ids[-1:],
                      "fps": (len(ids) - 1) / wall if wall > 0 else 0.0, "found_ms": 1e3 * found_s,
                      "latency_ms": statistics.median(latency) if latency else None, "max_error": max(errors, default=None),
                      "shape": list(pixels.shape) if ids else []}), flush=True)


if __name__ == "__main__":
    main()
