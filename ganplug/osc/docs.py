"""The address table of ``docs/protocol.md``, generated from :data:`ADDRESSES`.

``python -m ganplug.osc.docs docs/protocol.md`` rewrites the block between the
markers; a test fails when the document and the table disagree.
"""

from __future__ import annotations

from ..generated import rewrite, splice
from ..show.table import ADDRESSES, Arg, Spec

BEGIN, END = "<!-- addresses:begin -->", "<!-- addresses:end -->"


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _arg(a: Arg, variadic: bool) -> str:
    text = f"{a.type}:{a.name}"
    if a.choices:
        text += " (" + "\\|".join(a.choices) + ")"
    elif a.lo is not None and a.hi is not None:
        text += f" [{_num(a.lo)}, {_num(a.hi)}]"
    return text + (" …" if variadic else "")


def _row(s: Spec) -> str:
    args = ", ".join(_arg(a, s.variadic) for a in s.args) or "—"
    default = "" if s.kind != "param" else f"`{s.default!r}`"
    return f"| `{s.address}` | {args} | {default} | {s.doc} |"


def table() -> str:
    parts = []
    for kind, title in (("param", "Performance state (in, saved in presets)"), ("command", "Commands (in)"), ("out", "Sent by the server")):
        parts.append(f"### {title}\n\n| address | arguments | default | meaning |\n|---|---|---|---|")
        parts.extend(_row(s) for s in ADDRESSES if s.kind == kind)
        parts.append("")
    return "\n".join(parts)


def render_into(text: str) -> str:
    """``text`` with the block between the markers replaced by the current table."""
    return splice(text, BEGIN, END, table())


if __name__ == "__main__":
    rewrite(render_into, "docs/protocol.md")
