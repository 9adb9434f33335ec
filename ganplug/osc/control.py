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
import select
import socket
import threading
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
RCVBUF_BYTES = 4 * 1024 * 1024  # the server's own control socket: a burst of messages waits here, not lost


class ControlListener:
    """Listens on UDP and TCP ``host:port`` (same number) and queues control events."""

    def __init__(self, host: str, port: int, inbox: Inbox, access: AllowList = AllowList(), tcp: bool = True):
        self.inbox, self.access = inbox, access
        self.malformed = 0
        self.refused = 0
        self.warn = LogThrottle(log)
        self.udp = bind_udp(host, port, RCVBUF_BYTES, "listen for control on UDP")
        self.address = self.udp.getsockname()[:2]
        self.tcp: socket.socket | None = None
        if tcp:
            try:
                self.tcp = bind_tcp(host, self.address[1], 8, "listen for control on TCP")
            except BaseException:
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
                    self.warn(f"control reader: {type(e).__name__}: {e}", key="reader")

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
                self.warn(f"ignoring control from {addr[0]} (not in --allow)", key="refused:" + addr[0])
                continue
            self._packet(data, f"udp://{addr[0]}:{addr[1]}", self._udp_reply(addr))

    def _accept(self) -> None:
        conn, addr = self.tcp.accept()
        if not self.access.allowed(addr[0]) or len(self._clients) >= MAX_TCP_CLIENTS:
            self.refused += 1
            self.warn(f"refusing TCP control from {addr[0]}", key="refused:" + addr[0])
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
            self.warn(f"{source}: {e}; closing", key="tcp-frame")
            packets = None
        if packets is None:
            conn.close()
            del self._clients[conn]
            return
        for pkt in packets:
            self._packet(pkt, source, self._tcp_reply(conn))
