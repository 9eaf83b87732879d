"""One way to run long work on a server a whole class shares (generic: imports no model code)."""

from __future__ import annotations

from typing import Callable, TypeVar

from .runs import content_key, run_key
from .values import shared_values

T = TypeVar("T")


def memo(key, make: Callable[[], T]) -> T:
    """The value for ``key`` (from :func:`run_key`), made by ``make()`` once for the whole server.

    Quick values every session asks for alike: a second caller for a key being made waits for it;
    the result is frozen (read-only) and kept in a bounded LRU (``CNN_EXPLORER_VALUES_MB``).
    """
    return shared_values().get(key, make)


__all__ = ["content_key", "memo", "run_key"]
