"""Audio-reactive latency and cost.

1. Latency: a click track (a click every 0.3-0.5 s) plays into a server at 60 fps with
   `--audio-map onset:next` on a hold walk (each onset shows the next seed, blend 0).
   For every click: the time from the moment the click sounds (the file's playback clock)
   to the arrival of the first frame showing the new seed at a receiver.
   Goal: within 2 frame periods (33.3 ms at 60 fps).
2. Cost: CPU time of the analysis per hop (256 samples) and per 60 fps frame of audio.

    ./dev bench audio_latency [--seconds 20]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
import wave
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))

import numpy as np  # noqa: E402

from common import dcgan_model, free_port  # noqa: E402
from ganplug.instrument.audio import Analyzer  # noqa: E402
from ganplug.instrument.config import InstrumentConfig  # noqa: E402
from ganplug.osc.receive import FrameReceiver  # noqa: E402
from ganplug.runtime.bench import time_calls  # noqa: E402
from ganplug.runtime.engine import Engine, EngineConfig  # noqa: E402
from ganplug.runtime.server import ServeConfig, Server  # noqa: E402
from ganplug.seeds import z_from_seed  # noqa: E402

SR = 44100


def click_wav(path: Path, seconds: float, every: float) -> np.ndarray:
    rng = np.random.default_rng(1)
    x = rng.standard_normal(int(seconds * SR)).astype(np.float32) * 0.005
    # irregular gaps, so clicks land at every point of the frame period
    clicks = 0.3 + np.cumsum(rng.uniform(0.75 * every, 1.25 * every, int(seconds / every)))
    clicks = clicks[clicks < seconds - 0.1]
    for c in clicks:
        i, n = int(c * SR), int(0.01 * SR)
        x[i:i + n] += rng.uniform(-0.8, 0.8, n) * np.exp(-np.arange(n) / 150.0)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())
    return clicks


def latency(seconds: float, fps: float) -> None:
    _, path = dcgan_model(64)
    engine = Engine(path, EngineConfig(device="cpu"))
    with tempfile.TemporaryDirectory() as d:
        wav = Path(d) / "clicks.wav"
        clicks = click_wav(wav, seconds + 1.0, 0.4)
        images = {engine.run(z_from_seed(s, 128)[None])[0].tobytes(): s for s in range(len(clicks) + 50)}
        rx = FrameReceiver("127.0.0.1", 0)
        cfg = ServeConfig(sends=(f"127.0.0.1:{rx.address[1]}",), listen=f"127.0.0.1:{free_port()}", status_every=0,
                          initial=(("walk", "hold"), ("seed", 0), ("blend", 0.0), ("fps", fps)),
                          instrument=InstrumentConfig(audio=str(wav), audio_map=("onset:next",), audio_out=False))
        server = Server(engine, cfg)
        t = threading.Thread(target=server.run, daemon=True)
        t.start()
        first_seen: dict[int, float] = {}
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            for f in rx.poll(0.005):
                s = images.get(f.pixels.tobytes())
                if s is not None and s not in first_seen:
                    first_seen[s] = time.monotonic()
        started = server.show.instrument.audio.started
        server.stop()
        t.join(5)
        rx.close()
    lat = []
    for k, c in enumerate(clicks):
        seen = first_seen.get(k + 1)
        if seen is not None and started + c < end:
            lat.append((seen - (started + c)) * 1e3)
    lat = np.array(lat)
    period = 1e3 / fps
    print(f"click to first frame of the next seed, {len(lat)} clicks at {fps:g} fps: p50 {np.percentile(lat, 50):.1f} ms, "
          f"p90 {np.percentile(lat, 90):.1f} ms, max {lat.max():.1f} ms (goal ≤ {2 * period:.1f} ms = 2 frame periods)", flush=True)


def cost() -> None:
    a = Analyzer(SR)
    noise = np.random.default_rng(0).standard_normal(SR * 4).astype(np.float32) * 0.1
    a.process(noise[:SR])
    hop = noise[SR:SR + a.hop]
    per_hop = time_calls(lambda: a.process(hop), 500)[0]
    per_frame = time_calls(lambda: a.process(noise[:SR // 60]), 300)[0]
    print(f"analysis cost: {per_hop * 1e3:.0f} µs per {a.hop}-sample hop, {per_frame * 1e3:.0f} µs per 60 fps frame of audio "
          f"({per_frame / (1e3 / 60) * 100:.2f}% of a frame period)")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--fps", type=float, default=60.0)
    a = p.parse_args()
    latency(a.seconds, a.fps)
    cost()


if __name__ == "__main__":
    main()
