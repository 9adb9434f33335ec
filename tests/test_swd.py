"""SWD: the metric's properties, and `ganplug eval` on a model and on a run."""

import numpy as np
import pytest
from PIL import Image

from conftest import assert_one_line_error, run_cli
from ganplug.procedural import make_image
from ganplug.swd import SWDConfig, _up, laplacian_pyramid, swd

CFG = SWDConfig(descriptors=32, directions=64, repeats=2)


@pytest.fixture(scope="module")
def shapes():
    """Two independent draws of 64 procedural images of 32 px, and a blurred copy of the second."""
    a = np.stack([make_image(np.random.default_rng([1, i]), 32) for i in range(64)])
    b = np.stack([make_image(np.random.default_rng([2, i]), 32) for i in range(64)])
    blurred = np.stack([np.asarray(Image.fromarray(x).resize((8, 8)).resize((32, 32))) for x in b])
    return a, b, blurred


def test_pyramid_levels_add_back_to_the_image(shapes):
    a = shapes[0][:4]
    levels = laplacian_pyramid(a, 8)
    assert sorted(levels) == [8, 16, 32]
    image = levels[8]
    for r in (16, 32):
        image = levels[r] + _up(image)
    assert np.abs(image - a).max() < 1e-3


def test_identical_sets_are_zero_and_different_sets_are_not(shapes):
    a, b, blurred = shapes
    assert swd(a, a, CFG).mean == 0.0
    same_kind = swd(a, b, CFG).mean
    assert 0 < same_kind < swd(a, blurred, CFG).mean
    noise = np.random.default_rng(0).integers(0, 256, a.shape, dtype=np.uint8)
    assert swd(a, noise, CFG).mean > 2 * same_kind
    assert sorted(swd(a, b, CFG).levels) == [16, 32]


def test_roughly_symmetric(shapes):
    a, _, blurred = shapes
    ab, ba = swd(a, blurred, CFG).mean, swd(blurred, a, CFG).mean
    assert abs(ab - ba) < 0.1 * max(ab, ba)


def test_eval_gives_the_same_numbers_for_a_model_and_its_run(tiny_model, tiny_run, tiny_data):
    on_onnx = run_cli("eval", str(tiny_model), str(tiny_data), "--images", "48")
    on_run = run_cli("eval", str(tiny_run), str(tiny_data), "--images", "48")
    assert on_onnx.returncode == 0 and on_run.returncode == 0, on_onnx.stderr + on_run.stderr
    assert "48 generated vs 48 real images at 32 px" in on_onnx.stdout
    assert on_onnx.stdout == on_run.stdout  # onnxruntime and PyTorch make the same images
    mean = float(on_onnx.stdout.split("mean")[1])
    assert mean > 1  # an untrained generator is far from the data


def test_eval_of_a_missing_folder_is_one_line(tiny_model, tmp_path):
    assert_one_line_error(run_cli("eval", str(tiny_model), str(tmp_path / "nope")), "does not exist")


def test_eval_of_a_model_needs_no_torch(tiny_model, tiny_data):
    import subprocess
    import sys

    code = ("import sys; from ganplug.cli import main; "
            f"main(['eval', {str(tiny_model)!r}, {str(tiny_data)!r}, '--images', '8']); "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
