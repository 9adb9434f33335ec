"""The style-based recipe: the generator's properties, export under the contract with a
truncation input, previews equal to served frames, exact resume with every random part on."""

import collections

import numpy as np
import onnx
import pytest
import torch
from PIL import Image

from ganplug.runtime.engine import Engine, EngineConfig
from ganplug.seeds import z_batch
from ganplug.train import checkpoint
from ganplug.train.config import TrainConfig
from ganplug.train.loop import resume_config, train
from ganplug.train.models import build


def _cfg(data, out, steps, **kw):
    base = dict(data=str(data), out=str(out), arch="style", resolution=32, steps=steps, batch=8, z_dim=32, g_width=8,
                d_width=8, sample_every=100, checkpoint_every=100, swd_every=0, progress=False, threads=1)
    return TrainConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def style_run(tiny_data, tmp_path_factory):
    run = tmp_path_factory.mktemp("style-run")
    train(_cfg(tiny_data, run, 6, sample_every=6, augment="fixed", augment_p=0.5, r1_interval=2))
    return run


@pytest.fixture(scope="module")
def style_export(style_run, tmp_path_factory):
    """`ganplug export` of the style run: (model path, its output)."""
    from conftest import run_cli

    out = tmp_path_factory.mktemp("style-model") / "style.onnx"
    r = run_cli("export", str(style_run), "-o", str(out))
    assert r.returncode == 0, r.stderr
    return out, r.stdout


@pytest.fixture(scope="module")
def style_model(style_export):
    return style_export[0]


def test_generator_sizes_and_truncation():
    torch.manual_seed(0)
    for res in (16, 64):
        g, d = build("style", z_dim=16, resolution=res, channels=3, g_width=4, d_width=4)
        z = torch.randn(4, 16)
        x = g(z)
        assert x.shape == (4, 3, res, res) and d(x).shape == (4,)
    g.eval()
    with torch.no_grad():
        assert torch.equal(g(z), g(z))  # eval mode: fixed noise, nothing random
        at_avg = g(z, torch.tensor(0.0))
        assert (at_avg - at_avg[:1]).abs().max() == 0  # ψ = 0: every latent maps to w_avg
        assert not torch.equal(g(z, torch.tensor(0.5)), g(z))
    g.train()
    for m in g.modules():  # noise strengths start at 0; give them some
        if hasattr(m, "noise_strength"):
            m.noise_strength.data.fill_(0.1)
    assert not torch.equal(g(z), g(z))  # training: random noise per pixel


def test_export_has_a_truncation_input_and_only_plain_operators(style_model, capfd):
    engine = Engine(style_model, EngineConfig(device="cpu", threads=1))
    assert engine.info.has_truncation and engine.info.architecture == "style"
    m = onnx.load(style_model)
    ops = collections.Counter(n.op_type for n in m.graph.node)
    assert not [op for op in ops if "Random" in op or op == "Dropout"]
    groups = [a.i for n in m.graph.node if n.op_type == "Conv" for a in n.attribute if a.name == "group"]
    assert ops["Conv"] > 0 and all(g == 1 for g in groups)  # no grouped (per-sample weight) convolutions
    assert "ConvTranspose" not in ops
    z = z_batch(list(range(8)), engine.info.z_dim)
    at_avg = engine.run(z, truncation=0.0)
    assert (at_avg == at_avg[:1]).all()
    assert not np.array_equal(engine.run(z, truncation=1.0), engine.run(z, truncation=0.7))


def test_export_checks_parity_at_two_truncations(style_export):
    out = style_export[1]
    assert "parity on 16 seeds at truncation 1:" in out and "parity on 16 seeds at truncation 0.7:" in out


def test_previews_show_the_served_images(style_run, style_model):
    grid = np.asarray(Image.open(style_run / "samples" / "step-00000006.png"))
    engine = Engine(style_model, EngineConfig(device="cpu", threads=1))
    served = engine.run(z_batch(list(range(16)), 32))
    tiles = grid.reshape(4, 32, 4, 32, 3).transpose(0, 2, 1, 3, 4).reshape(16, 32, 32, 3)
    assert np.abs(tiles.astype(int) - served.astype(int)).max() <= 1


def test_resume_ends_where_an_uninterrupted_run_ends(tiny_data, tmp_path):
    """Augmentation, ADA (stopped between two adjustments), lazy R1, mirroring, noise and EMA all on."""
    kw = dict(mirror=True, augment="ada", ada_target=0.0, ada_kimg=0.2, r1_interval=4, checkpoint_every=6)
    straight = train(_cfg(tiny_data, tmp_path / "a", 14, **kw))
    train(_cfg(tiny_data, tmp_path / "b", 6, **kw))
    cfg, state = resume_config(tmp_path / "b", _cfg(tiny_data, tmp_path / "b", 14), {"steps"})
    assert state["step"] == 6 and state["augment"]["signs"][1] > 0  # the ADA accumulator was mid-interval
    resumed = train(cfg, state)
    a = torch.load(straight.checkpoint, weights_only=True)
    b = torch.load(resumed.checkpoint, weights_only=True)
    assert a["step"] == b["step"] == 14 and a["images_seen"] == b["images_seen"] == 112
    assert a["augment"]["p"] == b["augment"]["p"] > 0
    for key in ("G", "G_ema", "D"):
        for name, t in a[key].items():
            assert torch.equal(t, b[key][name]), (key, name)  # bit-identical on one CPU process
    for name, t in a["opt_D"]["state"].items():
        assert torch.equal(t["exp_avg_sq"], b["opt_D"]["state"][name]["exp_avg_sq"])
    assert torch.equal(a["rng"]["torch"], b["rng"]["torch"]) and torch.equal(a["rng"]["sampler"], b["rng"]["sampler"])


def test_mixed_precision_and_channels_last_run_on_the_cpu(tiny_data, tmp_path):
    """The CUDA options' code path, exercised with CPU bfloat16 autocast."""
    res = train(_cfg(tiny_data, tmp_path / "amp", 2, amp=True, channels_last=True, r1_interval=1, resolution=16))
    state = checkpoint.load(res.checkpoint)
    assert all(torch.isfinite(t).all() for t in state["G"].values())
    opts = (tmp_path / "amp" / "training_options.json").read_text()
    assert '"amp": true' in opts and '"channels_last": true' in opts


def test_split_export_chains_to_the_whole_model(style_run, tmp_path):
    """--split writes mapping (z, ψ -> w) and synthesis (w -> image); chained they give the
    whole model's frames, mixing in w works, and a server refuses a half in one line."""
    import onnxruntime as ort
    from conftest import run_cli

    out = tmp_path / "s.onnx"
    r = run_cli("export", str(style_run), "-o", str(out), "--split", timeout=400)
    assert r.returncode == 0, r.stderr
    assert "split (mapping -> synthesis) parity on 16 seeds at truncation 0.7: max" in r.stdout
    mapping = ort.InferenceSession(str(tmp_path / "s.mapping.onnx"), providers=["CPUExecutionProvider"])
    synthesis = ort.InferenceSession(str(tmp_path / "s.synthesis.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in mapping.get_inputs()] == ["z", "truncation"] and [o.name for o in mapping.get_outputs()] == ["w"]
    assert [i.name for i in synthesis.get_inputs()] == ["w"] and synthesis.get_outputs()[0].type == "tensor(uint8)"
    assert synthesis.get_modelmeta().custom_metadata_map["ganplug.part"] == "synthesis"

    whole = Engine(out, EngineConfig(device="cpu", threads=1))
    z = z_batch([3, 4, 5], 32)
    for psi in (1.0, 0.5):
        w = mapping.run(None, {"z": z, "truncation": np.array(psi, np.float32)})[0]
        assert w.shape == (3, 32)
        got = synthesis.run(None, {"w": w})[0]
        assert np.abs(got.astype(int) - whole.run(z, truncation=psi).astype(int)).max() <= 1
    mixed = synthesis.run(None, {"w": 0.5 * (w[:1] + w[1:2])})[0]  # w-space mixing: a frame of its own
    assert mixed.shape == (1, 32, 32, 3) and not np.array_equal(mixed[0], got[0])

    r = run_cli("info", str(tmp_path / "s.synthesis.onnx"))
    assert r.returncode == 0 and "synthesis half of a split export" in r.stdout and "input      w" in r.stdout
    r = run_cli("render", str(tmp_path / "s.mapping.onnx"), "-o", str(tmp_path / "x.mp4"), "--seconds", "1")
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "is the mapping half of a split export" in r.stderr and "s.onnx" in r.stderr


def test_split_needs_a_style_model(tiny_run, tmp_path):
    from conftest import run_cli

    r = run_cli("export", str(tiny_run), "-o", str(tmp_path / "d.onnx"), "--split")
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1 and "--split needs a style model" in r.stderr
    assert not list(tmp_path.glob("*.onnx"))
