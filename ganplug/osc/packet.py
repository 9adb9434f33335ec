"""A bounded parser for OSC 1.0 packets that arrive from the network.

Every packet a peer sends is untrusted. This parser always moves forward through the
bytes (a bundle element with a length of zero or less, or one that runs past its parent,
is an error, not a loop), caps bundle nesting, the number of elements, messages and
arguments, and checks every size against the bytes that are there. It returns a flat list
of ``(address, args)`` in packet order or raises :class:`MalformedPacket`, a ValueError.
Bundle time tags are read and ignored (everything applies at the next frame).

Argument types: ``i h`` → int, ``f d`` → float, ``s S`` → str (UTF-8), ``b`` → bytes,
``T F`` → bool, ``N`` → None, ``I`` → inf, ``c`` → one-character str, ``r`` → int (RGBA),
``m`` → 4-tuple of ints (MIDI), ``t`` → int (NTP time tag), ``[ … ]`` → list.
"""

from __future__ import annotations

import struct

BUNDLE_TAG = b"#bundle\0"
MAX_DEPTH = 8  # bundles inside bundles
MAX_ELEMENTS = 4096  # bundles and messages in one packet
MAX_ARGS = 65536  # arguments in one message (T/F/N/I cost no data bytes, so bound them here)
MAX_ARRAY_DEPTH = 4

_I32 = struct.Struct(">i")
_U32 = struct.Struct(">I")
_I64 = struct.Struct(">q")
_U64 = struct.Struct(">Q")
_F32 = struct.Struct(">f")
_F64 = struct.Struct(">d")
_FIXED = {"i": (_I32, 4), "h": (_I64, 8), "f": (_F32, 4), "d": (_F64, 8), "r": (_U32, 4), "t": (_U64, 8)}
_CONSTANT = {"T": True, "F": False, "N": None, "I": float("inf")}

Message = tuple[str, tuple]


class MalformedPacket(ValueError):
    """The bytes are not a well-formed OSC packet within this parser's limits."""


def parse_packet(data: bytes) -> list[Message]:
    """Every message in one OSC packet (message or bundle), in order."""
    view = bytes(data)
    budget = [MAX_ELEMENTS]
    out: list[Message] = []
    _element(view, 0, len(view), 0, budget, out)
    return out


def _element(view: bytes, start: int, end: int, depth: int, budget: list[int], out: list[Message]) -> None:
    budget[0] -= 1
    if budget[0] < 0:
        raise MalformedPacket(f"more than {MAX_ELEMENTS} bundles and messages in one packet")
    if end - start >= 8 and view.startswith(BUNDLE_TAG, start):
        _bundle(view, start, end, depth, budget, out)
    else:
        out.append(_message(view, start, end))


def _bundle(view: bytes, start: int, end: int, depth: int, budget: list[int], out: list[Message]) -> None:
    if depth >= MAX_DEPTH:
        raise MalformedPacket(f"bundles nested deeper than {MAX_DEPTH}")
    pos = start + 16  # "#bundle\0" and the 8-byte time tag
    if pos > end:
        raise MalformedPacket("bundle shorter than its header")
    while pos < end:
        if end - pos < 4:
            raise MalformedPacket("bundle element size cut short")
        (size,) = _I32.unpack_from(view, pos)
        pos += 4
        if size <= 0 or size % 4 or size > end - pos:
            raise MalformedPacket(f"bundle element size {size} with {end - pos} bytes left")
        _element(view, pos, pos + size, depth + 1, budget, out)
        pos += size  # size > 0: the loop always moves forward


def _string(view: bytes, pos: int, end: int) -> tuple[str, int]:
    """An OSC string at ``pos``: (text, position after its padding)."""
    nul = view.find(b"\0", pos, end)  # searched in place: no copy of the rest of the packet
    if nul < 0:
        raise MalformedPacket("string without a terminating NUL")
    after = pos + ((nul - pos) // 4 + 1) * 4
    if after > end:
        raise MalformedPacket("string padding runs past the end")
    try:
        return view[pos:nul].decode("utf-8"), after
    except UnicodeDecodeError:
        raise MalformedPacket("string is not UTF-8") from None


def _message(view: bytes, start: int, end: int) -> Message:
    if start >= end or view[start] != ord("/"):
        raise MalformedPacket("a message address must start with '/'")
    address, pos = _string(view, start, end)
    if pos >= end:
        return address, ()  # no type tag string: an old-style message without arguments
    if view[pos] != ord(","):
        raise MalformedPacket("type tag string must start with ','")
    tags, pos = _string(view, pos, end)
    if len(tags) - 1 > MAX_ARGS:
        raise MalformedPacket(f"more than {MAX_ARGS} arguments")
    args, pos = _arguments(view, tags[1:], pos, end)
    return address, tuple(args)


def _arguments(view: bytes, tags: str, pos: int, end: int) -> tuple[list, int]:
    stack: list[list] = [[]]
    for tag in tags:
        if tag in _FIXED:
            st, n = _FIXED[tag]
            if pos + n > end:
                raise MalformedPacket(f"argument '{tag}' runs past the end")
            stack[-1].append(st.unpack_from(view, pos)[0])
            pos += n
        elif tag in _CONSTANT:
            stack[-1].append(_CONSTANT[tag])
        elif tag in "sS":
            text, pos = _string(view, pos, end)
            stack[-1].append(text)
        elif tag == "b":
            if pos + 4 > end:
                raise MalformedPacket("blob size runs past the end")
            (n,) = _I32.unpack_from(view, pos)
            size = n + (-n % 4)
            if n < 0 or pos + 4 + size > end:
                raise MalformedPacket(f"blob of {n} bytes with {end - pos - 4} left")
            stack[-1].append(view[pos + 4:pos + 4 + n])
            pos += 4 + size
        elif tag == "c":
            if pos + 4 > end:
                raise MalformedPacket("argument 'c' runs past the end")
            (code,) = _U32.unpack_from(view, pos)
            if code > 0x10FFFF:
                raise MalformedPacket(f"character {code} out of range")
            stack[-1].append(chr(code))
            pos += 4
        elif tag == "m":
            if pos + 4 > end:
                raise MalformedPacket("argument 'm' runs past the end")
            stack[-1].append(tuple(view[pos:pos + 4]))
            pos += 4
        elif tag == "[":
            if len(stack) > MAX_ARRAY_DEPTH:
                raise MalformedPacket(f"arrays nested deeper than {MAX_ARRAY_DEPTH}")
            stack.append([])
        elif tag == "]":
            if len(stack) == 1:
                raise MalformedPacket("']' without '['")
            inner = stack.pop()
            stack[-1].append(inner)
        else:
            raise MalformedPacket(f"unknown type tag {tag!r}")
    if len(stack) != 1:
        raise MalformedPacket("'[' without ']'")
    return stack[0], pos
