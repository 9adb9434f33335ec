"""OSCQuery's LISTEN extension: a client's WebSocket names methods, and their changed values
come back to it as binary OSC messages.

Only performance parameters have values to stream (the methods OSCQuery describes with
ACCESS 3 and a VALUE). A client that LISTENs to a method gets its current value at once and
then every change, whoever made it (OSC, the page, MIDI, audio, a preset). LISTEN of any other
path is ignored, as the proposal leaves it; IGNORE stops a path.
"""

from __future__ import annotations

import json
from typing import Any

from ..show.table import INBOUND, Spec
from ..osc.send import message

MAX_PATHS = 256  # per client: the namespace has far fewer parameters


def streamable(spec: Spec) -> bool:
    """A method whose value can be streamed: a parameter with a fixed type tag string."""
    return spec.kind == "param" and not spec.variadic


def value_message(spec: Spec, value: Any) -> bytes:
    """The OSC message that carries a parameter's value, typed as the table says."""
    values = value if isinstance(value, (tuple, list)) else (value,)
    return message(spec.address, spec.types, *values)


class ListenSession:
    """One OSCQuery WebSocket client: what it listens to and what it was last sent."""

    def __init__(self) -> None:
        self.paths: set[str] = set()
        self.sent: dict[str, Any] = {}

    def command(self, text: str) -> bool:
        """Apply a text message from the client; True when it was a LISTEN or IGNORE we act on."""
        try:
            msg = json.loads(text)
            command, path = msg.get("COMMAND"), msg.get("DATA")
        except (ValueError, AttributeError):
            return False
        if not isinstance(path, str):
            return False
        spec = INBOUND.get(path)
        if command == "LISTEN" and spec is not None and streamable(spec) and len(self.paths) < MAX_PATHS:
            self.paths.add(path)
            self.sent.pop(path, None)  # send the current value at the next update
            return True
        if command == "IGNORE" and path in self.paths:
            self.paths.discard(path)
            self.sent.pop(path, None)
            return True
        return False

    def changes(self, values: dict[str, Any]) -> list[bytes]:
        """Messages for every listened parameter whose value differs from what this client was sent."""
        out = []
        for path in sorted(self.paths):
            spec = INBOUND[path]
            if spec.name not in values:
                continue
            value = values[spec.name]
            if self.sent.get(path, _UNSENT) != value:
                self.sent[path] = value
                out.append(value_message(spec, value))
        return out


_UNSENT = object()
