"""The handlers of the table's commands, ``handler(show, values, index, event)``, named there by reference.

They run on the render thread between frames and return at once: file I/O goes to the
show's worker (:mod:`ganplug.show.files`), replies to the show's reply queue.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..addr import numeric_host
from ..errors import ConfigError
from . import files
from .spec import BadMessage

if TYPE_CHECKING:
    from .inbox import Event
    from .show import Show

log = logging.getLogger("ganplug.serve")


def z(show: "Show", values: tuple, index: int | None, ev: "Event") -> None:
    if len(values) != show.z_dim:
        raise BadMessage(f"/ganplug/z takes {show.z_dim} floats for this model, got {len(values)}")
    show.walker.set(latent=tuple(float(v) for v in values))


def z_component(show: "Show", values: tuple, index: int | None, ev: "Event") -> None:
    if index is None or index >= show.z_dim:
        raise BadMessage(f"latent index {index} is outside 0..{show.z_dim - 1}")
    latent = show.walker.latent().astype(np.float64)
    latent[index] = values[0]
    show.walker.set(cut=True, latent=tuple(latent.tolist()))


def direction(show: "Show", values: tuple, index: int | None, ev: "Event") -> None:
    if show.directions is None:
        raise BadMessage("this model carries no semantic directions (export it again with ganplug export)")
    if index is None or index >= len(show.directions):
        raise BadMessage(f"direction {index} is outside 0..{len(show.directions) - 1}")
    amounts = show.direction_amounts.copy()
    amounts[index] = values[0]
    show.set_directions(amounts, cut=True)


def next_keyframe(show: "Show", values: tuple, index: int | None, ev: "Event") -> None:
    show.walker.next_keyframe()


def beat(show: "Show", values: tuple, index: int | None, ev: "Event") -> None:
    bpm = show.instrument.tap_tempo(ev.time)
    if bpm is not None:
        show.apply("bpm", (bpm,))


def midi_learn(show: "Show", values: tuple, index: int | None, ev: "Event") -> None:
    midi = show.instrument.midi
    if midi.last_source is None:
        raise BadMessage("midi/learn: move a MIDI control first, then send the address")
    try:
        b = midi.map.learn(midi.last_source, values[0])
    except ConfigError as e:
        raise BadMessage(str(e)) from None
    log.info("MIDI %s now drives %s", b.source, b.address)


def snapshot(show: "Show", values: tuple, index: int | None, ev: "Event") -> None:
    if show.last_frame is None:
        raise BadMessage("no frame yet to snapshot")
    fid, pixels = show.last_frame
    path = Path(show.folders.snapshots) / f"snapshot-{time.strftime('%Y%m%d-%H%M%S')}-{fid:08d}.png"

    def write() -> None:
        try:
            files.write_png(path, pixels)
        except BadMessage as e:
            show.replies.error(ev, str(e))
    show.io.submit(write, "snapshot")


def ping(show: "Show", values: tuple, index: int | None, ev: "Event") -> None:
    show.replies.out(ev, "pong", values[0])


def preset_save(show: "Show", values: tuple, index: int | None, ev: "Event") -> None:
    path = files.preset_path(show.folders.presets, values[0])
    state = show.capture()

    def write() -> None:
        try:
            files.write_preset(path, state)
        except BadMessage as e:
            show.replies.error(ev, str(e))
    show.io.submit(write, "preset save")


def preset_load(show: "Show", values: tuple, index: int | None, ev: "Event") -> None:
    """Read NAME.json on the worker (files.read_preset), check every field there (Show.check_preset),
    then apply it on the render thread between frames (Show.apply_preset): all or nothing. Messages
    sent after the load wait for it (Inbox.hold), so they change the loaded state, not the other way round."""
    name = values[0]
    path = files.preset_path(show.folders.presets, name)
    release = show.inbox.hold("preset load")

    def read() -> None:
        try:
            preset = show.check_preset(files.read_preset(path, name), name)
            for note in preset.notes:
                show.replies.error(ev, note)
            show.inbox.later(lambda: show.apply_preset(preset))
        except BadMessage as e:
            show.replies.error(ev, str(e))
        finally:
            release()
    if not show.io.submit(read, "preset load"):
        release()


def _host(text: str, what: str) -> str:
    try:
        return numeric_host(text)
    except ConfigError as e:
        raise BadMessage(f"{what}: {e}") from None


def subscribe(show: "Show", values: tuple, index: int | None, ev: "Event") -> None:
    show.subscriptions.subscribe(_host(values[0], "subscribe"), values[1], ev.source)


def unsubscribe(show: "Show", values: tuple, index: int | None, ev: "Event") -> None:
    show.subscriptions.unsubscribe(_host(values[0], "unsubscribe"), values[1], ev.source)


def latent(show: "Show", values: tuple, index: int | None, ev: "Event") -> None:
    show.replies.out(ev, "latent", *show.walker.latent().tolist())


def state(show: "Show", values: tuple, index: int | None, ev: "Event") -> None:
    show.replies.packet(ev, show.state_message())
