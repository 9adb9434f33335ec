"""OSC 1.0 stream framing, for OSC over TCP: each packet preceded by its length (int32, big-endian)."""

from __future__ import annotations

import struct

_LEN = struct.Struct(">i")


def framed(packet: bytes) -> bytes:
    """``packet`` with its length prefix."""
    return _LEN.pack(len(packet)) + packet


def take_packets(buf: bytearray, max_packet: int) -> list[bytes]:
    """Remove and return every complete packet at the front of ``buf``.

    Raises ValueError on a length outside 1..max_packet: the stream is out of step and
    the connection should be closed.
    """
    out = []
    while len(buf) >= 4:
        (n,) = _LEN.unpack_from(buf)
        if not 0 < n <= max_packet:
            raise ValueError(f"bad packet length {n}")
        if len(buf) < 4 + n:
            break
        out.append(bytes(buf[4:4 + n]))
        del buf[:4 + n]
    return out


def read_packets(conn, buf: bytearray, max_packet: int, chunk: int = 1 << 16) -> list[bytes] | None:
    """Read what ``conn`` has now into ``buf`` and return the packets it completes.

    None means the peer closed the connection; ValueError means the framing broke.
    Either way the caller should close ``conn``.
    """
    try:
        data = conn.recv(chunk)
    except (BlockingIOError, InterruptedError):
        return []
    except OSError:
        return None
    if not data:
        return None
    buf += data
    return take_packets(buf, max_packet)
