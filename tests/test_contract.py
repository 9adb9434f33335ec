"""Contract 2: exported models follow it; files that break it get one clear line."""

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from conftest import assert_one_line_error, free_port, run_cli
from ganplug import contract
from ganplug.errors import ContractError, ModelFileError
from ganplug.runtime.engine import Engine, EngineConfig
from ganplug.seeds import z_batch

META = {"ganplug.contract": "1", "ganplug.z_dim": "8", "ganplug.resolution": "4", "ganplug.channels": "3",
        "ganplug.architecture": "handmade", "ganplug.dataset": "none"}


def handmade(path: Path, *, out_type=TensorProto.UINT8, meta=META, input_name="z", z_rank=2, opset=18, output_name="image") -> Path:
    """A contract-shaped model written directly with onnx.helper (no ganplug code involved)."""
    w = helper.make_tensor("W", TensorProto.FLOAT, [8, 48], np.linspace(-1, 1, 8 * 48, dtype=np.float32))
    shape = helper.make_tensor("S", TensorProto.INT64, [4], [-1, 4, 4, 3])
    nodes = []
    src = input_name
    if z_rank == 3:
        nodes.append(helper.make_node("Squeeze", [input_name, "ax"], ["zz"]))
        src = "zz"
    nodes += [helper.make_node("MatMul", [src, "W"], ["m"]), helper.make_node("Reshape", ["m", "S"], ["r"])]
    inits = [w, shape]
    if z_rank == 3:
        inits.append(helper.make_tensor("ax", TensorProto.INT64, [1], [1]))
    if out_type == TensorProto.UINT8:
        nodes += [helper.make_node("Mul", ["r", "k"], ["s"]), helper.make_node("Clip", ["s", "lo", "hi"], ["c"]),
                  helper.make_node("Cast", ["c"], [output_name], to=TensorProto.UINT8)]
        inits += [helper.make_tensor("k", TensorProto.FLOAT, [], [50.0]), helper.make_tensor("lo", TensorProto.FLOAT, [], [0.0]),
                  helper.make_tensor("hi", TensorProto.FLOAT, [], [255.0])]
    else:
        nodes.append(helper.make_node("Identity", ["r"], [output_name]))
    in_shape = ["N", 8] if z_rank == 2 else ["N", 1, 8]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, in_shape)],
                          [helper.make_tensor_value_info(output_name, out_type, ["N", 4, 4, 3])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    helper.set_model_props(m, meta)
    onnx.save(m, path)
    return path


def test_exported_model_follows_the_contract(tiny_model, engine):
    info = engine.info
    assert (info.z_dim, info.resolution, info.channels, info.architecture) == (32, 32, 3, "dcgan")
    assert {f"ganplug.{k}" for k in contract.REQUIRED_META} <= set(info.metadata)
    for n in (1, 5):  # dynamic batch
        out = engine.run(z_batch(list(range(n)), 32))
        assert out.dtype == np.uint8 and out.shape == (n, 32, 32, 3)
    assert out.std() > 0


def test_handmade_model_passes(tmp_path):
    e = Engine(handmade(tmp_path / "ok.onnx"), EngineConfig(device="cpu"))
    assert e.info.resolution == 4 and e.run(np.ones((2, 8), np.float32)).shape == (2, 4, 4, 3)


@pytest.mark.parametrize("kwargs, needle", [
    ({"out_type": TensorProto.FLOAT}, "expected tensor(uint8)"),
    ({"meta": {k: v for k, v in META.items() if k != "ganplug.z_dim"}}, "missing metadata ganplug.z_dim"),
    ({"meta": {**META, "ganplug.contract": "99"}}, "contract version '99'"),
    ({"meta": {**META, "ganplug.channels": "2"}}, "expected 3 or 4"),
    ({"meta": {**META, "ganplug.resolution": "8"}}, "metadata says 8"),
    ({"input_name": "latent"}, "no input named 'z'"),
    ({"output_name": "rgb"}, "no output named 'image'"),
    ({"z_rank": 3}, "rank 3"),
])
def test_contract_breaks_are_named(tmp_path, kwargs, needle):
    path = handmade(tmp_path / "bad.onnx", **kwargs)
    with pytest.raises(ContractError, match=None) as e:
        Engine(path, EngineConfig(device="cpu"))
    assert needle in str(e.value)
    assert_one_line_error(run_cli("info", str(path)), needle)


def test_not_onnx_and_truncated_files(tmp_path, tiny_model):
    junk = tmp_path / "junk.onnx"
    junk.write_text("this is not a model")
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(tiny_model.read_bytes()[:2000])
    for p in (junk, cut):
        with pytest.raises(ModelFileError):
            Engine(p, EngineConfig(device="cpu"))
        assert_one_line_error(run_cli("info", str(p)), "not a loadable ONNX model")
    assert_one_line_error(run_cli("info", str(tmp_path / "missing.onnx")), "no such model file")
    assert_one_line_error(run_cli("serve", str(junk), "--listen", f"127.0.0.1:{free_port()}", "--send", f"127.0.0.1:{free_port()}",
                                  "--seconds", "1"), "not a loadable ONNX model")


def test_info_prints_the_metadata(tiny_model):
    r = run_cli("info", str(tiny_model))
    assert r.returncode == 0, r.stderr
    for needle in ("contract   version 1", "input      z tensor(float) ['N', 32]", "output     image tensor(uint8) ['N', 32, 32, 3]",
                   "ganplug.architecture = dcgan", "ganplug.dataset ="):
        assert needle in r.stdout


def test_info_counts_parameters_and_benchmarks(tiny_model, tmp_path):
    r = run_cli("info", str(tiny_model), "--bench")
    assert r.returncode == 0, r.stderr
    count = [ln for ln in r.stdout.splitlines() if ln.startswith("parameters")][0]
    assert int(count.split()[1].replace(",", "")) > 1000
    bench = [ln for ln in r.stdout.splitlines() if ln.startswith("bench")]
    assert len(bench) == 2 and all(float(ln.split(":")[1].split()[0]) > 0 for ln in bench)
    # a model made elsewhere has no count in its metadata: it is read from the graph
    plain = handmade(tmp_path / "plain.onnx")
    r = run_cli("info", str(plain))
    assert "parameters 391 (every initializer of the graph)" in r.stdout, r.stdout  # 8x48 weights + 7 constants



def _ganplug_props(path) -> dict[str, str]:
    return {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props
            if p.key.startswith(contract.META_PREFIX)}


def test_metadata_wire_format_round_trips_unchanged(tiny_model):
    """Bundled and freshly exported files read into ModelMetadata and write back byte for byte."""
    from ganplug.runtime.engine import default_model_path

    for path in (default_model_path(), tiny_model):
        props = _ganplug_props(path)
        meta = contract.ModelMetadata.from_props(str(path), props)
        assert meta.to_props() == props
        assert meta.step is not None and meta.parameters is not None and meta.precision == "fp32"
    bundled = contract.ModelMetadata.from_props("default", _ganplug_props(default_model_path()))
    assert bundled.decode_directions() is not None and bundled.decode_directions().shape[1] == bundled.z_dim


def test_metadata_keys_are_the_dataclass_fields_and_reject_bad_values():
    from dataclasses import fields

    keys = {contract.ModelMetadata.key(f.name) for f in fields(contract.ModelMetadata)}
    assert {"ganplug.contract", "ganplug.precision", "ganplug.part", "ganplug.directions_shape"} <= keys
    assert set(contract.ModelMetadata.from_props("m", META).to_props()) == set(META)
    with pytest.raises(ContractError, match="ganplug.z_dim='eight' is not an integer"):
        contract.ModelMetadata.from_props("m", {**META, "ganplug.z_dim": "eight"})
    with pytest.raises(ContractError, match="ganplug.resolution=0 must be positive"):
        contract.ModelMetadata.from_props("m", {**META, "ganplug.resolution": "0"})
    lenient = contract.ModelMetadata.from_props("m", {**META, "ganplug.step": "lots", "ganplug.other": "x"})
    assert lenient.step is None  # a malformed optional value reads as absent; unknown keys are ignored
    odd = contract.ModelMetadata.from_props("m", {**META, "ganplug.directions": "!!", "ganplug.directions_shape": "1,8"})
    assert odd.decode_directions() is None
    d = np.arange(16, dtype=np.float32).reshape(2, 8)
    assert np.array_equal(contract.ModelMetadata.from_props("m", META).with_directions(d).decode_directions(), d)


def test_export_readme_metadata_table_is_generated_from_the_dataclass():
    from conftest import ROOT
    from ganplug import contract_docs

    text = (ROOT / "export" / "README.md").read_text()
    assert contract_docs.BEGIN in text and contract_docs.END in text
    assert contract_docs.render_into(text) == text, "run: python -m ganplug.contract_docs export/README.md"


def test_no_metadata_key_literal_outside_the_contract():
    """Every ganplug.* metadata key is spelled only in contract.py (through ModelMetadata's fields)."""
    import re
    from dataclasses import fields

    from conftest import ROOT

    names = "|".join(f.name for f in fields(contract.ModelMetadata))
    literal = re.compile(rf"""["']ganplug\.({names})["']""")
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "ganplug").rglob("*.py")
                 if p.name != "contract.py" and literal.search(p.read_text())]
    assert offenders == []
