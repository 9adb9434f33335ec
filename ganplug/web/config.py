"""The web surface's settings, apart from the server so the command line reads defaults without loading it."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import ConfigError

TOKEN_CHARS = re.compile(r"^[A-Za-z0-9._~-]{1,128}$")
JPEG_QUALITY = 85


def check_token(token: str | None) -> None:
    """A token must survive a URL unescaped."""
    if token is not None and not TOKEN_CHARS.match(token):
        raise ConfigError("--web-token: use 1 to 128 letters, digits, '.', '_', '~' or '-'")


@dataclass(frozen=True)
class WebConfig:
    listen: str = "127.0.0.1:9002"
    token: str | None = None
    zeroconf: bool = False
    state_hz: float = 5.0  # state pushes to each page per second
    quality: int = JPEG_QUALITY
