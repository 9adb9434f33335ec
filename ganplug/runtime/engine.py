"""The inference engine: one onnxruntime session behind ``run(z) -> uint8 frames``."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import contract
from ..errors import ConfigError, ModelFileError

log = logging.getLogger("ganplug.engine")


def default_model_path() -> Path:
    """The bundled default model, shipped inside the package."""
    return Path(__file__).resolve().parent.parent / "models" / "default.onnx"


@dataclass(frozen=True)
class EngineConfig:
    device: str = "auto"  # auto | cpu | cuda
    threads: int = 0  # intra-op threads; 0 = all cores but one, leaving room for the sender
    spinning: bool = False  # onnxruntime's spin-waiting threads steal time from the OSC sender
    optimized_cache: str | None = None  # where to keep the optimised graph; None = no cache


def _default_threads() -> int:
    return max(1, (os.cpu_count() or 2) - 1)


class Engine:
    """Runs a contract model. ``run`` takes float32 ``[N, z_dim]`` and returns uint8 ``[N, H, W, C]``."""

    def __init__(self, model_path: str | os.PathLike, config: EngineConfig = EngineConfig()):
        import onnxruntime as ort

        if config.device not in ("auto", "cpu", "cuda"):
            raise ConfigError(f"--device must be auto, cpu or cuda, got {config.device!r}")
        path = Path(model_path)
        if not path.is_file():
            raise ModelFileError(f"{path}: no such model file")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = config.threads or _default_threads()
        opts.inter_op_num_threads = 1
        opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if config.spinning else "0")
        opts.log_severity_level = 3
        if config.optimized_cache:
            opts.optimized_model_filepath = config.optimized_cache

        available = ort.get_available_providers()
        want_cuda = config.device in ("auto", "cuda") and "CUDAExecutionProvider" in available
        if config.device == "cuda" and not want_cuda:
            log.warning("CUDA asked for but onnxruntime has no CUDA provider here; using the CPU")
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if want_cuda else ["CPUExecutionProvider"]
        try:
            self.session = ort.InferenceSession(str(path), sess_options=opts, providers=providers)
        except Exception as e:  # onnxruntime raises its own exception types for unreadable files
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ModelFileError(f"{path}: not a loadable ONNX model ({first[:200]})") from None
        used = self.session.get_providers()
        if want_cuda and "CUDAExecutionProvider" not in used:
            log.warning("CUDA provider failed to start; using the CPU")
        self.provider = "cuda" if "CUDAExecutionProvider" in used else "cpu"
        meta = self.session.get_modelmeta().custom_metadata_map
        self.info = contract.check_model(str(path), self.session.get_inputs(), self.session.get_outputs(), meta)

    def run(self, z: np.ndarray, truncation: float = 1.0) -> np.ndarray:
        """Frames for a batch of latents. Without a truncation input, ψ scales z."""
        z = np.ascontiguousarray(z, dtype=np.float32)
        if z.ndim == 1:
            z = z[None]
        feed = {contract.INPUT_Z: z}
        if self.info.has_truncation:
            feed[contract.INPUT_TRUNCATION] = np.asarray(truncation, np.float32)
        elif truncation != 1.0:
            feed[contract.INPUT_Z] = z * np.float32(truncation)
        return self.session.run([contract.OUTPUT_IMAGE], feed)[0]

    def warm_up(self, runs: int = 2) -> None:
        """Run a few frames so the first real frame does not pay for allocation."""
        z = np.zeros((1, self.info.z_dim), np.float32)
        for _ in range(runs):
            self.run(z)
