"""OSCQuery's LISTEN extension, driven by a client written from the proposal's text: a plain
WebSocket (the ``websockets`` package) sending {"COMMAND": "LISTEN", "DATA": path} and reading
binary OSC messages with python-osc's parser — no ganplug code on the client side."""

from __future__ import annotations

import contextlib
import json
import time
import urllib.request

import pytest
from pythonosc.osc_message import OscMessage
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from ganplug.web import WebConfig, WebSurface
from serving import Controller, running_server


@contextlib.contextmanager
def oscquery_server(engine, tmp_path):
    with running_server(engine, tmp_path, fps=30.0) as (server, _):
        web = WebSurface(server, WebConfig(listen="127.0.0.1:0")).start()
        try:
            yield server, web
        finally:
            web.close()


def values(ws, seconds: float) -> list[tuple[str, list]]:
    """Every binary OSC message that arrives within ``seconds``, as (address, arguments)."""
    out, end = [], time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        try:
            data = ws.recv(timeout=left)
        except TimeoutError:
            break
        assert isinstance(data, bytes), data  # the proposal streams values as binary OSC packets
        m = OscMessage(data)
        out.append((m.address, list(m.params)))
    return out


def test_host_info_declares_listen(engine, tmp_path):
    with oscquery_server(engine, tmp_path) as (server, web):
        with urllib.request.urlopen(f"http://127.0.0.1:{web.address[1]}/?HOST_INFO", timeout=5) as r:
            assert json.loads(r.read())["EXTENSIONS"]["LISTEN"] is True


def test_listen_streams_changes_from_any_source_and_ignore_stops_them(engine, tmp_path):
    with oscquery_server(engine, tmp_path) as (server, web), connect(f"ws://127.0.0.1:{web.address[1]}/") as ws:
        ws.send(json.dumps({"COMMAND": "LISTEN", "DATA": "/ganplug/speed"}))
        ws.send(json.dumps({"COMMAND": "LISTEN", "DATA": "/ganplug/walk"}))
        ws.send(json.dumps({"COMMAND": "LISTEN", "DATA": "/ganplug/no/such/method"}))  # ignored
        first = values(ws, 1.0)
        assert sorted(first) == [("/ganplug/speed", [1.0]), ("/ganplug/walk", ["slerp"])]  # the current values, once
        ctl = Controller(server)
        ctl.send("/ganplug/speed", "f", 2.5)
        ctl.send("/ganplug/walk", "s", "loop")
        ctl.send("/ganplug/seed", "i", 7)  # not listened to
        changed = values(ws, 1.0)
        assert sorted(changed) == [("/ganplug/speed", [2.5]), ("/ganplug/walk", ["loop"])]
        ws.send(json.dumps({"COMMAND": "IGNORE", "DATA": "/ganplug/speed"}))
        time.sleep(0.2)
        ctl.send("/ganplug/speed", "f", -1.0)
        ctl.send("/ganplug/walk", "s", "noise")
        assert values(ws, 1.0) == [("/ganplug/walk", ["noise"])]
        assert server.show.walker.speed == -1.0  # the change happened; only the stream stopped
        ctl.close()


def test_listen_refuses_foreign_browser_pages(engine, tmp_path):
    with oscquery_server(engine, tmp_path) as (server, web):
        for origin in ("null", "http://elsewhere.example"):
            with pytest.raises(InvalidStatus) as e:
                connect(f"ws://127.0.0.1:{web.address[1]}/", origin=origin).close()
            assert e.value.response.status_code == 403
