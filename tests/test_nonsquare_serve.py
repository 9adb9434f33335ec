"""Models whose frames are not square (W != H) on the serving side: info, serve over OSC and shared
memory, render (PNG and video), --size/--fit, a --models folder of mixed shapes, the web page and
its thumbnails, the example receivers and models made elsewhere.

Every model here is a real contract model run by onnxruntime (tests/contract_models.py): a 48 x 32
(W x H) one whose picture is unlike its transpose, a 24 x 40 portrait one and a 40 x 40 square one."""

from __future__ import annotations

import shutil
import time
import urllib.request
import uuid

import numpy as np
import pytest
from PIL import Image

from conftest import assert_one_line_error, free_port, run_cli
from contract_models import pattern_frames, pattern_model
from example_helpers import as_td_delivers, capture, load_example, udp_socket
from ganplug.errors import ContractError
from ganplug.osc.receive import FrameReceiver
from ganplug.runtime.engine import Engine, EngineConfig
from ganplug.runtime.fit import mix
from ganplug.runtime.render import RenderConfig, frames as render_frames, render
from ganplug.runtime.walk import WalkParams, latent_at
from ganplug.seeds import z_from_seed
from serving import Controller, collect, running_server, wait_until
from test_peers import check_frame_lines, served_to_oscdump

CPU = EngineConfig(device="cpu", threads=1)


@pytest.fixture(scope="module")
def wide(wide_model) -> Engine:
    return Engine(wide_model, CPU)


@pytest.fixture(scope="module")
def tall(tall_model) -> Engine:
    return Engine(tall_model, CPU)


def seed_frame(engine: Engine, seed: int) -> np.ndarray:
    return engine.run(z_from_seed(seed, engine.info.z_dim)[None])[0]


def blocks(pixels: np.ndarray, side: int = 8) -> np.ndarray:
    """Mean colour of each side x side block."""
    h, w, c = pixels.shape
    return pixels.reshape(h // side, side, w // side, side, c).mean(axis=(1, 3))


def resized(pixels: np.ndarray, size: tuple[int, int], box: tuple[float, float, float, float] | None = None) -> np.ndarray:
    """Pillow's bilinear resample, computed here independently of ganplug's fitter."""
    return np.asarray(Image.fromarray(pixels).resize(size, Image.BILINEAR, box=box))


def test_the_pattern_model_is_non_square_and_unlike_its_transpose(wide):
    assert wide.info.frame_shape == (32, 48, 3) and (wide.info.width, wide.info.height, wide.info.resolution) == (48, 32, 48)
    z = np.stack([z_from_seed(s, 12) for s in (1, 2)])
    px = wide.run(z)
    np.testing.assert_array_equal(px, pattern_frames(48, 32, z, 12, seed=1))
    assert (px[0] != px[1]).mean() > 0.9  # the picture follows z
    rows, cols = px[0, ..., 0].mean(axis=1), px[0, ..., 1].mean(axis=0)
    assert rows[:4].mean() + 60 < rows[-4:].mean() and cols[:4].mean() + 60 < cols[-4:].mean()  # ramps: down, across


def test_info_prints_w_by_h_and_a_transposed_output_is_refused(wide_model, tall_model, tmp_path, capsys):
    import onnx

    from ganplug.info import InfoConfig, info

    r = run_cli("info", str(wide_model))
    assert r.returncode == 0, r.stderr
    assert "frame      48 x 32 (W x H), 3 channels" in r.stdout
    assert "output     image tensor(uint8) ['N', 32, 48, 3]" in r.stdout and "ganplug.width = 48" in r.stdout
    info(InfoConfig(model=str(tall_model), engine=CPU))
    assert "frame      24 x 40 (W x H), 3 channels" in capsys.readouterr().out
    # The metadata says 48 x 32, the graph makes 32 x 48: W and H swapped is a contract break.
    model = onnx.load(pattern_model(tmp_path / "swapped.onnx", 32, 48))
    for p in model.metadata_props:
        p.value = {"ganplug.width": "48", "ganplug.height": "32"}.get(p.key, p.value)
    onnx.save(model, tmp_path / "swapped.onnx")
    with pytest.raises(ContractError, match="dimension 1 is 48, metadata says 32"):
        Engine(tmp_path / "swapped.onnx", CPU)


def test_serve_sends_w_by_h_frames_that_render_reproduces_frame_for_frame(wide, tmp_path):
    with running_server(wide, tmp_path, fps=20.0, initial=(("seed", 3), ("period", 0.5))) as (server, (rx,)):
        got = collect(rx, count=4, seconds=10)
        history = dict(server.history)
    assert len(got) >= 2 and all((f.width, f.height, f.channels) == (48, 32, 3) and f.pixels.shape == (32, 48, 3) for f in got)
    params = WalkParams(seed=3, period=0.5)
    for f in got[-2:]:
        (_, px), = render_frames(wide, RenderConfig(output="-", walk=params, seconds=1 / 20, fps=20, start=history[f.frame_id]))
        np.testing.assert_array_equal(f.pixels, px)
        np.testing.assert_array_equal(px, wide.run(latent_at(params, history[f.frame_id], 12)[None])[0])
    assert not np.array_equal(got[-1].pixels, got[-2].pixels)  # it walks


def test_cli_serve_reaches_oscdump_as_w_by_h_and_render_writes_the_same_pngs_and_video(wide_model, wide, tmp_path):
    import imageio.v2 as imageio

    with served_to_oscdump(wide_model, "--walk", "hold", "--seed", "5", "--blend", "0", "--fps", "30") as (_, rx, lines):
        served = list(rx.frames(count=3, seconds=10))
        time.sleep(0.5)
    want = seed_frame(wide, 5)
    assert served and all(np.array_equal(f.pixels, want) for f in served)
    assert check_frame_lines(lines, 48, 32, 3, 1500) >= 3  # 4608 bytes a frame in 4 chunks
    r = run_cli("render", str(wide_model), "-o", str(tmp_path / "png"), "--walk", "hold", "--seed", "5", "--seconds", "0.2",
                "--fps", "10", "--no-progress")
    assert r.returncode == 0, r.stderr
    pngs = sorted((tmp_path / "png").glob("*.png"))
    assert len(pngs) == 2 and all(np.array_equal(np.asarray(Image.open(p)), want) for p in pngs)
    r = run_cli("render", str(wide_model), "-o", str(tmp_path / "walk.mp4"), "--walk", "hold", "--seed", "5", "--seconds", "0.5",
                "--fps", "10", "--no-progress")
    assert r.returncode == 0, r.stderr
    video = [np.asarray(f) for f in imageio.get_reader(tmp_path / "walk.mp4")]
    assert len(video) == 5 and all(f.shape == (32, 48, 3) for f in video)
    # H.264 in yuv420p blurs a pixel pattern this fine, but 8 x 8 block averages are seed 5's and nobody else's.
    error, elsewhere = (float(np.abs(blocks(video[2]) - blocks(x)).mean()) for x in (want, seed_frame(wide, 6)))
    assert error < 8 and error < elsewhere / 3, (error, elsewhere)


def test_odd_sided_video_grows_to_even_sides_and_pngs_keep_the_size(wide, tmp_path, caplog):
    import imageio.v2 as imageio

    out, n = render(wide, RenderConfig(output=str(tmp_path / "odd.mp4"), walk=WalkParams(mode="hold", seed=2), seconds=0.3, fps=10,
                                       size=(47, 33), progress=False))
    assert n == 3 and "H.264 needs even sides" in caplog.text
    assert {np.asarray(f).shape for f in imageio.get_reader(out)} == {(34, 48, 3)}
    render(wide, RenderConfig(output=str(tmp_path / "odd"), walk=WalkParams(mode="hold", seed=2), seconds=0.1, fps=10,
                              size=(47, 33), progress=False))
    assert Image.open(tmp_path / "odd" / "frame-00000.png").size == (47, 33)


def _fitted(engine: Engine, fit: str) -> np.ndarray:
    (_, px), = render_frames(engine, RenderConfig(output="-", walk=WalkParams(mode="hold", seed=9), seconds=0.05, fps=20,
                                                  size=(1280, 720), fit=fit))
    return px


def test_fit_to_1280x720_places_a_wide_and_a_tall_model_as_each_fit_says(wide, tall):
    for engine, pad_width, crop_box in ((wide, 1080, (0, 2.5, 48, 29.5)), (tall, 432, (0, 13.25, 24, 26.75))):
        src = seed_frame(engine, 9)
        h, w, _ = src.shape
        stretch, pad, crop = (_fitted(engine, fit) for fit in ("stretch", "pad", "crop"))
        assert stretch.shape == pad.shape == crop.shape == (720, 1280, 3)
        np.testing.assert_array_equal(stretch, resized(src, (1280, 720)))
        # pad: the whole frame scaled to 720 rows, centred between black bars left and right
        x = (1280 - pad_width) // 2
        assert not pad[:, :x].any() and not pad[:, x + pad_width:].any()
        np.testing.assert_array_equal(pad[:, x:x + pad_width], resized(src, (pad_width, 720)))
        # crop: the full width, the middle rows (16:9 is wider than both models)
        np.testing.assert_array_equal(crop, resized(src, (1280, 720), crop_box))
        for px in (stretch, pad[:, x:x + pad_width], crop):  # ramps kept: down the rows in red, across in green
            assert px[:40, :, 0].mean() < px[-40:, :, 0].mean() and px[:, :40, 1].mean() < px[:, -40:, 1].mean()


def test_shared_memory_carries_w_by_h_native_and_fitted(wide, tmp_path):
    reader_module = load_example("python/shm_reader.py", "shm_reader_nonsquare")
    want = seed_frame(wide, 4)
    for size, fit, expect in ((None, "crop", want), ((1280, 720), "pad", None)):
        name = f"gpns-{uuid.uuid4().hex[:10]}"
        reader = reader_module.ShmReader(name)
        got: list[np.ndarray] = []

        def read() -> bool:
            frame = reader.read()
            if frame is not None:
                got.append(frame[1].copy())
            return bool(got)
        try:
            with running_server(wide, tmp_path, receivers=0, fps=20.0, shm=name, size=size, fit=fit,
                                initial=(("walk", "hold"), ("seed", 4), ("blend", 0.0))):
                assert wait_until(read, 10)
        finally:
            reader.close()
        if expect is None:
            expect = np.zeros((720, 1280, 3), np.uint8)
            expect[:, 100:1180] = resized(want, (1080, 720))
        assert reader.shape == expect.shape
        np.testing.assert_array_equal(got[0], expect)


def _switch(server, ctl: Controller, name: str) -> None:
    ctl.send("/ganplug/model/load", "s", name)
    assert wait_until(lambda: server.models.a.name == name and server.models.a.fade is None, 30), name


def _arrives(rx: FrameReceiver, want: np.ndarray, seconds: float = 10) -> bool:
    return wait_until(lambda: any(np.array_equal(f.pixels, want) for f in rx.poll(0.05)), seconds)


def test_a_folder_of_square_and_non_square_models_plays_at_the_first_models_size(wide_model, tall_model, tmp_path):
    folder = tmp_path / "set"
    folder.mkdir()
    shutil.copy(wide_model, folder / "wide.onnx")
    shutil.copy(tall_model, folder / "tall.onnx")
    pattern_model(folder / "square.onnx", 40, 40, z_dim=8, seed=3)
    first, square, tall = (Engine(folder / f"{n}.onnx", CPU) for n in ("wide", "square", "tall"))
    sq = resized(seed_frame(square, 7), (48, 32), (0, 40 / 6, 40, 40 - 40 / 6))  # crop: the middle 40 x 26.7 rows
    tl = resized(seed_frame(tall, 7), (48, 32), (0, 12, 24, 28))
    with running_server(first, tmp_path, fps=30.0, models=str(folder), initial=(("walk", "hold"), ("seed", 7), ("blend", 0.0))) as (server, (rx,)):
        ctl = Controller(server)
        assert server.models.output.shape == (32, 48, 3)
        assert _arrives(rx, seed_frame(first, 7))
        _switch(server, ctl, "square")
        assert _arrives(rx, sq), "the square model, cropped to 48 x 32"
        ctl.send("/ganplug/model/b", "s", "tall")
        ctl.send("/ganplug/model/mix", "f", 0.5)
        assert _arrives(rx, mix(sq, tl, 0.5), 20), "square and portrait mixed at 48 x 32"
        _switch(server, ctl, "wide")
        ctl.send("/ganplug/model/mix", "f", 0.0)
        assert _arrives(rx, seed_frame(first, 7)), "back to the wide model at its own size"
        ctl.close()
    r = run_cli("serve", str(folder / "square.onnx"), "--models", str(folder), "--size", "1280x720", "--fit", "pad", "--seconds", "1",
                "--listen", f"127.0.0.1:{free_port()}", "--send", f"127.0.0.1:{free_port()}")
    assert r.returncode == 0, r.stderr
    assert "square.onnx (40x40x3, pattern)" in r.stdout and "as 1280x720 (pad), 3 models playable" in r.stdout


def test_web_hello_and_thumbnails_keep_the_models_shape(wide, tmp_path):
    from ganplug.web import WebConfig, WebSurface
    from ganplug.web.thumbs import to_jpeg

    with running_server(wide, tmp_path, fps=30.0) as (server, _):
        web = WebSurface(server, WebConfig(listen="127.0.0.1:0")).start()
        try:
            hello = web.hello()
            with urllib.request.urlopen(f"http://127.0.0.1:{web.address[1]}/ui/thumb/5.jpg?psi=1", timeout=30) as r:
                thumb = r.read()
        finally:
            web.close()
    assert (hello["model"]["width"], hello["model"]["height"], hello["model"]["resolution"]) == (48, 32, 48)
    assert thumb == to_jpeg(seed_frame(wide, 5))
    import io

    assert Image.open(io.BytesIO(thumb)).size == (48, 32)
    # Larger models: the long side becomes 96 px, whichever side it is.
    assert Image.open(io.BytesIO(to_jpeg(np.zeros((200, 120, 3), np.uint8)))).size == (58, 96)
    assert Image.open(io.BytesIO(to_jpeg(np.zeros((144, 256, 3), np.uint8)))).size == (96, 54)


def test_the_page_in_chromium_shows_the_frame_at_its_own_shape(wide, tmp_path):
    from test_web import browse, need_browser

    from ganplug.web import WebConfig, WebSurface

    need_browser()
    with running_server(wide, tmp_path, fps=30.0) as (server, _):
        web = WebSurface(server, WebConfig(listen="127.0.0.1:0")).start()
        try:
            out = browse("page", url=f"http://127.0.0.1:{web.address[1]}/ui/", viewport={"width": 800, "height": 900})
        finally:
            web.close()
    assert out["canvas"] == [48, 32] and out["errors"] == [] and out["console_errors"] == []
    w, h = out["view_box"]
    assert w > 100 and abs(w / h - 1.5) < 0.02, out["view_box"]


def test_example_receivers_take_width_and_height_from_the_frames(wide, tmp_path):
    td = load_example("touchdesigner/ganplug_td.py", "ganplug_td_nonsquare")
    sock = udp_socket()
    try:
        with running_server(wide, tmp_path, receivers=0, extra_sends=(f"127.0.0.1:{sock.getsockname()[1]}",), fps=20.0,
                            max_datagram=600, initial=(("walk", "hold"), ("seed", 8), ("blend", 0.0))):
            grams = capture(sock, frames=3)
    finally:
        sock.close()
    rx = td.Receiver()
    images = [rx.image for g in grams if rx.on_osc(*as_td_delivers(g))]
    served = seed_frame(wide, 8)
    assert images and rx.size == (48, 32)
    for image in images:  # TouchDesigner's rows run bottom up; opaque RGBA
        assert image.shape == (32, 48, 4)
        np.testing.assert_array_equal(image[..., :3], served[::-1])


def test_python_viewer_window_has_the_frames_shape(wide, tmp_path):
    from test_example_viewer import run_viewer

    rx_port, shot = free_port(), tmp_path / "shot.png"
    with running_server(wide, tmp_path, receivers=0, extra_sends=(f"127.0.0.1:{rx_port}",), fps=20.0,
                        initial=(("walk", "hold"), ("seed", 10), ("blend", 0.0))) as (server, _):
        host, port = server.listener.address
        r = run_viewer("--server", f"{host}:{port}", "--listen", f"127.0.0.1:{rx_port}", "--scale", "4", "--frames", "3",
                       "--screenshot", str(shot))
    assert r.returncode == 0, r.stderr
    got = np.asarray(Image.open(shot).convert("RGB"))
    np.testing.assert_array_equal(got, seed_frame(wide, 10).repeat(4, axis=0).repeat(4, axis=1))


def test_a_non_square_model_made_elsewhere_is_served_at_its_shape(tmp_path):
    """A float NCHW generator of 3 x 20 x 36 (H 20, W 36): read as 36 x 20, and --layout nhwc is refused."""
    import onnx
    from onnx import TensorProto, helper

    from ganplug.runtime.foreign import ForeignSpec

    rng = np.random.default_rng(4)
    weights = rng.standard_normal((6, 3 * 20 * 36)).astype(np.float32)
    g = helper.make_graph([helper.make_node("MatMul", ["latent", "W"], ["m"]), helper.make_node("Reshape", ["m", "S"], ["r"]),
                           helper.make_node("Tanh", ["r"], ["out"])], "elsewhere",
                          [helper.make_tensor_value_info("latent", TensorProto.FLOAT, ["N", 6])],
                          [helper.make_tensor_value_info("out", TensorProto.FLOAT, None)],
                          [helper.make_tensor("W", TensorProto.FLOAT, [6, weights.shape[1]], weights.ravel()),
                           helper.make_tensor("S", TensorProto.INT64, [4], [-1, 3, 20, 36])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, tmp_path / "elsewhere.onnx")
    e = Engine(tmp_path / "elsewhere.onnx", EngineConfig(device="cpu", threads=1, foreign=ForeignSpec(output_range="signed")))
    z = z_from_seed(1, 6)[None].astype(np.float32)
    want = np.clip(np.rint((np.tanh(z @ weights).reshape(1, 3, 20, 36).transpose(0, 2, 3, 1) + 1) * 127.5), 0, 255)
    assert (e.info.width, e.info.height, e.info.frame_shape) == (36, 20, (20, 36, 3))
    assert np.abs(e.run(z).astype(int) - want.astype(int)).max() <= 1
    with pytest.raises(ContractError, match="1, 3 or 4 channels"):
        Engine(tmp_path / "elsewhere.onnx", EngineConfig(device="cpu", foreign=ForeignSpec(output_range="signed", layout="nhwc")))
    assert_one_line_error(run_cli("info", str(tmp_path / "elsewhere.onnx")), "--output-range")


def test_the_surface_on_a_phone_shows_the_frame_at_its_own_shape_and_full_screen(wide, tmp_path):
    from test_web_surface import PHONE, surface

    from ganplug.web import WebConfig, WebSurface

    with running_server(wide, tmp_path, fps=30.0, initial=(("walk", "hold"),)) as (server, _):
        web = WebSurface(server, WebConfig(listen="127.0.0.1:0")).start()
        try:
            out = surface(f"http://127.0.0.1:{web.address[1]}/ui/", **PHONE, actions=[{"do": "sleep", "ms": 300}, {"do": "fullscreen"}])
        finally:
            web.close()
    _, _, w, h = out["boxes"]["picture"]
    assert abs(w / h - 1.5) < 0.03, out["boxes"]["picture"]
    assert out["actions"][-1]["full"] == [390, 260]  # full screen: the phone's width, two thirds of it high


def test_the_p5_sketch_sizes_its_picture_from_the_frames(wide, tmp_path):
    import functools
    import http.server
    import threading

    from conftest import ROOT
    from test_web import browse, need_browser

    from ganplug.web import WebConfig, WebSurface

    need_browser()
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    files = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(ROOT / "examples" / "browser")))
    threading.Thread(target=files.serve_forever, daemon=True).start()
    origin = f"http://127.0.0.1:{files.server_address[1]}"
    try:
        with running_server(wide, tmp_path, fps=30.0) as (server, _):
            web = WebSurface(server, WebConfig(listen="127.0.0.1:0", origins=(origin,))).start()
            try:
                out = browse("sketch", url=f"{origin}/index.html?server=127.0.0.1:{web.address[1]}", x=0.5, y=0.5)
                sent = out["sketch"]
                assert wait_until(lambda: server.show.truncation == pytest.approx(sent["truncation"]), 5)
            finally:
                web.close()
    finally:
        files.shutdown()
        files.server_close()
    assert out["sketch"]["frames"] >= 3 and out["console_errors"] == []
    assert out["canvas_box"] == [640, 427 + 48]  # 640 px wide, 48 x 32's shape, two lines of text under it
    assert sent["truncation"] == pytest.approx(1.5 - 1.3 * 320 / 427, abs=0.03)  # the mouse half way down the picture
