"""``ganplug doctor``: what will work on this machine, and the command that fixes what will not.

It never imports torch (the check for the training extra only looks for the package), binds each
port for an instant and lets it go, and times the bundled model on the CPU or GPU it would serve on.
"""

from __future__ import annotations

import importlib.util
import shutil
import socket
import sys
import time
from dataclasses import dataclass

from .addr import host_port
from .runtime.config import DEFAULT_LISTEN
from .web.config import WebConfig

OK, WARN, FAIL = "ok", "warn", "FAIL"

# extra -> (modules it brings, what it is for)
EXTRAS: dict[str, tuple[tuple[str, ...], str]] = {
    "video": (("imageio", "imageio_ffmpeg"), "render -o walk.mp4 / .gif"),
    "ndi": (("NDIlib",), "serve --ndi"),
    "midi": (("mido", "rtmidi"), "serve --midi"),
    "link": (("aalink",), "serve --link (Ableton Link)"),
    "audio": (("sounddevice",), "serve --audio DEVICE (live input; WAV files need nothing)"),
    "zeroconf": (("zeroconf",), "serve --web --zeroconf"),
    "train": (("torch", "onnx", "onnxscript"), "train and export"),
}


@dataclass(frozen=True)
class Finding:
    status: str  # OK, WARN or FAIL
    what: str
    fix: str = ""

    def line(self) -> str:
        return f"{self.status:<4}  {self.what}" + (f"\n      fix: {self.fix}" if self.fix else "")


@dataclass(frozen=True)
class DoctorConfig:
    listen: str = DEFAULT_LISTEN  # the control port `serve` would take (UDP and TCP)
    web: str = WebConfig.listen  # the port `serve --web` would take (TCP)
    runs: int = 20  # timed runs of the bundled model


def check_onnxruntime() -> list[Finding]:
    """onnxruntime's version and providers, and why CUDA is missing when it is."""
    try:
        import onnxruntime as ort
    except ImportError as e:
        return [Finding(FAIL, f"onnxruntime cannot be imported ({e})", "pip install onnxruntime")]
    providers = ort.get_available_providers()
    out = [Finding(OK, f"onnxruntime {ort.__version__}, providers: {', '.join(providers)}")]
    if "CUDAExecutionProvider" in providers:
        return out
    gpu = shutil.which("nvidia-smi") is not None
    if gpu and ort.get_device() != "GPU":
        out.append(Finding(WARN, "an NVIDIA GPU is present but this onnxruntime is the CPU build",
                           "pip uninstall -y onnxruntime && pip install -r requirements-gpu.txt && pip install --no-deps ."))
    elif gpu:
        out.append(Finding(WARN, "onnxruntime-gpu is installed but its CUDA provider did not load (CUDA/cuDNN libraries missing?)",
                           "install the CUDA and cuDNN versions onnxruntime-gpu names for this release"))
    else:
        out.append(Finding(OK, "no NVIDIA GPU found (nvidia-smi missing): serving runs on the CPU"))
    return out


def _port_free(kind: int, host: str, port: int) -> str | None:
    """None when ``host:port`` can be bound now, else the reason."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, kind) as s:
        try:
            s.bind((host, port))
        except OSError as e:
            return e.strerror or str(e)
    return None


def check_ports(config: DoctorConfig) -> list[Finding]:
    """Whether the control port (UDP and TCP) and the web port can be taken."""
    out = []
    wanted = [("control", config.listen, socket.SOCK_DGRAM, "UDP"), ("control", config.listen, socket.SOCK_STREAM, "TCP"),
              ("web", config.web, socket.SOCK_STREAM, "TCP")]
    for role, spec, kind, proto in wanted:
        host, port = host_port(spec)
        why = _port_free(kind, host, port)
        if why is None:
            out.append(Finding(OK, f"{role} port {proto} {host}:{port} is free"))
        else:
            flag = "--listen" if role == "control" else "--web"
            out.append(Finding(WARN, f"{role} port {proto} {host}:{port} is taken ({why}); another `ganplug serve` may be running",
                               f"stop it, or serve with {flag} {host}:{port + 10}"))
    return out


def check_extras() -> list[Finding]:
    """Which optional extras are installed (found, not imported: torch alone takes seconds)."""
    out = []
    for extra, (modules, purpose) in EXTRAS.items():
        missing = [m for m in modules if importlib.util.find_spec(m) is None]
        if missing:
            out.append(Finding(WARN, f"extra {extra} not installed ({', '.join(missing)} missing): needed for {purpose}",
                               f"pip install 'ganplug[{extra}]'" if extra != "train" else "pip install torch==2.13.0 'ganplug[train]'"))
        else:
            out.append(Finding(OK, f"extra {extra} installed: {purpose}"))
    return out


def check_bundled_model(runs: int) -> list[Finding]:
    """Load the bundled model and time it: the serving path works when this does."""
    import numpy as np

    from .errors import GanplugError
    from .runtime.engine import Engine, default_model_path

    try:
        engine = Engine(default_model_path())
        engine.warm_up()
        z = np.random.default_rng(0).standard_normal((1, engine.info.z_dim)).astype(np.float32)
        times = []
        for _ in range(max(1, runs)):
            t0 = time.perf_counter()
            engine.run(z)
            times.append(time.perf_counter() - t0)
    except GanplugError as e:
        return [Finding(FAIL, f"the bundled model does not run: {e}", "pip install --force-reinstall ganplug")]
    ms = 1e3 * float(np.median(times))
    info = engine.info
    return [Finding(OK, f"bundled model {info.width}x{info.height} on {engine.provider}: {ms:.1f} ms a frame "
                        f"(up to {1e3 / ms:.0f} frames/s)")]


def diagnose(config: DoctorConfig = DoctorConfig()) -> list[Finding]:
    """Every check, in the order a user reads them."""
    py = sys.version_info
    findings = [Finding(OK if py >= (3, 10) else FAIL, f"Python {py.major}.{py.minor}.{py.micro}",
                        "" if py >= (3, 10) else "use Python 3.10 or newer")]
    findings += check_onnxruntime()
    if not any(f.status == FAIL for f in findings):
        findings += check_bundled_model(config.runs)
    findings += check_ports(config)
    findings += check_extras()
    return findings


def report(findings: list[Finding]) -> int:
    """Print the findings; 0 when the serving path works (nothing FAILed)."""
    for f in findings:
        print(f.line())
    failed = sum(f.status == FAIL for f in findings)
    warned = sum(f.status == WARN for f in findings)
    print(f"{'serving works' if not failed else 'serving will not work'}: {failed} problem(s), {warned} warning(s)")
    return 1 if failed else 0
