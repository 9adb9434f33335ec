"""The web surface follows the models on screen: a real `ganplug serve --models DIR --web`, two contract
models of different z_dim and frame shape, switched over OSC (real UDP); every connected page is told
(a `model` message on its WebSocket) and rebuilds without a reload, OSCQuery describes the new model,
and OSCQuery's LISTEN channel keeps pushing values across the switch."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from websockets.sync.client import connect

from conftest import NODE_DIR, free_port, start_cli, wait_for_line
from contract_models import pattern_model
from ganplug.osc.receive import messages_of
from ganplug.osc.send import message
from test_web import need_browser, recv_until

# Sorted by name, serve starts with the first: tall (24x40, z 10), then switches to wide (48x32, z 12).
TALL, WIDE = ("tall", 24, 40, 10), ("wide", 48, 32, 12)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("follow")
    for name, w, h, z in (TALL, WIDE):
        pattern_model(d / f"{name}.onnx", w, h, z_dim=z, seed=z)
    return d


@contextlib.contextmanager
def serve_models(folder: Path):
    """`ganplug serve --models DIR --web` on free ports; yields (OSC control port, web port)."""
    osc, web = free_port(), free_port(socket.SOCK_STREAM)
    proc = start_cli("serve", "--models", str(folder), "--listen", f"127.0.0.1:{osc}", "--send", f"127.0.0.1:{free_port()}",
                     "--web", f"127.0.0.1:{web}", "--blend", "0", "--fps", "20")
    try:
        wait_for_line(proc, "control page at")
        yield osc, web
    finally:
        proc.terminate()
        try:
            proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


def osc_send(port: int, address: str, types: str, *args) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(message(address, types, *args), ("127.0.0.1", port))


def next_text(ws, kind: str, seconds: float = 5.0) -> dict:
    """The next JSON message of type ``kind`` (frames and other types are read past)."""
    return recv_until(ws, lambda m: isinstance(m, dict) and m["type"] == kind, seconds)


def osc_next(ws, address: str, seconds: float = 5.0) -> tuple:
    """The args of the next LISTEN push to ``address``."""
    pushed = recv_until(ws, lambda m: isinstance(m, bytes) and any(a == address for a, _ in messages_of(m)), seconds)
    return next(tuple(args) for a, args in messages_of(pushed) if a == address)


def get_json(web: int, path: str):
    with urllib.request.urlopen(f"http://127.0.0.1:{web}{path}", timeout=10) as r:
        return json.loads(r.read())


def assert_model(fields: dict, model: tuple, output: tuple = TALL) -> None:
    """``fields`` (hello or model) describe ``model``: its name, shape, z_dim, and a table built for its z_dim."""
    name, w, h, z = model
    m = fields["model"]
    assert (m["name"], m["width"], m["height"], m["resolution"], m["z_dim"]) == (f"{name}.onnx", w, h, max(w, h), z), m
    table = {item["address"]: item for item in fields["table"]}
    assert table["/ganplug/z"]["count"] == z and table["/ganplug/z/N"]["index_max"] == z - 1
    # Every frame leaves in the show's one output shape: the first model's, whatever plays.
    assert (fields["output"]["width"], fields["output"]["height"]) == output[1:3]


def test_pages_oscquery_and_listen_follow_a_model_switch(model_dir):
    with serve_models(model_dir) as (osc, web):
        with connect(f"ws://127.0.0.1:{web}/") as listen, connect(f"ws://127.0.0.1:{web}/ui/ws") as page:
            hello = next_text(page, "hello")
            assert_model(hello, TALL)
            assert hello["model_b"] is None and hello["state"]["state"]["model_load"] == "tall"
            for path in ("/ganplug/model/load", "/ganplug/speed"):
                listen.send(json.dumps({"COMMAND": "LISTEN", "DATA": path}))
            assert osc_next(listen, "/ganplug/model/load") == ("tall",)

            t0 = time.monotonic()
            osc_send(osc, "/ganplug/model/load", "s", "wide")
            told = next_text(page, "model", 10)
            took = time.monotonic() - t0
            assert_model(told, WIDE)
            assert told["model_b"] is None and took < 5, took
            assert osc_next(listen, "/ganplug/model/load") == ("wide",)
            # The state after it says so; no second model message while nothing changes.
            assert next_text(page, "state")["state"]["model_load"] == "wide"
            with pytest.raises(AssertionError):
                next_text(page, "model", 1.0)

            # OSCQuery describes the model playing now: its name, and z_dim methods for /ganplug/z and /ganplug/z/N.
            assert get_json(web, "/?HOST_INFO")["NAME"] == "ganplug wide"
            assert get_json(web, "/ganplug/z")["TYPE"] == "f" * 12
            assert get_json(web, "/ganplug/z/11?ACCESS") == {"ACCESS": 2}
            assert "wide.onnx (48x32, z_dim 12)" in get_json(web, "/")["DESCRIPTION"]
            # LISTEN still pushes a value changed after the switch.
            osc_send(osc, "/ganplug/speed", "f", 2.5)
            assert osc_next(listen, "/ganplug/speed") == pytest.approx((2.5,))

            # B in a mix is news too: the page hears of it, A (and the table) stay.
            osc_send(osc, "/ganplug/model/b", "s", "tall")
            told = next_text(page, "model", 10)
            assert_model(told, WIDE)
            assert told["model_b"]["name"] == "tall.onnx" and told["model_b"]["z_dim"] == 10
            osc_send(osc, "/ganplug/model/b", "s", "")
            assert next_text(page, "model", 10)["model_b"] is None

            # Back to tall: /ganplug/z/11 is gone from OSCQuery again.
            osc_send(osc, "/ganplug/model/load", "s", "tall")
            assert_model(next_text(page, "model", 10), TALL)
            with pytest.raises(urllib.error.HTTPError) as e:
                get_json(web, "/ganplug/z/11")
            assert e.value.code == 404
            # A page that connects now starts with the model playing.
            with connect(f"ws://127.0.0.1:{web}/ui/ws") as late:
                assert_model(next_text(late, "hello"), TALL)
    print(f"model message {took * 1000:.0f} ms after /ganplug/model/load (load, warm-up and switch included)")


def test_the_page_in_chromium_follows_a_switch_without_a_reload(model_dir):
    node, chromium = need_browser()
    with serve_models(model_dir) as (osc, web):
        args = {"chromium": chromium, "url": f"http://127.0.0.1:{web}/ui/#table", "expect": "wide.onnx", "axes": 12}
        proc = subprocess.Popen([node, str(NODE_DIR / "browser.js"), "follow", json.dumps(args)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, cwd=NODE_DIR)
        try:
            lines = []
            for line in proc.stdout:  # until the page is up (or the script gave up and printed its failure)
                lines.append(line)
                if line.strip() == "READY" or line.startswith("{"):
                    break
            osc_send(osc, "/ganplug/model/load", "s", "wide")
            rest, err = proc.communicate(timeout=90)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    found = [ln for ln in lines + rest.splitlines() if ln.startswith("{")]
    assert found, "".join(lines) + rest + err
    out = json.loads(found[-1])
    assert proc.returncode == 0 and "failure" not in out, out.get("failure", err)
    before, after = out["before"], out["after"]
    assert before["label"].startswith("tall.onnx · 24×40 · z 10 ·"), before
    assert after["label"].startswith("wide.onnx · 48×32 · z 12 ·"), after
    assert (before["z_placeholder"], before["z_index_max"], before["axes"]) == ("10 × values", 9, 10)
    assert (after["z_placeholder"], after["z_index_max"], after["axes"]) == ("12 × values", 11, 12)
    # Seed thumbnails: a new picture (the model is in its address), at the new model's own size (both are under 96 px).
    assert before["thumb"]["size"] == [24, 40] and after["thumb"]["size"] == [48, 32], (before["thumb"], after["thumb"])
    assert before["thumb"]["src"] != after["thumb"]["src"]
    assert after["canvas"] == before["canvas"] == [24, 40]  # frames keep the show's output shape
    assert after["marker"] == "same page" and after["models"] == before["models"] + 1
    assert out["errors"] == [] and out["console_errors"] == []
    print(f"the page showed the new model {out['seconds']:.2f} s after READY")
