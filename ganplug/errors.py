"""Errors a user can act on.

Each subclass names one kind of failure. The CLI catches :class:`GanplugError`
at the edge and prints its message as a single line, so messages must read well
on their own: say what is wrong and, where it helps, what to do about it.
"""


class GanplugError(Exception):
    """Base class: a failure that is reported as one line, never a traceback."""

    exit_code = 2


class DataError(GanplugError):
    """The image folder is missing, empty or holds no usable images."""


class CheckpointError(GanplugError):
    """A checkpoint or run folder cannot be read or does not fit the request."""


class ModelFileError(GanplugError):
    """A model file cannot be read at all (missing, truncated, not ONNX)."""


class ContractError(GanplugError):
    """An ONNX file loads but breaks the ganplug model contract."""


class EngineError(GanplugError):
    """The model loads but keeps failing to run (out of GPU memory, a broken provider)."""


class ExportError(GanplugError):
    """Export failed, or the exported model does not match PyTorch."""


class AddressInUseError(GanplugError):
    """A port we were asked to listen on is taken."""


class ConfigError(GanplugError):
    """A command-line value or configuration that cannot work."""
