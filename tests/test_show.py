"""The Show and its table: every parameter round-trips through real preset files; loads are all or nothing,
never read a FIFO, and never cost frames; a flood waits in the inbox; a slow sink delays nobody."""

from __future__ import annotations

import json
import os
import threading
import time

import numpy as np
import pytest
from serving import Controller, collect, running_server, wait_until

from ganplug.osc.receive import messages_of
from ganplug.runtime.sinks import SinkThread, Sinks
from ganplug.runtime.subscriptions import Subscriptions
from ganplug.show.inbox import Event, Inbox
from ganplug.show.show import Folders, Show
from ganplug.show.spec import Spec
from ganplug.show.table import ERROR, PARAMS, check_table


class Mailbox:
    """A reply function that keeps what the reply thread hands it."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, tuple]] = []

    def __call__(self, packet: bytes) -> None:
        self.messages += messages_of(packet)

    def errors(self) -> list[str]:
        return [args[0] for address, args in self.messages if address == ERROR.address]


def other_value(spec: Spec):
    """A valid value for ``spec`` that is not its default."""
    arg = spec.args[0]
    if spec.variadic:
        return (int(arg.lo) + 5, int(arg.lo) + 9)
    if arg.choices:
        return next(c for c in arg.choices if c != spec.default)
    if arg.type == "s":  # a model name: make_show's shows can also play "other"
        return "other"
    step = (arg.hi - arg.lo) / 4
    if arg.type == "i":
        step = max(1, int(step))
    v = spec.default + step if spec.default + step <= arg.hi else spec.default - step
    return int(v) if arg.type == "i" else float(v)


@pytest.fixture
def make_show(engine, tmp_path):
    shows = []

    def make(info=None) -> Show:
        show = Show(info or engine.info, Inbox(), Subscriptions(Sinks()), Folders(str(tmp_path / "presets"), str(tmp_path / "snaps")),
                    models=("other",))
        shows.append(show)
        return show
    yield make
    for s in shows:
        s.close()


def send(show: Show, address: str, *args, reply=None) -> None:
    """Through the inbox and the render thread's step, as a control message travels."""
    show.inbox.put(Event(address, tuple(args), "test", reply or Mailbox()))
    show.before_frame(time.monotonic())


def settle(show: Show, until, seconds: float = 5.0) -> bool:
    """Run render-thread steps until ``until()`` (the worker and the reply thread work meanwhile)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        show.before_frame(time.monotonic())
        if until():
            return True
        time.sleep(0.01)
    return False


def test_every_param_round_trips_through_a_preset_file(make_show, engine, tmp_path):
    from dataclasses import replace

    # As many classes as the table allows, so that every value of /ganplug/class is this model's.
    info = replace(engine.info, c_dim=int(PARAMS["class"].args[0].hi) + 1)
    show = make_show(info)
    wanted = {name: other_value(spec) for name, spec in PARAMS.items()}
    for name, value in wanted.items():
        assert value != PARAMS[name].default, name
        send(show, PARAMS[name].address, *(value if isinstance(value, tuple) else (value,)))
    send(show, "/ganplug/direction/0", 1.5)
    captured = show.capture()
    for name, value in wanted.items():
        assert captured[name] == (list(value) if isinstance(value, tuple) else value), name
    send(show, "/ganplug/preset/save", "everything")
    path = tmp_path / "presets" / "everything.json"
    assert wait_until(path.exists, 5)
    assert json.loads(path.read_text()) == captured

    fresh = make_show(info)
    assert fresh.capture() != captured
    box = Mailbox()
    send(fresh, "/ganplug/preset/load", "everything", reply=box)
    assert settle(fresh, lambda: fresh.capture() == captured), (fresh.capture(), captured)
    assert box.errors() == []
    assert fresh.direction_amounts[0] == 1.5


def test_a_preset_with_one_bad_field_changes_nothing(make_show, tmp_path):
    show = make_show()
    folder = tmp_path / "presets"
    folder.mkdir()
    good = {"seed": 77, "speed": -2.0, "truncation": 0.5, "walk": "hold", "fps": 12.0}
    (folder / "bad.json").write_text(json.dumps({**good, "easing": "wobbly"}))
    before = show.capture()
    box = Mailbox()
    send(show, "/ganplug/preset/load", "bad", reply=box)
    assert wait_until(lambda: box.errors(), 5)
    assert "easing" in box.errors()[0] and "bad" in box.errors()[0]
    for _ in range(5):
        show.before_frame(time.monotonic())
    assert show.capture() == before
    (folder / "good.json").write_text(json.dumps(good))
    send(show, "/ganplug/preset/load", "good")
    assert settle(show, lambda: show.capture()["seed"] == 77)
    assert {k: show.capture()[k] for k in good} == good


def test_messages_sent_after_a_preset_load_change_the_loaded_state(make_show, tmp_path):
    show = make_show()
    (tmp_path / "presets").mkdir()
    (tmp_path / "presets" / "look.json").write_text(json.dumps({"seed": 77, "walk": "hold", "blend": 0.0}))
    z = tuple(float(v) for v in np.linspace(-2.0, 2.0, show.z_dim))
    box = Mailbox()
    # One step takes all three: the load is read on the worker, the latent and speed must wait for it.
    for address, args in (("/ganplug/preset/load", ("look",)), ("/ganplug/z", z), ("/ganplug/speed", (-1.5,))):
        show.inbox.put(Event(address, args, "test", box))
    show.before_frame(time.monotonic())
    assert settle(show, lambda: show.walker.params.seed == 77 and show.walker.params.latent is not None)
    assert show.walker.params.latent == z and show.walker.speed == -1.5 and box.errors() == []
    # A load that fails holds nothing back: well under the hold's 1 s limit.
    show.inbox.put(Event("/ganplug/preset/load", ("missing",), "test", box))
    show.inbox.put(Event("/ganplug/speed", (2.0,), "test", box))
    assert settle(show, lambda: show.walker.speed == 2.0, seconds=0.7)
    assert wait_until(lambda: box.errors(), 5) and "missing" in box.errors()[0]


def test_a_hold_never_released_stops_holding_at_its_limit(caplog):
    inbox = Inbox()
    release = inbox.hold("slow thing", limit=0.3)
    inbox.put(Event("/ganplug/next", (), "x"))
    assert list(inbox.take()) == [] and inbox.wait(0.05) is None and len(inbox) == 1
    inbox.later(print)
    assert inbox.wait(0.05) is print and list(inbox.take()) == []  # render-thread work still runs
    time.sleep(0.35)
    assert [e.address for e in inbox.take()] == ["/ganplug/next"]
    release()
    assert "slow thing took over 0.3 s" in caplog.text


def test_every_command_has_a_handler_and_a_missing_one_fails_at_import():
    check_table(tuple(PARAMS.values()))
    with pytest.raises(TypeError, match="needs apply and capture"):
        check_table((Spec("/ganplug/forgotten", (), "a param with no setter", "param", 0),))
    with pytest.raises(TypeError, match="needs a handler"):
        check_table((Spec("/ganplug/orphan", (), "a command with no handler"),))


def test_a_fifo_named_like_a_preset_is_refused_while_frames_flow(engine, tmp_path):
    folder = tmp_path / "presets"
    folder.mkdir()
    os.mkfifo(folder / "trap.json")
    with running_server(engine, tmp_path, fps=30.0) as (server, (rx,)):
        ctl = Controller(server)
        collect(rx, count=2, seconds=5)
        ctl.send("/ganplug/preset/load", "s", "trap")
        replies = ctl.replies(3.0, until="/ganplug/error")
        errors = [a[0] for addr, a in replies if addr == ERROR.address]
        assert errors and "not a regular file" in errors[0], replies
        got = collect(rx, count=10, seconds=5)
        ctl.send("/ganplug/preset/save", "s", "after")  # the worker is free: it was never blocked on the FIFO
        assert wait_until((folder / "after.json").exists, 5)
        ctl.close()
    ids = [f.frame_id for f in got]
    assert len(ids) == 10 and ids == list(range(ids[0], ids[0] + 10))


def test_the_render_thread_applies_control_within_its_budget(make_show):
    show = make_show()
    for i in range(3000):
        assert show.inbox.put(Event("/ganplug/speed", (1.0 + i % 3,), "flood"))
    t0 = time.perf_counter()
    show.before_frame(time.monotonic(), budget=0.001)
    spent = time.perf_counter() - t0
    assert 0 < len(show.inbox) < 3000  # some applied, the rest still queued for the next frames
    assert spent < 0.5  # generous for a loaded machine; the budget itself is 1 ms
    assert settle(show, lambda: len(show.inbox) == 0)
    assert show.walker.speed == 1.0 + 2999 % 3


def test_a_full_inbox_drops_and_counts():
    inbox = Inbox(size=4)
    assert all(inbox.put(Event("/ganplug/next", (), "x")) for _ in range(4))
    assert not inbox.put(Event("/ganplug/next", (), "x"))
    assert inbox.dropped == 1


class SlowSink:
    """A frame sink that takes 100 ms per frame."""

    name = "slow"

    def __init__(self) -> None:
        self.frames: list[int] = []
        self.closed = threading.Event()

    def send_frame(self, frame_id: int, pixels: np.ndarray, budget: float) -> None:
        time.sleep(0.1)
        self.frames.append(frame_id)

    def close(self) -> None:
        self.closed.set()


class QuickSink(SlowSink):
    name = "quick"

    def send_frame(self, frame_id: int, pixels: np.ndarray, budget: float) -> None:
        self.frames.append(frame_id)


def test_a_slow_sink_gets_the_newest_frame_and_delays_nobody():
    slow, quick = SlowSink(), QuickSink()
    sinks = Sinks()
    sinks.add(slow)
    sinks.add(quick)
    pixels = np.zeros((4, 4, 3), np.uint8)
    t0 = time.perf_counter()
    for i in range(20):
        sinks.publish(i, pixels, 0.0)
        time.sleep(0.005)
    publishing = time.perf_counter() - t0
    assert wait_until(lambda: 19 in slow.frames and 19 in quick.frames, 5)
    sinks.close()
    assert slow.closed.is_set() and quick.closed.is_set()
    assert publishing < 0.5  # 20 hand-overs and 20 sleeps of 5 ms; the slow sink never made publish wait
    assert len(slow.frames) < 10 and sinks.replaced >= 10  # it skipped to the newest frame
    assert slow.frames == sorted(slow.frames)


def test_sink_threads_carry_messages_only_to_message_sinks():
    class Messages(QuickSink):
        name = "messages"

        def __init__(self) -> None:
            super().__init__()
            self.packets: list[bytes] = []

        def send_messages(self, packets: list[bytes]) -> None:
            self.packets += packets

    m, f = Messages(), QuickSink()
    tm, tf = SinkThread(m), SinkThread(f)
    tm.put_messages([b"a", b"b"])
    tf.put_messages([b"a"])
    assert wait_until(lambda: m.packets == [b"a", b"b"], 5)
    tm.close()
    tf.close()


def test_a_preset_with_a_class_this_model_lacks_changes_nothing(make_show, tmp_path):
    show = make_show()  # the bundled-size test model is not class-conditional
    folder = tmp_path / "presets"
    folder.mkdir()
    (folder / "other-model.json").write_text(json.dumps({"seed": 77, "speed": -2.0, "class": 3}))
    before = show.capture()
    box = Mailbox()
    send(show, "/ganplug/preset/load", "other-model", reply=box)
    assert wait_until(lambda: box.errors(), 5)
    assert "not class-conditional" in box.errors()[0]
    for _ in range(5):
        show.before_frame(time.monotonic())
    assert show.capture() == before
