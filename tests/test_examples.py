"""Examples stay in step with the server: their addresses exist, and they run."""

import re
import subprocess
import sys

from conftest import ROOT, free_port
from ganplug.show.table import INBOUND, OUTBOUND, lookup
from serving import running_server

ADDRESS = re.compile(r"/ganplug(?:/[A-Za-z0-9_]+)+")


def test_every_address_used_in_examples_is_in_the_table():
    files = [p for p in (ROOT / "examples").rglob("*") if p.is_file() and "node_modules" not in p.parts]
    used = {(m.group(0), p.name) for p in files for m in ADDRESS.finditer(p.read_text(errors="ignore"))}
    assert used, "no OSC addresses found in examples/"
    known = set(INBOUND) | set(OUTBOUND)
    for address, where in sorted(used):
        if address not in known:
            lookup(address)  # /ganplug/z/N style; raises BadMessage for unknown ones
    docs = (ROOT / "docs" / "protocol.md").read_text()
    for address, _ in used:
        assert address in known or re.sub(r"/\d+$", "/N", address) in docs, address


def test_python_example_steers_a_real_server(engine, tmp_path):
    rx_port = free_port()
    with running_server(engine, tmp_path, receivers=0, extra_sends=(f"127.0.0.1:{rx_port}",), fps=30.0) as (server, _):
        host, port = server.listener.address
        r = subprocess.run([sys.executable, str(ROOT / "examples" / "python" / "steer_and_receive.py"), "--server", f"{host}:{port}",
                            "--listen", f"127.0.0.1:{rx_port}", "--seeds", "4", "9", "--bpm", "240", "--beats", "4"],
                           capture_output=True, text=True, timeout=60)
        seed_now = server.show.walker.params.seed
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 4 and all("frames, last #" in ln for ln in lines[1:]), r.stdout
    assert seed_now == 9 and server.show.walker.params.mode == "hold"


def test_every_example_folder_has_a_readme_with_a_picture_and_its_ports():
    folders = sorted(p for p in (ROOT / "examples").iterdir() if p.is_dir())
    assert {f.name for f in folders} >= {"python", "touchdesigner", "processing", "puredata"}
    index = (ROOT / "examples" / "README.md").read_text()
    for folder in folders:
        readme = (folder / "README.md").read_text()
        pictures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", readme)
        assert pictures, f"{folder.name}/README.md has no picture"
        for pic in pictures:
            path = folder / pic
            assert path.is_file() and path.stat().st_size > 1000, pic
        assert "9000" in readme and "9001" in readme, f"{folder.name}/README.md does not name the ports"
        assert f"({folder.name}/)" in index, f"examples/README.md does not list {folder.name}/"
