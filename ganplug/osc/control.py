"""Inbound OSC control over UDP and TCP.

One thread reads both sockets, parses packets and puts each message into the show's
:class:`~ganplug.show.inbox.Inbox`; it never touches the performance state. The render
loop takes from the inbox between frames. Malformed packets are answered with the table's
error message from here. Bundle
time tags are ignored: everything applies at the next frame (python-osc's
dispatcher would sleep until the tag, which a show loop cannot afford).
"""

from __future__ import annotations

import logging
import selectors
import socket
import threading
import time
from dataclasses import dataclass
from typing import Callable

from ..logs import LogThrottle
from ..net import AllowList, bind_tcp, bind_udp
from ..show.inbox import Event, Inbox
from ..show.reply import error_packet
from .receive import messages_of
from .stream import framed, read_packets

log = logging.getLogger("ganplug.control")

MAX_TCP_PACKET = 1 << 20
MAX_TCP_CLIENTS = 32
TCP_IDLE_TIMEOUT = 30.0  # seconds a TCP control client may stay silent before it is closed
RCVBUF_BYTES = 4 * 1024 * 1024  # the server's own control socket: a burst of messages waits here, not lost


@dataclass
class _Client:
    source: str
    buf: bytearray
    last: float  # time.monotonic() of its last packet (or of its connection)


class ControlListener:
    """Listens on UDP and TCP ``host:port`` (same number) and queues control events.

    At most ``max_clients`` TCP clients at once; one silent for ``idle_timeout`` seconds is
    closed, and when all places are taken the longest-silent client makes room for a new one.
    """

    def __init__(self, host: str, port: int, inbox: Inbox, access: AllowList = AllowList(), tcp: bool = True,
                 idle_timeout: float = TCP_IDLE_TIMEOUT, max_clients: int = MAX_TCP_CLIENTS):
        self.inbox, self.access = inbox, access
        self.idle_timeout, self.max_clients = idle_timeout, max_clients
        self.malformed = 0
        self.refused = 0
        self.warn = LogThrottle(log)
        self.udp = bind_udp(host, port, RCVBUF_BYTES, "listen for control on UDP")
        self.address = self.udp.getsockname()[:2]
        self.tcp: socket.socket | None = None
        if tcp:
            try:
                self.tcp = bind_tcp(host, self.address[1], max(8, max_clients), "listen for control on TCP")
            except BaseException:
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

    # ------------------------------------------------------------------ reader thread

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
            self.warn(f"malformed OSC packet ({len(data)} bytes) from {source}", key="malformed")
            reply(error_packet(f"malformed OSC packet ({len(data)} bytes)"))
            return
        for address, args in msgs:
            self.inbox.put(Event(address, args, source, reply))

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
                self.warn(f"control reader: {type(e).__name__}: {e}", key="select")
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
                    self.warn(f"control reader: {type(e).__name__}: {e}", key="reader")
            self._close_idle()

    def _read_udp(self) -> None:
        for _ in range(256):
            try:
                data, addr = self.udp.recvfrom(65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return  # e.g. ICMP errors reported on this socket
            if not self.access.allowed(addr[0]):
                self.refused += 1
                self.warn(f"ignoring control from {addr[0]} and other sources not in --allow", key="refused")
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
        if not self.access.allowed(addr[0]):
            self.refused += 1
            self.warn(f"refusing TCP control from {addr[0]} and other sources not in --allow", key="refused")
            conn.close()
            return
        if len(self._clients) >= self.max_clients:
            idlest = min(self._clients, key=lambda c: self._clients[c].last)
            self.warn(f"{self.max_clients} TCP control clients: closing the longest silent "
                      f"({self._clients[idlest].source}) to serve a new one", key="tcp-full")
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
            self.warn(f"{client.source}: {e}; closing", key="tcp-frame")
            packets = None
        if packets is None:
            self._drop(conn)
            return
        if packets:
            client.last = time.monotonic()
        for pkt in packets:
            self._packet(pkt, client.source, self._tcp_reply(conn))
