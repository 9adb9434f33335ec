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
import selectors
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
TCP_IDLE_TIMEOUT = 30.0  # seconds a TCP control client may stay silent before it is closed
QUEUE_SIZE = 4096


@dataclass
class _Client:
    source: str
    buf: bytearray
    last: float  # time.monotonic() of its last packet (or of its connection)


@dataclass(frozen=True)
class Event:
    address: str
    args: tuple
    source: str
    reply: Callable[[bytes], None]


class RateLimitedLog:
    """Warnings summarised by kind: one line per ``key`` (a kind, never the peer's text) every
    ``interval`` seconds with a count of what was held back, and at most ``max_kinds`` kinds per
    interval; the rest are counted in one summary line. A peer cannot make the log grow faster
    than about ``max_kinds + 1`` lines per interval, however varied what it sends."""

    def __init__(self, logger: logging.Logger, interval: float = 5.0, max_kinds: int = 10):
        self.logger, self.interval, self.max_kinds = logger, interval, max_kinds
        self._last: dict[str, tuple[float, int]] = {}
        self._window, self._kinds, self._overflow = -1e9, 0, 0

    def __call__(self, key: str, text: str) -> None:
        now = time.monotonic()
        if now - self._window >= self.interval:
            if self._overflow:
                self.logger.warning(f"{self._overflow} more warning(s) of other kinds held back")
            self._window, self._kinds, self._overflow = now, 0, 0
        if len(self._last) > 1000:  # endless distinct keys must not grow memory
            self._last.clear()
        last, held = self._last.get(key, (-1e9, 0))
        if now - last < self.interval:
            self._last[key] = (last, held + 1)
        elif self._kinds >= self.max_kinds:
            self._overflow += 1
        else:
            self._kinds += 1
            self.logger.warning(text + (f" (and {held} more like it)" if held else ""))
            self._last[key] = (now, 0)


class ControlListener:
    """Listens on UDP and TCP ``host:port`` (same number) and queues control events.

    At most ``max_clients`` TCP clients at once; one silent for ``idle_timeout`` seconds is
    closed, and when all places are taken the longest-silent client makes room for a new one.
    """

    def __init__(self, host: str, port: int, allow: list | None = None, tcp: bool = True, queue_size: int = QUEUE_SIZE,
                 idle_timeout: float = TCP_IDLE_TIMEOUT, max_clients: int = MAX_TCP_CLIENTS):
        self.allow = allow or []
        self.idle_timeout, self.max_clients = idle_timeout, max_clients
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
                self.tcp = bind_tcp(host, self.address[1], max(8, max_clients), "listen for control on TCP")
            except AddressInUseError:
                self.udp.close()
                raise
        self._clients: dict[socket.socket, _Client] = {}
        # selectors (epoll/poll), not select.select: a descriptor above 1023 must not matter
        self._selector = selectors.DefaultSelector()
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
        self._selector.close()
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
        self._selector.register(self.udp, selectors.EVENT_READ)
        if self.tcp is not None:
            self.tcp.setblocking(False)
            self._selector.register(self.tcp, selectors.EVENT_READ)
        while not self._stop.is_set():
            try:
                ready = self._selector.select(0.2)
            except (OSError, ValueError) as e:  # should not happen; never spin on it silently
                self.warn("select", f"control reader: {type(e).__name__}: {e}")
                time.sleep(0.2)
                ready = []
            for key, _ in ready:
                s = key.fileobj
                try:
                    if s is self.udp:
                        self._read_udp()
                    elif s is self.tcp:
                        self._accept()
                    elif s in self._clients:
                        self._read_tcp(s)
                except Exception as e:  # the reader must survive anything a peer sends
                    self.warn("reader", f"control reader: {type(e).__name__}: {e}")
            self._close_idle()

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
                self.warn("refused", f"ignoring control from {addr[0]} and other sources not in --allow")
                continue
            self._packet(data, f"udp://{addr[0]}:{addr[1]}", self._udp_reply(addr))

    def _accept(self) -> None:
        for _ in range(64):  # everyone waiting now, so a burst of connections is not held back
            try:
                conn, addr = self.tcp.accept()
            except (BlockingIOError, InterruptedError):
                return
            self._admit(conn, addr)

    def _admit(self, conn: socket.socket, addr: tuple) -> None:
        if not self.allowed(addr[0]):
            self.refused += 1
            self.warn("refused", f"refusing TCP control from {addr[0]} and other sources not in --allow")
            conn.close()
            return
        if len(self._clients) >= self.max_clients:
            idlest = min(self._clients, key=lambda c: self._clients[c].last)
            self.warn("tcp-full", f"{self.max_clients} TCP control clients: closing the longest silent "
                                  f"({self._clients[idlest].source}) to serve a new one")
            self._drop(idlest)
        conn.setblocking(False)
        self._clients[conn] = _Client(f"tcp://{addr[0]}:{addr[1]}", bytearray(), time.monotonic())
        self._selector.register(conn, selectors.EVENT_READ)

    def _drop(self, conn: socket.socket) -> None:
        del self._clients[conn]
        try:
            self._selector.unregister(conn)
        except (KeyError, ValueError):
            pass
        conn.close()

    def _close_idle(self) -> None:
        cutoff = time.monotonic() - self.idle_timeout
        for conn in [c for c, client in self._clients.items() if client.last < cutoff]:
            log.info("closing TCP control client %s: silent for %.0f s", self._clients[conn].source, self.idle_timeout)
            self._drop(conn)

    def _read_tcp(self, conn: socket.socket) -> None:
        client = self._clients[conn]
        try:
            packets = read_packets(conn, client.buf, MAX_TCP_PACKET)
        except ValueError as e:
            self.malformed += 1
            self.warn("tcp-frame", f"{client.source}: {e}; closing")
            packets = None
        if packets is None:
            self._drop(conn)
            return
        if packets:
            client.last = time.monotonic()
        for pkt in packets:
            self._packet(pkt, client.source, self._tcp_reply(conn))
