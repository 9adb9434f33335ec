"""examples/touchdesigner: the frame reassembly and the control mapping, outside TouchDesigner.

TouchDesigner cannot run here. Its Python files are plain Python: the reassembler gets the
datagrams a real server sends, the control mapping drives a real server, and the callback
DATs are run as TouchDesigner runs them, with ``op()`` answering for the few operators they use.
"""

from __future__ import annotations

import ast
import random

import numpy as np
import pytest
from pythonosc.udp_client import SimpleUDPClient

from example_helpers import as_td_delivers, capture, example_path, load_example, sent_frames, udp_socket
from ganplug.show.table import INBOUND, lookup
from ganplug.osc.frames import encode_frame
from ganplug.seeds import z_from_seed
from serving import running_server, wait_until

td = load_example("touchdesigner/ganplug_td.py", "ganplug_td")
controls = load_example("touchdesigner/ganplug_controls.py", "ganplug_controls")


def td_image(pixels: np.ndarray) -> np.ndarray:
    """What TouchDesigner must get for top-row-first RGB pixels: bottom row first, opaque RGBA."""
    return np.concatenate([pixels[::-1], np.full(pixels.shape[:2] + (1,), 255, np.uint8)], axis=2)


@pytest.fixture(scope="module")
def walking(engine, tmp_path_factory):
    """Datagrams of a server walking fast (every frame differs), in 6-chunk frames."""
    sock = udp_socket()
    try:
        with running_server(engine, tmp_path_factory.mktemp("td"), receivers=0, extra_sends=(f"127.0.0.1:{sock.getsockname()[1]}",),
                            fps=20.0, max_datagram=600, initial=(("walk", "slerp"), ("easing", "linear"), ("speed", 10.0))):
            grams = capture(sock, frames=16)
    finally:
        sock.close()
    return grams


def test_td_receiver_rebuilds_the_served_frame_flipped_as_rgba(engine, tmp_path):
    sock = udp_socket()
    try:
        with running_server(engine, tmp_path, receivers=0, extra_sends=(f"127.0.0.1:{sock.getsockname()[1]}",), fps=20.0,
                            max_datagram=600, state_hz=20.0, initial=(("walk", "hold"), ("seed", 7), ("blend", 0.0))):
            grams = capture(sock, frames=4)
    finally:
        sock.close()
    rx = td.Receiver()
    images = []
    for g in grams:
        address, args = as_td_delivers(g)
        if rx.on_osc(address, args):
            images.append(rx.image)
    assert len(images) >= 4
    served = engine.run(z_from_seed(7, engine.info.z_dim)[None])[0]
    assert served.shape == (32, 32, 3) and len(encode_frame(0, served, 600)) == 6  # really several chunks a frame
    for image in images:
        assert image.dtype == np.uint8 and image.shape == (32, 32, 4) and image.flags.c_contiguous
        np.testing.assert_array_equal(image, td_image(served))
    assert rx.size == (32, 32) and rx.dropped == 0 and rx.rejected == 0
    assert rx.state["seed"] == 7 and rx.state["walk"] == "hold"


def test_td_receiver_survives_loss_reordering_duplicates_and_late_chunks(walking):
    truth = sent_frames(walking)
    by_id: dict[int, list[bytes]] = {}
    for g in walking:
        address, args = as_td_delivers(g)
        if address == "/ganplug/frame" and args[0] in truth:
            by_id.setdefault(args[0], [None] * args[2])[args[1]] = g
    # Frames that differ from each other, so that a chunk put in the wrong frame shows.
    ids, seen = [], set()
    for i in sorted(by_id):
        if truth[i] not in seen:
            ids.append(i)
            seen.add(truth[i])
    ids = ids[:8]
    assert len(ids) == 8 and all(len(by_id[i]) == 6 for i in ids)
    a, b, c, d, e, g_, h, late = ids[0], ids[1], ids[2], ids[3], ids[4], ids[5], ids[6], ids[7]
    rng = random.Random(1)
    shuffled = by_id[a][:]
    rng.shuffle(shuffled)
    seq = shuffled                                                     # a: every chunk out of order
    seq += by_id[b][:3] + by_id[b][4:]                                 # b: chunk 3 lost
    seq += [x for pair in zip(by_id[c], by_id[d]) for x in pair]       # c and d interleaved
    seq += [x for x in by_id[e] for _ in range(2)]                     # e: every chunk twice
    seq += [by_id[a][2]]                                               # a late duplicate of a shown frame
    seq += by_id[g_][:4]                                               # g: starts...
    seq += by_id[h]                                                    # ...h (newer) completes...
    seq += by_id[g_][4:]                                               # ...then g's rest comes too late
    seq += [by_id[late][5], by_id[late][0]] + by_id[late][1:5]         # last chunk first
    rx = td.Receiver()
    shown = []
    for datagram in seq:
        if rx.on_osc(*as_td_delivers(datagram)):
            shown.append(rx.frame_id)
            expected = np.frombuffer(truth[rx.frame_id], np.uint8).reshape(32, 32, 3)
            np.testing.assert_array_equal(rx.image, td_image(expected))
    assert shown == [a, c, d, e, h, late]
    assert rx.dropped == 2  # b and g, given up without waiting
    assert rx.rejected == 0


def test_td_receiver_follows_id_wrap_and_server_restart():
    rng = np.random.default_rng(0)
    pics = [rng.integers(0, 256, (8, 16, 4), dtype=np.uint8) for _ in range(5)]
    rx = td.Receiver()

    def feed(frame_id: int, pic: np.ndarray) -> bool:
        return any([rx.on_osc(*as_td_delivers(m)) for m in encode_frame(frame_id, pic, 200)])

    assert feed(2**31 - 1, pics[0])
    assert feed(0, pics[1]) and rx.frame_id == 0  # wrapped: 0 comes after 2147483647
    np.testing.assert_array_equal(rx.image, pics[1][::-1])  # RGBA keeps its own alpha
    assert feed(5000, pics[2])
    assert not feed(4990, pics[3])  # a little behind: a late frame, ignored
    assert feed(0, pics[4]) and rx.frame_id == 0  # far behind: the server restarted
    np.testing.assert_array_equal(rx.image, pics[4][::-1])


def test_td_receiver_rejects_malformed_chunks_without_raising():
    rx = td.Receiver()
    bad = [
        [0, 0, 1, 4, 4, 3, "text"],  # payload not bytes
        [0, 2, 1, 4, 4, 3, b"\0" * 48],  # index past count
        ["x", 0, 1, 4, 4, 3, b"\0" * 48],  # id not a number
        [0, 0, 1, 4, 4, 9, b"\0" * 48],  # 9 channels
        [0, 0, 1, 4, 4, 3, b"\0" * 10],  # 10 bytes where 48 are due
    ]
    for args in bad:
        assert not rx.on_osc("/ganplug/frame", args)
    assert not rx.on_osc("/ganplug/other", [1, 2, 3])
    assert rx.image is None and rx.rejected == len(bad)
    assert rx.on_osc("/ganplug/frame", [1, 0, 1, 4, 4, 3, b"\x07" * 48]) and rx.image.shape == (4, 4, 4)


def test_to_td_image_handles_every_channel_count():
    grey = np.arange(6, dtype=np.uint8).reshape(2, 3, 1)
    out = td.to_td_image(grey)
    assert out.shape == (2, 3, 4) and (out[0, :, 0] == [3, 4, 5]).all() and (out[..., 3] == 255).all()
    ga = np.stack([grey[..., 0], grey[..., 0] + 100], axis=2)
    assert (td.to_td_image(ga)[1, :, 3] == [100, 101, 102]).all()


def _functions(path: str) -> dict[str, list[str]]:
    tree = ast.parse(example_path(path).read_text())
    return {f.name: [a.arg for a in f.args.args] for f in tree.body if isinstance(f, ast.FunctionDef)}


def test_callback_dats_have_touchdesigners_signatures():
    assert _functions("touchdesigner/oscin_callbacks.py")["onReceiveOSC"] == [
        "dat", "rowIndex", "message", "byteData", "timeStamp", "address", "args", "peer"]
    script = _functions("touchdesigner/script_top_callbacks.py")
    assert script["onCook"] == ["scriptOp"] and script["onSetupParameters"] == ["scriptOp"]
    panel = _functions("touchdesigner/panel_callbacks.py")
    assert panel["onValueChange"] == ["par", "prev"] and panel["onPulse"] == ["par"]
    assert _functions("touchdesigner/chop_callbacks.py")["onValueChange"] == ["channel", "sampleIndex", "val", "prev"]


class _Operators:
    """Answers ``op(name)`` for the callback DATs: the two Text DAT modules, the Script TOP
    (records copyNumpyArray) and the OSC Out DAT (sends for real, as sendOSC does)."""

    class _Dat:
        def __init__(self, module):
            self.module = module

    class _ScriptTop:
        def __init__(self):
            self.copied: list[np.ndarray] = []
            self.cooks = 0

        def cook(self, force: bool = False) -> None:
            self.cooks += 1

        def copyNumpyArray(self, array: np.ndarray) -> None:  # noqa: N802 - TouchDesigner's name
            self.copied.append(array.copy())

    class _OscOut:
        def __init__(self, target):
            self.client = SimpleUDPClient(*target) if target else None

        def sendOSC(self, address, values, asBundle=True):  # noqa: N802,N803 - TouchDesigner's names
            assert asBundle is False
            self.client.send_message(address, values)

    def __init__(self, target=None):
        # A fresh copy of the module: each test starts with an empty receiver, as a new .toe does.
        self.ops = {"ganplug_td": self._Dat(load_example("touchdesigner/ganplug_td.py", "ganplug_td_in_dat")),
                    "ganplug_controls": self._Dat(controls), "frames": self._ScriptTop(), "oscout_ganplug": self._OscOut(target)}

    def __call__(self, name):
        return self.ops[name]


def _run_dat(path: str, operators: _Operators) -> dict:
    namespace = {"op": operators}
    exec(compile(example_path(path).read_text(), path, "exec"), namespace)
    return namespace


def test_osc_in_and_script_top_callbacks_put_served_frames_on_the_top(walking):
    operators = _Operators()
    oscin = _run_dat("touchdesigner/oscin_callbacks.py", operators)
    script = _run_dat("touchdesigner/script_top_callbacks.py", operators)
    top = operators("frames")
    script["onCook"](top)
    assert top.copied == []  # nothing to show before the first frame
    for g in walking:
        address, args = as_td_delivers(g)
        before = top.cooks
        oscin["onReceiveOSC"](None, 0, None, g, 0.0, address, args, None)
        if top.cooks > before:
            script["onCook"](top)
    truth = sent_frames(walking)
    assert len(top.copied) >= 8 and top.cooks == len(top.copied)
    receiver = operators("ganplug_td").module.receiver
    np.testing.assert_array_equal(top.copied[-1], td_image(np.frombuffer(truth[receiver.frame_id], np.uint8).reshape(32, 32, 3)))


def test_control_mapping_uses_table_addresses_and_types():
    for name, (address, types) in controls.PARAMETERS.items():
        spec = INBOUND[address]
        assert spec.types == types, name
    for name, (address, arg_names, types) in controls.PULSES.items():
        assert INBOUND[address].types == types, name
        assert len(arg_names) == len(types)
    spec, index = lookup(controls.message_for_channel("z3", 0.5)[0])
    assert spec.address == "/ganplug/z/N" and index == 3
    assert controls.message_for_parameter("Keyframes", "") == ("/ganplug/keyframes", [])  # clears them
    assert controls.message_for_parameter("Keyframes", "3, 17 42") == ("/ganplug/keyframes", [3, 17, 42])
    assert controls.message_for_parameter("Seed", 12.0) == ("/ganplug/seed", [12])
    assert controls.message_for_channel("truncation", 1) == ("/ganplug/truncation", [1.0])
    assert controls.message_for_parameter("Unrelated", 1) is None


def test_panel_and_chop_callbacks_steer_a_real_server(engine, tmp_path):
    with running_server(engine, tmp_path, receivers=0, fps=20.0) as (server, _):
        assert wait_until(lambda: server.show.last_frame is not None, 30)  # a snapshot needs a frame
        operators = _Operators(server.listener.address)
        panel = _run_dat("touchdesigner/panel_callbacks.py", operators)
        chop = _run_dat("touchdesigner/chop_callbacks.py", operators)

        class Owner:
            customPars = []  # noqa: N815 - TouchDesigner's name

        owner = Owner()

        class Par:
            def __init__(self, name, value):
                self.name, self.value, self.owner = name, value, owner

            def eval(self):
                return self.value

        pars = [Par("Seed", 4321), Par("Keyframes", "5 6 7"), Par("Walk", "loop"), Par("Speed", -0.5), Par("Period", 8.0),
                Par("Easing", "cosine"), Par("Blend", 0.25), Par("Truncation", 0.75), Par("Pause", True), Par("Fps", 12.0),
                Par("Presetname", "td_look"), Par("Framehost", "127.0.0.1"), Par("Frameport", 9123)]
        owner.customPars = pars
        for p in pars:
            panel["onValueChange"](p, None)
        for pulse in ("Snapshot", "Savepreset", "Subscribe"):
            panel["onPulse"](Par(pulse, None))
        assert wait_until(lambda: server.show.fps == 12.0 and (tmp_path / "presets" / "td_look.json").exists())
        p = server.show.walker.params
        assert (p.seed, p.keyframes, p.mode, p.period, p.easing) == (4321, (5, 6, 7), "loop", 8.0, "cosine")
        assert (server.show.walker.speed, server.show.walker.blend, server.show.truncation, server.show.walker.paused) == (-0.5, 0.25, 0.75, True)
        assert wait_until(lambda: any(d.port == 9123 for d in server.subscriptions.destinations))
        assert wait_until(lambda: list((tmp_path / "snaps").glob("*.png")))

        class Channel:
            def __init__(self, name):
                self.name = name

        chop["onValueChange"](Channel("truncation"), 0, 1.25, 0.75)
        chop["onValueChange"](Channel("z2"), 0, 3.5, 0.0)
        assert wait_until(lambda: server.show.truncation == 1.25 and server.show.walker.params.latent is not None)
        assert server.show.walker.latent()[2] == np.float32(3.5)
        panel["onPulse"](Par("Loadpreset", None))
        panel["onPulse"](Par("Unsubscribe", None))
        assert wait_until(lambda: not any(d.port == 9123 for d in server.subscriptions.destinations))
        assert wait_until(lambda: server.show.truncation == 0.75)  # the preset brought the saved truncation back
        assert server.show.bad_messages == 0


# --- raw message bytes and compressed frames (issue 13)


def test_td_parser_reads_messages_and_bundles_like_python_osc(walking):
    from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
    from pythonosc.osc_message_builder import OscMessageBuilder

    for g in walking:
        assert td.parse_osc(g) == [as_td_delivers(g)]
    m = OscMessageBuilder("/x")
    for v, t in ((1, "i"), (2.5, "f"), ("walk", "s"), (b"\x00\x01\x02", "b"), (2**40, "h"), (True, "T")):
        m.add_arg(v, t)
    msg = m.build()
    b = OscBundleBuilder(IMMEDIATELY)
    b.add_content(msg)
    b.add_content(msg)
    assert td.parse_osc(b.build().dgram) == [("/x", list(msg.params))] * 2
    with pytest.raises(ValueError):
        td.parse_osc(msg.dgram[:-2])  # the blob runs past the end


@pytest.mark.parametrize("encoding, channels", [("jpeg", 3), ("png", 3), ("png", 4), ("png", 1)])
def test_td_receiver_decodes_image_frames_with_cv2(encoding, channels):
    pytest.importorskip("cv2")
    from ganplug.osc.frames import encode_image
    from ganplug.transports.osccheck import frame_pool

    rgb = frame_pool(96, count=1)[0][:, :64]  # a real model frame, 96 rows x 64 columns
    px = np.ascontiguousarray(np.dstack([rgb, rgb[..., :1]])[..., :channels] if channels != 3 else rgb)
    rx = td.Receiver()
    done = [rx.on_bytes(d) for d in encode_image(12, px, encoding, 90, 1500)]
    assert done[-1] and not any(done[:-1])
    assert rx.image.shape == (96, 64, 4) and rx.frame_id == 12 and rx.size == (64, 96)
    want = td.to_td_image(px)
    err = np.abs(rx.image.astype(int) - want).mean()
    assert err == 0 if encoding == "png" else err < 3, err


def test_td_receiver_without_cv2_counts_compressed_frames_and_goes_on(monkeypatch):
    from ganplug.osc.frames import encode_frame, encode_image

    monkeypatch.setattr(td, "cv2", None)  # a TouchDesigner build without OpenCV
    px = np.full((8, 8, 3), 90, np.uint8)
    rx = td.Receiver()
    assert not rx.on_bytes(encode_image(1, px, "png")[0])
    assert rx.undecodable == 1 and rx.image is None
    assert rx.on_bytes(encode_frame(2, px)[0])  # raw frames still work
    assert rx.undecodable == 1 and rx.rejected == 0


def test_oscin_callback_ignores_the_dats_args(walking):
    """The blob comes from the raw bytes: garbage in address and args changes nothing."""
    operators = _Operators()
    oscin = _run_dat("touchdesigner/oscin_callbacks.py", operators)
    for g in walking:
        oscin["onReceiveOSC"](None, 0, "", g, 0.0, "", ["not", "a", "blob"], None)
    assert operators("ganplug_td").module.receiver.completed >= 8


def test_shm_script_top_shows_the_newest_shared_memory_frame():
    import uuid

    from ganplug.transports.shm import ShmSink

    name = f"gptest-td-{uuid.uuid4().hex[:8]}"
    reader_module = load_example("python/shm_reader.py", "ganplug_shm_in_dat")
    top = _Operators._ScriptTop()
    storage: dict = {}
    top.fetch = lambda key, default=None, search=True: storage.get(key, default)
    top.store = lambda key, value: storage.__setitem__(key, value)
    ops = {"ganplug_shm": _Operators._Dat(reader_module), "shm_frames": top}
    script = {"op": ops.__getitem__}
    exec(compile(example_path("touchdesigner/shm_script_top.py").read_text().replace("'ganplug'", repr(name), 1), "shm", "exec"), script)
    execute = {"op": ops.__getitem__}
    exec(compile(example_path("touchdesigner/shm_execute.py").read_text(), "shm_execute", "exec"), execute)
    sink = ShmSink(name)
    try:
        script["onCook"](top)
        assert top.copied == []  # no writer yet
        px = np.random.default_rng(3).integers(0, 256, (40, 24, 3), dtype=np.uint8)
        sink.send_frame(5, px, 0)
        execute["onFrameStart"](1)
        script["onCook"](top)
        script["onCook"](top)  # nothing new: nothing copied
        assert len(top.copied) == 1 and top.cooks == 1
        np.testing.assert_array_equal(top.copied[0], td_image(px))
        rgba = np.random.default_rng(4).integers(0, 256, (16, 16, 4), dtype=np.uint8)
        sink.send_frame(6, rgba, 0)  # a new size: a new block under the same name
        for _ in range(2):
            script["onCook"](top)
        np.testing.assert_array_equal(top.copied[-1], rgba[::-1])
    finally:
        storage["ganplug_shm_reader"].close()
        sink.close()
