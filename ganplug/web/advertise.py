"""Zeroconf (mDNS/DNS-SD) advertising of the OSCQuery service, ``_oscjson._tcp``.

Optional: needs the ``zeroconf`` package (``pip install 'ganplug[zeroconf]'``). The service
is announced on the interfaces the web surface listens on: only loopback for 127.0.0.1,
every interface for 0.0.0.0.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from typing import TYPE_CHECKING

from ..errors import ConfigError

if TYPE_CHECKING:
    from .server import WebSurface

log = logging.getLogger("ganplug.web")

SERVICE_TYPE = "_oscjson._tcp.local."


def require() -> None:
    """Fail early, in one line, when the optional package is missing."""
    try:
        import zeroconf  # noqa: F401
    except ModuleNotFoundError:
        raise ConfigError("--zeroconf needs the zeroconf package: pip install 'ganplug[zeroconf]'") from None


def _addresses(host: str) -> tuple[list[str], list[str] | None]:
    """(addresses to announce, interfaces to use; None = all) for a listening host."""
    if host in ("0.0.0.0", "::"):
        import ifaddr  # a dependency of zeroconf

        ips = [ip.ip for a in ifaddr.get_adapters() for ip in a.ips if isinstance(ip.ip, str) and not ip.ip.startswith("127.")]
        return ips or ["127.0.0.1"], None
    return [host], [host]


def service_name(instance: str) -> str:
    """The DNS-SD instance name: at most 63 bytes, no dots (they separate labels)."""
    return instance.replace(".", "-").encode()[:63].decode(errors="ignore") + "." + SERVICE_TYPE


class Advertiser:
    """Registers ``NAME._oscjson._tcp.local.`` for the web surface's port while it runs."""

    def __init__(self, surface: "WebSurface"):
        self.surface = surface
        self.zc = None
        self.info = None

    async def start(self) -> None:
        from zeroconf import InterfaceChoice, IPVersion, ServiceInfo
        from zeroconf.asyncio import AsyncZeroconf

        host, port = self.surface.address
        ips, interfaces = _addresses(host)
        v6 = any(ipaddress.ip_address(i).version == 6 for i in ips)
        name = f"{self.surface._name()} on {socket.gethostname()}"
        self.info = ServiceInfo(SERVICE_TYPE, service_name(name), port=port, parsed_addresses=ips,
                                properties={"txtvers": "1", "path": "/"}, server=f"{socket.gethostname()}.local.")
        try:
            self.zc = AsyncZeroconf(interfaces=InterfaceChoice.All if interfaces is None else interfaces,
                                    ip_version=IPVersion.All if v6 else IPVersion.V4Only)
            announced = await self.zc.async_register_service(self.info, allow_name_change=True)
            await announced
            log.info("advertising %s on zeroconf", self.info.name)
        except Exception as e:  # no multicast here: the page and OSCQuery still work
            log.warning("zeroconf advertising failed: %s: %s", type(e).__name__, e)
            await self.stop()

    async def stop(self) -> None:
        if self.zc is None:
            return
        zc, self.zc = self.zc, None
        try:
            if self.info is not None:
                goodbye = await zc.async_unregister_service(self.info)
                await goodbye
        except Exception:
            pass
        await zc.async_close()
