"""Helpers for the tests of examples/: load an example file as a module, capture what a server sends."""

from __future__ import annotations

import importlib.util
import select
import socket
import time
from pathlib import Path
from types import ModuleType

from pythonosc.osc_message import OscMessage

from conftest import ROOT

EXAMPLES = ROOT / "examples"


def load_example(relative: str, name: str | None = None) -> ModuleType:
    """Import ``examples/RELATIVE`` as a module without putting examples/ on sys.path."""
    path = EXAMPLES / relative
    spec = importlib.util.spec_from_file_location(name or path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def udp_socket() -> socket.socket:
    """A UDP socket on 127.0.0.1 with the operating system's default receive buffer, as an app has."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    return sock


def capture(sock: socket.socket, frames: int, seconds: float = 30.0) -> list[bytes]:
    """Raw datagrams until ``frames`` distinct frame ids have been seen complete (or ``seconds`` pass)."""
    out: list[bytes] = []
    chunks: dict[int, set[int]] = {}
    counts: dict[int, int] = {}
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        r, _, _ = select.select([sock], [], [], 0.1)
        if not r:
            continue
        data = sock.recv(65536)
        out.append(data)
        msg = OscMessage(data)
        if msg.address == "/ganplug/frame":
            fid, idx, cnt = msg.params[:3]
            chunks.setdefault(fid, set()).add(idx)
            counts[fid] = cnt
            if sum(len(chunks[f]) == counts[f] for f in chunks) >= frames:
                break
    return out


def as_td_delivers(datagram: bytes) -> tuple[str, list]:
    """(address, args) of one datagram, the way TouchDesigner's OSC In DAT hands them to
    onReceiveOSC: ints as int, floats as float, strings as str, blobs as bytes."""
    msg = OscMessage(datagram)
    return msg.address, list(msg.params)


def sent_frames(datagrams: list[bytes]) -> dict[int, bytes]:
    """Frame id -> its pixels, straight from the chunks the server sent (every chunk present)."""
    parts: dict[int, dict[int, bytes]] = {}
    counts: dict[int, int] = {}
    for d in datagrams:
        address, args = as_td_delivers(d)
        if address == "/ganplug/frame":
            parts.setdefault(args[0], {})[args[1]] = args[6]
            counts[args[0]] = args[2]
    return {f: b"".join(p[i] for i in range(counts[f])) for f, p in parts.items() if len(p) == counts[f]}


def example_path(relative: str) -> Path:
    return EXAMPLES / relative
