"""The HTML report in a real headless Chromium: it draws its charts offline, without script errors."""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from collections import Counter
from pathlib import Path

import pytest

from orchestrator.simulation.report import render_report
from tests.report_helpers import synthetic_report

pytestmark = pytest.mark.browser

WIDTH, HEIGHT = 1280, 4000
NOTE = "Sampled preview: recipients and caps scaled by 0.1"
#: Colours the page draws with: the bars of sent messages, and the note banner's background.
BAR_BLUE = (0x3B, 0x82, 0xF6)
NOTE_AMBER = (0xFE, 0xF3, 0xC7)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def chromium() -> str:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        pytest.skip("no chromium binary (apt-get install chromium)")
    return binary


def run_chromium(binary: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Chromium headless with everything that would reach the network switched off."""
    command = [
        binary,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    chunks = []
    pos = len(PNG_SIGNATURE)
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        chunks.append((kind, data[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    return chunks


def unfilter_row(kind: int, line: bytearray, prev: bytes, bpp: int) -> bytearray:
    """Undo one scanline's PNG filter (None, Sub, Up, Average or Paeth)."""
    if kind == 1:
        for i in range(bpp, len(line)):
            line[i] = (line[i] + line[i - bpp]) & 255
    elif kind == 2:
        line = bytearray((a + b) & 255 for a, b in zip(line, prev, strict=True))
    elif kind == 3:
        for i in range(len(line)):
            left = line[i - bpp] if i >= bpp else 0
            line[i] = (line[i] + ((left + prev[i]) >> 1)) & 255
    elif kind == 4:
        for i in range(len(line)):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    return line


def decode_png(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and the RGB(A) scanlines of an 8-bit, non-interlaced truecolour PNG."""
    chunks = png_chunks(data)
    assert chunks[0][0] == b"IHDR"
    width, height, depth, color_type, _, _, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (depth, interlace) == (8, 0)
    bpp = {2: 3, 6: 4}[color_type]
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    stride = width * bpp
    rows: list[bytes] = []
    prev = bytes(stride)
    for y in range(height):
        start = y * (stride + 1)
        line = unfilter_row(raw[start], bytearray(raw[start + 1 : start + 1 + stride]), prev, bpp)
        prev = bytes(line)
        rows.append(prev)
    return width, height, [row if bpp == 3 else bytes(b for i, b in enumerate(row) if i % 4 != 3) for row in rows]


def pixels(rows: list[bytes]) -> Counter[tuple[int, ...]]:
    counts: Counter[tuple[int, ...]] = Counter()
    for row in rows:
        counts.update(zip(row[0::3], row[1::3], row[2::3], strict=True))
    return counts


@pytest.fixture
def report_file(tmp_path: Path) -> Path:
    path = tmp_path / "report.html"
    path.write_text(render_report(synthetic_report(note=NOTE)), encoding="utf-8")
    return path


def test_report_screenshot_shows_charts(report_file: Path, tmp_path: Path) -> None:
    """A 1280 px wide screenshot is a valid PNG full of chart colour, with no uncaught script error."""
    binary = chromium()
    png = tmp_path / "report.png"
    done = run_chromium(
        binary,
        tmp_path,
        "--enable-logging=stderr",
        "--v=0",
        f"--window-size={WIDTH},{HEIGHT}",
        f"--screenshot={png}",
        report_file.as_uri(),
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Uncaught" not in done.stderr
    data = png.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    assert 50_000 < len(data) < 20_000_000
    width, height, rows = decode_png(data)
    assert (width, height) == (WIDTH, HEIGHT)
    colours = pixels(rows)
    background_share = colours.most_common(1)[0][1] / (width * height)
    assert len(colours) > 200
    assert background_share < 0.9
    assert colours[BAR_BLUE] > 10_000
    assert NOTE_AMBER in pixels(rows[:60])


def test_report_dom_holds_every_chart(report_file: Path, tmp_path: Path) -> None:
    """The DOM Chromium builds has all twelve charts, each with its accessible title."""
    done = run_chromium(chromium(), tmp_path, "--dump-dom", report_file.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    assert dom.count("<svg") == 12
    assert dom.count('<title id="') == 12
    assert dom.count("<rect") > 300
    assert NOTE in dom
