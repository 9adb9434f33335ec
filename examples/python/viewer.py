"""A window that shows the frames of `ganplug serve`; keys steer the walk.

Run `ganplug serve` first (control on 127.0.0.1:9000, frames to 127.0.0.1:9001), then:

    pip install pygame
    python examples/python/viewer.py

Keys: left/right seed -1/+1, R random seed, 1-5 walk (hold, slerp, loop, noise, random),
up/down speed +/-0.25, [ and ] truncation -/+0.1, space pause, S snapshot (the server
saves it), Q or Esc quit. The title bar shows the state the server reports.

Without a display (SDL_VIDEODRIVER=dummy), `--screenshot shot.png --frames 30` saves the
window after 30 frames and exits; `--keys right,right,1` presses keys once the server's
state has arrived, for scripted demos.
"""

from __future__ import annotations

import argparse
import os
import random
import sys

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import numpy as np  # noqa: E402
import pygame  # noqa: E402
from pythonosc.udp_client import SimpleUDPClient  # noqa: E402

from ganplug.osc.frames import Frame  # noqa: E402
from ganplug.osc.receive import FrameReceiver  # noqa: E402
from ganplug.show.table import WALKS, defaults  # noqa: E402

STATE_FIELDS = ("frame", "seed", "walk", "speed", "truncation", "fps", "paused", "measured_fps", "time")
SEED_MAX = 2**31 - 1


class Steering:
    """Turns key presses into control messages, starting from the state the server last reported."""

    def __init__(self, client: SimpleUDPClient):
        self.client = client
        d = defaults()
        self.state: dict[str, object] = {"seed": d["seed"], "walk": d["walk"], "speed": d["speed"],
                                         "truncation": d["truncation"], "paused": d["pause"], "measured_fps": 0.0}
        self.heard = False  # has the server reported its state yet?

    def on_message(self, address: str, args: tuple) -> None:
        if address == "/ganplug/state" and len(args) == len(STATE_FIELDS):
            self.state.update(zip(STATE_FIELDS, args))
            self.heard = True

    def _set(self, name: str, address: str, value: object) -> None:
        # Keep the new value here too, so quick repeated presses add up before the next report.
        self.state[name] = value
        self.client.send_message(address, value)

    def key(self, key: int) -> bool:
        """Act on one key; False when it asks to quit."""
        s = self.state
        if key in (pygame.K_q, pygame.K_ESCAPE):
            return False
        if key in (pygame.K_RIGHT, pygame.K_LEFT):
            step = 1 if key == pygame.K_RIGHT else -1
            self._set("seed", "/ganplug/seed", min(max(int(s["seed"]) + step, 0), SEED_MAX))
        elif key == pygame.K_r:
            self._set("seed", "/ganplug/seed", random.randint(0, SEED_MAX))
        elif pygame.K_1 <= key < pygame.K_1 + len(WALKS):
            self._set("walk", "/ganplug/walk", WALKS[key - pygame.K_1])
        elif key in (pygame.K_UP, pygame.K_DOWN):
            step = 0.25 if key == pygame.K_UP else -0.25
            self._set("speed", "/ganplug/speed", round(min(max(float(s["speed"]) + step, -10.0), 10.0), 4))
        elif key in (pygame.K_LEFTBRACKET, pygame.K_RIGHTBRACKET):
            step = 0.1 if key == pygame.K_RIGHTBRACKET else -0.1
            self._set("truncation", "/ganplug/truncation", round(min(max(float(s["truncation"]) + step, 0.0), 2.0), 4))
        elif key == pygame.K_SPACE:
            self._set("paused", "/ganplug/pause", 0 if int(s["paused"]) else 1)
        elif key == pygame.K_s:
            self.client.send_message("/ganplug/snapshot", [])
        return True

    def caption(self) -> str:
        s = self.state
        paused = " (paused)" if int(s["paused"]) else ""
        return (f"ganplug: seed {s['seed']}, {s['walk']}{paused}, speed {float(s['speed']):g}, "
                f"truncation {float(s['truncation']):.2f}, {float(s['measured_fps']):.0f} fps")


def surface_of(frame: Frame) -> pygame.Surface:
    """A pygame surface holding the frame's pixels (grey and grey+alpha become RGB/RGBA)."""
    pixels = frame.pixels
    if frame.channels in (1, 2):
        grey = np.repeat(pixels[..., :1], 3, axis=2)
        pixels = grey if frame.channels == 1 else np.concatenate([grey, pixels[..., 1:]], axis=2)
    fmt = "RGBA" if pixels.shape[2] == 4 else "RGB"
    # frombuffer shares memory: keep a copy the surface can own.
    return pygame.image.frombuffer(np.ascontiguousarray(pixels).tobytes(), (frame.width, frame.height), fmt)


def split(address: str) -> tuple[str, int]:
    host, port = address.rsplit(":", 1)
    return host, int(port)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--server", default="127.0.0.1:9000", help="the server's control address")
    p.add_argument("--listen", default="127.0.0.1:9001", help="where the server sends frames")
    p.add_argument("--scale", type=int, default=0, help="pixels per frame pixel (default: about 512 px wide)")
    p.add_argument("--frames", type=int, default=0, help="exit after this many frames (after --keys, if given)")
    p.add_argument("--screenshot", metavar="PNG", help="save the window when exiting after --frames")
    p.add_argument("--keys", default="", help="comma-separated key names to press once the server's state arrives")
    a = p.parse_args(argv)
    if a.screenshot and not a.frames:
        p.error("--screenshot needs --frames")

    pygame.display.init()  # display only: the viewer makes no sound
    scripted = [pygame.key.key_code(k.strip()) for k in a.keys.split(",") if k.strip()]
    steer = Steering(SimpleUDPClient(*split(a.server)))
    screen = pygame.display.set_mode((512, 512))
    pygame.display.set_caption(f"ganplug: waiting for frames on {a.listen}")
    shown = 0
    running = True
    with FrameReceiver(*split(a.listen), on_message=steer.on_message) as rx:
        while running:
            for event in pygame.event.get():
                if event.type == pygame.QUIT:
                    running = False
                elif event.type == pygame.KEYDOWN:
                    running = steer.key(event.key) and running
            if scripted and steer.heard:
                for code in scripted:
                    pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=code, mod=0, unicode=""))
                scripted = []
                shown = 0  # count frames from the presses on
                continue
            frames = rx.poll(0.01)
            if not frames:
                continue
            frame = frames[-1]  # show the newest; older ones would only add latency
            scale = a.scale or max(1, 512 // max(frame.width, frame.height))
            size = (frame.width * scale, frame.height * scale)
            if screen.get_size() != size:
                screen = pygame.display.set_mode(size)
            # transform.scale is nearest-neighbour: each frame pixel becomes a sharp scale x scale block.
            screen.blit(pygame.transform.scale(surface_of(frame), size), (0, 0))
            pygame.display.flip()
            pygame.display.set_caption(steer.caption())
            shown += 1
            if a.frames and shown >= a.frames and not scripted:
                if a.screenshot:
                    pygame.image.save(screen, a.screenshot)
                break
    pygame.quit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
