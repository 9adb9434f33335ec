"""Preset and snapshot files. Everything here runs on the show's worker thread, never on the render thread."""

from __future__ import annotations

import json
import logging
import os
import re
import stat
from pathlib import Path
from typing import Any

import numpy as np

from .spec import BadMessage

log = logging.getLogger("ganplug.serve")

PRESET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MAX_PRESET_BYTES = 1 << 20  # a preset is a few hundred bytes; anything this big is not one


def preset_path(folder: str | Path, name: str) -> Path:
    """``FOLDER/NAME.json``; a name that is not plain or leaves the folder is a :class:`BadMessage`."""
    if not PRESET_NAME.match(name) or ".." in name:
        raise BadMessage(f"preset name {name[:40]!r}: use letters, digits, '_', '-' and '.' (up to 64)")
    base = Path(folder).resolve()
    path = (base / f"{name}.json").resolve()
    if path.parent != base:
        raise BadMessage(f"preset name {name[:40]!r} leaves the preset folder")
    return path


def read_regular(path: Path, limit: int) -> bytes:
    """The bytes of a regular file. O_NONBLOCK keeps a FIFO (or a device) named like one from blocking
    the worker: it opens at once, and fstat refuses it before anything is read."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise BadMessage(f"{path.name} is not a regular file")
        if st.st_size > limit:
            raise BadMessage(f"{path.name} is larger than {limit} bytes")
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read(limit + 1)
    finally:
        os.close(fd)


def read_preset(path: Path, name: str) -> dict[str, Any]:
    """The JSON object in a preset file, or a :class:`BadMessage` saying why not."""
    try:
        data = json.loads(read_regular(path, MAX_PRESET_BYTES))
    except FileNotFoundError:
        raise BadMessage(f"no preset named {name!r}") from None
    except BadMessage as e:
        raise BadMessage(f"preset {name!r}: {e}") from None
    except (OSError, ValueError) as e:
        raise BadMessage(f"preset {name!r} is unreadable: {e}") from None
    if not isinstance(data, dict):
        raise BadMessage(f"preset {name!r} is unreadable: not a JSON object")
    return data


def write_preset(path: Path, state: dict[str, Any]) -> None:
    """Write atomically (a temporary file, then a rename)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(state, indent=2) + "\n")
        tmp.replace(path)
    except OSError as e:
        raise BadMessage(f"preset save failed: {e.strerror or e}") from None
    log.info("preset saved to %s", path)


def write_png(path: Path, pixels: np.ndarray) -> None:
    from PIL import Image

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(path)
    except OSError as e:
        log.warning("cannot save snapshot in %s: %s", path.parent, e.strerror or e)
        raise BadMessage(f"snapshot failed: {e.strerror or e}") from None
    log.info("snapshot saved to %s", path)
