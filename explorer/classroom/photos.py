"""A photo as the class store keeps it: decoded by the hardened loader, upright, shrunk, re-encoded.

Re-encoding from pixels is what removes EXIF (GPS, camera, owner): nothing but pixels is written.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from ..data.images import load_image

MAX_SIDE = 512  # longest side of a stored photo
THUMB_SIDE = 160  # longest side of a wall thumbnail


def clean_photo(data) -> tuple[bytes, bytes, int, int]:
    """``(jpeg, thumbnail jpeg, width, height)`` of an uploaded photo: decoded by the hardened loader
    (``ValueError``/``explorer.ImageError`` for anything that is not an image), turned upright, shrunk
    to :data:`MAX_SIDE` and re-encoded from pixels only, so no EXIF or other metadata survives."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ValueError("A photo must be given as bytes.")
    img = Image.fromarray(load_image(bytes(data), at_least=MAX_SIDE))  # big JPEGs decoded at a reduced scale
    img.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=90)
    thumb = img.copy()
    thumb.thumbnail((THUMB_SIDE, THUMB_SIDE), Image.Resampling.LANCZOS)
    small = io.BytesIO()
    thumb.save(small, format="JPEG", quality=80)
    return out.getvalue(), small.getvalue(), img.width, img.height


def decode_photo(data: bytes) -> np.ndarray:
    """A stored photo's pixels (uint8 HxWx3)."""
    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(img.convert("RGB"), dtype=np.uint8)


__all__ = ["MAX_SIDE", "THUMB_SIDE", "clean_photo", "decode_photo"]
