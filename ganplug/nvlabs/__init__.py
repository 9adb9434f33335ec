"""Import of NVlabs StyleGAN2 / StyleGAN2-ADA / StyleGAN3 network pickles (``network-snapshot-*.pkl``).

Nothing from the file is ever run: :mod:`.unpickle` reads it with an explicit allow-list of
globals and keeps the embedded module source as a plain string; :mod:`.rebuild` builds
ganplug's own PyTorch modules (:mod:`.stylegan2`, :mod:`.stylegan3`) from the pickled
constructor arguments and tensors; :mod:`.export` writes a contract ONNX file after a parity
check. See docs/importing.md.
"""

from __future__ import annotations

from .unpickle import SnapshotError, is_snapshot

__all__ = ["SnapshotError", "is_snapshot"]
