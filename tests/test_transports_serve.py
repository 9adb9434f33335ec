"""`ganplug serve` itself, in its own process, through each transport: paced raw OSC at 256 px
into a receiver that keeps the OS default receive buffer and works 10 ms per frame, JPEG
frames, and shared memory read by the example reader."""

from __future__ import annotations

import importlib.util
import time
import uuid

import numpy as np

from conftest import ROOT, free_port, start_cli, wait_for_line
from ganplug.osc.receive import FrameReceiver
from ganplug.runtime.engine import Engine, EngineConfig, default_model_path
from ganplug.seeds import z_from_seed


def bundled_frame(seed: int) -> np.ndarray:
    engine = Engine(default_model_path(), EngineConfig(threads=1, cache_dir=None))
    return engine.run(z_from_seed(seed, engine.info.z_dim)[None])[0]


def serve(*args: str):
    proc = start_cli("serve", "--listen", f"127.0.0.1:{free_port()}", *args)
    wait_for_line(proc, "serving", 60)
    return proc


def stop(proc) -> None:
    proc.terminate()
    proc.wait(10)


def test_serve_at_256_px_reaches_a_default_buffer_app_whole():
    with FrameReceiver("127.0.0.1", 0, rcvbuf=None) as rx:
        proc = serve("--size", "256x256", "--fps", "30", "--send", f"127.0.0.1:{rx.address[1]}")
        try:
            ids = []
            end = time.monotonic() + 8.0
            while time.monotonic() < end:
                for f in rx.poll(0.05):
                    assert f.pixels.shape == (256, 256, 3)
                    ids.append(f.frame_id)
                    time.sleep(0.010)  # the app's own work on each frame, on its only thread
        finally:
            stop(proc)
    ids = ids[30:]  # from the second second on: start-up is not the steady state
    sent = ids[-1] - ids[0] + 1
    assert sent > 150, sent
    assert len(set(ids)) / sent >= 0.99, (len(set(ids)), sent, rx.assembler.dropped)


def test_serve_sends_jpeg_frames_that_decode_to_the_model_image():
    want = bundled_frame(3)
    with FrameReceiver("127.0.0.1", 0, rcvbuf=None) as rx:
        proc = serve("--encoding", "jpeg", "--jpeg-quality", "90", "--walk", "hold", "--seed", "3", "--fps", "20",
                     "--send", f"127.0.0.1:{rx.address[1]}")
        try:
            frames = list(rx.frames(seconds=5, count=5))
        finally:
            stop(proc)
    assert len(frames) == 5
    err = np.abs(frames[-1].pixels.astype(int) - want).mean()
    other = np.abs(frames[-1].pixels.astype(int) - bundled_frame(4)).mean()
    # JPEG at quality 90 (4:2:0 chroma) of a 64 px frame with sharp colour edges: close to seed 3's
    # raw frame, far from another seed's, and not equal to it
    assert err < 8.0 and other > 5 * err, (err, other)
    assert not np.array_equal(frames[-1].pixels, want)  # and it really was compressed


def test_serve_writes_shared_memory_that_the_example_reader_reads():
    spec = importlib.util.spec_from_file_location("shm_reader", ROOT / "examples" / "python" / "shm_reader.py")
    reader_module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(reader_module)
    want = bundled_frame(5)
    name = f"gptest-{uuid.uuid4().hex[:8]}"
    proc = serve("--shm", name, "--walk", "hold", "--seed", "5", "--fps", "20", "--send", f"127.0.0.1:{free_port()}")
    reader = reader_module.ShmReader(name)
    try:
        got = []
        end = time.monotonic() + 10
        while len(got) < 5 and time.monotonic() < end:
            r = reader.read()
            if r is not None:
                got.append((r[0], r[1].copy()))
            time.sleep(0.01)
    finally:
        reader.close()
        stop(proc)
    assert len(got) == 5
    assert [fid for fid, _ in got] == sorted(fid for fid, _ in got)
    np.testing.assert_array_equal(got[-1][1], want)
