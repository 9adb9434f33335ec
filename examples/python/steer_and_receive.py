"""Play a sequence of seeds on a beat and report the frames that come back.

Run `ganplug serve` first (defaults: control on 127.0.0.1:9000, frames to 127.0.0.1:9001), then:

    python examples/python/steer_and_receive.py --seeds 1 2 3 5 8 --bpm 120

Needs only ganplug's serving install (python-osc, numpy).
"""

from __future__ import annotations

import argparse
import time

from pythonosc.udp_client import SimpleUDPClient

from ganplug.osc.receive import FrameReceiver


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--server", default="127.0.0.1:9000", help="the server's control address")
    p.add_argument("--listen", default="127.0.0.1:9001", help="where the server sends frames")
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 5, 8, 13])
    p.add_argument("--bpm", type=float, default=120.0, help="one seed per beat")
    p.add_argument("--beats", type=int, default=8, help="how many beats to play")
    a = p.parse_args()

    host, port = a.server.rsplit(":", 1)
    ctl = SimpleUDPClient(host, int(port))
    ctl.send_message("/ganplug/walk", "hold")
    ctl.send_message("/ganplug/blend", 60.0 / a.bpm / 2)  # cross-fade over half a beat

    rx_host, rx_port = a.listen.rsplit(":", 1)
    with FrameReceiver(rx_host, int(rx_port)) as rx:
        beat = 60.0 / a.bpm
        start = time.monotonic()
        for i in range(a.beats):
            seed = a.seeds[i % len(a.seeds)]
            ctl.send_message("/ganplug/seed", seed)
            frames = list(rx.frames(seconds=start + (i + 1) * beat - time.monotonic()))
            if frames:
                f = frames[-1]
                print(f"beat {i + 1}: seed {seed}, {len(frames)} frames, last #{f.frame_id} "
                      f"{f.width}x{f.height}, mean colour {f.pixels.reshape(-1, f.channels).mean(0).round(1).tolist()}")
            else:
                print(f"beat {i + 1}: seed {seed}, no frames (is `ganplug serve` running and sending to {a.listen}?)")


if __name__ == "__main__":
    main()
