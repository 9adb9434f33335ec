"""Network addresses as users type them: ``HOST:PORT``, ``PORT``, ``udp://…``, ``tcp://…``."""

from __future__ import annotations

import ipaddress

from .errors import ConfigError


def host_port(text: str, default_host: str = "127.0.0.1") -> tuple[str, int]:
    """Parse ``HOST:PORT``, ``[IPv6]:PORT`` or a bare ``PORT``; ``localhost`` becomes 127.0.0.1."""
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = default_host, text
    host = host.strip("[]") or default_host
    if host == "localhost":
        host = "127.0.0.1"
    try:
        p = int(port)
    except ValueError:
        raise ConfigError(f"{text!r} is not HOST:PORT") from None
    if not 0 <= p <= 65535:
        raise ConfigError(f"port {p} in {text!r} is outside 0..65535")
    return host, p


def numeric_host(host: str) -> str:
    """An IP address as text; names other than localhost are refused (no DNS in the show loop)."""
    if host == "localhost":
        return "127.0.0.1"
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        raise ConfigError(f"{host[:60]!r} is not an IP address") from None


def networks(items: list[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """``--allow`` values: addresses or CIDR networks."""
    out = []
    for item in items:
        try:
            out.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ConfigError(f"--allow {item!r} is not an IP address or network") from None
    return out


# Where `ganplug serve` sends frames unless told otherwise, and so where `ganplug receive` listens.
DEFAULT_FRAMES = "127.0.0.1:9001"
