"""Custom parameters and CHOP channels -> ganplug control messages, in plain Python.

Paste this file into a Text DAT named ``ganplug_controls``. The Parameter Execute DAT
(panel_callbacks.py) and the CHOP Execute DAT (chop_callbacks.py) turn each change into
``(address, args)`` here and send it with an OSC Out DAT pointed at the server's control
port (9000). Argument types follow the address table in docs/protocol.md: ``i`` arguments
go as Python ints, ``f`` as floats, ``s`` as strings.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

# Custom parameter (TouchDesigner names: capital first letter, then lower case) -> (address, OSC type).
PARAMETERS: dict[str, tuple[str, str]] = {
    "Seed": ("/ganplug/seed", "i"),
    "Keyframes": ("/ganplug/keyframes", "i…"),  # a string parameter: seeds separated by spaces or commas
    "Walk": ("/ganplug/walk", "s"),
    "Speed": ("/ganplug/speed", "f"),
    "Period": ("/ganplug/period", "f"),
    "Easing": ("/ganplug/easing", "s"),
    "Blend": ("/ganplug/blend", "f"),
    "Truncation": ("/ganplug/truncation", "f"),
    "Pause": ("/ganplug/pause", "i"),
    "Fps": ("/ganplug/fps", "f"),
    "Bpm": ("/ganplug/bpm", "f"),
    "Sync": ("/ganplug/sync", "i"),
}

# Pulse parameter -> (address, the parameters whose values become its arguments, their OSC types).
PULSES: dict[str, tuple[str, tuple[str, ...], str]] = {
    "Snapshot": ("/ganplug/snapshot", (), ""),
    "Beat": ("/ganplug/beat", (), ""),
    "Next": ("/ganplug/next", (), ""),
    "Savepreset": ("/ganplug/preset/save", ("Presetname",), "s"),
    "Loadpreset": ("/ganplug/preset/load", ("Presetname",), "s"),
    "Subscribe": ("/ganplug/subscribe", ("Framehost", "Frameport"), "si"),
    "Unsubscribe": ("/ganplug/unsubscribe", ("Framehost", "Frameport"), "si"),
}

_LATENT_CHANNEL = re.compile(r"^z(\d{1,4})$")

Message = tuple[str, list]


def _convert(value: Any, osc_type: str) -> Any:
    if osc_type == "i":
        return int(round(float(value)))
    if osc_type == "f":
        return float(value)
    return str(value)


def message_for_parameter(name: str, value: Any) -> Message | None:
    """The message for a changed custom parameter, or None if it is not a ganplug control."""
    spec = PARAMETERS.get(name)
    if spec is None:
        return None
    address, osc_type = spec
    if osc_type == "i…":
        seeds = [int(s) for s in re.split(r"[\s,]+", str(value).strip()) if s]
        # An empty list clears the keyframes: the walk goes back to seed, seed+1, ...
        return (address, seeds)
    return address, [_convert(value, osc_type)]


def message_for_pulse(name: str, values: Mapping[str, Any]) -> Message | None:
    """The message for a pressed pulse parameter; ``values`` holds the other parameters' values."""
    spec = PULSES.get(name)
    if spec is None:
        return None
    address, arg_names, types = spec
    return address, [_convert(values[n], t) for n, t in zip(arg_names, types)]


def message_for_channel(name: str, value: float) -> Message | None:
    """The message for a CHOP channel: named like a parameter (``speed``, ``truncation``, ...)
    or ``zN`` for component N of the latent (``/ganplug/z/N``)."""
    m = _LATENT_CHANNEL.match(name)
    if m:
        return f"/ganplug/z/{int(m.group(1))}", [float(value)]
    return message_for_parameter(name[:1].upper() + name[1:].lower(), value)
