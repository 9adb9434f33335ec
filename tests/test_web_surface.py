"""The performing surface (`serve --web`, /ui/): its thumbnail and preset routes under the page's rules,
frames kept while thumbnails render, and the surface itself in a real headless Chromium (playwright-core,
tests/node/surface.js) at phone and tablet sizes, checked against what the server reports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from conftest import NODE_DIR, free_port
from ganplug.web import WebConfig, WebSurface
from ganplug.web.thumbs import NICE
from serving import Controller, collect, running_server, wait_until
from test_web import get, keep_artifact, need_browser, waves, waves_model, web_server, ws_url  # noqa: F401 (fixtures)

PHONE = {"viewport": {"width": 390, "height": 844}, "mobile": True}
TABLET = {"viewport": {"width": 1024, "height": 768}}
ROUTES = ("/ui/thumb/7.jpg?psi=1", "/ui/presets", "/ui/preset/look.jpg")


@pytest.fixture(scope="module")
def default_engine():
    """The bundled model: 64 px, 16 semantic directions (the XY pad's axes)."""
    from ganplug.runtime.engine import Engine, EngineConfig, default_model_path

    return Engine(default_model_path(), EngineConfig(device="cpu", threads=1))


def surface(url: str, **args) -> dict:
    node, chromium = need_browser()
    r = subprocess.run([node, str(NODE_DIR / "surface.js"), json.dumps({"chromium": chromium, "url": url, **args})],
                       capture_output=True, text=True, timeout=180, cwd=NODE_DIR)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    assert lines, r.stdout + r.stderr
    out = json.loads(lines[-1])
    assert r.returncode == 0 and "failure" not in out, out.get("failure", r.stderr)
    assert out["console_errors"] == [] and out["errors"] == [], out
    return out


def assert_fits(out: dict, picture: int) -> None:
    """No scrolling, every main control wholly on screen, a large picture and thumb-sized buttons."""
    w, h = out["viewport"]["width"], out["viewport"]["height"]
    assert out["scroll"] == [0, 0], out["scroll"]
    for name, box in out["boxes"].items():
        assert box is not None, name
        x, y, bw, bh = box
        assert x >= 0 and y >= 0 and x + bw <= w and y + bh <= h, (name, box, w, h)
    assert min(out["boxes"]["picture"][2:]) >= picture, out["boxes"]["picture"]
    assert all(out["boxes"][b][3] >= 44 for b in ("next", "tap", "pause")), out["boxes"]
    assert out["thumbs_loaded"] == 32


# --------------------------------------------------------------------------- routes, without a browser

def test_thumbnails_are_rendered_once_cached_and_served_with_cache_headers(waves, tmp_path):
    with web_server(waves, tmp_path) as (server, web, rx):
        status, headers, body = get(web, "/ui/thumb/7.jpg?psi=0.5")
        assert status == 200 and headers["Content-Type"] == "image/jpeg" and body[:2] == b"\xff\xd8"
        assert "max-age=86400" in headers["Cache-Control"]
        rendered = web.thumbs.rendered
        assert get(web, "/ui/thumb/7.jpg?psi=0.5")[2] == body and web.thumbs.rendered == rendered  # from the cache
        assert get(web, "/ui/thumb/7.jpg?psi=0.501")[2] == body  # ψ rounded to 0.01: the same picture
        other = get(web, "/ui/thumb/7.jpg?psi=1")[2]
        assert other != body and web.thumbs.rendered == rendered + 1
        assert get(web, "/ui/thumb/8.jpg?psi=1")[2] != other
        for bad in ("/ui/thumb/99999999999.jpg", "/ui/thumb/x.jpg", "/ui/thumb/7.jpg?psi=nan", "/ui/thumb/7.jpg?psi=abc",
                    "/ui/thumb/-1.jpg", "/ui/preset/..%2Fx.jpg", "/ui/preset/nothing.jpg"):
            assert get(web, bad)[0] == 404, bad
        # Rendered on a thread of its own, which yields to the render thread on a busy machine (Linux: per-thread nice).
        workers = [t for t in threading.enumerate() if t.name.startswith("ganplug-thumbs")]
        assert len(workers) == 1
        if sys.platform == "linux":
            stat = open(f"/proc/self/task/{workers[0].native_id}/stat").read().rsplit(")", 1)[1].split()
            assert int(stat[16]) == NICE  # field 19 of proc(5): nice


def test_preset_list_names_only_presets_the_server_would_load(waves, tmp_path):
    presets = tmp_path / "presets"
    with web_server(waves, tmp_path, initial=(("walk", "hold"),)) as (server, web, rx):
        ctl = Controller(server)
        for seed, name in ((11, "b-two"), (3, "a-one")):
            ctl.send("/ganplug/seed", "i", seed)
            ctl.send("/ganplug/preset/save", "s", name)
        assert wait_until(lambda: (presets / "a-one.json").exists() and (presets / "b-two.json").exists(), 5)
        os.mkfifo(presets / "fifo.json")  # named like a preset, but loading it is refused: not listed
        (presets / "dir.json").mkdir()
        (presets / "bad name.json").write_text("{}")
        (tmp_path / "outside.json").write_text("{}")
        (presets / "link.json").symlink_to(tmp_path / "outside.json")  # leaves the folder: refused by load, not listed
        (presets / "notes.txt").write_text("")
        status, headers, body = get(web, "/ui/presets")
        assert status == 200 and headers["Cache-Control"] == "no-store"
        listed = json.loads(body)["presets"]
        assert [p["name"] for p in listed] == ["a-one", "b-two"]
        a = get(web, f"/ui/preset/a-one.jpg?v={listed[0]['version']}")
        assert a[0] == 200 and a[1]["Content-Type"] == "image/jpeg"
        assert a[2] == get(web, "/ui/thumb/3.jpg?psi=1")[2]  # a preset's pad shows where it starts: seed 3
        assert get(web, "/ui/preset/b-two.jpg")[2] == get(web, "/ui/thumb/11.jpg?psi=1")[2]
        for name in ("fifo", "dir", "link", "bad%20name"):
            assert get(web, f"/ui/preset/{name}.jpg")[0] == 404, name
        ctl.close()


def test_token_origin_and_allow_hold_for_every_new_route(waves, tmp_path):
    with web_server(waves, tmp_path, token="tok") as (server, web, rx):
        for path in ROUTES:
            sep = "&" if "?" in path else "?"
            assert get(web, path)[0] == 403, path
            assert get(web, f"{path}{sep}token=wrong")[0] == 403, path
            assert get(web, f"{path}{sep}token=tok")[0] in (200, 404), path  # 404: no preset named look yet
    with web_server(waves, tmp_path) as (server, web, rx):
        port = web.address[1]
        for path in ROUTES:
            assert get(web, path)[0] in (200, 404), path
            # a page of another site reading them (fetch sends its Origin), or a rebinding name for this machine
            assert get(web, path, {"Origin": "http://elsewhere.example"})[0] == 403, path
            assert get(web, path, {"Origin": "null"})[0] == 403, path
            assert get(web, path, {"Host": f"rebind.example:{port}"})[0] == 403, path
            assert get(web, path, {"Origin": f"http://127.0.0.1:{port}"})[0] in (200, 404), path  # the page's own
    with web_server(waves, tmp_path, allow=("10.9.8.0/24",)) as (server, web, rx):
        for path in ROUTES:
            assert get(web, path)[0] == 403, path
        with pytest.raises(InvalidStatus):
            connect(ws_url(web)).close()


def test_frames_keep_their_rate_while_a_page_loads_64_thumbnails(default_engine, tmp_path):
    fps = 30.0
    with web_server(default_engine, tmp_path, fps=fps) as (server, web, rx):
        collect(rx, seconds=1.0)  # settle
        base = len(collect(rx, seconds=2.0)) / 2.0
        done: list[int] = []
        finished: list[float] = []

        def load() -> None:
            def one(seed: int) -> int:
                url = f"http://127.0.0.1:{web.address[1]}/ui/thumb/{1000 + seed}.jpg?psi=0.8"
                with urllib.request.urlopen(url, timeout=30) as r:
                    return r.status
            with ThreadPoolExecutor(6) as pool:  # a browser opens 6 connections to one host
                done.extend(pool.map(one, range(64)))
            finished.append(time.monotonic())
        t0 = time.monotonic()
        loader = threading.Thread(target=load)
        loader.start()
        arrivals = [time.monotonic() for _ in rx.frames(seconds=3.0)]  # a real UDP receiver, default buffer
        loader.join(60)
    took = finished[0] - t0
    window = max(took, 1.0)  # at least a second of frames, however fast the thumbnails were
    during = [t for t in arrivals if t <= t0 + window]
    gaps = [b - a for a, b in zip(during, during[1:])]
    print(f"frames received: {base:.1f} fps before; {len(during) / window:.1f} fps in the {window:.2f} s while 64 thumbnails "
          f"rendered (in {took:.2f} s), largest gap {max(gaps) * 1e3:.0f} ms; {len(arrivals) / 3:.1f} fps over 3 s (target {fps:g})")
    assert done == [200] * 64 and web.thumbs.rendered >= 64
    assert took < 3.0, "the 64 thumbnails took longer than the window measured"
    assert len(during) >= int(0.95 * fps * window) and len(arrivals) >= 0.95 * fps * 3.0, (base, len(during), window)
    assert max(gaps) < 2.5 / fps  # no frame waited for a thumbnail


# --------------------------------------------------------------------------- the surface in Chromium

def test_surface_on_a_phone_fits_and_a_tap_goes_to_the_seed(default_engine, tmp_path):
    shot = tmp_path / "web-phone.png"
    with web_server(default_engine, tmp_path, token="tok", initial=(("walk", "hold"),)) as (server, web, rx):
        out = surface(f"http://127.0.0.1:{web.address[1]}/ui/?token=tok", **PHONE, screenshot=str(shot),
                      actions=[{"do": "tap-seed", "index": 3}, {"do": "hold-seed", "index": 5}, {"do": "sleep", "ms": 500},
                               {"do": "screenshot", "path": str(shot)}, {"do": "fullscreen"}])
        tapped, held = out["actions"][0]["seed"], out["actions"][1]["seed"]
        assert wait_until(lambda: server.show.walker.params.seed == tapped, 5)
        assert server.show.walker.params.keyframes == (held,)
    assert (tapped, held) == (4, 10)  # the grid shows the seeds after the current one: 1… then 5…
    full = out["actions"][-1]
    assert full["on"] and full["off"] and full["full"] == [390, 390], full  # a tap: the picture the width of the phone
    assert_fits(out, picture=200)
    print(f"phone: picture {out['boxes']['picture']}, screenshot kept as {keep_artifact(shot)}")


def test_surface_on_a_tablet_fits_and_the_xy_pad_moves_two_directions(default_engine, tmp_path):
    shot = tmp_path / "web-tablet.png"
    with web_server(default_engine, tmp_path, initial=(("walk", "hold"), ("seed", 20))) as (server, web, rx):
        ctl = Controller(server)
        for seed, name in ((33, "dusk"), (58, "storm"), (20, "start")):  # pads for the screenshot
            ctl.send("/ganplug/seed", "i", seed)
            ctl.send("/ganplug/preset/save", "s", name)
        ctl.close()
        assert wait_until(lambda: (tmp_path / "presets" / "start.json").exists() and server.show.walker.params.seed == 20, 5)
        out = surface(f"http://127.0.0.1:{web.address[1]}/ui/", **TABLET, screenshot=str(shot), actions=[
            {"do": "xy", "axes": [2, 5], "spring": False, "x": 0.75, "y": 0.25},
            {"do": "hold-seed", "index": 2}, {"do": "hold-seed", "index": 7}, {"do": "sleep", "ms": 500},
            {"do": "screenshot", "path": str(shot)}])
        xy = out["actions"][0]
        assert xy["kind"] == "direction" and xy["axes"] == [2, 5]
        assert wait_until(lambda: server.show.direction_amounts[[2, 5]].tolist() == pytest.approx(xy["after"], abs=2e-3), 5)
        amounts = server.show.direction_amounts.copy()
        # Back to the centre on release, then the keyboard: three steps right, space for the next seed.
        out2 = surface(f"http://127.0.0.1:{web.address[1]}/ui/", **TABLET, actions=[
            {"do": "xy", "axes": [2, 5], "spring": True, "x": 0.1, "y": 0.9},
            {"do": "key", "key": "ArrowRight"}, {"do": "key", "key": "ArrowRight"}, {"do": "key", "key": "ArrowRight"},
            {"do": "key", "key": " "}])
        assert wait_until(lambda: server.show.direction_amounts[2] == pytest.approx(0.9, abs=1e-3), 5)
        assert server.show.direction_amounts[5] == pytest.approx(0.0, abs=1e-3)
        assert server.show.walker.params.seed == 21
    assert xy["after"] == pytest.approx([1.5, 1.5], abs=0.08)  # three quarters right, a quarter down from the top
    assert amounts[[0, 1, 3, 4]].tolist() == [0, 0, 0, 0]
    assert out2["actions"][0]["while_held"] == pytest.approx([-2.4, -2.4], abs=0.08) and out2["actions"][0]["after"] == [0, 0]
    assert_fits(out, picture=500)
    print(f"tablet: picture {out['boxes']['picture']}, screenshot kept as {keep_artifact(shot)}")


def test_xy_pad_moves_two_latent_axes_of_a_model_without_directions(waves, tmp_path):
    with web_server(waves, tmp_path, initial=(("walk", "hold"),)) as (server, web, rx):
        out = surface(f"http://127.0.0.1:{web.address[1]}/ui/", **PHONE,
                      actions=[{"do": "xy", "axes": [0, 3], "spring": False, "x": 0.25, "y": 0.75}])
        xy = out["actions"][0]
        assert xy["kind"] == "z" and [a for a, _ in xy["sent"]][-2:] == ["/ganplug/z/0", "/ganplug/z/3"]
        assert wait_until(lambda: server.show.capture().get("latent") is not None, 5)
        latent = server.show.capture()["latent"]
    assert [latent[0], latent[3]] == pytest.approx(xy["after"], abs=2e-3)
    assert xy["after"] == pytest.approx([-1.5, -1.5], abs=0.1)


def test_preset_pads_load_their_presets_and_save_names_one(default_engine, tmp_path):
    presets = tmp_path / "presets"
    with web_server(default_engine, tmp_path, initial=(("walk", "hold"),)) as (server, web, rx):
        ctl = Controller(server)
        for seed, name in ((111, "a-first"), (222, "b-second")):
            ctl.send("/ganplug/seed", "i", seed)
            ctl.send("/ganplug/preset/save", "s", name)
        ctl.send("/ganplug/seed", "i", 5)
        ctl.close()
        assert wait_until(lambda: (presets / "b-second.json").exists(), 5)
        out = surface(f"http://127.0.0.1:{web.address[1]}/ui/", **TABLET, actions=[
            {"do": "preset", "name": "b-second", "expect_seed": 222},
            {"do": "key", "key": "1", "expect_seed": 111},
            {"do": "save"}])
        assert wait_until(lambda: server.show.walker.params.seed == 111, 5)
        assert wait_until(lambda: (presets / "pad-01.json").exists(), 5)
        saved = json.loads((presets / "pad-01.json").read_text())
    assert out["actions"][0]["pads"] == ["a-first", "b-second"]
    assert out["actions"][2]["pads"] == ["a-first", "b-second", "pad-01"] and saved["seed"] == 111
    assert [a.get("seed") for a in out["actions"][:2]] == [222, 111]


def test_preset_pad_tap_loads_it_blended(default_engine, tmp_path):
    presets = tmp_path / "presets"
    presets.mkdir()
    (presets / "far.json").write_text(json.dumps({"seed": 4321, "walk": "hold", "speed": 2.5}))
    with web_server(default_engine, tmp_path, initial=(("walk", "hold"), ("blend", 2.0))) as (server, web, rx):
        surface(f"http://127.0.0.1:{web.address[1]}/ui/", **PHONE, actions=[{"do": "preset", "name": "far", "wait": 300}])
        assert wait_until(lambda: server.show.walker.params.seed == 4321 and server.show.walker.speed == 2.5, 5)
        assert server.show.capture()["blend"] == 2.0


def test_two_surfaces_stay_in_sync_within_a_state_period(waves, tmp_path):
    with web_server(waves, tmp_path, initial=(("walk", "hold"),)) as (server, web, rx):
        url = f"http://127.0.0.1:{web.address[1]}/ui/"
        out = surface(url, **PHONE, second_url=url, sync=["loop", "noise", "hold", "random"])
        assert server.show.walker.params.mode == "random"
    period_ms = 1000 / web.config.state_hz
    print("sync:", out["sync"], f"(state period {period_ms:.0f} ms)")
    # click -> next frame applies it (≤ 33 ms) -> next state push (≤ one period) -> the other page draws it
    assert all(s["ms"] <= period_ms + 250 for s in out["sync"]), out["sync"]


def test_the_surface_reconnects_by_itself_when_the_server_restarts(waves, tmp_path):
    node, chromium = need_browser()
    port = free_port()
    args = {"chromium": chromium, "url": f"http://127.0.0.1:{port}/ui/", **PHONE, "actions": [{"do": "reconnect", "expect_seed": 77}]}

    def show(seed: int):
        return running_server(waves, tmp_path, initial=(("walk", "hold"), ("seed", seed)), fps=30.0)
    with show(5) as (server, _):
        web = WebSurface(server, WebConfig(listen=f"127.0.0.1:{port}")).start()
        proc = subprocess.Popen([node, str(NODE_DIR / "surface.js"), json.dumps(args)], stdout=subprocess.PIPE, text=True, cwd=NODE_DIR)
        # the page is open once it has a connection and has asked for its grid's 32 thumbnails
        opened = wait_until(lambda: web.pages and web.thumbs.rendered >= 32, 60)
        time.sleep(0.5)
        web.close()
    try:
        assert opened
        time.sleep(1.0)
        with show(77) as (server, _):
            web = WebSurface(server, WebConfig(listen=f"127.0.0.1:{port}")).start()
            try:
                stdout, _ = proc.communicate(timeout=90)
            finally:
                web.close()
    finally:
        proc.kill()
    out = json.loads([ln for ln in stdout.splitlines() if ln.startswith("{")][-1])
    assert "failure" not in out, out["failure"]
    assert out["actions"][0]["seed"] == 77
    print(f"reconnected {out['actions'][0]['ms']} ms after the page saw the server go")
