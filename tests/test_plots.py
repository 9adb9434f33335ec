"""Charts a run writes for itself (Pillow only): SWD against images and minutes, samples over time."""

import json

import numpy as np
from PIL import Image

from ganplug.train.config import TrainConfig
from ganplug.train.loop import train
from ganplug.train.plots import COLOURS, line_chart, write_run_plots


def test_a_run_ends_with_its_plots(tiny_data, tmp_path):
    run = tmp_path / "run"
    train(TrainConfig(data=str(tiny_data), out=str(run), arch="dcgan", resolution=32, steps=6, batch=8, z_dim=32,
                      g_width=8, d_width=8, sample_every=2, checkpoint_every=6, swd_every=2, swd_images=16,
                      progress=False, threads=1))
    swd_rows = [r for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if "swd" in r]
    assert [r["step"] for r in swd_rows] == [2, 4, 6] and all(r["minutes"] > 0 for r in swd_rows)
    for name in ("swd-images.png", "swd-minutes.png", "samples-over-time.png"):
        with Image.open(run / "plots" / name) as im:
            assert im.format == "PNG" and im.size[0] > 300
    with Image.open(run / "plots" / "samples-over-time.png") as sheet:
        assert sheet.size[0] > 3 * 192  # three grids side by side


def test_line_chart_draws_every_series(tmp_path):
    path = line_chart({"a": [(0, 200.0), (10, 100.0), (20, 50.0)], "b": [(0, 300.0), (20, 30.0)]}, tmp_path / "c.png",
                      xlabel="images", ylabel="SWD", hlines=[(18.3, "floor")])
    pixels = np.asarray(Image.open(path).convert("RGB")).reshape(-1, 3)
    for colour in COLOURS[:2]:
        assert (pixels == colour).all(1).sum() > 100, colour


def test_a_run_without_measurements_gets_no_swd_charts(tmp_path):
    (tmp_path / "metrics.jsonl").write_text('{"step": 1, "images": 8, "loss_d": 1.0}\n')
    assert write_run_plots(tmp_path) == []
