"""Inbound OSC control over UDP and TCP.

One thread reads both sockets, parses packets and queues :class:`Event`s; it
never touches the performance state. The render loop drains the queue between
frames. Malformed packets are answered with ``/ganplug/error`` from here. Bundle
time tags are ignored: everything applies at the next frame (python-osc's
dispatcher would sleep until the tag, which a show loop cannot afford).
"""

from __future__ import annotations

import ipaddress
import logging
import queue
import select
import socket
import threading
import time
from dataclasses import dataclass
from typing import Callable

from ..errors import AddressInUseError
from .receive import _raise_rcvbuf, bind_tcp, messages_of
from .send import message
from .stream import framed, read_packets

log = logging.getLogger("ganplug.control")

MAX_TCP_PACKET = 1 << 20
MAX_TCP_CLIENTS = 32
QUEUE_SIZE = 4096


@dataclass(frozen=True)
class Event:
    address: str
    args: tuple
    source: str
    reply: Callable[[bytes], None]


class RateLimitedLog:
    """The same line at most once per ``interval`` seconds, with a count of what was held back."""

    def __init__(self, logger: logging.Logger, interval: float = 5.0):
        self.logger, self.interval = logger, interval
        self._last: dict[str, tuple[float, int]] = {}

    def __call__(self, key: str, text: str) -> None:
        now = time.monotonic()
        if len(self._last) > 1000:  # endless distinct garbage must not grow memory
            self._last.clear()
        last, held = self._last.get(key, (-1e9, 0))
        if now - last >= self.interval:
            self.logger.warning(text + (f" (and {held} more like it)" if held else ""))
            self._last[key] = (now, 0)
        else:
            self._last[key] = (last, held + 1)


class ControlListener:
    """Listens on UDP and TCP ``host:port`` (same number) and queues control events."""

    def __init__(self, host: str, port: int, allow: list | None = None, tcp: bool = True, queue_size: int = QUEUE_SIZE):
        self.allow = allow or []
        self.events: queue.Queue[Event] = queue.Queue(queue_size)
        self.dropped = 0
        self.malformed = 0
        self.refused = 0
        self.warn = RateLimitedLog(log)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.udp = socket.socket(family, socket.SOCK_DGRAM)
        _raise_rcvbuf(self.udp, 4 * 1024 * 1024)
        try:
            self.udp.bind((host, port))
        except OSError as e:
            self.udp.close()
            raise AddressInUseError(f"cannot listen for control on UDP {host}:{port}: {e.strerror or e}") from None
        self.address = self.udp.getsockname()[:2]
        self.tcp: socket.socket | None = None
        if tcp:
            try:
                self.tcp = bind_tcp(host, self.address[1], 8, "listen for control on TCP")
            except AddressInUseError:
                self.udp.close()
                raise
        self._clients: dict[socket.socket, tuple[str, bytearray]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="ganplug-control", daemon=True)

    def start(self) -> "ControlListener":
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2) if self._thread.is_alive() else None
        for c in list(self._clients):
            c.close()
        self.udp.close()
        if self.tcp is not None:
            self.tcp.close()

    def drain(self, limit: int = 1000) -> list[Event]:
        """Up to ``limit`` queued events, oldest first."""
        out = []
        try:
            while len(out) < limit:
                out.append(self.events.get_nowait())
        except queue.Empty:
            pass
        return out

    # ------------------------------------------------------------------ reader thread

    def allowed(self, ip: str) -> bool:
        """Whether ``ip`` may steer the server (``--allow``; everyone when it is empty)."""
        if not self.allow:
            return True
        try:
            a = ipaddress.ip_address(ip.split("%")[0])
        except ValueError:
            return False
        if getattr(a, "ipv4_mapped", None):
            a = a.ipv4_mapped
        return any(a in n for n in self.allow)

    def _udp_reply(self, addr: tuple) -> Callable[[bytes], None]:
        def reply(pkt: bytes) -> None:
            try:
                self.udp.sendto(pkt, addr)
            except OSError:
                pass  # the sender may not listen; a reply is a courtesy
        return reply

    def _tcp_reply(self, conn: socket.socket) -> Callable[[bytes], None]:
        def reply(pkt: bytes) -> None:
            try:
                conn.send(framed(pkt), socket.MSG_DONTWAIT)
            except OSError:
                pass
        return reply

    def _packet(self, data: bytes, source: str, reply: Callable[[bytes], None]) -> None:
        try:
            msgs = messages_of(data)
        except ValueError:
            self.malformed += 1
            self.warn("malformed", f"malformed OSC packet ({len(data)} bytes) from {source}")
            reply(message("/ganplug/error", "s", f"malformed OSC packet ({len(data)} bytes)"))
            return
        for address, args in msgs:
            try:
                self.events.put_nowait(Event(address, args, source, reply))
            except queue.Full:
                self.dropped += 1
                self.warn("flood", f"control queue full: dropping messages from {source}")

    def _loop(self) -> None:
        self.udp.setblocking(False)
        while not self._stop.is_set():
            socks = [self.udp] + ([self.tcp] if self.tcp else []) + list(self._clients)
            try:
                readable, _, _ = select.select(socks, [], [], 0.2)
            except (OSError, ValueError):
                readable = []
            for s in readable:
                try:
                    if s is self.udp:
                        self._read_udp()
                    elif s is self.tcp:
                        self._accept()
                    else:
                        self._read_tcp(s)
                except Exception as e:  # the reader must survive anything a peer sends
                    self.warn("reader", f"control reader: {type(e).__name__}: {e}")

    def _read_udp(self) -> None:
        for _ in range(256):
            try:
                data, addr = self.udp.recvfrom(65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return  # e.g. ICMP errors reported on this socket
            if not self.allowed(addr[0]):
                self.refused += 1
                self.warn("refused:" + addr[0], f"ignoring control from {addr[0]} (not in --allow)")
                continue
            self._packet(data, f"udp://{addr[0]}:{addr[1]}", self._udp_reply(addr))

    def _accept(self) -> None:
        conn, addr = self.tcp.accept()
        if not self.allowed(addr[0]) or len(self._clients) >= MAX_TCP_CLIENTS:
            self.refused += 1
            self.warn("refused:" + addr[0], f"refusing TCP control from {addr[0]}")
            conn.close()
            return
        conn.setblocking(False)
        self._clients[conn] = (f"tcp://{addr[0]}:{addr[1]}", bytearray())

    def _read_tcp(self, conn: socket.socket) -> None:
        source, buf = self._clients[conn]
        try:
            packets = read_packets(conn, buf, MAX_TCP_PACKET)
        except ValueError as e:
            self.malformed += 1
            self.warn("tcp-frame", f"{source}: {e}; closing")
            packets = None
        if packets is None:
            conn.close()
            del self._clients[conn]
            return
        for pkt in packets:
            self._packet(pkt, source, self._tcp_reply(conn))
