"""The attacks of issue 15 against a real `ganplug serve --web` on 127.0.0.1, with figures.

For each attack: frames/s received before, during and after it, whether control still answers
/ganplug/ping afterwards (and how fast), the server's resident memory before and after, and the
warning lines it logged meanwhile. The numbers in docs/security.md come from this script.

    ./dev bench attack [--seconds 4] [--fps 30] [--model FILE.onnx]
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))

from common import free_port, rss_mb  # noqa: E402
from ganplug.osc.receive import FrameReceiver  # noqa: E402
from ganplug.osc.send import message  # noqa: E402
from ganplug.osc.stream import framed  # noqa: E402

LOOPING_BUNDLE = b"#bundle\0" + struct.pack(">Qi", 1, -4)


class Frames:
    """Counts frames arriving at a UDP receiver, with their arrival times."""

    def __init__(self) -> None:
        self.rx = FrameReceiver("127.0.0.1", 0, rcvbuf=0)
        self.times: list[float] = []
        self._stop = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for _ in self.rx.poll(0.05):
                self.times.append(time.monotonic())

    def rate(self, t0: float, t1: float) -> float:
        return sum(t0 <= t < t1 for t in self.times) / (t1 - t0)

    def close(self) -> None:
        self._stop.set()
        time.sleep(0.1)
        self.rx.close()


def ping(port: int, tcp: bool = False, timeout: float = 3.0) -> float | None:
    """Seconds until /ganplug/pong comes back, or None."""
    t = time.monotonic()
    try:
        if tcp:
            with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
                s.sendall(framed(message("/ganplug/ping", "i", 1)))
                data = b""
                while b"/ganplug/pong" not in data:
                    chunk = s.recv(65536)
                    if not chunk:
                        return None
                    data += chunk
        else:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.settimeout(timeout)
                s.sendto(message("/ganplug/ping", "i", 1), ("127.0.0.1", port))
                while b"/ganplug/pong" not in s.recv(65536):
                    pass
    except OSError:
        return None
    return time.monotonic() - t


def flood(seconds: float, rate: float, send) -> int:
    """Call ``send(i)`` about ``rate`` times a second for ``seconds``; returns how many."""
    n, t0 = 0, time.monotonic()
    while (now := time.monotonic()) - t0 < seconds:
        send(n)
        n += 1
        ahead = n / rate - (now - t0)
        if ahead > 0:
            time.sleep(ahead)
    return n


def ws_bundle(web: int, seconds: float) -> str:
    from websockets.sync.client import connect

    with connect(f"ws://127.0.0.1:{web}/ui/ws") as ws:
        n = flood(seconds, 200, lambda i: ws.send(LOOPING_BUNDLE))
    return f"{n} binary WebSocket messages"


def origin_null(web: int, seconds: float) -> str:
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    try:
        connect(f"ws://127.0.0.1:{web}/ui/ws", origin="null").close()
        status = 101
    except InvalidStatus as e:
        status = e.response.status_code
    time.sleep(seconds)
    return f"Origin: null handshake answered {status}"


def attacks(ctl: int, web: int, seconds: float):
    """(name, what happens during the window: a function returning a note)."""
    def udp_bundle() -> str:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            n = flood(seconds, 1000, lambda i: s.sendto(LOOPING_BUNDLE, ("127.0.0.1", ctl)))
        return f"{n} datagrams"

    def tcp_bundle() -> str:
        with socket.create_connection(("127.0.0.1", ctl)) as s:
            n = flood(seconds, 1000, lambda i: s.sendall(framed(LOOPING_BUNDLE)))
        return f"{n} framed packets on one connection"

    def many_descriptors() -> str:
        conns = []
        try:
            for _ in range(1100):
                conns.append(socket.create_connection(("127.0.0.1", web)))
            t = ping(ctl, tcp=True)
            time.sleep(max(0.0, seconds - (t or 3.0)))
            return f"1100 web connections held; TCP control pong {'in %.0f ms' % (t * 1e3) if t else 'MISSING'}"
        finally:
            for c in conns:
                c.close()

    def idle_clients() -> str:
        idle = [socket.create_connection(("127.0.0.1", ctl)) for _ in range(32)]
        try:
            time.sleep(0.3)
            t = ping(ctl, tcp=True)
            time.sleep(max(0.0, seconds - 0.3 - (t or 3.0)))
            return f"32 idle TCP clients held; a 33rd got its pong {'in %.0f ms' % (t * 1e3) if t else 'NEVER'}"
        finally:
            for c in idle:
                c.close()

    def unknown_addresses() -> str:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            n = flood(seconds, 2500, lambda i: s.sendto(message(f"/ganplug/nonsense{i}", "i", i), ("127.0.0.1", ctl)))
        return f"{n} distinct unknown addresses"

    return [("looping bundle, UDP", udp_bundle), ("looping bundle, TCP", tcp_bundle),
            ("looping bundle, WebSocket", lambda: ws_bundle(web, seconds)), ("1,100 web connections", many_descriptors), ("32 idle TCP control clients", idle_clients),
            ("unknown-address flood", unknown_addresses), ("Origin: null", lambda: origin_null(web, seconds))]


def show_attacks(ctl: int, folder: str, seconds: float):
    """Valid messages as fast as they can go: file work and replies must not stall frames."""
    addr = ("127.0.0.1", ctl)

    def send_flood(address: str, types: str = "", *args, rate: float = 3000) -> int:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            packet = message(address, types, *args)
            return flood(seconds, rate, lambda i: s.sendto(packet, addr))

    def snapshots() -> str:
        n = send_flood("/ganplug/snapshot")
        return f"{n} /ganplug/snapshot; {len(os.listdir(os.path.join(folder, 'snaps')))} PNGs written"

    def preset_loads() -> str:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(message("/ganplug/preset/save", "s", "attack"), addr)
        time.sleep(0.5)
        return f"{send_flood('/ganplug/preset/load', 's', 'attack')} /ganplug/preset/load of a saved preset"

    def latents() -> str:
        return f"{send_flood('/ganplug/latent')} /ganplug/latent (each answered with z_dim floats)"

    def fifo() -> str:
        os.mkfifo(os.path.join(folder, "presets", "fifo.json"))
        return f"{send_flood('/ganplug/preset/load', 's', 'fifo', rate=200)} loads of a FIFO named like a preset"

    return [("snapshot flood, 3,000/s", snapshots), ("preset/load flood, 3,000/s", preset_loads),
            ("/ganplug/latent flood, 3,000/s", latents), ("FIFO as a preset, 200/s", fifo)]


def raise_nofile(want: int = 4096) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=float, default=4.0, help="length of each window: before, during, after")
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--model", default=None, help="default: the bundled model")
    a = p.parse_args()
    raise_nofile()  # for the 1,100 connections of this client; the server gets the same limit
    frames = Frames()
    ctl, web = free_port(), free_port()
    folder = tempfile.mkdtemp(prefix="ganplug-attack-")
    os.makedirs(os.path.join(folder, "presets"))
    cmd = [sys.executable, "-m", "ganplug", "serve", *([a.model] if a.model else []), "--listen", f"127.0.0.1:{ctl}",
           "--send", f"127.0.0.1:{frames.rx.address[1]}", "--fps", str(a.fps), "--web", f"127.0.0.1:{web}",
           "--presets", os.path.join(folder, "presets"), "--snapshots", os.path.join(folder, "snaps")]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    errors: list[str] = []
    threading.Thread(target=lambda: errors.extend(proc.stderr), daemon=True).start()
    banner = proc.stdout.readline()
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
    if not banner.startswith("serving "):
        proc.kill()
        sys.exit(f"server did not start: {''.join(errors)[-2000:]}")
    time.sleep(2.0)  # past warm-up
    print(f"ganplug serve at {a.fps:g} fps, {a.seconds:g} s windows; frames/s before / during / after; RSS in MB", flush=True)
    print(f"{'attack':30s} {'before':>7s} {'during':>7s} {'after':>7s}  {'ping':>8s}  {'RSS':>13s}  {'warn':>4s}  what", flush=True)
    results = []
    try:
        for name, attack in attacks(ctl, web, a.seconds) + show_attacks(ctl, folder, a.seconds):
            t0 = time.monotonic()
            time.sleep(a.seconds)
            rss0, logged = rss_mb(proc.pid), len(errors)
            t1 = time.monotonic()
            note = attack()
            t2 = time.monotonic()
            time.sleep(a.seconds)
            t3 = time.monotonic()
            pong = ping(ctl)
            rss1 = rss_mb(proc.pid)
            row = {"attack": name, "before": frames.rate(t0, t1), "during": frames.rate(t1, t2), "after": frames.rate(t2, t3),
                   "ping_ms": None if pong is None else pong * 1e3, "rss_before": rss0, "rss_after": rss1,
                   "log_lines": sum("warning:" in ln for ln in errors[logged:]), "note": note}
            results.append(row)
            print(f"{name:30s} {row['before']:7.1f} {row['during']:7.1f} {row['after']:7.1f}  "
                  f"{'%6.1f ms' % row['ping_ms'] if pong is not None else '  NONE  '}  {rss0:6.1f}→{rss1:6.1f}  "
                  f"{row['log_lines']:4d}  {note}", flush=True)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        frames.close()
        shutil.rmtree(folder, ignore_errors=True)
    worst = min(r["during"] / r["before"] for r in results if r["before"] > 0)
    print(f"worst frame rate during an attack: {worst:.0%} of the rate before it", flush=True)


if __name__ == "__main__":
    main()
