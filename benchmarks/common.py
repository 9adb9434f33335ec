"""Shared pieces for the benchmark scripts: models of a given size, a server subprocess, ports."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import threading
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(tempfile.gettempdir()) / "ganplug-bench"


def dcgan_model(resolution: int, width: int = 64, z_dim: int = 128):
    """A DCGAN generator (eval mode, batch-norm statistics set) of the given size, and its contract ONNX file.

    Random weights time the same as trained ones; the file is cached between runs.
    """
    import torch

    from ganplug import contract
    from ganplug.train.models import ContractModel, DCGANGenerator, init_weights

    torch.manual_seed(resolution)
    g = DCGANGenerator(z_dim, resolution, 3, width)
    g.apply(init_weights)
    for m in g.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.1)
            m.running_var.uniform_(0.5, 2.0)
    g.eval().requires_grad_(False)
    path = CACHE / f"dcgan-{resolution}-w{width}.onnx"
    if not path.exists():
        import onnx

        CACHE.mkdir(parents=True, exist_ok=True)
        from ganplug.export import export_graph

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            export_graph(ContractModel(g).eval(), {contract.INPUT_Z: torch.zeros(2, z_dim)}, contract.OUTPUT_IMAGE, path, 18, "legacy")
        m = onnx.load(str(path))
        onnx.helper.set_model_props(m, contract.ModelMetadata(
            contract=contract.CONTRACT_VERSION, z_dim=z_dim, resolution=resolution, channels=3, architecture="dcgan",
            dataset="random weights (benchmark)").to_props())
        onnx.save(m, str(path))
    return g, path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.bind(("127.0.0.1", 0))
        return u.getsockname()[1]


@contextlib.contextmanager
def server(model: Path, *args: str):
    """`ganplug serve` in its own process; yields (process, control port)."""
    ctl = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "ganplug", "serve", str(model), "--listen", f"127.0.0.1:{ctl}", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    ready = threading.Event()

    def watch() -> None:
        line = proc.stdout.readline()  # the banner; the rest is read when the server stops
        if line.startswith("serving "):
            ready.set()
    threading.Thread(target=watch, daemon=True).start()
    if not ready.wait(60):
        proc.kill()
        raise RuntimeError("server did not start: " + proc.stderr.read()[-2000:])
    try:
        yield proc, ctl
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=10)
        for line in (out + err).splitlines():
            if line.startswith("stopped after") or "warning" in line:
                print("  server:", line, flush=True)


def rss_mb(pid: int) -> float:
    """Resident memory of a process, from /proc (Linux)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")
