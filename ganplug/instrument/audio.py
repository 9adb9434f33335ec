"""Audio features for reactive walks: level, three bands and onsets, from a file or a live input.

The analyser works on a mono stream in hops of ``hop`` samples (256: 5.8 ms at 44.1 kHz)
over a Hann window of ``fft`` samples (2048):

- level: RMS of the latest hop on a 60 dB scale, 0 (-60 dBFS or less) to 1 (0 dBFS);
- bass (20-250 Hz), mid (250-4000 Hz), high (4000 Hz up): each band's energy over its own
  running peak, which decays by half every ``BAND_HALF_LIFE`` seconds, so 0..1 whatever the mix;
- onsets: spectral flux (sum of positive log-magnitude increases) rising above an adaptive
  threshold (median of the last second of flux, times 1.5, plus a floor), at most one every
  ``MIN_ONSET_GAP`` seconds; detected in the hop the hit arrives in, without look-ahead. ``onset`` is the strength (0..1) of the newest
  onset, decaying over 100 ms; ``onsets`` counts them, so a frame can tell one happened.
"""

from __future__ import annotations

import threading
import time
import wave
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError

BANDS = {"bass": (20.0, 250.0), "mid": (250.0, 4000.0), "high": (4000.0, 24000.0)}
FEATURES = ("level", "bass", "mid", "high", "onset")
BAND_HALF_LIFE = 4.0
MIN_ONSET_GAP = 0.08
ONSET_FLOOR = 0.5


@dataclass(frozen=True)
class Features:
    level: float = 0.0
    bass: float = 0.0
    mid: float = 0.0
    high: float = 0.0
    onset: float = 0.0
    onsets: int = 0  # onsets detected so far
    time: float = 0.0  # stream time of the newest hop, seconds

    def value(self, name: str) -> float:
        return float(getattr(self, name))


class Analyzer:
    """Streaming analysis; ``process`` takes float32 mono blocks of any length."""

    def __init__(self, sample_rate: int, fft: int = 2048, hop: int = 256):
        self.sr, self.fft, self.hop = sample_rate, fft, hop
        self._buf = np.zeros(fft, np.float32)
        self._pending = np.zeros(0, np.float32)
        self._window = np.hanning(fft).astype(np.float32)
        freqs = np.fft.rfftfreq(fft, 1.0 / sample_rate)
        self._bands = {k: (freqs >= lo) & (freqs < hi) for k, (lo, hi) in BANDS.items()}
        self._peaks = {k: 1e-9 for k in BANDS}
        self._decay = 0.5 ** (hop / sample_rate / BAND_HALF_LIFE)
        self._prev_logmag: np.ndarray | None = None
        self._flux: deque[float] = deque(maxlen=max(8, int(sample_rate / hop)))
        self._last_onset = -1e9
        self._hops = 0
        self._onsets = 0
        self._strength = 0.0
        self.onset_times: deque[float] = deque(maxlen=10_000)  # stream times of detected onsets
        self.features = Features()
        self.lock = threading.Lock()

    def process(self, block: np.ndarray) -> None:
        data = np.concatenate([self._pending, np.asarray(block, np.float32).ravel()])
        n = len(data) // self.hop
        for i in range(n):
            self._step(data[i * self.hop:(i + 1) * self.hop])
        self._pending = data[n * self.hop:]

    def _step(self, hop: np.ndarray) -> None:
        self._buf = np.concatenate([self._buf[len(hop):], hop])
        self._hops += 1
        t = self._hops * self.hop / self.sr
        mag = np.abs(np.fft.rfft(self._buf * self._window))
        rms = float(np.sqrt(np.mean(hop * hop)) + 1e-12)
        level = min(1.0, max(0.0, (20.0 * float(np.log10(rms)) + 60.0) / 60.0))
        bands = {}
        for k, mask in self._bands.items():
            e = float(np.sum(mag[mask] ** 2))
            self._peaks[k] = max(e, self._peaks[k] * self._decay, 1e-9)
            bands[k] = e / self._peaks[k] if e > 1e-9 else 0.0
        logmag = np.log1p(mag)
        flux = 0.0 if self._prev_logmag is None else float(np.maximum(logmag - self._prev_logmag, 0.0).sum())
        self._prev_logmag = logmag
        # No look-ahead: a hop is an onset as soon as its flux rises above the threshold, and the
        # refractory gap keeps the rest of the same hit from counting again. Waiting for the
        # peak would cost a hop of latency.
        threshold = 1.5 * float(np.median(self._flux)) + ONSET_FLOOR if self._flux else ONSET_FLOOR
        rising = not self._flux or flux > self._flux[-1]
        warm = self._hops * self.hop > self.fft  # the first window rises from silence: not an onset
        if warm and rising and flux > threshold and t - self._last_onset >= MIN_ONSET_GAP:
            self._last_onset = t
            self._onsets += 1
            self._strength = min(1.0, flux / threshold - 1.0)
            self.onset_times.append(t)
        self._flux.append(flux)
        self._strength *= 0.5 ** (self.hop / self.sr / 0.1)
        with self.lock:
            self.features = Features(level, bands["bass"], bands["mid"], bands["high"], self._strength, self._onsets, t)


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """Mono float32 samples in [-1, 1] and the sample rate of a PCM WAV file."""
    try:
        with wave.open(str(path), "rb") as w:
            sr, ch, width, n = w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes()
            raw = w.readframes(n)
    except (OSError, wave.Error, EOFError) as e:
        raise ConfigError(f"--audio {path}: not a readable PCM WAV file ({e})") from None
    if width == 1:
        x = (np.frombuffer(raw, np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width == 2:
        x = np.frombuffer(raw, "<i2").astype(np.float32) / 32768.0
    elif width == 3:
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3)
        x = ((b[:, 0].astype(np.int32) | (b[:, 1].astype(np.int32) << 8) | (b[:, 2].astype(np.int32) << 16)) << 8 >> 8) / 8388608.0
        x = x.astype(np.float32)
    elif width == 4:
        x = np.frombuffer(raw, "<i4").astype(np.float32) / 2147483648.0
    else:
        raise ConfigError(f"--audio {path}: {8 * width}-bit samples are not supported")
    return x.reshape(-1, ch).mean(axis=1), sr


class FileSource:
    """Plays a WAV file into an analyser in real time (looping), on its own thread.

    ``started`` is the monotonic time at which stream time 0 played, so stream times of
    onsets map to wall-clock times.
    """

    def __init__(self, path: Path, loop: bool = True, block: int = 256):
        self.samples, self.sr = read_wav(Path(path))
        if not len(self.samples):
            raise ConfigError(f"--audio {path}: the file holds no samples")
        self.analyzer = Analyzer(self.sr)
        self.loop, self.block = loop, block
        self.started = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ganplug-audio", daemon=True)

    def start(self) -> "FileSource":
        self._thread.start()
        return self

    def _run(self) -> None:
        self.started = time.monotonic()
        pos, played = 0, 0
        while not self._stop.is_set():
            if pos >= len(self.samples):
                if not self.loop:
                    return
                pos = 0
            chunk = self.samples[pos:pos + self.block]
            pos += len(chunk)
            # Deliver each block when it would have finished playing.
            due = self.started + (played + len(chunk)) / self.sr
            wait = due - time.monotonic()
            if wait > 0 and self._stop.wait(wait):
                return
            self.analyzer.process(chunk)
            played += len(chunk)

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(2)


class LiveSource:
    """A live input through sounddevice (PortAudio)."""

    def __init__(self, device: str, block: int = 256):
        try:
            import sounddevice as sd
        except (ModuleNotFoundError, OSError) as e:
            raise ConfigError(f"--audio {device}: live input needs sounddevice and PortAudio: pip install 'ganplug[audio]' ({e})") from None
        dev: str | int = int(device) if device.isdigit() else device
        try:
            info = sd.query_devices(dev, "input")
            self.sr = int(info["default_samplerate"])
        except Exception as e:  # sounddevice raises ValueError or PortAudioError for unknown devices
            raise ConfigError(f"--audio {device}: no such input device ({e})") from None
        self.analyzer = Analyzer(self.sr)
        self.started = time.monotonic()

        def callback(indata, frames, t, status) -> None:
            self.analyzer.process(indata.mean(axis=1))

        self._stream = sd.InputStream(device=dev, channels=1, samplerate=self.sr, blocksize=block, callback=callback)

    def start(self) -> "LiveSource":
        self.started = time.monotonic()
        self._stream.start()
        return self

    def close(self) -> None:
        self._stream.stop()
        self._stream.close()


def open_source(spec: str):
    """``--audio`` value: a path to a .wav file, else a sounddevice input device (name or index)."""
    p = Path(spec)
    if p.suffix.lower() == ".wav" or p.is_file():
        return FileSource(p)
    return LiveSource(spec)
