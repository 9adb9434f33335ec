"""Offline rendering: the same frames as the contract and the live server."""

import numpy as np
from PIL import Image

from conftest import assert_one_line_error, run_cli
from ganplug.runtime.render import RenderConfig, frames
from ganplug.runtime.walk import WalkParams
from ganplug.seeds import z_from_seed


def test_render_hold_is_the_contract_image(tiny_model, engine, tmp_path):
    r = run_cli("render", str(tiny_model), "-o", str(tmp_path / "out"), "--walk", "hold", "--seed", "7", "--seconds", "0.2", "--fps", "10")
    assert r.returncode == 0, r.stderr
    pngs = sorted((tmp_path / "out").glob("frame-*.png"))
    assert [p.name for p in pngs] == ["frame-00000.png", "frame-00001.png"]
    want = engine.run(z_from_seed(7, 32)[None])[0]
    for p in pngs:
        np.testing.assert_array_equal(np.asarray(Image.open(p)), want)


def test_loop_render_closes_on_itself(engine):
    params = WalkParams(mode="loop", seed=4, period=2.0)
    cfg = RenderConfig(output="-", walk=params, fps=10)
    assert cfg.frame_count() == 20  # one period by default
    got = dict(frames(engine, cfg))
    (_, after_last), = frames(engine, RenderConfig(output="-", walk=params, fps=10, seconds=0.1, start=2.0))
    np.testing.assert_array_equal(after_last, got[0])  # the frame after the last one is the first one
    assert not np.array_equal(got[10], got[0])


def test_render_video_and_gif(tiny_model, tmp_path):
    import imageio.v3 as iio

    for name in ("walk.mp4", "walk.gif"):
        out = tmp_path / name
        r = run_cli("render", str(tiny_model), "-o", str(out), "--walk", "loop", "--period", "1", "--fps", "12")
        assert r.returncode == 0, r.stderr
        video = iio.imread(out)
        assert video.shape[0] == 12 and video.shape[1:3] == (32, 32)
    assert not list(tmp_path.glob(".*partial*"))


def test_truncation_and_speed(engine):
    p = WalkParams(mode="hold", seed=3)
    (_, px), = frames(engine, RenderConfig(output="-", walk=p, truncation=0.5, fps=10, seconds=0.1))
    np.testing.assert_array_equal(px, engine.run((0.5 * z_from_seed(3, 32))[None])[0])
    s = WalkParams(mode="slerp", seed=3, period=1.0)
    fast = dict(frames(engine, RenderConfig(output="-", walk=s, speed=2.0, fps=10, seconds=1.0)))
    slow = dict(frames(engine, RenderConfig(output="-", walk=s, speed=1.0, fps=10, seconds=2.0)))
    for k in range(10):
        np.testing.assert_array_equal(fast[k], slow[2 * k])


def test_render_bad_arguments(tiny_model, tmp_path):
    assert_one_line_error(run_cli("render", str(tiny_model), "-o", str(tmp_path / "x"), "--fps", "0"), "--fps")
    assert_one_line_error(run_cli("render", str(tiny_model), "-o", str(tmp_path / "x"), "--walk", "sideways"), "--walk")
    r = run_cli("render", str(tiny_model), "-o", str(tmp_path / "y"), "--keyframes", "-5", "3", "--seconds", "0.1")
    assert r.returncode == 0 and "--keyframes: seeds -5 clamped to 0" in r.stderr  # clamped as over OSC


def test_period_in_beats(tiny_model, engine, tmp_path):
    beats = run_cli("render", str(tiny_model), "-o", str(tmp_path / "b"), "--walk", "loop", "--period", "2", "--bpm", "60", "--fps", "5")
    secs = run_cli("render", str(tiny_model), "-o", str(tmp_path / "s"), "--walk", "loop", "--period", "2", "--fps", "5")
    assert beats.returncode == 0 and secs.returncode == 0
    assert "wrote 10 frames" in beats.stdout and "wrote 10 frames" in secs.stdout  # 2 beats at 60 bpm = 2 s
    for a, b in zip(sorted((tmp_path / "b").glob("*.png")), sorted((tmp_path / "s").glob("*.png"))):
        assert a.read_bytes() == b.read_bytes()
