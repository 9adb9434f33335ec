"""Contract 3: the chunked frame stream, checked against python-osc's own parser."""

import random

import numpy as np
import pytest
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder

from ganplug.errors import ConfigError
from ganplug.osc.frames import (FRAME_ADDRESS, HEADER_BYTES, FrameAssembler, chunk_count, encode_frame, max_payload)


def frame(h=64, w=48, c=3, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, c), dtype=np.uint8)


def args_of(datagrams):
    out = []
    for d in datagrams:
        m = OscMessage(d)
        assert m.address == FRAME_ADDRESS
        out.append(tuple(m.params))
    return out


def test_encoding_matches_python_osc_builder():
    px = frame(8, 8, 3)
    (dgram,) = encode_frame(5, px)
    b = OscMessageBuilder(FRAME_ADDRESS)
    for v in (5, 0, 1, 8, 8, 3):
        b.add_arg(v, "i")
    b.add_arg(px.tobytes(), "b")
    assert dgram == b.build().dgram


@pytest.mark.parametrize("max_datagram", [8192, 9216, 1500, 65000])
@pytest.mark.parametrize("shape", [(64, 64, 3), (256, 256, 3), (17, 13, 4), (1, 1, 3)])
def test_chunks_fit_and_concatenate(max_datagram, shape):
    px = frame(*shape)
    dgrams = encode_frame(123, px, max_datagram)
    assert all(len(d) <= max_datagram for d in dgrams)
    assert len(dgrams) == chunk_count(px.nbytes, max_datagram)
    args = args_of(dgrams)
    h, w, c = shape
    assert [a[:6] for a in args] == [(123, i, len(dgrams), w, h, c) for i in range(len(dgrams))]
    assert b"".join(a[6] for a in args) == px.tobytes()


def test_256px_rgb_spans_many_chunks_at_default_size():
    assert HEADER_BYTES == 56
    assert max_payload(8192) == 8136
    assert chunk_count(256 * 256 * 3, 8192) == 25


def test_datagram_too_small_is_a_config_error():
    with pytest.raises(ConfigError):
        max_payload(40)


def test_assembler_reorders_and_ignores_duplicates():
    px = frame(40, 40, 3)
    dgrams = encode_frame(1, px, 1000)
    args = args_of(dgrams)
    random.Random(0).shuffle(args)
    asm = FrameAssembler()
    done = [f for a in args + args[:3] if (f := asm.add(*a)) is not None]
    assert len(done) == 1
    np.testing.assert_array_equal(done[0].pixels, px)
    assert (done[0].width, done[0].height, done[0].channels) == (40, 40, 3)


def test_assembler_drops_incomplete_and_late_frames():
    asm = FrameAssembler(max_pending=2)
    a = args_of(encode_frame(10, frame(seed=1), 1000))
    b = args_of(encode_frame(11, frame(seed=2), 1000))
    for x in a[:-1]:  # frame 10 loses its last chunk
        assert asm.add(*x) is None
    got = [asm.add(*x) for x in b]
    assert got[-1] is not None and got[-1].frame_id == 11
    assert asm.dropped == 1  # frame 10, given up when 11 completed
    assert asm.add(*a[-1]) is None  # the late chunk of 10 is ignored
    assert asm.completed == 1


def test_assembler_follows_wraparound_and_sender_restart():
    asm = FrameAssembler()
    for fid in (2**31 - 1, 0, 1):  # ids wrap from int32 max to 0
        assert asm.add(*args_of(encode_frame(fid, frame(8, 8, 3)))[0]) is not None
    for fid in (5000, 5001):
        asm.add(*args_of(encode_frame(fid, frame(8, 8, 3)))[0])
    # a restarted sender counts from 0 again: frames must keep coming
    assert asm.add(*args_of(encode_frame(0, frame(8, 8, 3)))[0]) is not None


def test_assembler_rejects_malformed_chunks():
    asm = FrameAssembler()
    assert asm.add(1, 5, 2, 8, 8, 3, b"x") is None  # index beyond count
    assert asm.add(1, 0, 1, 8, 8, 3, b"short") is None  # wrong total size
    assert asm.add("1", 0, 1, 8, 8, 3, b"x") is None
    assert asm.add(1, 0, 1, -8, 8, 3, b"x") is None
    assert asm.rejected == 4 and asm.completed == 0
