"""The OSC address space, defined once.

Every address the server understands or sends is one frozen :class:`Spec` in
:data:`ADDRESSES`. This table drives dispatch, argument checking and clamping,
the defaults of the performance state, presets, ``docs/protocol.md`` and the
tests. Nothing else in ganplug spells a default or a range.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..seeds import SEED_MAX, SEED_MIN

PREFIX = "/ganplug"
WALKS = ("hold", "slerp", "loop", "noise", "random")
EASINGS = ("linear", "smooth", "cosine")


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
    ``command`` (inbound action) or ``out`` (sent by the server)."""

    address: str
    args: tuple[Arg, ...]
    doc: str
    kind: str = "command"
    default: Any = None
    variadic: bool = False  # the single argument repeats, min_items..max_items times
    max_items: int = 1
    min_items: int = 1
    indexed: bool = False  # address ends in /N, an index into the latent

    @property
    def name(self) -> str:
        return self.address[len(PREFIX) + 1:].replace("/", "_")

    @property
    def types(self) -> str:
        t = "".join(a.type for a in self.args)
        return t + "…" if self.variadic else t


_seed = Arg("seed", "i", SEED_MIN, SEED_MAX)

ADDRESSES: tuple[Spec, ...] = (
    # --- performance state: each has one default, here
    Spec(f"{PREFIX}/seed", (_seed,), "go to a seed: the walk restarts from it (slerp: seed, seed+1, …)", "param", 0),
    Spec(f"{PREFIX}/keyframes", (Arg("seeds", "i", SEED_MIN, SEED_MAX),), "keyframe seeds for slerp; none (no arguments) = seed, seed+1, …", "param", (),
         variadic=True, max_items=64, min_items=0),
    Spec(f"{PREFIX}/walk", (Arg("mode", "s", choices=WALKS),), "walk mode", "param", "slerp"),
    Spec(f"{PREFIX}/speed", (Arg("speed", "f", -10.0, 10.0),), "walk-time seconds per second; negative walks backwards", "param", 1.0),
    Spec(f"{PREFIX}/period", (Arg("length", "f", 0.1, 600.0),), "length of one walk step — slerp: keyframe to keyframe; loop, noise: one loop; random: one turn — in seconds, or in beats when bpm > 0", "param", 4.0),
    Spec(f"{PREFIX}/bpm", (Arg("bpm", "f", 0.0, 400.0),), "tempo; > 0 counts period in beats, 0 in seconds", "param", 0.0),
    Spec(f"{PREFIX}/sync", (Arg("on", "i", 0, 1),), "1 locks the walk's phase to the beat clock: keyframes and loops land on beats (needs bpm > 0 or --link)", "param", 0),
    Spec(f"{PREFIX}/easing", (Arg("easing", "s", choices=EASINGS),), "how slerp moves between keyframes", "param", "smooth"),
    Spec(f"{PREFIX}/blend", (Arg("seconds", "f", 0.0, 60.0),), "cross-fade time for seed and walk changes; 0 = cut", "param", 1.0),
    Spec(f"{PREFIX}/truncation", (Arg("psi", "f", 0.0, 2.0),), "truncation ψ: 1 = none, smaller = closer to the average image", "param", 1.0),
    Spec(f"{PREFIX}/pause", (Arg("paused", "i", 0, 1),), "1 freezes the walk (frames keep coming), 0 resumes", "param", 0),
    Spec(f"{PREFIX}/fps", (Arg("fps", "f", 0.0, 240.0),), "target frames per second; 0 = as fast as possible", "param", 30.0),
    # --- commands
    Spec(f"{PREFIX}/z", (Arg("values", "f", -10.0, 10.0),), "set the latent directly (z_dim floats); held until the next seed or walk", variadic=True, max_items=4096),
    Spec(f"{PREFIX}/z/N", (Arg("value", "f", -10.0, 10.0),), "set component N of the latent, starting from the current one", indexed=True),
    Spec(f"{PREFIX}/direction/N", (Arg("amount", "f", -10.0, 10.0),), "move along semantic direction N of the model (0 = principal), in standard deviations", indexed=True),
    Spec(f"{PREFIX}/next", (), "jump to the next keyframe (hold: next seed; loop, noise, random: a quarter period on), blended"),
    Spec(f"{PREFIX}/beat", (), "tap tempo: taps set bpm and put the beat on the tap"),
    Spec(f"{PREFIX}/midi/learn", (Arg("address", "s"),), "bind the MIDI control moved last to ADDRESS (saved to the --midi-map file)"),
    Spec(f"{PREFIX}/snapshot", (), "save the current frame as PNG in the snapshot folder (arguments ignored)"),
    Spec(f"{PREFIX}/ping", (Arg("token", "i", -2**31, 2**31 - 1),), "answered by /ganplug/pong with the same token, to the sender"),
    Spec(f"{PREFIX}/preset/save", (Arg("name", "s"),), "save the performance state as NAME.json in the preset folder"),
    Spec(f"{PREFIX}/preset/load", (Arg("name", "s"),), "load a preset; changes blend over the blend time"),
    Spec(f"{PREFIX}/subscribe", (Arg("host", "s"), Arg("port", "i", 1, 65535)), "add a UDP frame destination"),
    Spec(f"{PREFIX}/unsubscribe", (Arg("host", "s"), Arg("port", "i", 1, 65535)), "remove a frame destination"),
    Spec(f"{PREFIX}/latent", (), "ask for the current latent: answered by /ganplug/latent f… to the sender"),
    Spec(f"{PREFIX}/state", (), "ask for the state now: answered by /ganplug/state to the sender"),
    # --- sent by the server
    Spec(f"{PREFIX}/frame", (Arg("frame", "i"), Arg("chunk", "i"), Arg("chunks", "i"), Arg("width", "i"), Arg("height", "i"),
                             Arg("channels", "i"), Arg("pixels", "b")), "one chunk of a frame (docs/protocol.md)", "out"),
    Spec(f"{PREFIX}/image", (Arg("frame", "i"), Arg("chunk", "i"), Arg("chunks", "i"), Arg("width", "i"), Arg("height", "i"),
                             Arg("channels", "i"), Arg("format", "s", choices=("jpeg", "png")), Arg("data", "b")),
         "one chunk of a JPEG or PNG frame, instead of /ganplug/frame with --encoding jpeg|png (docs/protocol.md)", "out"),
    Spec(f"{PREFIX}/state", (Arg("frame", "i"), _seed, Arg("walk", "s"), Arg("speed", "f"), Arg("truncation", "f"), Arg("fps", "f"),
                             Arg("paused", "i"), Arg("measured_fps", "f"), Arg("time", "f")),
         "the performance state, a few times a second; frame is the newest frame id, time its walk time", "out"),
    Spec(f"{PREFIX}/error", (Arg("message", "s"),), "why a message was rejected or clamped, to its sender", "out"),
    Spec(f"{PREFIX}/pong", (Arg("token", "i"),), "answer to /ganplug/ping", "out"),
    Spec(f"{PREFIX}/latent", (Arg("values", "f"),), "the current latent, z_dim floats", "out", variadic=True),
    Spec(f"{PREFIX}/audio/level", (Arg("level", "f", 0.0, 1.0),), "audio level of the --audio input, every frame", "out"),
    Spec(f"{PREFIX}/audio/bass", (Arg("bass", "f", 0.0, 1.0),), "bass band (20-250 Hz) against its recent peak, every frame", "out"),
    Spec(f"{PREFIX}/audio/mid", (Arg("mid", "f", 0.0, 1.0),), "mid band (250-4000 Hz), every frame", "out"),
    Spec(f"{PREFIX}/audio/high", (Arg("high", "f", 0.0, 1.0),), "high band (4000 Hz up), every frame", "out"),
    Spec(f"{PREFIX}/audio/onset", (Arg("strength", "f", 0.0, 1.0),), "an onset (a hit) was heard; sent with the first frame after it", "out"),
)

INBOUND = {s.address: s for s in ADDRESSES if s.kind != "out"}
OUTBOUND = {s.address: s for s in ADDRESSES if s.kind == "out"}
PARAMS = {s.name: s for s in ADDRESSES if s.kind == "param"}


def defaults() -> dict[str, Any]:
    """The performance state every server starts from (before command-line overrides)."""
    return {name: s.default for name, s in PARAMS.items()}


class BadMessage(ValueError):
    """A message that cannot be applied; the text goes back to the sender as /ganplug/error."""


def lookup(address: str) -> tuple[Spec, int | None]:
    """The spec for an inbound address, and the index N for ``/…/N`` addresses."""
    spec = INBOUND.get(address)
    if spec is not None:
        return spec, None
    head, _, tail = address.rpartition("/")
    spec = INBOUND.get(head + "/N")
    if spec is not None and spec.indexed and tail.isdigit() and len(tail) < 8:
        return spec, int(tail)
    raise BadMessage(f"unknown address {address[:80]}")


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
