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


def test_dev_records_an_install_only_when_pip_succeeds(tmp_path):
    """A failed pip is loud, exits non-zero and is tried again on the next run (no stamp left behind)."""
    import os
    import subprocess

    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    fake_python = venv / "bin" / "python"
    fake_python.write_text('#!/bin/sh\nif [ "$1 $2 $3" = "-m pip install" ] && [ ! -e "$(dirname "$0")/../pip-works" ]; then\n'
                           '  echo "ERROR: no matching distribution (network down)" >&2; exit 1\nfi\nexit 0\n')
    (venv / "bin" / "ganplug").write_text('#!/bin/sh\necho "ganplug ran: $*"\n')
    for f in (fake_python, venv / "bin" / "ganplug"):
        f.chmod(0o755)
    env = dict(os.environ, GANPLUG_VENV=str(venv))

    def dev() -> subprocess.CompletedProcess:
        return subprocess.run([str(ROOT / "dev"), "serve", "--seconds", "1"], capture_output=True, text=True, timeout=60, env=env, cwd=ROOT)

    r = dev()
    assert r.returncode != 0 and "ganplug ran" not in r.stdout
    assert "network down" in r.stderr and "pip install -e . failed" in r.stderr, r.stderr
    assert not list(venv.glob(".stamp-*"))
    (venv / "pip-works").touch()
    r = dev()
    assert r.returncode == 0 and "ganplug ran: serve --seconds 1" in r.stdout, r.stderr
    assert (venv / ".stamp-serve").is_file()


def test_licence_is_an_spdx_string_and_setuptools_reads_it():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert meta["project"]["license"] == "MIT"  # PEP 639: a table here makes setuptools print a deprecation on every install
    assert any(re.fullmatch(r"setuptools>=(\d+)", r) and int(re.fullmatch(r"setuptools>=(\d+)", r)[1]) >= 77
               for r in meta["build-system"]["requires"])
    assert not any("License ::" in c for c in meta["project"].get("classifiers", []))  # setuptools refuses both at once
