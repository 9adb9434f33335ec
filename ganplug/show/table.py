"""The OSC address space, defined once: the show's registry.

Every address the server understands or sends is one frozen :class:`~ganplug.show.spec.Spec`
in :data:`ADDRESSES`. A parameter names its getter and setter (:mod:`ganplug.show.params`),
a command its handler (:mod:`ganplug.show.commands`), so ``/ganplug/preset/load`` leads to
``commands.preset_load`` by name. This table drives dispatch, argument checking and clamping,
the defaults of the performance state, presets, the CLI flags, the web page, OSCQuery,
``docs/protocol.md`` and the tests. Nothing else in ganplug spells a default or a range.
"""

from __future__ import annotations

from typing import Any

from ..osc.frames import FRAME_ADDRESS, FRAME_TYPES, IMAGE_ADDRESS, IMAGE_TYPES
from ..seeds import SEED_MAX, SEED_MIN
from . import commands as C
from . import params as P
from .spec import EASINGS, PREFIX, WALKS, Arg, BadMessage, Spec, check

__all__ = ["ADDRESSES", "INBOUND", "OUTBOUND", "PARAMS", "REPLIES", "FRAME", "IMAGE", "STATE", "MODEL", "ERROR", "PREFIX", "WALKS", "EASINGS",
           "Arg", "Spec", "BadMessage", "check", "check_table", "defaults", "lookup", "preset_order"]

_seed = Arg("seed", "i", SEED_MIN, SEED_MAX)

FRAME = Spec(FRAME_ADDRESS, (Arg("frame", "i"), Arg("chunk", "i"), Arg("chunks", "i"), Arg("width", "i"), Arg("height", "i"),
                                 Arg("channels", "i"), Arg("pixels", "b")), "one chunk of a frame (docs/protocol.md)", "out")
IMAGE = Spec(IMAGE_ADDRESS, (Arg("frame", "i"), Arg("chunk", "i"), Arg("chunks", "i"), Arg("width", "i"), Arg("height", "i"),
                                 Arg("channels", "i"), Arg("format", "s", choices=("jpeg", "png")), Arg("data", "b")),
             "one chunk of a JPEG or PNG frame, instead of /ganplug/frame with --encoding jpeg|png (docs/protocol.md)", "out")
STATE = Spec("/ganplug/state", (Arg("frame", "i"), _seed, Arg("walk", "s"), Arg("speed", "f"), Arg("truncation", "f"), Arg("fps", "f"),
                                 Arg("paused", "i"), Arg("measured_fps", "f"), Arg("time", "f")),
             "the performance state, a few times a second; frame is the newest frame id, time its walk time", "out")
MODEL = Spec("/ganplug/model", (Arg("name", "s"), Arg("b", "s"), Arg("mix", "f")),
             "the models on screen (playing, B or empty, mix), sent with every /ganplug/state", "out")
ERROR = Spec("/ganplug/error", (Arg("message", "s"),), "why a message was rejected or clamped, to its sender", "out")

ADDRESSES: tuple[Spec, ...] = (
    # --- performance state: each has one default, here
    Spec("/ganplug/seed", (_seed,), "go to a seed: the walk restarts from it (slerp: seed, seed+1, …)", "param", 0, apply=P.set_seed, capture=P.get_seed, order=3),
    Spec("/ganplug/keyframes", (Arg("seeds", "i", SEED_MIN, SEED_MAX),), "keyframe seeds for slerp; none (no arguments) = seed, seed+1, …", "param", (),
         variadic=True, max_items=64, min_items=0, apply=P.set_keyframes, capture=P.get_keyframes, order=2),
    Spec("/ganplug/walk", (Arg("mode", "s", choices=WALKS),), "walk mode", "param", "slerp", apply=P.set_walk, capture=P.get_walk, order=1),
    Spec("/ganplug/speed", (Arg("speed", "f", -10.0, 10.0),), "walk-time seconds per second; negative walks backwards", "param", 1.0, apply=P.set_speed, capture=P.get_speed),
    Spec("/ganplug/period", (Arg("length", "f", 0.1, 600.0),), "length of one walk step — slerp: keyframe to keyframe; loop, noise: one loop; random: one turn — in seconds, or in beats when bpm > 0", "param", 4.0, apply=P.set_period, capture=P.get_period),
    Spec("/ganplug/bpm", (Arg("bpm", "f", 0.0, 400.0),), "tempo; > 0 counts period in beats, 0 in seconds", "param", 0.0, apply=P.set_bpm, capture=P.get_bpm),
    Spec("/ganplug/sync", (Arg("on", "i", 0, 1),), "1 locks the walk's phase to the beat clock: keyframes and loops land on beats (needs bpm > 0 or --link)", "param", 0, apply=P.set_sync, capture=P.get_sync),
    Spec("/ganplug/easing", (Arg("easing", "s", choices=EASINGS),), "how slerp moves between keyframes", "param", "smooth", apply=P.set_easing, capture=P.get_easing),
    Spec("/ganplug/blend", (Arg("seconds", "f", 0.0, 60.0),), "cross-fade time for seed and walk changes; 0 = cut", "param", 1.0, apply=P.set_blend, capture=P.get_blend, order=-1),
    Spec("/ganplug/truncation", (Arg("psi", "f", 0.0, 2.0),), "truncation ψ: 1 = none, smaller = closer to the average image", "param", 1.0, apply=P.set_truncation, capture=P.get_truncation),
    Spec("/ganplug/pause", (Arg("paused", "i", 0, 1),), "1 freezes the walk (frames keep coming), 0 resumes", "param", 0, apply=P.set_pause, capture=P.get_pause),
    Spec("/ganplug/class", (Arg("class", "i", 0, 65535),), "class-conditional models (imported NVlabs ones): draw frames from class N, 0 … c_dim−1 (ganplug info); other models take only 0",
         "param", 0, apply=P.set_class, capture=P.get_class, validate=P.check_class),
    Spec("/ganplug/fps", (Arg("fps", "f", 0.0, 240.0),), "target frames per second; 0 = as fast as possible", "param", 30.0, apply=P.set_fps, capture=P.get_fps),
    Spec("/ganplug/model/load", (Arg("name", "s"),), "switch to model NAME (a file of the --models folder, without .onnx): it loads and warms up while frames keep coming, then cross-fades over the blend time; its value is the model chosen (default: the one serve started with)", "param", "",
         apply=P.set_model, capture=P.get_model),
    Spec("/ganplug/model/b", (Arg("name", "s"),), "a second model, mixed in by /ganplug/model/mix; it walks the same walk in its own z space; empty = none", "param", "", apply=P.set_model_b, capture=P.get_model_b),
    Spec("/ganplug/model/mix", (Arg("amount", "f", 0.0, 1.0),), "how much of model B is seen, mixed in pixels: 0 = the playing model only, 1 = B only", "param", 0.0, apply=P.set_model_mix, capture=P.get_model_mix),
    # --- commands
    Spec("/ganplug/z", (Arg("values", "f", -10.0, 10.0),), "set the latent directly (z_dim floats); held until the next seed or walk", variadic=True, max_items=4096, handler=C.z),
    Spec("/ganplug/z/N", (Arg("value", "f", -10.0, 10.0),), "set component N of the latent, starting from the current one", indexed=True, handler=C.z_component),
    Spec("/ganplug/direction/N", (Arg("amount", "f", -10.0, 10.0),), "move along semantic direction N of the model (0 = principal), in standard deviations", indexed=True, handler=C.direction),
    Spec("/ganplug/next", (), "jump to the next keyframe (hold: next seed; loop, noise, random: a quarter period on), blended", handler=C.next_keyframe),
    Spec("/ganplug/beat", (), "tap tempo: taps set bpm and put the beat on the tap", handler=C.beat),
    Spec("/ganplug/midi/learn", (Arg("address", "s"),), "bind the MIDI control moved last to ADDRESS (saved to the --midi-map file)", handler=C.midi_learn),
    Spec("/ganplug/snapshot", (), "save the current frame as PNG in the snapshot folder (arguments ignored)", handler=C.snapshot),
    Spec("/ganplug/ping", (Arg("token", "i", -2**31, 2**31 - 1),), "answered by /ganplug/pong with the same token, to the sender", handler=C.ping),
    Spec("/ganplug/preset/save", (Arg("name", "s"),), "save the performance state as NAME.json in the preset folder", handler=C.preset_save),
    Spec("/ganplug/preset/load", (Arg("name", "s"),), "load a preset; changes blend over the blend time", handler=C.preset_load),
    Spec("/ganplug/subscribe", (Arg("host", "s"), Arg("port", "i", 1, 65535)), "add a UDP frame destination", handler=C.subscribe),
    Spec("/ganplug/unsubscribe", (Arg("host", "s"), Arg("port", "i", 1, 65535)), "remove a frame destination", handler=C.unsubscribe),
    Spec("/ganplug/latent", (), "ask for the current latent: answered by /ganplug/latent f… to the sender", handler=C.latent),
    Spec("/ganplug/state", (), "ask for the state now: answered by /ganplug/state to the sender", handler=C.state),
    # --- sent by the server
    FRAME,
    IMAGE,
    STATE,
    MODEL,
    ERROR,
    Spec("/ganplug/pong", (Arg("token", "i"),), "answer to /ganplug/ping", "out"),
    Spec("/ganplug/latent", (Arg("values", "f"),), "the current latent, z_dim floats", "out", variadic=True),
    Spec("/ganplug/audio/level", (Arg("level", "f", 0.0, 1.0),), "audio level of the --audio input, every frame", "out"),
    Spec("/ganplug/audio/bass", (Arg("bass", "f", 0.0, 1.0),), "bass band (20-250 Hz) against its recent peak, every frame", "out"),
    Spec("/ganplug/audio/mid", (Arg("mid", "f", 0.0, 1.0),), "mid band (250-4000 Hz), every frame", "out"),
    Spec("/ganplug/audio/high", (Arg("high", "f", 0.0, 1.0),), "high band (4000 Hz up), every frame", "out"),
    Spec("/ganplug/audio/onset", (Arg("strength", "f", 0.0, 1.0),), "an onset (a hit) was heard; sent with the first frame after it", "out"),
)


INBOUND = {s.address: s for s in ADDRESSES if s.kind != "out"}
OUTBOUND = {s.address: s for s in ADDRESSES if s.kind == "out"}
PARAMS = {s.name: s for s in ADDRESSES if s.kind == "param"}
REPLIES = {s.name: s for s in ADDRESSES if s.kind == "out"}  # outbound entries by name: "pong", "latent", ...


def check_table(entries: tuple[Spec, ...]) -> None:
    """Every param has a getter and a setter, every command a handler, nothing sent has either (TypeError)."""
    for s in entries:
        if not s.address.startswith(PREFIX + "/"):
            raise TypeError(f"{s.address}: every address starts with {PREFIX}/")
        bound = {"param": (s.apply, s.capture), "command": (s.handler,), "out": ()}.get(s.kind)
        if bound is None:
            raise TypeError(f"{s.address}: kind must be param, command or out, not {s.kind!r}")
        if not all(callable(f) for f in bound):
            raise TypeError(f"{s.address}: a {s.kind} entry needs " + ("apply and capture" if s.kind == "param" else "a handler"))
        if s.kind == "out" and (s.apply or s.capture or s.handler):
            raise TypeError(f"{s.address}: an outbound entry has no handler")
        if s.indexed != s.address.endswith("/N"):
            raise TypeError(f"{s.address}: indexed addresses, and only they, end in /N")
    if FRAME.types != FRAME_TYPES:
        raise TypeError(f"{FRAME.address}: the table says {FRAME.types}, osc.frames encodes {FRAME_TYPES}")
    if IMAGE.types != IMAGE_TYPES:
        raise TypeError(f"{IMAGE.address}: the table says {IMAGE.types}, osc.frames encodes {IMAGE_TYPES}")


check_table(ADDRESSES)


def defaults() -> dict[str, Any]:
    """The performance state every server starts from (before command-line overrides)."""
    return {name: s.default for name, s in PARAMS.items()}


def preset_order() -> list[Spec]:
    """The params in the order a preset applies them: timing first, then what the walk shows, so it blends."""
    return sorted(PARAMS.values(), key=lambda s: s.order)


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
