"""Models during the show and any output size: real models in a real folder, a real server on 127.0.0.1,
switched, mixed and fitted over OSC; render fits frames the way serve does."""

from __future__ import annotations

import json
import shutil
import threading
import time
import weakref

import numpy as np
import pytest
from PIL import Image

from conftest import assert_one_line_error, free_port, run_cli
from ganplug.runtime.engine import Engine, EngineConfig
from ganplug.runtime.fit import Fitter, Output, mix, output_for, parse_size
from ganplug.runtime.render import RenderConfig, frames as render_frames
from ganplug.runtime.walk import WalkParams, latent_at
from ganplug.seeds import z_from_seed
from ganplug.web import oscquery
from serving import Controller, collect, running_server, wait_until

CPU = EngineConfig(device="cpu", threads=1)


@pytest.fixture(scope="session")
def small_model(tiny_data, tmp_path_factory):
    """A second contract model unlike the tiny one: 16 px, z_dim 16 (the tiny one is 32 px, z_dim 32)."""
    from ganplug.export import ExportConfig, export
    from ganplug.train.config import TrainConfig
    from ganplug.train.loop import train

    run = tmp_path_factory.mktemp("run16")
    train(TrainConfig(data=str(tiny_data), out=str(run), arch="dcgan", resolution=16, steps=2, batch=8, z_dim=16, g_width=8,
                      d_width=8, sample_every=2, checkpoint_every=2, progress=False, threads=1))
    out = tmp_path_factory.mktemp("model16") / "small.onnx"
    export(ExportConfig(source=str(run), output=str(out)))
    return out


@pytest.fixture
def folder(tiny_model, small_model, tmp_path):
    """A set: three models, a split half (not playable), a broken file and a stray text file."""
    from ganplug.runtime.engine import default_model_path

    d = tmp_path / "set"
    d.mkdir()
    shutil.copy(default_model_path(), d / "big.onnx")  # 64 px, z_dim 128: opening it takes long enough to show a stall
    shutil.copy(tiny_model, d / "tiny.onnx")
    shutil.copy(small_model, d / "small.onnx")
    shutil.copy(small_model, d / "small.mapping.onnx")
    (d / "broken.onnx").write_bytes(b"not a model at all")
    (d / "notes.txt").write_text("not a model")
    return d


def fitted(engine: Engine, z: np.ndarray, out: Output) -> np.ndarray:
    return Fitter(engine.info.frame_shape, out)(engine.run(z[None].astype(np.float32))[0])


class Heard:
    """Messages other than frames that reach a frame destination."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, tuple]] = []

    def __call__(self, address: str, args) -> None:
        self.messages.append((address, tuple(args)))

    def of(self, address: str) -> list[tuple]:
        return [a for ad, a in self.messages if ad == address]


def _switch(server, ctl, name: str) -> None:
    ctl.send("/ganplug/model/load", "s", name)
    assert wait_until(lambda: server.models.a.name == name and server.models.a.fade is None, 30), name


def test_switching_keeps_frames_coming_and_lands_on_the_new_model(folder, tmp_path):
    """At 30 fps no interval between frames exceeds two frame periods while models load and cross-fade;
    the first frame after the blend is the new model's image for that frame's walk time."""
    first = Engine(folder / "tiny.onnx", CPU)
    gaps: list[float] = []
    with running_server(first, tmp_path, fps=30.0, models=str(folder), initial=(("blend", 0.3), ("period", 2.0))) as (server, (rx,)):
        ctl = Controller(server)
        collect(rx, count=10, seconds=10)
        server.pacer.max_gap = 0.0
        stop = threading.Event()

        def watch() -> None:  # arrival times at the receiver, for the failure message
            last = None
            while not stop.is_set():
                for _ in rx.poll(0.05):
                    now = time.monotonic()
                    if last is not None:
                        gaps.append(now - last)
                    last = now
        t = threading.Thread(target=watch, daemon=True)
        t.start()
        freed: list[str] = []  # the threads that freed the sessions of models that left the screen
        for name in ("big", "small", "tiny", "big"):
            _switch(server, ctl, name)
            weakref.finalize(server.models.a.current.engine, lambda: freed.append(threading.current_thread().name))
        after = server.frame_id  # every frame from this id on comes after the blend
        time.sleep(0.5)
        stop.set()
        t.join(5)
        max_gap = server.pacer.max_gap
        got = [f for f in collect(rx, count=6, seconds=5)]
        history, params, out = dict(server.history), server.show.walker.params, server.models.output
        assert server.show.z_dim == 128 and server.show.capture()["model_load"] == "big"
        ctl.send("/ganplug/z", "f" * 128, *([0.5] * 128))  # the walk lives in the new model's z space now
        assert wait_until(lambda: server.show.walker.params.latent is not None, 5)
        ctl.close()
    assert max_gap <= 2 / 30, f"largest gap {max_gap * 1e3:.1f} ms; at the receiver {max(gaps) * 1e3:.1f} ms"
    assert got and all(f.frame_id >= after for f in got)
    assert len(freed) == 3 and all(n.startswith("ganplug-models") for n in freed), freed
    big = Engine(folder / "big.onnx", CPU)
    for f in got:
        want = fitted(big, latent_at(params, history[f.frame_id], 128), out)
        np.testing.assert_array_equal(f.pixels, want)
    assert out.shape == (32, 32, 3)  # the first model's size: the 64 px model was fitted to it


def test_two_models_mix_in_pixels_and_the_state_says_so(folder, tmp_path):
    first, small = Engine(folder / "tiny.onnx", CPU), Engine(folder / "small.onnx", CPU)
    heard = Heard()
    with running_server(first, tmp_path, fps=30.0, models=str(folder), initial=(("walk", "hold"), ("seed", 7), ("blend", 0.0))) as (server, (rx,)):
        rx.on_message = heard
        ctl = Controller(server)
        ctl.send("/ganplug/model/b", "s", "small")
        ctl.send("/ganplug/model/mix", "f", 0.25)
        out = server.models.output
        a, b = fitted(first, z_from_seed(7, 32), out), fitted(small, z_from_seed(7, 16), out)
        want = mix(a, b, 0.25)
        assert not np.array_equal(want, a) and not np.array_equal(want, b)
        assert wait_until(lambda: any(np.array_equal(f.pixels, want) for f in rx.poll(0.05)), 20)
        ctl.send("/ganplug/model/mix", "f", 1.0)
        assert wait_until(lambda: any(np.array_equal(f.pixels, b) for f in rx.poll(0.05)), 5)
        assert wait_until(lambda: rx.poll(0.05) is not None and ("tiny", "small", 1.0) in heard.of("/ganplug/model"), 5)
        values = server.show.capture()
        ctl.close()
    assert (values["model_load"], values["model_b"], values["model_mix"]) == ("tiny", "small", 1.0)
    node = oscquery.find(oscquery.namespace(32, values), "/ganplug/model/b")
    assert node["VALUE"] == ["small"] and node["ACCESS"] == oscquery.ACCESS_READ_WRITE


def test_names_only_and_a_bad_model_costs_nothing(folder, tmp_path):
    first = Engine(folder / "tiny.onnx", CPU)
    heard = Heard()
    with running_server(first, tmp_path, fps=30.0, models=str(folder)) as (server, (rx,)):
        rx.on_message = heard
        ctl = Controller(server)
        assert server.show.models.names == ("big", "broken", "small", "tiny")  # no split half, no text file
        for name in ("nothing", "../set/small", str(folder / "small.onnx"), "small.mapping", "small.onnx"):
            ctl.send("/ganplug/model/load", "s", name)
            errors = [a[0] for ad, a in ctl.replies(2.0, until="/ganplug/error") if ad == "/ganplug/error"]
            assert errors and "no model named" in errors[0], (name, errors)
        ctl.send("/ganplug/model/load", "s", "broken")
        assert wait_until(lambda: rx.poll(0.05) is not None and any("'broken' cannot be played" in a[0] for a in heard.of("/ganplug/error")), 20)
        text = next(a[0] for a in heard.of("/ganplug/error") if "broken" in a[0])
        assert str(folder) not in text  # names, never paths
        assert wait_until(lambda: server.show.capture()["model_load"] == "tiny", 5)
        n = server.frame_id
        assert len(collect(rx, count=5, seconds=5)) == 5 and server.frame_id > n
        ctl.close()


def test_presets_capture_and_restore_the_models(folder, tmp_path):
    first = Engine(folder / "tiny.onnx", CPU)
    with running_server(first, tmp_path, fps=30.0, models=str(folder), initial=(("blend", 0.0),)) as (server, (rx,)):
        ctl = Controller(server)
        _switch(server, ctl, "small")
        ctl.send("/ganplug/model/b", "s", "tiny")
        ctl.send("/ganplug/model/mix", "f", 0.5)
        assert wait_until(lambda: server.models.playing == ("small", "tiny"), 10)
        ctl.send("/ganplug/preset/save", "s", "both")
        path = tmp_path / "presets" / "both.json"
        assert wait_until(path.exists, 5)
        _switch(server, ctl, "tiny")
        ctl.send("/ganplug/model/b", "s", "")
        assert wait_until(lambda: server.models.playing == ("tiny", ""), 10)
        ctl.send("/ganplug/preset/load", "s", "both")
        assert wait_until(lambda: server.models.playing == ("small", "tiny"), 20)
        assert server.show.capture()["model_mix"] == 0.5
        # a preset from another set: its walk applies, the unknown model is named in an error and left alone
        (tmp_path / "presets" / "elsewhere.json").write_text(json.dumps({"model_load": "gone", "seed": 99}))
        ctl.send("/ganplug/preset/load", "s", "elsewhere")
        errors = [a[0] for ad, a in ctl.replies(3.0, until="/ganplug/error") if ad == "/ganplug/error"]
        assert errors and "gone" in errors[0]
        assert wait_until(lambda: server.show.walker.params.seed == 99, 5)
        assert server.models.playing[0] == "small"
        ctl.close()
    assert json.loads(path.read_text())["model_load"] == "small"


@pytest.mark.parametrize("fit", ["crop", "pad", "stretch"])
def test_serve_and_render_fit_to_any_size_alike(engine, tmp_path, fit):
    size = (48, 27)
    with running_server(engine, tmp_path, fps=20.0, size=size, fit=fit, initial=(("seed", 3), ("period", 0.5))) as (server, (rx,)):
        got = collect(rx, count=4, seconds=10)
        history = dict(server.history)
    assert got and all(f.pixels.shape == (27, 48, 3) for f in got)
    params = WalkParams(seed=3, period=0.5)
    for f in got[-2:]:
        (_, px), = render_frames(engine, RenderConfig(output="-", walk=params, seconds=1 / 20, fps=20, start=history[f.frame_id],
                                                      size=size, fit=fit))
        np.testing.assert_array_equal(f.pixels, px)


def test_fit_crop_pad_stretch_and_channels():
    src = np.zeros((64, 64, 3), np.uint8)
    src[:, :32] = 200  # left half bright
    src[:8] = (0, 0, 255)  # a blue band at the top: crop to 16:9 cuts it away
    crop = Fitter(src.shape, Output(72, 128, 3, "crop"))(src)
    assert crop.shape == (72, 128, 3) and not (crop[..., 2] == 255).any()
    want = np.asarray(Image.fromarray(src).resize((128, 72), Image.BILINEAR, box=(0, 14, 64, 50)))
    np.testing.assert_array_equal(crop, want)
    pad = Fitter(src.shape, Output(72, 128, 3, "pad"))(src)
    assert pad.shape == (72, 128, 3) and (pad[:, :28] == 0).all() and (pad[:, 100:] == 0).all()
    assert (pad[:8, 28:100] != 0).any()  # the whole frame is there, band included
    stretch = Fitter(src.shape, Output(72, 128, 3, "stretch"))(src)
    np.testing.assert_array_equal(stretch, np.asarray(Image.fromarray(src).resize((128, 72), Image.BILINEAR)))
    rgba = Fitter(src.shape, Output(64, 64, 4))(src)
    assert rgba.shape == (64, 64, 4) and (rgba[..., 3] == 255).all() and np.array_equal(rgba[..., :3], src)
    same = Fitter(src.shape, output_for(src.shape, None))
    assert same.identity and same(src) is src
    assert mix(src, crop[:64, :64], 0.0) is src and mix(src, crop[:64, :64], 1.0) is not src
    assert parse_size("1280x720") == (1280, 720)


def test_command_line_sizes_and_folders(tiny_model, folder, tmp_path):
    assert_one_line_error(run_cli("serve", str(tiny_model), "--size", "wide", "--seconds", "1"), "--size")
    assert_one_line_error(run_cli("serve", "--models", str(tmp_path / "nowhere"), "--seconds", "1"), "--models")
    assert_one_line_error(run_cli("render", str(tiny_model), "-o", str(tmp_path / "r"), "--size", "0x10"), "--size")
    r = run_cli("serve", str(folder / "small.onnx"), "--models", str(folder), "--size", "64x36", "--fit", "pad", "--seconds", "1.5",
                "--listen", f"127.0.0.1:{free_port()}", "--send", f"127.0.0.1:{free_port()}")
    assert r.returncode == 0, r.stderr
    assert "small.onnx" in r.stdout and "as 64x36 (pad)" in r.stdout and "4 models playable" in r.stdout
    out = tmp_path / "frames"
    r = run_cli("render", str(tiny_model), "-o", str(out), "--seconds", "0.1", "--fps", "20", "--size", "64x36", "--no-progress")
    assert r.returncode == 0, r.stderr
    assert {Image.open(p).size for p in out.iterdir()} == {(64, 36)}


def test_oscquery_and_the_page_know_the_model_playing(folder, tmp_path):
    import urllib.request

    from ganplug.web import WebConfig, WebSurface
    from ganplug.web.server import page_table

    first = Engine(folder / "tiny.onnx", CPU)
    with running_server(first, tmp_path, fps=30.0, models=str(folder), initial=(("blend", 0.0),)) as (server, (rx,)):
        web = WebSurface(server, WebConfig(listen="127.0.0.1:0")).start()
        try:
            ctl = Controller(server)
            _switch(server, ctl, "small")
            url = f"http://127.0.0.1:{web.address[1]}"
            with urllib.request.urlopen(url + "/ganplug/model/load?VALUE", timeout=10) as r:
                assert json.loads(r.read()) == {"VALUE": ["small"]}
            with urllib.request.urlopen(url + "/ganplug/z", timeout=10) as r:
                assert json.loads(r.read())["TYPE"] == "f" * 16  # OSCQuery follows the new model's z_dim
            hello = web.hello()
            assert hello["state"]["state"]["model_load"] == "small" and hello["model"]["z_dim"] == 16
            ctl.close()
        finally:
            web.close()
    names = {item["address"]: item for item in page_table(16)}
    assert names["/ganplug/model/load"]["kind"] == "param" and names["/ganplug/model/mix"]["args"][0]["hi"] == 1.0


def test_surface_thumbnails_follow_the_model_playing(folder, tmp_path):
    from ganplug.web import WebConfig, WebSurface
    from ganplug.web.thumbs import to_jpeg
    import urllib.request

    tiny, big = Engine(folder / "tiny.onnx", CPU), Engine(folder / "big.onnx", CPU)
    with running_server(tiny, tmp_path, fps=30.0, models=str(folder), initial=(("blend", 0.0),)) as (server, _):
        web = WebSurface(server, WebConfig(listen="127.0.0.1:0")).start()
        try:
            def thumb() -> bytes:
                with urllib.request.urlopen(f"http://127.0.0.1:{web.address[1]}/ui/thumb/5.jpg?psi=1", timeout=30) as r:
                    return r.read()
            before = thumb()
            ctl = Controller(server)
            _switch(server, ctl, "big")
            ctl.close()
            after = thumb()
        finally:
            web.close()
    assert before == to_jpeg(tiny.run(z_from_seed(5, 32)[None])[0])
    assert after == to_jpeg(big.run(z_from_seed(5, 128)[None])[0])
