"""Outbound OSC: one socket per destination, never blocking, never raising.

Each destination is a frame sink (:mod:`ganplug.runtime.sinks`) that also carries
messages; the server runs each on a :class:`~ganplug.runtime.sinks.SinkThread` of its own.
UDP destinations send each packet as one datagram (a frame in chunks of at most
``max_datagram`` bytes). TCP destinations use
OSC 1.0 stream framing (a 4-byte big-endian length before each packet),
keep a bounded outgoing buffer, drop whole frames rather than stall, and
reconnect with back-off when the peer goes away.
"""

from __future__ import annotations

import errno
import logging
import socket
import time
from typing import Iterable

import numpy as np
from pythonosc.osc_message_builder import OscMessageBuilder

from ..logs import LogThrottle
from ..net import family
from .frames import DEFAULT_MAX_DATAGRAM, HEADER_BYTES, encode_frame
from .stream import framed

log = logging.getLogger("ganplug.send")

SNDBUF_BYTES = 4 * 1024 * 1024
TCP_BUFFER_LIMIT = 8 * 1024 * 1024  # beyond this a slow TCP peer loses frames, not the others
RECONNECT_MIN, RECONNECT_MAX = 0.25, 5.0


def message(address: str, types: str, *args: object) -> bytes:
    """One OSC message with explicit type tags (``i f s b``: no doubles, int64 or arrays)."""
    b = OscMessageBuilder(address)
    for t, a in zip(types, args, strict=True):
        b.add_arg(a, t)
    return b.build().dgram


def once_log(logger: logging.Logger = log) -> LogThrottle:
    """Each distinct problem logged once, so a dead peer does not flood the log at 60 fps."""
    return LogThrottle(logger, interval=None)


class UdpDestination:
    """A UDP peer: a :class:`~ganplug.runtime.sinks.MessageSink`."""

    transport = "udp"

    def __init__(self, host: str, port: int, errors: LogThrottle, max_datagram: int = DEFAULT_MAX_DATAGRAM):
        self.host, self.port, self.max_datagram = host, port, max_datagram
        self.name = str(self)
        self.addr = (host, port)
        self.sock = socket.socket(family(host), socket.SOCK_DGRAM)
        self.sock.setblocking(False)
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SNDBUF_BYTES)
        except OSError:
            pass
        self.errors = errors

    def __str__(self) -> str:
        return f"udp://{self.host}:{self.port}"

    def send_frame(self, frame_id: int, pixels: np.ndarray, budget: float) -> None:
        self.send(encode_frame(frame_id, pixels, self.max_datagram))

    def send_messages(self, packets: list[bytes]) -> None:
        self.send(packets)

    def send(self, packets: Iterable[bytes]) -> bool:
        """Send packets; on a full buffer the rest of them is dropped. Never raises."""
        packets = list(packets)
        for p in packets:
            try:
                self.sock.sendto(p, self.addr)
            except (BlockingIOError, InterruptedError):
                self.errors(f"{self}: send buffer full, dropping packets")
                return False
            except OSError as e:
                self.errors(f"{self}: {e.strerror or e}")
                return False
        return True

    def close(self) -> None:
        self.sock.close()


class TcpDestination:
    """A TCP peer with length-prefix framing; connects lazily and reconnects after failures.
    A :class:`~ganplug.runtime.sinks.MessageSink`: one message per frame (no datagram limit)."""

    transport = "tcp"

    def __init__(self, host: str, port: int, errors: LogThrottle):
        self.host, self.port = host, port
        self.name = str(self)
        self.errors = errors
        self.sock: socket.socket | None = None
        self.connected = False
        self.buf = bytearray()
        self.retry_at = 0.0
        self.backoff = RECONNECT_MIN

    def __str__(self) -> str:
        return f"tcp://{self.host}:{self.port}"

    def send_frame(self, frame_id: int, pixels: np.ndarray, budget: float) -> None:
        self.send(encode_frame(frame_id, pixels, pixels.nbytes + HEADER_BYTES + 4))

    def send_messages(self, packets: list[bytes]) -> None:
        self.send(packets)

    def poll(self) -> None:
        """Called by the sink thread at least every 50 ms: write what the socket takes now."""
        self.flush()

    def _drop_connection(self, why: str) -> None:
        if self.sock is not None:
            self.sock.close()
        self.sock, self.connected = None, False
        self.buf.clear()
        self.retry_at = time.monotonic() + self.backoff
        self.backoff = min(self.backoff * 2, RECONNECT_MAX)
        self.errors(f"{self}: {why}; will reconnect")

    def _connect(self) -> None:
        if time.monotonic() < self.retry_at:
            return
        s = socket.socket(family(self.host), socket.SOCK_STREAM)
        s.setblocking(False)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SNDBUF_BYTES)
        except OSError:
            pass
        err = s.connect_ex((self.host, self.port))
        self.sock = s
        if err not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK):
            self._drop_connection(errno.errorcode.get(err, str(err)))

    def _check_connected(self) -> bool:
        if self.connected:
            return True
        if self.sock is None:
            self._connect()
            if self.sock is None:
                return False
        err = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            self._drop_connection(f"connect failed ({errno.errorcode.get(err, err)})")
            return False
        try:
            self.sock.getpeername()
        except OSError:
            return False  # still connecting
        self.connected = True
        self.backoff = RECONNECT_MIN
        log.info("%s: connected", self)
        return True

    def flush(self) -> None:
        """Write as much of the buffer as the socket takes now."""
        if not self.buf or not self._check_connected():
            return
        try:
            n = self.sock.send(self.buf)
            del self.buf[:n]
        except (BlockingIOError, InterruptedError):
            pass
        except OSError as e:
            self._drop_connection(e.strerror or str(e))

    def send(self, packets: Iterable[bytes]) -> bool:
        """Queue packets (all or none) and write what the socket takes; never blocks."""
        if not self._check_connected():
            return False
        packets = list(packets)
        size = sum(len(p) + 4 for p in packets)
        if len(self.buf) + size > TCP_BUFFER_LIMIT:
            self.errors(f"{self}: peer reads too slowly, dropping frames")
            self.flush()
            return False
        for p in packets:
            self.buf += framed(p)
        self.flush()
        return True

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.sock = None


def make_destination(url: str, errors: LogThrottle, max_datagram: int = DEFAULT_MAX_DATAGRAM):
    """``HOST:PORT`` or ``udp://HOST:PORT`` -> UDP, ``tcp://HOST:PORT`` -> TCP."""
    from ..addr import host_port

    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "udp", url
    host, port = host_port(rest)
    if scheme == "udp":
        return UdpDestination(host, port, errors, max_datagram)
    if scheme == "tcp":
        return TcpDestination(host, port, errors)
    from ..errors import ConfigError

    raise ConfigError(f"destination {url!r}: scheme must be udp:// or tcp://")
