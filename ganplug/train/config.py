"""Training configuration: one frozen dataclass, written into the run folder and every checkpoint."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError

# Settings that shape the networks or the data: a resumed run must keep them.
ARCHITECTURE_FIELDS = ("arch", "z_dim", "resolution", "channels", "g_width", "d_width")


@dataclass(frozen=True)
class TrainConfig:
    data: str
    out: str
    resolution: int = 64
    steps: int = 5000
    batch: int = 32
    arch: str = "dcgan"
    z_dim: int = 128
    channels: int = 3
    g_width: int = 32
    d_width: int = 32
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    ema_kimg: float = 10.0  # half-life of the generator's moving average, in thousands of images; 0 = off
    ema_rampup: float = 0.05  # early on, the half-life is at most this fraction of the images seen
    seed: int = 0
    mirror: bool = False
    fit: str = "crop"
    sample_every: int = 500
    checkpoint_every: int = 1000
    keep: int = 3
    log_every: int = 10
    device: str = "auto"
    threads: int = 0
    progress: bool = True

    def __post_init__(self) -> None:
        r = self.resolution
        if r < 16 or r & (r - 1):
            raise ConfigError(f"--resolution must be a power of two from 16 up, got {r}")
        for name in ("steps", "batch", "z_dim", "g_width", "d_width", "sample_every", "checkpoint_every", "keep", "log_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.fit not in ("crop", "pad"):
            raise ConfigError(f"fit must be 'crop' or 'pad', got {self.fit!r}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ConfigError(f"device must be auto, cpu or cuda, got {self.device!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def replace(self, **changes: Any) -> "TrainConfig":
        return dataclasses.replace(self, **changes)
