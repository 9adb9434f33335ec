"""examples/processing: Processing cannot run here, so the sketch is read against the protocol."""

from __future__ import annotations

import re
import subprocess

import numpy as np
import pytest

from conftest import need
from example_helpers import example_path
from ganplug.show.table import INBOUND, OUTBOUND
from ganplug.osc.frames import DEFAULT_MAX_DATAGRAM

SKETCH = example_path("processing/ganplug_viewer/ganplug_viewer.pde")


def source() -> str:
    # Comments say what the code should do; only the code counts here.
    text = re.sub(r"/\*.*?\*/", "", SKETCH.read_text(), flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def constant(code: str, name: str) -> int:
    m = re.search(rf"final\s+\w+\s+{name}\s*=\s*(\d+)L?\s*;", code)
    assert m, name
    return int(m.group(1))


def test_sketch_lives_where_processing_looks_for_it():
    # Processing opens a sketch only from a folder of the same name.
    assert SKETCH.parent.name == SKETCH.stem


def test_sketch_raises_oscp5s_datagram_size_above_the_servers():
    code = source()
    m = re.search(r"\.setDatagramSize\(\s*(\w+)\s*\)", code)
    assert m, "oscP5 reads 1536-byte datagrams unless told otherwise"
    size = int(m.group(1)) if m.group(1).isdigit() else constant(code, m.group(1))
    assert size >= DEFAULT_MAX_DATAGRAM
    # ...before oscP5 starts, which is the only time oscP5 takes it
    assert code.index(".setDatagramSize(") < code.index("new OscP5(")
    assert constant(code, "LISTEN_PORT") == 9001 and constant(code, "SERVER_PORT") == 9000
    assert re.search(r'SERVER_HOST\s*=\s*"127\.0\.0\.1"', code)


def test_sketch_reads_frame_chunks_in_the_protocols_order():
    code = source()
    spec = OUTBOUND["/ganplug/frame"]
    assert f'checkAddrPattern("{spec.address}") && m.checkTypetag("{spec.types}")' in code
    call = re.search(r"addChunk\(((?:m\.get\(\d\)\.\w+\(\),?\s*)+)\)", code)
    assert call, "the frame handler should pass the seven arguments straight on"
    gets = re.findall(r"m\.get\((\d)\)\.(\w+)\(\)", call.group(1))
    want = [(str(i), "blobValue" if a.type == "b" else "intValue") for i, a in enumerate(spec.args)]
    assert gets == want
    params = re.search(r"void addChunk\(([^)]*)\)", code).group(1)
    names = [p.split()[-1] for p in params.split(",")]
    assert names == ["id", "index", "count", "w", "h", "c", "payload"]  # frame, chunk, chunks, width, height, channels, pixels
    # Chunks join in index order, a frame only counts whole, and ids compare across the wrap.
    assert "for (byte[] p : parts)" in code and "if (total != w * h * c) return;" in code
    assert constant(code, "RESTART_GAP") == 1024 and "2147483648L" in code


def test_sketch_reads_the_state_fields_by_their_table_positions():
    code = source()
    spec = OUTBOUND["/ganplug/state"]
    assert f'checkAddrPattern("{spec.address}") && m.checkTypetag("{spec.types}")' in code
    fields = {name: int(i) for name, i in re.findall(r"(\w+) = m\.get\((\d)\)\.\w+\(\)", code)}
    fields["paused"] = int(re.search(r"paused = m\.get\((\d)\)", code).group(1))
    table = [a.name for a in spec.args]
    renamed = {"measuredFps": "measured_fps"}
    assert fields and all(table[i] == renamed.get(name, name) for name, i in fields.items()), fields


def test_sketch_steers_seed_speed_walk_truncation_with_table_types():
    code = source()
    sent = dict(re.findall(r'send\("(/ganplug/[\w/]+)",\s*([^;]+)\);', code))
    assert {"/ganplug/seed", "/ganplug/speed", "/ganplug/walk", "/ganplug/truncation"} <= set(sent)
    assert set(sent) <= set(INBOUND)
    declared = dict((n, t) for t, n in re.findall(r"^(int|float|String|boolean)\s+(\w+)\s*=", code, flags=re.M))
    java = {"i": "int", "f": "float", "s": "String"}
    for address, value in sent.items():
        spec = INBOUND[address]
        value = value.strip()
        if not spec.args:
            assert value == "null", address
        elif value in declared:
            assert declared[value] == java[spec.args[0].type], (address, value)
        else:
            assert address == "/ganplug/pause" and value == "paused ? 1 : 0"


def test_sketch_reads_image_chunks_in_the_protocols_order():
    code = source()
    spec = OUTBOUND["/ganplug/image"]
    assert f'checkAddrPattern("{spec.address}") && m.checkTypetag("{spec.types}")' in code
    call = re.search(r"addImageChunk\(((?:m\.get\(\d\)\.\w+\(\),?\s*)+)\)", code)
    assert call, "the image handler should pass the eight arguments straight on"
    gets = re.findall(r"m\.get\((\d)\)\.(\w+)\(\)", call.group(1))
    kinds = {"b": "blobValue", "s": "stringValue", "i": "intValue"}
    assert gets == [(str(i), kinds[a.type]) for i, a in enumerate(spec.args)]


def decode_with_java(tmp_path, data: bytes, w: int, h: int) -> np.ndarray:
    """Run the sketch's own decodeImage (plain Java: ImageIO) on ``data``; ARGB ints -> RGBA array."""
    javac = need("javac")
    body = re.search(r"^int\[\] decodeImage\(.*?^}\n", source(), flags=re.S | re.M).group(0)
    (tmp_path / "Decode.java").write_text(
        "import java.io.*; import java.nio.file.*; import java.awt.image.BufferedImage; import javax.imageio.ImageIO;\n"
        "public class Decode {\n static " + body +
        " public static void main(String[] a) throws Exception {\n"
        "  int[] p = decodeImage(Files.readAllBytes(Paths.get(a[0])), Integer.parseInt(a[1]), Integer.parseInt(a[2]));\n"
        "  DataOutputStream out = new DataOutputStream(new FileOutputStream(a[3]));\n"
        "  for (int v : p) out.writeInt(v);\n  out.close();\n }\n}\n")
    (tmp_path / "in.img").write_bytes(data)
    subprocess.run([javac, "Decode.java"], cwd=tmp_path, check=True, capture_output=True, timeout=120)
    subprocess.run([need("java"), "-Djava.awt.headless=true", "Decode", "in.img", str(w), str(h), "out.bin"],
                   cwd=tmp_path, check=True, capture_output=True, timeout=120)
    argb = np.frombuffer((tmp_path / "out.bin").read_bytes(), ">u4").reshape(h, w)
    return np.stack([(argb >> 16) & 255, (argb >> 8) & 255, argb & 255, argb >> 24], axis=-1).astype(np.uint8)


@pytest.mark.parametrize("encoding", ["jpeg", "png"])
def test_sketch_decodes_ganplugs_compressed_frames(tmp_path, encoding):
    """The sketch's decodeImage, compiled with javac, on a file made by ganplug's encoder."""
    from ganplug.osc.frames import compress
    from ganplug.transports.osccheck import frame_pool

    px = frame_pool(96, count=1)[0][:, :80]  # a real model frame, not square: rows and columns stay apart
    data, channels = compress(np.ascontiguousarray(px), encoding, 85)
    rgba = decode_with_java(tmp_path, data, 80, 96)
    err = np.abs(rgba[..., :3].astype(int) - px).mean()
    assert (rgba[..., 3] == 255).all() and channels == 3
    assert err == 0 if encoding == "png" else err < 3, err
