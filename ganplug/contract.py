"""Contract 2: what a ganplug ONNX model looks like (see ``export/README.md``).

The checks here use only what an onnxruntime session exposes, so the serving
side can validate a file without the ``onnx`` package or torch.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field, fields, replace
from typing import Any, Mapping, Sequence

import numpy as np

from .errors import ContractError

CONTRACT_VERSION = "1"
INPUT_Z = "z"
INPUT_TRUNCATION = "truncation"
OUTPUT_IMAGE = "image"
INPUT_W = OUTPUT_W = "w"
META_PREFIX = "ganplug."  # every metadata key is this prefix and a field name of ModelMetadata


def _doc(text: str, required: bool = False) -> Any:
    """Field metadata: the meaning shown in export/README.md's table, and whether a reader requires it."""
    return {"doc": text, "required": required}


@dataclass(frozen=True)
class ModelMetadata:
    """The ``ganplug.*`` entries of a model's ``metadata_props``: one field per key (``ganplug.`` + field name).

    Values travel as strings; integers are written in decimal. Absent optional keys are None."""

    contract: str = field(metadata=_doc(f"`{CONTRACT_VERSION}`, the contract version", True))
    z_dim: int = field(metadata=_doc("latent size, integer", True))
    resolution: int = field(metadata=_doc("the larger of H and W, integer (H = W when `width`/`height` are absent)", True))
    channels: int = field(metadata=_doc("3 or 4", True))
    architecture: str = field(metadata=_doc("e.g. `dcgan` or `style`", True))
    dataset: str = field(metadata=_doc("a description of the training data", True))
    step: int | None = field(default=None, metadata=_doc("training step at export"))
    images_seen: int | None = field(default=None, metadata=_doc("training images shown at export"))
    parameters: int | None = field(default=None, metadata=_doc("generator parameters (`ganplug info` prints it)"))
    directions: str | None = field(default=None, metadata=_doc(
        "semantic directions in z: float32 `[K, z_dim]` row-major little-endian, base64 (`/ganplug/direction/N`)"))
    directions_shape: str | None = field(default=None, metadata=_doc("`K,z_dim` of `ganplug.directions`"))
    exporter: str | None = field(default=None, metadata=_doc("`dynamo` (torch.export-based) or `legacy` (TorchScript-based)"))
    precision: str | None = field(default=None, metadata=_doc(
        "`fp32`, or `fp16` (`--half`; the engine warns when it runs on the CPU)"))
    part: str | None = field(default=None, metadata=_doc(
        "split exports only: `mapping` or `synthesis`; such a file is not a whole model"))
    w_dim: int | None = field(default=None, metadata=_doc("size of w, integer (split exports and imports)"))
    num_ws: int | None = field(default=None, metadata=_doc("imports: how many w vectors the synthesis network takes"))
    c_dim: int | None = field(default=None, metadata=_doc(
        "class-conditional models: number of classes; the model then takes input `c`, float32 `[N, c_dim]` one-hot"))
    source: str | None = field(default=None, metadata=_doc(
        "where the weights came from when not trained here: `nvlabs-stylegan2`, `nvlabs-stylegan3-t`, `nvlabs-stylegan3-r`"))
    width: int | None = field(default=None, metadata=_doc(
        "frame width W in pixels; written by every export, absent in older files (then W = `resolution`)"))
    height: int | None = field(default=None, metadata=_doc(
        "frame height H in pixels; written by every export, absent in older files (then H = `resolution`)"))

    @staticmethod
    def key(name: str) -> str:
        """The metadata key of field ``name``."""
        return META_PREFIX + name

    def to_props(self) -> dict[str, str]:
        """The ``metadata_props`` entries, absent fields left out."""
        return {self.key(f.name): str(v) for f in fields(self) if (v := getattr(self, f.name)) is not None}

    @classmethod
    def from_props(cls, path: str, props: Mapping[str, str]) -> "ModelMetadata":
        """Read and validate the ``ganplug.*`` entries (others are ignored, as the contract asks).

        Raises :class:`ContractError` for a missing or malformed required key or another contract
        version; malformed optional integers read as absent, so such a model still plays."""
        missing = [cls.key(n) for n in REQUIRED_META if cls.key(n) not in props]
        if missing:
            raise _fail(path, "missing metadata " + ", ".join(missing))
        version = props[cls.key("contract")]
        if version != CONTRACT_VERSION:
            raise _fail(path, f"contract version {version!r}, this ganplug reads version {CONTRACT_VERSION!r}")
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = props.get(cls.key(f.name))
            if raw is None or str(f.type).startswith("str"):
                values[f.name] = raw
            elif f.metadata["required"]:
                values[f.name] = _positive(path, cls.key(f.name), raw)
            else:
                values[f.name] = _optional_int(raw)
        meta = cls(**values)
        if meta.channels not in (3, 4):
            raise _fail(path, f"metadata {cls.key('channels')}={meta.channels}, expected 3 or 4")
        if meta.frame_size[0] <= 0 or meta.frame_size[1] <= 0:
            raise _fail(path, f"metadata width/height {meta.frame_size} must be positive")
        return meta

    @property
    def frame_size(self) -> tuple[int, int]:
        """(width, height) of one frame; older files without width/height are square."""
        return (self.width or self.resolution, self.height or self.resolution)

    def with_directions(self, directions: np.ndarray) -> "ModelMetadata":
        """A copy carrying ``directions`` ([K, z_dim]) inside the model file."""
        d = np.ascontiguousarray(directions, dtype="<f4")
        return replace(self, directions=base64.b64encode(d.tobytes()).decode("ascii"), directions_shape=f"{d.shape[0]},{d.shape[1]}")

    def decode_directions(self) -> np.ndarray | None:
        """The directions as [K, z_dim] float64, or None when absent or malformed (the model still plays)."""
        if not self.directions or not self.directions_shape:
            return None
        try:
            k, d = (int(x) for x in self.directions_shape.split(","))
            arr = np.frombuffer(base64.b64decode(self.directions, validate=True), "<f4").reshape(k, d)
        except (ValueError, TypeError):
            return None
        return arr.astype(np.float64) if d == self.z_dim and k > 0 else None


REQUIRED_META = tuple(f.name for f in fields(ModelMetadata) if f.metadata["required"])


def split_part(props: Mapping[str, str]) -> str | None:
    """``mapping`` or ``synthesis`` for a half of a split export, else None."""
    return props.get(ModelMetadata.key("part")) or None


def claims_contract(props: Mapping[str, str]) -> bool:
    """Whether a file says it follows the contract (else it may be a model made elsewhere)."""
    return ModelMetadata.key("contract") in props


# Sizes beyond any GAN worth serving: refused before anything of that size is allocated.
MAX_Z_DIM = 16384
MAX_RESOLUTION = 8192
MAX_FRAME_VALUES = MAX_RESOLUTION * MAX_RESOLUTION * 4
# Extension for class-conditional models (NVlabs imports): float32 input "c" [N, c_dim], one-hot class labels,
# present exactly when the metadata carries ganplug.c_dim.
INPUT_C = "c"


@dataclass(frozen=True)
class ModelInfo:
    """What a server needs to know about a model (``meta`` is None for a model made elsewhere)."""

    path: str
    z_dim: int
    resolution: int
    channels: int
    architecture: str
    dataset: str
    contract: str = CONTRACT_VERSION
    has_truncation: bool = False
    metadata: Mapping[str, str] = field(default_factory=dict)  # every entry of the file, ganplug.* or not
    meta: ModelMetadata | None = None
    c_dim: int = 0  # classes of a conditional model (input "c"); 0 = unconditional
    width: int = 0  # frame width; 0 = resolution (square)
    height: int = 0  # frame height; 0 = resolution (square)

    def __post_init__(self) -> None:
        # Square unless told: callers that only know one side keep working.
        object.__setattr__(self, "width", self.width or self.resolution)
        object.__setattr__(self, "height", self.height or self.resolution)

    @property
    def frame_shape(self) -> tuple[int, int, int]:
        """(height, width, channels) of one frame."""
        return (self.height, self.width, self.channels)


def _fail(path: str, what: str) -> ContractError:
    return ContractError(f"{path}: breaks the ganplug model contract: {what}")


def _static(dim: Any) -> int | None:
    return dim if isinstance(dim, int) else None


def _optional_int(raw: str) -> int | None:
    try:
        return int(raw)
    except ValueError:
        return None


def _positive(path: str, key: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise _fail(path, f"metadata {key}={raw!r} is not an integer") from None
    if value <= 0:
        raise _fail(path, f"metadata {key}={value} must be positive")
    return value


def check_model(path: str, inputs: Sequence[Any], outputs: Sequence[Any], props: Mapping[str, str]) -> ModelInfo:
    """Validate an onnxruntime session's inputs, outputs and metadata against the contract.

    ``inputs``/``outputs`` are onnxruntime ``NodeArg`` objects (anything with
    ``name``, ``type`` and ``shape``); ``props`` is the custom metadata map.
    Raises :class:`ContractError` naming the first thing that is wrong.
    """
    part = split_part(props)
    if part:  # a half of a split export: fine for other programs, but not a whole model to serve
        whole = path.rsplit("." + part, 1)[0] + ".onnx" if f".{part}." in path else "the whole-model file"
        raise ContractError(f"{path}: is the {part} half of a split export (input {'z' if part == 'mapping' else 'w'}, "
                            f"output {'w' if part == 'mapping' else 'image'}); serve {whole}, or chain the halves as export/README.md shows")
    meta = ModelMetadata.from_props(path, props)
    has_trunc = _check_inputs(path, inputs, meta)
    width, height = meta.frame_size
    _check_output(path, outputs, (height, width, meta.channels))
    return ModelInfo(path=path, z_dim=meta.z_dim, resolution=meta.resolution, channels=meta.channels, width=width, height=height,
                     architecture=meta.architecture, dataset=meta.dataset, contract=meta.contract,
                     has_truncation=has_trunc, metadata=dict(props), meta=meta, c_dim=_c_dim(path, meta, {i.name: i for i in inputs}))


def _check_inputs(path: str, inputs: Sequence[Any], meta: ModelMetadata) -> bool:
    """The ``z`` input (and the optional ``truncation``); returns whether ``truncation`` is there."""
    by_name = {i.name: i for i in inputs}
    z_dim = meta.z_dim
    if INPUT_Z not in by_name:
        raise _fail(path, f"no input named {INPUT_Z!r} (inputs: {', '.join(by_name) or 'none'})")
    extra = sorted(set(by_name) - {INPUT_Z, INPUT_TRUNCATION} - ({INPUT_C} if meta.c_dim is not None else set()))
    if extra:
        raise _fail(path, f"unexpected inputs {', '.join(extra)}")
    z = by_name[INPUT_Z]
    if z.type != "tensor(float)":
        raise _fail(path, f"input {INPUT_Z!r} is {z.type}, expected tensor(float)")
    if len(z.shape) != 2:
        raise _fail(path, f"input {INPUT_Z!r} has rank {len(z.shape)}, expected 2 ([N, z_dim])")
    if _static(z.shape[1]) not in (None, z_dim):
        raise _fail(path, f"input {INPUT_Z!r} has {z.shape[1]} columns but metadata z_dim is {z_dim}")
    if INPUT_TRUNCATION not in by_name:
        return False
    t = by_name[INPUT_TRUNCATION]
    if t.type != "tensor(float)" or len(t.shape) != 0:
        raise _fail(path, f"input {INPUT_TRUNCATION!r} must be a float32 scalar, got {t.type} {t.shape}")
    return True


def _check_output(path: str, outputs: Sequence[Any], want: tuple[int, int, int]) -> None:
    out = {o.name: o for o in outputs}
    if OUTPUT_IMAGE not in out:
        raise _fail(path, f"no output named {OUTPUT_IMAGE!r} (outputs: {', '.join(out) or 'none'})")
    img = out[OUTPUT_IMAGE]
    if img.type != "tensor(uint8)":
        raise _fail(path, f"output {OUTPUT_IMAGE!r} is {img.type}, expected tensor(uint8)")
    if len(img.shape) != 4:
        raise _fail(path, f"output {OUTPUT_IMAGE!r} has rank {len(img.shape)}, expected 4 ([N, H, W, C])")
    for axis, (got, expected) in enumerate(zip(img.shape[1:], want), start=1):
        if _static(got) not in (None, expected):
            raise _fail(path, f"output {OUTPUT_IMAGE!r} dimension {axis} is {got}, metadata says {expected}")



def check_sizes(path: str, z_dim: int | None = None, frame_dims: Sequence[Any] = ()) -> None:
    """Refuse a latent or an image too large to serve, before anything that size is allocated.

    ``frame_dims`` are one image's dimensions as the graph declares them (no batch axis);
    dimensions that are not fixed numbers are skipped."""
    if z_dim is not None and not 0 < z_dim <= MAX_Z_DIM:
        raise ContractError(f"{path}: a latent of {z_dim} values is beyond what ganplug serves (1 to {MAX_Z_DIM})")
    fixed = [d for d in frame_dims if isinstance(d, int) and d > 0]
    values = int(np.prod(fixed, dtype=np.float64)) if fixed else 0
    if values > MAX_FRAME_VALUES or any(d > MAX_RESOLUTION for d in fixed):
        raise ContractError(f"{path}: an image of {' x '.join(map(str, frame_dims))} is beyond what ganplug serves "
                            f"(at most {MAX_RESOLUTION} px a side, {MAX_FRAME_VALUES} values)")

def _c_dim(path: str, meta: ModelMetadata, inputs: Mapping[str, Any]) -> int:
    """Classes of a conditional model: metadata c_dim and input "c" [N, c_dim] come together."""
    if meta.c_dim is None:
        if INPUT_C in inputs:
            raise _fail(path, f"input {INPUT_C!r} without metadata {ModelMetadata.key('c_dim')}")
        return 0
    c = inputs.get(INPUT_C)
    if c is None:
        raise _fail(path, f"metadata {ModelMetadata.key('c_dim')}={meta.c_dim} but no input {INPUT_C!r}")
    if c.type != "tensor(float)" or len(c.shape) != 2 or _static(c.shape[1]) not in (None, meta.c_dim):
        raise _fail(path, f"input {INPUT_C!r} must be float32 [N, {meta.c_dim}], got {c.type} {c.shape}")
    return meta.c_dim



def directions(info: ModelInfo) -> np.ndarray | None:
    """The model's semantic directions in z space, [K, z_dim] float64, or None if it carries none.

    Malformed entries are ignored (the model still plays, without directions)."""
    return info.meta.decode_directions() if info.meta is not None else None
