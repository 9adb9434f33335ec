"""Models during the show: a folder of models playable by name, loaded off the render thread,
cross-faded and mixed in pixels, every one fitted to the one output shape.

The show chooses by name (:class:`ganplug.show.choice.ModelChoice`, set through the table);
:class:`Models` follows the choice. A model not yet loaded is opened, warmed up and run once on
a worker thread (onnxruntime builds a session without the render thread waiting) while frames
keep coming from the models on screen; the finished load is handed to the render thread through
the inbox and switched in between two frames, then cross-faded in pixels over the blend time.

How the walks follow each other: there is one walk (the show's :class:`~ganplug.runtime.walk.Walker`).
Every model on screen — A, B, and the one fading out — takes the latent of that walk at the
same walk time in its own z space (``Walker.latent(z_dim)``): the same seeds, keyframes, mode,
period and blends, drawn with its own z_dim. A held latent (``/ganplug/z``) and direction
offsets belong to A's z space: a model with another z_dim walks the seeds without them.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from ..errors import ConfigError
from ..show.files import PRESET_NAME as MODEL_NAME  # model names follow the preset names' rule
from ..show.show import model_name
from .engine import Engine
from .fit import Fitter, Output, mix
from .walk import ease

if TYPE_CHECKING:
    from ..show.show import Show
    from .walk import Walker

log = logging.getLogger("ganplug.serve")

SPLIT_HALVES = (".mapping.onnx", ".synthesis.onnx")  # halves of a split export: not whole models
RELEASE_DELAY = 0.2  # seconds before the worker drops a model that left the screen


def model_files(folder: str | Path) -> dict[str, Path]:
    """The playable models of a folder by name (file name without ``.onnx``), split halves left out."""
    base = Path(folder)
    if not base.is_dir():
        raise ConfigError(f"--models {folder}: no such folder")
    found: dict[str, Path] = {}
    for path in sorted(base.glob("*.onnx")):
        name = model_name(str(path))
        if path.name.endswith(SPLIT_HALVES) or not path.is_file():
            continue
        if not MODEL_NAME.match(name):
            log.warning("--models: skipping %s (a model's name is letters, digits, '_', '-' and '.')", path.name)
            continue
        found[name] = path
    if not found:
        raise ConfigError(f"--models {folder}: no .onnx models in it")
    return found


@dataclass
class Loaded:
    """One model ready to play: its engine and how its frames are fitted to the output."""

    name: str
    engine: Engine
    fitter: Fitter

    def frame(self, walker: "Walker", truncation: float, class_index: int = 0) -> np.ndarray:
        """This model's frame for the walk's current walk time, fitted to the output (conditional
        models draw ``class_index`` where they have it, else class 0)."""
        z = walker.latent(self.engine.info.z_dim)
        self.engine.class_index = class_index if class_index < self.engine.c_dim else 0
        return self.fitter(self.engine.run(z[None], truncation)[0])


@dataclass
class Fade:
    source: Loaded  # the model fading out
    duration: float
    elapsed: float = 0.0


class Slot:
    """A place on screen (A or B): the model in it, the one fading out of it, the one wanted in it."""

    def __init__(self, current: Loaded | None):
        self.current, self.fade = current, None
        self.wanted = current.name if current is not None else ""  # the name loaded or being loaded

    @property
    def name(self) -> str:
        return self.current.name if self.current is not None else ""

    def switch(self, loaded: Loaded | None, blend: float) -> list[Loaded]:
        """Put ``loaded`` in (between frames); the old model fades out over ``blend`` seconds.
        Returns the models that left the screen (for :meth:`Models._release`)."""
        old, gone = self.current, [self.fade.source] if self.fade is not None else []
        self.fade = Fade(old, blend) if old is not None and loaded is not None and blend > 0 else None
        if self.fade is None and old is not None:
            gone.append(old)
        self.current = loaded
        return gone

    def frame(self, walker: "Walker", truncation: float, class_index: int = 0) -> np.ndarray:
        px = self.current.frame(walker, truncation, class_index)
        if self.fade is not None:
            old = self.fade.source.frame(walker, truncation, class_index)
            px = mix(old, px, ease(min(1.0, self.fade.elapsed / self.fade.duration), "smooth"))
        return px

    def advance(self, dt: float) -> list[Loaded]:
        """Move the fade on; returns the model that faded out, if it just did."""
        if self.fade is not None:
            self.fade.elapsed += dt
            if self.fade.elapsed >= self.fade.duration:
                done, self.fade = self.fade.source, None  # the next frame is the new model's own
                return [done]
        return []


class Models:
    """The models on screen for a :class:`~ganplug.show.show.Show`: follows its choice, renders each frame.

    Runs on the render thread, except :meth:`_load`, which runs on its one worker thread."""

    def __init__(self, first: Engine, show: "Show", files: dict[str, Path], output: Output,
                 notify: Callable[[str], None] = lambda text: None):
        self.show, self.files, self.output, self.notify = show, dict(files), output, notify
        self.a = Slot(Loaded(model_name(first.info.path), first, Fitter(first.info.frame_shape, output)))
        self.b = Slot(None)
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="ganplug-models")

    @property
    def engine(self) -> Engine:
        """The engine of the model playing in A."""
        return self.a.current.engine

    @property
    def info(self):
        """The playing model's :class:`~ganplug.contract.ModelInfo`."""
        return self.engine.info

    @property
    def playing(self) -> tuple[str, str]:
        """The names of the models on screen: (A, B or "")."""
        return self.a.name, self.b.name

    def warm_up(self) -> None:
        """Before the first frame: warm the first model up; a model the initial state chose starts loading."""
        self.a.current.engine.warm_up()
        self.before_frame()

    def before_frame(self) -> None:
        """Start what the show's choice asks for (render thread, between frames)."""
        for key, slot in (("a", self.a), ("b", self.b)):
            want = getattr(self.show.models, key)
            if want == slot.wanted:
                continue
            slot.wanted = want
            if want == slot.name:
                continue  # back to what plays: a load still running is dropped when it arrives
            if want == "":
                self._release(slot.switch(None, 0.0))
                continue
            ready = next((s.current for s in (self.a, self.b) if s.name == want), None)
            if ready is not None:  # already on screen in the other slot: share its engine
                self._arrived(key, ready)
            else:
                self._pool.submit(self._load, key, want)

    def render(self) -> np.ndarray:
        """The frame: A, or B, or both mixed in pixels, each cross-fading from what it replaced."""
        walker, psi, k = self.show.walker, self.show.truncation, self.show.class_index
        amount = self.show.models.mix if self.b.current is not None else 0.0
        if amount >= 1.0:
            return self.b.frame(walker, psi, k)
        a = self.a.frame(walker, psi, k)
        return a if amount <= 0.0 else mix(a, self.b.frame(walker, psi, k), amount)

    def advance(self, dt: float) -> None:
        """Move the cross-fades on by ``dt`` seconds of real time."""
        self._release(self.a.advance(dt) + self.b.advance(dt))

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    # ------------------------------------------------------------------ loading (worker thread) and arriving

    def _load(self, key: str, name: str) -> None:
        """Open, warm up and run the model once, off the render thread; hand it over between frames."""
        path = self.files[name]
        try:
            engine = Engine(path, self.a.current.engine.config)
            engine.warm_up()
            loaded = Loaded(name, engine, Fitter(engine.info.frame_shape, self.output))
            loaded.fitter(engine.run(np.zeros((1, engine.info.z_dim), np.float32))[0])
        except Exception as e:  # a bad file costs the switch, not the show
            text = f"model {name!r} cannot be played: {str(e).replace(str(path), name)[:300]}"
            self.show.inbox.later(lambda: self._failed(key, name, text))
            return
        self.show.inbox.later(lambda: self._arrived(key, loaded))

    def _arrived(self, key: str, loaded: Loaded) -> None:
        slot = self.a if key == "a" else self.b
        if slot.wanted != loaded.name:
            self._release([loaded])  # chosen otherwise meanwhile
            return
        self._release(slot.switch(loaded, self.show.walker.blend))
        if key == "a":
            self.show.adopt(loaded.engine.info)
        log.info("model %s: %s", key.upper(), loaded.name)

    def _release(self, gone: list[Loaded]) -> None:
        """Let models that left the screen go on the worker thread: freeing a session takes time the
        render thread has not got (13 ms for a 256 px DCGAN here). A model still on screen in the
        other slot stays alive through that slot."""
        if not gone:
            return
        held = list(gone)

        def drop() -> None:
            time.sleep(RELEASE_DELAY)  # the render thread drops its own references meanwhile
            held.clear()
        self._pool.submit(drop)

    def _failed(self, key: str, name: str, text: str) -> None:
        slot = self.a if key == "a" else self.b
        log.warning("%s", text)
        self.notify(text)
        if slot.wanted == name:  # the choice goes back to what plays
            slot.wanted = slot.name
            setattr(self.show.models, key, slot.name)


def model_library(folder: str | None, first: Engine) -> dict[str, Path]:
    """Every model playable by name: those of ``folder`` and the first model, under its own name."""
    files = model_files(folder) if folder else {}
    name, path = model_name(first.info.path), Path(first.info.path)
    other = files.get(name)
    if other is not None and other.resolve() != path.resolve():
        raise ConfigError(f"--models: {other} has the name {name!r} of the model being served ({path}); rename one")
    files[name] = path
    return files
