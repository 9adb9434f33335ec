"""Models made elsewhere (plain float generators built with onnx.helper), fp16 exports, the start-up cache."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper
from PIL import Image

from conftest import assert_one_line_error, run_cli
from ganplug.errors import ContractError, ModelFileError
from ganplug.runtime.engine import Engine, EngineConfig
from ganplug.runtime.foreign import ForeignSpec
from ganplug.seeds import z_from_seed


def plain_generator(path, *, rank4=False, out_range="-1,1", channels=3, layout="nchw", dynamic_z=False):
    """z -> MatMul -> Reshape -> Tanh (or Sigmoid): a float image generator with no ganplug metadata."""
    z_dim, res = 16, 8
    w = helper.make_tensor("W", TensorProto.FLOAT, [z_dim, channels * res * res],
                           np.random.default_rng(0).standard_normal(z_dim * channels * res * res).astype(np.float32) * 0.5)
    shape = [-1, channels, res, res] if layout == "nchw" else [-1, res, res, channels]
    nodes = []
    src = "latent"
    if rank4:
        nodes.append(helper.make_node("Reshape", ["latent", "flat"], ["lz"]))
        src = "lz"
    nodes += [helper.make_node("MatMul", [src, "W"], ["m"]), helper.make_node("Reshape", ["m", "S"], ["r"]),
              helper.make_node("Tanh" if out_range == "-1,1" else "Sigmoid", ["r"], ["picture"])]
    inits = [w, helper.make_tensor("S", TensorProto.INT64, [4], shape), helper.make_tensor("flat", TensorProto.INT64, [2], [-1, z_dim])]
    zshape = ["N", "Z" if dynamic_z else z_dim] + ([1, 1] if rank4 else [])
    g = helper.make_graph(nodes, "plain", [helper.make_tensor_value_info("latent", TensorProto.FLOAT, zshape)],
                          [helper.make_tensor_value_info("picture", TensorProto.FLOAT, None)], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, path)
    return path


def expected(path, z, out_range, layout, rank4):
    s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = s.run(None, {"latent": z[:, :, None, None] if rank4 else z})[0]
    if layout == "nchw":
        x = x.transpose(0, 2, 3, 1)
    x = (x + 1) * 127.5 if out_range == "-1,1" else x * 255
    x = np.clip(np.rint(x), 0, 255).astype(np.uint8)
    return np.repeat(x, 3, -1) if x.shape[-1] == 1 else x


@pytest.mark.parametrize("rank4, out_range, channels, layout", [
    (False, "-1,1", 3, "nchw"), (True, "-1,1", 3, "nchw"), (False, "0,1", 1, "nchw"), (False, "0,1", 4, "nhwc")])
def test_foreign_models_are_post_processed_like_the_contract(tmp_path, rank4, out_range, channels, layout):
    path = plain_generator(tmp_path / "plain.onnx", rank4=rank4, out_range=out_range, channels=channels, layout=layout)
    e = Engine(path, EngineConfig(device="cpu", foreign=ForeignSpec(output_range=out_range, layout=layout)))
    assert (e.info.z_dim, e.info.resolution, e.info.channels) == (16, 8, 4 if channels == 4 else 3)
    z = np.stack([z_from_seed(s, 16) for s in (1, 2)])
    np.testing.assert_array_equal(e.run(z), expected(path, z, out_range, layout, rank4))


def test_foreign_model_through_the_cli(tmp_path):
    path = plain_generator(tmp_path / "plain.onnx", dynamic_z=True)
    assert_one_line_error(run_cli("render", str(path), "-o", str(tmp_path / "x"), "--seconds", "0.1"), "--output-range")
    assert_one_line_error(run_cli("render", str(path), "-o", str(tmp_path / "x"), "--output-range", "signed"), "--z-dim")
    r = run_cli("render", str(path), "-o", str(tmp_path / "out"), "--input-name", "latent", "--output-range=-1,1", "--z-dim", "16",
                "--walk", "hold", "--seed", "5", "--seconds", "0.1", "--fps", "10")
    assert r.returncode == 0, r.stderr
    got = np.asarray(Image.open(tmp_path / "out" / "frame-00000.png"))
    np.testing.assert_array_equal(got, expected(path, z_from_seed(5, 16)[None], "-1,1", "nchw", False)[0])
    assert_one_line_error(run_cli("info", str(path), "--input-name", "nope", "--z-dim", "16"), "no input named 'nope'")


def test_foreign_spec_errors(tmp_path):
    path = plain_generator(tmp_path / "plain.onnx", layout="nchw")
    with pytest.raises(ContractError, match="1, 3 or 4 channels"):
        Engine(path, EngineConfig(device="cpu", foreign=ForeignSpec(layout="nhwc")))


def test_wrong_opset_is_one_line(tmp_path):
    from test_contract import handmade

    path = handmade(tmp_path / "future.onnx", opset=99)
    with pytest.raises(ModelFileError, match="uses opset 99, newer than this onnxruntime"):
        Engine(path, EngineConfig(device="cpu"))
    assert_one_line_error(run_cli("info", str(path)), "uses opset 99, newer than this onnxruntime")


def test_half_export_and_cpu_notice(tiny_run, tmp_path):
    r = run_cli("export", str(tiny_run), "-o", str(tmp_path / "m.onnx"), "--half")
    assert r.returncode == 0, r.stderr
    assert "fp16 parity on 16 seeds: max" in r.stdout and (tmp_path / "m.fp16.onnx").exists()
    h = onnx.load(tmp_path / "m.fp16.onnx")
    assert {p.key: p.value for p in h.metadata_props}["ganplug.precision"] == "fp16"
    assert any(t.data_type == TensorProto.FLOAT16 for t in h.graph.initializer)
    info = run_cli("info", str(tmp_path / "m.fp16.onnx"), "--device", "cpu")
    assert info.returncode == 0 and "fp16 model, meant for GPUs" in info.stderr


def test_optimised_graph_cache_gives_the_same_frames(tiny_model, tmp_path, engine):
    cold = Engine(tiny_model, EngineConfig(device="cpu", threads=1, cache_dir=str(tmp_path)))
    warm = Engine(tiny_model, EngineConfig(device="cpu", threads=1, cache_dir=str(tmp_path)))
    assert not cold.cached_start and warm.cached_start
    assert len(list(tmp_path.glob("*.onnx"))) == 1
    z = np.stack([z_from_seed(s, 32) for s in range(4)])
    np.testing.assert_array_equal(warm.run(z), engine.run(z))
    assert warm.info.metadata == engine.info.metadata
    # a damaged cache file is dropped, and the model still loads
    next(tmp_path.glob("*.onnx")).write_bytes(b"garbage")
    again = Engine(tiny_model, EngineConfig(device="cpu", threads=1, cache_dir=str(tmp_path)))
    assert not again.cached_start
    np.testing.assert_array_equal(again.run(z), engine.run(z))
