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
from .errors import ConfigError, ContractError, GanplugError

log = logging.getLogger("ganplug")

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}


def command(name: str):
    def deco(fn: Callable[[argparse.Namespace], int]):
        COMMANDS[name] = fn
        return fn
    return deco


# --------------------------------------------------------------------------- train, dataset, export

_TRAIN_FLAGS = {  # flag -> (TrainConfig field, type, help)
    "--resolution": ("resolution", int, "image size in pixels, a power of two (default 64)"),
    "--steps": ("steps", int, "total optimisation steps of the whole run (default 5000)"),
    "--batch": ("batch", int, "images per step, over all processes (default 32)"),
    "--arch": ("arch", str, "network architecture: style or dcgan (default style)"),
    "--z-dim": ("z_dim", int, "latent size (default 128)"),
    "--g-width": ("g_width", int, "generator width at full resolution, doubling per halving (default: dcgan 32, style 16)"),
    "--d-width": ("d_width", int, "discriminator base width (default: dcgan 32, style 16)"),
    "--map-layers": ("map_layers", int, "style: layers of the mapping network z -> w (default 2)"),
    "--lr-g": ("lr_g", float, "generator learning rate (default: dcgan 2e-4, style 2.5e-3)"),
    "--lr-d": ("lr_d", float, "discriminator learning rate (default: dcgan 2e-4, style 2.5e-3)"),
    "--r1-gamma": ("r1_gamma", float, "R1 penalty weight; 0 = off (default: dcgan 0, style 0.0002*resolution^2/batch)"),
    "--r1-interval": ("r1_interval", int, "steps between (lazy) R1 penalties (default 16)"),
    "--augment": ("augment", str, "ada (adaptive probability), fixed (--augment-p throughout) or off (default ada)"),
    "--augment-p": ("augment_p", float, "starting (ada) or constant (fixed) augmentation probability (default 0)"),
    "--augment-policy": ("augment_policy", str, "transforms, comma-separated: color,translation,cutout (default all)"),
    "--ada-target": ("ada_target", float, "ada: wanted mean sign of D on reals; above it, augment more (default 0.6)"),
    "--ada-kimg": ("ada_kimg", float, "ada: thousands of images for p to go from 0 to 1 at most (default 100)"),
    "--ema-kimg": ("ema_kimg", float, "half-life of the generator average in thousands of images; 0 = off (default 10)"),
    "--seed": ("seed", int, "training seed (default 0)"),
    "--fit": ("fit", str, "crop or pad non-square images (default crop)"),
    "--sample-every": ("sample_every", int, "steps between sample grids (default 500)"),
    "--checkpoint-every": ("checkpoint_every", int, "steps between checkpoints (default 1000)"),
    "--keep": ("keep", int, "checkpoints to keep (default 3)"),
    "--log-every": ("log_every", int, "steps between lines in metrics.jsonl (default 10)"),
    "--swd-every": ("swd_every", int, "steps between SWD measurements in metrics.jsonl; 0 = never (default 1000)"),
    "--swd-images": ("swd_images", int, "images per SWD measurement (default 512)"),
    "--device": ("device", str, "auto, cpu or cuda (default auto)"),
    "--threads": ("threads", int, "PyTorch CPU threads (default: all)"),
}
_TRAIN_SWITCHES = {  # --flag / --no-flag -> (TrainConfig field, help)
    "--mirror": ("mirror", "also train on horizontally mirrored images (default off)"),
    "--amp": ("amp", "mixed precision (default: on with CUDA, off on the CPU)"),
    "--channels-last": ("channels_last", "channels-last memory format (default: on with CUDA)"),
    "--tf32": ("tf32", "TensorFloat-32 matrix maths on CUDA (default on)"),
}


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a generator on a folder of images",
                       description="Train a generator. For several GPUs or machines, start it with "
                                   "torchrun --nproc_per_node N -m ganplug train ... (see docs/training.md).")
    p.add_argument("data", help="folder of images (searched recursively)")
    p.add_argument("--out", required=True, help="run folder for checkpoints, samples and logs")
    for flag, (_, typ, hlp) in _TRAIN_FLAGS.items():
        p.add_argument(flag, type=typ, default=None, help=hlp)
    for flag, (_, hlp) in _TRAIN_SWITCHES.items():
        p.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=hlp)
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its newest checkpoint")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


@command("train")
def cmd_train(a: argparse.Namespace) -> int:
    from .train.config import TrainConfig
    from .train.loop import resume_config, train

    fields = [f for f, _, _ in _TRAIN_FLAGS.values()] + [f for f, _ in _TRAIN_SWITCHES.values()]
    explicit = {f for f in fields if getattr(a, f) is not None}
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
    p = sub.add_parser("dataset", help="write the procedural image set used for the bundled model")
    p.add_argument("out", help="folder to write PNG images into")
    p.add_argument("--count", type=int, default=2000)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)


@command("dataset")
def cmd_dataset(a: argparse.Namespace) -> int:
    from .procedural import generate

    if a.count < 1 or a.size < 8:
        raise ConfigError("--count must be at least 1 and --size at least 8")
    paths = generate(Path(a.out), a.count, a.size, a.seed)
    print(f"wrote {len(paths)} images of {a.size}x{a.size} to {a.out}")
    return 0


def _add_export(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="write a checkpoint as a contract ONNX model")
    p.add_argument("source", help="run folder (newest checkpoint), checkpoint file, or NVlabs StyleGAN2/3 network pickle (.pkl)")
    p.add_argument("-o", "--output", help="ONNX file to write (default export/RUN_NAME.onnx)")
    p.add_argument("--dataset", help="description of the training data stored in the file")
    p.add_argument("--exporter", choices=("auto", "dynamo", "legacy"), default="auto",
                   help="auto: PyTorch's current (torch.export) exporter, falling back to the legacy one")
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
    p = sub.add_parser("eval", help="sliced Wasserstein distance (SWD) between a model's images and a folder")
    p.add_argument("source", help="contract ONNX model (no torch needed), run folder or checkpoint")
    p.add_argument("data", help="folder of real images (searched recursively)")
    p.add_argument("--images", type=int, default=2048, help="generated and (at most) real images compared (default 2048)")
    p.add_argument("--truncation", type=float, default=1.0, help="truncation ψ of the generated images (default 1)")
    p.add_argument("--fit", default="crop", help="crop or pad non-square real images (default crop)")
    p.add_argument("--seed", type=int, default=0, help="seed for the choice of real images and patches (default 0)")


@command("eval")
def cmd_eval(a: argparse.Namespace) -> int:
    from .evaluate import EvalConfig, evaluate

    rep = evaluate(EvalConfig(source=a.source, data=a.data, images=a.images, truncation=a.truncation, fit=a.fit, seed=a.seed))
    print(f"{rep.generated} generated vs {rep.real} real images at {rep.resolution} px")
    print(f"{'level':>8} {'SWD x1e3':>9}")
    for res, v in sorted(rep.swd.levels.items(), reverse=True):
        print(f"{f'{res}px':>8} {v:>9.2f}")
    print(f"{'mean':>8} {rep.swd.mean:>9.2f}")
    return 0


# --------------------------------------------------------------------------- serve, render, info, receive
# These never import torch: a performer's install has only onnxruntime, python-osc and numpy.

WALK_PARAMS = ("seed", "keyframes", "walk", "speed", "period", "bpm", "easing", "truncation")


def _add_param_flags(p: argparse.ArgumentParser, names: Sequence[str]) -> None:
    """One flag per performance parameter, from the address table (type, range, default, help)."""
    from .osc.addresses import PARAMS

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
    from .osc.addresses import PARAMS, BadMessage, check

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
        out[name] = values if spec.variadic else values[0]
    return out


def _add_engine_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="inference device (default auto: CUDA if available)")
    p.add_argument("--threads", type=int, default=0, help="onnxruntime threads (default: all cores but one)")
    p.add_argument("--spin", action="store_true", help="let onnxruntime threads spin-wait (faster engine, slower everything else)")
    g = p.add_argument_group("models made elsewhere (not following the ganplug contract); any of these turns it on")
    g.add_argument("--output-range", choices=("signed", "unit", "byte", "-1,1", "0,1", "0,255"), metavar="RANGE",
                   help="value range of the model's float image output: signed (-1..1, tanh), unit (0..1) or byte (0..255)")
    g.add_argument("--input-name", help="the latent input (default: the model's only input)")
    g.add_argument("--output-name", help="the image output (default: the first output)")
    g.add_argument("--z-dim", type=int, help="latent size, where the graph does not fix it")
    g.add_argument("--layout", choices=("nchw", "nhwc"), help="layout of the image output (default nchw)")


def _engine_config(a: argparse.Namespace):
    from .runtime.engine import EngineConfig
    from .runtime.foreign import ForeignSpec

    foreign = None
    if any(getattr(a, k) is not None for k in ("output_range", "input_name", "output_name", "z_dim", "layout")):
        foreign = ForeignSpec(input_name=a.input_name, output_name=a.output_name, output_range=a.output_range or "signed",
                              z_dim=a.z_dim, layout=a.layout or "nchw")
    return EngineConfig(device=a.device, threads=a.threads, spinning=a.spin, foreign=foreign)


def _engine(a: argparse.Namespace):
    from .runtime.engine import Engine, default_model_path

    return Engine(a.model or str(default_model_path()), _engine_config(a))


def _add_serve(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="play a model live: frames out over OSC, control in over OSC")
    p.add_argument("model", nargs="?", help="contract ONNX model (default: the bundled model)")
    p.add_argument("--send", action="append", metavar="[tcp://]HOST:PORT",
                   help="frame destination, repeatable; udp by default, tcp:// for OSC-over-TCP (default 127.0.0.1:9001)")
    p.add_argument("--listen", default="127.0.0.1:9000", metavar="HOST:PORT", help="control port, UDP and TCP (default 127.0.0.1:9000)")
    p.add_argument("--no-tcp-control", action="store_true", help="listen for control on UDP only")
    p.add_argument("--allow", action="append", default=[], metavar="ADDR[/BITS]", help="accept control only from these addresses (repeatable)")
    p.add_argument("--max-datagram", type=int, default=8192, help="largest UDP datagram sent, bytes (default 8192)")
    p.add_argument("--snapshots", default="snapshots", help="folder for /ganplug/snapshot PNGs (default ./snapshots)")
    p.add_argument("--presets", default="presets", help="folder for presets (default ./presets)")
    p.add_argument("--state-hz", type=float, default=5.0, help="/ganplug/state messages per second (default 5)")
    p.add_argument("--seconds", type=float, default=None, help="stop after this many seconds (default: run until Ctrl-C)")
    _add_param_flags(p, WALK_PARAMS + ("sync", "blend", "pause", "fps"))
    g = p.add_argument_group("playing it like an instrument (docs/instrument.md)")
    g.add_argument("--audio", metavar="FILE.wav|DEVICE", help="audio input: a WAV file played in a loop, or a sound device (name or index)")
    g.add_argument("--audio-map", action="append", default=[], metavar="FEATURE:ADDRESS[:LO:HI]",
                   help="drive an address from level, bass, mid, high (scaled into LO..HI) or onset (a trigger), repeatable; "
                        "e.g. bass:speed:0.5:3, onset:next")
    g.add_argument("--no-audio-out", action="store_true", help="do not send /ganplug/audio/... to the destinations")
    g.add_argument("--link", action="store_true", help="join an Ableton Link session for tempo and beat (turns on sync)")
    g.add_argument("--midi", metavar="PORT|virtual:NAME", help="MIDI input port (or a new virtual port)")
    g.add_argument("--midi-map", metavar="FILE.json", help="MIDI bindings; /ganplug/midi/learn adds to it")
    w = p.add_argument_group("web surface and OSCQuery (docs/web.md)")
    w.add_argument("--web", nargs="?", const="127.0.0.1:9002", default=None, metavar="HOST:PORT",
                   help="serve the control page at /ui/ and OSCQuery at / on this HTTP port (bare --web: 127.0.0.1:9002)")
    w.add_argument("--web-token", metavar="TOKEN", help="the page and its WebSocket answer 403 without ?token=TOKEN")
    w.add_argument("--zeroconf", action="store_true", help="advertise OSCQuery as _oscjson._tcp (needs: pip install 'ganplug[zeroconf]')")
    _add_engine_flags(p)


@command("serve")
def cmd_serve(a: argparse.Namespace) -> int:
    from .instrument.live import InstrumentConfig
    from .runtime.server import ServeConfig, Server

    if a.state_hz <= 0:
        raise ConfigError("--state-hz must be positive")
    if (a.web_token is not None or a.zeroconf) and a.web is None:
        raise ConfigError("--web-token and --zeroconf need --web")
    if a.web is not None:
        from .web.server import check_token

        check_token(a.web_token)
        if a.zeroconf:
            from .web.advertise import require

            require()
    engine = _engine(a)
    instrument = InstrumentConfig(audio=a.audio, audio_map=tuple(a.audio_map), audio_out=not a.no_audio_out, link=a.link,
                                  midi=a.midi, midi_map=a.midi_map)
    cfg = ServeConfig(sends=tuple(a.send or ("127.0.0.1:9001",)), listen=a.listen, tcp_control=not a.no_tcp_control,
                      allow=tuple(a.allow), max_datagram=a.max_datagram, snapshots=a.snapshots, presets=a.presets,
                      state_hz=a.state_hz, seconds=a.seconds, instrument=instrument,
                      initial=tuple(_param_values(a, WALK_PARAMS + ("sync", "blend", "pause", "fps")).items()))
    server = Server(engine, cfg)
    web = None
    if a.web is not None:
        from .web import WebConfig, WebSurface

        web = WebSurface(server, WebConfig(listen=a.web, token=a.web_token, zeroconf=a.zeroconf, state_hz=a.state_hz))
    info = engine.info
    host, port = server.listener.address
    print(f"serving {info.path} ({info.resolution}x{info.resolution}x{info.channels}, {info.architecture}) on {engine.provider}; "
          f"frames to {', '.join(str(d) for d in server.destinations) or 'nobody yet'}; "
          f"control on {'udp+tcp' if cfg.tcp_control else 'udp'} {host}:{port}", flush=True)
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
    print(f"stopped after {server.published} frames; {server.outbox.replaced} replaced before sending; "
          f"largest gap between frames {server.max_gap * 1e3:.1f} ms", flush=True)
    return 0


def _add_render(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("render", help="render a walk offline to PNG frames, a video or a GIF")
    p.add_argument("model", nargs="?", help="contract ONNX model (default: the bundled model)")
    p.add_argument("-o", "--output", required=True, help="folder for PNG frames, or a .mp4/.gif/... file")
    p.add_argument("--seconds", type=float, default=None, help="length (default: one period for loop and noise, else 10)")
    p.add_argument("--fps", type=float, default=30.0, help="frames per second (default 30)")
    p.add_argument("--start", type=float, default=0.0, help="walk time of the first frame, in seconds (default 0)")
    p.add_argument("--batch", type=int, default=1, help="frames per engine run (default 1; larger helps where `ganplug bench` shows it)")
    p.add_argument("--direction", type=int, metavar="N", help="move along semantic direction N of the model (see ganplug info)")
    p.add_argument("--amount", type=float, default=3.0, help="how far along --direction, in standard deviations (default 3)")
    p.add_argument("--sweep", action="store_true", help="with --direction: sweep from -amount to +amount and back over the clip")
    p.add_argument("--class", dest="class_index", type=int, metavar="K", help="class-conditional models: draw class K (default 0)")
    _add_param_flags(p, WALK_PARAMS)
    p.add_argument("--no-progress", action="store_true")
    _add_engine_flags(p)


def _walk_params(values: dict):
    from .runtime.walk import WalkParams

    from .osc.addresses import defaults
    from .runtime.walk import period_seconds

    fields = {"walk": "mode", "seed": "seed", "keyframes": "keyframes", "easing": "easing"}
    kw = {fields[k]: (tuple(v) if k == "keyframes" else v) for k, v in values.items() if k in fields}
    d = defaults()
    kw["period"] = period_seconds(values.get("period", d["period"]), values.get("bpm", d["bpm"]))
    return WalkParams(**kw)


@command("render")
def cmd_render(a: argparse.Namespace) -> int:
    from .runtime.render import RenderConfig, render

    values = _param_values(a, WALK_PARAMS)
    if a.seconds is not None and a.seconds <= 0:
        raise ConfigError("--seconds must be positive")
    if not a.threads:  # offline there is no sender to leave room for
        a.threads = os.cpu_count() or 1
    engine = _engine(a)
    if a.class_index is not None:
        engine.set_class(a.class_index)
    extra = {k: values[k] for k in ("speed", "truncation") if k in values}
    if a.sweep and a.direction is None:
        raise ConfigError("--sweep needs --direction N")
    cfg = RenderConfig(output=a.output, walk=_walk_params(values), seconds=a.seconds, fps=a.fps, start=a.start,
                       batch=a.batch, direction=a.direction, amount=a.amount, sweep=a.sweep, progress=not a.no_progress, **extra)
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
    from . import contract

    try:
        engine = _engine(a)
    except ContractError:
        if not _info_part(a.model):
            raise
        return 0
    info = engine.info
    _print_graph(info.path, f"version {info.contract}", engine.session, info.metadata)
    d = contract.directions(info)
    if d is not None:
        print(f"directions {len(d)} in z (/ganplug/direction/0..{len(d) - 1})")
    print(f"parameters {_parameter_count(info)}")
    print(f"provider   {engine.provider}")
    if a.bench:
        from .runtime.bench import bench_engine

        for row in bench_engine(engine, (1, 4), 20, engine.provider):
            print(f"bench      batch {row.batch}: {row.frames_per_s:.1f} frames/s, {row.p50_ms:.2f} ms per run (median)")
    return 0


def _info_part(path: str | None) -> bool:
    """Describe one half of a split export (which no server plays alone); False if it is not one."""
    import onnxruntime as ort

    from . import contract

    if not path:
        return False
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    try:
        session = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    except Exception:
        return False
    meta = session.get_modelmeta().custom_metadata_map
    if contract.META_PART not in meta:
        return False
    _print_graph(path, f"version {meta.get(contract.META_PREFIX + 'contract')}, {meta[contract.META_PART]} half of a split export",
                 session, meta)
    return True


def _print_graph(path: str, contract_line: str, session, meta: dict) -> None:
    """The first lines of `ganplug info`: file, contract, inputs, outputs, metadata."""
    print(f"model      {path} ({Path(path).stat().st_size / 1e6:.2f} MB)")
    print(f"contract   {contract_line}")
    for i in session.get_inputs():
        print(f"input      {i.name} {i.type} {i.shape}")
    for o in session.get_outputs():
        print(f"output     {o.name} {o.type} {o.shape}")
    for k, v in sorted(meta.items()):
        print(f"metadata   {k} = {v if len(v) <= 100 else f'<{len(v)} characters>'}")


def _parameter_count(info) -> str:
    """From the export's metadata, else by reading the graph with onnx (when installed)."""
    from . import contract

    known = info.metadata.get(contract.META_PREFIX + "parameters")
    if known:
        return f"{int(known):,}"
    try:
        import onnx
        from onnx import numpy_helper
    except ModuleNotFoundError:
        return "unknown (install onnx to count them)"
    m = onnx.load(info.path, load_external_data=False)
    return f"{sum(numpy_helper.to_array(t).size for t in m.graph.initializer):,} (every initializer of the graph)"


def _add_bench(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="frames/s and latency per provider and batch size")
    p.add_argument("model", nargs="?", help="contract ONNX model (default: the bundled model)")
    p.add_argument("--batches", type=int, nargs="+", default=[1, 2, 4, 8], help="batch sizes (default 1 2 4 8)")
    p.add_argument("--runs", type=int, default=30, help="timed runs per row (default 30)")
    p.add_argument("--checkpoint", help="also time PyTorch eager on this run folder or checkpoint (needs torch)")
    _add_engine_flags(p)


@command("bench")
def cmd_bench(a: argparse.Namespace) -> int:
    from .runtime.bench import bench_engine, bench_torch, engine_variants, table
    from .runtime.engine import default_model_path

    if a.runs < 1 or any(b < 1 for b in a.batches):
        raise ConfigError("--runs and --batches must be at least 1")
    model = a.model or str(default_model_path())
    rows = []
    variants = engine_variants(model, _engine_config(a))
    info = variants[0][1].info
    print(f"{model}: {info.resolution}x{info.resolution}x{info.channels} {info.architecture}, z_dim {info.z_dim}", flush=True)
    for label, engine in variants:
        rows += bench_engine(engine, a.batches, a.runs, label)
    if a.checkpoint:
        rows += bench_torch(a.checkpoint, a.batches, a.runs, a.threads)
    print(table(rows))
    return 0


def _add_receive(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("receive", help="receive frames (as an app would), report the rate, optionally save them")
    p.add_argument("--listen", default="127.0.0.1:9001", metavar="HOST:PORT", help="where frames arrive (default 127.0.0.1:9001)")
    p.add_argument("--tcp", action="store_true", help="accept OSC over TCP (length-prefixed) instead of UDP")
    p.add_argument("--seconds", type=float, default=None, help="stop after this many seconds")
    p.add_argument("--count", type=int, default=None, help="stop after this many complete frames")
    p.add_argument("--save", metavar="DIR", help="save every complete frame as PNG in DIR")
    p.add_argument("--quiet", action="store_true", help="print only the summary")


@command("receive")
def cmd_receive(a: argparse.Namespace) -> int:
    import time

    from .addr import host_port
    from .osc.receive import FrameReceiver

    host, port = host_port(a.listen)
    save = Path(a.save) if a.save else None
    if save:
        save.mkdir(parents=True, exist_ok=True)
    with FrameReceiver(host, port, "tcp" if a.tcp else "udp") as rx:
        print(f"listening for frames on {'tcp' if a.tcp else 'udp'} {rx.address[0]}:{rx.address[1]}", flush=True)
        first = last = t_last_frame = None
        n = n_last = 0
        shape = None
        try:
            for f in rx.frames(seconds=a.seconds, count=a.count):
                n += 1
                shape = (f.width, f.height, f.channels)
                t_last_frame = time.monotonic()
                if first is None:
                    first = last = t_last_frame
                if save:
                    from PIL import Image

                    Image.fromarray(f.pixels.squeeze(-1) if f.channels == 1 else f.pixels).save(save / f"frame-{f.frame_id:08d}.png")
                now = time.monotonic()
                if now - last >= 1.0 and not a.quiet:
                    print(f"{(n - n_last) / (now - last):6.1f} frames/s  {shape[0]}x{shape[1]}x{shape[2]}  "
                          f"complete {rx.assembler.completed}  dropped {rx.assembler.dropped}", flush=True)
                    last, n_last = now, n
        except KeyboardInterrupt:
            pass
        # The rate runs from the first complete frame to the last, so waiting for a sender does not count.
        dt = (t_last_frame - first) if n > 1 else 0.0
        rate = (n - 1) / dt if dt > 0 else 0.0
        print(f"received {n} complete frames in {dt:.2f} s ({rate:.1f} frames/s); dropped {rx.assembler.dropped} incomplete, "
              f"rejected {rx.assembler.rejected + rx.malformed} malformed", flush=True)
    return 0


# --------------------------------------------------------------------------- entry point

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ganplug", description="Train GANs, export them to ONNX and play them live over OSC.")
    p.add_argument("--version", action="version", version=f"ganplug {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (_add_train, _add_export, _add_eval, _add_dataset, _add_serve, _add_render, _add_info, _add_receive, _add_bench):
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
