"""Image folder -> one cached uint8 array [N, R, R, C].

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


def load_image(path: Path, resolution: int, fit: str = "crop") -> np.ndarray:
    """Decode one file to RGB uint8 [R, R, 3]: any mode, centre-cropped or padded to square."""
    with Image.open(path) as im:
        im.load()
        if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
            # Composite on black so transparent regions do not carry stray colours.
            im = im.convert("RGBA")
            bg = Image.new("RGBA", im.size, (0, 0, 0, 255))
            im = Image.alpha_composite(bg, im)
        im = im.convert("RGB")
        w, h = im.size
        s = min(w, h) if fit == "crop" else max(w, h)
        if fit == "crop":
            left, top = (w - s) // 2, (h - s) // 2
            im = im.crop((left, top, left + s, top + s))
        else:
            canvas = Image.new("RGB", (s, s))
            canvas.paste(im, ((s - w) // 2, (s - h) // 2))
            im = canvas
        if s != resolution:
            im = im.resize((resolution, resolution), Image.Resampling.LANCZOS)
        return np.asarray(im, dtype=np.uint8)


def _fingerprint(folder: Path, files: list[Path], resolution: int, fit: str) -> str:
    h = hashlib.sha256(json.dumps({"resolution": resolution, "fit": fit, "v": 1}).encode())
    for p in files:
        st = p.stat()
        h.update(f"{p.relative_to(folder).as_posix()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def load_folder(folder: Path, resolution: int, cache_dir: Path, fit: str = "crop", progress: bool = True,
                files: list[Path] | None = None, write_cache: bool = True) -> tuple[np.ndarray, DataSummary]:
    """All usable images of ``folder`` as uint8 [N, R, R, 3], decoded once and cached in ``cache_dir``.

    Corrupt or unreadable files are skipped with one warning each and a count. With
    ``write_cache=False`` (every process of a distributed run but the first) the cache is
    read if present and never written.
    """
    folder = Path(folder)
    files = scan(folder) if files is None else files
    key = _fingerprint(folder, files, resolution, fit)
    cache = Path(cache_dir) / f"dataset-{resolution}-{key}.npy"
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
            images.append(load_image(p, resolution, fit))
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as e:
            skipped += 1
            log.warning("skipping %s: %s", p, str(e).splitlines()[0] if str(e) else type(e).__name__)
    if not images:
        raise DataError(f"data folder {folder}: none of its {len(files)} image files could be read")
    arr = np.stack(images)
    if not write_cache:
        return arr, DataSummary(len(arr), skipped, cache, False)
    cache.parent.mkdir(parents=True, exist_ok=True)
    for old in cache.parent.glob(f"dataset-{resolution}-*.npy"):
        old.unlink(missing_ok=True)
        old.with_suffix(".json").unlink(missing_ok=True)
    cache.with_suffix(".json").write_text(json.dumps({"images": len(arr), "skipped": skipped, "folder": str(folder)}))
    tmp = cache.with_name(cache.name + ".tmp")
    with open(tmp, "wb") as f:
        np.save(f, arr)
    os.replace(tmp, cache)  # the .npy appears last, so a present cache is always complete
    return arr, DataSummary(len(arr), skipped, cache, False)
