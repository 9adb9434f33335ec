"""The transport sinks of this branch match the FrameSink interface of ganplug.runtime.sinks
(name, send_frame(frame_id, pixels, budget), close()) by shape, without importing it.
NdiSink is exercised for real in test_ndi.py, inside a private network namespace."""

import inspect
from typing import Protocol, runtime_checkable

import numpy as np
import pytest

from ganplug.transports.ndi import NdiSink
from ganplug.transports.shm import ShmSink


@runtime_checkable
class FrameSinkShape(Protocol):
    name: str

    def send_frame(self, frame_id: int, pixels: np.ndarray, budget: float) -> None: ...

    def close(self) -> None: ...


@pytest.mark.parametrize("cls", [ShmSink, NdiSink])
def test_signatures(cls):
    assert list(inspect.signature(cls.send_frame).parameters) == ["self", "frame_id", "pixels", "budget"]
    assert list(inspect.signature(cls.close).parameters) == ["self"]


def test_shm_sink_is_a_frame_sink_and_leaves_read_only_frames_alone():
    sink = ShmSink("gptest-shape")
    try:
        assert isinstance(sink, FrameSinkShape) and sink.name == "shm:gptest-shape"
        px = np.arange(4 * 4 * 3, dtype=np.uint8).reshape(4, 4, 3)
        px.flags.writeable = False  # the server hands frames over read-only
        sink.send_frame(0, px, 1 / 30)
        sink.send_frame(1, px, 0)
        assert sink.frames == 2
    finally:
        sink.close()
    sink.close()  # twice is fine
