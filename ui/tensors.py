"""Showing a few channels of a feature tensor as small greyscale images."""

from __future__ import annotations

import numpy as np
import streamlit as st


def _hw_c(tensor) -> np.ndarray:
    t = np.asarray(tensor, dtype=np.float32)
    if t.ndim == 4:
        t = t[0]
    if t.ndim != 3:
        raise ValueError(f"Expected a HxWxC tensor (or a batch of one), got shape {t.shape}.")
    return t


def top_channels(tensor, n: int = 4) -> list[int]:
    """Indices of the ``n`` channels with the strongest mean absolute activation (ties: lowest index)."""
    t = _hw_c(tensor)
    strength = np.nan_to_num(np.abs(t).mean(axis=(0, 1)), nan=-1.0)
    order = np.argsort(-strength, kind="stable")
    return [int(i) for i in order[: max(0, min(n, t.shape[-1]))]]


def channel_image(tensor, channel: int, lo: float | None = None, hi: float | None = None) -> np.ndarray:
    """One channel scaled to uint8 0..255 (by its own range, or by ``lo``..``hi``); NaNs become black."""
    c = np.nan_to_num(_hw_c(tensor)[..., channel], nan=0.0, posinf=0.0, neginf=0.0)
    lo = float(c.min()) if lo is None else lo
    hi = float(c.max()) if hi is None else hi
    if hi - lo < 1e-12:
        return np.zeros(c.shape, dtype=np.uint8)
    return np.clip((c - lo) / (hi - lo) * 255.0, 0, 255).astype(np.uint8)


def channel_strip(tensor, channels: list[int], lo: float | None = None, hi: float | None = None,
                  gap: int = 2) -> np.ndarray:
    """The chosen channels side by side in one uint8 image, separated by white gaps (one image to
    send to the browser instead of one per channel)."""
    tiles = [channel_image(tensor, c, lo, hi) for c in channels]
    h = tiles[0].shape[0]
    white = np.full((h, gap), 255, dtype=np.uint8)
    return np.concatenate([part for tile in tiles for part in (tile, white)][:-1], axis=1)


def show_channels(tensor, channels: list[int] | None = None, n: int = 4, title: str | None = None,
                  width: int | None = None, shared_scale: bool = False) -> list[int]:
    """Show ``channels`` (default: the ``n`` strongest) of a tensor side by side, ``width`` pixels each
    (default: the strip fills its column); returns the indices.

    ``shared_scale`` scales all shown channels by one range, so tensors that are added can be compared.
    """
    t = _hw_c(tensor)
    channels = top_channels(t, n) if channels is None else [c for c in channels if c < t.shape[-1]]
    if title:
        st.markdown(f"**{title}**")
    if not channels:
        st.caption("No channels to show.")
        return channels
    lo = hi = None
    if shared_scale:
        picked = np.nan_to_num(t[..., channels])
        lo, hi = float(picked.min()), float(picked.max())
    st.image(channel_strip(t, channels, lo, hi), width="stretch" if width is None else width * len(channels),
             caption="channel" + ("s " if len(channels) > 1 else " ") + ", ".join(map(str, channels)))
    if title:
        st.caption(f"{t.shape[0]}x{t.shape[1]}x{t.shape[2]}")
    return channels
