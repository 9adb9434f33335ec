"""Does a frame stream survive an app's default UDP receive buffer?

A sender renders frames of the bundled model (upscaled to SIZE px) at FPS and sends
them to 127.0.0.1 over OSC/UDP, in one burst per frame or paced
(:meth:`UdpDestination.send_paced`); a receiver in another process reads them with
the operating system's default receive buffer, reassembles them with
:class:`FrameReceiver`, checks every pixel against the frame it should be and then
spends ``work_ms`` on each complete frame on its only thread, as an app's draw loop
does. Used by the tests and ``benchmarks/transports.py``::

    python -m ganplug.transports.osccheck --size 512 --fps 30 --frames 300 [--burst] [--encoding jpeg]
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import time
from dataclasses import dataclass

import numpy as np

from ..osc.frames import DEFAULT_JPEG_QUALITY, DEFAULT_MAX_DATAGRAM, ENCODINGS, encode
from ..osc.send import FrameFormat, UdpDestination, message, once_log
from . import ticks

DONE_ADDRESS = "/ganplug/check/done"
POOL = 16  # distinct frames, cycled by frame id
JPEG_TOLERANCE = 6.0  # mean absolute error, levels: JPEG at quality 85 measured ~1


def frame_pool(size: int, count: int = POOL) -> list[np.ndarray]:
    """``count`` frames of the bundled model (seeds 0…count−1), upscaled bilinearly to size × size RGB."""
    from PIL import Image

    from ..runtime.engine import Engine, EngineConfig, default_model_path
    from ..seeds import z_from_seed

    engine = Engine(default_model_path(), EngineConfig(threads=1, cache_dir=None))
    z = np.stack([z_from_seed(i, engine.info.z_dim) for i in range(count)])
    small = engine.run(z)
    return [np.asarray(Image.fromarray(f).resize((size, size), Image.BILINEAR)) for f in small]


@dataclass(frozen=True)
class Check:
    """One run's settings."""

    size: int = 256
    fps: float = 30.0
    frames: int = 150
    paced: bool = True
    encoding: str = "raw"
    quality: int = DEFAULT_JPEG_QUALITY
    work_ms: float = 10.0
    rate: float | None = None  # bytes/s for send_paced; None = automatic
    max_datagram: int = DEFAULT_MAX_DATAGRAM


def send_stream(port: int, check: Check, pool: list[np.ndarray]) -> dict:
    """Send ``check.frames`` frames at ``check.fps``; returns sender timings."""
    dest = UdpDestination("127.0.0.1", port, once_log(), FrameFormat(rate=check.rate))
    period = 1.0 / check.fps
    encode_s = send_s = 0.0
    cpu0, t0 = time.process_time(), time.perf_counter()
    for i in ticks(check.fps, check.frames):
        a = time.perf_counter()
        packets = encode(i, pool[i % len(pool)], check.encoding, check.quality, check.max_datagram)
        b = time.perf_counter()
        if check.paced:
            dest.send_paced(packets, period)
        else:
            dest.send(packets)
        encode_s, send_s = encode_s + b - a, send_s + time.perf_counter() - b
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    for _ in range(5):  # the receiver may be busy: say "done" a few times
        time.sleep(0.1)
        dest.send([message(DONE_ADDRESS, "i", check.frames)])
    dest.close()
    n = max(check.frames, 1)
    return {"encode_ms": 1e3 * encode_s / n, "send_ms": 1e3 * send_s / n,
            "datagrams": len(packets), "sender_cpu": cpu / wall}


def receive(check: Check, limit: float, out=sys.stdout) -> dict:
    """The receiving app: default buffer, one thread, ``work_ms`` per complete frame."""
    from ..osc.receive import FrameReceiver

    pool = frame_pool(check.size)
    done: set[str] = set()
    rx = FrameReceiver("127.0.0.1", 0, rcvbuf=None, on_message=lambda address, args: done.add(address))
    rcvbuf = rx.sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    print(f"PORT {rx.address[1]}", file=out, flush=True)
    complete = wrong = 0
    ids: list[int] = []
    end = time.monotonic() + limit
    while DONE_ADDRESS not in done and time.monotonic() < end:
        for f in rx.poll(0.05):
            start = time.perf_counter()
            want = pool[f.frame_id % len(pool)]
            if check.encoding == "raw":
                ok = f.pixels.shape == want.shape and np.array_equal(f.pixels, want)
            else:
                ok = f.pixels.shape == want.shape and np.abs(f.pixels.astype(np.int16) - want).mean() <= JPEG_TOLERANCE
            complete += bool(ok)
            wrong += not ok
            ids.append(f.frame_id)
            time.sleep(max(0.0, check.work_ms / 1e3 - (time.perf_counter() - start)))
    rx.close()
    return {"complete": complete, "wrong": wrong, "rcvbuf": rcvbuf, "first": ids[:1], "dropped": rx.assembler.dropped}


def run(check: Check) -> dict:
    """Receiver in a child process, sender here; the receiver's and sender's numbers together."""
    pool = frame_pool(check.size)
    limit = check.frames / check.fps + 10
    cmd = [sys.executable, "-m", "ganplug.transports.osccheck", "--receive", "--size", str(check.size),
           "--fps", str(check.fps), "--frames", str(check.frames), "--encoding", check.encoding,
           "--work-ms", str(check.work_ms)]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) as child:
        line = child.stdout.readline()
        if not line.startswith("PORT "):
            child.kill()
            raise RuntimeError(f"receiver did not start: {line!r}")
        sent = send_stream(int(line.split()[1]), check, pool)
        result = json.loads(child.stdout.read() or "{}")
        child.wait(limit)
    result.update(sent, sent_frames=check.frames, percent=100.0 * result.get("complete", 0) / max(check.frames, 1))
    return result


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--frames", type=int, default=150)
    p.add_argument("--burst", action="store_true", help="send each frame in one burst (no pacing)")
    p.add_argument("--encoding", choices=ENCODINGS, default="raw")
    p.add_argument("--quality", type=int, default=DEFAULT_JPEG_QUALITY)
    p.add_argument("--work-ms", type=float, default=10.0)
    p.add_argument("--rate", type=float, default=None, help="paced send rate in bytes/s (default: automatic)")
    p.add_argument("--max-datagram", type=int, default=DEFAULT_MAX_DATAGRAM)
    p.add_argument("--receive", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    check = Check(a.size, a.fps, a.frames, not a.burst, a.encoding, a.quality, a.work_ms, a.rate, a.max_datagram)
    if a.receive:
        print(json.dumps(receive(check, a.frames / a.fps + 10)), flush=True)
    else:
        print(json.dumps(run(check)))


if __name__ == "__main__":
    main()
