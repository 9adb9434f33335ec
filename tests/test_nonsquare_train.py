"""Non-square models (--resolution WxH): the shape rule, the three architectures, data fitting,
augmentation per axis, and a tiny 32x16 run that trains, resumes, exports, is evaluated, served and rendered;
square runs keep their networks and old run folders (an int resolution only) still resume."""

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from PIL import Image

from conftest import assert_one_line_error, run_cli
from ganplug.errors import ConfigError
from ganplug.procedural import make_image
from ganplug.seeds import z_batch
from ganplug.train import checkpoint
from ganplug.train.augment import augment
from ganplug.train.config import TrainConfig, base_grid
from ganplug.train.data import load_image
from ganplug.train.models import build

W, H = 32, 16


@pytest.mark.parametrize("size, want", [((64, 64), (4, 4, 4)), ((16, 16), (2, 4, 4)), ((1024, 1024), (8, 4, 4)),
                                        ((256, 128), (5, 4, 8)), ((256, 144), (4, 9, 16)), ((128, 72), (3, 9, 16)),
                                        ((32, 16), (2, 4, 8))])
def test_shape_rule(size, want):
    n, bh, bw = base_grid(*size)
    assert (n, bh, bw) == want and (bh << n, bw << n) == (size[1], size[0])


@pytest.mark.parametrize("text, needle", [("100x64", "multiples of 8"), ("8", "the smaller at least 16"),
                                          ("1920x1080", "base grid"), ("64x", "N or WxH"), ("wide", "N or WxH")])
def test_bad_shapes_are_config_errors(tmp_path, text, needle):
    with pytest.raises(ConfigError, match=needle) as e:
        TrainConfig(data=str(tmp_path), out=str(tmp_path / "run"), resolution=text)
    assert "\n" not in str(e.value)


def test_a_bad_shape_on_the_command_line_is_one_line(tmp_path):
    r = run_cli("train", str(tmp_path), "--out", str(tmp_path / "run"), "--resolution", "100x64")
    assert_one_line_error(r, "--resolution 100x64", "multiples of 8")
    assert not (tmp_path / "run").exists()


def test_swd_pyramid_of_non_square_images():
    """Levels keyed by the larger side, halving while half the smaller side is at least 16; they add back up."""
    from ganplug.swd import _up, laplacian_pyramid

    a = np.random.default_rng(0).integers(0, 256, (2, 144, 256, 3), dtype=np.uint8)
    levels = laplacian_pyramid(a, 16)
    assert {k: v.shape[1:3] for k, v in levels.items()} == {256: (144, 256), 128: (72, 128), 64: (36, 64), 32: (18, 32)}
    image = levels[32]
    for r in (64, 128, 256):
        image = levels[r] + _up(image, levels[r].shape[1:3])
    assert np.abs(image - a).max() < 1e-3


def test_config_records_width_and_height_and_reads_old_configs(tmp_path):
    cfg = TrainConfig(data="d", out="o", resolution="256x144", arch="style", batch=32)
    assert (cfg.resolution, cfg.width, cfg.height, cfg.frame_size) == (256, 256, 144, (256, 144))
    assert cfg.r1_gamma == round(0.0002 * 256 * 144 / 32, 6)  # R^2 for squares, W*H otherwise
    assert TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    square = TrainConfig(data="d", out="o", resolution=32, arch="style", batch=8)
    assert square.frame_size == (32, 32) and square.r1_gamma == round(0.0002 * 32**2 / 8, 6)
    old = {k: v for k, v in square.to_dict().items() if k not in ("width", "height")}
    assert TrainConfig.from_dict(old) == square
    with pytest.raises(ConfigError, match="larger of width"):
        TrainConfig(data="d", out="o", resolution=32, width=64, height=32)


@pytest.mark.parametrize("arch", ["dcgan", "lite", "style"])
def test_each_architecture_builds_non_square(arch):
    torch.manual_seed(0)
    for w, h in ((W, H), (48, 32), (256, 144)):
        g, d = build(arch, z_dim=16, resolution=(w, h), channels=3, g_width=4, d_width=4)
        x = g(torch.randn(2, 16))
        assert x.shape == (2, 3, h, w)
        assert d(x).shape == (2,)


def test_square_networks_keep_their_shapes():
    """The learned constant / first layer stays 4x4 for a square, as in every earlier checkpoint."""
    g, d = build("dcgan", z_dim=16, resolution=64, channels=3, g_width=4, d_width=4)
    assert g.net[0].weight.shape == (16, 32, 4, 4) and d.net[-1].weight.shape == (1, 32, 4, 4)
    g, d = build("style", z_dim=16, resolution=64, channels=3, g_width=4, d_width=4)
    assert g.const.shape == (1, 64, 4, 4) and d.fc.weight.shape == (64, 64 * 16)
    assert [b.layer0.noise_const.shape[-1] for b in g.blocks] == [4, 8, 16, 32, 64]
    g, _ = build("style", z_dim=16, resolution=(256, 128), channels=3, g_width=4, d_width=4)
    assert g.const.shape[2:] == (4, 8) and g.blocks[-1].layer1.noise_const.shape[2:] == (128, 256)


def _stripes(path, size):
    """An image of ``size`` (w, h) in three vertical stripes: red, green, blue."""
    w, h = size
    a = np.zeros((h, w, 3), np.uint8)
    for i in range(3):
        a[:, i * w // 3:(i + 1) * w // 3, i] = 255
    Image.fromarray(a).save(path)
    return path


def test_fit_crops_or_pads_to_the_aspect(tmp_path):
    wide = load_image(_stripes(tmp_path / "wide.png", (96, 24)), (W, H), "crop")  # 4:1 -> the middle 48x24
    assert wide.shape == (H, W, 3)
    assert wide[:, 2, 0].min() > 200 and wide[:, W // 2, 1].min() > 200 and wide[:, -3, 2].min() > 200
    tall = load_image(_stripes(tmp_path / "tall.png", (24, 48)), (W, H), "pad")  # 1:2 -> black bars left and right
    assert tall.shape == (H, W, 3)
    assert tall[:, :6].max() == 0 and tall[:, -6:].max() == 0 and tall[:, W // 2, 1].min() > 200
    cropped = load_image(_stripes(tmp_path / "tall2.png", (24, 48)), (W, H), "crop")  # centre band: all three stripes
    assert cropped[H // 2, 2, 0] > 200 and cropped[H // 2, -3, 2] > 200


def test_translation_and_cutout_use_each_axis():
    torch.manual_seed(5)
    x = torch.ones(64, 1, H, W)
    moved = augment(x, 1.0, ("translation",))[:, 0]
    zero_rows, zero_cols = (moved == 0).all(2).sum(1), (moved == 0).all(1).sum(1)
    assert zero_rows.max() == H // 8 and zero_cols.max() == W // 8  # up to 1/8 of each side
    cut = augment(x, 1.0, ("cutout",))[:, 0] == 0
    tall, wide = cut.any(2).sum(1), cut.any(1).sum(1)
    assert tall.max() == H // 2 and wide.max() == W // 2 and (tall <= H // 2).all() and (wide <= W // 2).all()


@pytest.fixture(scope="module")
def mixed_data(tmp_path_factory):
    """24 images of assorted shapes (wide, tall, square)."""
    d = tmp_path_factory.mktemp("mixed")
    shapes = [(64, 32), (40, 60), (48, 48), (80, 45)]
    for i in range(24):
        w, h = shapes[i % 4]
        im = Image.fromarray(make_image(np.random.default_rng([7, i]), 64)).resize((w, h))
        im.save(d / f"{i:02d}.png")
    return d


TRAIN = ("--resolution", f"{W}x{H}", "--arch", "style", "--batch", "8", "--z-dim", "16", "--g-width", "4",
         "--d-width", "4", "--sample-every", "2", "--checkpoint-every", "2", "--swd-every", "3", "--swd-images", "16",
         "--threads", "1", "--no-progress")


@pytest.fixture(scope="module")
def wide_run(mixed_data, tmp_path_factory):
    run = tmp_path_factory.mktemp("wide") / "run"
    r = run_cli("train", str(mixed_data), "--out", str(run), "--steps", "3", *TRAIN)
    assert r.returncode == 0, r.stderr
    assert f"style {W}x{H} px" in r.stdout
    return run


def test_a_non_square_run_trains_and_resumes(wide_run, mixed_data):
    opts = json.loads((wide_run / "training_options.json").read_text())
    assert (opts["resolution"], opts["width"], opts["height"]) == (W, W, H)
    assert checkpoint.load(wide_run)["config"]["height"] == H
    (cache,) = (wide_run / "cache").glob("dataset-*.npy")
    assert cache.name.startswith(f"dataset-{W}x{H}-") and np.load(cache).shape == (24, H, W, 3)
    with Image.open(wide_run / "samples" / "step-00000002.png") as grid:
        assert grid.size == (4 * W, 4 * H)
    metrics = [json.loads(line) for line in (wide_run / "metrics.jsonl").read_text().splitlines()]
    assert any("swd" in m for m in metrics)

    clash = run_cli("train", str(mixed_data), "--out", str(wide_run), "--resume", "--resolution", f"{H}x{W}", "--steps", "5")
    assert_one_line_error(clash, f"resolution={W}x{H}")
    r = run_cli("train", str(mixed_data), "--out", str(wide_run), "--resume", "--steps", "5", "--no-progress")
    assert r.returncode == 0, r.stderr
    assert "resuming" in r.stdout and checkpoint.load(wide_run)["step"] == 5


@pytest.fixture(scope="module")
def wide_model(wide_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("wide-model") / "wide.onnx"
    r = run_cli("export", str(wide_run), "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("fp32 parity on 16 seeds at truncation") == 2  # the gate ran at both ψ, and passed
    return out


def test_the_export_is_w_by_h_and_varies_with_z(wide_model):
    props = {p.key: p.value for p in onnx.load(wide_model).metadata_props}
    assert (props["ganplug.width"], props["ganplug.height"], props["ganplug.resolution"]) == (str(W), str(H), str(W))
    sess = ort.InferenceSession(str(wide_model), providers=["CPUExecutionProvider"])
    frames = sess.run(None, {"z": z_batch(list(range(8)), 16), "truncation": np.array(1.0, np.float32)})[0]
    assert frames.shape == (8, H, W, 3) and frames.dtype == np.uint8
    assert frames.std(axis=0).mean() > 20  # a different image per seed
    assert frames.std() > 30  # and not one flat colour


def test_the_trained_model_serves_and_renders_the_same_w_by_h_frames(wide_model, tmp_path):
    """Issue 16's whole path: the model trained above, served by `ganplug serve` over UDP and rendered by `ganplug render`."""
    from ganplug.osc.receive import FrameReceiver
    from test_peers import cli_server

    rx = FrameReceiver("127.0.0.1", 0, rcvbuf=0)
    try:
        with cli_server(wide_model, "--send", f"127.0.0.1:{rx.address[1]}", "--walk", "hold", "--seed", "4",
                        "--blend", "0", "--fps", "20") as _:
            served = list(rx.frames(count=3, seconds=15))
    finally:
        rx.close()
    assert len(served) == 3 and all((f.width, f.height) == (W, H) and f.pixels.shape == (H, W, 3) for f in served)
    r = run_cli("render", str(wide_model), "-o", str(tmp_path / "png"), "--walk", "hold", "--seed", "4", "--seconds", "0.1",
                "--fps", "10", "--no-progress")
    assert r.returncode == 0, r.stderr
    (png,) = sorted((tmp_path / "png").glob("*.png"))
    rendered = np.asarray(Image.open(png))
    assert rendered.shape == (H, W, 3) and all(np.array_equal(f.pixels, rendered) for f in served)
    sess = ort.InferenceSession(str(wide_model), providers=["CPUExecutionProvider"])
    other = sess.run(None, {"z": z_batch([5], 16), "truncation": np.array(1.0, np.float32)})[0][0]
    assert np.abs(other.astype(int) - rendered).mean() > 5  # seed 4's picture, not any picture


def test_eval_measures_a_non_square_model(wide_model, wide_run, mixed_data):
    on_onnx = run_cli("eval", str(wide_model), str(mixed_data), "--images", "16")
    assert on_onnx.returncode == 0, on_onnx.stderr
    assert f"16 generated vs 16 real images at {W}x{H} px" in on_onnx.stdout
    assert float(on_onnx.stdout.split("mean")[1]) > 0


def test_an_old_square_run_folder_still_resumes_and_loads(tiny_data, tmp_path):
    """Run folders written before non-square models record an int resolution and no width/height."""
    from ganplug.train.checkpoint import load_generator
    from ganplug.train.loop import resume_config, train

    run = tmp_path / "old"
    cfg = TrainConfig(data=str(tiny_data), out=str(run), arch="lite", resolution=16, steps=2, batch=4, z_dim=8,
                      g_width=4, d_width=4, swd_every=0, sample_every=100, progress=False, threads=1)
    train(cfg)
    path = checkpoint.list_checkpoints(run)[-1]
    state = torch.load(path, weights_only=True)
    for key in ("width", "height"):
        del state["config"][key]
    torch.save(state, path)
    opts = json.loads((run / "training_options.json").read_text())
    (run / "training_options.json").write_text(json.dumps({k: v for k, v in opts.items() if k not in ("width", "height")}))

    g, loaded, _ = load_generator(run)
    assert loaded.frame_size == (16, 16) and g(torch.randn(2, 8)).shape == (2, 3, 16, 16)
    resumed, state = resume_config(run, cfg.replace(steps=4), {"steps", "resolution"})
    assert train(resumed, state).step == 4
    assert checkpoint.load(run)["config"]["width"] == 16
