"""The metadata table of ``export/README.md``, generated from :class:`ModelMetadata`.

``python -m ganplug.contract_docs export/README.md`` rewrites the block between the
markers; a test fails when the document and the dataclass disagree.
"""

from __future__ import annotations

import sys
from dataclasses import fields
from pathlib import Path

from .contract import ModelMetadata

BEGIN, END = "<!-- metadata:begin -->", "<!-- metadata:end -->"


def table() -> str:
    """One row per metadata key, in the dataclass's order."""
    rows = ["| key | required | meaning |", "|---|---|---|"]
    for f in fields(ModelMetadata):
        required = "yes" if f.metadata["required"] else "no"
        rows.append(f"| `{ModelMetadata.key(f.name)}` | {required} | {f.metadata['doc']} |")
    return "\n".join(rows) + "\n"


def render_into(text: str) -> str:
    """``text`` with the block between the markers replaced by the current table."""
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}\n{table()}{END}{tail}"


if __name__ == "__main__":
    path = Path(sys.argv[1] if len(sys.argv) > 1 else "export/README.md")
    path.write_text(render_into(path.read_text()))
