"""What one entry of the address table is: :class:`Arg`, :class:`Spec`, and the argument check.

The table itself is :mod:`ganplug.show.table`; this module has no entries, so the
handlers (:mod:`~ganplug.show.params`, :mod:`~ganplug.show.commands`) can import it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

from ..osc.send import message

PREFIX = "/ganplug"
WALKS = ("hold", "slerp", "loop", "noise", "random")
EASINGS = ("linear", "smooth", "cosine")


class BadMessage(ValueError):
    """A message that cannot be applied; the text goes back to the sender as the table's error message."""


@dataclass(frozen=True)
class Arg:
    """One argument: OSC type ``i``, ``f``, ``s`` or ``b``, with a range or choices."""

    name: str
    type: str
    lo: float | None = None
    hi: float | None = None
    choices: tuple[str, ...] = ()
    doc: str = ""


@dataclass(frozen=True)
class Spec:
    """One address. ``kind`` is ``param`` (part of the performance state, has a default),
    ``command`` (inbound action) or ``out`` (sent by the server).

    A param names how the :class:`~ganplug.show.show.Show` holds it: ``capture(show)`` reads
    the value, ``apply(show, value)`` sets it (``value`` is a tuple for variadic params);
    ``order`` sorts a preset's params (the walk's content after its timing, so a load blends).
    A command names its ``handler(show, values, index, event)``.
    """

    address: str
    args: tuple[Arg, ...]
    doc: str
    kind: str = "command"
    default: Any = None
    variadic: bool = False  # the single argument repeats, min_items..max_items times
    max_items: int = 1
    min_items: int = 1
    indexed: bool = False  # address ends in /N, an index into the latent
    apply: Callable[..., None] | None = None
    capture: Callable[..., Any] | None = None
    handler: Callable[..., None] | None = None
    order: int = 0
    # A param whose range depends on the model being played: validate(show, value) raises BadMessage
    # before anything is applied (messages, presets and the command line alike).
    validate: Callable[..., None] | None = None

    @property
    def name(self) -> str:
        return self.address[len(PREFIX) + 1:].replace("/", "_")

    @property
    def types(self) -> str:
        t = "".join(a.type for a in self.args)
        return t + "…" if self.variadic else t

    def message(self, *args: object) -> bytes:
        """This address as an OSC message, typed by the table (a variadic argument repeats)."""
        types = self.args[0].type * len(args) if self.variadic else "".join(a.type for a in self.args)
        return message(self.address, types, *args)

    def value(self, values: tuple) -> Any:
        """Checked arguments as the state holds them: the tuple for variadic params, else the one value."""
        return tuple(values) if self.variadic else values[0]


def _coerce(arg: Arg, value: Any, notes: list[str]) -> Any:
    if arg.type == "s":
        if not isinstance(value, str):
            raise BadMessage(f"{arg.name} must be a string, got {type(value).__name__}")
        if arg.choices and value not in arg.choices:
            raise BadMessage(f"{arg.name} must be one of {', '.join(arg.choices)}, got {value[:40]!r}")
        return value
    if isinstance(value, bool):
        value = int(value)
    if not isinstance(value, (int, float)):
        raise BadMessage(f"{arg.name} must be a number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise BadMessage(f"{arg.name} must be finite, got {value}")
    # Many apps (Pure Data, TouchDesigner) send every number as a float: accept whole floats for ints.
    v = int(round(value)) if arg.type == "i" else float(value)
    if arg.lo is not None and v < arg.lo:
        notes.append(f"{arg.name} {value} clamped to {arg.lo:g}")
        v = type(v)(arg.lo)
    if arg.hi is not None and v > arg.hi:
        notes.append(f"{arg.name} {value} clamped to {arg.hi:g}")
        v = type(v)(arg.hi)
    return v


def check(spec: Spec, args: tuple, max_items: int | None = None) -> tuple[tuple, list[str]]:
    """Validate and clamp ``args`` for ``spec``: returns (values, notes about clamping).

    Raises :class:`BadMessage` for wrong arity, types, non-finite numbers or unknown choices.
    """
    notes: list[str] = []
    if not spec.args:
        return (), notes
    if spec.variadic:
        limit = min(spec.max_items, max_items or spec.max_items)
        if not spec.min_items <= len(args) <= limit:
            raise BadMessage(f"{spec.address} takes {spec.min_items} to {limit} arguments, got {len(args)}")
        values = tuple(_coerce(spec.args[0], a, notes) for a in args)
    else:
        if len(args) != len(spec.args):
            raise BadMessage(f"{spec.address} takes {len(spec.args)} argument(s) ({spec.types}), got {len(args)}")
        values = tuple(_coerce(a, v, notes) for a, v in zip(spec.args, args))
    if len(notes) > 3:
        notes = notes[:3] + [f"and {len(notes) - 3} more"]
    return values, notes
