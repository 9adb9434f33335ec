"""How the server plays as an instrument: tempo, audio and MIDI settings (read by the command line without loading them)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class InstrumentConfig:
    audio: str | None = None  # a .wav file (played in a loop) or a sounddevice input
    audio_map: tuple[str, ...] = ()  # FEATURE:ADDRESS[:LO:HI], onset:ADDRESS[:VALUE]
    audio_out: bool = True  # send /ganplug/audio/... to the destinations
    link: bool = False  # Ableton Link
    midi: str | None = None  # input port name, or virtual:NAME
    midi_map: str | None = None  # JSON bindings file (created by learn)
