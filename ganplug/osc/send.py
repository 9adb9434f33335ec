"""Outbound OSC: one socket per destination, never blocking, never raising.

Each destination is a frame sink (:mod:`ganplug.runtime.sinks`) that also carries
messages; the server runs each on a :class:`~ganplug.runtime.sinks.SinkThread` of its own.
UDP destinations send each packet as one datagram (a frame in chunks of at most
``max_datagram`` bytes), a frame's chunks paced across the frame period (``send_paced``)
so that a receiver with the operating system's default receive buffer is never handed a
whole frame in one burst. Frames go raw (``/ganplug/frame``) or as JPEG/PNG
(``/ganplug/image``), as :class:`FrameFormat` says. TCP destinations use
OSC 1.0 stream framing (a 4-byte big-endian length before each packet),
keep a bounded outgoing buffer, drop whole frames rather than stall, and
reconnect with back-off when the peer goes away.
"""

from __future__ import annotations

import errno
import logging
import socket
import time
from dataclasses import dataclass
from typing import Iterable

import numpy as np
from pythonosc.osc_message_builder import OscMessageBuilder

from ..logs import LogThrottle
from ..net import family
from .frames import DEFAULT_JPEG_QUALITY, DEFAULT_MAX_DATAGRAM, ENCODINGS, encode
from .stream import framed

log = logging.getLogger("ganplug.send")

SNDBUF_BYTES = 4 * 1024 * 1024
# Pacing (UdpDestination.send_paced). Linux's default receive buffer holds only 12 datagrams
# of 8 KB on loopback (each is charged 16 KB), Windows' 64 KB: bursts stay at two chunks.
PACE_BURST_BYTES = 16 * 1024
# A frame's chunks take this share of the frame period; the rest is left for the receiving
# app's own work on the frame (measured: 0.8 lost every other 512 px frame to a reader busy
# for 10 ms per frame; 0.5 lost none).
PACE_SHARE = 0.5
PACE_FALLBACK_RATE = 64e6  # bytes/s when there is no frame period (fps 0 = as fast as possible)
TCP_BUFFER_LIMIT = 8 * 1024 * 1024  # beyond this a slow TCP peer loses frames, not the others
RECONNECT_MIN, RECONNECT_MAX = 0.25, 5.0


def message(address: str, types: str, *args: object) -> bytes:
    """One OSC message with explicit type tags (``i f s b``: no doubles, int64 or arrays)."""
    b = OscMessageBuilder(address)
    for t, a in zip(types, args, strict=True):
        b.add_arg(a, t)
    return b.build().dgram


@dataclass(frozen=True)
class FrameFormat:
    """How frames go out over OSC: ``encoding`` raw, jpeg or png; UDP datagram size; pacing."""

    encoding: str = "raw"
    quality: int = DEFAULT_JPEG_QUALITY  # jpeg
    max_datagram: int = DEFAULT_MAX_DATAGRAM  # UDP; TCP sends one message per frame
    rate: float | None = None  # UDP pacing in bytes/s; None = automatic from frame size and period

    def __post_init__(self) -> None:
        if self.encoding not in ENCODINGS:
            from ..errors import ConfigError

            raise ConfigError(f"--encoding must be one of {', '.join(ENCODINGS)}, got {self.encoding!r}")


def once_log(logger: logging.Logger = log) -> LogThrottle:
    """Each distinct problem logged once, so a dead peer does not flood the log at 60 fps."""
    return LogThrottle(logger, interval=None)


class UdpDestination:
    """A UDP peer: a :class:`~ganplug.runtime.sinks.MessageSink` whose frames are paced."""

    transport = "udp"

    def __init__(self, host: str, port: int, errors: LogThrottle, fmt: FrameFormat = FrameFormat()):
        self.host, self.port, self.fmt = host, port, fmt
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
        f = self.fmt
        self.send_paced(encode(frame_id, pixels, f.encoding, f.quality, f.max_datagram), budget)

    def send_messages(self, packets: list[bytes]) -> None:
        self.send(packets)

    def _send_one(self, packet: bytes) -> bool:
        """Send one datagram; on failure log once (the caller drops the rest of its packets)."""
        try:
            self.sock.sendto(packet, self.addr)
            return True
        except (BlockingIOError, InterruptedError):
            self.errors(f"{self}: send buffer full, dropping packets")
        except OSError as e:
            self.errors(f"{self}: {e.strerror or e}")
        return False

    def send(self, packets: Iterable[bytes]) -> bool:
        """Send packets at once; on a full buffer the rest of them is dropped. Never raises."""
        return all(self._send_one(p) for p in packets)

    def pace_rate(self, total_bytes: int, seconds: float) -> float:
        """Bytes per second for a frame of ``total_bytes`` due within ``seconds``.

        ``fmt.rate`` (bytes/s) wins when set; otherwise the frame is spread over
        PACE_SHARE of ``seconds``, or sent at PACE_FALLBACK_RATE when ``seconds`` is 0.
        """
        if self.fmt.rate:
            return float(self.fmt.rate)
        if seconds <= 0 or total_bytes <= PACE_BURST_BYTES:
            return PACE_FALLBACK_RATE
        # The whole frame's bytes over the share: the first burst is a head start, so a frame
        # just over one burst still ends early instead of stretching its last chunk out.
        return total_bytes / (PACE_SHARE * seconds)

    def send_paced(self, packets: Iterable[bytes], seconds: float) -> bool:
        """Send one frame's packets spread over the time until the next frame (``seconds``).

        The first PACE_BURST_BYTES go at once (small frames are not delayed), the rest at
        :meth:`pace_rate`. Blocks the calling (sink) thread for up to PACE_SHARE × seconds;
        a thread that falls behind catches up by at most one burst, never by a whole frame.
        Never raises; returns False if packets were dropped.
        """
        packets = list(packets)
        rate = self.pace_rate(sum(map(len, packets)), seconds)
        start = time.perf_counter()
        ahead = -PACE_BURST_BYTES  # bytes sent beyond the burst allowance
        for p in packets:
            wait = start + ahead / rate - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            elif -wait * rate > PACE_BURST_BYTES:  # descheduled: forgive lateness beyond one burst
                start += -wait - PACE_BURST_BYTES / rate
            if not self._send_one(p):
                return False
            ahead += len(p)
        return True

    def close(self) -> None:
        self.sock.close()


class TcpDestination:
    """A TCP peer with length-prefix framing; connects lazily and reconnects after failures.
    A :class:`~ganplug.runtime.sinks.MessageSink`: one message per frame (no datagram limit)."""

    transport = "tcp"

    def __init__(self, host: str, port: int, errors: LogThrottle, fmt: FrameFormat = FrameFormat()):
        self.host, self.port, self.fmt = host, port, fmt
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
        self.send(encode(frame_id, pixels, self.fmt.encoding, self.fmt.quality, max_datagram=None))

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


def make_destination(url: str, errors: LogThrottle, fmt: FrameFormat = FrameFormat()):
    """``HOST:PORT`` or ``udp://HOST:PORT`` -> UDP, ``tcp://HOST:PORT`` -> TCP."""
    from ..addr import host_port

    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "udp", url
    host, port = host_port(rest)
    if scheme == "udp":
        return UdpDestination(host, port, errors, fmt)
    if scheme == "tcp":
        return TcpDestination(host, port, errors, fmt)
    from ..errors import ConfigError

    raise ConfigError(f"destination {url!r}: scheme must be udp:// or tcp://")
