"""What every watcher of one shared run draws, made once for all of them.

Thirty students watching the same shared run (``explorer.paint``: identical runs are computed once)
would otherwise each encode the same frame, run the same forward pass for its probability and build the
same curve figure at every tick: thirty times the work, all of it taken from the run itself on a small
server. :func:`once` keeps the latest value of each such derived thing per run, so the first watcher to
need it for a step makes it and the others reuse it; :func:`live_jpeg` is the animation frame they all
send (JPEG: a tenth of a PNG's bytes on a school's Wi-Fi; the finished picture is still shown exactly).
"""

from __future__ import annotations

import io
import threading
import time
import weakref
from typing import Callable, TypeVar

import numpy as np
from PIL import Image

T = TypeVar("T")
LIVE_JPEG_QUALITY = 90

_MEMO: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # run -> {name: (version, made_at, value)}
_LOCKS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # run -> lock (one maker per run at a time)
_lock = threading.Lock()


def once(run, name: str, version: int, make: Callable[[], T], max_age: float = 0.0) -> T:
    """``make()`` for ``run``'s ``version`` of the derived thing ``name``, made once whoever asks.

    With ``max_age`` > 0 a value made for an older version is reused while it is younger than that many
    seconds (for costly things such as a forward pass, which need not follow every step)."""
    with _lock:
        memo = _MEMO.setdefault(run, {})
        run_lock = _LOCKS.setdefault(run, threading.Lock())
    with run_lock:
        known = memo.get(name)
        if known is not None and (known[0] == version or time.monotonic() - known[1] < max_age):
            return known[2]
        value = make()
        memo[name] = (version, time.monotonic(), value)
        return value


def jpeg(image: np.ndarray, quality: int = LIVE_JPEG_QUALITY) -> bytes:
    """A uint8 RGB image as JPEG bytes (what ``st.image`` then sends as they are)."""
    out = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(out, format="JPEG", quality=quality)
    return out.getvalue()


def live_jpeg(run, snapshot) -> bytes | None:
    """The snapshot's frame as JPEG bytes, encoded once per step for every watcher of ``run``."""
    if snapshot.image is None:
        return None
    return once(run, "live_jpeg", snapshot.version, lambda: jpeg(snapshot.image))


__all__ = ["LIVE_JPEG_QUALITY", "jpeg", "live_jpeg", "once"]
