"""Turning whatever a user uploads into a clean RGB uint8 array, or a clear error.

Everything that reads a photo goes through :func:`load_image`, so odd inputs (EXIF rotation, RGBA,
16-bit, CMYK, animated GIF, tiny images) and hostile ones (empty files, non-images, truncated files,
decompression bombs, oversized uploads) are handled once, here.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# Pixel cap checked from the header, before any decoding: far below PIL's own bomb limit (~179 MP).
MAX_PIXELS = 40_000_000
# Bytes cap for one file; matches server.maxUploadSize in .streamlit/config.toml (in MB).
MAX_BYTES = 50 * 1024 * 1024
# Images smaller than this on their short side are upscaled (nearest would be blocky: use bicubic).
MIN_SIDE = 32
#: Longest side over shortest side beyond which an image is refused: a 1x5000 strip was accepted as
#: "tiny" and stretched into a meaningless picture (issue 23).
MAX_ASPECT = 20

SUPPORTED_TYPES = ("jpg", "jpeg", "png", "webp", "bmp", "gif", "tif", "tiff")


class ImageError(ValueError):
    """An image could not be used; the message says why and what to do instead."""


def _read_bytes(source) -> bytes:
    """Bytes of a path, bytes object or binary file object, with the size cap applied."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise ImageError(f"No image file at '{path}'. Check the path and try again.")
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise ImageError(_too_big_message(size))
        data = path.read_bytes()
    elif hasattr(source, "read"):
        if hasattr(source, "seek"):
            try:
                source.seek(0)
            except (OSError, ValueError):
                pass
        data = source.read(MAX_BYTES + 1)
        if not isinstance(data, (bytes, bytearray)):
            raise ImageError("The file object must be opened in binary mode ('rb').")
        data = bytes(data)
    else:
        raise ImageError(
            f"Cannot read an image from a {type(source).__name__}: give a file path, bytes, "
            "a binary file, a PIL image or a numpy array."
        )
    if len(data) > MAX_BYTES:
        raise ImageError(_too_big_message(len(data)))
    if not data:
        raise ImageError("The file is empty (0 bytes). Choose another photo.")
    return data


def _too_big_message(size: int) -> str:
    return (
        f"The file is {size / 1e6:.0f} MB; the limit is {MAX_BYTES / 1e6:.0f} MB. "
        "Save a smaller copy (a photo of 2-3 MB is plenty) and upload that."
    )


def _open_pil(data: bytes) -> Image.Image:
    try:
        img = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise ImageError(
            "This file is not an image we can read. Use a photo in one of: "
            + ", ".join(SUPPORTED_TYPES)
            + "."
        ) from None
    except Image.DecompressionBombError:
        raise ImageError(_bomb_message()) from None
    except OSError as exc:
        raise ImageError(f"The image could not be opened ({exc}). Try re-saving it as JPEG or PNG.") from None
    return img


def _bomb_message(pixels: int | None = None) -> str:
    size = f" ({pixels / 1e6:.0f} megapixels)" if pixels else ""
    return (
        f"The image is too large{size}; the limit is {MAX_PIXELS / 1e6:.0f} megapixels. "
        "Resize it (any photo editor) and upload the smaller copy."
    )


def _to_rgb(img: Image.Image) -> Image.Image:
    """Any PIL mode to RGB: alpha composited on white, 16-bit and float scaled, CMYK converted."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(np.nanmin(arr)), float(np.nanmax(arr))
        if img.mode.startswith("I;16"):
            lo, hi = 0.0, 65535.0
        scaled = np.zeros_like(arr) if hi <= lo else (arr - lo) / (hi - lo) * 255.0
        img = Image.fromarray(np.nan_to_num(scaled).clip(0, 255).astype(np.uint8), "L")
    if img.mode == "P":
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        img = img.convert("RGBA")
        background = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, img)
    if img.mode != "RGB":
        img = img.convert("RGB")
    return img


def _from_array(arr: np.ndarray) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim == 4 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 3 or arr.shape[-1] not in (1, 3, 4):
        raise ImageError(f"An image array must be HxW, HxWx1, HxWx3 or HxWx4; got shape {arr.shape}.")
    if arr.shape[0] * arr.shape[1] > MAX_PIXELS:
        raise ImageError(_bomb_message(arr.shape[0] * arr.shape[1]))
    _check_aspect(arr.shape[1], arr.shape[0])
    if arr.dtype != np.uint8:
        arr = arr.astype(np.float64)
        if not np.all(np.isfinite(arr)):
            raise ImageError("The image array contains NaN or infinite values.")
        if arr.size and arr.max() <= 1.0 and arr.min() >= 0.0:
            arr = arr * 255.0
        arr = np.clip(np.rint(arr), 0, 255).astype(np.uint8)
    if arr.shape[-1] == 1:
        arr = np.repeat(arr, 3, axis=-1)
    elif arr.shape[-1] == 4:
        rgb = arr[..., :3].astype(np.float32)
        alpha = arr[..., 3:4].astype(np.float32) / 255.0
        arr = np.rint(rgb * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
    return np.ascontiguousarray(arr)


def _check_aspect(width: int, height: int) -> None:
    """Refuse strips (checked from the header, before any pixel is decoded)."""
    if width and height and max(width, height) > MAX_ASPECT * min(width, height):
        long, short = ("wider", "tall") if width > height else ("taller", "wide")
        raise ImageError(
            f"The image is {width}x{height} pixels, {max(width, height) / min(width, height):.0f} times {long} "
            f"than {short}: a strip, not a photo. Crop it to at most {MAX_ASPECT}:1 and try again.")


def _decode(img: Image.Image) -> Image.Image:
    width, height = img.size
    if width * height > MAX_PIXELS:
        raise ImageError(_bomb_message(width * height))
    if width == 0 or height == 0:
        raise ImageError("The image has no pixels.")
    _check_aspect(width, height)
    try:
        if getattr(img, "is_animated", False):
            img.seek(0)  # animated GIF/WebP/APNG: the first frame
        img.load()
        img = ImageOps.exif_transpose(img)
        return _to_rgb(img)
    except Image.DecompressionBombError:
        raise ImageError(_bomb_message(width * height)) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(
            f"The image is damaged or truncated ({exc}). Re-save or re-download it, then try again."
        ) from None


def load_image(source, size: int | tuple[int, int] | None = None, *, at_least: int | None = None) -> np.ndarray:
    """Load an image as a uint8 HxWx3 RGB array.

    ``source`` is a path, bytes, a binary file object (e.g. a Streamlit upload), a PIL image or a
    numpy array. ``size`` resizes to ``(size, size)`` or ``(height, width)``. ``at_least``: the caller
    will shrink the image to this many pixels a side anyway, so a large JPEG may be decoded at a
    reduced scale (1/2, 1/4, 1/8; its longest side stays >= ``at_least``): a 12-megapixel phone photo decodes
    several times faster. Raises :class:`ImageError` with a message a student can act on.
    """
    if isinstance(source, np.ndarray):
        arr = _from_array(source)
        img = Image.fromarray(arr)
    else:
        if isinstance(source, Image.Image):
            img = source
        else:
            img = _open_pil(_read_bytes(source))
            if at_least and img.format == "JPEG" and 0 < img.width * img.height <= MAX_PIXELS:
                longest = max(img.size)  # after the header's pixel check; the longest side stays >= at_least
                img.draft(img.mode, (-(-img.width * int(at_least) // longest), -(-img.height * int(at_least) // longest)))
        img = _decode(img)
    if size is not None:
        height, width = (size, size) if isinstance(size, int) else tuple(size)
        if height <= 0 or width <= 0:
            raise ImageError(f"Target size must be positive, got {size}.")
        img = img.resize((int(width), int(height)), Image.Resampling.BICUBIC)
    elif min(img.size) < MIN_SIDE:
        scale = MIN_SIDE / min(img.size)
        target = (max(MIN_SIDE, round(img.width * scale)), max(MIN_SIDE, round(img.height * scale)))
        if target[0] * target[1] > MAX_PIXELS:  # a 1-pixel-high strip would upscale into a bomb
            raise ImageError(
                f"The image is {img.width}x{img.height} pixels: a thin strip, not a photo. "
                "Crop or resize it to a more square shape and try again."
            )
        img = img.resize(target, Image.Resampling.BICUBIC)
    return np.ascontiguousarray(np.asarray(img, dtype=np.uint8))


def image_note(source) -> str | None:
    """A short note for the UI when an image was changed on loading (tiny images are upscaled)."""
    try:
        if isinstance(source, np.ndarray):
            h, w = source.shape[:2]
        elif isinstance(source, Image.Image):
            w, h = source.size
        else:
            with Image.open(io.BytesIO(_read_bytes(source))) as img:
                w, h = img.size
    except Exception:
        return None
    if min(w, h) < MIN_SIDE:
        return f"The image is tiny ({w}x{h}); it was upscaled, so expect a blurry result."
    return None


def png_bytes(image: np.ndarray, compress_level: int = 6) -> bytes:
    """Lossless PNG file contents of a uint8 image: exactly these pixels (JPEG would blur a perturbation away).

    ``compress_level`` 1 is several times faster for images that are only displayed (data URIs).
    """
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(buffer, format="PNG", compress_level=compress_level)
    return buffer.getvalue()
