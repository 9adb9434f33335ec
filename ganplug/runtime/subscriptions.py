"""OSC frame destinations: those of ``--send``, and those added and removed over OSC while the show runs."""

from __future__ import annotations

import logging

from ..logs import LogThrottle
from ..osc.send import FrameFormat, TcpDestination, UdpDestination, make_destination, once_log
from ..show.table import BadMessage
from .sinks import Sinks

log = logging.getLogger("ganplug.serve")

MAX_DESTINATIONS = 16

Destination = UdpDestination | TcpDestination


class Subscriptions:
    """The OSC destinations, each a sink in ``sinks``. Called on the render thread (subscribe) or at start."""

    def __init__(self, sinks: Sinks, fmt: FrameFormat = FrameFormat(), errors: LogThrottle | None = None):
        self.sinks, self.fmt = sinks, fmt
        self.errors = errors or once_log(logging.getLogger("ganplug.send"))
        self.destinations: list[Destination] = []

    def add(self, url: str) -> Destination:
        """A ``--send`` destination: ``[udp://|tcp://]HOST:PORT``."""
        return self._add(make_destination(url, self.errors, self.fmt))

    def _add(self, dest: Destination) -> Destination:
        self.destinations = self.destinations + [dest]
        self.sinks.add(dest)
        return dest

    def subscribe(self, host: str, port: int, source: str) -> None:
        """Add a UDP destination (a second subscribe of the same one changes nothing)."""
        if any(d.transport == "udp" and (d.host, d.port) == (host, port) for d in self.destinations):
            return
        if len(self.destinations) >= MAX_DESTINATIONS:
            raise BadMessage(f"subscribe: already {MAX_DESTINATIONS} destinations")
        dest = self._add(UdpDestination(host, port, self.errors, self.fmt))
        log.info("%s subscribed %s", source, dest)

    def unsubscribe(self, host: str, port: int, source: str) -> None:
        """Remove every destination at host:port (UDP or TCP)."""
        gone = [d for d in self.destinations if (d.host, d.port) == (host, port)]
        if not gone:
            raise BadMessage(f"unsubscribe: {host}:{port} is not a destination")
        self.destinations = [d for d in self.destinations if d not in gone]
        for d in gone:
            self.sinks.remove(d)
        log.info("%s unsubscribed %s:%d", source, host, port)
