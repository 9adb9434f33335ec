"""The `ganplug serve` command against OSC peers nobody here wrote:
liblo's oscdump/oscsend (UDP and TCP), Pure Data's [oscparse]/[oscformat], and the npm osc package."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from conftest import NODE_DIR, ROOT, assert_one_line_error, free_port, need, need_node_osc, run_cli, start_cli, wait_for_line
from ganplug.osc.frames import chunk_count, max_payload
from ganplug.osc.receive import FrameReceiver
from ganplug.seeds import z_from_seed


@contextlib.contextmanager
def cli_server(model: Path, *args: str, cwd: Path | None = None):
    """`ganplug serve` as a subprocess; yields (process, control port)."""
    ctl = free_port()
    proc = start_cli("serve", str(model), "--listen", f"127.0.0.1:{ctl}", *args, cwd=cwd)
    try:
        wait_for_line(proc, "serving ")
        yield proc, ctl
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def seed_hash(engine, seed: int) -> str:
    return hashlib.sha256(engine.run(z_from_seed(seed, engine.info.z_dim)[None])[0].tobytes()).hexdigest()


def dump_lines(proc: subprocess.Popen) -> list[str]:
    proc.terminate()
    out, _ = proc.communicate(timeout=10)
    return out.splitlines()


FRAME_LINE = re.compile(r"/ganplug/frame iiiiiib (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) \[(\d+) byte blob\]")


def check_frame_lines(lines: list[str], width: int, height: int, channels: int, max_datagram: int | None) -> int:
    """Every frame seen in oscdump output has the right chunk sizes; returns complete frames."""
    frames: dict[int, dict[int, int]] = {}
    counts = {}
    for ln in lines:
        m = FRAME_LINE.search(ln)
        if m:
            fid, idx, cnt, w, h, c, size = map(int, m.groups())
            assert (w, h, c) == (width, height, channels), ln
            frames.setdefault(fid, {})[idx] = size
            counts[fid] = cnt
    total = width * height * channels
    complete = 0
    for fid, chunks in frames.items():
        if len(chunks) == counts[fid]:
            complete += 1
            assert sum(chunks.values()) == total
            if max_datagram:
                step = max_payload(max_datagram)
                assert counts[fid] == chunk_count(total, max_datagram)
                assert all(chunks[i] == step for i in range(counts[fid] - 1))
    return complete


@contextlib.contextmanager
def served_to_oscdump(model: Path, *args: str):
    """`ganplug serve MODEL ARGS` sending 1500-byte datagrams to oscdump and to a FrameReceiver (OS default
    receive buffer). Yields (control port, receiver, lines); lines holds oscdump's output once the block ends."""
    port = free_port()
    dump = subprocess.Popen([need("oscdump"), "-L", str(port)], stdout=subprocess.PIPE, text=True)
    rx = FrameReceiver("127.0.0.1", 0, rcvbuf=0)
    lines: list[str] = []
    try:
        time.sleep(0.3)
        with cli_server(model, "--send", f"127.0.0.1:{port}", "--send", f"127.0.0.1:{rx.address[1]}", "--max-datagram", "1500",
                        *args) as (_, ctl):
            yield ctl, rx, lines
        lines += dump_lines(dump)
    finally:
        rx.close()
        dump.kill()


def test_oscdump_sees_frames_of_the_right_sizes_and_oscsend_changes_the_seed(tiny_model, engine):
    oscsend = need("oscsend")
    with served_to_oscdump(tiny_model, "--walk", "hold", "--blend", "0", "--fps", "30") as (ctl, rx, lines):
        before = list(rx.frames(count=3, seconds=10))
        assert before and all(hashlib.sha256(f.pixels.tobytes()).hexdigest() == seed_hash(engine, 0) for f in before)
        subprocess.run([oscsend, "127.0.0.1", str(ctl), "/ganplug/seed", "i", "2024"], check=True, timeout=10)
        want = seed_hash(engine, 2024)
        deadline = time.monotonic() + 10
        changed = False
        while time.monotonic() < deadline and not changed:
            changed = any(hashlib.sha256(f.pixels.tobytes()).hexdigest() == want for f in rx.poll(0.1))
        assert changed, "frames never showed seed 2024"
        time.sleep(1.0)
    assert check_frame_lines(lines, 32, 32, 3, 1500) >= 5
    states = [ln for ln in lines if "/ganplug/state iisfffiff" in ln]
    assert any(' 2024 "hold" ' in ln for ln in states), states[-3:]


def test_liblo_over_tcp_both_ways(tiny_model):
    oscdump, oscsend = need("oscdump"), need("oscsend")
    port = free_port()
    dump = subprocess.Popen([oscdump, "-L", f"osc.tcp://:{port}"], stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(0.3)
        with cli_server(tiny_model, "--send", f"tcp://127.0.0.1:{port}", "--walk", "hold", "--fps", "20") as (proc, ctl):
            time.sleep(1.0)
            subprocess.run([oscsend, f"osc.tcp://127.0.0.1:{ctl}", "/ganplug/seed", "i", "77"], check=True, timeout=10)
            time.sleep(1.0)
        lines = dump_lines(dump)
    finally:
        dump.kill()
    assert check_frame_lines(lines, 32, 32, 3, None) >= 5
    assert all(int(m.group(3)) == 1 for ln in lines if (m := FRAME_LINE.search(ln)))  # whole frames over TCP
    assert any(' 77 "hold" ' in ln for ln in lines if "/ganplug/state" in ln)


PD_PATCH = """#N canvas 0 0 600 400 12;
#X obj 10 10 loadbang;
#X obj 10 40 delay 300;
#X msg 10 70 connect 127.0.0.1 {ctl};
#X obj 10 300 netsend -u -b;
#X obj 200 40 delay 800;
#X msg 200 70 4321;
#X obj 200 100 oscformat ganplug seed;
#X obj 200 130 list prepend send;
#X obj 200 160 list trim;
#X msg 380 70 0.25;
#X obj 380 100 oscformat ganplug truncation;
#X obj 380 130 list prepend send;
#X obj 380 160 list trim;
#X obj 10 330 netreceive -u -b {rx};
#X obj 10 360 oscparse;
#X obj 10 390 list trim;
#X obj 10 420 route ganplug;
#X obj 10 450 route state frame;
#X obj 10 480 print STATE;
#X obj 200 480 list length;
#X obj 200 510 print FRAMEARGS;
#X connect 0 0 1 0;
#X connect 1 0 2 0;
#X connect 2 0 3 0;
#X connect 0 0 4 0;
#X connect 4 0 5 0;
#X connect 5 0 6 0;
#X connect 6 0 7 0;
#X connect 7 0 8 0;
#X connect 8 0 3 0;
#X connect 4 0 9 0;
#X connect 9 0 10 0;
#X connect 10 0 11 0;
#X connect 11 0 12 0;
#X connect 12 0 3 0;
#X connect 13 0 14 0;
#X connect 14 0 15 0;
#X connect 15 0 16 0;
#X connect 16 0 17 0;
#X connect 17 0 18 0;
#X connect 17 1 19 0;
#X connect 19 0 20 0;
"""


def test_pure_data_steers_the_server_and_reads_state(tiny_model, engine, tmp_path):
    pd = need("pd")
    rx_port = free_port()
    mine = FrameReceiver("127.0.0.1", 0, rcvbuf=0)
    try:
        with cli_server(tiny_model, "--send", f"127.0.0.1:{rx_port}", "--send", f"127.0.0.1:{mine.address[1]}", "--walk", "hold",
                        "--blend", "0", "--fps", "20", "--state-hz", "10") as (proc, ctl):
            patch = tmp_path / "steer.pd"
            patch.write_text(PD_PATCH.format(ctl=ctl, rx=rx_port))
            p = subprocess.Popen([pd, "-nogui", "-nosound", "-nomidi", "-stderr", "-open", str(patch)],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            time.sleep(3.0)
            frames = list(mine.frames(seconds=0.5))
            p.terminate()
            out, _ = p.communicate(timeout=10)
    finally:
        mine.close()
    states = [ln.split()[1:] for ln in out.splitlines() if ln.startswith("STATE:")]
    assert states, out[-2000:]
    # Pd sends floats; the server takes the whole float 4321 as the seed and 0.25 as truncation
    assert any(s[1] == "4321" and s[2] == "hold" and s[4] == "0.25" for s in states), states[-3:]
    # frame chunks reach Pd intact: 7 arguments, the blob as its size and then one number per byte
    sizes = {ln.split()[1] for ln in out.splitlines() if ln.startswith("FRAMEARGS:")}
    assert sizes and all(int(s) >= 7 for s in sizes)
    want = engine.run(z_from_seed(4321, 32)[None], 0.25)[0]
    assert any(np.array_equal(f.pixels, want) for f in frames)


def test_node_osc_package_reassembles_frames_and_sends_control(tiny_model, engine):
    node = need_node_osc()
    port = free_port()
    with cli_server(tiny_model, "--send", f"127.0.0.1:{port}", "--walk", "hold", "--blend", "0", "--fps", "20") as (proc, ctl):
        r = subprocess.run([node, str(NODE_DIR / "peer.js"), str(port), str(ctl), "555", "2.5"], capture_output=True, text=True,
                           timeout=30, cwd=NODE_DIR)
    assert r.returncode == 0, r.stderr
    recs = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
    frames = [x for x in recs if "frame" in x]
    states = [x for x in recs if "state" in x]
    assert frames and all(f["bytes"] == 32 * 32 * 3 and f["width"] == 32 for f in frames)
    hashes = [f["sha256"] for f in frames]
    assert hashes[0] == seed_hash(engine, 0) and hashes[-1] == seed_hash(engine, 555)
    assert states and states[0]["types"] == "iisfffiff" and states[-1]["state"][1] == 555


def test_port_in_use_is_one_line(tiny_model):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        r = run_cli("serve", str(tiny_model), "--listen", f"127.0.0.1:{port}", "--send", f"127.0.0.1:{free_port()}", "--seconds", "1")
    assert_one_line_error(r, f"127.0.0.1:{port}")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        r = run_cli("receive", "--listen", f"127.0.0.1:{port}", "--seconds", "1")
    assert_one_line_error(r, f"127.0.0.1:{port}")


def test_receive_command_reports_the_rate(tiny_model, tmp_path):
    port = free_port()
    rx = start_cli("receive", "--listen", f"127.0.0.1:{port}", "--count", "10", "--save", str(tmp_path / "got"))
    wait_for_line(rx, "listening for frames")
    with cli_server(tiny_model, "--send", f"127.0.0.1:{port}", "--fps", "30"):
        out, err = rx.communicate(timeout=30)
    assert rx.returncode == 0, err
    assert re.search(r"received 10 complete frames in [\d.]+ s \([\d.]+ frames/s\); dropped 0 incomplete", out), out
    assert len(list((tmp_path / "got").glob("*.png"))) == 10


def test_serving_never_imports_torch(tiny_model):
    code = (
        "import sys, ganplug.cli as c\n"
        f"rc = c.main(['serve', {str(tiny_model)!r}, '--seconds', '0.5', '--listen', '127.0.0.1:{free_port()}',"
        f" '--send', '127.0.0.1:{free_port()}'])\n"
        "c.main(['info', " + repr(str(tiny_model)) + "])\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'onnx', 'onnxscript'))\n"
        "print('IMPORTED', bad)\n"
        "sys.exit(rc)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert "IMPORTED []" in r.stdout, r.stdout
