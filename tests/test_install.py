"""The install story: serving without torch, GPU without both runtimes, docs generated from the table."""

import re
import tomllib

from conftest import ROOT
from ganplug.osc import docs


def _name(req: str) -> str:
    return re.split(r"[<>=!~;\[ ]", req, maxsplit=1)[0].lower()


def test_serving_install_has_no_torch():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    base = {_name(r) for r in project["dependencies"]}
    assert base == {"numpy", "onnxruntime", "python-osc", "pillow", "tqdm", "websockets"}
    assert "torch" in {_name(r) for r in project["optional-dependencies"]["train"]}


def test_gpu_requirements_swap_the_runtime_and_nothing_else():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    gpu = [ln.strip() for ln in (ROOT / "requirements-gpu.txt").read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    assert sorted(r.replace("onnxruntime-gpu", "onnxruntime") for r in gpu) == sorted(project["dependencies"])


def test_protocol_doc_is_generated_from_the_address_table():
    text = (ROOT / "docs" / "protocol.md").read_text()
    assert docs.render_into(text) == text, "run: python -m ganplug.osc.docs docs/protocol.md"


def test_readme_quick_start_matches_ci():
    readme = (ROOT / "README.md").read_text()
    assert "./dev serve" in readme and "./dev test" in readme
    assert "./dev test" in (ROOT / ".ci" / "run").read_text()
