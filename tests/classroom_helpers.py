"""Photos for the class-store tests: JPEGs carrying EXIF (a GPS position, a camera owner), hostile bytes."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image

SECRET_OWNER = "Ada Lovelace's phone"


def jpeg_with_exif(width: int = 300, height: int = 200, seed: int = 0, orientation: int = 1) -> bytes:
    """A noisy JPEG with EXIF: camera owner, GPS latitude/longitude, and an orientation tag."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x013B] = SECRET_OWNER  # Artist
    exif[0x0112] = orientation
    gps = {1: "N", 2: (51.0, 30.0, 12.0), 3: "W", 4: (0.0, 7.0, 39.0)}
    exif[0x8825] = gps
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="JPEG", exif=exif.tobytes(), quality=85)
    data = out.getvalue()
    assert SECRET_OWNER.encode() in data  # the fixture really carries it
    return data


def png_bytes(color=(200, 30, 30), size=(64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="PNG")
    return out.getvalue()


def bomb_png() -> bytes:
    """A PNG whose header declares 60000x60000 pixels (far over the pixel cap), with a tiny IDAT."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", 60000, 60000, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 100))
            + chunk(b"IEND", b""))


HOSTILE = {
    "empty": b"",
    "text": b"hello, this is not a photo",
    "html": b"<script>alert(1)</script>",
    "truncated_jpeg": jpeg_with_exif()[:400],
}
