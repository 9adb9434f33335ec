"""Property-based fuzzing (hypothesis) of every parser that takes network input: OSC packets and
bundles, TCP length framing, the page's WebSocket messages (JSON and binary) and OSCQuery requests.
Each input is answered or refused with the parser's own clean error, within a deadline."""

from __future__ import annotations

import contextlib
import http.client
import json
import struct
import time
from urllib.parse import quote

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from ganplug.osc.packet import BUNDLE_TAG, MAX_ELEMENTS, MalformedPacket, parse_packet  # noqa: E402
from ganplug.osc.send import message  # noqa: E402
from ganplug.osc.stream import framed, take_packets  # noqa: E402

FAST = settings(max_examples=300, database=None, deadline=200, suppress_health_check=[HealthCheck.too_slow])
NETWORK = settings(max_examples=80, database=None, deadline=3000,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def _osc_string(s: bytes) -> bytes:
    s += b"\0"
    return s + b"\0" * (-len(s) % 4)


# Pieces that look like OSC, so the fuzzer reaches deep into the parser instead of failing at byte 0.
addresses = st.builds(lambda s: _osc_string(b"/" + s), st.binary(max_size=12).filter(lambda b: b"\0" not in b))
tags = st.builds(lambda s: _osc_string(b"," + s), st.text(alphabet="ifsbhdtcrmTFNI[]Sxz", max_size=10).map(str.encode))
words = st.one_of(st.binary(min_size=4, max_size=4), st.integers(-2**31, 2**31 - 1).map(lambda n: struct.pack(">i", n)))
messages = st.builds(lambda a, t, body: a + t + b"".join(body), addresses, tags, st.lists(words, max_size=6))


@st.composite
def bundles(draw, depth: int = 0) -> bytes:
    out = BUNDLE_TAG + draw(st.binary(min_size=8, max_size=8))
    for _ in range(draw(st.integers(0, 4))):
        inner = draw(bundles(depth + 1)) if depth < 10 and draw(st.booleans()) else draw(messages)
        size = draw(st.one_of(st.just(len(inner)), st.integers(-2**31, 2**31 - 1)))  # honest or lying sizes
        out += struct.pack(">i", size) + inner
    return out


packets = st.one_of(st.binary(max_size=256), messages, bundles(), st.builds(lambda a, b: a + b, bundles(), st.binary(max_size=16)))


def _parse_cleanly(data: bytes) -> list:
    t = time.perf_counter()
    try:
        out = parse_packet(data)
    except MalformedPacket:
        out = None
    assert time.perf_counter() - t < 0.1
    if out is not None:
        assert len(out) <= MAX_ELEMENTS
        assert all(isinstance(a, str) and a.startswith("/") and isinstance(args, tuple) for a, args in out)
    return out


@FAST
@given(packets)
def test_osc_packets_and_bundles_parse_or_are_refused(data):
    _parse_cleanly(data)


@FAST
@given(st.lists(st.tuples(st.sampled_from("ifsb"), st.integers(-2**31, 2**31 - 1), st.text(max_size=20),
                          st.binary(min_size=1, max_size=20)), max_size=8),
       st.text(alphabet="abcz/", max_size=20))
def test_well_formed_messages_come_back_as_sent(args, path):
    values = [{"i": i, "f": float(i % 1000) / 4, "s": s.replace("\0", ""), "b": b}[t] for t, i, s, b in args]
    types = "".join(t for t, *_ in args)
    data = message("/" + path, types, *values)
    assert parse_packet(data) == [("/" + path, tuple(values))]
    nested = BUNDLE_TAG + bytes(8) + struct.pack(">i", len(data)) + data
    assert parse_packet(BUNDLE_TAG + bytes(8) + struct.pack(">i", len(nested)) + nested) == [("/" + path, tuple(values))]


@FAST
@given(st.lists(st.one_of(st.binary(max_size=40), st.builds(framed, st.binary(min_size=1, max_size=40))), max_size=10),
       st.integers(1, 64))
def test_tcp_length_framing_takes_whole_packets_or_says_the_stream_broke(chunks, max_packet):
    buf = bytearray()
    t = time.perf_counter()
    for chunk in chunks:
        before = len(buf) + len(chunk)
        buf += chunk
        try:
            got = take_packets(buf, max_packet)
        except ValueError:
            return  # the connection is closed: nothing more is read from it
        assert len(buf) + sum(4 + len(p) for p in got) == before  # every byte is a packet or still waiting
        assert all(0 < len(p) <= max_packet for p in got)
        assert len(buf) < 4 or struct.unpack_from(">i", buf)[0] + 4 > len(buf)
    assert time.perf_counter() - t < 0.1


# --------------------------------------------------------------------------- the web surface, over real sockets

@contextlib.contextmanager
def _web(engine, tmp_path):
    from ganplug.web import WebConfig, WebSurface
    from serving import running_server

    with running_server(engine, tmp_path, fps=30.0) as (server, (rx,)):
        web = WebSurface(server, WebConfig(listen="127.0.0.1:0")).start()
        try:
            yield server, web
        finally:
            web.close()


def _pong(ws, n: int, seconds: float = 3.0) -> None:
    """The page still answers: a ping's pong comes back (state pushes and other replies pass by)."""
    ws.send(json.dumps({"type": "osc", "address": "/ganplug/ping", "args": [n]}))
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        m = ws.recv(timeout=max(end - time.monotonic(), 0.01))
        if isinstance(m, str):
            msg = json.loads(m)
            if msg.get("type") == "reply" and {"address": "/ganplug/pong", "args": [n]} in msg["messages"]:
                return
    raise AssertionError("no pong: the page's connection stopped answering")


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                           max_leaves=12)
page_messages = st.one_of(
    st.builds(lambda a, args: {"type": "osc", "address": a, "args": args},
              st.one_of(st.sampled_from(["/ganplug/speed", "/ganplug/seed", "/ganplug/z", "/ganplug/walk"]), st.text(max_size=30)),
              st.one_of(st.lists(st.one_of(st.integers(-10, 10), st.floats(-3, 3), st.text(max_size=8)), max_size=5), json_values)),
    st.builds(lambda t, rest: {"type": t, **rest}, st.one_of(st.sampled_from(["ack", "osc", "hello"]), st.text(max_size=8)),
              st.dictionaries(st.text(max_size=8), json_values, max_size=3)),
    json_values)


def test_websocket_messages_are_answered_and_the_page_goes_on(engine, tmp_path):
    from websockets.sync.client import connect

    with _web(engine, tmp_path) as (server, web):
        with connect(f"ws://127.0.0.1:{web.address[1]}/ui/ws") as ws:
            ws.recv(timeout=5)  # hello
            count = [0]

            @NETWORK
            @given(st.one_of(page_messages.map(json.dumps), st.text(max_size=60), packets))
            def one(data):
                ws.send(data)
                count[0] += 1
                _pong(ws, count[0])

            one()


def test_oscquery_requests_are_answered_with_a_status(engine, tmp_path):
    from ganplug.web import oscquery

    with _web(engine, tmp_path) as (server, web):
        root = oscquery.namespace(server.info.z_dim, server.show.capture())

        @NETWORK
        @given(st.text(max_size=40), st.one_of(st.sampled_from(list(oscquery.ATTRIBUTES) + ["HOST_INFO", ""]), st.text(max_size=20)),
               st.text(max_size=20))
        def one(path, attr, rest):
            assert oscquery.find(root, path) is None or isinstance(oscquery.find(root, path), dict)
            conn = http.client.HTTPConnection("127.0.0.1", web.address[1], timeout=5)
            try:
                conn.request("GET", "/" + quote(path.lstrip("/")) + "?" + quote(attr, safe="") + ("&" + quote(rest) if rest else ""))
                r = conn.getresponse()
                body = r.read()
            finally:
                conn.close()
            assert r.status in (200, 204, 302, 400, 403, 404, 426), (r.status, body[:200])
            if r.status == 200 and r.getheader("Content-Type") == "application/json":
                json.loads(body)

        one()
