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


# --- compressed frames: /ganplug/image (issue 13)

from ganplug.osc.frames import IMAGE_ADDRESS, IMAGE_HEADER_BYTES, compress, encode, encode_image  # noqa: E402


def smooth(h=96, w=128, c=3):
    """A smooth image, as models make (noise would not survive JPEG within a tolerance)."""
    y, x = np.mgrid[0:h, 0:w]
    planes = [(x * 255 // max(w - 1, 1)), (y * 255 // max(h - 1, 1)), ((x + y) * 127 // max(w + h - 2, 1)), np.full((h, w), 200)]
    return np.stack(planes[:c], axis=-1).astype(np.uint8)


def test_image_message_matches_python_osc_builder():
    px = smooth(8, 8)
    (dgram,) = encode_image(9, px, "png")
    data, channels = compress(px, "png")
    b = OscMessageBuilder(IMAGE_ADDRESS)
    for v in (9, 0, 1, 8, 8, channels):
        b.add_arg(v, "i")
    b.add_arg("png", "s")
    b.add_arg(data, "b")
    assert dgram == b.build().dgram


@pytest.mark.parametrize("encoding, c, out_c", [("jpeg", 3, 3), ("jpeg", 4, 3), ("png", 3, 3), ("png", 4, 4), ("png", 1, 1), ("jpeg", 1, 1),
                                                ("png", 2, 2), ("jpeg", 2, 1)])
@pytest.mark.parametrize("max_datagram", [8192, 1500])
def test_image_chunks_fit_and_decode(encoding, c, out_c, max_datagram):
    px = smooth(c=c)
    dgrams = encode_image(77, px, encoding, 90, max_datagram)
    assert all(len(d) <= max_datagram for d in dgrams)
    asm = FrameAssembler()
    frames = []
    for d in reversed(dgrams):  # out of order
        m = OscMessage(d)
        assert m.address == IMAGE_ADDRESS and m.params[6] == encoding
        frames.append(asm.add_image(*m.params))
    f = frames[-1]
    assert [x for x in frames[:-1] if x is not None] == [] and f is not None
    assert (f.frame_id, f.width, f.height, f.channels) == (77, 128, 96, out_c)
    err = np.abs(f.pixels.astype(int) - px[:, :, :out_c]).mean()
    assert err == 0 if encoding == "png" else err < 3


def test_jpeg_is_a_few_datagrams_at_256px():
    from ganplug.transports.osccheck import frame_pool

    px = frame_pool(256, count=1)[0]
    assert len(encode(0, px, "jpeg")) <= 3 < len(encode(0, px, "raw")) == 26
    assert IMAGE_HEADER_BYTES == 64


def test_bad_image_chunks_are_rejected_not_raised():
    asm = FrameAssembler()
    assert asm.add_image(1, 0, 1, 8, 8, 3, "gif", b"GIF89a") is None
    assert asm.add_image(2, 0, 1, 8, 8, 3, "png", b"not a png") is None
    (d,) = encode_image(3, smooth(8, 8), "png")
    args = OscMessage(d).params
    assert asm.add_image(*args[:3], 9, 8, 3, "png", args[7]) is None  # says 9 px wide, is 8
    assert asm.rejected == 3 and asm.completed == 0
    assert asm.add_image(*OscMessage(encode_image(4, smooth(8, 8), "png")[0]).params) is not None


def test_bad_encoding_settings_are_config_errors():
    with pytest.raises(ConfigError):
        encode(0, smooth(), "webp")
    with pytest.raises(ConfigError):
        encode(0, smooth(), "jpeg", quality=0)


def test_frame_receiver_decodes_image_frames_over_udp():
    from ganplug.osc.receive import FrameReceiver
    from ganplug.osc.send import UdpDestination, once_log

    px = smooth(64, 64)
    with FrameReceiver("127.0.0.1", 0, rcvbuf=None) as rx:
        d = UdpDestination("127.0.0.1", rx.address[1], once_log())
        d.send_paced(encode(5, px, "png"), 1 / 30)
        d.send_paced(encode(6, px, "jpeg"), 1 / 30)
        got = list(rx.frames(seconds=3, count=2))
        d.close()
    assert [f.frame_id for f in got] == [5, 6]
    assert np.array_equal(got[0].pixels, px) and np.abs(got[1].pixels.astype(int) - px).mean() < 3


@pytest.mark.parametrize("encoding", ["raw", "jpeg", "png"])
def test_whole_frame_in_one_message_for_tcp(encoding):
    px = smooth(200, 300)
    (msg,) = encode(3, px, encoding, max_datagram=None)
    args = OscMessage(msg).params
    f = FrameAssembler().add(*args) if encoding == "raw" else FrameAssembler().add_image(*args)
    assert f is not None and f.pixels.shape == (200, 300, 3)
