"""examples/python/viewer.py: a pygame window run headless (SDL's dummy video driver) against a real server."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT, free_port
from ganplug.seeds import z_from_seed
from serving import running_server, wait_until

try:
    import pygame  # noqa: F401 - in the test extra; `pip install pygame` for the example itself
except ImportError:
    if os.environ.get("GANPLUG_REQUIRE_PEERS"):
        raise
    pytest.skip("pygame not installed", allow_module_level=True)

VIEWER = ROOT / "examples" / "python" / "viewer.py"


def run_viewer(*args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    env = dict(os.environ, SDL_VIDEODRIVER="dummy", SDL_AUDIODRIVER="dummy", PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, str(VIEWER), *args], capture_output=True, text=True, timeout=timeout, env=env)


def test_viewer_keys_steer_the_server_and_the_window_shows_the_served_frame(engine, tmp_path):
    rx_port = free_port()
    shot = tmp_path / "shot.png"
    with running_server(engine, tmp_path, receivers=0, extra_sends=(f"127.0.0.1:{rx_port}",), fps=20.0,
                        initial=(("walk", "slerp"), ("seed", 10), ("blend", 0.0))) as (server, _):
        host, port = server.listener.address
        r = run_viewer("--server", f"{host}:{port}", "--listen", f"127.0.0.1:{rx_port}", "--scale", "8",
                       "--keys", "right,right,right,left,1,[,down,space,s", "--frames", "8", "--screenshot", str(shot))
        assert r.returncode == 0, r.stderr
        p = server.show.walker.params
        assert (p.seed, p.mode, server.show.walker.speed, server.show.walker.paused) == (12, "hold", 0.75, True)
        assert server.show.truncation == pytest.approx(0.9)
        truncation = server.show.truncation
        assert wait_until(lambda: list((tmp_path / "snaps").glob("*.png")))  # S: the server saved a snapshot
    served = engine.run(z_from_seed(12, engine.info.z_dim)[None], truncation)[0]
    got = np.asarray(Image.open(shot).convert("RGB"))
    assert got.shape == (32 * 8, 32 * 8, 3)
    assert got.std() > 0 and got.any(), "the screenshot is blank"
    # Each served pixel is an 8 x 8 block of the window.
    np.testing.assert_array_equal(got, served.repeat(8, axis=0).repeat(8, axis=1))


def test_viewer_refuses_a_screenshot_without_a_frame_count(tmp_path):
    r = run_viewer("--screenshot", str(tmp_path / "x.png"))
    assert r.returncode == 2 and "--screenshot needs --frames" in r.stderr
