"""Receiving frames: sockets in, reassembled :class:`Frame` objects out.

``ganplug receive`` is built on :class:`FrameReceiver`; so can any Python app.
UDP datagrams each hold one OSC packet; over TCP, packets use OSC 1.0
framing (a 4-byte big-endian length before each packet).
"""

from __future__ import annotations

import logging
import selectors
import socket
import time
from typing import Callable, Iterator

from ..net import bind_tcp, bind_udp
from .frames import FRAME_ADDRESS, IMAGE_ADDRESS, Frame, FrameAssembler
from .packet import parse_packet
from .stream import read_packets

log = logging.getLogger("ganplug.receive")

RCVBUF_BYTES = 8 * 1024 * 1024  # a paused reader must not lose a burst of chunks
MAX_TCP_PACKET = 64 * 1024 * 1024

MessageHandler = Callable[[str, tuple], None]


def messages_of(packet: bytes) -> list[tuple[str, tuple]]:
    """(address, args) of every message in an OSC packet; raises ValueError
    (:class:`~ganplug.osc.packet.MalformedPacket`) if malformed or beyond the parser's bounds."""
    return parse_packet(packet)


class FrameReceiver:
    """Listen on UDP (``transport='udp'``) or TCP and yield complete frames.

    Raw (``/ganplug/frame``) and compressed (``/ganplug/image``) frames are both
    decoded. Other messages go to ``on_message(address, args)`` if given. ``rcvbuf`` is the
    UDP receive buffer asked for (None or 0 keeps the operating system's default, as apps have it).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 9001, transport: str = "udp",
                 on_message: MessageHandler | None = None, max_pending: int = 4,
                 rcvbuf: int | None = RCVBUF_BYTES):
        self.assembler = FrameAssembler(max_pending)
        self.on_message = on_message
        self.transport = transport
        self.malformed = 0
        self._tcp_clients: dict[socket.socket, bytearray] = {}
        if transport == "udp":
            self.sock = bind_udp(host, port, rcvbuf)
        elif transport == "tcp":
            self.sock = bind_tcp(host, port, 8)
        else:
            raise ValueError(f"transport must be udp or tcp, not {transport!r}")
        self.address = self.sock.getsockname()[:2]
        # selectors, not select.select: a descriptor number above 1023 must not matter
        self._selector = selectors.DefaultSelector()
        self._selector.register(self.sock, selectors.EVENT_READ)

    def close(self) -> None:
        for c in list(self._tcp_clients):
            c.close()
        self._tcp_clients.clear()
        self._selector.close()
        self.sock.close()

    def __enter__(self) -> "FrameReceiver":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _packets(self, timeout: float) -> list[bytes]:
        """Packets that arrive within ``timeout`` seconds (at least one wait)."""
        if self.transport == "udp":
            r = self._selector.select(timeout)
            out = []
            if r:
                self.sock.setblocking(False)
                try:
                    while len(out) < 512:
                        out.append(self.sock.recv(65536))
                except (BlockingIOError, InterruptedError):
                    pass
                finally:
                    self.sock.setblocking(True)
            return out
        out = []
        for key, _ in self._selector.select(timeout):
            s = key.fileobj
            if s is self.sock:
                conn, _ = self.sock.accept()
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self._tcp_clients[conn] = bytearray()
                self._selector.register(conn, selectors.EVENT_READ)
                continue
            try:
                packets = read_packets(s, self._tcp_clients[s], MAX_TCP_PACKET, 1 << 20)
            except ValueError:
                self.malformed += 1
                packets = None
            if packets is None:
                self._selector.unregister(s)
                s.close()
                del self._tcp_clients[s]
                continue
            out += packets
        return out

    def poll(self, timeout: float = 0.1) -> list[Frame]:
        """Frames completed by what arrives within ``timeout`` seconds."""
        frames = []
        for pkt in self._packets(timeout):
            try:
                msgs = messages_of(pkt)
            except ValueError:
                self.malformed += 1
                continue
            for address, args in msgs:
                f = None
                if address == FRAME_ADDRESS and len(args) == 7:
                    f = self.assembler.add(*args)
                elif address == IMAGE_ADDRESS and len(args) == 8:
                    f = self.assembler.add_image(*args)
                elif self.on_message is not None:
                    self.on_message(address, args)
                if f is not None:
                    frames.append(f)
        return frames

    def frames(self, seconds: float | None = None, count: int | None = None) -> Iterator[Frame]:
        """Yield frames until ``seconds`` pass or ``count`` frames have come (either may be None)."""
        end = None if seconds is None else time.monotonic() + seconds
        n = 0
        while True:
            left = 0.1 if end is None else end - time.monotonic()
            if left <= 0:
                return
            for f in self.poll(min(left, 0.1)):
                yield f
                n += 1
                if count is not None and n >= count:
                    return
