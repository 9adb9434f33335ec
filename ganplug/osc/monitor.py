"""``ganplug receive``: take frames as an app would, report the rate, optionally save them as PNGs."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from ..addr import DEFAULT_FRAMES, host_port
from .frames import Frame
from .receive import FrameReceiver


@dataclass(frozen=True)
class ReceiveConfig:
    listen: str = DEFAULT_FRAMES  # HOST:PORT where frames arrive
    tcp: bool = False  # OSC over TCP (length-prefixed) instead of UDP
    seconds: float | None = None  # stop after this long (None: until Ctrl-C or count)
    count: int | None = None  # stop after this many complete frames
    save: str | None = None  # folder for a PNG of every complete frame
    quiet: bool = False  # only the summary


@dataclass(frozen=True)
class ReceiveReport:
    frames: int
    seconds: float  # from the first complete frame to the last
    dropped: int  # frames that never completed
    malformed: int

    @property
    def rate(self) -> float:
        return (self.frames - 1) / self.seconds if self.seconds > 0 else 0.0


def save_png(frame: Frame, folder: Path) -> None:
    """``frame-ID.png`` in ``folder``."""
    from PIL import Image

    pixels = frame.pixels.squeeze(-1) if frame.channels == 1 else frame.pixels
    Image.fromarray(pixels).save(folder / f"frame-{frame.frame_id:08d}.png")


def receive(config: ReceiveConfig) -> ReceiveReport:
    """Receive until the configured end (or Ctrl-C), printing the rate once a second unless quiet."""
    host, port = host_port(config.listen)
    save = Path(config.save) if config.save else None
    if save:
        save.mkdir(parents=True, exist_ok=True)
    transport = "tcp" if config.tcp else "udp"
    with FrameReceiver(host, port, transport) as rx:
        print(f"listening for frames on {transport} {rx.address[0]}:{rx.address[1]}", flush=True)
        first = last = t_frame = None
        n = n_last = 0
        try:
            for f in rx.frames(seconds=config.seconds, count=config.count):
                n += 1
                t_frame = time.monotonic()
                if first is None:
                    first = last = t_frame
                if save:
                    save_png(f, save)
                now = time.monotonic()
                if now - last >= 1.0 and not config.quiet:
                    print(f"{(n - n_last) / (now - last):6.1f} frames/s  {f.width}x{f.height}x{f.channels}  "
                          f"complete {rx.assembler.completed}  dropped {rx.assembler.dropped}", flush=True)
                    last, n_last = now, n
        except KeyboardInterrupt:
            pass
        # The rate runs from the first complete frame to the last, so waiting for a sender does not count.
        report = ReceiveReport(n, (t_frame - first) if n > 1 else 0.0, rx.assembler.dropped,
                               rx.assembler.rejected + rx.malformed)
    print(f"received {report.frames} complete frames in {report.seconds:.2f} s ({report.rate:.1f} frames/s); "
          f"dropped {report.dropped} incomplete, rejected {report.malformed} malformed", flush=True)
    return report
