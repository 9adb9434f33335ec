"""The live server: pace, infer, publish.

Threads, each with one job:

- control (``osc.control``, the web surface, MIDI): put events into the show's inbox, nothing more;
- render (the caller's thread, :meth:`Server.run`): applies queued control through the
  :class:`~ganplug.show.show.Show`, runs the engine, and publishes each frame at its
  deadline (:mod:`.pacing`) to every sink;
- one per sink (:mod:`.sinks`): sends the newest frame it was handed, and messages;
- the show's file worker and reply queue (:mod:`ganplug.show`).

While the render thread computes a frame, the sinks are still sending the previous one (a
two-stage pipeline). A sink that falls behind has its unsent frame replaced by the newest:
latency never grows, and no sink delays another.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections import deque

import numpy as np

from ..addr import host_port, networks
from ..errors import EngineError
from ..logs import LogThrottle
from ..net import AllowList
from ..osc.control import ControlListener
from ..osc.frames import max_payload
from ..show.inbox import Inbox
from ..show.show import Folders, Show
from ..show.table import ERROR
from .config import ServeConfig
from .engine import Engine
from .fit import output_for
from .models import Models, model_library
from .pacing import Pacer
from .sinks import Sinks, transport_sinks
from .subscriptions import Subscriptions

log = logging.getLogger("ganplug.serve")

MAX_ENGINE_FAILURES = 100  # consecutive failed runs before giving up
class Server:
    """A running show. ``run()`` blocks until ``stop()``, Ctrl-C or ``config.seconds``.

    Public parts: ``show`` (the performance state), ``models`` (the models on screen, :mod:`.models`),
    ``inbox`` (control in), ``access`` (``--allow``), ``listener`` (OSC control), ``sinks`` (frames out),
    ``subscriptions`` (OSC destinations), ``pacer``.
    """

    def __init__(self, engine: Engine, config: ServeConfig = ServeConfig()):
        self.config = config
        max_payload(config.max_datagram)  # fail early on a datagram size that cannot work
        files = model_library(config.models, engine)
        output = output_for(engine.info.frame_shape, config.size, config.fit)
        self.inbox, self.sinks = Inbox(), Sinks()
        self.subscriptions = Subscriptions(self.sinks, config.frame_format)
        self.access = AllowList(networks(list(config.allow)))
        self._stop = threading.Event()
        self.pacer = Pacer(self._stop)
        self.frame_id = 0
        self.history: deque[tuple[int, float]] = deque(maxlen=4096)  # (frame id, walk time) of recent frames
        self._warn = LogThrottle(log)
        self._failures = 0
        try:
            for url in config.sends:
                self.subscriptions.add(url)
            for sink in transport_sinks(config):
                self.sinks.add(sink)
            host, port = host_port(config.listen)
            self.listener = ControlListener(host, port, self.inbox, self.access, tcp=config.tcp_control)
        except BaseException:
            self.sinks.close()
            raise
        try:
            self.show = Show(engine.info, self.inbox, self.subscriptions, Folders(config.presets, config.snapshots),
                             config.initial, config.instrument, models=tuple(files))
            self.models = Models(engine, self.show, files, output, lambda text: self.sinks.put_messages([ERROR.message(text)]))
        except BaseException:
            self.listener.close()
            self.sinks.close()
            raise

    @property
    def info(self):
        """The playing model's :class:`~ganplug.contract.ModelInfo`."""
        return self.models.info

    @property
    def published(self) -> int:
        return self.pacer.published

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        """Serve until stopped. Never raises on network trouble."""
        self.listener.start()  # control that arrives during warm-up waits in the inbox, stamped with its arrival
        try:
            self._warm_up()
            self._loop()
        finally:
            self._stop.set()
            self.listener.close()
            self.models.close()
            self.show.close()
            self.sinks.close()

    def _loop(self) -> None:
        start = time.monotonic()
        end = start + self.config.seconds if self.config.seconds is not None else float("inf")
        every = self.config.status_every
        next_state, next_status = start, start + every if every > 0 else float("inf")
        while not self._stop.is_set():
            now = self._frame()
            if now is None:
                continue
            if now >= next_state:
                self.sinks.put_messages([self.show.state_message(), self.show.model_message(self.models.playing)])
                next_state = now + 1.0 / self.config.state_hz
            if now >= next_status:
                self._status()
                next_status = now + every
            if now >= end:
                return

    def _warm_up(self) -> None:
        self.models.warm_up()
        t0 = time.perf_counter()
        self.models.render()
        self.pacer.calibrate(time.perf_counter() - t0)
        # Everything allocated so far (modules, the session, buffers) lives for the whole show:
        # keep it out of the cyclic collector, whose full passes would otherwise stall frames.
        gc.collect()
        gc.freeze()

    def _frame(self) -> float | None:
        """Pace, apply control, infer, publish one frame; returns when it went out (None: no frame)."""
        period = self.pacer.wait_to_compute(self.show.fps, lambda until: self.show.control_until(until, self._stop))
        self.show.before_frame(time.monotonic())
        self.models.before_frame()
        walk_time = self.show.walk_time
        pixels = self._infer(period)
        if pixels is None:
            return None
        now = self.pacer.wait_to_publish()
        fid = self.frame_id
        self.sinks.publish(fid, pixels, period)
        self.history.append((fid, walk_time))
        self.frame_id += 1
        dt = self.pacer.publishing(now)
        self.show.walker.advance(dt)
        self.models.advance(dt)
        self.show.published(fid, pixels, self.pacer.measured_fps)
        self.sinks.put_messages(self.show.instrument.out_messages())
        return now

    def _infer(self, period: float) -> np.ndarray | None:
        t0 = time.perf_counter()
        try:
            pixels = self.models.render()
        except Exception as e:  # a passing failure costs a frame, not the show
            self._failures += 1
            self._warn(f"engine run failed: {type(e).__name__}: {str(e)[:200]}", key="engine")
            if self._failures >= MAX_ENGINE_FAILURES:
                raise EngineError(f"the model failed {self._failures} times in a row: {type(e).__name__}: {str(e)[:200]}") from None
            self._stop.wait(period or 0.01)
            return None
        self._failures = 0
        self.pacer.computed(time.perf_counter() - t0)
        return pixels

    def _status(self) -> None:
        p, fps = self.pacer, self.show.fps
        log.info("frame %d, %.1f fps (target %s), engine %.1f ms, %d destination(s), %d frame(s) replaced before sending",
                 self.frame_id, p.measured_fps, f"{fps:g}" if fps else "max", p.engine_time * 1e3,
                 len(self.subscriptions.destinations), self.sinks.replaced)
