"""Checkpoints: atomic writes, the last K kept, safe loading (``weights_only=True``)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError

FORMAT = "ganplug-checkpoint"
VERSION = 1
_NAME = re.compile(r"^checkpoint-(\d{8})\.pt$")


def checkpoint_dir(run: Path) -> Path:
    return Path(run) / "checkpoints"


def list_checkpoints(run: Path) -> list[Path]:
    """Checkpoints of a run folder, oldest first."""
    d = checkpoint_dir(run)
    if not d.is_dir():
        return []
    return sorted(p for p in d.iterdir() if _NAME.match(p.name))


def save(run: Path, state: dict[str, Any], step: int, keep: int) -> Path:
    """Write ``state`` as ``checkpoint-STEP.pt`` atomically, then prune to ``keep`` files.

    The bytes go to a temporary file that is flushed and renamed over the final
    name, so a process killed mid-write leaves earlier checkpoints untouched.
    """
    d = checkpoint_dir(run)
    d.mkdir(parents=True, exist_ok=True)
    final = d / f"checkpoint-{step:08d}.pt"
    tmp = d / f".{final.name}.tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
        torch.save({"format": FORMAT, "version": VERSION, **state}, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, final)
    for old in list_checkpoints(run)[:-keep]:
        old.unlink(missing_ok=True)
    return final


def remove_partial(run: Path) -> list[Path]:
    """Delete temporary files left by a process killed while saving (they never carry a checkpoint's name)."""
    d = checkpoint_dir(run)
    gone = [p for p in d.glob(".checkpoint-*.tmp-*")] if d.is_dir() else []
    for p in gone:
        p.unlink(missing_ok=True)
    return gone


def load(path: Path) -> dict[str, Any]:
    """Load a checkpoint file or the newest checkpoint of a run folder."""
    path = Path(path)
    if path.is_dir():
        found = list_checkpoints(path)
        if not found:
            raise CheckpointError(f"{path}: no checkpoints in {checkpoint_dir(path)}")
        path = found[-1]
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file or run folder")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for a damaged or foreign file
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{path}: not a readable ganplug checkpoint ({first[:200]})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a ganplug checkpoint")
    if state.get("version") != VERSION:
        raise CheckpointError(f"{path}: checkpoint version {state.get('version')}, this ganplug reads {VERSION}")
    state["path"] = str(path)
    return state


def load_generator(source: str | Path) -> tuple[torch.nn.Module, Any, dict[str, Any]]:
    """The EMA generator of a checkpoint file or run folder (eval mode, no gradients), its
    :class:`TrainConfig` and the whole checkpoint state."""
    from .config import TrainConfig
    from .models import build_for

    state = load(Path(source))
    cfg = TrainConfig.from_dict(state["config"])
    g, _ = build_for(cfg)
    try:
        g.load_state_dict(state["G_ema"])
    except RuntimeError as e:
        raise CheckpointError(f"{state['path']}: weights do not fit a {cfg.arch} generator ({str(e).splitlines()[0]})") from None
    g.eval().requires_grad_(False)
    return g, cfg, state
