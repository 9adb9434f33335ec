"""Models that load but cannot be served: one line, non-zero exit, before any port is bound and
before anything of an absurd size is allocated (issue 15, item 5)."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from conftest import assert_one_line_error, free_port, run_cli

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402

META = {"contract": "1", "architecture": "test", "dataset": "none", "channels": "3"}


def _save(path: Path, nodes, inputs, outputs, inits=(), meta: dict | None = None) -> Path:
    g = helper.make_graph(nodes, path.stem, inputs, outputs, list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    for k, v in (meta or {}).items():
        m.metadata_props.add(key="ganplug." + k, value=str(v))
    onnx.save(m, path)
    return path


def _contract_model(path: Path, z_dim: int | str, resolution: int, meta_z: int, reshape_to: list[int]) -> Path:
    """z -> Reshape(reshape_to) -> uint8 image; the output's size is not fixed in the graph."""
    return _save(path, [helper.make_node("Reshape", ["z", "S"], ["r"]), helper.make_node("Cast", ["r"], ["image"], to=TensorProto.UINT8)],
                 [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["N", z_dim])],
                 [helper.make_tensor_value_info("image", TensorProto.UINT8, ["N", "H", "W", "C"])],
                 [helper.make_tensor("S", TensorProto.INT64, [len(reshape_to)], reshape_to)],
                 dict(META, z_dim=meta_z, resolution=resolution))


def _serve(model: Path, *flags: str, listen_port: int | None = None):
    return run_cli("serve", str(model), "--listen", f"127.0.0.1:{listen_port or free_port()}", "--send",
                   f"127.0.0.1:{free_port()}", "--seconds", "1", *flags, timeout=60)


def test_a_model_that_fails_on_its_first_frame_is_one_line_before_ports_are_bound(tmp_path):
    # 8 latent values cannot become a 4x4x3 image: it loads, and fails when it runs
    model = _contract_model(tmp_path / "fails.onnx", 8, 4, 8, [-1, 4, 4, 3])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))  # the control port is taken: the model's problem must come first
        r = _serve(model, listen_port=taken.getsockname()[1])
    assert_one_line_error(r, "fails.onnx", "fails on its first frame")
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr  # onnxruntime's own log stays quiet


def test_an_absurd_latent_is_refused_before_it_is_allocated(tmp_path):
    model = _contract_model(tmp_path / "hugez.onnx", "zd", 4, 1_000_000_000, [-1, 4, 4, 3])
    t = time.monotonic()
    r = _serve(model)
    assert_one_line_error(r, "hugez.onnx", "latent of 1000000000 values")
    assert time.monotonic() - t < 30  # a 4 GB zeros array and a run would take far longer here


def test_an_absurd_resolution_is_refused(tmp_path):
    model = _contract_model(tmp_path / "hugeres.onnx", 48, 100_000, 48, [-1, 100_000, 100_000, 3])
    assert_one_line_error(_serve(model), "hugeres.onnx", "100000 x 100000 x 3", "beyond what ganplug serves")


def _foreign_model(path: Path, out_shape: list[int]) -> Path:
    """A foreign generator whose declared output is ``out_shape`` floats, whatever z is."""
    return _save(path, [helper.make_node("ReduceSum", ["z"], ["s"], keepdims=0),
                        helper.make_node("ConstantOfShape", ["S"], ["c"], value=helper.make_tensor("v", TensorProto.FLOAT, [1], [0.0])),
                        helper.make_node("Add", ["c", "s"], ["picture"])],
                 [helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 8])],
                 [helper.make_tensor_value_info("picture", TensorProto.FLOAT, out_shape)],
                 [helper.make_tensor("S", TensorProto.INT64, [4], out_shape)])


def test_an_absurd_foreign_output_is_refused_before_it_runs(tmp_path):
    model = _foreign_model(tmp_path / "hugeout.onnx", [1, 3, 20000, 20000])  # 1.2e9 floats: 4.8 GB if run
    t = time.monotonic()
    assert_one_line_error(_serve(model, "--output-range", "signed"), "hugeout.onnx", "beyond what ganplug serves")
    assert time.monotonic() - t < 30


def test_a_foreign_model_with_a_sane_output_serves(tmp_path):
    model = _foreign_model(tmp_path / "small.onnx", [1, 3, 16, 16])
    r = _serve(model, "--output-range", "signed")
    assert r.returncode == 0, r.stderr


def test_an_absurd_z_dim_flag_is_refused(tmp_path):
    model = _foreign_model(tmp_path / "small.onnx", [1, 3, 16, 16])
    assert_one_line_error(_serve(model, "--output-range", "signed", "--z-dim", "1000000000"), "latent of 1000000000 values")
