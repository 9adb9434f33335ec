"""MIDI in: control changes and notes bound to table addresses by a JSON mapping file.

The file holds ``{"bindings": [{"source": "cc:0:1", "address": "/ganplug/speed", "lo": 0, "hi": 4}, …]}``:
``cc:CHANNEL:NUMBER`` scales the controller's 0..127 into lo..hi (default: the address's
range); ``note:CHANNEL:NUMBER`` fires on note-on (velocity > 0) with ``value`` (or,
with lo/hi, the velocity scaled). Channels count from 0, as mido does. Learn mode:
move a control, then send ``/ganplug/midi/learn ADDRESS``; the binding is added and
the file saved.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Callable

from ..errors import ConfigError
from .mapping import Binding

log = logging.getLogger("ganplug.midi")


def source_of(msg: Any) -> str | None:
    """The binding source a mido message speaks for, or None for messages we ignore."""
    if msg.type == "control_change":
        return f"cc:{msg.channel}:{msg.control}"
    if msg.type == "note_on" and msg.velocity > 0:
        return f"note:{msg.channel}:{msg.note}"
    return None


class MidiMap:
    """Bindings from MIDI sources to addresses, kept in a JSON file."""

    def __init__(self, bindings: list[Binding] | None = None, path: Path | None = None):
        self.bindings = list(bindings or [])
        self.path = path

    @classmethod
    def load(cls, path: Path | None) -> "MidiMap":
        if path is None or not Path(path).exists():
            return cls([], Path(path) if path else None)
        try:
            data = json.loads(Path(path).read_text())
            bindings = [Binding(**b) for b in data["bindings"]]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ConfigError(f"--midi-map {path}: not a readable mapping file ({e})") from None
        return cls(bindings, Path(path))

    def to_dict(self) -> dict:
        return {"bindings": [b.to_dict() for b in self.bindings]}

    def save(self) -> None:
        if self.path is None:
            return
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        os.replace(tmp, self.path)

    def events(self, msg: Any) -> list[tuple[str, tuple]]:
        """(address, args) for every binding this message drives."""
        src = source_of(msg)
        out = []
        for b in self.bindings:
            if b.source != src:
                continue
            if msg.type == "control_change":
                out.append((b.address, b.scaled(msg.value / 127.0)))
            elif b.lo is not None and b.hi is not None:
                out.append((b.address, b.scaled(msg.velocity / 127.0)))
            else:
                out.append((b.address, b.triggered()))
        return out

    def learn(self, source: str, address: str) -> Binding:
        """Bind ``source`` to ``address`` (replacing what it drove before) and save."""
        b = Binding(source, address)
        self.bindings = [x for x in self.bindings if x.source != source] + [b]
        self.save()
        return b


class MidiInput:
    """An input port (``mido``/``python-rtmidi``) feeding a :class:`MidiMap`; ``push(address, args)`` gets the results.

    ``port`` is a port name, or ``virtual:NAME`` to create a virtual input other apps can connect to.
    """

    def __init__(self, port: str | None, midimap: MidiMap, push: Callable[[str, tuple], None]):
        self.map, self.push = midimap, push
        self.last_source: str | None = None
        self.port = None
        if port is None:
            return
        try:
            import mido
        except ModuleNotFoundError:
            raise ConfigError("--midi needs mido and python-rtmidi: pip install 'ganplug[midi]'") from None
        try:
            if port.startswith("virtual:"):
                self.port = mido.open_input(port.split(":", 1)[1], virtual=True, callback=self.feed)
            else:
                self.port = mido.open_input(port, callback=self.feed)
        except (OSError, IOError, ValueError, RuntimeError, ImportError) as e:
            names = ""
            try:
                names = ", ".join(mido.get_input_names()) or "none"
            except Exception:  # no MIDI system at all
                names = "none (no MIDI system)"
            raise ConfigError(f"--midi {port}: cannot open ({e}); inputs here: {names}") from None

    def feed(self, msg: Any) -> None:
        """Handle one message (called by the port's thread, or directly)."""
        src = source_of(msg)
        if src is None:
            return
        self.last_source = src
        for address, args in self.map.events(msg):
            self.push(address, args)

    def close(self) -> None:
        if self.port is not None:
            self.port.close()
