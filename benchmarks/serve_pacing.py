"""Paced serving and control latency, measured at a receiver.

1. `ganplug serve --fps 60` at 64 px for --seconds (default 60): dropped or incomplete
   frames (goal 0 on loopback) and arrival-interval jitter |interval − 1/60 s|, p50 and p99
   (goal p99 ≤ 2 ms).
2. Control latency: `/ganplug/seed` with blend 0 sent over UDP, until the first complete
   frame showing that seed arrives; p50 and p99 (goal ≤ one frame period + one engine time).
3. The same under overload (128 px at a requested 240 fps): the latency must not grow.

    ./dev bench serve_pacing [--seconds 60] [--trials 100]
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))

import numpy as np  # noqa: E402

from common import dcgan_model, server  # noqa: E402
from ganplug.osc.receive import FrameReceiver  # noqa: E402
from ganplug.osc.send import message  # noqa: E402
from ganplug.runtime.bench import time_calls  # noqa: E402
from ganplug.runtime.engine import Engine, EngineConfig  # noqa: E402
from ganplug.seeds import z_from_seed  # noqa: E402


def pacing(path, seconds: float, fps: float, extra: list[str]) -> None:
    rx = FrameReceiver("127.0.0.1", 0)
    arrivals: list[tuple[int, float]] = []
    with server(path, "--send", f"127.0.0.1:{rx.address[1]}", "--fps", str(fps), *extra):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            for f in rx.poll(0.05):
                arrivals.append((f.frame_id, time.monotonic()))
    rx.close()
    ids = np.array([i for i, _ in arrivals])
    t = np.array([x for _, x in arrivals])
    missing = int((ids[-1] - ids[0] + 1) - len(ids))
    dev = np.abs(np.diff(t) - 1.0 / fps) * 1e3
    print(f"paced {fps:g} fps, {seconds:g} s: {len(ids)} frames received, {missing} missing, "
          f"{rx.assembler.dropped} incomplete; interval jitter p50 {np.percentile(dev, 50):.3f} ms, "
          f"p99 {np.percentile(dev, 99):.3f} ms, max {dev.max():.3f} ms", flush=True)


def latency(path, trials: int, fps: float, extra: list[str]) -> None:
    engine = Engine(path, EngineConfig(device="cpu", threads=1))
    seeds = list(range(100, 100 + trials))
    want = {s: engine.run(z_from_seed(s, engine.info.z_dim)[None])[0].tobytes() for s in seeds}
    eng_ms = time_calls(lambda: engine.run(z_from_seed(1, engine.info.z_dim)[None]), 50)[0]
    rx = FrameReceiver("127.0.0.1", 0)
    ctl = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    lat = []
    with server(path, "--send", f"127.0.0.1:{rx.address[1]}", "--fps", str(fps), "--walk", "hold", "--blend", "0", *extra) as (_, port):
        list(rx.frames(count=10, seconds=10))
        rng = random.Random(0)
        for s in seeds:
            time.sleep(rng.uniform(0.02, 0.06))  # land at random points of the frame period
            rx.poll(0)  # discard anything already queued
            t0 = time.monotonic()
            ctl.sendto(message("/ganplug/seed", "i", s), ("127.0.0.1", port))
            done = None
            while done is None and time.monotonic() - t0 < 2.0:
                for f in rx.poll(0.005):
                    if f.pixels.tobytes() == want[s]:
                        done = time.monotonic()
                        break
            if done is not None:
                lat.append((done - t0) * 1e3)
    rx.close()
    lat = np.array(lat)
    goal = max(1e3 / fps, eng_ms) + eng_ms  # when the engine cannot keep up, its time is the frame period
    print(f"control latency over {len(lat)}/{trials} seed changes at {fps:g} fps: p50 {np.percentile(lat, 50):.2f} ms, "
          f"p99 {np.percentile(lat, 99):.2f} ms, max {lat.max():.2f} ms (goal ≤ {goal:.2f} ms = frame period + engine "
          f"{eng_ms:.2f} ms)", flush=True)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--trials", type=int, default=100)
    p.add_argument("--fps", type=float, default=60.0)
    p.add_argument("--resolution", type=int, default=64)
    p.add_argument("--threads", type=int, default=0, help="onnxruntime threads for the server (default: its own default)")
    a = p.parse_args()
    _, path = dcgan_model(a.resolution)
    extra = ["--threads", str(a.threads)] if a.threads else []
    print(f"server threads: {a.threads or 'default'}")
    pacing(path, a.seconds, a.fps, extra)
    latency(path, a.trials, a.fps, extra)
    # Overload: a 128 px model asked for 240 fps cannot keep up; the rate drops to what the
    # engine manages, and control latency must stay near one engine time, not grow.
    _, big = dcgan_model(128)
    print("overload: 128 px at a requested 240 fps")
    latency(big, max(20, a.trials // 2), 240.0, extra)


if __name__ == "__main__":
    main()
