"""Values every session asks for alike, computed once for the whole server and kept in a bounded LRU.

When a class opens a page together, thirty sessions ask for the very same thing at once: the default
photo's feature maps on the default model, say. :class:`SharedValues` computes each key once (a second
request for a key being computed waits for it rather than computing it again), keeps the result in a
:class:`~explorer.serving.cache.RunCache` (LRU, size limit in MB) and hands every session the same frozen
(read-only) object: one copy in memory, however many students look at it. Keys come from
:func:`~explorer.serving.keys.run_key` (models by fingerprint, photos by content), so one student's
upload is never shown to another unless the bytes are identical.
"""

from __future__ import annotations

import os
import threading
from typing import Callable, TypeVar

from ..runtime import process_wide
from .cache import RunCache
from .keys import freeze

T = TypeVar("T")
VALUES_MB_ENV = "CNN_EXPLORER_VALUES_MB"
DEFAULT_VALUES_MB = 256


class SharedValues:
    """``get(key, make)``: the value for ``key``, made by ``make()`` once for every caller."""

    def __init__(self, limit_mb: float):
        self.cache = RunCache(limit_mb)
        self._making: dict = {}
        self._lock = threading.Lock()
        self.made = 0  # values actually computed (tests count them)

    def get(self, key, make: Callable[[], T]) -> T:
        value = self.cache.get(key)
        if value is not None:
            return value
        with self._lock:
            lock = self._making.setdefault(key, threading.Lock())
        try:
            with lock:  # a second caller for the same key waits here, then finds it in the cache
                value = self.cache.get(key)
                if value is None:
                    value = freeze(make())
                    self.made += 1
                    self.cache.put(key, value)  # too large for the cache: returned, not kept
                return value
        finally:
            with self._lock:
                if self._making.get(key) is lock and not lock.locked():
                    del self._making[key]


@process_wide
def shared_values() -> SharedValues:
    """The process-wide :class:`SharedValues` (``CNN_EXPLORER_VALUES_MB``, default 256 MB)."""
    try:
        limit = float(os.environ.get(VALUES_MB_ENV, DEFAULT_VALUES_MB))
    except ValueError:
        limit = DEFAULT_VALUES_MB
    return SharedValues(limit)


__all__ = ["SharedValues", "shared_values"]
