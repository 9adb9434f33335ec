"""examples/puredata/ganplug.pd: a control for every inbound address, and real Pure Data
(`pd -nogui`) steering a real server with the patch's own controls."""

from __future__ import annotations

import logging
import re
import subprocess
import threading

import numpy as np
import pytest

from conftest import free_port, need
from example_helpers import example_path
from ganplug.show.table import INBOUND, lookup
from serving import running_server, wait_until

PATCH = example_path("puredata/ganplug.pd")


class PdPatch:
    """The objects and connections of a patch's top-level canvas (subpatch contents skipped)."""

    def __init__(self, text: str):
        self.text = text
        self.objects: list[tuple[str, list[str]]] = []  # (kind, tokens after x and y)
        self.connections: list[tuple[int, int, int, int]] = []
        depth = 0
        # Records end with an unescaped ';' at the end of a line; long records span lines.
        for record in re.split(r"(?<!\\);\s*\n", text):
            tokens = record.split()
            if not tokens:
                continue
            if tokens[0] == "#N" and tokens[1] == "canvas":
                depth += 1
            elif tokens[0] == "#X" and tokens[1] == "restore":
                depth -= 1
                if depth == 1:
                    self.objects.append(("restore", tokens[4:]))
            elif depth == 1 and tokens[0] == "#X":
                if tokens[1] == "connect":
                    self.connections.append(tuple(int(t) for t in tokens[2:6]))
                elif tokens[1] in ("obj", "msg", "text", "floatatom", "symbolatom", "listbox"):
                    self.objects.append((tokens[1], tokens[4:]))

    def find(self, kind: str, text: str) -> int:
        """Index of the one object of ``kind`` whose text (or, for number boxes, label) is ``text``."""
        hits = [i for i, (k, t) in enumerate(self.objects)
                if k == kind and (" ".join(t).split(", f ")[0] == text if kind != "floatatom" else t[4] == text)]
        assert len(hits) == 1, f"{kind} {text!r}: {len(hits)} found"
        return hits[0]

    def sources(self, index: int, inlet: int = 0) -> list[int]:
        return [a for a, _, b, i in self.connections if b == index and i == inlet]

    def targets(self, index: int, outlet: int = 0) -> list[int]:
        return [b for a, o, b, _ in self.connections if a == index and o == outlet]

    def oscformats(self) -> dict[str, tuple[int, str | None]]:
        """Address -> (object index, its -f format or None)."""
        out = {}
        for i, (kind, tokens) in enumerate(self.objects):
            if kind == "obj" and tokens[0] == "oscformat":
                args, fmt = tokens[1:], None
                if args[:1] == ["-f"]:
                    fmt, args = args[1], args[2:]
                address = "/" + "/".join(args)
                assert address not in out, f"two controls send {address}"
                out[address] = (i, fmt)
        return out


def inbound_address(address: str) -> str:
    spec, _ = lookup(address)
    return spec.address


def test_patch_has_a_wired_control_for_every_inbound_address():
    patch = PdPatch(PATCH.read_text())
    formats = patch.oscformats()
    assert {inbound_address(a) for a in formats} == set(INBOUND)
    sends = {i for i, (k, t) in enumerate(patch.objects) if k == "obj" and t == ["s", "\\$0-osc"]}
    for address, (index, fmt) in formats.items():
        spec = INBOUND[inbound_address(address)]
        assert patch.sources(index), f"nothing feeds the control for {address}"
        assert set(patch.targets(index)) & sends, f"{address}: its packet is not sent"
        if fmt is not None:
            assert fmt == spec.types, address
        else:
            # Pd numbers are floats; the server takes a whole float for an i argument, but
            # a fixed-arity i address is spelled out with -f so its type tags match the table.
            assert spec.variadic or all(a.type in "fs" for a in spec.args), address
    receive = patch.find("obj", "r \\$0-osc")
    prepend = patch.targets(receive)
    assert [patch.objects[i][1] for i in prepend] == [["list", "prepend", "send"]]
    trim = patch.targets(prepend[0])
    assert [patch.objects[i][1] for i in trim] == [["list", "trim"]]
    netsend = patch.find("obj", "netsend -u -b")
    assert patch.targets(trim[0]) == [netsend]
    connect = patch.find("msg", "connect 127.0.0.1 9000")
    assert netsend in patch.targets(connect)
    assert [patch.objects[i][1] for i in patch.sources(connect)] == [["loadbang"]]
    # state comes in on 9001 and only /ganplug/state reaches the display
    chain = [patch.find("obj", "netreceive -u -b 9001")]
    for _ in range(4):
        chain += patch.targets(chain[-1])
    assert [" ".join(patch.objects[i][1]) for i in chain] == [
        "netreceive -u -b 9001", "oscparse", "list trim", "route ganplug", "route state"]
    assert patch.targets(chain[-1], 1) == []  # frames: dropped by the unconnected reject outlet
    unpack = patch.find("obj", "unpack f f s f f f f f f")
    assert patch.targets(chain[-1]) == [unpack]


def _steering_copy(patch: PdPatch, ctl: int, rx: int, sub_port: int, z_dim: int) -> str:
    """The shipped patch on test ports, plus test-only triggers that work its own controls in two
    phases, and [print]s on what it shows."""
    text = patch.text.replace("connect 127.0.0.1 9000", f"connect 127.0.0.1 {ctl}")
    text = text.replace("netreceive -u -b 9001", f"netreceive -u -b {rx}")
    text = text.replace("list 127.0.0.1 9002", f"list 127.0.0.1 {sub_port}")
    assert text.count(str(ctl)) == 1 and text.count(str(rx)) == 1 and text.count(str(sub_port)) == 2

    formats = patch.oscformats()

    def control(address: str, kind: str, label: str | None = None) -> int:
        """The control of ``kind`` feeding the oscformat of ``address``; for a message box, the one saying ``label``."""
        fed = [i for i in patch.sources(formats[address][0]) if patch.objects[i][0] == kind]
        if kind == "msg" and label is not None:
            fed = [i for i in fed if " ".join(patch.objects[i][1]) == label]
        elif kind == "obj":  # a toggle or bang: ``label`` names the GUI class
            fed = [i for i in fed if patch.objects[i][1][0] == label]
        assert len(fed) == 1, (address, kind, label, fed)
        return fed[0]

    phase1 = [
        (patch.find("floatatom", "z_dim"), str(z_dim)),
        (control("/ganplug/seed", "floatatom"), "4321"),
        (control("/ganplug/keyframes", "msg"), "bang"),
        (control("/ganplug/walk", "msg", "symbol hold"), "bang"),
        (control("/ganplug/speed", "floatatom"), "0.5"),
        (control("/ganplug/period", "floatatom"), "8"),
        (control("/ganplug/easing", "msg", "symbol cosine"), "bang"),
        (control("/ganplug/blend", "floatatom"), "0"),  # cuts: the latent below is exactly what Pd sent
        (control("/ganplug/truncation", "floatatom"), "0.5"),
        (control("/ganplug/pause", "obj", "tgl"), "1"),
        (control("/ganplug/fps", "floatatom"), "12"),
        (control("/ganplug/snapshot", "obj", "bng"), "bang"),
        (control("/ganplug/ping", "floatatom"), "77"),
        (control("/ganplug/preset/save", "msg"), "bang"),
        (control("/ganplug/subscribe", "msg"), "bang"),
    ]
    phase2 = [  # after the preset file is written and the latent is free to be set
        (control("/ganplug/preset/load", "msg"), "bang"),
        (control("/ganplug/unsubscribe", "msg"), "bang"),
        (patch.find("obj", "bng 19 250 50 0 empty empty random_z 24 10 0 12 #fcfcfc #000000 #000000"), "bang"),
        (patch.find("floatatom", "index"), "3"),
        (patch.find("floatatom", "value"), "1.5"),
        (control("/ganplug/latent", "obj", "bng"), "bang"),
        (control("/ganplug/state", "obj", "bng"), "bang"),
        (formats["/ganplug/walk"][0], "symbol sideways"),  # not a walk: the patch must show the server's error
    ]
    unpack = patch.find("obj", "unpack f f s f f f f f f")
    route_replies = patch.find("obj", "route state error pong latent")
    shown = {"SEEDSHOWN": patch.targets(unpack, 1)[0], "WALKSHOWN": patch.targets(unpack, 2)[0],
             "PONG": patch.targets(route_replies, 2)[0],
             "LATENT": patch.targets(patch.targets(route_replies, 3)[0])[0],
             "ERRORSHOWN": patch.targets(patch.targets(route_replies, 1)[0])[0]}

    lines, conns = [], []
    n = len(patch.objects)

    def add(line: str) -> int:
        nonlocal n
        lines.append(line)
        n += 1
        return n - 1

    start = add("#X obj 1200 10 loadbang;")
    for delay_ms, actions in ((600, phase1), (2500, phase2)):
        delay = add(f"#X obj 1200 40 delay {delay_ms};")
        trigger = add(f"#X obj 1200 70 t {' '.join('b' * len(actions))};")
        conns += [f"#X connect {start} 0 {delay} 0;", f"#X connect {delay} 0 {trigger} 0;"]
        for k, (target, value) in enumerate(actions):
            m = add(f"#X msg 1200 {100 + 20 * k} {value};")
            # [trigger] fires right to left: the first action hangs on the rightmost outlet.
            conns += [f"#X connect {trigger} {len(actions) - 1 - k} {m} 0;", f"#X connect {m} 0 {target} 0;"]
    for name, source in shown.items():
        pr = add(f"#X obj 1300 10 print {name};")
        conns.append(f"#X connect {source} 0 {pr} 0;")
    return text + "\n".join(lines + conns) + "\n"


def test_pure_data_runs_the_patch_against_a_real_server(engine, tmp_path, caplog):
    pd = need("pd")
    caplog.set_level(logging.INFO, logger="ganplug")
    rx, sub_port = free_port(), free_port()
    with running_server(engine, tmp_path, receivers=0, extra_sends=(f"127.0.0.1:{rx}",), fps=20.0, state_hz=10.0) as (server, _):
        ctl = server.listener.address[1]
        assert wait_until(lambda: server.show.last_frame is not None, 30)  # a snapshot needs a frame
        copy = tmp_path / "ganplug_test.pd"
        copy.write_text(_steering_copy(PdPatch(PATCH.read_text()), ctl, rx, sub_port, engine.info.z_dim))
        proc = subprocess.Popen([pd, "-nogui", "-nosound", "-nomidi", "-stderr", "-open", str(copy)],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        printed: list[str] = []
        reader = threading.Thread(target=lambda: printed.extend(line.rstrip("\n") for line in proc.stdout), daemon=True)
        reader.start()
        try:
            w = server.show.walker
            phase1 = wait_until(lambda: server.show.fps == 12.0 and (tmp_path / "presets" / "look1.json").exists(), 30)
            phase2 = wait_until(lambda: w.params.latent is not None and not any(d.port == sub_port for d in server.subscriptions.destinations), 30)
            # The last replies (latent, the error) have reached the patch's displays.
            wait_until(lambda: any(x.startswith("ERRORSHOWN") for x in printed) and any(x.startswith("LATENT") for x in printed), 30)
        finally:
            proc.terminate()
            proc.wait(10)
            reader.join(10)
        out = "\n".join(printed)
        p = w.params
        state = (p.seed, p.keyframes, p.mode, w.speed, p.period, p.easing, w.blend, server.show.truncation, w.paused, server.show.fps)
        latent = w.latent().copy()
        bad = server.show.bad_messages
    assert phase1 and phase2, out[-3000:]
    assert state == (4321, (3, 17, 42, 256), "hold", 0.5, 8.0, "cosine", 0.0, 0.5, True, 12.0)
    assert latent.shape == (engine.info.z_dim,) and latent[3] == np.float32(1.5)
    others = np.delete(latent, 3)
    # [pd random-latent] draws whole thousandths in [-2, 2]
    assert np.abs(others).max() <= 2.0 and np.unique(others).size > 1
    np.testing.assert_allclose(others * 1000, np.round(others * 1000), atol=1e-3)
    assert list((tmp_path / "snaps").glob("*.png"))
    logs = caplog.text
    assert f"subscribed udp://127.0.0.1:{sub_port}" in logs and f"unsubscribed 127.0.0.1:{sub_port}" in logs
    assert bad == 1, logs  # the deliberate 'sideways'
    assert any(ln.startswith("ERRORSHOWN: symbol mode") and "sideways" in ln for ln in printed), out[-3000:]
    # Apart from that, neither Pd nor the server complained: frames at the state port were ignored.
    assert not [ln for ln in printed if "error" in ln.lower() and "sideways" not in ln], out[-3000:]
    assert "PONG: 77" in printed
    assert f"LATENT: {engine.info.z_dim}" in printed
    assert "SEEDSHOWN: 4321" in printed and "WALKSHOWN: symbol hold" in printed, out[-3000:]
