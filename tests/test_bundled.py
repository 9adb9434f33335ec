"""The bundled default model: in the package, under the contract, served when no model is named."""

import numpy as np

from conftest import free_port, run_cli, start_cli, wait_for_line
from ganplug import contract
from ganplug.osc.receive import FrameReceiver
from ganplug.runtime.engine import Engine, EngineConfig, default_model_path
from ganplug.seeds import z_from_seed


def test_bundled_model_follows_the_contract():
    path = default_model_path()
    assert path.is_file(), "ganplug/models/default.onnx is missing"
    assert path.stat().st_size < 20e6  # a few MB
    e = Engine(path, EngineConfig(device="cpu", threads=1))
    assert e.info.resolution >= 64 and e.info.channels == 3
    assert "procedural" in e.info.dataset
    assert contract.directions(e.info) is not None
    frames = e.run(np.stack([z_from_seed(s, e.info.z_dim) for s in range(8)]))
    # a trained model: images differ from seed to seed and are not flat
    assert frames.std(axis=(1, 2, 3)).min() > 10
    assert np.abs(frames[0].astype(int) - frames[1].astype(int)).mean() > 10


def test_serve_without_a_model_serves_the_bundled_one():
    rx = FrameReceiver("127.0.0.1", 0, rcvbuf=0)
    proc = start_cli("serve", "--send", f"127.0.0.1:{rx.address[1]}", "--listen", f"127.0.0.1:{free_port()}", "--seconds", "5")
    try:
        banner = wait_for_line(proc, "serving ")
        assert "default.onnx" in banner
        got = list(rx.frames(count=5, seconds=10))
    finally:
        proc.kill()
        proc.wait()
        rx.close()
    assert len(got) == 5 and got[0].width >= 64
    assert run_cli("info").returncode == 0
