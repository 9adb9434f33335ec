"""The metadata table of ``export/README.md``, generated from :class:`ModelMetadata`.

``python -m ganplug.contract_docs export/README.md`` rewrites the block between the
markers; a test fails when the document and the dataclass disagree.
"""

from __future__ import annotations

from dataclasses import fields

from .contract import ModelMetadata
from .generated import rewrite, splice

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
    return splice(text, BEGIN, END, table())


if __name__ == "__main__":
    rewrite(render_into, "export/README.md")
