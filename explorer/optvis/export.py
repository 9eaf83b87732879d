"""Saving ideal images: a PNG of the result and an animated GIF of the run (Pillow)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from ..data.images import png_bytes  # noqa: F401  (re-exported: explorer.optvis.png_bytes)


def gif_bytes(frames, ms_per_frame: int = 150, hold_last_ms: int = 1500, size: int | None = None) -> bytes:
    """Animated GIF (looping) of uint8 RGB frames, or of ``(step, image)`` pairs; the last frame lingers."""
    images = [f[1] if isinstance(f, tuple) else f for f in frames]
    if not images:
        raise ValueError("No frames to animate.")
    pil = [Image.fromarray(np.asarray(im, dtype=np.uint8)) for im in images]
    if size:
        pil = [im.resize((size, size), Image.Resampling.LANCZOS) for im in pil]
    durations = [int(ms_per_frame)] * (len(pil) - 1) + [int(hold_last_ms)]
    buffer = io.BytesIO()
    pil[0].save(buffer, format="GIF", save_all=True, append_images=pil[1:], duration=durations, loop=0,
                optimize=False)
    return buffer.getvalue()
