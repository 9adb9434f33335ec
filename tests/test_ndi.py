"""Issue 13 part 4: the NDI sink, received for real by a second process.

Both processes run in a private network namespace (``unshare --net``) so that NDI's
discovery never leaves the machine; NDI_CONFIG_DIR restricts NDI to 127.0.0.1.
"""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import need

ROOT = Path(__file__).resolve().parent.parent
RECEIVER = ROOT / "examples" / "python" / "ndi_receiver.py"


def need_ndi() -> None:
    if importlib.util.find_spec("NDIlib") is None:
        if os.environ.get("GANPLUG_REQUIRE_PEERS"):
            pytest.fail("ndi-python is not installed (pip install -e '.[ndi]')")
        pytest.skip("ndi-python not installed")


def test_block_pattern_check_can_fail():
    need_ndi()
    sys.path.insert(0, str(RECEIVER.parent))
    from ndi_receiver import block_error

    from ganplug.transports.ndi import block_frame

    rgba = np.dstack([block_frame(5, 256, 128), np.full((128, 256), 255, np.uint8)])
    assert block_error(5, rgba) == 0
    assert block_error(6, rgba) > 16  # the neighbouring frame differs by far more than NDI's error
    rgba[..., 3] = 0
    assert block_error(5, rgba) == 255


def test_ndi_source_received_by_another_process(tmp_path):
    need_ndi()
    need("unshare")
    need("ip")
    (tmp_path / "ndi-config.v1.json").write_text(json.dumps({"ndi": {"networks": {"ips": "127.0.0.1"}}}))
    out = tmp_path / "received.json"
    name, frames = "ganplug-test", 150
    script = (f"ip link set lo up && {sys.executable} {RECEIVER} {name} --check --frames {frames} --seconds 30 > {out} & "
              f"{sys.executable} -m ganplug.transports.ndi {name} --size 256x256 --fps 30 --frames {frames}; wait")
    env = dict(os.environ, NDI_CONFIG_DIR=str(tmp_path), PYTHONPATH=str(ROOT))
    r = subprocess.run(["unshare", "--net", "bash", "-c", script], capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    sent = json.loads(r.stdout.strip().splitlines()[-1])
    got = json.loads(out.read_text())
    assert sent["frames"] == frames
    assert got["shape"] == [256, 256, 4]
    assert got["bad"] == 0, got  # every square within 16 levels (NDI compresses), alpha 255
    assert got["distinct"] >= 0.95 * frames, got
    assert got["fps"] >= 27, got
