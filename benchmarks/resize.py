"""Fitting frames to an output size (``serve --size WxH --fit crop``): the ways to do it, side by side.

For a 64 px model to 1280x720 and a 256 px model to 1920x1080 (DCGAN generators with random
weights, ``common.dcgan_model``), milliseconds per frame, model included:

- ``model``: the model alone, for reference;
- ``pillow``: the model, then ganplug's :class:`~ganplug.runtime.fit.Fitter` (Pillow's bilinear resample
  of the crop box) — what ``serve`` does;
- ``in graph``: a Slice and a Resize (linear, uint8 NHWC) appended to the model's own graph, one session;
- ``2nd session``: the same Slice and Resize as a second onnxruntime session fed the model's frame;
- ``numpy nearest``: index tables computed once, one fancy-indexing gather per frame;
- ``numpy bilinear``: separable bilinear in float32 with precomputed weights.

Needs the training extra (torch, onnx) to build the models.

    ./dev bench resize [--runs 40]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))

from common import CACHE, dcgan_model  # noqa: E402

from ganplug.runtime.engine import Engine, EngineConfig  # noqa: E402
from ganplug.runtime.fit import Fitter, Output  # noqa: E402

CASES = ((64, 1280, 720), (256, 1920, 1080))


def resize_nodes(helper, source: str, out: str, box: tuple[int, int, int, int], size: tuple[int, int, int, int]):
    """Slice (the crop box) and Resize (to ``size`` NHWC) nodes, with their constants, from ``source`` to ``out``."""
    from onnx import TensorProto as T

    top, left, bottom, right = box
    consts = [helper.make_tensor("fit_starts", T.INT64, [2], [top, left]), helper.make_tensor("fit_ends", T.INT64, [2], [bottom, right]),
              helper.make_tensor("fit_axes", T.INT64, [2], [1, 2]), helper.make_tensor("fit_sizes", T.INT64, [4], list(size))]
    nodes = [helper.make_node("Slice", [source, "fit_starts", "fit_ends", "fit_axes"], ["fit_cropped"]),
             helper.make_node("Resize", ["fit_cropped", "", "", "fit_sizes"], [out], mode="linear",
                              coordinate_transformation_mode="half_pixel")]
    return nodes, consts


def crop_box(res: int, w: int, h: int) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) of the centred region of a res x res frame with the output's aspect."""
    if w / h >= 1:
        ch = round(res * h / w)
        return ((res - ch) // 2, 0, (res - ch) // 2 + ch, res)
    cw = round(res * w / h)
    return (0, (res - cw) // 2, res, (res - cw) // 2 + cw)


def appended_model(path, res: int, w: int, h: int):
    """The model file with the crop and resize appended to its graph (output ``image`` now w x h)."""
    import onnx
    from onnx import helper

    out = CACHE / f"{path.stem}-fit-{w}x{h}.onnx"
    if not out.exists():
        m = onnx.load(str(path))
        g = m.graph
        for node in g.node:
            node.output[:] = ["model_image" if o == "image" else o for o in node.output]
        nodes, consts = resize_nodes(helper, "model_image", "image", crop_box(res, w, h), (1, h, w, 3))
        g.node.extend(nodes)
        g.initializer.extend(consts)
        g.output[0].type.tensor_type.shape.dim[1].dim_value = h
        g.output[0].type.tensor_type.shape.dim[2].dim_value = w
        onnx.save(m, str(out))
    return out


def session(model, threads: int):
    """A plain CPU session (the appended model breaks the contract's size check, so no Engine)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])


def resize_session(res: int, w: int, h: int, threads: int):
    """A second session: frame in, fitted frame out."""
    import onnx
    from onnx import TensorProto as T
    from onnx import helper

    nodes, consts = resize_nodes(helper, "frame", "fitted", crop_box(res, w, h), (1, h, w, 3))
    graph = helper.make_graph(nodes, "fit", [helper.make_tensor_value_info("frame", T.UINT8, [1, res, res, 3])],
                              [helper.make_tensor_value_info("fitted", T.UINT8, [1, h, w, 3])], initializer=consts)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    onnx.checker.check_model(model)
    return session(model.SerializeToString(), threads)


def numpy_paths(res: int, w: int, h: int):
    """Nearest and bilinear resizes of the crop box, their tables computed once."""
    top, left, bottom, right = crop_box(res, w, h)
    ys = top + (np.arange(h) + 0.5) * (bottom - top) / h - 0.5
    xs = left + (np.arange(w) + 0.5) * (right - left) / w - 0.5
    yi, xi = np.clip(np.rint(ys), 0, res - 1).astype(np.intp), np.clip(np.rint(xs), 0, res - 1).astype(np.intp)
    y0 = np.clip(np.floor(ys), 0, res - 1).astype(np.intp)
    x0 = np.clip(np.floor(xs), 0, res - 1).astype(np.intp)
    y1, x1 = np.minimum(y0 + 1, res - 1), np.minimum(x0 + 1, res - 1)
    fy = np.clip(ys - y0, 0, 1).astype(np.float32)[:, None, None]
    fx = np.clip(xs - x0, 0, 1).astype(np.float32)[None, :, None]

    def nearest(px: np.ndarray) -> np.ndarray:
        return px[yi[:, None], xi[None, :]]

    def bilinear(px: np.ndarray) -> np.ndarray:
        f = px.astype(np.float32)
        rows = f[y0] * (1 - fy) + f[y1] * fy
        out = rows[:, x0] * (1 - fx) + rows[:, x1] * fx
        return (out + 0.5).astype(np.uint8)
    return nearest, bilinear


def timed(fn, runs: int) -> float:
    fn()
    fn()
    t0 = time.perf_counter()
    for _ in range(runs):
        fn()
    return (time.perf_counter() - t0) / runs * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument("--threads", type=int, default=0, help="onnxruntime threads (default: all cores but one, as serve)")
    a = ap.parse_args()
    cfg = EngineConfig(device="cpu", threads=a.threads, cache_dir=None)
    threads = a.threads or max(1, (os.cpu_count() or 2) - 1)
    print(f"ms per frame, {a.runs} runs, onnxruntime {threads} thread(s), {os.cpu_count()} cores")
    print(f"{'case':>22} {'model':>7} {'pillow':>7} {'in graph':>9} {'2nd session':>12} {'np nearest':>11} {'np bilinear':>12}")
    for res, w, h in CASES:
        _, path = dcgan_model(res)
        engine, fitted = Engine(path, cfg), session(str(appended_model(path, res, w, h)), threads)
        z = np.random.default_rng(0).standard_normal((1, engine.info.z_dim)).astype(np.float32)
        fit = Fitter(engine.info.frame_shape, Output(h, w, 3, "crop"))
        second = resize_session(res, w, h, threads)
        nearest, bilinear = numpy_paths(res, w, h)
        run = lambda: engine.run(z)[0]  # noqa: E731
        row = [timed(run, a.runs), timed(lambda: fit(run()), a.runs), timed(lambda: fitted.run(None, {"z": z})[0][0], a.runs),
               timed(lambda: second.run(None, {"frame": engine.run(z)})[0][0], a.runs),
               timed(lambda: nearest(run()), a.runs), timed(lambda: bilinear(run()), a.runs)]
        label = f"{res} px -> {w}x{h}"
        print(f"{label:>22} " + " ".join(f"{v:>{n}.2f}" for v, n in zip(row, (7, 7, 9, 12, 11, 12))))
        assert fitted.run(None, {"z": z})[0][0].shape == fit(run()).shape == (h, w, 3)


if __name__ == "__main__":
    main()
