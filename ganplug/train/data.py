"""Image folder -> one cached uint8 array [N, H, W, C].

Files are decoded once; the array is saved beside the run and reused while
the folder (paths, sizes, modification times) and the settings stay the same.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import DataError

log = logging.getLogger("ganplug.data")

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


@dataclass(frozen=True)
class DataSummary:
    images: int
    skipped: int
    cache: Path
    from_cache: bool


def scan(folder: Path) -> list[Path]:
    """Image files under ``folder``, recursively, sorted so every machine sees one order."""
    if not folder.is_dir():
        raise DataError(f"data folder {folder} does not exist or is not a folder")
    files = [p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]
    files.sort(key=lambda p: p.relative_to(folder).as_posix())
    if not files:
        raise DataError(f"data folder {folder} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return files


def frame(resolution: int | tuple[int, int]) -> tuple[int, int]:
    """(W, H) of an N (square) or (W, H) size."""
    return (resolution, resolution) if isinstance(resolution, int) else (int(resolution[0]), int(resolution[1]))


def fit_box(size: tuple[int, int], aspect: tuple[int, int], fit: str) -> tuple[int, int, int, int]:
    """Where an image of ``size`` (w, h) goes to have the aspect ratio of ``aspect`` (W, H):
    (left, top, right, bottom) of the centred crop (``crop``: the largest box of that ratio
    inside it) or of the canvas around it (``pad``: the smallest box of that ratio holding it;
    the offsets are then negative)."""
    (w, h), (aw, ah) = size, aspect
    if fit == "crop":  # one side kept, the other cut
        cw, ch = min(w, round(h * aw / ah)), min(h, round(w * ah / aw))
        left, top = (w - cw) // 2, (h - ch) // 2
    else:  # one side kept, the other grown
        cw, ch = max(w, round(h * aw / ah)), max(h, round(w * ah / aw))
        left, top = -((cw - w) // 2), -((ch - h) // 2)
    return left, top, left + cw, top + ch


def load_image(path: Path, resolution: int | tuple[int, int], fit: str = "crop") -> np.ndarray:
    """Decode one file to RGB uint8 [H, W, 3] (``resolution`` N or (W, H)): any mode, the centre cropped
    to W:H (``crop``) or the whole image padded with black to W:H (``pad``), then resized."""
    with Image.open(path) as im:
        im.load()
        if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
            # Composite on black so transparent regions do not carry stray colours.
            im = im.convert("RGBA")
            bg = Image.new("RGBA", im.size, (0, 0, 0, 255))
            im = Image.alpha_composite(bg, im)
        im = im.convert("RGB")
        size = frame(resolution)
        left, top, right, bottom = fit_box(im.size, size, fit)
        if fit == "crop":
            im = im.crop((left, top, right, bottom))
        elif (left, top) != (0, 0) or (right, bottom) != im.size:
            canvas = Image.new("RGB", (right - left, bottom - top))
            canvas.paste(im, (-left, -top))
            im = canvas
        if im.size != size:
            im = im.resize(size, Image.Resampling.LANCZOS)
        return np.asarray(im, dtype=np.uint8)


def _fingerprint(folder: Path, files: list[Path], size: tuple[int, int], fit: str) -> str:
    key = {"resolution": size[0], "fit": fit, "v": 1} if size[0] == size[1] else {"size": list(size), "fit": fit, "v": 1}
    h = hashlib.sha256(json.dumps(key).encode())  # square: the key caches had before non-square sizes
    for p in files:
        st = p.stat()
        h.update(f"{p.relative_to(folder).as_posix()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def load_folder(folder: Path, resolution: int | tuple[int, int], cache_dir: Path, fit: str = "crop", progress: bool = True,
                files: list[Path] | None = None, write_cache: bool = True) -> tuple[np.ndarray, DataSummary]:
    """All usable images of ``folder`` as uint8 [N, H, W, 3] (``resolution`` N or (W, H)), decoded once
    and cached in ``cache_dir`` under a name that carries the size (``dataset-64-KEY.npy``, ``dataset-256x128-KEY.npy``).

    Corrupt or unreadable files are skipped with one warning each and a count. With
    ``write_cache=False`` (every process of a distributed run but the first) the cache is
    read if present and never written.
    """
    folder = Path(folder)
    files = scan(folder) if files is None else files
    size = frame(resolution)
    key = _fingerprint(folder, files, size, fit)
    label = str(size[0]) if size[0] == size[1] else f"{size[0]}x{size[1]}"
    cache = Path(cache_dir) / f"dataset-{label}-{key}.npy"
    if cache.exists():
        try:
            arr = np.load(cache, mmap_mode="r")
            meta = json.loads(cache.with_suffix(".json").read_text())
            return arr, DataSummary(len(arr), int(meta["skipped"]), cache, True)
        except (OSError, ValueError, KeyError):
            log.warning("dataset cache %s is unreadable; decoding again", cache)

    images: list[np.ndarray] = []
    skipped = 0
    it = files
    if progress:
        from tqdm import tqdm

        it = tqdm(files, desc="decoding images", unit="img", leave=False, disable=None)
    for p in it:
        try:
            images.append(load_image(p, size, fit))
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as e:
            skipped += 1
            log.warning("skipping %s: %s", p, str(e).splitlines()[0] if str(e) else type(e).__name__)
    if not images:
        raise DataError(f"data folder {folder}: none of its {len(files)} image files could be read")
    arr = np.stack(images)
    if not write_cache:
        return arr, DataSummary(len(arr), skipped, cache, False)
    cache.parent.mkdir(parents=True, exist_ok=True)
    for old in cache.parent.glob(f"dataset-{label}-*.npy"):
        old.unlink(missing_ok=True)
        old.with_suffix(".json").unlink(missing_ok=True)
    cache.with_suffix(".json").write_text(json.dumps({"images": len(arr), "skipped": skipped, "folder": str(folder)}))
    tmp = cache.with_name(cache.name + ".tmp")
    with open(tmp, "wb") as f:
        np.save(f, arr)
    os.replace(tmp, cache)  # the .npy appears last, so a present cache is always complete
    return arr, DataSummary(len(arr), skipped, cache, False)
