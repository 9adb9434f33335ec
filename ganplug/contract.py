"""Contract 2: what a ganplug ONNX model looks like (see ``export/README.md``).

The checks here use only what an onnxruntime session exposes, so the serving
side can validate a file without the ``onnx`` package or torch.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from .errors import ContractError

CONTRACT_VERSION = "1"
INPUT_Z = "z"
INPUT_TRUNCATION = "truncation"
OUTPUT_IMAGE = "image"
META_PREFIX = "ganplug."
REQUIRED_META = ("contract", "z_dim", "resolution", "channels", "architecture", "dataset")
# Optional: semantic directions in z space, float32 [K, z_dim] row-major, base64; shape as "K,z_dim".
META_DIRECTIONS, META_DIRECTIONS_SHAPE = META_PREFIX + "directions", META_PREFIX + "directions_shape"
# Split exports (style models): "mapping" (z, truncation -> w) or "synthesis" (w -> image); absent in whole models.
META_PART = META_PREFIX + "part"
INPUT_W = OUTPUT_W = "w"
# Extension for class-conditional models (NVlabs imports): float32 input "c" [N, c_dim], one-hot class labels,
# present exactly when the metadata carries ganplug.c_dim.
INPUT_C, META_C_DIM = "c", META_PREFIX + "c_dim"


@dataclass(frozen=True)
class ModelInfo:
    """What a server needs to know about a contract model."""

    path: str
    z_dim: int
    resolution: int
    channels: int
    architecture: str
    dataset: str
    contract: str = CONTRACT_VERSION
    has_truncation: bool = False
    metadata: Mapping[str, str] = field(default_factory=dict)
    c_dim: int = 0  # classes of a conditional model (input "c"); 0 = unconditional

    @property
    def frame_shape(self) -> tuple[int, int, int]:
        """(height, width, channels) of one frame."""
        return (self.resolution, self.resolution, self.channels)


def _fail(path: str, what: str) -> ContractError:
    return ContractError(f"{path}: breaks the ganplug model contract: {what}")


def _static(dim: Any) -> int | None:
    return dim if isinstance(dim, int) else None


def _int_meta(path: str, meta: Mapping[str, str], key: str) -> int:
    raw = meta[META_PREFIX + key]
    try:
        value = int(raw)
    except ValueError:
        raise _fail(path, f"metadata {META_PREFIX}{key}={raw!r} is not an integer") from None
    if value <= 0:
        raise _fail(path, f"metadata {META_PREFIX}{key}={value} must be positive")
    return value


def check_model(path: str, inputs: Sequence[Any], outputs: Sequence[Any], meta: Mapping[str, str]) -> ModelInfo:
    """Validate an onnxruntime session's inputs, outputs and metadata against the contract.

    ``inputs``/``outputs`` are onnxruntime ``NodeArg`` objects (anything with
    ``name``, ``type`` and ``shape``); ``meta`` is the custom metadata map.
    Raises :class:`ContractError` naming the first thing that is wrong.
    """
    part = meta.get(META_PART)
    if part:  # a half of a split export: fine for other programs, but not a whole model to serve
        whole = path.rsplit("." + part, 1)[0] + ".onnx" if f".{part}." in path else "the whole-model file"
        raise ContractError(f"{path}: is the {part} half of a split export (input {'z' if part == 'mapping' else 'w'}, "
                            f"output {'w' if part == 'mapping' else 'image'}); serve {whole}, or chain the halves as export/README.md shows")
    missing = [k for k in REQUIRED_META if META_PREFIX + k not in meta]
    if missing:
        raise _fail(path, "missing metadata " + ", ".join(META_PREFIX + k for k in missing))
    version = meta[META_PREFIX + "contract"]
    if version != CONTRACT_VERSION:
        raise _fail(path, f"contract version {version!r}, this ganplug reads version {CONTRACT_VERSION!r}")
    z_dim = _int_meta(path, meta, "z_dim")
    resolution = _int_meta(path, meta, "resolution")
    channels = _int_meta(path, meta, "channels")
    if channels not in (3, 4):
        raise _fail(path, f"metadata {META_PREFIX}channels={channels}, expected 3 or 4")

    by_name = {i.name: i for i in inputs}
    if INPUT_Z not in by_name:
        raise _fail(path, f"no input named {INPUT_Z!r} (inputs: {', '.join(by_name) or 'none'})")
    c_dim = _c_dim(path, meta, by_name)
    extra = sorted(set(by_name) - {INPUT_Z, INPUT_TRUNCATION} - ({INPUT_C} if c_dim else set()))
    if extra:
        raise _fail(path, f"unexpected inputs {', '.join(extra)}")
    z = by_name[INPUT_Z]
    if z.type != "tensor(float)":
        raise _fail(path, f"input {INPUT_Z!r} is {z.type}, expected tensor(float)")
    if len(z.shape) != 2:
        raise _fail(path, f"input {INPUT_Z!r} has rank {len(z.shape)}, expected 2 ([N, z_dim])")
    if _static(z.shape[1]) not in (None, z_dim):
        raise _fail(path, f"input {INPUT_Z!r} has {z.shape[1]} columns but metadata z_dim is {z_dim}")
    has_trunc = INPUT_TRUNCATION in by_name
    if has_trunc:
        t = by_name[INPUT_TRUNCATION]
        if t.type != "tensor(float)" or len(t.shape) != 0:
            raise _fail(path, f"input {INPUT_TRUNCATION!r} must be a float32 scalar, got {t.type} {t.shape}")

    out = {o.name: o for o in outputs}
    if OUTPUT_IMAGE not in out:
        raise _fail(path, f"no output named {OUTPUT_IMAGE!r} (outputs: {', '.join(out) or 'none'})")
    img = out[OUTPUT_IMAGE]
    if img.type != "tensor(uint8)":
        raise _fail(path, f"output {OUTPUT_IMAGE!r} is {img.type}, expected tensor(uint8)")
    if len(img.shape) != 4:
        raise _fail(path, f"output {OUTPUT_IMAGE!r} has rank {len(img.shape)}, expected 4 ([N, H, W, C])")
    want = (resolution, resolution, channels)
    for axis, (got, expected) in enumerate(zip(img.shape[1:], want), start=1):
        if _static(got) not in (None, expected):
            raise _fail(path, f"output {OUTPUT_IMAGE!r} dimension {axis} is {got}, metadata says {expected}")

    return ModelInfo(
        path=path,
        z_dim=z_dim,
        resolution=resolution,
        channels=channels,
        architecture=meta[META_PREFIX + "architecture"],
        dataset=meta[META_PREFIX + "dataset"],
        contract=version,
        has_truncation=has_trunc,
        metadata=dict(meta),
        c_dim=c_dim,
    )


def _c_dim(path: str, meta: Mapping[str, str], inputs: Mapping[str, Any]) -> int:
    """Classes of a conditional model: metadata c_dim and input "c" [N, c_dim] come together."""
    if META_C_DIM not in meta:
        return 0
    c_dim = _int_meta(path, meta, "c_dim")
    c = inputs.get(INPUT_C)
    if c is None:
        raise _fail(path, f"metadata {META_C_DIM}={c_dim} but no input {INPUT_C!r}")
    if c.type != "tensor(float)" or len(c.shape) != 2 or _static(c.shape[1]) not in (None, c_dim):
        raise _fail(path, f"input {INPUT_C!r} must be float32 [N, {c_dim}], got {c.type} {c.shape}")
    return c_dim


def encode_directions(directions: np.ndarray) -> dict[str, str]:
    """Metadata entries that carry ``directions`` ([K, z_dim]) inside a model file."""
    d = np.ascontiguousarray(directions, dtype="<f4")
    return {META_DIRECTIONS: base64.b64encode(d.tobytes()).decode("ascii"), META_DIRECTIONS_SHAPE: f"{d.shape[0]},{d.shape[1]}"}


def directions(info: ModelInfo) -> np.ndarray | None:
    """The model's semantic directions in z space, [K, z_dim] float64, or None if it carries none.

    Malformed entries are ignored (the model still plays, without directions)."""
    raw, shape = info.metadata.get(META_DIRECTIONS), info.metadata.get(META_DIRECTIONS_SHAPE)
    if not raw or not shape:
        return None
    try:
        k, d = (int(x) for x in shape.split(","))
        arr = np.frombuffer(base64.b64decode(raw, validate=True), "<f4").reshape(k, d)
    except (ValueError, TypeError):
        return None
    return arr.astype(np.float64) if d == info.z_dim and k > 0 else None
