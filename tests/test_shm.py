"""Issue 13 part 3: frames in shared memory, read by another process, never torn."""

import json
import os
import struct
import subprocess
import sys
import uuid
from multiprocessing import shared_memory
from pathlib import Path

import numpy as np
import pytest

from ganplug.errors import ConfigError
from ganplug.transports.shm import ShmSink, pattern_frame

ROOT = Path(__file__).resolve().parent.parent
READER = ROOT / "examples" / "python" / "shm_reader.py"
sys.path.insert(0, str(READER.parent))
from shm_reader import ShmReader, attach, pattern_ok  # noqa: E402


def name() -> str:
    return f"gptest-{uuid.uuid4().hex[:10]}"


def env() -> dict:
    return dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")


def test_header_is_the_documented_layout():
    n = name()
    sink = ShmSink(n)
    px = np.random.default_rng(0).integers(0, 256, (48, 64, 4), dtype=np.uint8)
    sink.send_frame(41, px, 1 / 60)
    raw = shared_memory.SharedMemory(n)  # this process created it: the tracker may own it
    try:
        head = bytes(raw.buf[:64])
        assert head[:4] == b"GPLG"
        assert struct.unpack_from("<5I", head, 4) == (1, 64, 48, 4, 2)  # version, width, height, channels, slots
        sequence, frame_id, ready = struct.unpack_from("<QQI", head, 24)
        assert (sequence, frame_id, ready) == (2, 41, 1)
        assert head[44:] == bytes(20)
        frame = 64 * 48 * 4
        assert raw.size >= 64 + 2 * frame
        assert bytes(raw.buf[64 + ready * frame:64 + (ready + 1) * frame]) == px.tobytes()
    finally:
        raw.close()
        sink.close()
    with pytest.raises(FileNotFoundError):
        shared_memory.SharedMemory(n)


def test_reader_follows_frames_and_a_size_change():
    n = name()
    sink = ShmSink(n)
    reader = ShmReader(n)
    try:
        assert reader.read() is None  # no block yet
        sink.send_frame(1, pattern_frame(1, 16, 16, 3), 0)
        fid, px = reader.read()
        assert fid == 1 and pattern_ok(1, px) and px.shape == (16, 16, 3)
        assert reader.read() is None  # nothing new
        sink.send_frame(2, pattern_frame(2, 32, 8, 4), 0)  # a new model size: a new block
        assert reader.read() is None  # the old block says it is dead ...
        fid, px = reader.read()  # ... and the name now holds the new one
        assert fid == 2 and px.shape == (32, 8, 4) and pattern_ok(2, px)
    finally:
        reader.close()
        sink.close()


def test_pattern_check_sees_a_torn_frame():
    torn = pattern_frame(7, 64, 64, 4).copy()
    torn[32:] = pattern_frame(9, 64, 64, 4)[32:]
    assert pattern_ok(7, pattern_frame(7, 64, 64, 4))
    assert not pattern_ok(7, torn)


def test_a_reader_exiting_leaves_the_block_alone():
    """Python 3.11's resource tracker would unlink the block when a reader exits."""
    n = name()
    sink = ShmSink(n)
    sink.send_frame(3, pattern_frame(3, 8, 8, 4), 0)
    code = f"import sys; sys.path.insert(0, {str(READER.parent)!r}); from shm_reader import ShmReader; r = ShmReader({n!r}); print(r.read()[0]); r.close()"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env())
    assert out.stdout.strip() == "3", out.stderr
    still = attach(n)  # the block survived the reader's exit
    still.close()
    sink.close()


def test_bad_settings_are_config_errors():
    with pytest.raises(ConfigError):
        ShmSink("x", slots=1)
    with pytest.raises(ConfigError):
        ShmSink("a/b")


def test_1024px_rgba_at_60fps_to_another_process_is_never_torn():
    """Writer and reader in two processes; 600 frames here, 10,000 in benchmarks/transports.py."""
    n, frames = name(), 600
    reader = subprocess.Popen([sys.executable, str(READER), n, "--check", "--frames", str(frames), "--seconds", "60"],
                              stdout=subprocess.PIPE, text=True, env=env())
    writer = subprocess.run([sys.executable, "-m", "ganplug.transports.shm", n, "--size", "1024x1024", "--channels", "4",
                             "--fps", "60", "--frames", str(frames)], capture_output=True, text=True, timeout=120, env=env())
    got = json.loads(reader.communicate(timeout=60)[0])
    wrote = json.loads(writer.stdout)
    assert wrote["frames"] == frames and wrote["fps"] > 57, wrote
    assert got["shape"] == [1024, 1024, 4]
    assert got["torn"] == 0
    assert got["frames"] >= 0.75 * frames, got  # the reader checks 4 MB per frame: CPU-bound on a busy machine
