"""PNG charts of a run's progress, drawn with Pillow (no plotting library on the training side).

``write_run_plots(RUN)`` reads ``RUN/metrics.jsonl`` and the sample grids and writes, under
``RUN/plots/``: SWD against images seen and against minutes, and a sheet of sample grids over
time. ``line_chart`` draws several series on one chart (``benchmarks/train_minutes.py`` uses it
to put recipes side by side).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Sequence

from PIL import Image, ImageDraw, ImageFont

COLOURS = ((31, 119, 180), (214, 39, 40), (44, 160, 44), (255, 127, 14), (148, 103, 189), (140, 86, 75),
           (227, 119, 194), (127, 127, 127))
Series = dict[str, Sequence[tuple[float, float]]]


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow before 10.1: one bitmap size
        return ImageFont.load_default()


def _nice_ticks(lo: float, hi: float, count: int = 6) -> list[float]:
    """Round tick values covering [lo, hi]."""
    span = max(hi - lo, 1e-12)
    raw = span / count
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    return [start + i * step for i in range(int((hi - start) / step) + 2) if start + i * step <= hi + 1e-9 * span]


def _log_ticks(lo: float, hi: float) -> list[float]:
    ticks = [m * 10**e for e in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1) for m in (1, 2, 5)]
    ticks = [t for t in ticks if lo <= t <= hi]
    return ticks if len(ticks) >= 3 else _nice_ticks(lo, hi, 4)[1:]  # a narrow range: linear steps read better


def _label(v: float) -> str:
    if abs(v) >= 1000:
        return f"{v / 1000:g}k"
    return f"{v:g}" if v == round(v, 2) else f"{v:.2f}"


def line_chart(series: Series, path: Path, *, xlabel: str, ylabel: str, title: str = "", log_y: bool = True,
               hlines: Sequence[tuple[float, str]] = (), size: tuple[int, int] = (760, 460)) -> Path:
    """Draw ``series`` (name -> [(x, y), ...]) as lines with a legend; ``hlines`` are dashed
    reference levels (value, label). Returns ``path``."""
    w, h = size
    left, right, top, bottom = 70, 20, 36, 50
    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    font, small = _font(14), _font(12)
    points = [p for s in series.values() for p in s] + [(None, v) for v, _ in hlines]
    xs = [x for x, _ in points if x is not None] or [0.0, 1.0]
    ys = [y for _, y in points if y is not None and (y > 0 or not log_y)] or [1.0, 10.0]
    x0, x1 = 0.0, max(max(xs), 1e-9)
    y0, y1 = (min(ys) * 0.9, max(ys) * 1.1) if log_y else (min(0.0, min(ys)), max(ys) * 1.05)
    fy = (lambda v: math.log(v)) if log_y else (lambda v: v)

    def to_px(x: float, y: float) -> tuple[float, float]:
        px = left + (x - x0) / (x1 - x0) * (w - left - right)
        py = h - bottom - (fy(max(y, 1e-12)) - fy(y0)) / (fy(y1) - fy(y0)) * (h - top - bottom)
        return px, py

    for t in _nice_ticks(x0, x1):
        px, _ = to_px(t, y0)
        draw.line([(px, top), (px, h - bottom)], fill=(235, 235, 235))
        draw.text((px, h - bottom + 6), _label(t), fill="black", font=small, anchor="ma")
    for t in (_log_ticks(y0, y1) if log_y else _nice_ticks(y0, y1)):
        _, py = to_px(x0, t)
        draw.line([(left, py), (w - right, py)], fill=(235, 235, 235))
        draw.text((left - 6, py), _label(t), fill="black", font=small, anchor="rm")
    draw.rectangle([left, top, w - right, h - bottom], outline="black")
    for value, text in hlines:
        _, py = to_px(x0, value)
        for sx in range(left, w - right, 12):
            draw.line([(sx, py), (min(sx + 6, w - right), py)], fill=(90, 90, 90))
        draw.text((w - right - 4, py - 3), text, fill=(60, 60, 60), font=small, anchor="rb")
    for i, (name, pts) in enumerate(series.items()):
        colour = COLOURS[i % len(COLOURS)]
        xy = [to_px(x, y) for x, y in pts if y is not None and (y > 0 or not log_y)]
        if len(xy) > 1:
            draw.line(xy, fill=colour, width=2)
        for px, py in xy:
            draw.ellipse([px - 2.5, py - 2.5, px + 2.5, py + 2.5], fill=colour)
        draw.rectangle([left + 10, top + 8 + 18 * i, left + 24, top + 20 + 18 * i], fill=colour)
        draw.text((left + 30, top + 6 + 18 * i), name, fill="black", font=font)
    draw.text((w / 2, 8), title, fill="black", font=font, anchor="ma")
    draw.text(((left + w - right) / 2, h - 20), xlabel, fill="black", font=font, anchor="ma")
    ylabel_img = Image.new("RGB", (h, 20), "white")
    ImageDraw.Draw(ylabel_img).text((h / 2, 2), ylabel, fill="black", font=font, anchor="ma")
    img.paste(ylabel_img.rotate(90, expand=True), (4, 0))
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path


def samples_sheet(grids: Sequence[tuple[str, Path]], path: Path, tile: int = 192, columns: int = 6) -> Path:
    """Sample grids side by side (each scaled to ``tile`` px), each captioned, in rows of ``columns``."""
    columns = max(1, min(columns, len(grids)))
    rows = -(-len(grids) // columns)
    sheet = Image.new("RGB", (columns * (tile + 8) + 8, rows * (tile + 28) + 8), "white")
    draw, font = ImageDraw.Draw(sheet), _font(13)
    for i, (caption, grid) in enumerate(grids):
        r, c = divmod(i, columns)
        x, y = 8 + c * (tile + 8), 8 + r * (tile + 28)
        with Image.open(grid) as im:
            sheet.paste(im.convert("RGB").resize((tile, tile), Image.Resampling.NEAREST), (x, y))
        draw.text((x + tile / 2, y + tile + 4), caption, fill="black", font=font, anchor="ma")
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    return path


def read_metrics(run: Path) -> list[dict]:
    """The rows of ``RUN/metrics.jsonl`` (unreadable lines skipped)."""
    rows = []
    path = Path(run) / "metrics.jsonl"
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except ValueError:
                continue
    return rows


def swd_curve(rows: Sequence[dict], x: str) -> list[tuple[float, float]]:
    """(x, SWD) of the rows with an SWD measurement; ``x`` is ``images`` or ``minutes``."""
    return [(float(r[x]), float(r["swd"])) for r in rows if "swd" in r and x in r]


def write_run_plots(run: Path, name: str = "this run", most: int = 12) -> list[Path]:
    """SWD against images and minutes, and the sample grids over time, under ``RUN/plots``."""
    run = Path(run)
    rows, out = read_metrics(run), []
    for x, label in (("images", "images seen"), ("minutes", "minutes of training")):
        curve = swd_curve(rows, x)
        if curve:
            out.append(line_chart({name: curve}, run / "plots" / f"swd-{x}.png", xlabel=label, ylabel="SWD x1e3",
                                  title=f"SWD against {label} (lower is better)"))
    grids = sorted((run / "samples").glob("step-*.png"))
    if grids:
        pick = [grids[round(i * (len(grids) - 1) / (most - 1))] for i in range(most)] if len(grids) > most else grids
        minutes = {r["step"]: r["minutes"] for r in rows if "minutes" in r}
        captions = []
        for g in dict.fromkeys(pick):
            step = int(re.sub(r"\D", "", g.stem))
            captions.append((f"step {step}" + (f", {minutes[step]:.1f} min" if step in minutes else ""), g))
        out.append(samples_sheet(captions, run / "plots" / "samples-over-time.png"))
    return out
