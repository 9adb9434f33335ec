"""Training configuration: one frozen dataclass, written into the run folder and every checkpoint.

Settings left at ``None`` take the recipe default of the architecture (``RECIPES``) when the
config is made, so a run folder records the values that were actually used.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError

# Settings that shape the networks or the data: a resumed run must keep them.
ARCHITECTURE_FIELDS = ("arch", "z_dim", "resolution", "width", "height", "channels", "g_width", "d_width", "map_layers",
                       "g_head", "d_mbstd", "d_head")
MAX_BASE = 32  # largest side of the generator's learned base grid (see base_grid)

# Per-architecture defaults (see docs/training.md for why).
RECIPES: dict[str, dict[str, Any]] = {
    # DCGAN's own settings (Radford et al. 2016); batch norm in D, so no R1 by default.
    "dcgan": {"g_width": 32, "d_width": 32, "g_head": 0, "d_mbstd": 0, "d_head": 0, "lr_g": 2e-4, "lr_d": 2e-4,
              "beta1": 0.5, "beta2": 0.999, "r1_gamma": 0.0, "ada_max_p": 1.0},
    # The CPU default: DCGAN's discriminator with a resize-convolution generator (models.LiteGenerator).
    # DCGAN's learning rate and an R1 penalty: at 5e-4 and without R1 it swung and collapsed after
    # 10-15 minutes (docs/training.md, "Quality per minute"; so did capping p at 0.5). A layer of 16
    # channels at full resolution before RGB: the best single change measured (SWD 77 -> 47 in 15 minutes).
    "lite": {"g_width": 32, "d_width": 32, "g_head": 16, "d_mbstd": 0, "d_head": 0, "lr_g": 2e-4, "lr_d": 2e-4,
             "beta1": 0.5, "beta2": 0.999, "r1_gamma": 0.1, "ada_max_p": 1.0},
    # StyleGAN2-ADA's small-data settings: Adam (0, 0.99), lr 0.0025, R1 gamma 0.0002 * R^2 / batch.
    "style": {"g_width": 16, "d_width": 16, "g_head": 0, "d_mbstd": 4, "d_head": 0, "lr_g": 2.5e-3, "lr_d": 2.5e-3, "beta1": 0.0, "beta2": 0.99, "r1_gamma": None,
              "ada_max_p": 1.0},
}
AUGMENT_MODES = ("ada", "fixed", "off")
# The architecture when --arch is not given: what gave the best images per minute on each kind of
# device. lite on both: on a 2-core CPU at 64 px and on an H200 at 256 px, where style (the CUDA
# default before) was 5x further from the data in the same minutes (docs/training.md, "Quality per minute").
DEVICE_ARCH = {"cpu": "lite", "cuda": "lite"}

# The settings `ganplug train` takes as --NAME (underscores as dashes; booleans also as --no-NAME):
# name -> (help, how the default reads where the field's own default does not say it; "recipe": from RECIPES).
FLAGS: dict[str, tuple[str, str | None]] = {
    "resolution": ("image size in pixels: N (square) or WxH, e.g. 256x128; sides multiples of 8, the smaller "
                   "at least 16 (docs/training.md, 'Non-square models')", None),
    "steps": ("total optimisation steps of the whole run", "5000; with --minutes, no step limit"),
    "minutes": ("wall-clock budget of the whole run in minutes (SWD measurements not counted); 0 = none", None),
    "batch": ("images per step, over all processes", None),
    "arch": ("network architecture: style, dcgan or lite", ", ".join(f"{v} on {k}" for k, v in DEVICE_ARCH.items())),
    "z_dim": ("latent size", None),
    "g_width": ("generator width at full resolution, doubling per halving", "recipe"),
    "d_width": ("discriminator base width", "recipe"),
    "g_head": ("lite: channels of the generator's layer at full resolution before RGB; 0 = none", "recipe"),
    "d_mbstd": ("samples per group of the discriminator's minibatch standard deviation feature; 0 = none", "recipe"),
    "d_head": ("dcgan and lite: channels of a discriminator layer at full resolution before the first "
               "downsampling; 0 = none", "recipe"),
    "map_layers": ("style: layers of the mapping network z -> w", None),
    "lr_g": ("generator learning rate", "recipe"),
    "lr_d": ("discriminator learning rate", "recipe"),
    "lr_final": ("learning rates at the end of the run, as a fraction of the start (cosine over the run)", None),
    "r1_gamma": ("R1 penalty weight; 0 = off", "dcgan 0, lite 0.1, style 0.0002*W*H/batch"),
    "r1_interval": ("steps between (lazy) R1 penalties", None),
    "augment": ("ada (adaptive probability), fixed (--augment-p throughout) or off", None),
    "augment_p": ("starting (ada) or constant (fixed) augmentation probability", None),
    "augment_policy": ("transforms, comma-separated", None),
    "ada_target": ("ada: wanted mean sign of D on reals; above it, augment more", None),
    "ada_kimg": ("ada: thousands of images for p to go from 0 to 1 at most", None),
    "ada_max_p": ("ada: the highest p (1 = uncapped)", "recipe"),
    "ema_kimg": ("half-life of the generator average in thousands of images; 0 = off", None),
    "seed": ("training seed", None),
    "fit": ("crop or pad non-square images", None),
    "sample_every": ("steps between sample grids", None),
    "checkpoint_every": ("steps between checkpoints", None),
    "keep": ("checkpoints to keep", None),
    "log_every": ("steps between lines in metrics.jsonl", None),
    "swd_every": ("steps between SWD measurements in metrics.jsonl; 0 = never", None),
    "swd_images": ("images per SWD measurement", None),
    "device": ("auto, cpu or cuda", None),
    "threads": ("PyTorch CPU threads", "all"),
    "mirror": ("also train on horizontally mirrored images", None),
    "amp": ("mixed precision", "on with CUDA, off on the CPU"),
    "channels_last": ("channels-last memory format", "on"),
    "tf32": ("TensorFloat-32 matrix maths on CUDA", None),
}


@dataclass(frozen=True)
class TrainConfig:
    data: str
    out: str
    resolution: int | str = 64  # N or "WxH"; made the larger side (an int) with width and height set
    steps: int | None = None  # 5000; with a time budget, 0 (no step limit)
    minutes: float = 0.0  # wall-clock budget of the whole run (0 = none); resumed runs continue it
    batch: int = 32
    arch: str | None = None  # DEVICE_ARCH of the device it will train on
    z_dim: int = 128
    channels: int = 3
    g_width: int | None = None
    d_width: int | None = None
    g_head: int | None = None  # lite: channels of the full-resolution layer before RGB (0 = none)
    d_mbstd: int | None = None  # group size of D's minibatch standard deviation feature (0 = none)
    d_head: int | None = None  # dcgan and lite: channels of D's 3x3 layer at full resolution (0 = none)
    map_layers: int = 2  # style: depth of the mapping network z -> w
    lr_g: float | None = None
    lr_d: float | None = None
    lr_final: float = 1.0  # learning rates end at this fraction of the start, cosine over the run's progress
    beta1: float | None = None
    beta2: float | None = None
    r1_gamma: float | None = None  # R1 penalty weight; style default 0.0002 * resolution^2 / batch
    r1_interval: int = 16  # lazy regularisation: R1 every this many steps, scaled up to match
    augment: str = "ada"  # ada: adaptive p; fixed: p = augment_p throughout; off
    augment_p: float = 0.0  # starting (ada) or constant (fixed) probability of each transform
    augment_policy: str = "color,translation,cutout"
    ada_target: float = 0.6  # wanted mean sign of D(real): above it, augment more
    ada_kimg: float = 100.0  # thousands of images for p to move from 0 to 1 at most
    ada_max_p: float | None = None  # cap on p: at 1 every image is transformed and D may have given up telling
    ema_kimg: float = 10.0  # half-life of the generator's moving average, in thousands of images; 0 = off
    ema_rampup: float = 0.05  # early on, the half-life is at most this fraction of the images seen
    seed: int = 0
    mirror: bool = False
    fit: str = "crop"
    sample_every: int = 500
    checkpoint_every: int = 1000
    keep: int = 3
    log_every: int = 10
    swd_every: int = 1000  # steps between SWD measurements against the data (0 = never)
    swd_images: int = 512  # generated and real images per SWD measurement
    device: str = "auto"
    amp: bool | None = None  # mixed precision; default on with CUDA
    channels_last: bool | None = None  # default on (CPU and CUDA)
    tf32: bool = True  # TensorFloat-32 matmuls and convolutions on CUDA
    threads: int = 0
    progress: bool = True
    width: int | None = None  # frame width; None: from resolution (configs written before non-square models)
    height: int | None = None

    def __post_init__(self) -> None:
        if self.device not in ("auto", "cpu", "cuda"):
            raise ConfigError(f"device must be auto, cpu or cuda, got {self.device!r}")
        self._set_frame()
        if self.arch is None:
            object.__setattr__(self, "arch", DEVICE_ARCH[device_kind(self.device)])
        if self.arch not in RECIPES:
            raise ConfigError(f"--arch must be one of {', '.join(RECIPES)}, got {self.arch!r}")
        for name, value in RECIPES[self.arch].items():
            if getattr(self, name) is None:
                if value is None and name == "r1_gamma":  # StyleGAN2-ADA's heuristic
                    value = round(0.0002 * self.width * self.height / self.batch, 6)
                object.__setattr__(self, name, value)
        if self.steps is None:
            object.__setattr__(self, "steps", 0 if self.minutes > 0 else 5000)
        if self.minutes < 0 or self.steps < 0 or not (self.minutes or self.steps):
            raise ConfigError("give --steps (at least 1) or --minutes (above 0)")
        for name in ("batch", "z_dim", "g_width", "d_width", "map_layers", "sample_every", "checkpoint_every",
                     "keep", "log_every", "r1_interval", "swd_images"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if min(self.swd_every, self.r1_gamma, self.g_head, self.d_mbstd, self.d_head) < 0 or self.ada_kimg <= 0:
            raise ConfigError("swd_every, r1_gamma, g_head, d_mbstd and d_head must be at least 0, ada_kimg above 0")
        for name in ("augment_p", "ada_max_p"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"{name} must be between 0 and 1, got {getattr(self, name)}")
        if not 0.0 < self.lr_final <= 1.0:
            raise ConfigError(f"lr_final must be above 0 and at most 1, got {self.lr_final}")
        if self.d_head and self.arch == "style":
            raise ConfigError("--d-head is for --arch dcgan and lite; style's discriminator starts at full resolution")
        if self.augment not in AUGMENT_MODES:
            raise ConfigError(f"augment must be one of {', '.join(AUGMENT_MODES)}, got {self.augment!r}")
        from .augment import POLICIES

        bad = [p for p in self.policy if p not in POLICIES]
        if bad or not self.policy:
            raise ConfigError(f"augment_policy: unknown transform {bad[0] if bad else '(none)'!r}; choose from {', '.join(POLICIES)}")
        if self.fit not in ("crop", "pad"):
            raise ConfigError(f"fit must be 'crop' or 'pad', got {self.fit!r}")

    def _set_frame(self) -> None:
        """Normalise ``resolution`` (N or "WxH") into width, height and resolution = max(W, H), then check the shape."""
        res = self.resolution
        if isinstance(res, str):
            w, h = parse_size(res)
            if (self.width or w, self.height or h) != (w, h):
                raise ConfigError(f"--resolution {res} disagrees with width={self.width}, height={self.height}")
        elif isinstance(res, int) and not isinstance(res, bool):
            w, h = self.width or res, self.height or res
            if max(w, h) != res:
                raise ConfigError(f"resolution {res} must be the larger of width {w} and height {h}")
        else:
            raise ConfigError(f"--resolution must be N or WxH, got {res!r}")
        base_grid(w, h)
        object.__setattr__(self, "width", w)
        object.__setattr__(self, "height", h)
        object.__setattr__(self, "resolution", max(w, h))

    @property
    def frame_size(self) -> tuple[int, int]:
        """(width, height) of the images, as ``ModelMetadata.frame_size``."""
        return (self.width, self.height)

    @property
    def size_text(self) -> str:
        """``WxH``, as ``--resolution`` takes it."""
        return f"{self.width}x{self.height}"

    @property
    def policy(self) -> tuple[str, ...]:
        return tuple(p.strip() for p in self.augment_policy.split(",") if p.strip())

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        d = {k: v for k, v in d.items() if k in known}
        if "g_head" not in d:  # written before the lite head existed: those generators have none
            d["g_head"] = 0
        if "d_mbstd" not in d:  # written before it was a setting: style's discriminator always had groups of 4
            d["d_mbstd"] = 4 if d.get("arch") == "style" else 0
        d.setdefault("d_head", 0)  # written before it was a setting: no discriminator had one
        return cls(**d)

    @property
    def budget_s(self) -> float:
        """The wall-clock budget in seconds (0 = none)."""
        return self.minutes * 60.0

    def replace(self, **changes: Any) -> "TrainConfig":
        return dataclasses.replace(self, **changes)


def parse_size(text: str) -> tuple[int, int]:
    """``"N"`` -> (N, N); ``"WxH"`` -> (W, H). Raises :class:`ConfigError` for anything else."""
    parts = text.lower().replace(" ", "").split("x")
    if len(parts) not in (1, 2) or not all(p.isdigit() for p in parts):
        raise ConfigError(f"--resolution must be N or WxH (e.g. 64 or 256x128), got {text!r}")
    w, h = int(parts[0]), int(parts[-1])
    return w, h


def base_grid(width: int, height: int) -> tuple[int, int, int]:
    """The generators' shape rule: (n, base_h, base_w) with base * 2**n = (H, W).

    n is the largest such that 2**n divides both sides and the smaller side / 2**n is still at least 4,
    so every power-of-two square keeps its 4x4 base (n = log2(R) - 2). A shape is refused, with one
    :class:`ConfigError` line, unless both sides are multiples of 8, the smaller is at least 16 and
    the base is at most ``MAX_BASE`` on each side (256x128 -> 5, 4x8; 256x144 -> 4, 9x16; 128x72 -> 3, 9x16).
    """
    if width % 8 or height % 8 or min(width, height) < 16:
        raise ConfigError(f"--resolution {width}x{height}: both sides must be multiples of 8, the smaller at least 16")
    n = 0
    while width % 2 ** (n + 1) == 0 and height % 2 ** (n + 1) == 0 and min(width, height) // 2 ** (n + 1) >= 4:
        n += 1
    bh, bw = height >> n, width >> n
    if max(bh, bw) > MAX_BASE:
        raise ConfigError(f"--resolution {width}x{height}: its base grid {bw}x{bh} (the size halved {n} times) is larger "
                          f"than {MAX_BASE}; choose sides with more factors of 2 or a milder aspect ratio")
    return n, bh, bw


def device_kind(device: str) -> str:
    """``cpu`` or ``cuda``: where a run with ``--device DEVICE`` trains."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def flag_type(name: str) -> type:
    """int, float, str or bool: the type of setting ``name`` (None allowed or not)."""
    annotation = {f.name: str(f.type) for f in dataclasses.fields(TrainConfig)}[name]
    kinds = [t.strip() for t in annotation.split("|")]
    return str if "str" in kinds else {"int": int, "float": float, "bool": bool}[kinds[0]]


def flag_help(name: str) -> str:
    """The help of ``--NAME``, ending with its default."""
    text, default = FLAGS[name]
    if default == "recipe":
        default = ", ".join(f"{arch} {_shown(recipe[name])}" for arch, recipe in RECIPES.items())
    return f"{text} (default{': ' + default if default else ' ' + _shown(getattr(TrainConfig, name))})"


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return f"{value:g}" if isinstance(value, float) else str(value)
