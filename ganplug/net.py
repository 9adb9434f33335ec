"""Sockets, once: address family, binding, receive buffers and the ``--allow`` list.

Used by the control listener, the frame receivers and the web surface.
"""

from __future__ import annotations

import ipaddress
import socket

from .errors import AddressInUseError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def family(host: str) -> socket.AddressFamily:
    """AF_INET6 for an IPv6 literal, else AF_INET."""
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def raise_rcvbuf(sock: socket.socket, size: int) -> None:
    """Ask for a larger receive buffer; best effort (tests never call this: they measure the OS default)."""
    # SO_RCVBUFFORCE passes the rmem_max cap (root only); SO_RCVBUF is capped by it.
    force = getattr(socket, "SO_RCVBUFFORCE", None)
    if force is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, force, size)
            return
        except OSError:
            pass
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
    except OSError:
        pass


def bind_udp(host: str, port: int, rcvbuf: int | None = None, doing: str = "listen on UDP") -> socket.socket:
    """A UDP socket bound to (host, port), its receive buffer raised to ``rcvbuf`` when given;
    a taken port is an :class:`AddressInUseError` that reads "cannot DOING HOST:PORT: why"."""
    sock = socket.socket(family(host), socket.SOCK_DGRAM)
    if rcvbuf:
        raise_rcvbuf(sock, rcvbuf)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise AddressInUseError(f"cannot {doing} {host}:{port}: {e.strerror or e}") from None
    return sock


def bind_tcp(host: str, port: int, backlog: int, doing: str = "listen on TCP") -> socket.socket:
    """A listening TCP socket on (host, port); a taken port is an :class:`AddressInUseError`."""
    sock = socket.socket(family(host), socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError as e:
        sock.close()
        raise AddressInUseError(f"cannot {doing} {host}:{port}: {e.strerror or e}") from None
    return sock


class AllowList:
    """Who may steer the show (``--allow``); everyone when it is empty. Shared by OSC control and the web port."""

    def __init__(self, networks: list[Network] | tuple[Network, ...] = ()):
        self.networks = tuple(networks)

    def allowed(self, ip: str) -> bool:
        if not self.networks:
            return True
        try:
            a = ipaddress.ip_address(ip.split("%")[0])
        except ValueError:
            return False
        if getattr(a, "ipv4_mapped", None):
            a = a.ipv4_mapped
        return any(a in n for n in self.networks)
