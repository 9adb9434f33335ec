"""``ganplug serve``'s settings, apart from the server so the command line reads defaults without loading it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..addr import DEFAULT_FRAMES
from ..instrument.config import InstrumentConfig
from ..osc.frames import DEFAULT_JPEG_QUALITY, DEFAULT_MAX_DATAGRAM
from ..osc.send import FrameFormat

DEFAULT_SEND = DEFAULT_FRAMES  # where frames go, and where `ganplug receive` listens
DEFAULT_LISTEN = "127.0.0.1:9000"


@dataclass(frozen=True)
class ServeConfig:
    sends: tuple[str, ...] = (DEFAULT_SEND,)
    listen: str = DEFAULT_LISTEN
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
    models: str | None = None  # a folder whose models are playable by name (/ganplug/model/load)
    size: tuple[int, int] | None = None  # (width, height) of every frame sent; None = the first model's
    fit: str = "crop"  # how a model of another shape fills that size: crop, pad or stretch
    encoding: str = "raw"  # OSC frames: raw (/ganplug/frame), jpeg or png (/ganplug/image)
    quality: int = DEFAULT_JPEG_QUALITY  # jpeg quality
    pace_rate: float | None = None  # UDP bytes/s while sending a frame; None = spread over half the frame period
    shm: str | None = None  # also write frames to this named shared-memory block (docs/transports.md)
    ndi: str | None = None  # also send frames as this NDI source (the ndi extra)

    @property
    def frame_format(self) -> FrameFormat:
        """How frames go to the OSC destinations."""
        return FrameFormat(self.encoding, self.quality, self.max_datagram, self.pace_rate)
