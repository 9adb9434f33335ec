"""The live server: walk, infer, pace, send; steered over OSC.

Three threads, each with one job:

- control (``osc.control``): reads UDP/TCP and queues events, nothing more;
- render (the caller's thread): applies events, runs the engine, and publishes
  each frame at its deadline (a deadline clock, not fixed sleeps);
- sender: chunks the newest published frame and writes it to every destination.

The render loop computes a frame just before its deadline, so a control change
reaches the screen within about one engine time; while it computes, the sender
is still writing the previous frame (a two-stage pipeline). If the sender falls
behind, the newest frame replaces an unsent one: latency never grows.
"""

from __future__ import annotations

import gc
import json
import logging
import queue
import re
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .. import contract
from ..addr import host_port, networks, numeric_host
from ..errors import ConfigError, EngineError
from ..osc import addresses as A
from ..osc.control import ControlListener, Event, RateLimitedLog
from ..osc.frames import DEFAULT_MAX_DATAGRAM, FRAME_ID_MODULO, HEADER_BYTES, encode_frame, max_payload
from ..osc.send import OnceLog, UdpDestination, make_destination, message
from ..instrument.live import Instrument, InstrumentConfig
from .engine import Engine
from .walk import Walker, WalkParams, period_seconds

log = logging.getLogger("ganplug.serve")

MAX_DESTINATIONS = 16
LEAD_QUANTILE, LEAD_MARGIN = 95, 0.0005  # start a frame this far (in recent engine times) before its deadline
MAX_ENGINE_FAILURES = 100  # consecutive failed runs before giving up
PRESET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class ServeConfig:
    sends: tuple[str, ...] = ("127.0.0.1:9001",)
    listen: str = "127.0.0.1:9000"
    tcp_control: bool = True
    allow: tuple[str, ...] = ()
    max_datagram: int = DEFAULT_MAX_DATAGRAM
    snapshots: str = "snapshots"
    presets: str = "presets"
    state_hz: float = 5.0
    seconds: float | None = None  # stop after this long; None = until Ctrl-C
    status_every: float = 10.0
    initial: tuple[tuple[str, Any], ...] = field(default_factory=tuple)  # (param name, value) over the table defaults
    instrument: InstrumentConfig = InstrumentConfig()  # tempo, audio and MIDI


def _no_reply(packet: bytes) -> None:
    """Reply sink for messages that come from inside (audio, MIDI): errors are logged instead."""


class _Outbox:
    """Render -> sender hand-off: one frame slot (newest wins) plus a queue of other packets/ops."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.frame: tuple[int, np.ndarray] | None = None
        self.items: deque = deque()
        self.replaced = 0
        self.closed = False

    def put_frame(self, frame_id: int, pixels: np.ndarray) -> None:
        with self.cond:
            if self.frame is not None:
                self.replaced += 1
            self.frame = (frame_id, pixels)
            self.cond.notify()

    def put(self, item: tuple) -> None:
        with self.cond:
            self.items.append(item)
            self.cond.notify()

    def take(self, timeout: float) -> tuple[list, tuple[int, np.ndarray] | None]:
        with self.cond:
            if self.frame is None and not self.items and not self.closed:
                self.cond.wait(timeout)
            items, frame = list(self.items), self.frame
            self.items.clear()
            self.frame = None
            return items, frame


class Server:
    """A running show. ``run()`` blocks until ``stop()``, Ctrl-C or ``config.seconds``."""

    def __init__(self, engine: Engine, config: ServeConfig = ServeConfig()):
        self.engine, self.config = engine, config
        self.info = engine.info
        max_payload(config.max_datagram)  # fail early on a datagram size that cannot work
        state = A.defaults()
        for name, value in config.initial:
            spec = A.PARAMS[name]
            values, _ = A.check(spec, value if isinstance(value, tuple) else (value,))
            state[name] = values if spec.variadic else values[0]
        self.period, self.bpm = float(state["period"]), float(state["bpm"])
        params = WalkParams(mode=state["walk"], seed=state["seed"], keyframes=tuple(state["keyframes"]),
                            period=period_seconds(self.period, self.bpm), easing=state["easing"])
        self.walker = Walker(self.info.z_dim, params, speed=state["speed"], blend=state["blend"], paused=bool(state["pause"]))
        self.truncation = float(state["truncation"])
        self.fps = float(state["fps"])
        self.sync = bool(state["sync"]) or config.instrument.link
        self.directions = contract.directions(self.info)  # [K, z_dim] or None
        self.direction_amounts = np.zeros(0 if self.directions is None else len(self.directions))

        self.send_errors = OnceLog(logging.getLogger("ganplug.send"))
        self.warn = RateLimitedLog(log)
        self.destinations: list = [make_destination(s, self.send_errors) for s in config.sends]
        host, port = host_port(config.listen)
        self.listener = ControlListener(host, port, networks(list(config.allow)), tcp=config.tcp_control)
        try:
            self.instrument = Instrument(config.instrument, self.bpm, self._queue_local)
        except BaseException:
            self.listener.close()
            raise
        if config.instrument.link:
            self.bpm = self.instrument.clock.bpm
            self.walker.set_period(period_seconds(self.period, self.bpm))
        self.outbox = _Outbox()
        self.io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ganplug-io")
        self._stop = threading.Event()
        self._sender = threading.Thread(target=self._send_loop, name="ganplug-sender", daemon=True)

        self.frame_id = 0
        self.published = 0
        self.last_frame: tuple[int, np.ndarray] | None = None
        # Called on the render thread with (frame id, pixels) for every published frame; each must
        # return at once (the web surface stores a reference and wakes its own thread).
        self.frame_listeners: list[Callable[[int, np.ndarray], None]] = []
        self.measured_fps = 0.0
        self.engine_time = 0.0  # moving average, for the status line
        self.engine_times: deque[float] = deque(maxlen=120)  # the last two seconds or so, for the lead
        self.lead = 0.0
        self.intervals: deque[float] = deque(maxlen=3600)  # seconds between the last published frames
        self.max_gap = 0.0  # the largest of them all, for the closing summary
        self.history: deque[tuple[int, float]] = deque(maxlen=4096)  # (frame id, walk time) of recent frames
        self.bad_messages = 0
        self._last_step: float | None = None

    # ------------------------------------------------------------------ control

    def performance_state(self) -> dict[str, Any]:
        """The state a preset captures, keyed by the address table's parameter names."""
        p, w = self.walker.params, self.walker
        state = {"seed": p.seed, "keyframes": list(p.keyframes), "walk": p.mode, "speed": w.speed, "period": self.period, "bpm": self.bpm,
                 "easing": p.easing, "blend": w.blend, "truncation": self.truncation, "pause": int(w.paused), "fps": self.fps}
        state["sync"] = int(self.sync)
        if p.latent is not None:
            state["latent"] = list(p.latent)
        if len(self.direction_amounts):
            state["directions"] = self.direction_amounts.tolist()
        state["mappings"] = self.instrument.mappings()
        return state

    def _queue_local(self, address: str, args: tuple, source: str) -> None:
        """Messages from MIDI (another thread): into the control queue, like OSC."""
        try:
            self.listener.events.put_nowait(Event(address, args, source, _no_reply))
        except queue.Full:
            self.warn("local-flood", f"control queue full: dropping {source} messages")

    def state_message(self) -> bytes:
        p = self.walker.params
        return message("/ganplug/state", "iisfffiff", max(self.frame_id - 1, 0) % FRAME_ID_MODULO, p.seed, p.mode, self.walker.speed,
                       self.truncation, self.fps, int(self.walker.paused), self.measured_fps, self.walker.time)

    def _apply_param(self, name: str, values: tuple) -> None:
        v = values[0] if values else None
        w = self.walker
        if name == "seed":
            w.set(restart=True, seed=v, latent=None)
        elif name == "keyframes":
            w.set(restart=True, keyframes=tuple(values), latent=None)
        elif name == "walk":
            w.set(mode=v, latent=None)
        elif name == "speed":
            w.speed = v
        elif name in ("period", "bpm"):
            setattr(self, name, v)
            if name == "bpm" and v > 0 and abs(self.instrument.clock.bpm - v) > 1e-6:
                self.instrument.clock.set_bpm(v)
            w.set_period(period_seconds(self.period, self.bpm))
        elif name == "easing":
            w.set(easing=v)
        elif name == "blend":
            w.blend = v
        elif name == "truncation":
            self.truncation = v
        elif name == "pause":
            w.paused = bool(v)
        elif name == "fps":
            self.fps = v
        elif name == "sync":
            self.sync = bool(v)

    def handle(self, ev: Event) -> None:
        """Apply one control event; problems go back to the sender as /ganplug/error."""
        try:
            spec, index = A.lookup(ev.address)
            values, notes = A.check(spec, ev.args, max_items=self.info.z_dim if spec.name == "z" else None)
            if spec.kind == "param":
                self._apply_param(spec.name, values)
            else:
                getattr(self, "_on_" + spec.name)(values, index, ev)
            for n in notes:
                ev.reply(message("/ganplug/error", "s", f"{ev.address}: {n}"))
        except A.BadMessage as e:
            self.bad_messages += 1
            text = str(e)
            self.warn(text[:40], f"{ev.source}: {text}")
            ev.reply(message("/ganplug/error", "s", text))
        except Exception as e:  # a bug must not stop the show: report it and keep streaming
            log.debug("handling %s failed", ev.address, exc_info=True)
            self.warn("internal:" + type(e).__name__, f"{ev.source}: {ev.address[:60]} failed: {type(e).__name__}: {e}")
            ev.reply(message("/ganplug/error", "s", f"{ev.address[:60]}: internal error ({type(e).__name__})"))

    def _on_z(self, values: tuple, index: int | None, ev: Event) -> None:
        if len(values) != self.info.z_dim:
            raise A.BadMessage(f"/ganplug/z takes {self.info.z_dim} floats for this model, got {len(values)}")
        self.walker.set(latent=tuple(float(v) for v in values))

    def _on_z_N(self, values: tuple, index: int | None, ev: Event) -> None:
        if index is None or index >= self.info.z_dim:
            raise A.BadMessage(f"latent index {index} is outside 0..{self.info.z_dim - 1}")
        z = self.walker.latent().astype(np.float64)
        z[index] = values[0]
        self.walker.set(cut=True, latent=tuple(z.tolist()))

    def _on_direction_N(self, values: tuple, index: int | None, ev: Event) -> None:
        if self.directions is None:
            raise A.BadMessage("this model carries no semantic directions (export it again with ganplug export)")
        if index is None or index >= len(self.directions):
            raise A.BadMessage(f"direction {index} is outside 0..{len(self.directions) - 1}")
        amounts = self.direction_amounts.copy()
        amounts[index] = values[0]
        self._set_directions(amounts, cut=True)

    def _set_directions(self, amounts: np.ndarray, cut: bool) -> None:
        self.direction_amounts = amounts
        offset = tuple((amounts @ self.directions).tolist()) if amounts.any() else ()
        self.walker.set(cut=cut, offset=offset)

    def _on_next(self, values: tuple, index: int | None, ev: Event) -> None:
        self.walker.next_keyframe()

    def _on_beat(self, values: tuple, index: int | None, ev: Event) -> None:
        bpm = self.instrument.tap_tempo(time.monotonic())
        if bpm is not None:
            vals, _ = A.check(A.PARAMS["bpm"], (bpm,))
            self._apply_param("bpm", vals)

    def _on_midi_learn(self, values: tuple, index: int | None, ev: Event) -> None:
        source = self.instrument.midi.last_source
        if source is None:
            raise A.BadMessage("midi/learn: move a MIDI control first, then send the address")
        try:
            b = self.instrument.midi.map.learn(source, values[0])
        except ConfigError as e:
            raise A.BadMessage(str(e)) from None
        log.info("MIDI %s now drives %s", b.source, b.address)

    def _on_snapshot(self, values: tuple, index: int | None, ev: Event) -> None:
        if self.last_frame is None:
            raise A.BadMessage("no frame yet to snapshot")
        fid, pixels = self.last_frame
        folder = Path(self.config.snapshots)
        name = f"snapshot-{time.strftime('%Y%m%d-%H%M%S')}-{fid:08d}.png"
        self.io.submit(self._write_png, folder, name, pixels, ev)

    def _write_png(self, folder: Path, name: str, pixels: np.ndarray, ev: Event) -> None:
        from PIL import Image

        try:
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels).save(folder / name)
            log.info("snapshot saved to %s", folder / name)
        except OSError as e:
            self.warn("snapshot", f"cannot save snapshot in {folder}: {e.strerror or e}")
            ev.reply(message("/ganplug/error", "s", f"snapshot failed: {e.strerror or e}"))

    def _on_ping(self, values: tuple, index: int | None, ev: Event) -> None:
        ev.reply(message("/ganplug/pong", "i", values[0]))

    def _preset_path(self, name: str) -> Path:
        if not PRESET_NAME.match(name) or ".." in name:
            raise A.BadMessage(f"preset name {name[:40]!r}: use letters, digits, '_', '-' and '.' (up to 64)")
        folder = Path(self.config.presets).resolve()
        path = (folder / f"{name}.json").resolve()
        if path.parent != folder:
            raise A.BadMessage(f"preset name {name[:40]!r} leaves the preset folder")
        return path

    def _on_preset_save(self, values: tuple, index: int | None, ev: Event) -> None:
        path = self._preset_path(values[0])
        state = self.performance_state()

        def write() -> None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(".json.tmp")
                tmp.write_text(json.dumps(state, indent=2) + "\n")
                tmp.replace(path)
                log.info("preset saved to %s", path)
            except OSError as e:
                ev.reply(message("/ganplug/error", "s", f"preset save failed: {e.strerror or e}"))
        self.io.submit(write)

    def _on_preset_load(self, values: tuple, index: int | None, ev: Event) -> None:
        path = self._preset_path(values[0])
        try:
            data = json.loads(path.read_text())
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
        except FileNotFoundError:
            raise A.BadMessage(f"no preset named {values[0]!r}") from None
        except (OSError, ValueError) as e:
            raise A.BadMessage(f"preset {values[0]!r} is unreadable: {e}") from None
        # Order matters: timing first, then what the walk shows, so the change blends.
        for name in ("blend", "speed", "fps", "truncation", "easing", "bpm", "period", "pause", "walk", "keyframes", "seed"):
            if name in data:
                raw = data[name]
                spec = A.PARAMS[name]
                vals, _ = A.check(spec, tuple(raw) if isinstance(raw, list) else (raw,))
                self._apply_param(name, vals)
        if "sync" in data:
            vals, _ = A.check(A.PARAMS["sync"], (data["sync"],))
            self._apply_param("sync", vals)
        if data.get("latent") is not None:
            vals, _ = A.check(A.INBOUND["/ganplug/z"], tuple(data["latent"]), max_items=self.info.z_dim)
            self._on_z(vals, None, ev)
        if self.directions is not None:
            raw = data.get("directions") or []
            spec = A.INBOUND["/ganplug/direction/N"]
            amounts = np.zeros(len(self.directions))
            for i, v in enumerate(raw[:len(amounts)]):
                amounts[i] = A.check(spec, (v,))[0][0]
            self._set_directions(amounts, cut=False)
        if isinstance(data.get("mappings"), dict):
            try:
                self.instrument.set_mappings(data["mappings"])
            except ConfigError as e:
                raise A.BadMessage(f"preset {values[0]!r}: {e}") from None

    def _on_subscribe(self, values: tuple, index: int | None, ev: Event) -> None:
        try:
            host = numeric_host(values[0])
        except ConfigError as e:
            raise A.BadMessage(f"subscribe: {e}") from None
        if any(d.transport == "udp" and (d.host, d.port) == (host, values[1]) for d in self.destinations):
            return
        if len(self.destinations) >= MAX_DESTINATIONS:
            raise A.BadMessage(f"subscribe: already {MAX_DESTINATIONS} destinations")
        dest = UdpDestination(host, values[1], self.send_errors)
        self.destinations = self.destinations + [dest]
        self.outbox.put(("add", dest))
        log.info("%s subscribed %s", ev.source, dest)

    def _on_unsubscribe(self, values: tuple, index: int | None, ev: Event) -> None:
        try:
            host = numeric_host(values[0])
        except ConfigError as e:
            raise A.BadMessage(f"unsubscribe: {e}") from None
        gone = [d for d in self.destinations if (d.host, d.port) == (host, values[1])]
        if not gone:
            raise A.BadMessage(f"unsubscribe: {host}:{values[1]} is not a destination")
        self.destinations = [d for d in self.destinations if d not in gone]
        for d in gone:
            self.outbox.put(("remove", d))
        log.info("%s unsubscribed %s:%d", ev.source, host, values[1])

    def _on_latent(self, values: tuple, index: int | None, ev: Event) -> None:
        z = self.walker.latent()
        ev.reply(message("/ganplug/latent", "f" * len(z), *z.tolist()))

    def _on_state(self, values: tuple, index: int | None, ev: Event) -> None:
        ev.reply(self.state_message())

    # ------------------------------------------------------------------ sender thread

    def _send_loop(self) -> None:
        dests = list(self.destinations)
        while not self._stop.is_set():
            try:
                self._send_once(dests)
            except Exception as e:  # never let the sender die: the next frame may go through
                log.debug("sender", exc_info=True)
                self.warn("sender:" + type(e).__name__, f"sender: {type(e).__name__}: {e}")
        for d in dests:
            d.close()

    def _send_once(self, dests: list) -> None:
        """Hand queued messages and the newest frame to every destination."""
        items, frame = self.outbox.take(0.05)
        for item in items:
            if item[0] == "add":
                dests.append(item[1])
            elif item[0] == "remove":
                if item[1] in dests:
                    dests.remove(item[1])
                item[1].close()
            elif item[0] == "msg":
                for d in dests:
                    d.send([item[1]])
        if frame is not None:
            encoded: dict[str, list[bytes]] = {}
            for d in dests:
                if d.transport not in encoded:
                    # TCP has no datagram limit: one message per frame (chunk count 1).
                    limit = self.config.max_datagram if d.transport == "udp" else frame[1].nbytes + HEADER_BYTES + 4
                    encoded[d.transport] = encode_frame(frame[0], frame[1], limit)
                d.send(encoded[d.transport])
        for d in dests:
            if d.transport == "tcp":
                d.flush()

    # ------------------------------------------------------------------ render loop

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        """Serve until stopped. Never raises on network trouble."""
        self.engine.warm_up()
        t0 = time.perf_counter()
        self.engine.run(self.walker.latent()[None], self.truncation)
        self.engine_time = time.perf_counter() - t0
        self.lead = 1.5 * self.engine_time + LEAD_MARGIN
        # Everything allocated so far (modules, the session, buffers) lives for the whole show:
        # keep it out of the cyclic collector, whose full passes would otherwise stall frames.
        gc.collect()
        gc.freeze()
        self.listener.start()
        self._sender.start()
        clock = time.monotonic
        start = clock()
        deadline = start
        last_pub: float | None = None
        next_state = start
        next_status = start + self.config.status_every if self.config.status_every > 0 else float("inf")
        end = start + self.config.seconds if self.config.seconds is not None else float("inf")
        failures = 0
        try:
            while not self._stop.is_set():
                period = 1.0 / self.fps if self.fps > 0 else 0.0
                if period:
                    deadline += period
                    now = clock()
                    if deadline < now:  # the engine cannot keep up: restart the clock, do not burst
                        deadline = now
                    # Start as late as possible so control changes show up with the least delay,
                    # with a small margin for an engine run slower than its average.
                    wake = deadline - self.lead
                    if wake > now:
                        self._stop.wait(wake - now)
                for ev in self.listener.drain():
                    self.handle(ev)
                self._instrument_step(clock())
                walk_time = self.walker.time
                t0 = time.perf_counter()
                try:
                    pixels = self.engine.run(self.walker.latent()[None], self.truncation)[0]
                    failures = 0
                except Exception as e:  # a passing failure costs a frame, not the show
                    failures += 1
                    self.warn("engine", f"engine run failed: {type(e).__name__}: {str(e)[:200]}")
                    if failures >= MAX_ENGINE_FAILURES:
                        raise EngineError(f"the model failed {failures} times in a row: {type(e).__name__}: {str(e)[:200]}") from None
                    self._stop.wait(period or 0.01)
                    continue
                dt_engine = time.perf_counter() - t0
                self.engine_time = dt_engine if self.engine_time == 0 else 0.9 * self.engine_time + 0.1 * dt_engine
                self.engine_times.append(dt_engine)
                if self.published % 10 == 0 or len(self.engine_times) < 10:
                    # Long enough for nearly every engine run, and no longer: a longer lead is control latency.
                    self.lead = float(np.percentile(self.engine_times, LEAD_QUANTILE)) + LEAD_MARGIN
                if period:
                    wait = deadline - clock()
                    if wait > 0:
                        self._stop.wait(wait)
                now = clock()
                self.outbox.put_frame(self.frame_id, pixels)
                self.last_frame = (self.frame_id, pixels)
                for listener in self.frame_listeners:
                    try:
                        listener(self.frame_id, pixels)
                    except Exception as e:  # an observer's bug must not stop the show
                        self.warn("listener:" + type(e).__name__, f"frame listener failed: {type(e).__name__}: {e}")
                self.history.append((self.frame_id, walk_time))
                self.frame_id += 1
                self.published += 1
                if last_pub is not None:
                    gap = now - last_pub
                    self.intervals.append(gap)
                    self.max_gap = max(self.max_gap, gap)
                    self.measured_fps = 1.0 / gap if self.measured_fps == 0 else 0.9 * self.measured_fps + 0.1 / max(gap, 1e-6)
                    # On schedule the walk moves exactly one period per frame, as in ``render``.
                    on_time = period and abs(gap - period) < 0.5 * period
                    self.walker.advance(period if on_time else gap)
                last_pub = now
                for msg in self.instrument.out_messages():
                    self.outbox.put(("msg", msg))
                if now >= next_state:
                    self.outbox.put(("msg", self.state_message()))
                    next_state = now + 1.0 / self.config.state_hz
                if now >= next_status:
                    self._status()
                    next_status = now + self.config.status_every
                if now >= end:
                    break
        finally:
            self._stop.set()
            with self.outbox.cond:
                self.outbox.closed = True
                self.outbox.cond.notify_all()
            self.listener.close()
            self.instrument.close()
            self._sender.join(timeout=2)
            self.io.shutdown(wait=True)

    def _instrument_step(self, now: float) -> None:
        """Tempo from Link, mapped audio, and the phase lock, once per frame before it is computed."""
        inst = self.instrument
        if self.config.instrument.link and abs(inst.clock.bpm - self.bpm) > 1e-3:
            self.bpm = inst.clock.bpm
            self.walker.set_period(period_seconds(self.period, self.bpm))
        for address, args in inst.audio_events():
            self.handle(Event(address, args, "audio", _no_reply))
        dt = now - self._last_step if self._last_step is not None else 0.0
        self._last_step = now
        w = self.walker
        if self.sync and self.bpm > 0 and not w.paused and w.speed and dt > 0:
            w.shift(inst.phase_step(w.time / w.params.period, w.speed, self.period, now, dt))

    def _status(self) -> None:
        log.info("frame %d, %.1f fps (target %s), engine %.1f ms, %d destination(s), %d frame(s) replaced before sending",
                 self.frame_id, self.measured_fps, f"{self.fps:g}" if self.fps else "max", self.engine_time * 1e3,
                 len(self.destinations), self.outbox.replaced)
