"""The live server with real sockets, in-process, steered over OSC."""

import json
import math
import struct

import numpy as np
import pytest

from ganplug.osc.receive import FrameReceiver
from ganplug.osc.send import message
from ganplug.runtime.render import RenderConfig, frames as render_frames
from ganplug.runtime.walk import WalkParams
from ganplug.seeds import z_from_seed
from serving import Controller, collect, running_server, wait_until


def seed_image(engine, seed):
    return engine.run(z_from_seed(seed, engine.info.z_dim)[None])[0]


def test_frames_arrive_complete_and_in_order(engine, tmp_path):
    with running_server(engine, tmp_path, fps=60.0) as (server, (rx,)):
        got = collect(rx, seconds=1.5)
    assert len(got) >= 10
    assert all(f.pixels.shape == (32, 32, 3) for f in got)
    ids = [f.frame_id for f in got]
    assert ids == list(range(ids[0], ids[0] + len(ids)))  # nothing lost on loopback
    assert rx.assembler.dropped == 0 and rx.malformed == 0


def test_hold_frames_are_the_contract_image(engine, tmp_path):
    with running_server(engine, tmp_path, fps=30.0, initial=(("walk", "hold"), ("seed", 7))) as (server, (rx,)):
        got = collect(rx, count=3, seconds=5)
    assert len(got) == 3
    for f in got:
        np.testing.assert_array_equal(f.pixels, seed_image(engine, 7))


def test_seed_change_reaches_the_next_frames(engine, tmp_path):
    with running_server(engine, tmp_path, fps=30.0, initial=(("walk", "hold"), ("blend", 0.0))) as (server, (rx,)):
        ctl = Controller(server)
        collect(rx, count=2, seconds=5)
        ctl.send("/ganplug/seed", "i", 1234)
        target = seed_image(engine, 1234)
        assert wait_until(lambda: any(np.array_equal(f.pixels, target) for f in rx.poll(0.05)), 5)
        ctl.close()


def test_every_address_in_the_table_is_handled():
    """Every command names a handler, every param a getter and a setter, all by reference."""
    from ganplug.show import commands, params
    from ganplug.show.table import ADDRESSES, INBOUND

    for spec in INBOUND.values():
        if spec.kind == "command":
            assert callable(spec.handler) and spec.handler.__module__ == commands.__name__, spec.address
            assert getattr(commands, spec.handler.__name__) is spec.handler, spec.address
        else:
            assert callable(spec.apply) and callable(spec.capture), spec.address
            assert spec.apply.__module__ == spec.capture.__module__ == params.__name__, spec.address
        assert spec.indexed == spec.address.endswith("/N"), spec.address
    assert all(s.handler is s.apply is s.capture is None for s in ADDRESSES if s.kind == "out")


@pytest.mark.parametrize("address, types, args, needle", [
    ("/ganplug/seed", "s", ("seven",), "must be a number"),
    ("/ganplug/seed", "ii", (1, 2), "takes 1 argument"),
    ("/ganplug/speed", "f", (float("nan"),), "must be finite"),
    ("/ganplug/speed", "f", (float("inf"),), "must be finite"),
    ("/ganplug/walk", "s", ("sideways",), "must be one of hold, slerp"),
    ("/ganplug/nonsense", "i", (1,), "unknown address"),
    ("/ganplug/z", "f", (0.5,), "takes 32 floats"),
    ("/ganplug/z/99", "f", (0.5,), "outside 0..31"),
    ("/ganplug/preset/load", "s", ("../../etc/passwd",), "preset name"),
    ("/ganplug/preset/save", "s", ("a/b",), "preset name"),
    ("/ganplug/preset/load", "s", ("nothing-here",), "no preset named"),
    ("/ganplug/subscribe", "si", ("example.com", 9), "not an IP address"),
    ("/ganplug/speed", "f", (99.0,), "clamped to 10"),
])
def test_bad_messages_answered_and_streaming_continues(engine, tmp_path, address, types, args, needle):
    with running_server(engine, tmp_path, fps=60.0) as (server, (rx,)):
        ctl = Controller(server)
        collect(rx, count=2, seconds=5)
        ctl.send(address, types, *args)
        replies = ctl.replies(2.0, until="/ganplug/error")
        errors = [a[0] for addr, a in replies if addr == "/ganplug/error"]
        assert errors and needle in errors[0], replies
        got = collect(rx, count=5, seconds=5)
        ctl.close()
    assert len(got) == 5
    ids = [f.frame_id for f in got]
    assert ids == list(range(ids[0], ids[0] + 5))


def test_malformed_and_oversized_packets_and_floods(engine, tmp_path):
    with running_server(engine, tmp_path, fps=60.0) as (server, (rx,)):
        ctl = Controller(server)
        collect(rx, count=2, seconds=5)
        ctl.raw(b"\x00\x01garbage")
        assert any(a == "/ganplug/error" for a, _ in ctl.replies(2.0, until="/ganplug/error"))
        ctl.raw(b"/ganplug/seed\x00\x00\x00,i\x00\x00")  # type tag promises an int that is not there
        ctl.raw(message("/ganplug/z", "b", b"\xff" * 60000))  # oversized, wrong type
        for i in range(3000):  # a flood of valid messages
            ctl.send("/ganplug/speed", "f", 1.0 + (i % 3))
        got = collect(rx, count=20, seconds=10)
        ctl.close()
        assert server.listener.malformed >= 2
    ids = [f.frame_id for f in got]
    # Streaming goes on through the flood; a busy test machine may cost a frame or two, no more.
    assert ids == sorted(set(ids)) and ids[-1] - ids[0] <= 21, ids


def test_clamped_values_apply_and_state_reports_them(engine, tmp_path):
    states = []
    with running_server(engine, tmp_path, fps=60.0, state_hz=20.0) as (server, (rx,)):
        rx.on_message = lambda a, args: states.append(args) if a == "/ganplug/state" else None
        ctl = Controller(server)
        ctl.send("/ganplug/speed", "f", 99.0)
        ctl.send("/ganplug/truncation", "f", -1.0)
        ctl.send("/ganplug/seed", "f", 77.0)  # a float seed, as Pure Data sends it
        assert wait_until(lambda: (rx.poll(0.02), states and states[-1][1] == 77 and states[-1][3] == 10.0)[1], 5)
        ctl.close()
    frame, seed, walk, speed, trunc, fps, paused, measured, walk_time = states[-1]
    assert (seed, walk, speed, trunc, fps, paused) == (77, "slerp", 10.0, 0.0, 60.0, 0)


def test_ping_latent_and_state_requests(engine, tmp_path):
    with running_server(engine, tmp_path, fps=30.0, initial=(("walk", "hold"), ("seed", 5))) as (server, _):
        ctl = Controller(server)
        ctl.send("/ganplug/ping", "i", 4242)
        ctl.send("/ganplug/latent")
        ctl.send("/ganplug/state")
        replies = dict(ctl.replies(2.0))
        ctl.close()
    assert replies["/ganplug/pong"] == (4242,)
    np.testing.assert_allclose(replies["/ganplug/latent"], z_from_seed(5, 32), rtol=1e-6)
    assert replies["/ganplug/state"][1:3] == (5, "hold")


def test_direct_latent_and_single_components(engine, tmp_path):
    z = np.linspace(-1, 1, 32).astype(np.float32)
    with running_server(engine, tmp_path, fps=30.0, initial=(("blend", 0.0),)) as (server, (rx,)):
        ctl = Controller(server)
        ctl.send("/ganplug/z", "f" * 32, *z.tolist())
        want = engine.run(z[None])[0]
        assert wait_until(lambda: any(np.array_equal(f.pixels, want) for f in rx.poll(0.05)), 5)
        ctl.send("/ganplug/z/3", "f", 2.5)
        z2 = z.copy()
        z2[3] = 2.5
        want2 = engine.run(z2[None])[0]
        assert wait_until(lambda: any(np.array_equal(f.pixels, want2) for f in rx.poll(0.05)), 5)
        ctl.close()


def test_presets_save_and_load_within_their_folder(engine, tmp_path):
    with running_server(engine, tmp_path, fps=30.0, initial=(("blend", 0.0),)) as (server, (rx,)):
        ctl = Controller(server)
        ctl.send("/ganplug/walk", "s", "hold")
        ctl.send("/ganplug/seed", "i", 31)
        ctl.send("/ganplug/truncation", "f", 0.5)
        assert wait_until(lambda: server.show.walker.params.seed == 31, 5)
        ctl.send("/ganplug/preset/save", "s", "verse-1")
        path = tmp_path / "presets" / "verse-1.json"
        assert wait_until(path.exists, 5)
        ctl.send("/ganplug/seed", "i", 2)
        ctl.send("/ganplug/truncation", "f", 1.0)
        ctl.send("/ganplug/preset/load", "s", "verse-1")
        want = engine.run(z_from_seed(31, 32)[None], 0.5)[0]
        assert wait_until(lambda: any(np.array_equal(f.pixels, want) for f in rx.poll(0.05)), 5)
        ctl.close()
    saved = json.loads(path.read_text())
    assert saved["seed"] == 31 and saved["walk"] == "hold" and saved["truncation"] == 0.5
    assert sorted(p.name for p in (tmp_path / "presets").iterdir()) == ["verse-1.json"]
    assert not (tmp_path / "etc").exists()


def test_snapshot_writes_the_current_frame(engine, tmp_path):
    from PIL import Image

    with running_server(engine, tmp_path, fps=30.0, initial=(("walk", "hold"), ("seed", 9))) as (server, (rx,)):
        ctl = Controller(server)
        collect(rx, count=2, seconds=5)
        ctl.send("/ganplug/snapshot", "f", 1.0)  # button-style argument, ignored
        assert wait_until(lambda: list((tmp_path / "snaps").glob("*.png")), 5)
        ctl.close()
    (png,) = (tmp_path / "snaps").glob("*.png")
    np.testing.assert_array_equal(np.asarray(Image.open(png)), seed_image(engine, 9))


def test_subscribe_and_unsubscribe_live(engine, tmp_path):
    extra = FrameReceiver("127.0.0.1", 0, rcvbuf=0)
    with running_server(engine, tmp_path, fps=60.0) as (server, (rx,)):
        ctl = Controller(server)
        ctl.send("/ganplug/subscribe", "si", "127.0.0.1", extra.address[1])
        assert len(collect(extra, count=3, seconds=5)) == 3
        ctl.send("/ganplug/unsubscribe", "si", "127.0.0.1", extra.address[1])
        assert wait_until(lambda: len(server.subscriptions.destinations) == 1, 5)
        collect(extra, seconds=0.5)  # let frames in flight land
        assert collect(extra, seconds=0.5) == []
        assert len(collect(rx, count=3, seconds=5)) == 3  # the original destination never stopped
        ctl.close()
    extra.close()


def test_vanished_destination_does_not_disturb_others(engine, tmp_path):
    from conftest import free_port

    dead = free_port()  # nobody listens here: ICMP port unreachable
    with running_server(engine, tmp_path, fps=60.0, extra_sends=(f"127.0.0.1:{dead}", f"tcp://127.0.0.1:{free_port()}")) as (server, (rx,)):
        got = collect(rx, count=30, seconds=10)
    ids = [f.frame_id for f in got]
    assert ids == list(range(ids[0], ids[0] + 30))


def test_allow_list_refuses_other_sources(engine, tmp_path):
    with running_server(engine, tmp_path, fps=30.0, allow=("10.1.2.3",), initial=(("walk", "hold"),)) as (server, (rx,)):
        ctl = Controller(server)
        ctl.send("/ganplug/seed", "i", 99)
        assert wait_until(lambda: server.listener.refused >= 1, 5)
        collect(rx, count=3, seconds=5)
        assert server.show.walker.params.seed == 0
        ctl.close()


def test_tcp_control_uses_length_prefix_framing(engine, tmp_path):
    import socket

    with running_server(engine, tmp_path, fps=30.0, initial=(("walk", "hold"), ("blend", 0.0))) as (server, (rx,)):
        s = socket.create_connection(server.listener.address, timeout=5)
        for pkt in (message("/ganplug/seed", "i", 321), message("/ganplug/ping", "i", 8)):
            s.sendall(struct.pack(">i", len(pkt)) + pkt)
        head = s.recv(4)
        body = s.recv(struct.unpack(">i", head)[0])
        assert body.startswith(b"/ganplug/pong")
        want = seed_image(engine, 321)
        assert wait_until(lambda: any(np.array_equal(f.pixels, want) for f in rx.poll(0.05)), 5)
        s.close()


def test_tcp_destination_receives_frames_and_reconnects(engine, tmp_path):
    from conftest import free_port

    port = free_port()
    with running_server(engine, tmp_path, fps=60.0, extra_sends=(f"tcp://127.0.0.1:{port}",)) as (server, (udp_rx,)):
        collect(udp_rx, count=2, seconds=5)
        with FrameReceiver("127.0.0.1", port, "tcp") as tcp_rx:
            assert len(collect(tcp_rx, count=5, seconds=10)) == 5
        # the receiver went away; the server keeps streaming over UDP and reconnects when it is back
        assert len(collect(udp_rx, count=5, seconds=5)) == 5
        with FrameReceiver("127.0.0.1", port, "tcp") as tcp_rx:
            assert len(collect(tcp_rx, count=5, seconds=15)) == 5


def test_render_and_serve_agree_at_the_same_walk_time(engine, tmp_path):
    fps = 20.0
    with running_server(engine, tmp_path, fps=fps, initial=(("walk", "slerp"), ("seed", 3), ("period", 0.5))) as (server, (rx,)):
        got = collect(rx, count=12, seconds=10)
        history = dict(server.history)
    assert len(got) == 12
    params = WalkParams(mode="slerp", seed=3, period=0.5)
    # frames whose walk time falls on render's grid (i / fps) match render's frame i. The server's
    # first two frames both show walk time 0, so its frame n shows (n - 1) / fps: match by time, not id.
    rendered = dict(render_frames(engine, RenderConfig(output="-", walk=params, seconds=12 / fps, fps=fps)))
    on_grid = [(f, round(history[f.frame_id] * fps)) for f in got]
    on_grid = [(f, i) for f, i in on_grid if i in rendered and math.isclose(history[f.frame_id], i / fps, abs_tol=1e-9)]
    assert len(on_grid) >= 3, "too few frames on render's schedule: the frame-for-frame check would compare nothing"
    for f, i in on_grid:
        np.testing.assert_array_equal(f.pixels, rendered[i])
    # and any frame matches render started at that frame's walk time
    for f in got[-3:]:
        (_, px), = render_frames(engine, RenderConfig(output="-", walk=params, seconds=1 / fps, fps=fps, start=history[f.frame_id]))
        np.testing.assert_array_equal(f.pixels, px)


def test_bpm_counts_period_in_beats_without_a_jump(engine, tmp_path):
    from dataclasses import replace

    from ganplug.runtime.walk import latent_at

    with running_server(engine, tmp_path, fps=30.0, initial=(("walk", "loop"), ("period", 4.0))) as (server, (rx,)):
        ctl = Controller(server)
        before = collect(rx, seconds=1.0)  # far enough into the loop that a jump would show
        ctl.send("/ganplug/bpm", "f", 120.0)  # 4 beats at 120 bpm = 2 s per loop
        assert wait_until(lambda: server.show.bpm == 120.0, 5)
        assert server.show.walker.params.period == 2.0
        after = collect(rx, count=10, seconds=5)
        history, params = dict(server.history), server.show.walker.params
        ctl.send("/ganplug/preset/save", "s", "tempo")
        assert wait_until((tmp_path / "presets" / "tempo.json").exists, 5)
        ctl.close()
    saved = json.loads((tmp_path / "presets" / "tempo.json").read_text())
    assert saved["bpm"] == 120.0 and saved["period"] == 4.0
    # Each frame is the loop at walk time t with a period of 4 s (before) or 2 s (after): find which, and
    # its position t / period in the loop. Without the rescaling the position would double at the change.
    positions, periods = [], []
    for f in before + after:
        t = history[f.frame_id]
        period = next((p for p in (4.0, 2.0)
                       if np.array_equal(f.pixels, engine.run(latent_at(replace(params, period=p), t, 32)[None])[0])), None)
        assert period is not None, f"frame {f.frame_id} is neither period's image at its walk time"
        positions.append(t / period)
        periods.append(period)
    assert periods[0] == 4.0 and periods[-1] == 2.0 and positions[-1] > 0.3
    steps = np.diff(positions)
    assert steps.min() >= 0 and steps.max() < 0.1, steps  # one frame moves 1/120 or 1/60 of the loop


def test_keyframes_without_arguments_go_back_to_consecutive_seeds(engine, tmp_path):
    with running_server(engine, tmp_path, fps=30.0) as (server, (rx,)):
        ctl = Controller(server)
        ctl.send("/ganplug/keyframes", "iii", 5, 9, 11)
        assert wait_until(lambda: server.show.walker.params.keyframes == (5, 9, 11), 5)
        ctl.send("/ganplug/keyframes")
        assert wait_until(lambda: server.show.walker.params.keyframes == (), 5)
        ctl.close()
