"""The engine: devices, I/O binding, batching, `ganplug bench`."""

import re

import numpy as np

from conftest import run_cli
from ganplug.runtime.engine import Engine, EngineConfig
from ganplug.runtime.render import RenderConfig, frames
from ganplug.runtime.walk import WalkParams
from ganplug.seeds import z_batch


def test_io_binding_gives_the_same_frames_and_never_aliases(tiny_model, engine):
    bound = Engine(tiny_model, EngineConfig(device="cpu", threads=1, io_binding=True))
    z = z_batch([1, 2, 3], 32)
    z_before = z.copy()
    a = bound.run(z)
    b = bound.run(z[::-1].copy(), 0.7)  # reuses the same buffers
    np.testing.assert_array_equal(z, z_before)  # the caller's latents are untouched
    np.testing.assert_array_equal(a, engine.run(z))  # earlier results are not overwritten
    np.testing.assert_array_equal(b, engine.run(z[::-1].copy(), 0.7))


def test_cuda_request_falls_back_to_cpu_with_a_notice(tiny_model, caplog):
    import onnxruntime as ort

    e = Engine(tiny_model, EngineConfig(device="cuda", threads=1))
    if "CUDAExecutionProvider" in ort.get_available_providers():
        assert e.provider == "cuda"
    else:
        assert e.provider == "cpu"
        assert any("using the CPU" in r.getMessage() for r in caplog.records)


def test_batched_render_matches_frame_by_frame(engine):
    p = WalkParams(mode="slerp", seed=8, period=0.4)
    one = dict(frames(engine, RenderConfig(output="-", walk=p, fps=10, seconds=1.1, batch=1)))
    four = dict(frames(engine, RenderConfig(output="-", walk=p, fps=10, seconds=1.1, batch=4)))
    assert sorted(one) == sorted(four) == list(range(11))
    for k in one:
        np.testing.assert_array_equal(one[k], four[k])


def test_bench_command_prints_a_table(tiny_model, tiny_run):
    r = run_cli("bench", str(tiny_model), "--batches", "1", "2", "--runs", "3", "--checkpoint", str(tiny_run), "--threads", "1")
    assert r.returncode == 0, r.stderr
    rows = [ln.split() for ln in r.stdout.splitlines() if re.match(r"^(onnxruntime|torch)", ln)]
    assert [(x[0], x[1]) for x in rows] == [("onnxruntime-cpu", "1"), ("onnxruntime-cpu", "2"),
                                           ("torch-eager-cpu", "1"), ("torch-eager-cpu", "2")]
    assert all(float(x[4]) > 0 for x in rows)


def test_bench_without_a_checkpoint_never_imports_torch(tiny_model):
    import subprocess
    import sys

    code = ("import sys; from ganplug.cli import main; "
            f"rc = main(['bench', {str(tiny_model)!r}, '--batches', '1', '--runs', '2', '--device', 'cpu']); "
            "print('IMPORTED', sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'onnx', 'onnxscript'))); "
            "sys.exit(rc)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "onnxruntime-cpu" in r.stdout and "IMPORTED []" in r.stdout, r.stdout
