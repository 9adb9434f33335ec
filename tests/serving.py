"""Helpers for tests that run a real server on 127.0.0.1 and talk to it."""

from __future__ import annotations

import contextlib
import socket
import threading
import time

from conftest import free_port
from ganplug.osc.receive import FrameReceiver, messages_of
from ganplug.osc.send import message
from ganplug.runtime.server import ServeConfig, Server


@contextlib.contextmanager
def running_server(engine, tmp_path, receivers=1, **kw):
    """A Server in a background thread with ``receivers`` UDP frame receivers; yields (server, [receiver])."""
    rx = [FrameReceiver("127.0.0.1", 0, rcvbuf=0) for _ in range(receivers)]
    sends = tuple(f"127.0.0.1:{r.address[1]}" for r in rx) + tuple(kw.pop("extra_sends", ()))
    if "fps" in kw:
        kw["initial"] = tuple(kw.pop("initial", ())) + (("fps", kw.pop("fps")),)
    cfg = ServeConfig(sends=sends, listen=f"127.0.0.1:{kw.pop('port', free_port())}", snapshots=str(tmp_path / "snaps"),
                      presets=str(tmp_path / "presets"), status_every=0, **kw)
    server = Server(engine, cfg)
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    try:
        yield server, rx
    finally:
        server.stop()
        t.join(10)
        for r in rx:
            r.close()


class Controller:
    """A UDP control client that also reads the server's replies (/ganplug/error, /pong...)."""

    def __init__(self, server: Server):
        self.target = server.listener.address
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)

    def send(self, address: str, types: str = "", *args) -> None:
        self.sock.sendto(message(address, types, *args), self.target)

    def raw(self, data: bytes) -> None:
        self.sock.sendto(data, self.target)

    def replies(self, seconds: float = 1.0, until: str | None = None) -> list[tuple[str, tuple]]:
        out, end = [], time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            out += messages_of(data)
            if until and any(a == until for a, _ in out):
                break
        return out

    def close(self) -> None:
        self.sock.close()


def collect(rx: FrameReceiver, seconds: float = 1.0, count: int | None = None):
    return list(rx.frames(seconds=seconds, count=count))


def wait_until(predicate, seconds: float = 5.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return False
