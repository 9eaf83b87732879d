"""Sharing one small server between a classroom: TF threads, a queue for heavy work, cancellation.

One Streamlit process serves every student; each session runs its script in its own thread, and all of
them share TensorFlow's thread pools and the CPU. Three tools keep that fair:

- :func:`configure` sets TensorFlow's thread pools once, at app start (before the first op runs).
- :func:`heavy_work` is a first-come-first-served queue for long runs (training, optimisation): at most
  :func:`heavy_slots` run at once, the others wait and are told their place in the queue. Quick work
  (one forward pass for feature maps) does not need it.
- :class:`CancelToken` lets a long loop stop early: when the user presses Stop, or when the run's time
  budget is spent (so one session cannot hold a slot forever).

Environment overrides (for the teacher's server): ``CNN_EXPLORER_THREADS`` (intra-op threads),
``CNN_EXPLORER_HEAVY_SLOTS`` (concurrent heavy runs), ``CNN_EXPLORER_MAX_RUN_SECONDS`` (time budget of
one heavy run).
"""

from __future__ import annotations

import collections
import functools
import ctypes
import gc
import os
import sys
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator, TypeVar

T = TypeVar("T")

THREADS_ENV = "CNN_EXPLORER_THREADS"
SLOTS_ENV = "CNN_EXPLORER_HEAVY_SLOTS"
MAX_SECONDS_ENV = "CNN_EXPLORER_MAX_RUN_SECONDS"
DEFAULT_MAX_SECONDS = 300.0


class Cancelled(RuntimeError):
    """A long run was stopped: by the user, or because its time budget was spent."""


class Diverged(ArithmeticError):
    """An optimisation produced NaN or infinite values (usually: the learning rate is far too high).

    The one divergence error of the package. Loops detect it inside their compiled step (a ``finite``
    flag computed with the update) and raise it with ``result``: the run up to the last finite image,
    so nothing already computed is lost.
    """

    def __init__(self, message: str, result=None):
        super().__init__(message)
        self.result = result


def env_int(name: str, default: int) -> int:
    """A positive integer from the environment, else ``default``."""
    try:
        value = int(os.environ.get(name, ""))
    except ValueError:
        return default
    return value if value > 0 else default


def cpu_count() -> int:
    """CPUs this process may use (respects taskset/cgroup affinity where the OS reports it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def heavy_slots() -> int:
    """How many heavy runs may go at once: one per CPU, at most 4, unless overridden.

    One heavy run (a gradient step on a batch of 2, a training epoch) keeps about one core busy even
    with TensorFlow's threads on both: measured on 2 cores, the page's painting and its plain-noise
    comparison side by side took 25 s, one after the other 31 s."""
    return env_int(SLOTS_ENV, max(1, min(4, cpu_count())))


_configured: dict | None = None
_configure_lock = threading.Lock()
#: How long a Python thread may hold the interpreter lock while another waits for it (Python's default:
#: 5 ms). A gradient step hands the lock back and forth with the other sessions' scripts dozens of times
#: (each TensorFlow call releases it, each result needs it back); with twenty pages being redrawn, every
#: one of those waits could cost the run 5 ms. ``bench/switch_interval.py``: a run beside four busy
#: Python threads took 2.6 times as long as alone at 5 ms, 1.8 times at 1 ms (beside two: no difference).
SWITCH_INTERVAL_S = 0.001
_M_ARENA_MAX = -8  # glibc mallopt parameter


def limit_malloc_arenas(arenas: int = 2) -> bool:
    """Cap glibc's per-thread malloc arenas (like ``MALLOC_ARENA_MAX``); True if applied.

    Streamlit runs every script rerun in a fresh thread and glibc gives busy threads their own arenas
    (up to 8 per CPU), so TensorFlow's buffers get spread over many arenas that are never returned: the
    server's memory creeps up with each new student. Two arenas keep it flat (see bench/load.py). Does
    nothing if ``MALLOC_ARENA_MAX`` is already set, or off glibc.
    """
    if os.environ.get("MALLOC_ARENA_MAX") or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(_M_ARENA_MAX, int(arenas)))
    except (OSError, AttributeError):
        return False


def settle_heap() -> float:
    """Collect garbage once, then exempt every object alive now from later collections; returns seconds.

    Streamlit calls ``keras.backend.clear_session()`` after every script run of every session, and that
    runs a full garbage collection. With TensorFlow, Keras and a few models loaded, the heap holds about
    430,000 objects and each collection takes 0.5-1.3 s of holding Python's lock: thirty students
    clicking stall each other for minutes. The objects alive after the imports and a model load live as
    long as the server, so :func:`gc.freeze` moves them out of the collector's sight; the collection
    after each script run then scans only what is new (measured: 0 ms instead of 450-1,300 ms).
    Reference counting still frees everything; only reference cycles among frozen objects would stay.
    Called by :func:`configure` (after TensorFlow's import) and after each model load.
    """
    start = time.perf_counter()
    gc.collect()
    gc.freeze()
    return time.perf_counter() - start


def configure(intra_op: int | None = None, inter_op: int | None = None) -> dict:
    """Set TensorFlow's thread pools, malloc arenas and Python's thread switch interval for a small shared
    server; call on every rerun.

    ``intra_op`` (threads inside one big op such as a convolution) defaults to the CPU count:
    a lone student gets the whole machine. ``inter_op`` (independent ops run side by side) defaults to
    2: concurrent sessions already keep the cores busy, and a wide inter-op pool on top of that only
    multiplies threads (and per-thread memory arenas). Returns the settings in effect. TensorFlow fixes
    its pools at the first op, so a later call with other values changes nothing and says so in
    ``"applied"``.
    """
    global _configured
    with _configure_lock:
        if _configured is not None:
            return dict(_configured, applied=False)
        import tensorflow as tf

        arenas = limit_malloc_arenas()
        intra = intra_op or env_int(THREADS_ENV, cpu_count())
        inter = inter_op or 2
        try:
            tf.config.threading.set_intra_op_parallelism_threads(intra)
            tf.config.threading.set_inter_op_parallelism_threads(inter)
            applied = True
        except RuntimeError:  # TF already initialised (e.g. a model was built first): keep its pools
            applied = False
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        _configured = {
            "intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
            "heavy_slots": heavy_slots(),
            "malloc_arenas_limited": arenas,
            "switch_interval_ms": sys.getswitchinterval() * 1000,
        }
        settle_heap()
        return dict(_configured, applied=applied)


class CancelToken:
    """A flag a long loop checks between steps; cancelled by :meth:`cancel` or after ``max_seconds``.

    >>> token = CancelToken(max_seconds=60)
    >>> for step in range(steps):
    ...     token.raise_if_cancelled()   # or: if token.cancelled: break
    """

    def __init__(self, max_seconds: float | None = None):
        self._event = threading.Event()
        self._deadline = None if max_seconds is None else time.monotonic() + float(max_seconds)
        self.max_seconds = max_seconds
        self.reason: str | None = None

    def cancel(self, reason: str = "Stopped.") -> None:
        if not self._event.is_set():
            self.reason = reason
            self._event.set()

    @property
    def cancelled(self) -> bool:
        if not self._event.is_set() and self._deadline is not None and time.monotonic() >= self._deadline:
            self.cancel(f"Stopped after {self.max_seconds:g} s, the time limit for one run on this shared server.")
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


def process_wide(make: Callable[[], T]) -> Callable[[], T]:
    """Decorator: the getter of one object per process, made by ``make()`` on first use (thread-safe,
    made once however many sessions ask at the same moment) and returned ever after."""
    lock = threading.Lock()
    made: list = []

    @functools.wraps(make)
    def get() -> T:
        with lock:
            if not made:
                made.append(make())
            return made[0]

    return get


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


def run_budget() -> float:
    """Seconds one heavy run may take on this server (``CNN_EXPLORER_MAX_RUN_SECONDS``, default 300)."""
    return float(env_int(MAX_SECONDS_ENV, int(DEFAULT_MAX_SECONDS)))


__all__ = ["env_int", "Cancelled", "CancelToken", "Diverged", "WorkQueue", "configure", "cpu_count",
           "heavy_slots", "heavy_work", "limit_malloc_arenas", "process_wide", "run_budget", "settle_heap",
           "work_queue"]


import weakref  # noqa: E402  (WeakCache's own import: this part of the module is appended)


class WeakCache:
    """Values made once per live object (a model), held only as long as the object lives.

    >>> _STEPS = WeakCache()
    >>> step = _STEPS.get(model, lambda: compile_step(model))              # one value per model
    >>> run = _MAPS.get(model, lambda: build(model, layers), key=layers)   # or one per (model, key)

    The object is a weak key: when the last session drops a model, its compiled steps go with it (so a
    value must not hold the object strongly; hold it with :func:`weakref.ref`, or return None for "the
    object itself"). ``make()`` runs outside the cache's lock, so a slow compilation for one model never
    holds up another; callers asking for the same object and key at once wait for the one ``make()``,
    so an object never gets two values. If ``make()`` raises, nothing is stored and the next caller tries.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._values: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # obj -> {key: value}
        self._making: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # obj -> {key: Lock}

    def _found(self, obj, key):
        per = self._values.get(obj)
        return (True, per[key]) if per is not None and key in per else (False, None)

    def get(self, obj, make: Callable[[], T], key=None) -> T:
        """The value for ``(obj, key)``, made by ``make()`` on first use."""
        with self._lock:
            found, value = self._found(obj, key)
            if found:
                return value
            making = self._making.setdefault(obj, {}).setdefault(key, threading.Lock())
        with making:
            with self._lock:
                found, value = self._found(obj, key)
            if found:
                return value
            value = make()
            with self._lock:
                self._values.setdefault(obj, {})[key] = value
                self._making.get(obj, {}).pop(key, None)
            return value

    def __contains__(self, obj) -> bool:
        with self._lock:
            return bool(self._values.get(obj))


__all__ += ["WeakCache"]
