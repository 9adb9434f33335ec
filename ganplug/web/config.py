"""The web surface's settings, apart from the server so the command line reads defaults without loading it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..errors import ConfigError

TOKEN_CHARS = re.compile(r"^[A-Za-z0-9._~-]{1,128}$")
JPEG_QUALITY = 85


def check_token(token: str | None) -> None:
    """A token must survive a URL unescaped."""
    if token is not None and not TOKEN_CHARS.match(token):
        raise ConfigError("--web-token: use 1 to 128 letters, digits, '.', '_', '~' or '-'")


def check_origins(origins: tuple[str, ...]) -> None:
    """Each ``--web-origin`` is exactly what a browser sends: ``http(s)://host[:port]``, nothing more."""
    for o in origins:
        u = urlsplit(o)
        if o == "null" or u.scheme not in ("http", "https") or not u.hostname or u.path or u.query or u.fragment \
                or o != o.lower() or o.endswith(":"):
            raise ConfigError(f"--web-origin {o[:80]!r}: give an origin as a browser sends it, like http://127.0.0.1:8000 "
                              "(lower case, no path; 'null' cannot be allowed: use --web-token for pages opened from a file)")


@dataclass(frozen=True)
class WebConfig:
    listen: str = "127.0.0.1:9002"
    token: str | None = None
    origins: tuple[str, ...] = ()  # --web-origin: other pages allowed on the WebSocket without a token
    zeroconf: bool = False
    state_hz: float = 5.0  # state pushes to each page per second
    quality: int = JPEG_QUALITY
