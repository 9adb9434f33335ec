"""The show: the performance state, applied, captured, saved, loaded and reported through the table.

One :class:`Show` lives on the render thread. Control reaches it only through its
:class:`~ganplug.show.inbox.Inbox`; :meth:`Show.before_frame` applies what is queued (within
a time budget) and the instrument's tempo and audio; replies leave through the
:class:`~ganplug.show.reply.Replies` queue and files through the :class:`~ganplug.show.worker.Worker`.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .. import contract
from ..errors import ConfigError
from ..instrument.config import InstrumentConfig
from ..instrument.live import Instrument, Mappings, parse_mappings
from ..logs import LogThrottle
from ..osc.frames import FRAME_ID_MODULO
from ..runtime.walk import Walker, WalkParams, period_seconds
from .choice import ModelChoice
from .inbox import APPLY_BUDGET, Event, Inbox
from .reply import Replies
from .table import INBOUND, MODEL, PARAMS, STATE, BadMessage, Spec, check, defaults, lookup, preset_order
from .worker import Worker

IDLE_SLICE = 0.05  # longest single wait for control while idle (the stop flag is checked between)

log = logging.getLogger("ganplug.serve")


class Subscriptions(Protocol):
    """Where /ganplug/subscribe and /ganplug/unsubscribe go (``runtime.subscriptions``); both raise BadMessage."""

    def subscribe(self, host: str, port: int, source: str) -> None: ...
    def unsubscribe(self, host: str, port: int, source: str) -> None: ...


@dataclass(frozen=True)
class Folders:
    presets: str = "presets"
    snapshots: str = "snapshots"


@dataclass(frozen=True)
class Preset:
    """A preset read and checked in full on the worker thread, ready to apply between frames."""

    params: tuple[tuple[Spec, Any], ...]
    latent: tuple[float, ...] | None
    directions: np.ndarray | None
    mappings: Mappings | None
    notes: tuple[str, ...] = ()  # what the preset asked for that cannot be had here (a model not in the folder)


def initial_state(initial: tuple[tuple[str, Any], ...] = ()) -> dict[str, Any]:
    """The table's defaults with ``(name, value)`` overrides, each checked by the table."""
    state = defaults()
    for name, value in initial:
        spec = PARAMS[name]
        values, _ = check(spec, value if isinstance(value, tuple) else (value,))
        state[name] = spec.value(values)
    return state


def walk_params(state: dict[str, Any]) -> WalkParams:
    """The walk a state (the table's names, as :func:`initial_state` returns) describes."""
    return WalkParams(mode=state["walk"], seed=state["seed"], keyframes=tuple(state["keyframes"]),
                      period=period_seconds(float(state["period"]), float(state["bpm"])), easing=state["easing"])


def _args(raw: Any) -> tuple:
    return tuple(raw) if isinstance(raw, list) else (raw,)


class Show:
    """The performance state (walker, truncation, fps, period, bpm, sync, direction amounts, latent, models).

    ``models`` are the names playable besides the first model's own (its file name without ``.onnx``)."""

    def __init__(self, info: contract.ModelInfo, inbox: Inbox, subscriptions: Subscriptions, folders: Folders = Folders(),
                 initial: tuple[tuple[str, Any], ...] = (), instrument: InstrumentConfig = InstrumentConfig(),
                 models: tuple[str, ...] = ()):
        self.z_dim, self.inbox, self.subscriptions, self.folders = info.z_dim, inbox, subscriptions, folders
        state = initial_state(initial)
        try:
            self.models = ModelChoice(models, model_name(info.path), state["model_b"], state["model_mix"])
            if state["model_load"]:
                self.models.choose("a", state["model_load"])
        except BadMessage as e:
            raise ConfigError(str(e)) from None
        self.period, self.bpm = float(state["period"]), float(state["bpm"])
        self.walker = Walker(self.z_dim, walk_params(state), speed=state["speed"], blend=state["blend"], paused=bool(state["pause"]))
        self.truncation, self.fps = float(state["truncation"]), float(state["fps"])
        self.c_dim, self.class_index = info.c_dim, 0
        self._start_with(state)
        self.sync = bool(state["sync"]) or instrument.link
        self.directions = contract.directions(info)  # [K, z_dim] or None
        self.direction_amounts = np.zeros(0 if self.directions is None else len(self.directions))
        self.instrument = Instrument(instrument, self.bpm, inbox)
        if instrument.link:
            self.bpm = self.instrument.clock.bpm
            self.retime()
        self.replies, self.io = Replies(), Worker()
        self.next_frame, self.measured_fps, self.bad_messages = 0, 0.0, 0
        self.last_frame: tuple[int, np.ndarray] | None = None
        self._last_step: float | None = None
        self._warn = LogThrottle(log)

    def _start_with(self, state: dict[str, Any]) -> None:
        """Params whose range depends on the model, checked against it (a bad flag is one line)."""
        for spec in PARAMS.values():
            if spec.validate is not None:
                try:
                    spec.validate(self, state[spec.name])
                except BadMessage as e:
                    raise ConfigError(f"--{spec.name}: {e}") from None
                spec.apply(self, state[spec.name])

    # ------------------------------------------------------------------ state through the table

    def apply(self, name: str, args: tuple) -> None:
        """Check ``args`` against param ``name``'s entry and apply them (clamping silently)."""
        spec = PARAMS[name]
        values, _ = check(spec, args)
        spec.apply(self, spec.value(values))

    def capture(self) -> dict[str, Any]:
        """The state a preset saves: every param of the table, plus latent, directions and mappings."""
        state = {name: _jsonable(spec.capture(self)) for name, spec in PARAMS.items()}
        if self.walker.params.latent is not None:
            state["latent"] = list(self.walker.params.latent)
        if len(self.direction_amounts):
            state["directions"] = self.direction_amounts.tolist()
        state["mappings"] = self.instrument.mappings()
        return state

    def retime(self) -> None:
        """The walk's period in seconds after a change of period or bpm (no jump)."""
        self.walker.set_period(period_seconds(self.period, self.bpm))

    def adopt(self, info: contract.ModelInfo) -> None:
        """The playing model changed (render thread): walk its z space from the same walk time and seeds;
        its own directions replace the old model's (amounts back to 0)."""
        self.z_dim, self.c_dim = info.z_dim, info.c_dim
        if self.class_index >= max(self.c_dim, 1):
            self.class_index = 0  # the new model has no such class
        self.walker.resize(info.z_dim)
        self.directions = contract.directions(info)
        self.direction_amounts = np.zeros(0 if self.directions is None else len(self.directions))
        self.walker.set(cut=True, offset=())

    def model_message(self, playing: tuple[str, str]) -> bytes:
        """/ganplug/model: the models on screen (``playing``: A's and B's names, B "" for none) and the mix."""
        return MODEL.message(playing[0], playing[1], self.models.mix if playing[1] else 0.0)

    def set_directions(self, amounts: np.ndarray, cut: bool) -> None:
        self.direction_amounts = amounts
        offset = tuple((amounts @ self.directions).tolist()) if amounts.any() else ()
        self.walker.set(cut=cut, offset=offset)

    @property
    def walk_time(self) -> float:
        return self.walker.time

    @property
    def newest_frame(self) -> int:
        return max(self.next_frame - 1, 0)

    def state_message(self) -> bytes:
        """/ganplug/state, typed by the table."""
        p, w = self.walker.params, self.walker
        return STATE.message(self.newest_frame % FRAME_ID_MODULO, p.seed, p.mode, w.speed, self.truncation, self.fps,
                             int(w.paused), self.measured_fps, w.time)

    # ------------------------------------------------------------------ control

    def handle(self, ev: Event) -> None:
        """Apply one control event through its table entry; problems go back to the sender as errors."""
        try:
            spec, index = lookup(ev.address)
            values, notes = check(spec, ev.args, max_items=self.z_dim if spec.name == "z" else None)
            if spec.kind == "param":
                if spec.validate is not None:
                    spec.validate(self, spec.value(values))
                spec.apply(self, spec.value(values))
            else:
                spec.handler(self, values, index, ev)
            for n in notes:
                self.replies.error(ev, f"{ev.address}: {n}")
        except BadMessage as e:
            self.bad_messages += 1
            # Keyed by kind: endless distinct bad addresses are a few lines, not one each.
            self._warn(f"{ev.source}: {e}", key="bad:" + (ev.address if ev.address in INBOUND else "unknown-address"))
            self.replies.error(ev, str(e))
        except Exception as e:  # a bug must not stop the show: report it and keep streaming
            log.debug("handling %s failed", ev.address, exc_info=True)
            self._warn(f"{ev.source}: {ev.address[:60]} failed: {type(e).__name__}: {e}", key="internal:" + type(e).__name__)
            self.replies.error(ev, f"{ev.address[:60]}: internal error ({type(e).__name__})")

    def before_frame(self, now: float, budget: float = APPLY_BUDGET) -> None:
        """Between frames, on the render thread: tempo from Link, mapped audio, queued control, the phase lock."""
        inst = self.instrument
        if inst.config.link and abs(inst.clock.bpm - self.bpm) > 1e-3:
            self.bpm = inst.clock.bpm
            self.retime()
        inst.push_audio()
        for item in self.inbox.take(budget):
            item() if callable(item) else self.handle(item)
        dt = now - self._last_step if self._last_step is not None else 0.0
        self._last_step = now
        w = self.walker
        if self.sync and self.bpm > 0 and not w.paused and w.speed and dt > 0:
            w.shift(inst.phase_step(w.time / w.params.period, w.speed, self.period, now, dt))

    def control_until(self, deadline: float, stop: threading.Event) -> None:
        """While the render thread waits to start its next frame: apply control as it arrives, until
        ``deadline`` (time.monotonic) or ``stop``. A flood then costs idle time, not frames, and the
        queue drains at the speed of the handlers, not at a few milliseconds a frame."""
        while not stop.is_set() and (left := deadline - time.monotonic()) > 0:
            item = self.inbox.wait(min(left, IDLE_SLICE))
            if item is not None:
                item() if callable(item) else self.handle(item)

    def published(self, frame_id: int, pixels: np.ndarray, measured_fps: float) -> None:
        """The frame the server just sent: snapshots take it, /ganplug/state reports it."""
        self.last_frame, self.next_frame, self.measured_fps = (frame_id, pixels), frame_id + 1, measured_fps

    # ------------------------------------------------------------------ presets

    def check_preset(self, data: dict[str, Any], name: str) -> Preset:
        """Every field of a preset checked against the table (any thread); one bad field is a BadMessage."""
        try:
            params = tuple((s, s.value(check(s, _args(data[s.name]))[0])) for s in preset_order() if s.name in data)
            for spec, value in params:
                if spec.validate is not None:
                    spec.validate(self, value)
            latent = None
            if data.get("latent") is not None:
                if not isinstance(data["latent"], list) or len(data["latent"]) != self.z_dim:
                    raise BadMessage(f"latent must be a list of {self.z_dim} numbers")
                latent = tuple(float(v) for v in check(INBOUND["/ganplug/z"], tuple(data["latent"]))[0])
            directions = None
            if self.directions is not None:
                raw = data.get("directions") or []
                if not isinstance(raw, list):
                    raise BadMessage("directions must be a list of numbers")
                directions = np.zeros(len(self.directions))
                for i, v in enumerate(raw[:len(directions)]):
                    directions[i] = check(INBOUND["/ganplug/direction/N"], (v,))[0][0]
            mappings = parse_mappings(data["mappings"]) if isinstance(data.get("mappings"), dict) else None
        except (BadMessage, ConfigError) as e:
            raise BadMessage(f"preset {name!r}: {e}") from None
        # A preset from another set names models this folder lacks: the rest still applies, the models stay.
        lost = [(s, v) for s, v in params if s.name in MODEL_PARAMS and not self.models.playable(v, "b" if s.name == "model_b" else "a")]
        notes = tuple(f"preset {name!r}: no model named {v[:40]!r} here; {s.address} left as it is" for s, v in lost)
        params = tuple(p for p in params if p not in lost)
        return Preset(params, latent, directions, mappings, notes)

    def apply_preset(self, preset: Preset) -> None:
        """Apply a checked preset (render thread); changes blend over the blend time."""
        for spec, value in preset.params:
            spec.apply(self, value)
        if preset.latent is not None:
            self.walker.set(latent=preset.latent)
        if preset.directions is not None:
            self.set_directions(preset.directions, cut=False)
        if preset.mappings is not None:
            self.instrument.set_mappings(preset.mappings)

    def close(self) -> None:
        """Finish queued file work and replies; close the instrument's inputs."""
        self.instrument.close()
        self.io.close()
        self.replies.close()


MODEL_PARAMS = ("model_load", "model_b")  # params whose value must name a playable model


def model_name(path: str) -> str:
    """A model's name in a show: its file name without ``.onnx``."""
    name = Path(path).name
    return name[:-5] if name.endswith(".onnx") else Path(path).stem


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value
