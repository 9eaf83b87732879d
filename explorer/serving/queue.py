"""The one line for heavy work, and the one token that stops a run.

- :class:`WorkQueue` is a first-come-first-served queue for long runs (training, optimisation, a batched
  step): at most :func:`explorer.runtime.heavy_slots` run at once, the others wait and are told their
  place in line. Quick work (one forward pass for feature maps) does not need it.
- :class:`CancelToken` lets a long loop stop early: when the user presses Stop, when the run's time
  budget is spent (so one session cannot hold a slot forever), or when nobody watches the run any more.
"""

from __future__ import annotations

import collections
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator

from ..runtime import Cancelled, heavy_slots, process_wide

ABANDONED = "Nobody is watching this run any more."


class CancelToken:
    """A flag a long loop checks between steps; cancelled by :meth:`cancel`, after ``max_seconds``, or
    once ``abandoned()`` says nobody watches the run any more (a shared run's token: see
    :class:`explorer.serving.runs.SharedRun`).

    >>> token = CancelToken(max_seconds=60)
    >>> for step in range(steps):
    ...     token.raise_if_cancelled()   # or: if token.cancelled: break
    """

    def __init__(self, max_seconds: float | None = None, abandoned: Callable[[], bool] | None = None):
        self._event = threading.Event()
        self._abandoned = abandoned
        self.reason: str | None = None
        self.start_clock(max_seconds)

    def start_clock(self, max_seconds: float | None) -> None:
        """The time budget (``max_seconds``; None: none) counts from now: a run waiting in line is given
        its budget when it gets a slot, so waiting takes nothing from it."""
        self._deadline = None if max_seconds is None else time.monotonic() + float(max_seconds)
        self.max_seconds = max_seconds

    def cancel(self, reason: str = "Stopped.") -> None:
        if not self._event.is_set():
            self.reason = reason
            self._event.set()

    @property
    def cancelled(self) -> bool:
        if not self._event.is_set() and self._deadline is not None and time.monotonic() >= self._deadline:
            self.cancel(f"Stopped after {self.max_seconds:g} s, the time limit for one run on this shared server.")
        elif not self._event.is_set() and self._abandoned is not None and self._abandoned():
            self.cancel(ABANDONED)
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self.cancelled:
            raise Cancelled(self.reason)

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``, waking early when cancelled; returns :attr:`cancelled`."""
        if self._deadline is not None:
            seconds = min(seconds, max(0.0, self._deadline - time.monotonic()))
        self._event.wait(seconds)
        return self.cancelled


class WorkQueue:
    """First-come-first-served slots for heavy work, shared by every session of the process."""

    def __init__(self, slots: int):
        if slots < 1:
            raise ValueError("A work queue needs at least one slot.")
        self.slots = slots
        self._cond = threading.Condition()
        self._waiting: collections.deque = collections.deque()
        self._running = 0

    @property
    def running(self) -> int:
        return self._running

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def _position(self, ticket) -> int:
        return self._waiting.index(ticket) + 1

    @contextmanager
    def slot(self, on_wait: Callable[[int], None] | None = None, cancel: CancelToken | None = None,
             poll: float = 0.25) -> Iterator[None]:
        """Hold one slot for the ``with`` block; wait in line first if all are taken.

        ``on_wait(position)`` is called (outside the lock) whenever this run's place in the line changes,
        1 meaning next. Raises :class:`Cancelled` if ``cancel`` fires while waiting. The slot is freed
        however the block ends (exception, Streamlit rerun, cancellation).
        """
        ticket = object()
        told = None
        with self._cond:
            self._waiting.append(ticket)
        try:
            while True:
                with self._cond:
                    if self._waiting[0] is ticket and self._running < self.slots:
                        self._waiting.popleft()
                        self._running += 1
                        self._cond.notify_all()
                        break
                    position = self._position(ticket)
                if position != told and on_wait is not None:
                    on_wait(position)  # may raise (e.g. Streamlit stopping the script): handled below
                told = position
                if cancel is not None and cancel.cancelled:
                    raise Cancelled(cancel.reason)
                with self._cond:
                    self._cond.wait(poll)
        except BaseException:
            with self._cond:
                if ticket in self._waiting:
                    self._waiting.remove(ticket)
                    self._cond.notify_all()
            raise
        try:
            yield
        finally:
            with self._cond:
                self._running -= 1
                self._cond.notify_all()


@process_wide
def work_queue() -> WorkQueue:
    """The process-wide queue for heavy work (created on first use with :func:`heavy_slots` slots)."""
    return WorkQueue(heavy_slots())


def heavy_work(on_wait: Callable[[int], None] | None = None, cancel: CancelToken | None = None):
    """Context manager around one long run (training, optimisation) so the server stays responsive.

    >>> with heavy_work(on_wait=lambda n: box.info(f"Waiting for a free slot: {n} ahead of you")):
    ...     train(...)
    """
    return work_queue().slot(on_wait=on_wait, cancel=cancel)




__all__ = ["ABANDONED", "CancelToken", "WorkQueue", "heavy_work", "work_queue"]
