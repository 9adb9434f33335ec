"""Import of NVlabs StyleGAN pickles: the shared fixtures against NVlabs' own outputs (when
present beside the clone), snapshots the tests write themselves in the same format, and
malicious or broken files."""

from __future__ import annotations

import os
import pickle
import pickletools
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import ROOT, assert_one_line_error, free_port, run_cli, start_cli
from ganplug.errors import ConfigError
from ganplug.export import ExportConfig, export
from ganplug.nvlabs.export import check_reference
from ganplug.nvlabs.rebuild import rebuild
from ganplug.nvlabs.unpickle import decode_storage, load_snapshot
from ganplug.osc.receive import FrameReceiver
from ganplug.runtime.engine import Engine, EngineConfig
from ganplug.seeds import z_from_seed
from nvlabs_helpers import SMALL, random_generator, snapshot_bytes, write_snapshot

# CI has shared/ beside the clone; GANPLUG_STYLEGAN_FIXTURES points elsewhere (e.g. from a git worktree)
FIXTURES = Path(os.environ.get("GANPLUG_STYLEGAN_FIXTURES") or ROOT.parent / "shared" / "fixtures" / "stylegan")
FIXTURE_NAMES = ("stylegan2_64", "stylegan3t_64", "stylegan2cond_32")
SOURCES = {"stylegan2_64": "nvlabs-stylegan2", "stylegan3t_64": "nvlabs-stylegan3-t", "stylegan2cond_32": "nvlabs-stylegan2"}


def fixture(name: str) -> Path:
    path = FIXTURES / f"{name}.redacted.pkl"
    if not path.is_file():
        pytest.skip(f"shared fixture {path} not present")
    return path


def globals_of(data: bytes) -> set[str]:
    """Every global a pickle names (text GLOBAL or STACK_GLOBAL after two strings), read without loading it."""
    names, strings = set(), []
    for op, arg, _ in pickletools.genops(data):
        if op.name == "GLOBAL":
            names.add(arg.replace(" ", "."))
        elif op.name == "STACK_GLOBAL":
            names.add(".".join(strings[-2:]))
        if isinstance(arg, str):
            strings.append(arg)
    return names


def cpu_engine(path: Path) -> Engine:
    return Engine(path, EngineConfig(device="cpu", threads=1, cache_dir=None))


# ------------------------------------------------------------------ shared fixtures (NVlabs' own outputs)

@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_fixture_rebuild_matches_nvlabs_outputs(name):
    imp = rebuild(fixture(name))
    assert imp.source == SOURCES[name]
    assert check_reference(imp.generator, FIXTURES / f"{name}.ref.npz") < 1e-4  # measured: 1e-5 or less


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_fixture_exports_passes_the_gate_and_serves(name, tmp_path):
    out = tmp_path / f"{name}.onnx"
    r = run_cli("export", str(fixture(name)), "-o", str(out), timeout=600)
    assert r.returncode == 0, r.stderr
    assert "rebuild vs NVlabs reference" in r.stdout and f"wrote {out}" in r.stdout
    engine = cpu_engine(out)
    assert engine.info.metadata["ganplug.source"] == SOURCES[name]
    ref = np.load(FIXTURES / f"{name}.ref.npz")
    for psi, key in ((1.0, "images_psi1"), (0.7, "images_psi07")):  # ONNX vs NVlabs' own uint8 images
        for i, z in enumerate(ref["z"]):
            if engine.c_dim:
                engine.set_class(int(np.argmax(ref["c"][i])))
            got = engine.run(z[None], truncation=psi)[0]
            assert np.abs(got.astype(int) - ref[key][i].astype(int)).max() <= 1
    engine.set_class(0) if engine.c_dim else None
    info = run_cli("info", str(out))
    assert f"ganplug.source = {SOURCES[name]}" in info.stdout
    served = serve_frames(out, seed=5)
    np.testing.assert_array_equal(served, engine.run(z_from_seed(5, engine.info.z_dim)[None], truncation=0.7)[0])


def serve_frames(model: Path, seed: int) -> np.ndarray:
    """The first frame a real ``ganplug serve`` process sends for a held seed at ψ 0.7."""
    with FrameReceiver("127.0.0.1", 0, rcvbuf=None) as rx:
        proc = start_cli("serve", str(model), "--send", f"127.0.0.1:{rx.address[1]}", "--listen", f"127.0.0.1:{free_port()}",
                         "--walk", "hold", "--seed", str(seed), "--truncation", "0.7", "--fps", "10", "--seconds", "20",
                         "--device", "cpu", "--threads", "1")
        try:
            got = list(rx.frames(seconds=60, count=1))
        finally:
            proc.terminate()
            proc.communicate(timeout=30)
    assert got, "no frame arrived"
    return got[0].pixels


# ------------------------------------------------------------------ snapshots written by the tests

@pytest.mark.parametrize("old", [False, True], ids=["numpy2-torch2", "numpy1-torch1"])
@pytest.mark.parametrize("name", list(SMALL))
def test_written_snapshots_round_trip_exactly(name, old, tmp_path):
    kind, kw = SMALL[name]
    g = random_generator(kind, seed=1, **kw)
    path = write_snapshot(tmp_path / "net.pkl", g, kw, numpy1=old, torch1=old)
    names = globals_of(path.read_bytes())
    assert ("numpy.core.multiarray.scalar" in names) == old and ("numpy._core.multiarray.scalar" in names) != old
    assert "torch.storage._load_from_bytes" in names and "torch_utils.persistence._reconstruct_persistent_obj" in names
    imp = rebuild(path)
    assert imp.source.startswith("nvlabs-" + kind) and imp.generator.c_dim == kw["c_dim"]
    z = torch.randn(4, kw["z_dim"])
    c = g.one_hot(4, kw["c_dim"] - 1) if kw["c_dim"] else None
    with torch.no_grad():
        for psi in (1.0, 0.5):
            torch.testing.assert_close(imp.generator(z, c, torch.tensor(psi)), g(z, c, torch.tensor(psi)), rtol=0, atol=0)


def test_stylegan2_ada_layout_nested_kwargs_and_its_clamp_default(tmp_path):
    """stylegan2-ada-pytorch nests synthesis_kwargs and defaults conv_clamp to None (stylegan3's: 256)."""
    flat = dict(z_dim=32, c_dim=0, w_dim=32, img_resolution=16, img_channels=3, mapping_kwargs={"num_layers": 2},
                channel_base=256, channel_max=32)
    g = random_generator("stylegan2", conv_clamp=None, **flat)
    init = {k: v for k, v in flat.items() if not k.startswith("channel_")}
    init["synthesis_kwargs"] = {"channel_base": 256, "channel_max": 32, "num_fp16_res": 0}
    imp = rebuild(write_snapshot(tmp_path / "ada.pkl", g, init, numpy1=True, torch1=True))
    assert imp.kwargs["conv_clamp"] is None and imp.generator.synthesis.b16.conv1.conv_clamp is None
    z = torch.randn(2, 32)
    with torch.no_grad():
        torch.testing.assert_close(imp.generator(z, None, 0.8), g(z, None, 0.8), rtol=0, atol=0)


@pytest.fixture(scope="module")
def cond_export(tmp_path_factory) -> Path:
    """A class-conditional StyleGAN2 snapshot written here, exported with --split."""
    kind, kw = SMALL["sg2-cond"]
    d = tmp_path_factory.mktemp("cond")
    src = write_snapshot(d / "cond.pkl", random_generator(kind, seed=2, **kw), kw)
    out = d / "cond.onnx"
    export(ExportConfig(source=str(src), output=str(out), split=True, exporter="dynamo"))  # the other exporter
    return out


def test_conditional_export_feeds_one_hot_classes(cond_export):
    engine = cpu_engine(cond_export)
    assert engine.c_dim == 3 and engine.info.metadata["ganplug.c_dim"] == "3"
    assert [i.name for i in engine.session.get_inputs()] == ["z", "truncation", "c"]
    z = z_from_seed(3, engine.info.z_dim)[None]
    frames = []
    for k in range(3):
        engine.set_class(k)
        frames.append(engine.run(z, 0.7)[0])
    assert not np.array_equal(frames[0], frames[1]) and not np.array_equal(frames[1], frames[2])
    with pytest.raises(ConfigError, match="outside 0..2"):
        engine.set_class(3)
    for part in ("mapping", "synthesis"):
        assert cond_export.with_name(f"cond.{part}.onnx").is_file()


def test_render_takes_a_class(cond_export, tmp_path):
    for k in (0, 2):
        r = run_cli("render", str(cond_export), "-o", str(tmp_path / f"k{k}"), "--class", str(k), "--seconds", "0.2",
                    "--fps", "10", "--walk", "hold", "--no-progress")
        assert r.returncode == 0, r.stderr
    a, b = (np.asarray(__import__("PIL.Image", fromlist=["Image"]).open(tmp_path / f"k{k}" / "frame-00000.png")) for k in (0, 2))
    assert not np.array_equal(a, b)
    bad = run_cli("render", str(cond_export), "-o", str(tmp_path / "bad"), "--class", "7", "--no-progress")
    assert_one_line_error(bad, "class 7 is outside 0..2")


@pytest.mark.parametrize("name", ["sg2-resnet", "sg3-r"])
def test_other_architectures_export_within_one_level(name, tmp_path):
    kind, kw = SMALL[name]
    g = random_generator(kind, seed=3, **kw)
    out = tmp_path / "m.onnx"
    export(ExportConfig(source=str(write_snapshot(tmp_path / "m.pkl", g, kw)), output=str(out), exporter="legacy"))
    engine = cpu_engine(out)
    z = np.stack([z_from_seed(s, kw["z_dim"]) for s in range(6)])
    with torch.no_grad():
        want = g(torch.from_numpy(z), g.one_hot(6), torch.tensor(0.7))
    want = torch.floor((want * 127.5 + 128).clamp(0, 255)).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    assert np.abs(engine.run(z, 0.7).astype(int) - want.astype(int)).max() <= 1
    assert engine.info.metadata["ganplug.source"] == ("nvlabs-stylegan3-r" if kind == "stylegan3" else "nvlabs-stylegan2")
    assert engine.info.metadata["ganplug.directions_shape"] == f"16,{kw['z_dim']}"


# ------------------------------------------------------------------ nothing from the file runs

def test_embedded_module_source_is_never_run(tmp_path):
    marker = tmp_path / "source-ran.txt"
    kind, kw = SMALL["sg2-skip"]
    src = f"open({str(marker)!r}, 'w').write('the importer ran the module source')\n"
    path = write_snapshot(tmp_path / "genuine.pkl", random_generator(kind, **kw), kw, module_src=src)
    assert load_snapshot(path)["G_ema"].module_src == src  # kept as text
    r = run_cli("export", str(path), "-o", str(tmp_path / "out.onnx"))
    assert r.returncode == 0, r.stderr
    assert not marker.exists()


@pytest.mark.parametrize("module, name", [("os", "system"), ("builtins", "exec"), ("subprocess", "Popen")])
def test_globals_outside_the_allow_list_are_refused(module, name, tmp_path):
    marker = tmp_path / "pwned"
    payload = f"touch {marker}" if name != "exec" else f"open({str(marker)!r}, 'w')"
    arg = f"(S{payload!r}\ntR" if name != "Popen" else f"((S'touch'\nS{str(marker)!r}\nltR"
    path = tmp_path / "evil.pkl"
    path.write_bytes(f"(dp0\nS'G_ema'\np1\nc{module}\n{name}\n{arg}p2\ns.".encode())
    out = tmp_path / "out.onnx"
    r = run_cli("export", str(path), "-o", str(out))
    assert_one_line_error(r, f"{module}.{name}", "allow-list")
    assert not marker.exists() and not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["evil.pkl"]


@pytest.mark.filterwarnings("ignore:TypedStorage is deprecated")
def test_storages_are_decoded_without_pickle_and_refuse_other_globals():
    import io

    buf = io.BytesIO()
    torch.save(torch.arange(6.0).storage(), buf, _use_new_zipfile_serialization=False)  # what NVlabs' pickles embed
    blob = buf.getvalue()
    assert decode_storage(blob).tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    evil = blob.replace(b"ctorch\nFloatStorage\n", b"cposix\nsystem\n", 1)
    assert evil != blob
    with pytest.raises(pickle.UnpicklingError, match="posix.system"):
        decode_storage(evil)
    with pytest.raises(EOFError):
        decode_storage(blob[:-4])


# ------------------------------------------------------------------ broken or foreign files: one line, nothing written

def _bad_files(tmp_path: Path) -> dict[str, tuple[bytes, str]]:
    kind, kw = SMALL["sg2-skip"]
    g = random_generator(kind, **kw)
    good = snapshot_bytes(g, kw)
    return {
        "not-a-snapshot": (pickle.dumps({"weights": [1, 2, 3]}), "not an NVlabs network snapshot"),
        "no-g-ema": (snapshot_bytes(g, kw, keys=("G", "D")), "no G_ema"),
        "unknown-class": (snapshot_bytes(g, kw, g_class="FancyGenerator"), "'FancyGenerator'"),
        "truncated": (good[: len(good) // 2], "truncated"),
        "newer-version": (snapshot_bytes(g, {**kw, "mapping_kwargs": {"num_layers": 2, "warp": 1}, "hyper_mode": True}),
                          "hyper_mode, mapping_kwargs.warp"),
        "not-a-pickle": (b"\x80\x04this is not a pickle at all", "not a readable network pickle"),
    }


@pytest.mark.parametrize("case", ["not-a-snapshot", "no-g-ema", "unknown-class", "truncated", "newer-version", "not-a-pickle"])
def test_bad_snapshots_fail_in_one_line_and_write_nothing(case, tmp_path):
    data, needle = _bad_files(tmp_path)[case]
    src = tmp_path / "in" / "network-snapshot-000100.pkl"
    src.parent.mkdir()
    src.write_bytes(data)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    r = run_cli("export", str(src), "-o", str(out_dir / "m.onnx"), "--split")
    assert_one_line_error(r, needle, "nothing written")
    assert list(out_dir.iterdir()) == []


def test_upsampling_by_transposed_convolution_equals_zero_insertion():
    from ganplug.nvlabs.ops import upfirdn2d

    torch.manual_seed(0)
    checked = 0
    for shape in ([4, 4], [12], [24], [12, 12]):
        for up in (2, 4):
            for pad in [(2, 1, 2, 1), (9, 8, 9, 8), (-3, 5, 1, -2), (13, 12, 13, 12), (-12, -11, -12, -11)]:
                x, f = torch.randn(2, 3, 9, 9), torch.rand(shape)
                zeros = torch.nn.functional.pad(x.reshape(2, 3, 9, 1, 9, 1), [0, up - 1, 0, 0, 0, up - 1]).reshape(2, 3, 9 * up, 9 * up)
                try:
                    want = upfirdn2d(zeros, f, pad=pad, gain=up * up)  # insert zeros, then filter
                except RuntimeError:  # filter longer than the padded image: not a valid case
                    continue
                got = upfirdn2d(x, f, up=up, pad=pad, gain=up * up)
                torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5 * float(want.abs().max()))
                checked += 1
    assert checked > 30


def test_contract_accepts_c_only_with_its_metadata():
    from collections import namedtuple

    from ganplug import contract
    from ganplug.errors import ContractError

    arg = namedtuple("NodeArg", "name type shape")
    meta = {"ganplug.contract": "1", "ganplug.z_dim": "8", "ganplug.resolution": "4", "ganplug.channels": "3",
            "ganplug.architecture": "stylegan2", "ganplug.dataset": "none"}
    z, c = arg("z", "tensor(float)", ["N", 8]), arg("c", "tensor(float)", ["N", 5])
    out = [arg("image", "tensor(uint8)", ["N", 4, 4, 3])]
    assert contract.check_model("m", [z, c], out, {**meta, "ganplug.c_dim": "5"}).c_dim == 5
    assert contract.check_model("m", [z], out, meta).c_dim == 0
    with pytest.raises(ContractError, match="unexpected inputs c"):
        contract.check_model("m", [z, c], out, meta)
    with pytest.raises(ContractError, match="no input 'c'"):
        contract.check_model("m", [z], out, {**meta, "ganplug.c_dim": "5"})
    with pytest.raises(ContractError, match=r"must be float32 \[N, 4\]"):
        contract.check_model("m", [z, c], out, {**meta, "ganplug.c_dim": "4"})


@pytest.mark.slow
def test_fullsize_1024_config_f_exports_and_runs():
    """benchmarks/import_fullsize.py at 1024 px: StyleGAN2 config F through the whole import."""
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import import_fullsize

    r = import_fullsize.run(1024)
    assert r["frame_shape"] == (1, 1024, 1024, 3) and r["parameters"] > 28_000_000


def test_two_dimensional_down_filters_agree_with_separable_ones():
    """StyleGAN3-R's radial down filters are 2-D; an outer-product filter must give what the
    separable path (checked against NVlabs' StyleGAN3-T outputs) gives."""
    from ganplug.nvlabs.ops import upfirdn2d
    from ganplug.nvlabs.stylegan3 import lowpass_filter

    torch.manual_seed(0)
    f = lowpass_filter(12, 4.0, 6.0, 32.0)
    x = torch.randn(2, 5, 40, 40)
    for down, pad in ((2, (0, 0, 0, 0)), (1, (3, 2, 3, 2)), (2, (-1, 0, -1, 0))):
        torch.testing.assert_close(upfirdn2d(x, torch.outer(f, f), down=down, pad=pad), upfirdn2d(x, f, down=down, pad=pad))
    radial = lowpass_filter(12, 4.0, 6.0, 32.0, radial=True)
    assert radial.shape == (12, 12) and abs(float(radial.sum()) - 1) < 1e-6
    torch.testing.assert_close(radial, radial.t())  # radially symmetric


def test_serve_switches_class_over_osc(cond_export, tmp_path):
    from serving import Controller, collect, running_server, wait_until

    engine = cpu_engine(cond_export)
    z = z_from_seed(5, engine.info.z_dim)[None]
    want = []
    for k in (0, 2):
        engine.set_class(k)
        want.append(engine.run(z, 1.0)[0])
    with running_server(engine, tmp_path, fps=20.0, initial=(("walk", "hold"), ("seed", 5), ("class", 0))) as (server, (rx,)):
        assert any(np.array_equal(f.pixels, want[0]) for f in collect(rx, count=3, seconds=5))
        ctl = Controller(server)
        ctl.send("/ganplug/class", "i", 2)
        assert wait_until(lambda: server.show.class_index == 2, 5)
        assert any(np.array_equal(f.pixels, want[1]) for f in collect(rx, count=5, seconds=5))
        ctl.send("/ganplug/class", "i", 3)  # this model has classes 0..2
        errors = [args[0] for a, args in ctl.replies(2.0, until="/ganplug/error") if a == "/ganplug/error"]
        assert errors and "class 3 is outside 0..2" in errors[0]
        assert server.show.class_index == 2
        ctl.close()


def test_class_on_an_unconditional_model_is_refused(tmp_path):
    from ganplug.runtime.engine import default_model_path

    bad = run_cli("serve", str(default_model_path()), "--class", "1", "--seconds", "0.5",
                  "--listen", f"127.0.0.1:{free_port()}", "--send", f"127.0.0.1:{free_port()}")
    assert_one_line_error(bad, "--class: class 1: this model is not class-conditional")
