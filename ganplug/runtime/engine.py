"""The inference engine: one onnxruntime session behind ``run(z) -> uint8 frames``."""

from __future__ import annotations

import hashlib
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import contract
from ..errors import ConfigError, ContractError, EngineError, ModelFileError
from .foreign import ForeignAdapter, ForeignSpec

log = logging.getLogger("ganplug.engine")


def default_model_path() -> Path:
    """The bundled default model, shipped inside the package."""
    return Path(__file__).resolve().parent.parent / "models" / "default.onnx"


DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class EngineConfig:
    device: str = "auto"  # one of DEVICES
    threads: int = 0  # intra-op threads; 0 = all cores but one, leaving room for the sender
    spinning: bool = False  # onnxruntime's spin-waiting threads steal time from the OSC sender
    cache_dir: str | None = "auto"  # optimised graphs kept here for a faster next start; auto = ~/.cache/ganplug/ort; None = off
    io_binding: bool | None = None  # preallocated input/output buffers; None = on for CUDA only
    foreign: ForeignSpec | None = None  # read a model made elsewhere instead of a contract model


def _default_threads() -> int:
    return max(1, (os.cpu_count() or 2) - 1)


def _session_options(config: EngineConfig):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = config.threads or _default_threads()
    opts.inter_op_num_threads = 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if config.spinning else "0")
    opts.log_severity_level = 4  # fatal only: a failing run is reported by us, in one line
    return opts


def _cache_path(model: Path, cache_dir: str | None) -> Path | None:
    """Where the optimised graph of ``model`` lives: keyed by the file (path, size, time) and onnxruntime's version."""
    if cache_dir is None:
        return None
    import onnxruntime as ort

    if cache_dir == "auto":
        cache_dir = os.environ.get("GANPLUG_CACHE") or str(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ganplug")
        cache_dir = str(Path(cache_dir) / "ort")
    try:
        st = model.stat()
        key = hashlib.sha256(f"{model.resolve()}|{st.st_size}|{st.st_mtime_ns}|{ort.__version__}".encode()).hexdigest()[:20]
        folder = Path(cache_dir)
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None  # no cache is no problem: the model just starts a little slower
    return folder / f"{model.stem}-{key}.onnx"


def _load_failure(message: str) -> str:
    """One line on why onnxruntime would not load a file; opset trouble gets named plainly."""
    opset = re.search(r"Opset (\d+) is under development.*?support for domain (\S+) is till opset (\d+)", message, re.S)
    if opset:
        return (f"uses opset {opset.group(1)}, newer than this onnxruntime {_ort_version()} supports "
                f"({opset.group(2)} up to {opset.group(3)}); re-export with an older opset or upgrade onnxruntime")
    unsupported = re.search(r"(Opset \d+ .*?not supported[^.\n]*|opset_import[^.\n]*)", message)
    if unsupported:
        return f"not loadable by onnxruntime {_ort_version()}: {unsupported.group(1)[:160]}"
    first = message.strip().splitlines()[0] if message.strip() else "unknown error"
    return f"not a loadable ONNX model ({first[:200]})"


def _ort_version() -> str:
    import onnxruntime as ort

    return ort.__version__


def _open_session(path: Path, config: EngineConfig, providers: list[str], want_cuda: bool):
    """The onnxruntime session, from this machine's cached optimised graph where there is one
    (CPU only); returns (session, whether it came from the cache)."""
    import onnxruntime as ort

    cached = _cache_path(path, config.cache_dir) if not want_cuda else None
    if cached is not None and cached.is_file():
        # A graph onnxruntime already optimised on this machine: skip optimising it again.
        fast = _session_options(config)
        fast.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        try:
            return ort.InferenceSession(str(cached), sess_options=fast, providers=providers), True
        except Exception:
            cached.unlink(missing_ok=True)
    opts = _session_options(config)
    tmp = None
    if cached is not None:
        tmp = cached.with_name(f".{cached.name}.{os.getpid()}.tmp")
        opts.optimized_model_filepath = str(tmp)
    try:
        return ort.InferenceSession(str(path), sess_options=opts, providers=providers), False
    except Exception as e:  # onnxruntime raises its own exception types for unreadable files
        raise ModelFileError(f"{path}: {_load_failure(str(e))}") from None
    finally:
        if tmp is not None and tmp.exists():
            os.replace(tmp, cached)


def _contract_info(session, path: str) -> contract.ModelInfo:
    """Check a session against the contract; a file that does not claim it is pointed to the foreign-model flags."""
    props = session.get_modelmeta().custom_metadata_map
    try:
        return contract.check_model(path, session.get_inputs(), session.get_outputs(), props)
    except ContractError as e:
        if contract.claims_contract(props):
            raise
        raise ContractError(f"{e} (for a model made elsewhere, describe it with --output-range, --input-name, --z-dim)") from None


class Engine:
    """Runs a contract model. ``run`` takes float32 ``[N, z_dim]`` and returns uint8 ``[N, H, W, C]``."""

    def __init__(self, model_path: str | os.PathLike, config: EngineConfig = EngineConfig()):
        import onnxruntime as ort

        if config.device not in DEVICES:
            raise ConfigError(f"--device must be auto, cpu or cuda, got {config.device!r}")
        self.config = config  # a model loaded during the show opens with the same settings
        path = Path(model_path)
        if not path.is_file():
            raise ModelFileError(f"{path}: no such model file")
        available = ort.get_available_providers()
        want_cuda = config.device in ("auto", "cuda") and "CUDAExecutionProvider" in available
        if config.device == "cuda" and not want_cuda:
            log.warning("CUDA asked for but onnxruntime has no CUDA provider here; using the CPU")
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if want_cuda else ["CPUExecutionProvider"]
        self.session, self.cached_start = _open_session(path, config, providers, want_cuda)
        used = self.session.get_providers()
        if want_cuda and "CUDAExecutionProvider" not in used:
            log.warning("CUDA provider failed to start; using the CPU")
        self.provider = "cuda" if "CUDAExecutionProvider" in used else "cpu"
        self.foreign = ForeignAdapter(self.session, str(path), config.foreign) if config.foreign else None
        self.info = self.foreign.info if self.foreign is not None else _contract_info(self.session, str(path))
        if self.foreign is None:
            contract.check_sizes(str(path), self.info.z_dim, self.info.frame_shape)
        self._note_precision(path)
        self.io_binding = self.foreign is None and (self.provider == "cuda" if config.io_binding is None else config.io_binding)
        self._bound: dict[int, tuple] = {}  # batch size -> (binding, z buffer, truncation buffer, output buffer)
        self.warmed = False
        self.class_index = 0  # conditional models: the class every frame is drawn from (see set_class)

    def _note_precision(self, path: Path) -> None:
        if self.provider == "cpu" and self.info.meta is not None and self.info.meta.precision == "fp16":
            log.warning("%s is an fp16 model, meant for GPUs: on the CPU it is no faster than its fp32 export "
                        "(export without --half for CPU serving)", path.name)

    # Class-conditional models (contract extension: input "c", metadata ganplug.c_dim).
    @property
    def c_dim(self) -> int:
        """Number of classes of a conditional model; 0 for unconditional ones."""
        return getattr(self.info, "c_dim", 0)

    def set_class(self, index: int) -> None:
        """Draw every following frame from class ``index`` (fed as a one-hot ``c``); safe to call
        from another thread between runs. :class:`ConfigError` for unconditional models or an
        index outside 0..c_dim-1."""
        if not self.c_dim:
            raise ConfigError(f"{self.info.path} is not class-conditional (it has no class input)")
        if not 0 <= int(index) < self.c_dim:
            raise ConfigError(f"class {index} is outside 0..{self.c_dim - 1}")
        self.class_index = int(index)

    def _labels(self, n: int) -> np.ndarray:
        c = np.zeros((n, self.c_dim), np.float32)
        c[:, self.class_index] = 1.0
        return c

    def _feed(self, z: np.ndarray, truncation: float) -> dict[str, np.ndarray]:
        z = np.ascontiguousarray(z, dtype=np.float32)
        if z.ndim == 1:
            z = z[None]
        feed = {contract.INPUT_Z: z}
        if self.info.has_truncation:
            feed[contract.INPUT_TRUNCATION] = np.asarray(truncation, np.float32)
        elif truncation != 1.0:
            feed[contract.INPUT_Z] = z * np.float32(truncation)
        if self.c_dim and self.foreign is None:
            feed[contract.INPUT_C] = self._labels(z.shape[0])
        return feed

    def run(self, z: np.ndarray, truncation: float = 1.0) -> np.ndarray:
        """Frames for a batch of latents. Without a truncation input, ψ scales z."""
        feed = self._feed(z, truncation)
        if self.foreign is not None:
            return self.foreign.run(feed[contract.INPUT_Z])
        if self.io_binding:
            return self._run_bound(feed)
        return self.session.run([contract.OUTPUT_IMAGE], feed)[0]

    def _run_bound(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        """Run on buffers allocated once per batch size (on the GPU for CUDA), updated in place."""
        import onnxruntime as ort

        z = feed[contract.INPUT_Z]
        n = z.shape[0]
        device = "cuda" if self.provider == "cuda" else "cpu"
        slot = self._bound.get(n)
        if slot is None:
            binding = self.session.io_binding()
            # Copies: on the CPU an OrtValue shares memory with its array, which must not be the caller's.
            values = {k: ort.OrtValue.ortvalue_from_numpy(v.copy(), device, 0) for k, v in feed.items()}
            for k, v in values.items():
                binding.bind_ortvalue_input(k, v)
            out = ort.OrtValue.ortvalue_from_shape_and_type((n, *self.info.frame_shape), np.uint8, device, 0)
            binding.bind_ortvalue_output(contract.OUTPUT_IMAGE, out)
            slot = self._bound[n] = (binding, values, out)
        else:
            for k, v in feed.items():
                slot[1][k].update_inplace(v)
        self.session.run_with_iobinding(slot[0])
        frames = slot[2].numpy()
        # On the CPU this is a view of the reused buffer: hand out a copy the caller can keep.
        return frames.copy() if device == "cpu" else frames

    def warm_up(self, runs: int = 2) -> None:
        """Run a few frames so the first real frame does not pay for allocation (once per engine).

        A model that loads but cannot run, or makes frames of another shape than it declares,
        is an :class:`EngineError` / :class:`ContractError` here, in one line."""
        if self.warmed:
            return
        z = np.zeros((1, self.info.z_dim), np.float32)
        for _ in range(runs):
            try:
                frames = self.run(z)
            except Exception as e:  # onnxruntime's own exception types
                lines = str(e).strip().splitlines()
                raise EngineError(f"{self.info.path}: loads but fails on its first frame: "
                                  f"{(lines[0] if lines else type(e).__name__)[:200]}") from None
            if frames.shape[1:] != self.info.frame_shape:
                raise ContractError(f"{self.info.path}: makes frames of {frames.shape[1:]}, "
                                    f"but declares {self.info.frame_shape}")
        self.warmed = True
