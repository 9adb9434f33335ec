"""The web surface (`serve --web`): OSCQuery against the address table and the proposal, the page's
WebSocket (control, replies, flow control, token), and the page and the p5.js example in a real
headless Chromium driven by playwright-core."""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from conftest import NODE_DIR, ROOT, assert_one_line_error, free_port, need, run_cli, start_cli, wait_for_line
from ganplug.show.table import INBOUND, OUTBOUND, PARAMS, lookup
from ganplug.osc.send import message
from ganplug.web import WebConfig, WebSurface
from serving import Controller, collect, running_server, wait_until

ARTIFACTS = ROOT / "tests" / "artifacts"
TYPE_TAGS = set("ifsbhdtcrmTFNI")
WAVES = ("--output-range", "signed")  # how `serve` reads the waves model (a float generator)


@pytest.fixture(scope="module")
def waves_model(tmp_path_factory) -> Path:
    """z (16) -> smooth colour waves (32x32 RGB): every latent gives a clearly different picture.

    The tiny trained model paints nearly flat grey, so a browser could not see its frames change."""
    import onnx
    from onnx import TensorProto, helper

    z_dim, res = 16, 32
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:1:res * 1j, 0:1:res * 1j]
    f = rng.uniform(-3, 3, (z_dim, 3, 2))
    phase = rng.uniform(0, 2 * np.pi, (z_dim, 3))
    w = np.sin(2 * np.pi * (f[..., 0, None, None] * x + f[..., 1, None, None] * y) + phase[..., None, None]) * 0.6
    g = helper.make_graph(
        [helper.make_node("MatMul", ["z", "W"], ["m"]), helper.make_node("Reshape", ["m", "S"], ["r"]),
         helper.make_node("Tanh", ["r"], ["picture"])], "waves",
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["N", z_dim])],
        [helper.make_tensor_value_info("picture", TensorProto.FLOAT, None)],
        [helper.make_tensor("W", TensorProto.FLOAT, [z_dim, 3 * res * res], w.astype(np.float32).ravel()),
         helper.make_tensor("S", TensorProto.INT64, [4], [-1, 3, res, res])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    path = tmp_path_factory.mktemp("waves") / "waves.onnx"
    onnx.save(m, path)
    return path


@pytest.fixture(scope="module")
def waves(waves_model):
    from ganplug.runtime.engine import Engine, EngineConfig
    from ganplug.runtime.foreign import ForeignSpec

    return Engine(waves_model, EngineConfig(device="cpu", threads=1, foreign=ForeignSpec(output_range="signed")))


@contextlib.contextmanager
def web_server(engine, tmp_path, token=None, zeroconf=False, origins=(), **kw):
    """A running Server with its web surface; yields (server, web, frame receiver)."""
    kw.setdefault("fps", 30.0)
    with running_server(engine, tmp_path, **kw) as (server, (rx,)):
        web = WebSurface(server, WebConfig(listen="127.0.0.1:0", token=token, origins=origins, zeroconf=zeroconf)).start()
        try:
            yield server, web, rx
        finally:
            web.close()


def get(web, path: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    """(status, headers, body) of a GET to the web surface."""
    req = urllib.request.Request(f"http://127.0.0.1:{web.address[1]}{path}", headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def get_json(web, path: str):
    status, headers, body = get(web, path)
    assert status == 200, (path, status, body[:200])
    assert headers["Content-Type"] == "application/json"
    return json.loads(body)


def ws_url(web, token: str | None = None) -> str:
    return f"ws://127.0.0.1:{web.address[1]}/ui/ws" + (f"?token={token}" if token else "")


# --------------------------------------------------------------------------- OSCQuery

def tags(type_string: str) -> list[str]:
    return [t for t in type_string if t not in "[]"]


def check_node(node: dict, path: str, leaves: list[str]) -> None:
    """The proposal's rules for one node and everything below it."""
    assert node["FULL_PATH"] == path
    assert isinstance(node.get("DESCRIPTION", ""), str)
    assert node.get("ACCESS", 0) in (0, 1, 2, 3)
    if "CONTENTS" in node:
        assert isinstance(node["CONTENTS"], dict)
        for name, child in node["CONTENTS"].items():
            assert "/" not in name and name
            check_node(child, path.rstrip("/") + "/" + name, leaves)
    if "TYPE" in node:
        leaves.append(path)
        t = tags(node["TYPE"])
        assert t and set(t) <= TYPE_TAGS, node["TYPE"]
        for attr in ("RANGE", "CLIPMODE", "VALUE"):
            if attr in node:
                assert isinstance(node[attr], list) and len(node[attr]) == len(t), (path, attr)
        for r in node.get("RANGE", []):
            assert isinstance(r, dict) and set(r) <= {"MIN", "MAX", "VALS"}, (path, r)
        assert all(c in ("none", "low", "high", "both") for c in node.get("CLIPMODE", []))
        if "VALUE" in node:
            assert node["ACCESS"] in (1, 3)
    else:
        assert "CONTENTS" in node, f"{path} is neither a container nor a method"
        assert "VALUE" not in node and "RANGE" not in node


def expected_range(arg) -> dict:
    if arg.choices:
        return {"VALS": list(arg.choices)}
    if arg.lo is None or arg.type == "s":
        return {}
    return {"MIN": arg.lo, "MAX": arg.hi}


def test_oscquery_namespace_is_the_address_table(waves, tmp_path):
    z_dim = waves.info.z_dim
    with web_server(waves, tmp_path, initial=(("seed", 77), ("walk", "noise"))) as (server, web, rx):
        root = get_json(web, "/")
        state = server.show.capture()
    leaves: list[str] = []
    check_node(root, "/", leaves)
    assert root["ACCESS"] == 0 and "ganplug" in root["CONTENTS"]

    def node(path):
        n = root
        for part in path.strip("/").split("/"):
            n = n["CONTENTS"][part]
        return n

    for spec in INBOUND.values():
        if spec.indexed:
            continue
        n = node(spec.address)
        assert n["DESCRIPTION"].startswith(spec.doc)
        if not spec.args:
            assert n["TYPE"] == "N" and n["ACCESS"] == 2
            continue
        count = z_dim if spec.name == "z" else (1 if spec.variadic else len(spec.args))
        args = [spec.args[0]] * count if spec.variadic else list(spec.args)
        assert n["TYPE"] == "".join(a.type for a in args), spec.address
        assert n["RANGE"] == [expected_range(a) for a in args], spec.address
        if spec.kind == "param" and not spec.variadic:
            assert n["ACCESS"] == 3 and n["VALUE"] == [state[spec.name]], spec.address
        else:
            assert n["ACCESS"] == 2 and "VALUE" not in n, spec.address
    assert node("/ganplug/seed")["VALUE"] == [77] and node("/ganplug/walk")["VALUE"] == ["noise"]
    for spec in OUTBOUND.values():
        n = node(spec.address)
        if spec.address in INBOUND:  # both ways: described as the command, naming the reply
            assert f"{spec.address} {spec.types}" in n["DESCRIPTION"]
        else:
            assert n["ACCESS"] == 1 and n["TYPE"] == spec.types
    # /ganplug/z/N: one method per latent component, and no more
    z = node("/ganplug/z")["CONTENTS"]
    assert sorted(z, key=int) == [str(i) for i in range(z_dim)]
    assert all(z[k]["TYPE"] == "f" and z[k]["ACCESS"] == 2 for k in z)
    # Nothing described that the table does not have.
    for path in leaves:
        if path not in OUTBOUND:
            lookup(path)
    assert {s.address for s in INBOUND.values() if not s.indexed} | set(OUTBOUND) <= set(leaves)


def test_oscquery_values_are_live_and_attributes_come_alone(waves, tmp_path):
    with web_server(waves, tmp_path) as (server, web, rx):
        assert get_json(web, "/ganplug/speed?VALUE") == {"VALUE": [PARAMS["speed"].default]}
        ctl = Controller(server)
        ctl.send("/ganplug/speed", "f", 2.5)
        ctl.send("/ganplug/walk", "s", "loop")
        assert wait_until(lambda: get_json(web, "/ganplug/speed?VALUE") == {"VALUE": [2.5]}, 5)
        assert get_json(web, "/ganplug/walk")["VALUE"] == ["loop"]
        assert get_json(web, "/ganplug/walk?RANGE") == {"RANGE": [{"VALS": ["hold", "slerp", "loop", "noise", "random"]}]}
        assert get_json(web, "/ganplug/preset/")["CONTENTS"].keys() == {"save", "load"}
        assert get(web, "/ganplug/snapshot?VALUE")[0] == 204  # a command has no value
        assert get(web, "/ganplug/speed?NONSENSE")[0] == 400
        assert get(web, "/ganplug/nothing")[0] == 404
        assert get(web, "/ganplug/z/999")[0] == 404
        info = get_json(web, "/?HOST_INFO")
        assert info["OSC_PORT"] == server.listener.address[1] and info["OSC_IP"] == "127.0.0.1"
        assert info["OSC_TRANSPORT"] == "UDP" and isinstance(info["NAME"], str)
        assert info["EXTENSIONS"]["VALUE"] is True and all(isinstance(v, bool) for v in info["EXTENSIONS"].values())
        assert "UDP and TCP" in get_json(web, "/?DESCRIPTION")["DESCRIPTION"]
        # A client that follows the description is understood: N to a command, z_dim floats to /ganplug/z.
        ctl.send("/ganplug/state", "N", None)
        assert any(a == "/ganplug/state" for a, _ in ctl.replies(3.0, until="/ganplug/state"))
        z_type = get_json(web, "/ganplug/z?TYPE")["TYPE"]
        ctl.send("/ganplug/z", z_type, *[0.5] * len(z_type))
        assert wait_until(lambda: server.show.capture().get("latent") == [0.5] * waves.info.z_dim, 5)
        ctl.close()


# --------------------------------------------------------------------------- the page's WebSocket

def recv_until(ws, predicate, seconds: float = 5.0):
    """Messages until one satisfies ``predicate``; returns it (text as parsed JSON)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            m = ws.recv(timeout=max(end - time.monotonic(), 0.01))
        except TimeoutError:
            break
        m = m if isinstance(m, bytes) else json.loads(m)
        if predicate(m):
            return m
    raise AssertionError("no such message")


def frame_id(m: bytes) -> int:
    return int.from_bytes(m[:4], "big")


def test_a_page_that_does_not_acknowledge_gets_no_more_frames_and_slows_nobody(waves, tmp_path):
    with web_server(waves, tmp_path) as (server, web, rx):
        with connect(ws_url(web)) as ws:
            hello = json.loads(ws.recv(timeout=5))
            assert hello["type"] == "hello" and {t["address"] for t in hello["table"]} == set(INBOUND)
            first = recv_until(ws, lambda m: isinstance(m, bytes))
            res = waves.info.resolution
            assert int.from_bytes(first[4:6], "big") == res and int.from_bytes(first[6:8], "big") == res
            assert first[12:14] == b"\xff\xd8"  # a JPEG follows the 12-byte header
            # Without an acknowledgement the OSC destination gets 20 more frames, the page none.
            assert len(collect(rx, seconds=30, count=20)) == 20
            # Read up to a state pushed after those frames: a frame sent meanwhile would come before it.
            seen = []
            while not (seen and isinstance(seen[-1], dict) and seen[-1]["type"] == "state" and seen[-1]["frame"] >= frame_id(first) + 20):
                m = ws.recv(timeout=10)
                seen.append(m if isinstance(m, bytes) else json.loads(m))
            assert not any(isinstance(m, bytes) for m in seen)  # the page still hears the state, and nothing else
            assert web.frames_encoded == 1  # nothing is encoded for a page that is not ready
            # The acknowledgement brings the newest frame, not the next one.
            ws.send(json.dumps({"type": "ack", "frame": frame_id(first)}))
            second = recv_until(ws, lambda m: isinstance(m, bytes))
            assert frame_id(second) > frame_id(first) + 15
            assert web.frames_encoded == 2


def test_page_messages_steer_the_server_and_errors_come_back(waves, tmp_path):
    with web_server(waves, tmp_path, initial=(("walk", "hold"),)) as (server, web, rx):
        with connect(ws_url(web)) as ws:
            ws.recv(timeout=5)
            ws.send(json.dumps({"type": "osc", "address": "/ganplug/seed", "args": [4242]}))
            assert wait_until(lambda: server.show.walker.params.seed == 4242, 5)
            state = recv_until(ws, lambda m: isinstance(m, dict) and m["type"] == "state" and m["state"]["seed"] == 4242)
            assert state["state"]["walk"] == "hold"
            ws.send(json.dumps({"type": "osc", "address": "/ganplug/speed", "args": [99]}))
            reply = recv_until(ws, lambda m: isinstance(m, dict) and m["type"] == "reply")
            assert reply["messages"][0]["address"] == "/ganplug/error" and "clamped to 10" in reply["messages"][0]["args"][0]
            assert wait_until(lambda: server.show.walker.speed == 10.0, 5)
            ws.send(json.dumps({"type": "osc", "address": "/ganplug/walk", "args": ["sideways"]}))
            reply = recv_until(ws, lambda m: isinstance(m, dict) and m["type"] == "reply")
            assert "must be one of" in reply["messages"][0]["args"][0]
            ws.send(json.dumps({"type": "osc", "address": "/ganplug/ping", "args": [31337]}))
            reply = recv_until(ws, lambda m: isinstance(m, dict) and m["type"] == "reply")
            assert reply["messages"] == [{"address": "/ganplug/pong", "args": [31337]}]
            ws.send(message("/ganplug/truncation", "f", 0.5))  # a binary message is an OSC packet
            assert wait_until(lambda: server.show.truncation == 0.5, 5)
            ws.send("{not json")
            reply = recv_until(ws, lambda m: isinstance(m, dict) and m["type"] == "reply")
            assert "JSON" in reply["messages"][0]["args"][0]
        assert server.show.walker.params.mode == "hold"  # the rejected walk changed nothing


def test_a_looping_bundle_over_the_websocket_is_answered_and_the_page_goes_on(waves, tmp_path):
    import struct

    looping = b"#bundle\0" + struct.pack(">Qi", 1, -4)  # hung the web thread before the bounded parser
    with web_server(waves, tmp_path) as (server, web, rx):
        with connect(ws_url(web)) as ws:
            ws.recv(timeout=5)
            ws.send(looping)
            reply = recv_until(ws, lambda m: isinstance(m, dict) and m["type"] == "reply")
            assert "malformed OSC packet" in reply["messages"][0]["args"][0]
            ws.send(json.dumps({"type": "osc", "address": "/ganplug/ping", "args": [5]}))
            reply = recv_until(ws, lambda m: isinstance(m, dict) and m["type"] == "reply")
            assert reply["messages"] == [{"address": "/ganplug/pong", "args": [5]}]


def test_token_guards_the_page_and_its_websocket_not_oscquery(waves, tmp_path):
    with web_server(waves, tmp_path, token="s3cret-T0ken") as (server, web, rx):
        assert get(web, "/ui/")[0] == 403
        assert get(web, "/ui/?token=wrong")[0] == 403
        status, headers, body = get(web, "/ui/?token=s3cret-T0ken")
        assert status == 200 and b'<canvas id="view"' in body and headers["Content-Type"].startswith("text/html")
        assert get(web, "/ui/app.js")[0] == 200  # public code
        assert get(web, "/")[0] == 200 and get(web, "/?HOST_INFO")[0] == 200  # OSCQuery describes, it does not steer
        for bad in (None, "wrong"):
            with pytest.raises(InvalidStatus) as e:
                connect(ws_url(web, bad)).close()
            assert e.value.response.status_code == 403
        with connect(ws_url(web, "s3cret-T0ken"), origin="http://elsewhere.example") as ws:
            assert json.loads(ws.recv(timeout=5))["type"] == "hello"


def test_without_a_token_other_sites_cannot_drive_the_show(waves, tmp_path):
    with web_server(waves, tmp_path) as (server, web, rx):
        with pytest.raises(InvalidStatus) as e:
            connect(ws_url(web), origin="http://elsewhere.example").close()
        assert e.value.response.status_code == 403
        # DNS rebinding: a foreign name for this machine, with a matching origin
        port = web.address[1]
        with pytest.raises(InvalidStatus):
            connect(ws_url(web), origin=f"http://rebind.example:{port}",
                    additional_headers={"Host": f"rebind.example:{port}"}).close()
        # a sandboxed iframe on any site (or a file) sends Origin: null; another port is another origin
        for origin in ("null", "http://127.0.0.1:8000", f"http://localhost:{port}"):
            with pytest.raises(InvalidStatus) as e:
                connect(ws_url(web), origin=origin).close()
            assert e.value.response.status_code == 403, origin
        with connect(ws_url(web), origin=f"http://127.0.0.1:{port}") as ws:  # the page's own origin
            assert json.loads(ws.recv(timeout=5))["type"] == "hello"
        assert get(web, "/ui/")[0] == 200


def test_web_origin_lets_a_named_page_in_and_no_other(waves, tmp_path):
    with web_server(waves, tmp_path, origins=("http://127.0.0.1:8000",)) as (server, web, rx):
        with connect(ws_url(web), origin="http://127.0.0.1:8000") as ws:  # a sketch served on this machine
            assert json.loads(ws.recv(timeout=5))["type"] == "hello"
        for origin in ("null", "http://127.0.0.1:8001", "https://127.0.0.1:8000"):
            with pytest.raises(InvalidStatus):
                connect(ws_url(web), origin=origin).close()
    for bad in ("null", "http://127.0.0.1:8000/", "127.0.0.1:8000", "HTTP://X"):
        assert_one_line_error(run_cli("serve", "nothing.onnx", "--listen", f"127.0.0.1:{free_port()}", "--send", f"127.0.0.1:{free_port()}",
                                      "--web", f"127.0.0.1:{free_port()}", "--web-origin", bad), "--web-origin")


def test_allow_applies_to_the_web_port(waves, tmp_path):
    with web_server(waves, tmp_path, allow=("10.9.8.0/24",)) as (server, web, rx):
        assert get(web, "/ui/")[0] == 403 and get(web, "/")[0] == 403
        with pytest.raises(InvalidStatus):
            connect(ws_url(web)).close()


# --------------------------------------------------------------------------- the command line

def test_serve_web_from_the_command_line(waves_model):
    web_port = free_port()
    proc = start_cli("serve", str(waves_model), *WAVES, "--listen", f"127.0.0.1:{free_port()}", "--send", f"127.0.0.1:{free_port()}",
                     "--web", f"127.0.0.1:{web_port}", "--web-token", "abc")
    try:
        line = wait_for_line(proc, "control page at")
        assert f"http://127.0.0.1:{web_port}/ui/?token=abc" in line
        with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/?HOST_INFO", timeout=10) as r:
            assert json.loads(r.read())["OSC_TRANSPORT"] == "UDP"
        # The port is taken now: a second server says so in one line.
        r2 = run_cli("serve", str(waves_model), *WAVES, "--listen", f"127.0.0.1:{free_port()}", "--send", f"127.0.0.1:{free_port()}",
                     "--web", f"127.0.0.1:{web_port}", "--seconds", "1")
        assert_one_line_error(r2, f"127.0.0.1:{web_port}", "web")
    finally:
        proc.terminate()
        proc.wait(10)
    ports = ("--listen", f"127.0.0.1:{free_port()}", "--send", f"127.0.0.1:{free_port()}")  # never the default ports
    assert_one_line_error(run_cli("serve", str(waves_model), *ports, "--web-token", "abc", "--seconds", "1"), "--web")
    assert_one_line_error(run_cli("serve", str(waves_model), *ports, "--web", f"127.0.0.1:{free_port()}", "--web-token", "a b",
                                  "--seconds", "1"), "--web-token")


def test_web_serving_imports_no_torch_and_zeroconf_is_optional(waves_model):
    port = free_port()
    code = (
        "import sys, ganplug.cli as c\n"
        f"rc = c.main(['serve', {str(waves_model)!r}, '--output-range', 'signed', '--seconds', '0.5', '--listen', '127.0.0.1:{free_port()}',"
        f" '--send', '127.0.0.1:{free_port()}', '--web', '127.0.0.1:{port}'])\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'onnx', 'onnxscript'))\n"
        "print('IMPORTED', bad)\n"
        "sys.modules['zeroconf'] = None  # as if the optional package were not installed\n"
        f"rc2 = c.main(['serve', {str(waves_model)!r}, '--listen', '127.0.0.1:{free_port()}', '--send', '127.0.0.1:{free_port()}',"
        f" '--web', '127.0.0.1:{port}', '--zeroconf', '--seconds', '0.5'])\n"
        "print('RC', rc, rc2)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert "IMPORTED []" in r.stdout and "RC 0 2" in r.stdout, r.stdout + r.stderr
    lines = [ln for ln in r.stderr.splitlines() if "error:" in ln]
    assert lines == ["ganplug serve: error: --zeroconf needs the zeroconf package: pip install 'ganplug[zeroconf]'"]


BROWSE = """
import sys, time
from zeroconf import IPVersion, ServiceBrowser, Zeroconf
zc = Zeroconf(interfaces=["127.0.0.1"], ip_version=IPVersion.V4Only)
found = []
class L:
    def add_service(self, zc, t, name): found.append(name)
    def update_service(self, zc, t, name): pass
    def remove_service(self, zc, t, name): pass
ServiceBrowser(zc, "_oscjson._tcp.local.", L())
end = time.monotonic() + 15
while time.monotonic() < end and not found:
    time.sleep(0.1)
for name in found:
    info = zc.get_service_info("_oscjson._tcp.local.", name, 3000)
    print(name, info.port if info else None, info.parsed_addresses() if info else None, flush=True)
zc.close()
"""


def test_zeroconf_advertises_oscquery_to_a_real_browser_on_loopback(waves, tmp_path):
    pytest.importorskip("zeroconf")
    # Advertising follows the web host: 127.0.0.1 keeps every mDNS packet on loopback.
    with web_server(waves, tmp_path, zeroconf=True) as (server, web, rx):
        r = subprocess.run([sys.executable, "-c", BROWSE], capture_output=True, text=True, timeout=60)
    port = web.address[1]
    assert re.search(rf"ganplug .*\._oscjson\._tcp\.local\. {port} \['127\.0\.0\.1'\]", r.stdout), r.stdout + r.stderr


# --------------------------------------------------------------------------- in a real browser

def need_browser() -> tuple[str, str]:
    """(node, chromium) for the browser tests; skipped when absent, unless ./dev test installed them."""
    chromium = need("chromium")
    node = need("node")
    if not (NODE_DIR / "node_modules" / "playwright-core").is_dir() or not (NODE_DIR / "node_modules" / "p5").is_dir():
        if os.environ.get("GANPLUG_REQUIRE_PEERS"):
            pytest.fail("npm packages playwright-core and p5 missing in tests/node (./dev test installs them)")
        pytest.skip("npm packages playwright-core/p5 not installed")
    return node, chromium


def browse(scenario: str, **args) -> dict:
    node, chromium = need_browser()
    r = subprocess.run([node, str(NODE_DIR / "browser.js"), scenario, json.dumps({"chromium": chromium, **args})],
                       capture_output=True, text=True, timeout=120, cwd=NODE_DIR)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    assert lines, r.stdout + r.stderr
    out = json.loads(lines[-1])
    assert r.returncode == 0 and "failure" not in out, out.get("failure", r.stderr)
    return out


def keep_artifact(path: Path) -> Path:
    """Copy a screenshot to tests/artifacts/ (gitignored), where it outlives pytest's temp folders."""
    ARTIFACTS.mkdir(exist_ok=True)
    return Path(shutil.copy(path, ARTIFACTS / path.name))


def test_page_in_chromium_on_a_phone_shows_frames_and_its_slider_steers_the_state(waves, tmp_path):
    need_browser()
    states: list[tuple] = []
    shot = tmp_path / "web-ui-phone.png"
    with web_server(waves, tmp_path, token="tok") as (server, web, rx):
        rx.on_message = lambda address, args: states.append(args) if address == "/ganplug/state" else None
        out = browse("page", url=f"http://127.0.0.1:{web.address[1]}/ui/?token=tok#table", viewport={"width": 390, "height": 844},
                     mobile=True, slider="/ganplug/truncation", fraction=0.25, screenshot=str(shot))
        # what an OSC receiver sees: /ganplug/state iisfffiff, truncation is the fifth value
        want = out["slider_value"]

        def seen() -> bool:
            rx.poll(0.1)  # reads what has arrived; state messages go to on_message
            return any(abs(s[4] - want) < 1e-3 for s in states)
        assert wait_until(seen, 10), states[-3:]
    assert out["status"] == 200
    assert sorted(out["addresses"]) == sorted(INBOUND)  # a control for every inbound address in the table
    assert out["frames"] > out["frames_before"] >= 3 and out["canvas"] == [waves.info.resolution] * 2
    assert out["overflow"] <= 0, "the page is wider than a phone's screen"
    assert 0.3 < want < 0.7 and states[0][4] == pytest.approx(1.0)  # a quarter along 0…2, from the default 1
    assert out["errors"] == [] and out["console_errors"] == []
    kept = keep_artifact(shot)
    print(f"screenshot: {shot} (kept as {kept})")


def test_chromium_is_refused_with_a_bad_token(waves, tmp_path):
    with web_server(waves, tmp_path, token="right") as (server, web, rx):
        base = f"http://127.0.0.1:{web.address[1]}"
        out = browse("status", url=f"{base}/ui/?token=wrong")
        assert out["status"] == 403 and "token" in out["body"]
        # From a page of this server, its WebSocket opens with the token and not without.
        ws = f"ws://127.0.0.1:{web.address[1]}/ui/ws?token="
        assert browse("status", url=f"{base}/ui/app.css", websocket=ws + "wrong")["websocket"] == "refused"
        assert browse("status", url=f"{base}/ui/app.css", websocket=ws + "right")["websocket"] == "open"


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def test_p5_sketch_draws_frames_and_steers_the_walk_with_the_mouse(waves, tmp_path):
    need_browser()
    files = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(ROOT / "examples" / "browser")))
    threading.Thread(target=files.serve_forever, daemon=True).start()
    shot = tmp_path / "p5-sketch.png"
    try:
        with web_server(waves, tmp_path, origins=(f"http://127.0.0.1:{files.server_address[1]}",)) as (server, web, rx):
            out = browse("sketch", url=f"http://127.0.0.1:{files.server_address[1]}/index.html?server=127.0.0.1:{web.address[1]}",
                         x=0.9, y=0.25, screenshot=str(shot))
            sent = out["sketch"]
            assert wait_until(lambda: server.show.walker.speed == pytest.approx(sent["speed"]) and
                              server.show.truncation == pytest.approx(sent["truncation"]), 5)
    finally:
        files.shutdown()
        files.server_close()
    assert out["sketch"]["frames"] >= 3 and out["console_errors"] == []
    assert sent["speed"] == pytest.approx(1.6, abs=0.05) and sent["truncation"] == pytest.approx(1.175, abs=0.05)
    keep_artifact(shot)
