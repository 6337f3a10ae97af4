"""Draw the built-in site icons into feedsvc/static: icon.png (512 px), icon-144.png
(the RSS channel image) and favicon.ico.

A feed symbol (a dot and two arcs) in white on a rounded blue square, drawn with
the standard library alone (4x4 supersampling for smooth edges). The output is
committed; run this again only to change the design: ``python3 scripts/make_icons.py``.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

STATIC = Path(__file__).resolve().parent.parent / "feedsvc" / "static"
BLUE = (11, 87, 208)
WHITE = (255, 255, 255)
SAMPLES = 4


def coverage(x: float, y: float) -> tuple[bool, bool]:
    """Whether a point of the unit square is on the background, and on the symbol."""
    corner = 0.18
    dx = max(corner - x, 0.0, x - (1 - corner))
    dy = max(corner - y, 0.0, y - (1 - corner))
    background = dx * dx + dy * dy <= corner * corner
    cx, cy = 0.29, 0.71
    distance = ((x - cx) ** 2 + (y - cy) ** 2) ** 0.5
    in_quadrant = x >= cx - 0.02 and y <= cy + 0.02
    symbol = distance <= 0.085 or (
        in_quadrant and (0.25 <= distance <= 0.36 or 0.47 <= distance <= 0.58)
    )
    return background, symbol


def pixels(size: int) -> list[bytes]:
    """RGBA rows of the icon at ``size`` pixels."""
    rows = []
    step = 1 / (size * SAMPLES)
    for row in range(size):
        line = bytearray([0])  # PNG filter type: none
        for column in range(size):
            back = mark = 0
            for sy in range(SAMPLES):
                for sx in range(SAMPLES):
                    x = (column * SAMPLES + sx + 0.5) * step
                    y = (row * SAMPLES + sy + 0.5) * step
                    b, m = coverage(x, y)
                    back += b
                    mark += b and m
            total = SAMPLES * SAMPLES
            alpha = back / total
            share = mark / back if back else 0.0
            colour = [round(BLUE[i] + (WHITE[i] - BLUE[i]) * share) for i in range(3)]
            line += bytes([*colour, round(alpha * 255)])
        rows.append(bytes(line))
    return rows


def png(size: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)  # 8-bit RGBA
    data = zlib.compress(b"".join(pixels(size)), 9)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )


def ico(sizes: tuple[int, ...]) -> bytes:
    """An ICO file of PNG images, one per size (every browser since 2007 reads these)."""
    images = [png(size) for size in sizes]
    offset = 6 + 16 * len(images)
    directory = b""
    for size, image in zip(sizes, images, strict=True):
        directory += struct.pack(
            "<BBBBHHII", size % 256, size % 256, 0, 0, 1, 32, len(image), offset
        )
        offset += len(image)
    return struct.pack("<HHH", 0, 1, len(images)) + directory + b"".join(images)


if __name__ == "__main__":
    (STATIC / "icon.png").write_bytes(png(512))
    (STATIC / "icon-144.png").write_bytes(png(144))  # RSS 2.0: an image at most 144 wide
    (STATIC / "favicon.ico").write_bytes(ico((16, 32, 48)))
