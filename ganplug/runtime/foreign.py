"""Generators exported elsewhere: float images out, any input name.

For a model that does not follow the ganplug contract, the engine feeds the latent
to the named input and does the contract's post-processing itself (scale to 0-255,
round, clamp, cast, NCHW -> NHWC). That is per-pixel work a contract model avoids.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..contract import ModelInfo, check_sizes
from ..errors import ContractError, EngineError

RANGES = {"-1,1": (1.0, 127.5), "0,1": (0.0, 255.0), "0,255": (0.0, 1.0)}  # (offset, scale): (x + offset) * scale
ALIASES = {"signed": "-1,1", "unit": "0,1", "byte": "0,255"}  # names that do not start with '-' on a command line
LAYOUTS = ("nchw", "nhwc")


@dataclass(frozen=True)
class ForeignSpec:
    """How to read a model made elsewhere (each field: None = work it out from the graph)."""

    input_name: str | None = None
    output_name: str | None = None
    output_range: str = "-1,1"
    z_dim: int | None = None
    layout: str = "nchw"


def _first_line(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    return (lines[0] if lines else type(e).__name__)[:200]


def _static(d: Any) -> int | None:
    return d if isinstance(d, int) and d > 0 else None


class ForeignAdapter:
    def __init__(self, session: Any, path: str, spec: ForeignSpec):
        out_range = ALIASES.get(spec.output_range, spec.output_range)
        if out_range not in RANGES:
            raise ContractError(f"--output-range must be one of {', '.join(ALIASES)} ({', '.join(RANGES)}), got {spec.output_range!r}")
        if spec.layout not in LAYOUTS:
            raise ContractError(f"--layout must be nchw or nhwc, got {spec.layout!r}")
        inputs = {i.name: i for i in session.get_inputs()}
        name = spec.input_name or next(iter(inputs))
        if name not in inputs:
            raise ContractError(f"{path}: no input named {name!r} (inputs: {', '.join(inputs)})")
        if len(inputs) > 1:
            raise ContractError(f"{path}: has {len(inputs)} inputs ({', '.join(inputs)}); ganplug can feed only a latent")
        inp = inputs[name]
        if inp.type != "tensor(float)":
            raise ContractError(f"{path}: input {name!r} is {inp.type}, expected tensor(float)")
        if len(inp.shape) not in (2, 4) or (len(inp.shape) == 4 and any(_static(d) not in (1, None) for d in inp.shape[2:])):
            raise ContractError(f"{path}: input {name!r} has shape {inp.shape}; expected [N, z_dim] or [N, z_dim, 1, 1]")
        z_dim = spec.z_dim or _static(inp.shape[1])
        if z_dim is None:
            raise ContractError(f"{path}: the size of input {name!r} is not fixed in the graph; give it with --z-dim")
        outputs = {o.name: o for o in session.get_outputs()}
        out_name = spec.output_name or next(iter(outputs))
        if out_name not in outputs:
            raise ContractError(f"{path}: no output named {out_name!r} (outputs: {', '.join(outputs)})")
        if outputs[out_name].type != "tensor(float)":
            raise ContractError(f"{path}: output {out_name!r} is {outputs[out_name].type}, expected tensor(float) for a foreign model")
        self.session, self.input_name, self.output_name = session, name, out_name
        self.rank4 = len(inp.shape) == 4
        self.offset, self.scale = RANGES[out_range]
        self.layout = spec.layout
        check_sizes(path, z_dim, list(outputs[out_name].shape)[1:])
        try:
            probe = self.session.run([out_name], {name: self._shape(np.zeros((1, z_dim), np.float32))})[0]
        except Exception as e:  # onnxruntime's own exception types: the graph cannot run
            raise EngineError(f"{path}: loads but fails on its first frame: {_first_line(e)}") from None
        if probe.ndim != 4:
            raise ContractError(f"{path}: output {out_name!r} has rank {probe.ndim}, expected 4 (an image batch)")
        n, a, b, c = probe.shape
        h, w, ch = (b, c, a) if spec.layout == "nchw" else (a, b, c)
        if ch not in (1, 3, 4):
            raise ContractError(f"{path}: output {out_name!r} is {probe.shape} read as {spec.layout}; expected an image "
                                "with 1, 3 or 4 channels (see --layout)")
        # Any W x H: the channel count alone tells a wrong --layout apart.
        self.info = ModelInfo(path=path, z_dim=z_dim, resolution=max(h, w), width=w, height=h, channels=3 if ch == 1 else ch,
                              architecture="foreign",
                              dataset="unknown (a model made elsewhere)", contract="none",
                              metadata={"input": name, "output": out_name, "range": out_range, "layout": spec.layout})

    def _shape(self, z: np.ndarray) -> np.ndarray:
        return z[:, :, None, None] if self.rank4 else z

    def run(self, z: np.ndarray) -> np.ndarray:
        """uint8 [N, H, W, C] frames, post-processed here as the contract would do in the graph."""
        x = self.session.run([self.output_name], {self.input_name: self._shape(z)})[0]
        if self.layout == "nchw":
            x = x.transpose(0, 2, 3, 1)
        x = np.rint((x + self.offset) * self.scale)
        np.clip(x, 0, 255, out=x)
        frames = x.astype(np.uint8)
        if frames.shape[-1] == 1:
            frames = np.repeat(frames, 3, axis=-1)
        return np.ascontiguousarray(frames)
