"""The ``ganplug`` command. It only parses arguments and hands typed configs to the modules;
every :class:`GanplugError` is caught here and shown as one line."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Callable, Sequence

from . import __version__
from .errors import ConfigError, GanplugError

log = logging.getLogger("ganplug")

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}


def command(name: str):
    def deco(fn: Callable[[argparse.Namespace], int]):
        COMMANDS[name] = fn
        return fn
    return deco


# --------------------------------------------------------------------------- train, dataset, export

def _add_train(sub: argparse._SubParsersAction) -> None:
    from .train.config import FLAGS, flag_help, flag_type

    p = sub.add_parser("train", help="train a generator on a folder of images",
                       description="Train a generator. For several GPUs or machines, start it with "
                                   "torchrun --nproc_per_node N -m ganplug train ... (see docs/training.md).")
    p.add_argument("data", help="folder of images (searched recursively)")
    p.add_argument("--out", required=True, help="run folder for checkpoints, samples and logs")
    for name in FLAGS:
        flag, typ = "--" + name.replace("_", "-"), flag_type(name)
        if typ is bool:
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=flag_help(name))
        else:
            p.add_argument(flag, type=typ, default=None, help=flag_help(name))
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its newest checkpoint")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


@command("train")
def cmd_train(a: argparse.Namespace) -> int:
    from .train.config import FLAGS, TrainConfig
    from .train.loop import resume_config, train

    explicit = {f for f in FLAGS if getattr(a, f) is not None}
    values = {f: getattr(a, f) for f in explicit}
    if a.no_progress:
        values["progress"] = False
        explicit.add("progress")
    cfg = TrainConfig(data=a.data, out=a.out, **values)
    state = None
    if a.resume:
        cfg, state = resume_config(Path(a.out), cfg, explicit)
        cfg = cfg.replace(data=a.data)
    result = train(cfg, state)
    if result.main:
        verb = "interrupted; saved" if result.interrupted else "done; saved"
        print(f"{verb} step {result.step} to {result.checkpoint}")
    return 130 if result.interrupted else 0


def _add_dataset(sub: argparse._SubParsersAction) -> None:
    from .procedural import DatasetConfig as D

    p = sub.add_parser("dataset", help="write the procedural image set used for the bundled model")
    p.add_argument("out", help="folder to write PNG images into")
    p.add_argument("--count", type=int, default=D.count, help=f"images (default {D.count})")
    p.add_argument("--size", type=int, default=D.size, help=f"width and height in pixels (default {D.size})")
    p.add_argument("--seed", type=int, default=D.seed, help=f"image i depends only on (seed, i) (default {D.seed})")


@command("dataset")
def cmd_dataset(a: argparse.Namespace) -> int:
    from .procedural import DatasetConfig, generate

    cfg = DatasetConfig(out=a.out, count=a.count, size=a.size, seed=a.seed)
    paths = generate(Path(cfg.out), cfg.count, cfg.size, cfg.seed)
    print(f"wrote {len(paths)} images of {cfg.size}x{cfg.size} to {cfg.out}")
    return 0


def _add_export(sub: argparse._SubParsersAction) -> None:
    from .export import EXPORTERS, ExportConfig

    p = sub.add_parser("export", help="write a checkpoint as a contract ONNX model")
    p.add_argument("source", help="run folder (newest checkpoint), checkpoint file, or NVlabs StyleGAN2/3 network pickle (.pkl)")
    p.add_argument("-o", "--output", help="ONNX file to write (default export/RUN_NAME.onnx)")
    p.add_argument("--dataset", help="description of the training data stored in the file")
    p.add_argument("--exporter", choices=EXPORTERS, default=ExportConfig.exporter,
                   help=f"auto: PyTorch's current (torch.export) exporter, falling back to the legacy one (default {ExportConfig.exporter})")
    p.add_argument("--half", action="store_true", help="also write NAME.fp16.onnx (fp16 weights, for GPU serving)")
    p.add_argument("--split", action="store_true",
                   help="style models: also write NAME.mapping.onnx (z -> w) and NAME.synthesis.onnx (w -> image)")


@command("export")
def cmd_export(a: argparse.Namespace) -> int:
    from .export import ExportConfig, export

    src = Path(a.source)
    out = a.output or str(Path("export") / f"{(src if src.is_dir() else src.parent.parent).name}.onnx")
    if not a.output and src.suffix == ".pkl":  # an NVlabs pickle: named after the file
        out = str(Path("export") / f"{src.name.split('.')[0]}.onnx")
    rep = export(ExportConfig(source=a.source, output=out, dataset=a.dataset, exporter=a.exporter, half=a.half,
                              split=a.split))
    print(f"wrote {rep.path} ({rep.size_bytes / 1e6:.1f} MB, {rep.exporter} exporter, max difference {rep.max_diff} level(s))")
    if rep.half:
        print(f"wrote {rep.half} ({rep.half.stat().st_size / 1e6:.1f} MB, fp16)")
    for part in rep.parts:
        print(f"wrote {part} ({part.stat().st_size / 1e6:.1f} MB, {part.stem.rsplit('.', 1)[1]} half)")
    return 0


def _add_eval(sub: argparse._SubParsersAction) -> None:
    from .evaluate import EvalConfig as E

    p = sub.add_parser("eval", help="sliced Wasserstein distance (SWD) between a model's images and a folder")
    p.add_argument("source", help="contract ONNX model (no torch needed), run folder or checkpoint")
    p.add_argument("data", help="folder of real images (searched recursively)")
    p.add_argument("--images", type=int, default=E.images, help=f"generated and (at most) real images compared (default {E.images})")
    p.add_argument("--truncation", type=float, default=E.truncation, help=f"truncation ψ of the generated images (default {E.truncation:g})")
    p.add_argument("--fit", default=E.fit, help=f"crop or pad non-square real images (default {E.fit})")
    p.add_argument("--seed", type=int, default=E.seed, help=f"seed for the choice of real images and patches (default {E.seed})")


@command("eval")
def cmd_eval(a: argparse.Namespace) -> int:
    from .evaluate import EvalConfig, evaluate

    rep = evaluate(EvalConfig(source=a.source, data=a.data, images=a.images, truncation=a.truncation, fit=a.fit, seed=a.seed))
    size = f"{rep.resolution}" if rep.width == rep.height else f"{rep.width}x{rep.height}"
    print(f"{rep.generated} generated vs {rep.real} real images at {size} px")
    print(f"{'level':>8} {'SWD x1e3':>9}")
    for res, v in sorted(rep.swd.levels.items(), reverse=True):
        print(f"{f'{res}px':>8} {v:>9.2f}")
    print(f"{'mean':>8} {rep.swd.mean:>9.2f}")
    return 0


# --------------------------------------------------------------------------- serve, render, info, bench, receive
# These never import torch (bench only with --checkpoint): a performer's install has onnxruntime, python-osc and numpy.

WALK_PARAMS = ("seed", "keyframes", "walk", "speed", "period", "bpm", "easing", "truncation", "class")  # what render and serve share
SERVE_PARAMS = WALK_PARAMS + ("sync", "blend", "pause", "fps")


def _add_param_flags(p: argparse.ArgumentParser, names: Sequence[str]) -> None:
    """One flag per performance parameter, from the address table (type, range, default, help)."""
    from .show.table import PARAMS

    for name in names:
        spec = PARAMS[name]
        arg = spec.args[0]
        typ = {"i": int, "f": float, "s": str}[arg.type]
        extra: dict = {"nargs": "+"} if spec.variadic else {}
        if arg.choices:
            extra["choices"] = arg.choices
        rng = f" [{arg.lo:.10g}..{arg.hi:.10g}]" if arg.lo is not None and arg.hi is not None and arg.type != "s" else ""
        p.add_argument(f"--{name}", type=typ, default=None, help=f"{spec.doc}{rng} (default {spec.default!r})", **extra)


def _param_values(a: argparse.Namespace, names: Sequence[str]) -> dict:
    """Flags the user gave, checked and clamped by the address table."""
    from .show.table import PARAMS, BadMessage, check

    out = {}
    for name in names:
        v = getattr(a, name)
        if v is None:
            continue
        spec = PARAMS[name]
        try:
            values, notes = check(spec, tuple(v) if isinstance(v, list) else (v,))
        except BadMessage as e:
            raise ConfigError(f"--{name}: {e}") from None
        for n in notes:
            log.warning("--%s: %s", name, n)
        out[name] = spec.value(values)
    return out


def _add_engine_flags(p: argparse.ArgumentParser) -> None:
    from .runtime.engine import DEVICES, EngineConfig
    from .runtime.foreign import ALIASES, LAYOUTS, RANGES, ForeignSpec

    p.add_argument("--device", choices=DEVICES, default=EngineConfig.device,
                   help=f"inference device (default {EngineConfig.device}: CUDA if available)")
    p.add_argument("--threads", type=int, default=EngineConfig.threads, help="onnxruntime threads (default: all cores but one)")
    p.add_argument("--spin", action="store_true", help="let onnxruntime threads spin-wait (faster engine, slower everything else)")
    g = p.add_argument_group("models made elsewhere (not following the ganplug contract); any of these turns it on")
    g.add_argument("--output-range", choices=(*ALIASES, *RANGES), metavar="RANGE",
                   help="value range of the model's float image output: signed (-1..1, tanh), unit (0..1) or byte (0..255) "
                        f"(default {ForeignSpec.output_range})")
    g.add_argument("--input-name", help="the latent input (default: the model's only input)")
    g.add_argument("--output-name", help="the image output (default: the first output)")
    g.add_argument("--z-dim", type=int, help="latent size, where the graph does not fix it")
    g.add_argument("--layout", choices=LAYOUTS, help=f"layout of the image output (default {ForeignSpec.layout})")


_FOREIGN_FLAGS = ("output_range", "input_name", "output_name", "z_dim", "layout")  # ForeignSpec's fields


def _engine_config(a: argparse.Namespace):
    from .runtime.engine import EngineConfig
    from .runtime.foreign import ForeignSpec

    given = {k: getattr(a, k) for k in _FOREIGN_FLAGS if getattr(a, k) is not None}
    return EngineConfig(device=a.device, threads=a.threads, spinning=a.spin, foreign=ForeignSpec(**given) if given else None)


def _engine(a: argparse.Namespace):
    from .runtime.engine import Engine, default_model_path

    return Engine(a.model or str(default_model_path()), _engine_config(a))


def _add_size_flags(p: argparse.ArgumentParser) -> None:
    from .runtime.fit import FITS

    p.add_argument("--size", metavar="WxH", help="frame size sent, e.g. 1280x720, whatever the model's (default: the model's own)")
    p.add_argument("--fit", choices=FITS, default=FITS[0],
                   help="how a model of another shape fills --size: crop (fill, cut the overflow), pad (whole, black bars) "
                        f"or stretch (default {FITS[0]})")


def _add_output_flags(p: argparse.ArgumentParser, d) -> None:
    """How frames leave: OSC encoding and pacing, shared memory, NDI (docs/transports.md)."""
    from .osc.frames import ENCODINGS

    g = p.add_argument_group("frames out (docs/transports.md)")
    g.add_argument("--encoding", choices=ENCODINGS, default=d.encoding,
                   help=f"OSC frames: raw /ganplug/frame, or jpeg/png /ganplug/image (default {d.encoding})")
    g.add_argument("--jpeg-quality", type=int, default=d.quality, help=f"--encoding jpeg: quality 1-95 (default {d.quality})")
    g.add_argument("--max-datagram", type=int, default=d.max_datagram, help=f"largest UDP datagram sent, bytes (default {d.max_datagram})")
    g.add_argument("--pace-rate", type=float, default=d.pace_rate, metavar="BYTES/S",
                   help="UDP send rate within a frame (default: a frame's chunks spread over half the frame period)")
    g.add_argument("--shm", metavar="NAME", help="also write frames into the shared-memory block NAME (any process on this machine reads it)")
    g.add_argument("--ndi", metavar="NAME", help="also send frames as the NDI source NAME (needs: pip install 'ganplug[ndi]')")


def _size(a: argparse.Namespace) -> tuple[int, int] | None:
    from .runtime.fit import parse_size

    return parse_size(a.size) if a.size is not None else None


def _add_serve(sub: argparse._SubParsersAction) -> None:
    from .runtime.config import ServeConfig
    from .web.config import WebConfig

    d, w = ServeConfig(), WebConfig()
    p = sub.add_parser("serve", help="play a model live: frames out over OSC, control in over OSC")
    p.add_argument("model", nargs="?", help="contract ONNX model to start with (default: the first of --models, else the bundled model)")
    p.add_argument("--models", metavar="DIR", help="play every model in DIR by name: /ganplug/model/load NAME (docs/performing.md)")
    _add_size_flags(p)
    p.add_argument("--send", action="append", metavar="[tcp://]HOST:PORT",
                   help=f"frame destination, repeatable; udp by default, tcp:// for OSC-over-TCP (default {', '.join(d.sends)})")
    p.add_argument("--listen", default=d.listen, metavar="HOST:PORT", help=f"control port, UDP and TCP (default {d.listen})")
    p.add_argument("--no-tcp-control", action="store_true", help="listen for control on UDP only")
    p.add_argument("--allow", action="append", default=[], metavar="ADDR[/BITS]", help="accept control only from these addresses (repeatable)")
    p.add_argument("--snapshots", default=d.snapshots, help=f"folder for /ganplug/snapshot PNGs (default ./{d.snapshots})")
    p.add_argument("--presets", default=d.presets, help=f"folder for presets (default ./{d.presets})")
    p.add_argument("--state-hz", type=float, default=d.state_hz, help=f"/ganplug/state messages per second (default {d.state_hz:g})")
    p.add_argument("--seconds", type=float, default=d.seconds, help="stop after this many seconds (default: run until Ctrl-C)")
    _add_param_flags(p, SERVE_PARAMS)
    _add_output_flags(p, d)
    g = p.add_argument_group("playing it like an instrument (docs/instrument.md)")
    g.add_argument("--audio", metavar="FILE.wav|DEVICE", help="audio input: a WAV file played in a loop, or a sound device (name or index)")
    g.add_argument("--audio-map", action="append", default=[], metavar="FEATURE:ADDRESS[:LO:HI]",
                   help="drive an address from level, bass, mid, high (scaled into LO..HI) or onset (a trigger), repeatable; "
                        "e.g. bass:speed:0.5:3, onset:next")
    g.add_argument("--no-audio-out", action="store_true", help="do not send /ganplug/audio/... to the destinations")
    g.add_argument("--link", action="store_true", help="join an Ableton Link session for tempo and beat (turns on sync)")
    g.add_argument("--midi", metavar="PORT|virtual:NAME", help="MIDI input port (or a new virtual port)")
    g.add_argument("--midi-map", metavar="FILE.json", help="MIDI bindings; /ganplug/midi/learn adds to it")
    g = p.add_argument_group("web surface and OSCQuery (docs/web.md)")
    g.add_argument("--web", nargs="?", const=w.listen, default=None, metavar="HOST:PORT",
                   help=f"serve the control page at /ui/ and OSCQuery at / on this HTTP port (bare --web: {w.listen})")
    g.add_argument("--web-token", metavar="TOKEN", help="the page and its WebSocket answer 403 without ?token=TOKEN")
    g.add_argument("--web-origin", action="append", default=[], metavar="ORIGIN",
                   help="also let pages from ORIGIN (e.g. http://127.0.0.1:8000) use the WebSocket without a token, repeatable")
    g.add_argument("--zeroconf", action="store_true", help="advertise OSCQuery as _oscjson._tcp (needs: pip install 'ganplug[zeroconf]')")
    _add_engine_flags(p)


@command("serve")
def cmd_serve(a: argparse.Namespace) -> int:
    from .instrument.config import InstrumentConfig
    from .instrument.live import check_inputs
    from .runtime.server import ServeConfig, Server

    _check_serve_flags(a)
    size = _size(a)
    if a.model is None and a.models is not None:
        from .runtime.models import model_files

        a.model = str(next(iter(model_files(a.models).values())))
    instrument = InstrumentConfig(audio=a.audio, audio_map=tuple(a.audio_map), audio_out=not a.no_audio_out, link=a.link,
                                  midi=a.midi, midi_map=a.midi_map)
    check_inputs(instrument)  # every input file is read before any port is bound
    engine = _engine(a)
    engine.warm_up()  # a model that loads but cannot run fails here, in one line, before any port is bound
    cfg = ServeConfig(sends=tuple(a.send or ServeConfig.sends), listen=a.listen, tcp_control=not a.no_tcp_control,
                      allow=tuple(a.allow), max_datagram=a.max_datagram, snapshots=a.snapshots, presets=a.presets,
                      state_hz=a.state_hz, seconds=a.seconds, instrument=instrument, models=a.models, size=size, fit=a.fit,
                      encoding=a.encoding, quality=a.jpeg_quality, pace_rate=a.pace_rate, shm=a.shm, ndi=a.ndi,
                      initial=tuple(_param_values(a, SERVE_PARAMS).items()))
    server = Server(engine, cfg)
    web = None
    if a.web is not None:
        from .web import WebConfig, WebSurface

        web = WebSurface(server, WebConfig(listen=a.web, token=a.web_token, origins=tuple(a.web_origin), zeroconf=a.zeroconf,
                                           state_hz=a.state_hz))
    _banner(server, cfg, engine)
    import signal

    signal.signal(signal.SIGTERM, lambda *_: server.stop())  # a service manager's stop ends the show cleanly
    try:
        if web is not None:
            web.start()
            print(f"control page at {web.url}; OSCQuery at {web.url.split('/ui/')[0]}/", flush=True)
        server.run()
    except KeyboardInterrupt:
        server.stop()
    finally:
        if web is not None:
            web.close()
    print(f"stopped after {server.published} frames; {server.sinks.replaced} replaced before sending; "
          f"largest gap between frames {server.pacer.max_gap * 1e3:.1f} ms", flush=True)
    return 0


def _check_serve_flags(a: argparse.Namespace) -> None:
    """Flags that cannot work together, and web settings, refused before anything starts."""
    if a.state_hz <= 0:
        raise ConfigError("--state-hz must be positive")
    if not 1 <= a.jpeg_quality <= 95:
        raise ConfigError("--jpeg-quality must be 1 to 95")
    if a.pace_rate is not None and a.pace_rate < 100_000:
        raise ConfigError("--pace-rate must be at least 100000 bytes/s")
    if (a.web_token is not None or a.zeroconf or a.web_origin) and a.web is None:
        raise ConfigError("--web-token, --web-origin and --zeroconf need --web")
    if a.web is not None:
        from .web.config import check_origins, check_token

        check_token(a.web_token)
        check_origins(tuple(a.web_origin))
        if a.zeroconf:
            from .web.advertise import require

            require()


def _banner(server, cfg, engine) -> None:
    """The start-up line (what plays, where frames go, where control comes in) and the exposure warning."""
    info, out = engine.info, server.models.output
    host, port = server.listener.address
    print(f"serving {info.path} ({info.width}x{info.height}x{info.channels}, {info.architecture}) on {engine.provider}"
          f"{f' as {out.width}x{out.height} ({out.fit})' if out.shape != info.frame_shape else ''}"
          f"{f', {len(server.show.models.names)} models playable' if cfg.models else ''}; "
          f"frames to {', '.join(str(d) for d in server.subscriptions.destinations) or 'nobody yet'}; "
          f"control on {'udp+tcp' if cfg.tcp_control else 'udp'} {host}:{port}", flush=True)
    if not cfg.allow and not _loopback_host(host):
        log.warning("control on %s is open to every address that can reach it (no --allow): anyone there can steer the show, "
                    "and one /ganplug/subscribe makes it stream frames to any address; see docs/security.md", host)


def _loopback_host(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only."""
    import ipaddress

    try:
        return host == "localhost" or ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _add_render(sub: argparse._SubParsersAction) -> None:
    from .runtime.render import RenderConfig as R

    p = sub.add_parser("render", help="render a walk offline to PNG frames, a video or a GIF")
    p.add_argument("model", nargs="?", help="contract ONNX model (default: the bundled model)")
    p.add_argument("-o", "--output", required=True, help="folder for PNG frames, or a .mp4/.gif/... file")
    p.add_argument("--seconds", type=float, default=None, help="length (default: one period for loop and noise, else 10)")
    p.add_argument("--fps", type=float, default=R.fps, help=f"frames per second (default {R.fps:g})")
    p.add_argument("--start", type=float, default=R.start, help=f"walk time of the first frame, in seconds (default {R.start:g})")
    p.add_argument("--batch", type=int, default=R.batch,
                   help=f"frames per engine run (default {R.batch}; larger helps where `ganplug bench` shows it)")
    p.add_argument("--direction", type=int, metavar="N", help="move along semantic direction N of the model (see ganplug info)")
    p.add_argument("--amount", type=float, default=R.amount, help=f"how far along --direction, in standard deviations (default {R.amount:g})")
    p.add_argument("--sweep", action="store_true", help="with --direction: sweep from -amount to +amount and back over the clip")
    _add_size_flags(p)
    _add_param_flags(p, WALK_PARAMS)
    p.add_argument("--no-progress", action="store_true")
    _add_engine_flags(p)


def _walk_params(values: dict):
    """The walk of ``--seed``, ``--walk``, ... over the table's defaults."""
    from .show.show import initial_state, walk_params

    return walk_params(initial_state(tuple(values.items())))


@command("render")
def cmd_render(a: argparse.Namespace) -> int:
    from .runtime.render import RenderConfig, render

    values = _param_values(a, WALK_PARAMS)
    _size(a)  # a bad --size fails before the model loads
    if a.seconds is not None and a.seconds <= 0:
        raise ConfigError("--seconds must be positive")
    if not a.threads:  # offline there is no sender to leave room for
        a.threads = os.cpu_count() or 1
    engine = _engine(a)
    if "class" in values:
        engine.set_class(values.pop("class"))
    extra = {k: values[k] for k in ("speed", "truncation") if k in values}
    if a.sweep and a.direction is None:
        raise ConfigError("--sweep needs --direction N")
    cfg = RenderConfig(output=a.output, walk=_walk_params(values), seconds=a.seconds, fps=a.fps, start=a.start,
                       batch=a.batch, direction=a.direction, amount=a.amount, sweep=a.sweep, progress=not a.no_progress,
                       size=_size(a), fit=a.fit, **extra)
    out, n = render(engine, cfg)
    print(f"wrote {n} frames to {out}")
    return 0


def _add_info(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="check a model against the contract and print what it carries")
    p.add_argument("model", nargs="?", help="contract ONNX model (default: the bundled model)")
    p.add_argument("--bench", action="store_true", help="also measure frames/s on this machine")
    _add_engine_flags(p)


@command("info")
def cmd_info(a: argparse.Namespace) -> int:
    from .info import InfoConfig, info

    info(InfoConfig(model=a.model, engine=_engine_config(a), bench=a.bench))
    return 0


def _add_bench(sub: argparse._SubParsersAction) -> None:
    from .runtime.bench import BenchConfig as B

    p = sub.add_parser("bench", help="frames/s and latency per provider and batch size")
    p.add_argument("model", nargs="?", help="contract ONNX model (default: the bundled model)")
    p.add_argument("--batches", type=int, nargs="+", default=list(B.batches),
                   help=f"batch sizes (default {' '.join(map(str, B.batches))})")
    p.add_argument("--runs", type=int, default=B.runs, help=f"timed runs per row (default {B.runs})")
    p.add_argument("--checkpoint", help="also time PyTorch eager on this run folder or checkpoint (needs torch)")
    _add_engine_flags(p)


@command("bench")
def cmd_bench(a: argparse.Namespace) -> int:
    from .runtime.bench import BenchConfig, bench, table
    from .runtime.engine import default_model_path

    cfg = BenchConfig(model=a.model or str(default_model_path()), engine=_engine_config(a), batches=tuple(a.batches),
                      runs=a.runs, checkpoint=a.checkpoint)

    def announce(engine) -> None:
        i = engine.info
        print(f"{cfg.model}: {i.width}x{i.height}x{i.channels} {i.architecture}, z_dim {i.z_dim}", flush=True)
    print(table(bench(cfg, announce)))
    return 0


def _add_receive(sub: argparse._SubParsersAction) -> None:
    from .osc.monitor import ReceiveConfig as R

    p = sub.add_parser("receive", help="receive frames (as an app would), report the rate, optionally save them")
    p.add_argument("--listen", default=R.listen, metavar="HOST:PORT", help=f"where frames arrive (default {R.listen})")
    p.add_argument("--tcp", action="store_true", help="accept OSC over TCP (length-prefixed) instead of UDP")
    p.add_argument("--seconds", type=float, default=R.seconds, help="stop after this many seconds")
    p.add_argument("--count", type=int, default=R.count, help="stop after this many complete frames")
    p.add_argument("--save", metavar="DIR", help="save every complete frame as PNG in DIR")
    p.add_argument("--quiet", action="store_true", help="print only the summary")


@command("receive")
def cmd_receive(a: argparse.Namespace) -> int:
    from .osc.monitor import ReceiveConfig, receive

    receive(ReceiveConfig(listen=a.listen, tcp=a.tcp, seconds=a.seconds, count=a.count, save=a.save, quiet=a.quiet))
    return 0


def _add_doctor(sub: argparse._SubParsersAction) -> None:
    from .doctor import DoctorConfig

    d = DoctorConfig()
    p = sub.add_parser("doctor", help="what will work on this machine, and how to fix what will not")
    p.add_argument("--listen", default=d.listen, metavar="HOST:PORT", help=f"control port to check (default {d.listen})")
    p.add_argument("--web", default=d.web, metavar="HOST:PORT", help=f"web port to check (default {d.web})")


@command("doctor")
def cmd_doctor(a: argparse.Namespace) -> int:
    from .doctor import DoctorConfig, diagnose, report

    return report(diagnose(DoctorConfig(listen=a.listen, web=a.web)))


# --------------------------------------------------------------------------- entry point

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ganplug", description="Train GANs, export them to ONNX and play them live over OSC.")
    p.add_argument("--version", action="version", version=f"ganplug {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (_add_train, _add_export, _add_eval, _add_dataset, _add_serve, _add_render, _add_info, _add_receive, _add_bench, _add_doctor):
        add(sub)
    return p


class _Format(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        prefix = "ganplug: warning: " if record.levelno >= logging.WARNING else "ganplug: "
        return prefix + record.getMessage()


def _setup_logging(level: int) -> None:
    """Our messages, one line each, on stderr; other libraries' chatter stays out."""
    root = logging.getLogger("ganplug")
    if not any(getattr(h, "_ganplug", False) for h in root.handlers):
        h = logging.StreamHandler(sys.stderr)
        h.setFormatter(_Format())
        h._ganplug = True  # type: ignore[attr-defined]
        root.addHandler(h)
    root.setLevel(level)
    root.propagate = False


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    a = parser.parse_args(argv)
    _setup_logging(logging.DEBUG if a.verbose else logging.INFO)
    try:
        return COMMANDS[a.command](a)
    except GanplugError as e:
        print(f"ganplug {a.command}: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print(f"ganplug {a.command}: stopped", file=sys.stderr)
        return 130
    except ModuleNotFoundError as e:
        if e.name in ("torch", "onnx", "onnxscript"):
            print(f"ganplug {a.command}: error: needs {e.name}; install the training extra: pip install 'ganplug[train]'", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
