"""The web surface: one HTTP port for the control page, its WebSocket and OSCQuery.

It runs on its own thread with its own asyncio loop (the ``websockets`` package serves
plain HTTP through ``process_request`` and upgrades ``/ui/ws`` to a WebSocket). It never
blocks the render loop:

- frames: the render thread only stores a reference to the newest frame and wakes this
  loop; a frame is encoded (JPEG, PNG for RGBA) on a worker thread once per frame id, and
  only when some page is ready for it;
- flow control: a page acknowledges each frame it has drawn, and gets the newest frame only
  after its acknowledgement, so a slow page gets fewer frames and nothing queues;
- control: page messages become :class:`~ganplug.show.inbox.Event`s in the show's inbox —
  the path OSC takes — and replies (errors, pongs) come back to the page.

Frames reach this surface as a frame sink (:mod:`ganplug.runtime.sinks`) on a thread of its own.
"""

from __future__ import annotations

import asyncio
import hmac
import http
import inspect
import io
import ipaddress
import json
import logging
import struct
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Awaitable
from urllib.parse import parse_qs, unquote, urlsplit

import numpy as np
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from .. import __version__
from ..addr import host_port
from ..errors import ConfigError
from ..logs import LogThrottle
from ..net import bind_tcp
from ..osc.receive import messages_of
from ..show.inbox import Event
from ..show.reply import error_packet
from ..show.table import ERROR, INBOUND
from . import oscquery, surface
from .listen import ListenSession
from .config import JPEG_QUALITY, WebConfig, check_origins, check_token
from .thumbs import Thumbnails

if TYPE_CHECKING:
    from ..contract import ModelInfo
    from ..runtime.server import Server

log = logging.getLogger("ganplug.web")

STATIC = Path(__file__).parent / "static"
PAGE_FILES = {"/ui/": ("index.html", "text/html; charset=utf-8"), "/ui/app.js": ("app.js", "text/javascript; charset=utf-8"),
              "/ui/app.css": ("app.css", "text/css; charset=utf-8"), "/ui/surface.js": ("surface.js", "text/javascript; charset=utf-8")}
WS_PATH = "/ui/ws"
PROTECTED = ("/ui/", WS_PATH)  # what the token guards: the frames and the controls; app.js and app.css are public code
FRAME_HEADER = struct.Struct(">IHHBBH")  # frame id, width, height, channels, format (0 JPEG, 1 PNG), reserved
FORMAT_JPEG, FORMAT_PNG = 0, 1
MAX_MESSAGE = 256 * 1024  # a page message: /ganplug/z with 4096 floats fits
LISTEN_PERIOD = 0.05  # seconds between checks for changed values on OSCQuery LISTEN channels
MAX_REPLIES = 64  # replies queued for one page before the oldest are dropped


def page_table(z_dim: int) -> list[dict[str, Any]]:
    """Every inbound address, as the page builds its controls from it."""
    out = []
    for spec in INBOUND.values():
        item = {"address": spec.address, "name": spec.name, "kind": spec.kind, "doc": spec.doc, "default": spec.default,
                "variadic": spec.variadic, "max_items": spec.max_items, "indexed": spec.indexed,
                "args": [{"name": a.name, "type": a.type, "lo": a.lo, "hi": a.hi, "choices": list(a.choices)} for a in spec.args]}
        if spec.variadic:
            item["count"] = oscquery.value_count(spec, z_dim) if spec.name == "z" else None
            item["max_items"] = min(spec.max_items, z_dim) if spec.name == "z" else spec.max_items
        if spec.indexed:
            item["index_max"] = z_dim - 1
        out.append(item)
    return out


def encode_frame(pixels: np.ndarray, quality: int = JPEG_QUALITY) -> tuple[int, bytes]:
    """(format, image bytes) for one HxWxC uint8 frame: JPEG, or PNG where there is alpha."""
    from PIL import Image

    buf = io.BytesIO()
    if pixels.shape[-1] == 4:
        Image.fromarray(pixels, "RGBA").save(buf, "PNG", compress_level=1)
        return FORMAT_PNG, buf.getvalue()
    img = Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)
    img.save(buf, "JPEG", quality=quality)
    return FORMAT_JPEG, buf.getvalue()


def _jsonable(v: Any) -> Any:
    if isinstance(v, (bytes, bytearray)):
        return f"<{len(v)} bytes>"
    if isinstance(v, float) and v != v:
        return None
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    return str(v)


def _model_fields(info: "ModelInfo") -> dict[str, Any]:
    """A model as the page shows it (a :class:`~ganplug.contract.ModelInfo`)."""
    return {"name": Path(info.path).name, "resolution": info.resolution, "width": info.width, "height": info.height,
            "channels": info.channels, "z_dim": info.z_dim, "architecture": info.architecture}


def _local_name(host: str) -> bool:
    """Hosts a rebinding web page cannot name: IP literals, localhost, mDNS .local names."""
    h = host.strip("[]").lower()
    if h == "localhost" or h.endswith(".local"):
        return True
    try:
        ipaddress.ip_address(h)
        return True
    except ValueError:
        return False


class _Page:
    """One connected page (or sketch): its socket and its flow-control state."""

    def __init__(self, ws: ServerConnection, source: str):
        self.ws = ws
        self.source = source
        self.ready = True  # may be sent a frame: nothing unacknowledged is in flight
        self.last_sent: int | None = None
        self.wake = asyncio.Event()
        self.replies: asyncio.Queue[str] = asyncio.Queue(MAX_REPLIES)
        self.frames_sent = 0
        self.model_key: tuple[str, str] = ("", "")  # the models this page was last told of (WebSurface.playing)

    def push(self, text: str) -> None:
        if self.replies.full():
            self.replies.get_nowait()  # the newest replies matter most
        self.replies.put_nowait(text)


class WebFrames:
    """The web surface as a frame sink: stores the newest frame and wakes the page loop (never blocks)."""

    def __init__(self, surface: "WebSurface"):
        self.surface = surface
        self.name = f"web:{surface.url.split('?')[0]}"

    def send_frame(self, frame_id: int, pixels: np.ndarray, budget: float) -> None:
        self.surface.frame_ready(frame_id, pixels)

    def close(self) -> None:
        """Nothing to close: the surface closes its own socket."""


class WebSurface:
    """Serves the page, its WebSocket and OSCQuery for a :class:`~ganplug.runtime.server.Server`.

    The port is bound in the constructor (a taken port raises :class:`AddressInUseError`);
    ``start()`` runs the loop on its own thread; ``close()`` stops it.
    """

    def __init__(self, server: "Server", config: WebConfig = WebConfig()):
        self.server, self.config = server, config
        check_token(config.token)
        check_origins(config.origins)
        if config.zeroconf:
            from .advertise import require

            require()
        host, port = host_port(config.listen)
        self.sock = bind_tcp(host, port, 64, "serve the web surface on")
        self.address: tuple[str, int] = self.sock.getsockname()[:2]
        self.files = {path: ((STATIC / name).read_bytes(), ctype) for path, (name, ctype) in PAGE_FILES.items()}
        self.pages: set[_Page] = set()
        self.frames_encoded = 0
        self._latest: tuple[int, np.ndarray] | None = None
        self._wake_pending = False
        self._encoded: tuple[int, asyncio.Future] | None = None
        self._encoder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ganplug-web-encode")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Future | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ganplug-web", daemon=True)
        self._error: BaseException | None = None
        self.advertiser = None
        self._warn = LogThrottle(log)
        self.frames = WebFrames(self)
        self.thumbs = Thumbnails(lambda: server.models.engine, lambda: server.show.directions, server.show.check_preset)

    # ------------------------------------------------------------------ life cycle

    @property
    def url(self) -> str:
        host, port = self.address
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        shown = f"[{shown}]" if ":" in shown else shown
        return f"http://{shown}:{port}/ui/" + (f"?token={self.config.token}" if self.config.token else "")

    def start(self) -> "WebSurface":
        self._thread.start()
        if not self._ready.wait(10) or self._error is not None:
            raise ConfigError(f"the web surface did not start: {self._error or 'timed out'}")
        self.server.sinks.add(self.frames)
        return self

    def close(self) -> None:
        self.server.sinks.remove(self.frames)
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            try:
                self._loop.call_soon_threadsafe(lambda: self._stop.done() or self._stop.set_result(None))
            except RuntimeError:
                pass  # the loop has already finished
        if self._thread.is_alive():
            self._thread.join(5)
        self._encoder.shutdown(wait=False, cancel_futures=True)
        self.thumbs.close()
        self.sock.close()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        except BaseException as e:  # reported to start() or logged; the show goes on without the page
            self._error = e
            if self._ready.is_set():
                log.warning("web surface stopped: %s: %s", type(e).__name__, e)
            self._ready.set()
        finally:
            loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.get_running_loop().create_future()
        ws_log = logging.getLogger("ganplug.web.websockets")
        ws_log.setLevel(logging.ERROR)  # a client that hangs up mid-handshake is not news
        async with serve(self._session, sock=self.sock, process_request=self._process, logger=ws_log, compression=None,
                         max_size=MAX_MESSAGE, ping_interval=10, ping_timeout=20, close_timeout=1,
                         server_header=f"ganplug/{__version__}"):
            self._ready.set()
            announce = None
            if self.config.zeroconf:
                from .advertise import Advertiser

                # Probing the name takes a second or two: serve meanwhile.
                self.advertiser = Advertiser(self)
                announce = asyncio.create_task(self.advertiser.start())
            try:
                await self._stop
            finally:
                if announce is not None:
                    announce.cancel()
                    await asyncio.gather(announce, return_exceptions=True)
                    await self.advertiser.stop()

    # ------------------------------------------------------------------ frames (sink thread -> this loop)

    def frame_ready(self, frame_id: int, pixels: np.ndarray) -> None:
        """Called on this surface's sink thread for every published frame: store it, wake the loop once."""
        self._latest = (frame_id, pixels)
        if not self._wake_pending and self.pages and self._loop is not None:
            self._wake_pending = True
            try:
                self._loop.call_soon_threadsafe(self._wake_pages)
            except RuntimeError:
                pass  # the loop is closing

    def _wake_pages(self) -> None:
        self._wake_pending = False
        for page in self.pages:
            page.wake.set()

    async def _encoded_frame(self, frame_id: int, pixels: np.ndarray) -> bytes:
        """The message for a frame; encoded once per frame id, shared by every page."""
        if self._encoded is None or self._encoded[0] != frame_id:
            h, w, c = pixels.shape

            def work() -> bytes:
                fmt, data = encode_frame(pixels, self.config.quality)
                return FRAME_HEADER.pack(frame_id, w, h, c, fmt, 0) + data
            self._encoded = (frame_id, asyncio.get_running_loop().run_in_executor(self._encoder, work))
            self.frames_encoded += 1
        return await asyncio.shield(self._encoded[1])

    async def _send_frames(self, page: _Page) -> None:
        while True:
            await page.wake.wait()
            page.wake.clear()
            latest = self._latest
            if not page.ready or latest is None or latest[0] == page.last_sent:
                continue
            try:
                data = await self._encoded_frame(*latest)
            except Exception as e:  # a frame that cannot be encoded costs that frame, not the page
                self._warn(f"cannot encode frame {latest[0]}: {type(e).__name__}: {e}", key="encode")
                continue
            page.ready, page.last_sent = False, latest[0]
            await page.ws.send(data)
            page.frames_sent += 1

    # ------------------------------------------------------------------ state and replies (this loop -> page)

    def state(self) -> dict[str, Any]:
        """What the page shows: the performance state plus the /ganplug/state extras."""
        show = self.server.show
        perf = show.capture()
        held = perf.pop("latent", None) is not None
        return {"type": "state", "state": perf, "latent_held": held, "frame": show.newest_frame, "measured_fps": show.measured_fps,
                "time": show.walk_time, "destinations": len(self.server.subscriptions.destinations)}

    async def _send_text(self, page: _Page) -> None:
        period = 1.0 / max(self.config.state_hz, 0.5)
        next_state = time.monotonic()
        while True:
            wait = next_state - time.monotonic()
            try:
                text = await asyncio.wait_for(page.replies.get(), max(wait, 0.0)) if wait > 0 else None
            except asyncio.TimeoutError:
                text = None
            if text is None:
                await self._tell_model(page)
                text = json.dumps(self.state())
                next_state = max(next_state + period, time.monotonic())
            await page.ws.send(text)

    def _reply_to(self, page: _Page):
        """An Event's reply function: OSC packets from the reply thread, to JSON for the page."""
        loop = self._loop

        def reply(packet: bytes) -> None:
            try:
                msgs = messages_of(packet)
            except ValueError:
                return
            text = json.dumps({"type": "reply", "messages": [{"address": a, "args": [_jsonable(x) for x in args]} for a, args in msgs]})
            try:
                loop.call_soon_threadsafe(page.push, text)
            except RuntimeError:
                pass  # the web surface is closing; the page is gone
        return reply

    # ------------------------------------------------------------------ page -> server

    def _inject(self, page: _Page, address: str, args: tuple) -> None:
        if not self.server.inbox.put(Event(address, args, page.source, self._reply_to(page))):
            page.push(json.dumps({"type": "reply", "messages": [{"address": ERROR.address, "args": ["server busy: message dropped"]}]}))

    def _on_message(self, page: _Page, data: str | bytes) -> None:
        if isinstance(data, bytes):  # OSC over WebSocket: one packet per message
            try:
                msgs = messages_of(data)
            except ValueError:
                self._reply_to(page)(error_packet(f"malformed OSC packet ({len(data)} bytes)"))
                return
            for address, args in msgs:
                self._inject(page, address, tuple(args))
            return
        try:
            msg = json.loads(data)
            kind = msg.get("type")
        except (ValueError, AttributeError):
            self._reply_to(page)(error_packet("not a JSON object"))
            return
        if kind == "ack":
            page.ready = True
            page.wake.set()
        elif kind == "osc":
            address, args = msg.get("address"), msg.get("args", [])
            if not isinstance(address, str) or not isinstance(args, list) or \
                    not all(isinstance(a, (int, float, str, bool)) for a in args):
                self._reply_to(page)(error_packet("osc: needs an address and a list of numbers and strings"))
                return
            self._inject(page, address[:200], tuple(args))
        else:
            self._reply_to(page)(error_packet(f"unknown message type {str(kind)[:40]!r}"))

    def playing(self) -> tuple[tuple[str, str], "ModelInfo", "ModelInfo | None"]:
        """(key, A's info, B's info or None): the models on screen now, read once, so that key and infos
        describe the same moment of a switch (the render thread swaps models between frames)."""
        a, b = self.server.models.a.current, self.server.models.b.current
        a_info, b_info = a.engine.info, b.engine.info if b is not None else None
        return (a_info.path, b_info.path if b_info is not None else ""), a_info, b_info

    def model_fields(self, a: "ModelInfo", b: "ModelInfo | None") -> dict[str, Any]:
        """What hello and model messages say of the models: ``model`` (A, which the table follows),
        ``model_b`` (B or None), ``output`` (the shape every frame leaves in), the table for A's z_dim."""
        out = self.server.models.output
        return {"table": page_table(a.z_dim), "model": _model_fields(a), "model_b": _model_fields(b) if b is not None else None,
                "output": {"width": out.width, "height": out.height, "channels": out.channels, "fit": out.fit},
                "osc_port": self.server.listener.address[1]}

    def hello(self) -> dict[str, Any]:
        """The first message to a page: the models, the table, the state."""
        return {"type": "hello", "version": __version__, **self.model_fields(*self.playing()[1:]), "state": self.state()}

    async def _tell_model(self, page: _Page) -> None:
        """After a switch (A or B) since this page last heard: the new models and table, so it rebuilds without a reload."""
        key, a, b = self.playing()
        if key != page.model_key:
            page.model_key = key
            await page.ws.send(json.dumps({"type": "model", **self.model_fields(a, b)}))

    async def _session(self, ws: ServerConnection) -> None:
        if ws.request is not None and urlsplit(ws.request.path).path != WS_PATH:
            await self._listen_session(ws)
            return
        ip, port = ws.remote_address[:2]
        page = _Page(ws, f"web://{ip}:{port}")
        self.pages.add(page)
        log.info("page connected from %s", ip)
        tasks = []
        try:
            page.model_key, a, b = self.playing()
            await ws.send(json.dumps({"type": "hello", "version": __version__, **self.model_fields(a, b), "state": self.state()}))
            tasks = [asyncio.create_task(self._send_frames(page)), asyncio.create_task(self._send_text(page))]
            page.wake.set()
            async for data in ws:
                self._on_message(page, data)
        except ConnectionClosed:
            pass
        finally:
            self.pages.discard(page)
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            log.info("page from %s left after %d frames", ip, page.frames_sent)

    async def _listen_session(self, ws: ServerConnection) -> None:
        """An OSCQuery client's WebSocket: LISTEN/IGNORE in, changed values out as binary OSC.

        It only reads: control goes to the OSC port (HOST_INFO's OSC_PORT) or the page's WebSocket."""
        session = ListenSession()

        async def push() -> None:
            while True:
                await asyncio.sleep(LISTEN_PERIOD)
                if session.paths:
                    for packet in session.changes(self.server.show.capture()):
                        await ws.send(packet)
        task = asyncio.create_task(push())
        try:
            async for data in ws:
                if isinstance(data, str):
                    session.command(data)
        except ConnectionClosed:
            pass
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    # ------------------------------------------------------------------ HTTP

    def _token_ok(self, query: dict[str, list[str]]) -> bool:
        want = self.config.token
        if want is None:
            return True
        given = query.get("token", [""])[0]
        return hmac.compare_digest(given.encode(), want.encode())

    def _origin_ok(self, request: Request, websocket: bool) -> bool:
        """Without a token, only this server's own page, or a page ``--web-origin`` names, may control the show.

        Any web site a performer visits could otherwise open ws://127.0.0.1:PORT/ui/ws; a sandboxed
        iframe or a file sends ``Origin: null``, which names no one and is refused. The Host check
        keeps out DNS-rebinding pages, which reach us under a name of their own. A handshake without
        Origin is not from a browser (browsers always send it) and passes."""
        if self.config.token is not None:
            return True
        host = request.headers.get("Host", "")
        if not _local_name(urlsplit(f"//{host}").hostname or ""):
            return False
        if not websocket:
            return True
        origin = request.headers.get("Origin")
        if origin is None or origin in self.config.origins:
            return True
        o = urlsplit(origin)
        return o.scheme in ("http", "https") and o.netloc.lower() == host.lower()

    async def _process(self, connection: ServerConnection, request: Request) -> Response | None:
        """websockets' process_request: the surface's thumbnails are awaited here, everything else answers at once."""
        response = self._http(connection, request)
        return await response if inspect.isawaitable(response) else response

    def _http(self, connection: ServerConnection, request: Request) -> Response | Awaitable[Response] | None:
        """Everything but an accepted WebSocket: the page, OSCQuery, refusals. None = go on to the WebSocket."""
        url = urlsplit(request.path)
        path = unquote(url.path) or "/"
        ip = connection.remote_address[0]
        if not self.server.access.allowed(ip):  # --allow applies to the page as to OSC control
            return _text(403, "forbidden: this address is not in --allow\n")
        if request.method != "GET":
            return _text(405, "only GET\n", [("Allow", "GET")])
        if path == "/ui":
            return _text(302, "", [("Location", "/ui/" + (f"?{url.query}" if url.query else ""))])
        if path.startswith("/ui/"):
            return self._page_request(request, path, parse_qs(url.query))
        if "websocket" in request.headers.get("Upgrade", "").lower():  # OSCQuery's LISTEN channel
            return None if self._origin_ok(request, websocket=True) else _text(403, "forbidden: cross-site request\n")
        return self._oscquery(connection, path, url.query)

    def _page_request(self, request: Request, path: str, query: dict[str, list[str]]) -> Response | Awaitable[Response] | None:
        routed = surface.is_route(path)  # thumbnails and presets: guarded like the page, Origin checked like the WebSocket
        if path in PROTECTED or routed:
            if not self._token_ok(query):
                return _text(403, "forbidden: this page needs its token: open the address `ganplug serve` printed (…/ui/?token=…)\n")
            if not self._origin_ok(request, websocket=path == WS_PATH or routed):
                return _text(403, "forbidden: cross-site request; open the page from this server, or start with --web-token\n")
        if routed:
            return surface.answer(self.thumbs, self.server.show.folders.presets, path, query)
        if path == WS_PATH:
            if "websocket" not in request.headers.get("Upgrade", "").lower():
                return _text(426, "this is the page's WebSocket\n", [("Upgrade", "websocket")])
            return None
        if path not in self.files:
            return _text(404, "not found\n")
        body, ctype = self.files[path]
        return _response(200, body, ctype)

    def _oscquery(self, connection: ServerConnection, path: str, query: str) -> Response:
        """OSCQuery is a read-only description with live values: open to any client (see docs/web.md)."""
        attr = query.split("&")[0].split("=")[0] if query else ""
        if attr == "HOST_INFO":
            if path.rstrip("/") != "":
                return _text(400, "HOST_INFO is asked of /\n")
            return _json(oscquery.host_info(self._name(), self._osc_ip(connection), self.server.listener.address[1]))
        root = oscquery.namespace(self.server.info.z_dim, self.server.show.capture(), self._description())
        node = oscquery.find(root, path)
        if node is None:
            return _text(404, f"no OSC node at {path[:100]}\n")
        if not attr:
            return _json(node)
        if attr not in oscquery.ATTRIBUTES:
            return _text(400, f"unknown attribute {attr[:40]}\n")
        if attr not in node:
            return _response(204, b"", "application/json")
        return _json({attr: node[attr]})

    def _name(self) -> str:
        return f"ganplug {Path(self.server.info.path).stem}"

    def _description(self) -> str:
        info = self.server.info
        transports = "UDP and TCP" if self.server.listener.tcp is not None else "UDP"
        return (f"ganplug {__version__}: {Path(info.path).name} ({info.width}x{info.height}, z_dim {info.z_dim}); "
                f"control over OSC {transports} on port {self.server.listener.address[1]}")

    def _osc_ip(self, connection: ServerConnection) -> str:
        """Where a client should send OSC: the control host, or the address it reached us on."""
        host = self.server.listener.address[0]
        if host in ("0.0.0.0", "::"):
            host = connection.local_address[0]
            if host.startswith("::ffff:"):
                host = host[7:]
        return host


def _response(status: int, body: bytes, ctype: str, extra: list[tuple[str, str]] | None = None) -> Response:
    headers = Headers([("Content-Type", ctype), ("Content-Length", str(len(body))), ("Cache-Control", "no-store"),
                       ("X-Content-Type-Options", "nosniff"), ("Connection", "close")] + (extra or []))
    return Response(status, http.HTTPStatus(status).phrase, headers, body)


def _text(status: int, text: str, extra: list[tuple[str, str]] | None = None) -> Response:
    return _response(status, text.encode(), "text/plain; charset=utf-8", extra)


def _json(obj: Any) -> Response:
    # Any origin may read the description (a p5 sketch on another port asks for ranges).
    return _response(200, json.dumps(obj).encode(), "application/json", [("Access-Control-Allow-Origin", "*")])
