"""Never lose work: Ctrl-C saves and exits 130, and a process killed at any moment (saving
included) leaves a newest checkpoint that loads and resumes."""

import random
import re
import signal
import time
from pathlib import Path

import pytest

from conftest import run_cli, start_cli
from ganplug.train import checkpoint

TINY = ("--arch", "dcgan", "--resolution", "16", "--batch", "4", "--g-width", "4", "--d-width", "4", "--z-dim", "8", "--swd-every", "0",
        "--no-progress", "--threads", "1")


def _wait(cond, proc, timeout=90.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        if proc.poll() is not None:
            raise AssertionError(f"trainer exited early ({proc.returncode}): {proc.stderr.read()[-2000:]}")
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("timed out waiting for the trainer")


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_ctrl_c_saves_at_the_step_and_resume_continues(tiny_data, tmp_path):
    run = tmp_path / "run"
    proc = start_cli("train", str(tiny_data), "--out", str(run), "--steps", "1000000", "--log-every", "1",
                     "--checkpoint-every", "100000", "--sample-every", "100000", *TINY)
    _wait(lambda: _lines(run / "metrics.jsonl") >= 3, proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    m = re.search(r"interrupted; saved step (\d+) to (\S+)", out)
    assert m, out + err
    step = int(m[1])
    assert step >= 3 and Path(m[2]).name == f"checkpoint-{step:08d}.pt"
    assert checkpoint.load(run)["step"] == step
    assert "Traceback" not in err

    r = run_cli("train", str(tiny_data), "--out", str(run), "--resume", "--steps", str(step + 3), "--log-every", "1", *TINY)
    assert r.returncode == 0, r.stderr
    assert f"resuming {run} at step {step} of {step + 3}" in r.stdout
    assert checkpoint.load(run)["step"] == step + 3
    steps = [int(x) for x in re.findall(r'"step": (\d+)', (run / "metrics.jsonl").read_text())]
    assert steps == list(range(1, step + 4))  # one log across the interruption, no gaps or repeats


def _kill_cycles(tiny_data, tmp_path, cycles: int, seed: int) -> int:
    """SIGKILL a trainer that checkpoints every step at random moments, ``cycles`` times, resuming
    each time; after every kill, everything named like a checkpoint loads. Returns how many
    kills left a partial (temporary) file, i.e. struck while saving."""
    run = tmp_path / "run"
    # wider networks: ~10 MB checkpoints, so much of the run is spent saving
    args = ("train", str(tiny_data), "--out", str(run), "--steps", "1000000", "--checkpoint-every", "1", "--keep", "2",
            "--log-every", "1", "--sample-every", "100000", "--arch", "dcgan", "--resolution", "32", "--g-width", "32", "--d-width", "32",
            "--batch", "4", "--z-dim", "64", "--swd-every", "0", "--no-progress", "--threads", "1")
    rng = random.Random(seed)
    mid_save = 0
    newest = 0
    for cycle in range(cycles):
        proc = start_cli(*args, *(("--resume",) if cycle else ()))
        before = newest
        _wait(lambda: any(int(p.stem[-8:]) > before for p in checkpoint.list_checkpoints(run)), proc)
        time.sleep(rng.uniform(0.0, 0.6))
        proc.kill()
        proc.communicate()
        names = [p.name for p in checkpoint.checkpoint_dir(run).iterdir()]
        partial = [n for n in names if n.startswith(".checkpoint-") and ".tmp-" in n]
        mid_save += bool(partial)
        assert set(names) - set(partial) == {p.name for p in checkpoint.list_checkpoints(run)}, names
        for p in checkpoint.list_checkpoints(run):
            state = checkpoint.load(p)  # never a half-written file under a checkpoint's name
            assert state["step"] == int(p.stem[-8:])
        newest = checkpoint.load(run)["step"]
        assert newest > before
    r = run_cli(*args[:4], "--resume", "--steps", str(newest + 1), *args[6:])
    assert r.returncode == 0, r.stderr
    assert checkpoint.load(run)["step"] == newest + 1
    assert not [p for p in checkpoint.checkpoint_dir(run).iterdir() if ".tmp-" in p.name]  # partial files cleaned up
    return mid_save


def test_killed_at_random_moments_the_newest_checkpoint_loads(tiny_data, tmp_path):
    _kill_cycles(tiny_data, tmp_path, cycles=3, seed=0)


@pytest.mark.slow
def test_killed_many_times_while_saving(tiny_data, tmp_path):
    assert _kill_cycles(tiny_data, tmp_path, cycles=20, seed=1) >= 1  # some kills did strike mid-save
