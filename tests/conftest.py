"""Shared fixtures: a tiny data set, a tiny trained run and its exported model,
free ports, the CLI as a subprocess, and real OSC peers."""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Optimised-graph caches of test models go to a throwaway folder, not the user's cache.
os.environ["GANPLUG_CACHE"] = tempfile.mkdtemp(prefix="ganplug-test-cache-")
atexit.register(shutil.rmtree, os.environ["GANPLUG_CACHE"], ignore_errors=True)
NODE_DIR = ROOT / "tests" / "node"


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    """A port free for both UDP and TCP on 127.0.0.1 right now."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u, socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
            u.bind(("127.0.0.1", 0))
            port = u.getsockname()[1]
            try:
                t.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port")


def need(tool: str) -> str:
    """Path of an external peer; skipped when absent, unless ./dev test promised to install it."""
    path = shutil.which(tool)
    if path is None:
        if os.environ.get("GANPLUG_REQUIRE_PEERS"):
            pytest.fail(f"{tool} is not installed (./dev test should have installed it)")
        pytest.skip(f"{tool} not installed")
    return path


def need_node_osc() -> str:
    node = need("node")
    if not (NODE_DIR / "node_modules" / "osc").is_dir():
        if os.environ.get("GANPLUG_REQUIRE_PEERS"):
            pytest.fail("npm package osc missing in tests/node (./dev test installs it)")
        pytest.skip("npm package osc not installed")
    return node


def run_cli(*args: str, timeout: float = 120, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """``ganplug ARGS`` in a fresh interpreter, as a user runs it."""
    e = dict(os.environ, PYTHONUNBUFFERED="1")
    if env:
        e.update(env)
    return subprocess.run([sys.executable, "-m", "ganplug", *args], capture_output=True, text=True, timeout=timeout,
                          cwd=cwd, env=e)


def start_cli(*args: str, cwd: Path | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "ganplug", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=cwd, env=dict(os.environ, PYTHONUNBUFFERED="1"))


def wait_for_line(proc: subprocess.Popen, needle: str, timeout: float = 60) -> str:
    """Read the process's stdout until a line containing ``needle`` (the server's start banner)."""
    result: list[str] = []

    def reader() -> None:
        for line in proc.stdout:
            if needle in line:
                result.append(line)
                return

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    t.join(timeout)
    if not result:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"no line with {needle!r} within {timeout}s; stderr: {err[-2000:]}")
    return result[0]


def assert_one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> str:
    """A user-facing failure: non-zero exit, no traceback, one line on stderr naming the problem."""
    assert proc.returncode != 0, proc.stdout + proc.stderr
    err = proc.stderr.strip()
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if "error:" in ln]
    assert len(lines) == 1, err
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    """48 procedural images of 48 px (resized to 32 by the trainer)."""
    from ganplug.procedural import generate

    d = tmp_path_factory.mktemp("data")
    generate(d, 48, size=48, seed=3, progress=False)
    return d


@pytest.fixture(scope="session")
def tiny_run(tiny_data, tmp_path_factory) -> Path:
    """A 32 px DCGAN trained for 4 steps."""
    from ganplug.train.config import TrainConfig
    from ganplug.train.loop import train

    run = tmp_path_factory.mktemp("run")
    train(TrainConfig(data=str(tiny_data), out=str(run), arch="dcgan", resolution=32, steps=4, batch=8, z_dim=32, g_width=8,
                      d_width=8, sample_every=2, checkpoint_every=2, progress=False, threads=1))
    _spread_output(run)
    return run


SPREAD_STD = 1.5  # spread of the last layer's output before tanh: images span 0..255 without saturating


def _spread_output(run: Path) -> None:
    """Four steps leave DCGAN's initial N(0, 0.02) weights painting flat grey (pixels 127 and 128 only),
    so a parity check or a "this seed's frame arrived" check could not fail. Scaling the last layer of
    G and G_ema so that its output has a standard deviation of SPREAD_STD over 16 seeds gives images that
    span 0..255 and differ from seed to seed (a fixed gain would saturate or stay grey depending on the
    batch-norm statistics the run saved); the step-4 preview is redrawn from the new G_ema so the run stays
    self-consistent."""
    import torch

    from ganplug.seeds import z_batch
    from ganplug.train import checkpoint
    from ganplug.train.config import TrainConfig
    from ganplug.train.loop import preview, save_grid
    from ganplug.train.models import build_for

    path = checkpoint.list_checkpoints(run)[-1]
    state = torch.load(path, weights_only=True)
    cfg = TrainConfig.from_dict(state["config"])

    def generator():
        g, _ = build_for(cfg)
        g.load_state_dict(state["G_ema"])
        return g.eval()

    last = max((k for k, v in state["G_ema"].items() if k.endswith(".weight") and v.dim() == 4), key=lambda k: int(k.split(".")[1]))
    g, seen = generator(), []
    dict(g.named_modules())[last.rsplit(".", 1)[0]].register_forward_hook(lambda m, i, out: seen.append(out))
    with torch.no_grad():
        g(torch.from_numpy(z_batch(list(range(16)), cfg.z_dim)))
    gain = SPREAD_STD / float(seen[0].std())
    for key in ("G", "G_ema"):
        state[key][last] = state[key][last] * gain
    torch.save(state, path)
    save_grid(preview(generator(), cfg.z_dim, torch.device("cpu")), run / "samples" / f"step-{state['step']:08d}.png")


@pytest.fixture(scope="session")
def tiny_model(tiny_run, tmp_path_factory) -> Path:
    """The tiny run exported under the contract."""
    from ganplug.export import ExportConfig, export

    out = tmp_path_factory.mktemp("model") / "tiny.onnx"
    export(ExportConfig(source=str(tiny_run), output=str(out)))
    return out


@pytest.fixture(scope="session")
def engine(tiny_model):
    from ganplug.runtime.engine import Engine, EngineConfig

    return Engine(tiny_model, EngineConfig(device="cpu", threads=1))


@pytest.fixture(scope="session")
def wide_model(tmp_path_factory) -> Path:
    """A non-square contract model: 48 x 32 (W x H) frames, z_dim 12 (tests/contract_models.py)."""
    from contract_models import pattern_model

    return pattern_model(tmp_path_factory.mktemp("wide") / "wide.onnx", 48, 32, z_dim=12, seed=1)


@pytest.fixture(scope="session")
def tall_model(tmp_path_factory) -> Path:
    """A portrait contract model: 24 x 40 (W x H) frames, z_dim 10."""
    from contract_models import pattern_model

    return pattern_model(tmp_path_factory.mktemp("tall") / "tall.onnx", 24, 40, z_dim=10, seed=2)
