"""The frame transports of issue 13, measured on loopback (numbers for docs/transports.md).

1. OSC over UDP, raw frames of the bundled model upscaled to 256/512/1024 px at 30 fps, burst vs
   paced, to a receiver in another process with the OS default receive buffer that spends 10 ms
   on each complete frame: % of frames complete, sender time and CPU. Then JPEG, paced.
2. Encode cost per frame of raw, JPEG (quality 85) and PNG (zlib level 1): ms, bytes, datagrams.
3. Shared memory: 1024x1024 RGBA at 60 fps, writer and reader in two processes: torn frames
   (goal 0), frames read, writer and reader cost per frame (default 10,000 frames, ~3 minutes).
4. NDI at 256/512/1024 px, 30 fps, in a private network namespace (needs ndi-python, root):
   frames received, content within tolerance, latency, sender cost.

    ./dev bench transports [--frames 150] [--shm-frames 10000] [--skip shm ndi]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ganplug.osc.frames import encode  # noqa: E402
from ganplug.transports.osccheck import Check, frame_pool, run  # noqa: E402

SIZES = (256, 512, 1024)


def osc_udp(frames: int) -> None:
    print(f"== OSC/UDP to a receiver with the default buffer, 10 ms work per frame, 30 fps, {frames} frames")
    print("size  mode         complete  frames/s  send ms/frame  sender CPU  datagrams/frame")
    for size in SIZES:
        for label, check in (("raw burst", Check(size, 30, frames, paced=False)), ("raw paced", Check(size, 30, frames)),
                             ("jpeg paced", Check(size, 30, frames, encoding="jpeg"))):
            r = run(check)
            print(f"{size:4}  {label:11}  {r['percent']:6.1f} %  {r['percent'] * 0.3:7.1f}  {r['send_ms']:12.1f}  "
                  f"{100 * r['sender_cpu']:8.1f} %  {r['datagrams']:8}", flush=True)


def encode_cost() -> None:
    print("== encode cost per frame (bundled model upscaled; median of 20)")
    print("size  encoding  ms/frame  bytes     datagrams")
    for size in SIZES:
        px = frame_pool(size, count=1)[0]
        for enc in ("raw", "jpeg", "png"):
            times = []
            for _ in range(20):
                t = time.perf_counter()
                packets = encode(0, px, enc)
                times.append(time.perf_counter() - t)
            times.sort()
            print(f"{size:4}  {enc:8}  {1e3 * times[10]:8.2f}  {sum(map(len, packets)):8}  {len(packets):9}", flush=True)


def env() -> dict:
    return dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")


def shm(frames: int) -> None:
    print(f"== shared memory, 1024x1024 RGBA at 60 fps, {frames} frames, writer and reader in two processes")
    name = f"ganplug-bench-{os.getpid()}"
    reader = subprocess.Popen([sys.executable, str(ROOT / "examples/python/shm_reader.py"), name, "--check",
                               "--frames", str(frames), "--seconds", str(frames / 60 + 30)], stdout=subprocess.PIPE, text=True, env=env())
    time.sleep(0.5)
    w = subprocess.run([sys.executable, "-m", "ganplug.transports.shm", name, "--size", "1024x1024", "--channels", "4",
                        "--fps", "60", "--frames", str(frames)], capture_output=True, text=True, env=env())
    wrote, got = json.loads(w.stdout), json.loads(reader.communicate()[0])
    print(f"written {wrote['frames']} at {wrote['fps']:.1f} fps, writer {wrote['write_ms']:.2f} ms/frame, CPU {100 * wrote['cpu']:.1f} % "
          f"(incl. making the pattern); read {got['frames']} ({got['missed']} skipped), torn {got['torn']}, "
          f"reader copy {got['read_ms']:.2f} ms/frame, seqlock retries {got['retries']}", flush=True)


def ndi() -> None:
    print("== NDI, 30 fps, 150 frames, sender and receiver in two processes (private network namespace)")
    print("size  received  frames/s  max error  latency ms  send ms/frame  sender CPU")
    for size in SIZES:
        with tempfile.TemporaryDirectory() as cfg:
            Path(cfg, "ndi-config.v1.json").write_text(json.dumps({"ndi": {"networks": {"ips": "127.0.0.1"}}}))
            out = Path(cfg, "rx.json")
            script = (f"ip link set lo up && {sys.executable} {ROOT / 'examples/python/ndi_receiver.py'} bench --check --frames 150 "
                      f"--seconds 40 > {out} & {sys.executable} -m ganplug.transports.ndi bench --size {size}x{size} --frames 150; wait")
            r = subprocess.run(["unshare", "--net", "bash", "-c", script], capture_output=True, text=True, env=dict(env(), NDI_CONFIG_DIR=cfg))
            if r.returncode:
                print(f"{size:4}  failed: {r.stderr.strip()[-300:]}")
                continue
            sent, got = json.loads(r.stdout.strip().splitlines()[-1]), json.loads(out.read_text())
            print(f"{size:4}  {got['distinct']:4}/150  {got['fps']:8.1f}  {got['max_error']:9}  {got['latency_ms']:10.1f}  "
                  f"{sent['send_ms']:12.2f}  {100 * sent['cpu']:8.1f} %", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=150, help="frames per OSC run")
    p.add_argument("--shm-frames", type=int, default=10000)
    p.add_argument("--skip", nargs="*", default=[], choices=["osc", "encode", "shm", "ndi"])
    a = p.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    if "encode" not in a.skip:
        encode_cost()
    if "osc" not in a.skip:
        osc_udp(a.frames)
    if "shm" not in a.skip:
        shm(a.shm_frames)
    if "ndi" not in a.skip:
        ndi()


if __name__ == "__main__":
    main()
