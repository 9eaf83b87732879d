"""Sharing one small server between a classroom: TF threads, heap and the limits of heavy work.

One Streamlit process serves every student; each session runs its script in its own thread, and all of
them share TensorFlow's thread pools and the CPU. :func:`configure` sets TensorFlow's thread pools once,
at app start (before the first op runs); :func:`heavy_slots` and :func:`run_budget` say how many long runs
may go at once and for how long (the queue and the cancel token that apply them are in
:mod:`explorer.serving.queue`); :class:`Cancelled` and :class:`Diverged` are how a long run ends early.

Environment overrides (for the teacher's server): ``CNN_EXPLORER_THREADS`` (intra-op threads),
``CNN_EXPLORER_HEAVY_SLOTS`` (concurrent heavy runs), ``CNN_EXPLORER_MAX_RUN_SECONDS`` (time budget of
one heavy run).
"""

from __future__ import annotations

import ctypes
import functools
import gc
import os
import sys
import threading
import time
from typing import Callable, TypeVar

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


def run_budget() -> float:
    """Seconds one heavy run may take on this server (``CNN_EXPLORER_MAX_RUN_SECONDS``, default 300)."""
    return float(env_int(MAX_SECONDS_ENV, int(DEFAULT_MAX_SECONDS)))


__all__ = ["env_int", "Cancelled", "Diverged", "configure", "cpu_count", "heavy_slots", "limit_malloc_arenas",
           "process_wide", "run_budget", "settle_heap"]


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

    def values(self, obj) -> list:
        """Every value made so far for ``obj`` (any key)."""
        with self._lock:
            return list(self._values.get(obj, {}).values())

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
