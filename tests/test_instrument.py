"""Tempo, audio-reactive walks, MIDI and semantic directions, on a real server."""

import json
import time
import wave

import mido
import numpy as np
import pytest

from ganplug import contract
from ganplug.errors import ConfigError
from ganplug.instrument.audio import Analyzer, FileSource, read_wav
from ganplug.instrument.config import InstrumentConfig
from ganplug.instrument.mapping import Binding, parse_audio_map
from ganplug.instrument.midi import MidiInput, MidiMap
from ganplug.instrument.tempo import BeatClock, TapTempo, phase_error
from ganplug.seeds import z_from_seed
from serving import Controller, collect, running_server, wait_until

SR = 44100


def write_wav(path, x, sr=SR):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def click_track(seconds=3.0, every=0.5, first=0.25):
    """Noise bursts of 10 ms on a quiet noise floor; returns samples and the click times."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal(int(seconds * SR)).astype(np.float32) * 0.005
    clicks = np.arange(first, seconds - 0.05, every)
    for c in clicks:
        i, n = int(c * SR), int(0.01 * SR)
        x[i:i + n] += rng.uniform(-0.8, 0.8, n) * np.exp(-np.arange(n) / 150.0)
    return x, clicks


# ---------------------------------------------------------------- tempo

def test_beat_clock_never_jumps_and_taps_make_tempo():
    c = BeatClock(120, now=0.0)
    assert c.beat(1.0) == pytest.approx(2.0)
    c.set_bpm(60, now=1.0)
    assert c.beat(1.0) == pytest.approx(2.0) and c.beat(2.0) == pytest.approx(3.0)
    c.align(now=2.4)  # a tap at 2.4 s: beat 3.4 becomes a whole beat
    assert c.beat(2.4) == 3.0
    t = TapTempo()
    assert t.tap(10.0) is None
    assert t.tap(10.5) == pytest.approx(120.0)
    assert t.tap(11.0) == pytest.approx(120.0) and t.tap(11.6) == pytest.approx(60 * 3 / 1.6)
    assert t.tap(20.0) is None  # a long pause starts again


def test_phase_error_wraps():
    assert phase_error(0.9, 1.05) == pytest.approx(0.15)
    assert phase_error(0.1, 0.95) == pytest.approx(-0.15)


def test_two_link_peers_agree_on_tempo_and_phase():
    pytest.importorskip("aalink")
    from ganplug.instrument.tempo import LinkClock

    a, b = LinkClock(120.0), LinkClock(90.0)
    try:
        assert wait_until(lambda: a.peers >= 1 and b.peers >= 1, 10), "Link peers did not find each other on loopback"
        a.set_bpm(133.0)
        assert wait_until(lambda: abs(b.bpm - 133.0) < 0.01, 5)
        for _ in range(5):
            diff = (a.beat() - b.beat()) % 4.0
            assert min(diff, 4.0 - diff) < 0.02  # same beat, to a fiftieth
            assert abs(a.phase() - b.phase()) % 4.0 < 0.02 or abs(a.phase() - b.phase()) > 3.98
            time.sleep(0.1)
    finally:
        a.close()
        b.close()


def test_tap_tempo_and_phase_lock_on_the_server(engine, tmp_path):
    with running_server(engine, tmp_path, fps=60.0, initial=(("walk", "loop"), ("period", 4.0))) as (server, (rx,)):
        ctl = Controller(server)
        for _ in range(4):  # taps half a second apart
            ctl.send("/ganplug/beat")
            time.sleep(0.5)
        assert wait_until(lambda: server.show.bpm > 0, 5)
        assert server.show.bpm == pytest.approx(120.0, rel=0.1)
        assert server.show.walker.params.period == pytest.approx(4 * 60 / server.show.bpm)  # 4 beats
        ctl.send("/ganplug/speed", "f", 1.7)  # off the grid…
        ctl.send("/ganplug/sync", "i", 1)  # …then pulled onto it, without jumps

        def locked() -> bool:
            rx.poll(0.01)
            w = server.show.walker
            target = w.speed * server.show.instrument.clock.beat() / server.show.period
            return abs(phase_error(w.time / w.params.period, target)) < 0.02
        assert wait_until(locked, 10)
        ctl.close()


# ---------------------------------------------------------------- audio

def test_click_track_gives_onsets_on_the_clicks(tmp_path):
    x, clicks = click_track()
    samples, sr = read_wav(write_wav(tmp_path / "clicks.wav", x))
    a = Analyzer(sr)
    for i in range(0, len(samples), 512):
        a.process(samples[i:i + 512])
    found = np.array(a.onset_times)
    assert len(found) == len(clicks), (found, clicks)
    assert np.all(np.abs(found - clicks) < 0.03)  # within 30 ms of each click


@pytest.mark.parametrize("freq, band", [(80.0, "bass"), (1000.0, "mid"), (8000.0, "high")])
def test_bands_follow_the_spectrum(freq, band):
    a = Analyzer(SR)
    a.process((0.5 * np.sin(2 * np.pi * freq * np.arange(SR) / SR)).astype(np.float32))
    f = a.features
    assert f.value(band) > 0.9 and all(f.value(b) < 0.05 for b in ("bass", "mid", "high") if b != band)
    assert 0.8 < f.level < 0.9  # -4.3 dBFS of RMS on a 60 dB scale
    silent = Analyzer(SR)
    silent.process(np.zeros(SR, np.float32))
    assert silent.features.level == 0.0 and silent.features.onsets == 0


def test_audio_map_parsing():
    b = parse_audio_map("bass:speed:0.5:3")
    assert (b.source, b.address, b.scaled(0.0), b.scaled(1.0)) == ("bass", "/ganplug/speed", (0.5,), (3.0,))
    assert parse_audio_map("onset:/ganplug/next").triggered() == ()
    assert parse_audio_map("level:walk").scaled(0.99) == ("random",)  # a choice list is split evenly
    for bad in ("treble:speed", "bass:nowhere", "bass:speed:1", "onset"):
        with pytest.raises(ConfigError):
            parse_audio_map(bad)


def test_click_track_drives_the_walk_and_goes_out_as_osc(engine, tmp_path):
    x, clicks = click_track(seconds=2.0, every=0.4, first=0.2)
    wav = write_wav(tmp_path / "clicks.wav", x)
    audio_in = []
    inst = InstrumentConfig(audio=str(wav), audio_map=("onset:next", "level:truncation:0.5:1.0"))
    with running_server(engine, tmp_path, fps=60.0, instrument=inst,
                        initial=(("walk", "hold"), ("seed", 10), ("blend", 0.0))) as (server, (rx,)):
        rx.on_message = lambda a, args: audio_in.append((a, args)) if a.startswith("/ganplug/audio/") else None
        collect(rx, seconds=2.2)  # plays the file once (it loops)
        seed, analysed = server.show.walker.params.seed, server.show.instrument.audio.analyzer.onset_times
    onsets_out = [a for a, _ in audio_in if a == "/ganplug/audio/onset"]
    assert len(analysed) >= len(clicks)
    assert seed - 10 >= len(clicks) and seed - 10 == len(onsets_out)  # every onset moved to the next seed
    assert {"/ganplug/audio/level", "/ganplug/audio/bass", "/ganplug/audio/mid", "/ganplug/audio/high"} <= {a for a, _ in audio_in}


def test_bad_audio_input_is_one_line(tiny_model, tmp_path):
    from conftest import assert_one_line_error, run_cli

    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF nonsense")
    import socket

    from conftest import free_port

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:  # inputs are checked before any port is bound
        taken.bind(("127.0.0.1", 0))
        listen = f"127.0.0.1:{taken.getsockname()[1]}"
        for flags, needle in ((("--audio", str(bad)), "not a readable PCM WAV file"),
                              (("--audio-map", "loudness:speed"), "--audio-map"),
                              (("--midi-map", str(bad)), "not a readable mapping file")):
            assert_one_line_error(run_cli("serve", str(tiny_model), *flags, "--listen", listen, "--send", f"127.0.0.1:{free_port()}",
                                          "--seconds", "1"), needle)


def test_file_source_plays_in_real_time(tmp_path):
    x, clicks = click_track(seconds=1.0, every=0.3, first=0.2)
    src = FileSource(write_wav(tmp_path / "c.wav", x), loop=False).start()
    t0 = time.monotonic()
    assert wait_until(lambda: src.analyzer.features.time > 0.9, 5)
    assert time.monotonic() - t0 > 0.8  # it took about as long as the sound lasts
    src.close()


# ---------------------------------------------------------------- MIDI

def test_midi_map_drives_addresses_with_real_mido_messages(tmp_path):
    m = MidiMap([Binding("cc:0:1", "/ganplug/speed", 0.0, 4.0), Binding("note:9:36", "/ganplug/snapshot"),
                 Binding("note:0:60", "/ganplug/seed", value=42), Binding("cc:0:7", "/ganplug/walk")])
    got = []
    midi = MidiInput(None, m, lambda a, args: got.append((a, args)))
    midi.feed(mido.Message("control_change", channel=0, control=1, value=127))
    midi.feed(mido.Message("note_on", channel=9, note=36, velocity=100))
    midi.feed(mido.Message("note_off", channel=9, note=36))
    midi.feed(mido.Message("note_on", channel=0, note=60, velocity=1))
    midi.feed(mido.Message("control_change", channel=0, control=7, value=0))
    midi.feed(mido.Message("pitchwheel", pitch=100))
    assert got == [("/ganplug/speed", (4.0,)), ("/ganplug/snapshot", ()), ("/ganplug/seed", (42,)), ("/ganplug/walk", ("hold",))]
    assert midi.last_source == "cc:0:7"


def test_midi_learn_on_the_server_and_the_mapping_file(engine, tmp_path):
    path = tmp_path / "midi.json"
    with running_server(engine, tmp_path, fps=60.0, instrument=InstrumentConfig(midi_map=str(path))) as (server, (rx,)):
        ctl = Controller(server)
        ctl.send("/ganplug/midi/learn", "s", "/ganplug/truncation")
        errors = [a for addr, a in ctl.replies(1.0, until="/ganplug/error") if addr == "/ganplug/error"]
        assert errors and "move a MIDI control first" in errors[0][0]
        midi = server.show.instrument.midi
        midi.feed(mido.Message("control_change", channel=2, control=21, value=10))  # move a knob…
        ctl.send("/ganplug/midi/learn", "s", "/ganplug/truncation")  # …then name the address
        assert wait_until(lambda: any(b.source == "cc:2:21" for b in midi.map.bindings), 5)
        midi.feed(mido.Message("control_change", channel=2, control=21, value=127))
        assert wait_until(lambda: server.show.truncation == 2.0, 5)
        ctl.close()
    saved = json.loads(path.read_text())
    assert saved == {"bindings": [{"source": "cc:2:21", "address": "/ganplug/truncation"}]}
    assert MidiMap.load(path).bindings == [Binding("cc:2:21", "/ganplug/truncation")]


def test_midi_through_a_real_virtual_port(engine, tmp_path):
    try:
        out = mido.open_output("ganplug-test-out", virtual=True)
    except Exception as e:  # no ALSA sequencer (e.g. containers without /dev/snd/seq)
        pytest.skip(f"this system offers no virtual MIDI ports: {e}")
    got = []
    m = MidiMap([Binding("cc:0:1", "/ganplug/speed", 0.0, 4.0)])
    port = MidiInput("ganplug-test-out", m, lambda a, args: got.append((a, args)))
    out.send(mido.Message("control_change", channel=0, control=1, value=127))
    assert wait_until(lambda: got, 5)
    port.close()
    out.close()


# ---------------------------------------------------------------- directions and presets

def test_directions_are_exported_and_move_the_latent(engine, tmp_path):
    d = contract.directions(engine.info)
    assert d is not None and d.shape == (16, 32)
    np.testing.assert_allclose(np.linalg.norm(d, axis=1), 1.0, atol=1e-5)
    with running_server(engine, tmp_path, fps=30.0, initial=(("walk", "hold"), ("seed", 4), ("blend", 0.0))) as (server, (rx,)):
        ctl = Controller(server)
        ctl.send("/ganplug/direction/2", "f", 2.5)
        want = engine.run((z_from_seed(4, 32) + 2.5 * d[2]).astype(np.float32)[None])[0]
        assert wait_until(lambda: any(np.array_equal(f.pixels, want) for f in rx.poll(0.05)), 5)
        ctl.send("/ganplug/direction/16", "f", 1.0)
        errors = [a for addr, a in ctl.replies(1.0, until="/ganplug/error") if addr == "/ganplug/error"]
        assert errors and "outside 0..15" in errors[0][0]
        ctl.close()


def test_render_sweeps_a_direction(tiny_model, engine, tmp_path):
    from PIL import Image

    from conftest import assert_one_line_error, run_cli

    r = run_cli("render", str(tiny_model), "-o", str(tmp_path / "sw"), "--walk", "hold", "--seed", "3", "--direction", "1",
                "--sweep", "--amount", "2", "--fps", "4", "--seconds", "2")
    assert r.returncode == 0, r.stderr
    frames = sorted((tmp_path / "sw").glob("*.png"))
    d = contract.directions(engine.info)[1]
    z = z_from_seed(3, 32)
    for k, amount in ((0, -2.0), (4, 2.0)):  # -amount at the start, +amount half way
        want = engine.run((z + amount * d).astype(np.float32)[None])[0]
        np.testing.assert_array_equal(np.asarray(Image.open(frames[k])), want)
    assert_one_line_error(run_cli("render", str(tiny_model), "-o", str(tmp_path / "x"), "--direction", "99"), "outside 0..15")


def test_presets_capture_directions_and_mappings(engine, tmp_path):
    inst = InstrumentConfig(audio_map=("bass:speed:0.5:2",))
    with running_server(engine, tmp_path, fps=30.0, instrument=inst, initial=(("walk", "hold"), ("blend", 0.0))) as (server, (rx,)):
        ctl = Controller(server)
        ctl.send("/ganplug/direction/0", "f", 1.5)
        assert wait_until(lambda: server.show.direction_amounts[0] == 1.5, 5)
        ctl.send("/ganplug/preset/save", "s", "dir")
        preset = tmp_path / "presets" / "dir.json"
        assert wait_until(preset.exists, 5)
        saved = json.loads(preset.read_text())
        assert saved["directions"][0] == 1.5 and saved["mappings"]["audio"] == ["bass:speed:0.5:2"]
        saved["mappings"]["audio"] = ["mid:truncation:0:1"]
        saved["directions"][0] = -1.0
        preset.write_text(json.dumps(saved))
        ctl.send("/ganplug/preset/load", "s", "dir")
        assert wait_until(lambda: server.show.direction_amounts[0] == -1.0, 5)
        assert server.show.instrument.audio_map == ["mid:truncation:0:1"]
        ctl.close()
