"""Tables in the docs that are generated from code: a block between two HTML-comment markers."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable


def splice(text: str, begin: str, end: str, block: str) -> str:
    """``text`` with what stands between the markers ``begin`` and ``end`` replaced by ``block``."""
    head, _, rest = text.partition(begin)
    _, _, tail = rest.partition(end)
    return f"{head}{begin}\n{block}{end}{tail}"


def rewrite(render_into: Callable[[str], str], default: str) -> None:
    """``python -m MODULE [FILE]``: rewrite FILE (``default`` when not given) in place."""
    path = Path(sys.argv[1] if len(sys.argv) > 1 else default)
    path.write_text(render_into(path.read_text()))
