"""`ganplug doctor` on this machine: real onnxruntime, real ports, the real bundled model."""

from __future__ import annotations

import os
import socket

import onnxruntime

from conftest import free_port, run_cli


def test_doctor_reports_a_working_serving_path(tmp_path):
    control, web = free_port(), free_port()
    r = run_cli("doctor", "--listen", f"127.0.0.1:{control}", "--web", f"127.0.0.1:{web}", timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"onnxruntime {onnxruntime.__version__}" in r.stdout
    assert f"control port UDP 127.0.0.1:{control} is free" in r.stdout
    assert f"web port TCP 127.0.0.1:{web} is free" in r.stdout
    assert "bundled model 64x64 on cpu:" in r.stdout and "ms a frame" in r.stdout
    assert "serving works: 0 problem(s)" in r.stdout


def test_doctor_names_a_taken_port_and_the_flag_that_avoids_it():
    port = free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind(("127.0.0.1", port))
        held.listen(1)
        r = run_cli("doctor", "--listen", f"127.0.0.1:{port}", "--web", f"127.0.0.1:{free_port()}", timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr  # a taken port is a warning: serve can use another
    assert f"control port TCP 127.0.0.1:{port} is taken" in r.stdout
    assert f"fix: stop it, or serve with --listen 127.0.0.1:{port + 10}" in r.stdout
    assert f"control port UDP 127.0.0.1:{port} is free" in r.stdout


def test_doctor_fails_when_onnxruntime_is_broken(tmp_path):
    # A broken install: an onnxruntime package that cannot be imported shadows the real one.
    (tmp_path / "onnxruntime").mkdir()
    (tmp_path / "onnxruntime" / "__init__.py").write_text("raise ImportError('libonnxruntime.so: cannot open shared object file')\n")
    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    r = run_cli("doctor", "--listen", f"127.0.0.1:{free_port()}", "--web", f"127.0.0.1:{free_port()}", env=env, timeout=60)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "FAIL  onnxruntime cannot be imported (libonnxruntime.so" in r.stdout
    assert "fix: pip install onnxruntime" in r.stdout
    assert "serving will not work: 1 problem(s)" in r.stdout
