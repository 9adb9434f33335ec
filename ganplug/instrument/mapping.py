"""Bindings from controllers (audio features, MIDI) to addresses of the OSC table.

A continuous source gives a value in 0..1 that is scaled into ``lo..hi`` (by default
the address's own range from the table); a trigger (an onset, a note) sends ``value``
(or nothing, for commands without arguments). Whatever a binding produces goes
through the same checks and handlers as an OSC message.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ..errors import ConfigError
from ..show.table import PREFIX, BadMessage, Spec, lookup


@dataclass(frozen=True)
class Binding:
    source: str  # "bass", "onset", "cc:0:1" (channel:number), "note:9:36"
    address: str
    lo: float | None = None
    hi: float | None = None
    value: Any = None

    def __post_init__(self) -> None:
        try:
            spec, _ = lookup(self.address)
        except BadMessage as e:
            raise ConfigError(f"mapping {self.source} -> {self.address}: {e}") from None
        if spec.args and spec.args[0].type == "s" and self.value is None and not spec.args[0].choices:
            raise ConfigError(f"mapping {self.source} -> {self.address}: a string argument needs a fixed value")

    @property
    def spec(self) -> Spec:
        return lookup(self.address)[0]

    def scaled(self, x: float) -> tuple:
        """Arguments for a continuous value ``x`` in 0..1."""
        spec = self.spec
        if not spec.args:
            return ()
        arg = spec.args[0]
        if arg.choices:  # a continuous control over a list of choices picks one of them
            i = min(int(max(0.0, min(1.0, x)) * len(arg.choices)), len(arg.choices) - 1)
            return (arg.choices[i],)
        if self.value is not None and arg.type == "s":
            return (self.value,)
        lo = self.lo if self.lo is not None else (arg.lo if arg.lo is not None else 0.0)
        hi = self.hi if self.hi is not None else (arg.hi if arg.hi is not None else 1.0)
        return (lo + (hi - lo) * max(0.0, min(1.0, x)),)

    def triggered(self) -> tuple:
        """Arguments for a trigger."""
        spec = self.spec
        if not spec.args:
            return ()
        if self.value is not None:
            return (self.value,)
        return self.scaled(1.0)

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


def full_address(text: str) -> str:
    """``speed`` or ``/ganplug/speed`` -> ``/ganplug/speed``."""
    return text if text.startswith("/") else f"{PREFIX}/{text}"


def parse_audio_map(text: str) -> Binding:
    """``FEATURE:ADDRESS[:LO:HI]`` or, for triggers, ``onset:ADDRESS[:VALUE]``."""
    from .audio import FEATURES

    parts = text.split(":")
    if len(parts) < 2 or parts[0] not in FEATURES:
        raise ConfigError(f"--audio-map {text!r}: expected FEATURE:ADDRESS[:LO:HI] with FEATURE one of {', '.join(FEATURES)}")
    feature, address, rest = parts[0], full_address(parts[1]), parts[2:]
    try:
        if feature == "onset":
            value: Any = None
            if rest:
                value = rest[0]
                try:
                    value = float(value)
                except ValueError:
                    pass
            return Binding(feature, address, value=value)
        if len(rest) not in (0, 2):
            raise ValueError
        lo, hi = (float(rest[0]), float(rest[1])) if rest else (None, None)
    except ValueError:
        raise ConfigError(f"--audio-map {text!r}: LO and HI must be numbers") from None
    return Binding(feature, address, lo, hi)
