"""Attacks from issue 15, each reproduced against real sockets: a looping bundle, descriptors
above 1023, idle TCP clients holding every place, and log floods. Each test failed before its fix."""

from __future__ import annotations

import ipaddress
import logging
import os
import resource
import socket
import struct
import time

import pytest

from conftest import free_port, start_cli, wait_for_line
from ganplug.logs import LogThrottle
from ganplug.net import AllowList
from ganplug.osc.control import ControlListener
from ganplug.show.inbox import Inbox
from ganplug.osc.packet import MalformedPacket, parse_packet
from ganplug.osc.receive import FrameReceiver, messages_of
from ganplug.osc.send import message
from ganplug.osc.stream import framed

# A bundle whose one element claims -4 bytes: python-osc steps back to where it started, for ever.
LOOPING_BUNDLE = b"#bundle\0" + struct.pack(">Qi", 1, -4)


def test_the_looping_bundle_is_refused_at_once():
    t = time.monotonic()
    with pytest.raises(MalformedPacket):
        parse_packet(LOOPING_BUNDLE)
    with pytest.raises(ValueError):
        messages_of(LOOPING_BUNDLE + message("/ganplug/ping", "i", 1))
    assert time.monotonic() - t < 0.1


def _cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pong(sock_kind: int, addr: tuple, packet_first: bytes | None = None, timeout: float = 5.0) -> bool:
    """Whether the control port answers /ganplug/ping (after ``packet_first``, on the same socket)."""
    ping = message("/ganplug/ping", "i", 77)
    if sock_kind == socket.SOCK_DGRAM:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.2)
            for pkt in ([packet_first] if packet_first else []) + [ping]:
                s.sendto(pkt, addr)
            end = time.monotonic() + timeout
            while time.monotonic() < end:
                try:
                    if b"/ganplug/pong" in s.recv(65536):
                        return True
                except socket.timeout:
                    continue
            return False
    with socket.create_connection(addr, timeout=timeout) as s:
        s.sendall((framed(packet_first) if packet_first else b"") + framed(ping))
        data = b""
        end = time.monotonic() + timeout
        try:
            while b"/ganplug/pong" not in data and time.monotonic() < end:
                chunk = s.recv(65536)
                if not chunk:
                    return False
                data += chunk
        except socket.timeout:
            return False
        return b"/ganplug/pong" in data


def test_looping_bundle_does_not_freeze_a_real_serve():
    rx = FrameReceiver("127.0.0.1", 0, rcvbuf=0)
    port = free_port()
    proc = start_cli("serve", "--send", f"127.0.0.1:{rx.address[1]}", "--listen", f"127.0.0.1:{port}", "--fps", "20")
    try:
        wait_for_line(proc, "serving ")
        addr = ("127.0.0.1", port)
        assert _pong(socket.SOCK_DGRAM, addr)
        assert _pong(socket.SOCK_DGRAM, addr, LOOPING_BUNDLE)  # the same datagram socket, right after
        assert _pong(socket.SOCK_STREAM, addr, LOOPING_BUNDLE)  # framed over TCP
        assert _pong(socket.SOCK_DGRAM, addr)  # UDP again, after the TCP one
        got = list(rx.frames(count=10, seconds=10))
        assert len(got) == 10  # frames kept flowing
        # no reader spinning on the packet (that took a whole core): 20 small frames/s cost far less
        cpu = _cpu_seconds(proc.pid)
        time.sleep(2.0)
        assert _cpu_seconds(proc.pid) - cpu < 1.0
    finally:
        proc.kill()
        proc.wait()
        rx.close()


def test_looping_bundle_does_not_spin_ganplug_receive():
    port = free_port()
    proc = start_cli("receive", "--listen", f"127.0.0.1:{port}", "--seconds", "3", "--quiet")
    try:
        wait_for_line(proc, "listening for frames")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(LOOPING_BUNDLE, ("127.0.0.1", port))
        out, err = proc.communicate(timeout=20)  # it spun for ever on the packet before the fix
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "rejected 1 malformed" in out, out


def test_looping_bundle_does_not_spin_a_tcp_receiver():
    with FrameReceiver("127.0.0.1", 0, "tcp", rcvbuf=0) as rx:
        with socket.create_connection(rx.address) as s:
            s.sendall(framed(LOOPING_BUNDLE))
            t = time.monotonic()
            while rx.malformed == 0 and time.monotonic() - t < 5:
                rx.poll(0.05)
        assert rx.malformed == 1 and time.monotonic() - t < 5


# --------------------------------------------------------------------------- descriptors above 1023

def test_control_answers_with_descriptors_above_1023():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 1200
    if hard != resource.RLIM_INFINITY and hard < want:
        pytest.skip(f"the hard descriptor limit ({hard}) is below {want}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), hard))
    filler = []
    try:
        while len(filler) < 1100:
            filler.append(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
        ctl = ControlListener("127.0.0.1", 0, Inbox()).start()
        try:
            assert ctl.udp.fileno() >= 1024 and ctl.tcp.fileno() >= 1024
            assert _pong_from(ctl, socket.SOCK_DGRAM)
            assert _pong_from(ctl, socket.SOCK_STREAM)  # its client socket is above 1023 too
        finally:
            ctl.close()
    finally:
        for s in filler:
            s.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _pong_from(ctl: ControlListener, kind: int, timeout: float = 5.0) -> bool:
    """Answer pings the way the server does (the reply function of each event) and check one comes back."""
    import threading

    stop = threading.Event()

    def answer() -> None:
        while not stop.is_set():
            for ev in ctl.inbox.take(0.005):
                if getattr(ev, "address", None) == "/ganplug/ping":
                    ev.reply(message("/ganplug/pong", "i", ev.args[0]))
            time.sleep(0.01)
    t = threading.Thread(target=answer, daemon=True)
    t.start()
    try:
        return _pong(kind, ctl.address, timeout=timeout)
    finally:
        stop.set()
        t.join()


# --------------------------------------------------------------------------- idle TCP clients

def test_idle_tcp_clients_make_room_and_time_out():
    ctl = ControlListener("127.0.0.1", 0, Inbox(), idle_timeout=2.0).start()
    idle = []
    try:
        for _ in range(32):
            idle.append(socket.create_connection(ctl.address, timeout=5))
        t = time.monotonic()
        while len(ctl._clients) < 32 and time.monotonic() - t < 1:
            time.sleep(0.01)
        assert len(ctl._clients) == 32
        assert _pong_from(ctl, socket.SOCK_STREAM)  # a 33rd client is served: the idlest made room
        # and the silent ones are closed after the timeout
        t = time.monotonic()
        while ctl._clients and time.monotonic() - t < 5:
            time.sleep(0.05)
        assert not ctl._clients
        idle[-1].settimeout(2)
        assert idle[-1].recv(1) == b""  # closed by the server
    finally:
        for s in idle:
            s.close()
        ctl.close()


def test_full_house_with_the_default_timeout_still_serves_a_new_client():
    ctl = ControlListener("127.0.0.1", 0, Inbox()).start()  # 30 s: nobody times out during the test
    idle = [socket.create_connection(ctl.address, timeout=5) for _ in range(32)]
    try:
        for _ in range(3):
            assert _pong_from(ctl, socket.SOCK_STREAM)
    finally:
        for s in idle:
            s.close()
        ctl.close()


# --------------------------------------------------------------------------- log floods

class _Lines(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_distinct_unknown_addresses_give_a_handful_of_lines(engine, tmp_path):
    from serving import Controller, running_server, wait_until

    h = _Lines()
    logging.getLogger("ganplug").addHandler(h)
    try:
        with running_server(engine, tmp_path, fps=30.0) as (server, (rx,)):
            ctl = Controller(server)
            for i in range(10_000):
                ctl.send(f"/ganplug/nonsense{i}", "i", i)
                if i % 250 == 0:
                    time.sleep(0.1)  # within what the render thread applies per frame: every message must be handled
            assert wait_until(lambda: server.show.bad_messages >= 9_000, 20), server.show.bad_messages
            ctl.close()
    finally:
        logging.getLogger("ganplug").removeHandler(h)
    unknown = [ln for ln in h.lines if "unknown address" in ln or "held back" in ln]
    assert 1 <= len(unknown) <= 12, unknown[:20]


def test_refused_sources_are_one_kind():
    h = _Lines()
    logger = logging.getLogger("ganplug.control")
    logger.addHandler(h)
    ctl = ControlListener("127.0.0.1", 0, Inbox(), AllowList([ipaddress.ip_network("10.0.0.0/8")])).start()
    try:
        for last in range(2, 102):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.bind((f"127.0.0.{last}", 0))
                s.sendto(message("/ganplug/ping", "i", 1), ("127.0.0.1", ctl.address[1]))
        t = time.monotonic()
        while ctl.refused < 100 and time.monotonic() - t < 5:
            time.sleep(0.02)
        assert ctl.refused == 100
    finally:
        ctl.close()
        logger.removeHandler(h)
    refused = [ln for ln in h.lines if "--allow" in ln]
    assert len(refused) == 1, refused


def test_rate_limited_log_caps_kinds_per_interval():
    h = _Lines()
    logger = logging.getLogger("ganplug.test-ratelimit")
    logger.addHandler(h)
    logger.propagate = False
    try:
        warn = LogThrottle(logger, interval=60, max_kinds=5)
        for i in range(10_000):
            warn(f"line {i}", key=f"kind{i}")
    finally:
        logger.removeHandler(h)
    assert len(h.lines) == 5


# --------------------------------------------------------------------------- exposure warning

@pytest.mark.parametrize("listen, allow, warned", [("0.0.0.0", (), True), ("0.0.0.0", ("--allow", "127.0.0.1"), False),
                                                   ("127.0.0.1", (), False)])
def test_control_beyond_loopback_without_allow_warns_at_start(listen, allow, warned):
    from conftest import run_cli

    r = run_cli("serve", "--listen", f"{listen}:{free_port()}", "--send", f"127.0.0.1:{free_port()}", *allow, "--seconds", "0.5")
    assert r.returncode == 0, r.stderr
    assert ("warning: control on 0.0.0.0 is open to every address" in r.stderr) == warned, r.stderr
