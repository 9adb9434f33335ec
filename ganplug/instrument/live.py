"""What turns the server into an instrument: a beat clock, audio features and MIDI.

Everything the instrument wants to change goes into the show's inbox, like OSC:
MIDI from its own thread as messages arrive, mapped audio from :meth:`Instrument.push_audio`,
which :meth:`ganplug.show.show.Show.before_frame` calls once per frame just before the
frame is computed, so audio reaches the screen with the least delay.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError
from ..show.inbox import Event, Inbox
from ..show.table import REPLIES
from .audio import FEATURES, Features, open_source, read_wav
from .config import InstrumentConfig
from .mapping import Binding, parse_audio_map
from .midi import MidiInput, MidiMap
from .tempo import BeatClock, LinkClock, TapTempo, phase_error

log = logging.getLogger("ganplug.instrument")

PHASE_RATE = 2.0  # per second: how fast a synced walk is pulled onto the beat grid
CONTINUOUS = tuple(f for f in FEATURES if f != "onset")


@dataclass(frozen=True)
class Mappings:
    """Audio and MIDI bindings as a preset holds them, parsed and checked."""

    audio: tuple[str, ...]
    audio_bindings: tuple[Binding, ...]
    midi: tuple[Binding, ...]


def parse_mappings(data: dict) -> Mappings:
    """A preset's ``mappings`` object, checked in full; a bad binding is a :class:`ConfigError`."""
    audio = tuple(str(x) for x in data.get("audio", []))
    bindings = tuple(parse_audio_map(x) for x in audio)
    try:
        midi = tuple(Binding(**b) for b in data.get("midi", []) if isinstance(b, dict))
    except TypeError as e:
        raise ConfigError(f"MIDI binding: {e}") from None
    return Mappings(audio, bindings, midi)


def check_inputs(config: InstrumentConfig) -> None:
    """Raise :class:`ConfigError` for an unreadable audio file, audio mapping or MIDI map, so that
    ``serve`` can say so before it binds any port. Devices are checked when they open."""
    for text in config.audio_map:
        parse_audio_map(text)
    if config.audio:
        p = Path(config.audio)
        if p.suffix.lower() == ".wav" or p.is_file():
            read_wav(p)
    if config.midi_map:
        MidiMap.load(Path(config.midi_map))


class Instrument:
    def __init__(self, config: InstrumentConfig, bpm: float, inbox: Inbox):
        """MIDI and mapped audio go into ``inbox``, applied on the render thread before the next frame."""
        self.config, self.inbox = config, inbox
        self.clock: BeatClock | LinkClock = LinkClock(bpm or 120.0) if config.link else BeatClock(bpm or 120.0)
        self.tap = TapTempo()
        self.audio_map: list[str] = list(config.audio_map)
        self.audio_bindings: list[Binding] = [parse_audio_map(s) for s in config.audio_map]
        self.onset_now = False
        self.audio = open_source(config.audio).start() if config.audio else None
        self.midi = MidiInput(config.midi, MidiMap.load(Path(config.midi_map) if config.midi_map else None),
                              lambda a, args: inbox.put(Event(a, args, "midi")))
        self._onsets = 0
        self._sent: dict[tuple[str, str], tuple] = {}
        self.features = Features()

    # ---------------------------------------------------------------- tempo

    def tap_tempo(self, now: float) -> float | None:
        bpm = self.tap.tap(now)
        if bpm is not None:
            self.clock.set_bpm(bpm, now)
        self.clock.align(now)
        return bpm

    def phase_step(self, position: float, speed: float, period_beats: float, now: float, dt: float) -> float:
        """How many periods a synced walk should move beyond its own step to approach the beat grid."""
        target = speed * self.clock.beat(now) / period_beats
        return phase_error(position, target) * min(1.0, PHASE_RATE * dt)

    # ---------------------------------------------------------------- audio

    def push_audio(self) -> None:
        """Queue this frame's mapped audio into the inbox (render thread, once per frame)."""
        for address, args in self.audio_events():
            self.inbox.put(Event(address, args, "audio"))

    def audio_events(self) -> list[tuple[str, tuple]]:
        """Mapped audio: continuous features whenever their value moves, onsets when one happened."""
        if self.audio is None:
            return []
        with self.audio.analyzer.lock:
            f = self.audio.analyzer.features
        self.features = f
        out = []
        onset = self.onset_now = f.onsets > self._onsets
        self._onsets = f.onsets
        for b in self.audio_bindings:
            if b.source == "onset":
                if onset:
                    out.append((b.address, b.triggered()))
                continue
            args = b.scaled(f.value(b.source))
            key = (b.source, b.address)
            if args != self._sent.get(key):
                self._sent[key] = args
                out.append((b.address, args))
        return out

    def out_messages(self) -> list[bytes]:
        """/ganplug/audio/... messages for the frame just computed."""
        if self.audio is None or not self.config.audio_out:
            return []
        f = self.features
        msgs = [REPLIES[f"audio_{name}"].message(f.value(name)) for name in CONTINUOUS]
        if self.onset_now:
            msgs.append(REPLIES["audio_onset"].message(f.onset))
        return msgs

    def mappings(self) -> dict:
        """Audio and MIDI bindings, as a preset stores them."""
        return {"audio": list(self.audio_map), "midi": self.midi.map.to_dict()["bindings"]}

    def set_mappings(self, m: Mappings) -> None:
        """Replace the bindings with a preset's (the MIDI file on disk is left as it is)."""
        self.audio_map, self.audio_bindings = list(m.audio), list(m.audio_bindings)
        self.midi.map.bindings = list(m.midi)
        self._sent.clear()

    def close(self) -> None:
        if self.audio is not None:
            self.audio.close()
        self.midi.close()
        if isinstance(self.clock, LinkClock):
            self.clock.close()
