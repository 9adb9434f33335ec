"""The browser control surface and OSCQuery, served on one HTTP port by ``ganplug serve --web``."""

from typing import Any

from .config import WebConfig

__all__ = ["WebConfig", "WebSurface"]


def __getattr__(name: str) -> Any:
    # The surface loads websockets and asyncio: only when asked for, so reading WebConfig stays cheap.
    if name == "WebSurface":
        from .server import WebSurface

        return WebSurface
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
