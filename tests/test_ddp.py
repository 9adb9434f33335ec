"""Distributed training: two CPU processes under torchrun (gloo) hold identical weights, and
only the first writes files."""

import json
import os
import subprocess
import sys

import pytest
import torch

from ganplug.train import checkpoint
from ganplug.train.config import TrainConfig
from ganplug.train.distributed import weights_digest
from ganplug.train.models import build_for


def _digest_of(state: dict) -> str:
    """The digest of a checkpoint's weights, computed as the trainer computes each process's."""
    cfg = TrainConfig.from_dict(state["config"])
    g, d = build_for(cfg)
    g_ema = build_for(cfg)[0]
    g.load_state_dict(state["G"])
    g_ema.load_state_dict(state["G_ema"])
    d.load_state_dict(state["D"])
    return weights_digest(g, g_ema, d)


def test_two_processes_hold_identical_weights_and_only_rank_0_writes(tiny_data, tmp_path):
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "ganplug",
           "train", str(tiny_data), "--out", str(run), "--arch", "style", "--resolution", "16", "--batch", "8",
           "--steps", "6", "--z-dim", "16", "--g-width", "4", "--d-width", "4", "--checkpoint-every", "3",
           "--sample-every", "3", "--log-every", "1", "--swd-every", "3", "--swd-images", "16", "--r1-interval", "2",
           "--augment", "ada", "--ada-target", "0", "--ada-kimg", "0.1", "--mirror", "--no-progress", "--keep", "5"]
    env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr[-4000:]

    # one process printed, one wrote: each line and each record exactly once
    assert r.stdout.count("run folder ") == 1 and r.stdout.count("done; saved step 6") == 1, r.stdout
    assert "over 2 processes" in r.stdout
    records = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in records] == [1, 2, 3, 4, 5, 6]
    assert sum("swd" in x for x in records) == 2
    assert sorted(p.name for p in run.iterdir()) == ["cache", "checkpoints", "metrics.jsonl", "plots", "samples", "training_options.json"]
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["step-00000003.png", "step-00000006.png"]
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["checkpoint-00000003.pt", "checkpoint-00000006.pt"]
    assert len(list((run / "cache").glob("*.npy"))) == 1

    digests = []
    for path in checkpoint.list_checkpoints(run):
        state = checkpoint.load(path)
        ranks = state["rank_digests"]
        assert len(ranks) == 2 and ranks[0] == ranks[1], ranks  # both processes hold the same weights
        assert ranks[0] == _digest_of(state)  # ... namely the weights that were saved
        assert state["world"] == 2 and len(state["rng_ranks"]) == 2
        assert not torch.equal(state["rng_ranks"][0]["torch"], state["rng_ranks"][1]["torch"])  # own latents and noise
        assert torch.equal(state["rng_ranks"][0]["sampler"], state["rng_ranks"][1]["sampler"])  # one shared batch order
        digests.append(ranks[0])
    assert digests[0] != digests[1]  # training moved the weights between the checkpoints
    assert checkpoint.load(run)["augment"]["p"] > 0  # ADA's statistics were summed over both processes


@pytest.mark.slow
def test_a_resumed_two_process_run_ends_where_an_uninterrupted_one_ends(tiny_data, tmp_path):
    common = ["--arch", "style", "--resolution", "16", "--batch", "8", "--z-dim", "16", "--g-width", "4", "--d-width", "4",
              "--checkpoint-every", "3", "--swd-every", "0", "--no-progress", "--augment", "fixed", "--augment-p", "0.5",
              "--r1-interval", "2", "--mirror"]
    env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")

    def torchrun(out, *extra):
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "ganplug",
               "train", str(tiny_data), "--out", str(out), *common, *extra]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env, cwd=tmp_path)
        assert r.returncode == 0, r.stderr[-3000:]

    torchrun(tmp_path / "a", "--steps", "7")
    torchrun(tmp_path / "b", "--steps", "4")
    torchrun(tmp_path / "b", "--steps", "7", "--resume")
    a, b = checkpoint.load(tmp_path / "a"), checkpoint.load(tmp_path / "b")
    assert a["step"] == b["step"] == 7
    assert a["rank_digests"] == b["rank_digests"]
    for key in ("G", "G_ema", "D"):
        for name, t in a[key].items():
            assert torch.equal(t, b[key][name]), (key, name)  # bit-identical across the interruption
