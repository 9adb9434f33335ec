"""The control surface's HTTP routes: seed and preset thumbnails, and the list of presets.

``/ui/thumb/SEED.jpg?psi=X``  a seed at truncation ψ (cached: the picture never changes for a model)
``/ui/presets``               the preset folder's names: ``{"presets": [{"name", "version"}, ...]}``
``/ui/preset/NAME.jpg?v=V``   the picture a preset starts from (``V`` from the list: it changes with the file)

The web server applies the page's rules first (``--allow``, the token, the Host and Origin checks);
these functions only answer. Rendering happens on :class:`~ganplug.web.thumbs.Thumbnails`' thread.
"""

from __future__ import annotations

import asyncio
import http
import json
import os
import re
import stat
from pathlib import Path

from websockets.datastructures import Headers
from websockets.http11 import Response

from ..show import files
from ..show.spec import BadMessage
from ..show.table import PARAMS
from .thumbs import Busy, Thumbnails

THUMB = re.compile(r"^/ui/thumb/(\d{1,10})\.jpg$")
PRESET = re.compile(r"^/ui/preset/([^/]{1,80})\.jpg$")
PRESETS = "/ui/presets"
MAX_LISTED = 200  # presets in the list: more than any pad grid shows
IMMUTABLE = "private, max-age=86400"  # a seed's picture changes only with the model (the page puts its name in the URL)


def is_route(path: str) -> bool:
    """Whether ``path`` is one of these routes (they need what the page needs)."""
    return path == PRESETS or path.startswith(("/ui/thumb/", "/ui/preset/"))


def respond(status: int, body: bytes, ctype: str, cache: str = "no-store", extra: tuple = ()) -> Response:
    headers = Headers([("Content-Type", ctype), ("Content-Length", str(len(body))), ("Cache-Control", cache),
                       ("X-Content-Type-Options", "nosniff"), ("Connection", "close"), *extra])
    return Response(status, http.HTTPStatus(status).phrase, headers, body)


def text(status: int, message: str) -> Response:
    return respond(status, message.encode(), "text/plain; charset=utf-8")


def parse_psi(query: dict[str, list[str]]) -> float | None:
    """ψ from ``?psi=``, clamped to the table's range and rounded to 0.01 (so caches meet); None if not a number."""
    arg = PARAMS["truncation"].args[0]
    try:
        psi = float(query.get("psi", [PARAMS["truncation"].default])[0])
    except ValueError:
        return None
    if psi != psi:
        return None
    return round(min(max(psi, arg.lo), arg.hi), 2)


def list_presets(folder: str | Path) -> list[dict[str, str]]:
    """The presets ``/ganplug/preset/load`` would accept by name: valid names, regular files, inside the folder."""
    out = []
    try:
        names = sorted(e.name for e in os.scandir(folder) if e.name.endswith(".json"))
    except OSError:
        return []
    for fname in names:
        try:
            path = files.preset_path(folder, fname[:-5])
            st = os.stat(path)
        except (BadMessage, OSError):
            continue
        if stat.S_ISREG(st.st_mode):
            out.append({"name": fname[:-5], "version": f"{st.st_mtime_ns:x}-{st.st_size:x}"})
        if len(out) >= MAX_LISTED:
            break
    return out


async def answer(thumbs: Thumbnails, presets: str, path: str, query: dict[str, list[str]]) -> Response:
    """The response to one of these routes (after the page's checks have passed)."""
    if path == PRESETS:
        listed = await asyncio.to_thread(list_presets, presets)
        return respond(200, json.dumps({"presets": listed}).encode(), "application/json")
    seed, preset = THUMB.match(path), PRESET.match(path)
    try:
        if seed:
            psi = parse_psi(query)
            if psi is None or int(seed.group(1)) > PARAMS["seed"].args[0].hi:
                return text(404, "no such thumbnail\n")
            fut, cache = thumbs.seed(int(seed.group(1)), psi), IMMUTABLE
        elif preset:
            fut, cache = thumbs.preset(files.preset_path(presets, preset.group(1)), preset.group(1)), \
                ("private, max-age=86400" if "v" in query else "no-cache")
        else:
            return text(404, "not found\n")
        body = await asyncio.wrap_future(fut)
    except Busy:
        return respond(503, b"busy: ask again\n", "text/plain; charset=utf-8", extra=(("Retry-After", "1"),))
    except (BadMessage, FileNotFoundError) as e:
        return text(404, f"{str(e)[:120] or 'no such preset'}\n")
    except OSError as e:
        return text(404, f"unreadable: {e.strerror or e}\n")
    except Exception as e:  # the thumbnail engine failed: that thumbnail is missing, the show goes on
        return text(500, f"thumbnail failed: {type(e).__name__}\n")
    return respond(200, body, "image/jpeg", cache)
