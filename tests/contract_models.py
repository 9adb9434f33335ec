"""Contract models of any frame size, built with the onnx package in well under a second.

``pattern_model`` writes a real ganplug contract model (input ``z`` float32 [N, z_dim], output
``image`` uint8 [N, H, W, C], the ``ganplug.*`` metadata with width and height) whose picture
changes strongly with z and is unlike itself under a transpose or a flip: channel 0 is a
ramp down the rows, channel 1 a ramp across the columns, both under a random pattern of z.
A receiver that swaps width and height, or squares the frame, sees other pixels.

The graph: z -> MatMul(fixed random [z_dim, H*W*C]) -> Add(ramps) -> Sigmoid -> Mul(255)
-> Cast(uint8) -> Reshape([-1, H, W, C]).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def pattern_pixels(width: int, height: int, channels: int, z_dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The model's weights: (matrix [z_dim, H*W*C], bias [H*W*C]), float32."""
    rng = np.random.default_rng(seed)
    matrix = rng.standard_normal((z_dim, height * width * channels)) * (2.0 / np.sqrt(z_dim))
    y, x = np.mgrid[0:height, 0:width]
    ramps = np.zeros((height, width, channels))
    ramps[..., 0] = 6.0 * y / max(height - 1, 1) - 3.0  # dark at the top, bright at the bottom
    ramps[..., 1] = 6.0 * x / max(width - 1, 1) - 3.0  # dark on the left, bright on the right
    return matrix.astype(np.float32), ramps.ravel().astype(np.float32)


def pattern_model(path: Path, width: int, height: int, z_dim: int = 12, channels: int = 3, seed: int = 0) -> Path:
    """Write the contract model of ``width`` x ``height`` frames to ``path``; returns ``path``."""
    import onnx
    from onnx import TensorProto, helper

    from ganplug.contract import CONTRACT_VERSION, ModelMetadata

    matrix, bias = pattern_pixels(width, height, channels, z_dim, seed)
    nodes = [helper.make_node("MatMul", ["z", "W"], ["m"]), helper.make_node("Add", ["m", "B"], ["a"]),
             helper.make_node("Sigmoid", ["a"], ["s"]), helper.make_node("Mul", ["s", "K"], ["p"]),
             helper.make_node("Cast", ["p"], ["c"], to=TensorProto.UINT8), helper.make_node("Reshape", ["c", "S"], ["image"])]
    graph = helper.make_graph(
        nodes, "pattern",
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["N", z_dim])],
        [helper.make_tensor_value_info("image", TensorProto.UINT8, ["N", height, width, channels])],
        [helper.make_tensor("W", TensorProto.FLOAT, list(matrix.shape), matrix.ravel()),
         helper.make_tensor("B", TensorProto.FLOAT, [bias.size], bias),
         helper.make_tensor("K", TensorProto.FLOAT, [], [255.0]),
         helper.make_tensor("S", TensorProto.INT64, [4], [-1, height, width, channels])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    meta = ModelMetadata(contract=CONTRACT_VERSION, z_dim=z_dim, resolution=max(width, height), channels=channels,
                         architecture="pattern", dataset=f"a {width}x{height} test pattern", width=width, height=height)
    helper.set_model_props(model, meta.to_props())
    onnx.checker.check_model(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, path)
    return path


def pattern_frames(width: int, height: int, z: np.ndarray, z_dim: int = 12, channels: int = 3, seed: int = 0) -> np.ndarray:
    """What ``pattern_model`` computes for ``z`` [N, z_dim], in numpy (uint8 [N, H, W, C]; may differ from
    onnxruntime by one level where a value sits on a rounding edge)."""
    matrix, bias = pattern_pixels(width, height, channels, z_dim, seed)
    a = np.asarray(z, np.float32) @ matrix + bias
    p = (255.0 / (1.0 + np.exp(-a))).astype(np.float32)
    return p.astype(np.uint8).reshape(-1, height, width, channels)
