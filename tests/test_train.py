"""Training: outputs in the run folder, exact resume, bad data handled with one line."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import assert_one_line_error, run_cli
from ganplug.train import checkpoint
from ganplug.train.config import TrainConfig
from ganplug.train.loop import train


def test_run_folder_has_everything(tiny_run):
    ckpts = checkpoint.list_checkpoints(tiny_run)
    assert [p.name for p in ckpts] == ["checkpoint-00000002.pt", "checkpoint-00000004.pt"]
    # plain torch.load with weights_only=True: no pickled objects inside
    state = torch.load(ckpts[-1], weights_only=True)
    assert state["step"] == 4 and state["images_seen"] == 32
    assert {"G", "G_ema", "D", "opt_G", "opt_D", "rng", "config"} <= set(state)
    opts = json.loads((tiny_run / "training_options.json").read_text())
    assert opts == state["config"] and opts["resolution"] == 32
    assert TrainConfig.from_dict(opts).steps == 4  # the run can be rebuilt from its folder
    lines = [json.loads(x) for x in (tiny_run / "metrics.jsonl").read_text().splitlines()]
    assert lines[-1]["step"] == 4 and {"loss_d", "loss_g", "images_per_s"} <= set(lines[-1])
    grids = sorted((tiny_run / "samples").glob("*.png"))
    assert [g.name for g in grids] == ["step-00000002.png", "step-00000004.png"]
    assert Image.open(grids[-1]).size == (4 * 32, 4 * 32)


def test_previews_show_the_served_images(tiny_run, engine):
    """Sample grids use contract seeds 0..15: the same pixels the exported model serves."""
    from ganplug.seeds import z_batch

    grid = np.asarray(Image.open(tiny_run / "samples" / "step-00000004.png"))
    served = engine.run(z_batch(list(range(16)), engine.info.z_dim))
    tiles = grid.reshape(4, 32, 4, 32, 3).transpose(0, 2, 1, 3, 4).reshape(16, 32, 32, 3)
    assert np.abs(tiles.astype(int) - served.astype(int)).max() <= 1


def _cfg(data, out, steps, arch="dcgan", **kw):
    return TrainConfig(data=str(data), out=str(out), arch=arch, resolution=32, steps=steps, batch=8, z_dim=32,
                       g_width=8, d_width=8, sample_every=100, checkpoint_every=3, swd_every=0, progress=False, threads=1, **kw)


def test_lite_head_is_recorded_and_old_lite_runs_load_without_it(tiny_data, tmp_path):
    """New lite runs get the recipe's full-resolution layer and record its width; a run folder written
    before that layer existed (no g_head in its config) loads, exports and resumes as the headless
    generator it was trained as."""
    from ganplug.train.checkpoint import load_generator
    from ganplug.train.loop import resume_config

    new = train(_cfg(tiny_data, tmp_path / "new", 1, arch="lite"))
    assert checkpoint.load(new.checkpoint)["config"]["g_head"] == 16
    g, _, _ = load_generator(tmp_path / "new")
    assert g.to_rgb[1].out_channels == 16 and isinstance(g.to_rgb[3], torch.nn.ReLU)

    run = tmp_path / "old"
    train(_cfg(tiny_data, run, 2, arch="lite", g_head=0))
    for path in checkpoint.list_checkpoints(run):
        state = torch.load(path, weights_only=True)
        del state["config"]["g_head"]
        torch.save(state, path)
    opts = json.loads((run / "training_options.json").read_text())
    del opts["g_head"]
    (run / "training_options.json").write_text(json.dumps(opts))

    g, cfg, _ = load_generator(run)
    assert cfg.g_head == 0 and g.to_rgb[1].out_channels == 3
    assert run_cli("export", str(run), "-o", str(tmp_path / "old.onnx")).returncode == 0
    resumed, state = resume_config(run, _cfg(tiny_data, run, 4, arch="lite"), {"steps"})
    assert train(resumed, state).step == 4


@pytest.mark.parametrize("mbstd", [0, 4])
def test_discriminator_std_feature_couples_only_a_group(mbstd):
    """With the feature, a sample's logit depends on the others in its group of ``mbstd`` (indices
    i, i + N/4, ...) and on no other sample; without it, on no other sample at all."""
    from ganplug.train.models import DCGANDiscriminator

    torch.manual_seed(0)
    d = DCGANDiscriminator(32, 3, 8, mbstd=mbstd).eval()  # eval: batch norm does not couple samples
    x = torch.randn(8, 3, 32, 32)
    base = d(x)
    same_group, other_group = x.clone(), x.clone()
    same_group[2] += 1.0  # 8 samples in groups of 4: 0, 2, 4, 6 and 1, 3, 5, 7
    other_group[1] += 1.0
    assert (d(same_group)[0] != base[0]).item() == bool(mbstd)
    assert torch.equal(d(other_group)[0], base[0])


def test_std_feature_is_recorded_and_runs_written_before_it_resume(tiny_data, tmp_path):
    """d_mbstd is a recorded setting; a config without it reads as what those runs trained with
    (style's discriminator always had groups of 4, dcgan's and lite's none)."""
    from ganplug.train.loop import resume_config

    # guards a future lite default with the feature: lite runs written before it must stay without
    assert TrainConfig.from_dict({"data": "d", "out": "o", "arch": "lite"}).d_mbstd == 0
    run = tmp_path / "old"
    train(_cfg(tiny_data, run, 2, arch="style"))
    for path in checkpoint.list_checkpoints(run):
        state = torch.load(path, weights_only=True)
        assert state["config"]["d_mbstd"] == 4
        del state["config"]["d_mbstd"]
        torch.save(state, path)
    opts = json.loads((run / "training_options.json").read_text())
    del opts["d_mbstd"]
    (run / "training_options.json").write_text(json.dumps(opts))
    resumed, state = resume_config(run, _cfg(tiny_data, run, 4, arch="style"), {"steps"})
    assert resumed.d_mbstd == 4 and train(resumed, state).step == 4
    lite = train(_cfg(tiny_data, tmp_path / "lite", 1, arch="lite", d_mbstd=2))
    d_state = checkpoint.load(lite.checkpoint)["D"]
    last = max((k for k in d_state if k.endswith(".weight")), key=lambda k: int(k.split(".")[1]))
    assert d_state[last].shape[0] == 1 and d_state[last].shape[1] % 2 == 1  # even widths + the std channel


def test_discriminator_head_is_a_recorded_setting_and_older_runs_read_as_without(tiny_data, tmp_path):
    """d_head puts a 3x3 layer at full resolution in front of the discriminator; a config written
    before the setting reads as 0, and a lite run with it trains, records it and resumes."""
    from ganplug.errors import ConfigError
    from ganplug.train.loop import resume_config
    from ganplug.train.models import DCGANDiscriminator

    assert TrainConfig.from_dict({"data": "d", "out": "o", "arch": "lite"}).d_head == 0
    with pytest.raises(ConfigError, match="--d-head"):
        TrainConfig(data="d", out="o", arch="style", d_head=8)
    plain, headed = DCGANDiscriminator(32, 3, 8), DCGANDiscriminator(32, 3, 8, head=4)
    assert set(plain.state_dict()) == {k for k in headed.state_dict() if not k.startswith("head.")}
    assert headed.head[0].weight.shape == (4, 3, 3, 3) and headed.net[0].in_channels == 4
    run = tmp_path / "headed"
    train(_cfg(tiny_data, run, 2, arch="lite", d_head=4))
    state = checkpoint.load(checkpoint.list_checkpoints(run)[-1])
    assert state["config"]["d_head"] == 4 and state["D"]["head.0.weight"].shape == (4, 3, 3, 3)
    resumed, state = resume_config(run, _cfg(tiny_data, run, 4, arch="lite"), {"steps"})
    assert resumed.d_head == 4 and train(resumed, state).step == 4


def test_resume_ends_where_an_uninterrupted_run_ends(tiny_data, tmp_path):
    from ganplug.train.loop import resume_config

    straight = train(_cfg(tiny_data, tmp_path / "a", 12, mirror=True))
    train(_cfg(tiny_data, tmp_path / "b", 6, mirror=True))
    cfg, state = resume_config(tmp_path / "b", _cfg(tiny_data, tmp_path / "b", 12), {"steps"})
    assert state["step"] == 6 and cfg.steps == 12 and cfg.mirror
    resumed = train(cfg, state)
    a = torch.load(straight.checkpoint, weights_only=True)
    b = torch.load(resumed.checkpoint, weights_only=True)
    assert a["step"] == b["step"] == 12 and a["images_seen"] == b["images_seen"]
    for key in ("G", "G_ema", "D"):
        for name, t in a[key].items():
            assert torch.equal(t, b[key][name]), (key, name)  # bit-identical on one CPU process


def test_the_saved_average_generator_carries_its_own_batch_norm_statistics(tiny_data, tmp_path):
    """G_ema's batch-norm statistics are re-estimated from G_ema's own activations before it is saved
    (not G's, which every step copies in): the first BN layer's running mean is the mean of its input
    over the fixed settling latents."""
    from ganplug.seeds import z_batch
    from ganplug.train.loop import SETTLE_SEEDS
    from ganplug.train.models import build_for

    done = train(_cfg(tiny_data, tmp_path / "run", 6, arch="lite"))
    state = torch.load(done.checkpoint, weights_only=True)
    cfg = TrainConfig.from_dict(state["config"])
    g, _ = build_for(cfg)
    g.load_state_dict(state["G_ema"])
    bn = next(m for m in g.modules() if isinstance(m, torch.nn.BatchNorm2d))
    name = next(n for n, m in g.named_modules() if m is bn) + ".running_mean"
    seen = []
    bn.register_forward_hook(lambda m, inputs, out: seen.append(inputs[0]))
    with torch.no_grad():
        g.train()(torch.from_numpy(z_batch(list(SETTLE_SEEDS), cfg.z_dim)))
    want = seen[0].mean(dim=(0, 2, 3))
    assert torch.allclose(state["G_ema"][name], want, atol=1e-5)
    assert not torch.allclose(state["G"][name], want, atol=1e-3)  # what G_ema would carry without re-estimating


def test_resume_refuses_a_different_architecture(tiny_run, tmp_path):
    r = run_cli("train", str(tiny_run), "--out", str(tiny_run), "--resume", "--resolution", "64", "--steps", "8")
    assert_one_line_error(r, "resolution=32")


def test_corrupt_image_is_skipped_and_training_goes_on(tiny_data, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for p in sorted(tiny_data.glob("*.png"))[:10]:
        (data / p.name).write_bytes(p.read_bytes())
    (data / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (data / "nested").mkdir()
    Image.new("L", (40, 30), 128).save(data / "nested" / "grey.png")  # greyscale, non-square
    Image.new("P", (20, 20)).save(data / "nested" / "palette.gif")
    r = run_cli("train", str(data), "--out", str(tmp_path / "run"), "--resolution", "16", "--steps", "2", "--batch", "4",
                "--g-width", "4", "--d-width", "4", "--z-dim", "8")
    assert r.returncode == 0, r.stderr
    assert "skipping" in r.stderr and "broken.png" in r.stderr
    assert "skipped 1 unreadable" in r.stderr
    assert "checkpoint-00000002.pt" in r.stdout
    cache = list((tmp_path / "run" / "cache").glob("*.npy"))
    assert len(cache) == 1 and np.load(cache[0]).shape == (12, 16, 16, 3)


@pytest.mark.parametrize("case", ["missing", "empty", "all-corrupt"])
def test_bad_data_folder_is_one_line(tmp_path, case):
    data = tmp_path / "data"
    if case != "missing":
        data.mkdir()
    if case == "all-corrupt":
        (data / "a.jpg").write_bytes(b"nope")
    r = run_cli("train", str(data), "--out", str(tmp_path / "run"), "--steps", "1")
    assert_one_line_error(r, str(data))


def test_dataset_cache_is_reused_and_invalidated(tiny_data, tmp_path):
    from ganplug.train.data import load_folder

    data = tmp_path / "d"
    data.mkdir()
    for p in sorted(tiny_data.glob("*.png"))[:5]:
        (data / p.name).write_bytes(p.read_bytes())
    a, s1 = load_folder(data, 16, tmp_path / "cache", progress=False)
    b, s2 = load_folder(data, 16, tmp_path / "cache", progress=False)
    assert not s1.from_cache and s2.from_cache and np.array_equal(a, b)
    Image.new("RGB", (16, 16), (255, 0, 0)).save(data / "zz.png")
    c, s3 = load_folder(data, 16, tmp_path / "cache", progress=False)
    assert not s3.from_cache and len(c) == 6 and (c[-1] == [255, 0, 0]).all()


@pytest.mark.parametrize("flags, needle", [(("--arch", "gan9000"), "--arch must be one of dcgan, lite, style"),
                                           (("--augment-policy", "color,blur"), "unknown transform 'blur'"),
                                           (("--augment", "sometimes"), "augment must be one of ada, fixed, off")])
def test_bad_recipe_settings_are_one_line(tiny_data, tmp_path, flags, needle):
    r = run_cli("train", str(tiny_data), "--out", str(tmp_path / "run"), "--steps", "1", *flags)
    assert_one_line_error(r, needle)
    assert not (tmp_path / "run").exists()


def test_settings_given_on_resume_apply(tiny_data, tmp_path):
    from ganplug.train.loop import resume_config

    train(_cfg(tiny_data, tmp_path / "r", 2))
    cfg, state = resume_config(tmp_path / "r", _cfg(tiny_data, tmp_path / "r", 3, lr_g=1e-3, augment="off"),
                               {"steps", "lr_g", "augment"})
    assert cfg.lr_g == 1e-3 and cfg.augment == "off" and cfg.lr_d == 2e-4
    train(cfg, state)
    saved = checkpoint.load(tmp_path / "r")
    assert saved["opt_G"]["param_groups"][0]["lr"] == 1e-3 and saved["opt_D"]["param_groups"][0]["lr"] == 2e-4
    assert saved["config"]["augment"] == "off"


def test_minutes_budget_stops_the_run_and_resume_continues_it(tiny_data, tmp_path):
    from ganplug.train.loop import resume_config

    run = tmp_path / "timed"
    first = train(_cfg(tiny_data, run, None, minutes=0.02, log_every=1))
    opts = json.loads((run / "training_options.json").read_text())
    assert opts["minutes"] == 0.02 and opts["steps"] == 0  # no step limit with a budget
    state = torch.load(first.checkpoint, weights_only=True)
    assert 1.2 <= state["elapsed_s"] < 1.2 + 5 and first.step == state["step"] > 1 and not first.interrupted
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert lines[-1]["step"] == first.step and lines[-1]["minutes"] >= 0.02

    cfg, state = resume_config(run, _cfg(tiny_data, run, None, minutes=0.02), {"progress"})
    assert train(cfg, state).step == first.step  # the budget is spent: nothing to do
    # 1.2 s more than the first session used (its last step may overshoot 0.02 min on a busy machine)
    budget = round(state["elapsed_s"] / 60 + 0.02, 4)
    cfg, state = resume_config(run, _cfg(tiny_data, run, None, minutes=budget), {"minutes"})
    second = train(cfg, state)
    state = torch.load(second.checkpoint, weights_only=True)
    assert second.step > first.step and budget * 60 <= state["elapsed_s"] < budget * 60 + 5
    minutes = [json.loads(x)["minutes"] for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert minutes == sorted(minutes) and minutes[-1] >= budget  # one clock over both sessions


def test_learning_rates_follow_the_cosine_schedule(tiny_data, tmp_path):
    from ganplug.train.loop import lr_factor

    res = train(_cfg(tiny_data, tmp_path / "cos", 10, lr_final=0.1, lr_g=1e-3))
    state = torch.load(res.checkpoint, weights_only=True)
    cfg = TrainConfig.from_dict(state["config"])
    assert lr_factor(cfg, 0.0) == 1.0 and lr_factor(cfg, 1.0) == pytest.approx(0.1) and lr_factor(cfg, 0.5) == pytest.approx(0.55)
    assert state["opt_G"]["param_groups"][0]["lr"] == pytest.approx(1e-3 * lr_factor(cfg, 9 / 10))  # set before step 10


def test_no_steps_and_no_budget_is_one_line(tiny_data, tmp_path):
    r = run_cli("train", str(tiny_data), "--out", str(tmp_path / "run"), "--steps", "0")
    assert_one_line_error(r, "--minutes")


def test_the_architecture_defaults_by_device():
    """lite where training runs on the CPU and with CUDA (measured best on both); a given --arch always wins."""
    from ganplug.train.config import DEVICE_ARCH

    assert TrainConfig(data="d", out="o", device="cpu").arch == DEVICE_ARCH["cpu"] == "lite"
    cuda = TrainConfig(data="d", out="o", device="cuda")
    assert cuda.arch == DEVICE_ARCH["cuda"] == "lite" and cuda.lr_g == 2e-4 and cuda.g_head == 16
    style = TrainConfig(data="d", out="o", device="cuda", arch="style")
    assert style.lr_g == 2.5e-3 and style.ada_max_p == 1.0 and style.g_head == 0
    lite = TrainConfig(data="d", out="o", device="cpu")
    assert lite.lr_g == lite.lr_d == 2e-4 and lite.r1_gamma == 0.1 and lite.ada_max_p == 1.0 and lite.steps == 5000
    assert TrainConfig(data="d", out="o", device="cpu", arch="dcgan").ada_max_p == 1.0
