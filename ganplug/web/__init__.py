"""The browser control surface and OSCQuery, served on one HTTP port by ``ganplug serve --web``."""

from .server import WebConfig, WebSurface

__all__ = ["WebConfig", "WebSurface"]
