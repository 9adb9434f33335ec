"""Which models the show wants on screen, by name: the playing one (A), a second one (B) and their mix.

This is state only, set through the table (``/ganplug/model/load``, ``/ganplug/model/b``,
``/ganplug/model/mix``) and captured by presets. The runtime
(:class:`ganplug.runtime.models.Models`) loads what is chosen on a worker thread and switches
between frames; when a load fails it puts the choice back to what plays.
"""

from __future__ import annotations

from typing import Iterable

from .spec import BadMessage

SLOTS = ("a", "b")


class ModelChoice:
    """The chosen models. ``names`` are the playable ones (file names without ``.onnx``); paths never appear."""

    def __init__(self, names: Iterable[str], first: str, b: str = "", mix: float = 0.0):
        self.names = tuple(sorted(set(names) | {first}))
        self.a, self.b, self.mix = first, "", float(mix)
        if b:
            self.choose("b", b)

    def playable(self, name: str, slot: str = "a") -> bool:
        """Whether ``name`` may be chosen for ``slot`` (B also takes "" for none)."""
        return name in self.names or (slot == "b" and name == "")

    def choose(self, slot: str, name: str) -> None:
        """Choose ``name`` for slot ``a`` or ``b``; a name that is not a model of the folder is a BadMessage."""
        if slot not in SLOTS:
            raise ValueError(slot)
        if not self.playable(name, slot):
            shown = ", ".join(self.names[:12]) + (", …" if len(self.names) > 12 else "")
            raise BadMessage(f"no model named {name[:40]!r} (playable: {shown}; serve --models DIR to play a folder)")
        setattr(self, slot, name)
