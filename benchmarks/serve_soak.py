"""A long run: resident memory of `ganplug serve` must grow by less than 5%.

Serves at 60 fps to a receiver while a controller changes seed, walk and speed and
asks for state every second; samples the server's RSS every --every seconds after a
30 s warm-up, and prints the growth from the first sample to the last.

    ./dev bench serve_soak [--minutes 10]
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))

from common import dcgan_model, rss_mb, server  # noqa: E402
from ganplug.osc.receive import FrameReceiver  # noqa: E402
from ganplug.osc.send import message  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--every", type=float, default=30.0)
    p.add_argument("--resolution", type=int, default=64)
    a = p.parse_args()
    _, path = dcgan_model(a.resolution)
    rx = FrameReceiver("127.0.0.1", 0)
    ctl = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    walks = ["slerp", "loop", "noise", "random", "hold"]
    samples = []
    frames = 0
    with server(path, "--send", f"127.0.0.1:{rx.address[1]}", "--fps", "60") as (proc, port):
        start = time.monotonic()
        warm_end = start + min(30.0, a.minutes * 60 / 4)
        end = start + a.minutes * 60
        next_sample, next_ctl, i = warm_end, start, 0
        while time.monotonic() < end:
            frames += len(rx.poll(0.05))
            now = time.monotonic()
            if now >= next_ctl:
                i += 1
                for pkt in (message("/ganplug/seed", "i", i), message("/ganplug/walk", "s", walks[i % len(walks)]),
                            message("/ganplug/speed", "f", 0.5 + (i % 4)), message("/ganplug/state", ""),
                            message("/ganplug/nonsense", "f", float(i))):
                    ctl.sendto(pkt, ("127.0.0.1", port))
                next_ctl = now + 1.0
            if now >= next_sample:
                samples.append((now - start, rss_mb(proc.pid)))
                print(f"t={samples[-1][0]:6.0f} s  rss {samples[-1][1]:7.1f} MB  frames {frames}", flush=True)
                next_sample = now + a.every
        samples.append((time.monotonic() - start, rss_mb(proc.pid)))
    rx.close()
    first, last = samples[0][1], samples[-1][1]
    print(f"soak {a.minutes:g} min: {frames} frames received; rss {first:.1f} MB after warm-up -> {last:.1f} MB at the end "
          f"({(last - first) / first * 100:+.2f}%, goal < +5%)")


if __name__ == "__main__":
    main()
