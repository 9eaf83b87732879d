"""Heavy runs computed once and shared by every session of the server: keys, live subscriptions, a cache.

In a lesson most students press the same button with the same settings. Each heavy run is keyed by its
full inputs (:func:`~.keys.run_key`: the model's content fingerprint, the class, every option, the seed, the
steps; photos and uploaded models by the bytes of their content), and :class:`SharedRuns` keeps

- the runs in progress, by key: a second request for the same key *subscribes* to the run already
  going and sees its live frames from the current one on (refreshing the page mid-run does not start a
  second copy either);
- the finished runs, in a bounded LRU cache (:class:`~.cache.RunCache`, a size limit in MB): the same request
  later replays at once (frames, curves, result).

A run's subscribers are counted: when the last one leaves (the student closed the tab, pressed Stop or
changed a setting) and nobody comes back within ``orphan_grace`` seconds, the run is cancelled and its
slot freed. Results are shared between sessions, so they are frozen (read-only arrays): never mutate
them. The computation itself is done elsewhere (:mod:`.batching` for work a batcher steps together,
:mod:`.jobs` for one long call on a thread; :func:`explorer.serving.submit` picks); this module only
keeps the books. A run keeps every published step's metrics (:attr:`SharedRun.log`), so a session that joins
mid-run draws the whole curve so far. Everything lives in this process; README *Several replicas* says how it would move to Redis.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from typing import Callable, Iterator

import numpy as np

from ..runtime import Diverged, process_wide, run_budget
from .cache import RunCache
from .keys import freeze
from .queue import CancelToken

CACHE_MB_ENV = "CNN_EXPLORER_CACHE_MB"
CACHE_DIR_ENV = "CNN_EXPLORER_CACHE_DIR"  # set: finished runs are also kept on disk (warm-up, restarts, replicas)
DEFAULT_CACHE_MB = 256  # in memory; the disk copy may hold 4 times as much
FINISHED = ("done", "failed", "cancelled")
ORPHAN_GRACE_S = 5.0  # a run nobody watches any more is cancelled after this long (a refresh comes back sooner)


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """What a subscriber sees of a run at one moment."""

    state: str  # 'queued', 'running', 'done', 'failed' or 'cancelled'
    step: int  # last step computed (0 before the first)
    image: np.ndarray | None  # the latest image (read-only)
    metrics: dict  # the latest step's metrics (probability, loss, ...)
    history: list  # target probability per step so far
    losses: list  # loss per step so far
    position: int  # 0 while being computed; n: n runs ahead of it in line
    version: int
    log: list = dataclasses.field(default_factory=list)  # every step's metrics so far (a joiner's whole curve)


class SharedRun:
    """One heavy run, watched by any number of sessions through :class:`Subscription`.

    The computing side calls :meth:`publish` after each step and :meth:`finish` once; it checks
    :attr:`token` (cancelled by Stop, by the time budget, or once nobody has watched for ``orphan_grace``).
    """

    def __init__(self, key, orphan_grace: float = ORPHAN_GRACE_S, max_seconds: float | None = None,
                 on_finish: Callable[["SharedRun"], None] | None = None):
        self.key = key
        self.token = CancelToken(run_budget() if max_seconds is None else max_seconds, abandoned=self.abandoned)
        self.orphan_grace = float(orphan_grace)
        self.state = "queued"
        self.step = 0
        self.image = None
        self.metrics: dict = {}
        self.history: list[float] = []
        self.losses: list[float] = []
        self.log: list[dict] = []  # every published step's metrics, in order (dicts: never changed once logged)
        self.position = 0
        self.persist = True  # False: its result is cached in memory only (e.g. it holds a Keras model)
        self.result = None
        self.error: BaseException | None = None
        self.cached = False  # True: replayed from the cache, nothing was computed
        self.ending: str | None = None  # the state it is finishing in (set just before ``state``)
        self.version = 0
        self.subscribers = 0
        self._orphan_since: float | None = None
        self._cond = threading.Condition()
        self._on_finish = on_finish

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    # computing side
    def publish(self, step: int, image, metrics: dict) -> None:
        if image is not None:
            image = np.asarray(image)
            image.flags.writeable = False
        with self._cond:
            self.state, self.step, self.image, self.metrics, self.position = "running", step, image, dict(metrics), 0
            if "probability" in metrics:
                self.history.append(float(metrics["probability"]))
            if "loss" in metrics:
                self.losses.append(float(metrics["loss"]))
            self.log.append(self.metrics)
            self.version += 1
            self._cond.notify_all()

    def begin(self, max_seconds: float | None = None) -> None:
        """The computation has started (before its first step is published): no longer in line. With
        ``max_seconds``, its time budget starts now (a run created with an endless budget while it waits
        for a slot, so waiting in line takes nothing from it)."""
        with self._cond:
            if self.state != "queued":
                return
            if max_seconds is not None:
                self.token.start_clock(max_seconds)  # Stop while it waited: it stays cancelled
            self.state, self.position = "running", 0
            self.version += 1
            self._cond.notify_all()

    def set_position(self, position: int) -> None:
        with self._cond:
            if position != self.position:
                self.position = position
                self.version += 1
                self._cond.notify_all()

    def finish(self, result=None, error: BaseException | None = None, state: str | None = None) -> None:
        """Close the run: ``state`` defaults to 'failed' with an error, else 'done'."""
        freeze(result)
        freeze(error)
        with self._cond:
            if self.finished or self.ending is not None:
                return
            self.result, self.error = result, error
            self.ending = state or ("failed" if error is not None else "done")
        try:
            if self._on_finish is not None:  # the books first: whoever sees it finished finds it in the cache
                self._on_finish(self)
        finally:
            with self._cond:
                self.state = self.ending
                self.version += 1
                self._cond.notify_all()

    def abandoned(self) -> bool:
        """True once nobody has watched the run for ``orphan_grace`` seconds (then cancel it)."""
        with self._cond:
            return self._orphan_since is not None and time.monotonic() - self._orphan_since >= self.orphan_grace

    # watching side
    def subscribe(self, joined: bool = False) -> "Subscription":
        return Subscription(self, joined)

    def _attach(self) -> None:
        with self._cond:
            self.subscribers += 1
            self._orphan_since = None

    def _detach(self) -> None:
        with self._cond:
            self.subscribers -= 1
            if self.subscribers <= 0 and not self.finished:
                self._orphan_since = time.monotonic()
                self._cond.notify_all()

    def snapshot(self) -> Snapshot:
        with self._cond:
            return Snapshot(self.state, self.step, self.image, dict(self.metrics), list(self.history),
                            list(self.losses), self.position, self.version, list(self.log))

    def wait_finished(self, timeout: float) -> Snapshot:
        """The run's state once it has finished, or after ``timeout`` seconds."""
        with self._cond:
            self._cond.wait_for(lambda: self.finished, timeout)
        return self.snapshot()


class Subscription:
    """A session watching a :class:`SharedRun`; ``with`` it, or :meth:`close` it when the session leaves.

    :attr:`joined` is True when the run was already in progress for another session (so the page can
    say so), :attr:`replayed` when it came from the cache (nothing was computed for this request).
    """

    def __init__(self, run: SharedRun, joined: bool = False):
        self.run = run
        self.joined = joined
        self._open = True
        run._attach()

    @property
    def replayed(self) -> bool:
        return self.run.cached

    def close(self) -> None:
        if self._open:
            self._open = False
            self.run._detach()

    def __enter__(self) -> "Subscription":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def updates(self, every: float = 0.4) -> Iterator[Snapshot]:
        """The run's latest state now, then every ``every`` seconds (changed or not: a page that keeps
        writing is how Streamlit tells a script its tab closed), until the finished one, which comes as
        soon as the run ends."""
        timeout = 0.0
        while True:
            snap = self.run.wait_finished(timeout)
            yield snap
            if snap.state in FINISHED:
                return
            timeout = every


class SharedRuns:
    """The process's books: runs in progress by key, and the cache of finished ones."""

    def __init__(self, cache_mb: float | None = None, orphan_grace: float = ORPHAN_GRACE_S,
                 directory: str | os.PathLike | None = None):
        if cache_mb is None:
            try:
                cache_mb = float(os.environ.get(CACHE_MB_ENV, DEFAULT_CACHE_MB))
            except ValueError:
                cache_mb = DEFAULT_CACHE_MB
        self.cache = RunCache(cache_mb, directory)
        self.orphan_grace = orphan_grace
        self._running: dict = {}
        self._lock = threading.Lock()
        self.started = 0  # runs actually computed (not joined, not replayed)
        self.joined = 0
        self.replayed = 0

    def running(self) -> int:
        with self._lock:
            return len(self._running)

    def watching(self) -> int:
        """Sessions watching a run in progress right now (pages slow their redraws when there are many)."""
        with self._lock:
            return sum(max(0, run.subscribers) for run in self._running.values())

    def subscribe(self, key, start: Callable[[SharedRun], None], max_seconds: float | None = None,
                  persist: bool = True) -> Subscription:
        """Watch the run for ``key``: replayed from the cache, joined if in progress, else created and
        handed to ``start(run)`` (which must arrange for it to be computed, and may raise: then nothing
        is registered). ``key=None`` means not shareable: always a fresh run, never cached.
        ``persist=False`` keeps its result out of the disk copy of the cache (results holding objects
        that do not pickle faithfully, such as Keras models)."""
        with self._lock:
            if key is not None:
                cached = self.cache.get(key)
                if cached is not None:
                    self.replayed += 1
                    result, error = cached
                    run = SharedRun(key, self.orphan_grace, max_seconds)
                    run.cached = True
                    run.history = _per_step(getattr(result, "history", None))
                    run.losses = _per_step(getattr(result, "losses", None))
                    run.step = len(run.history)
                    run.image = getattr(result, "image", None)
                    run.finish(result, error)
                    return run.subscribe()
                live = self._running.get(key)
                if live is not None and not live.finished and not live.token.cancelled:
                    self.joined += 1
                    return live.subscribe(joined=True)
            run = SharedRun(key, self.orphan_grace, max_seconds, on_finish=self._finished)
            run.persist = persist
            subscription = run.subscribe()  # before start: the run is never without a watcher by accident
            start(run)
            self.started += 1
            if key is not None:
                self._running[key] = run
            return subscription

    def _finished(self, run: SharedRun) -> None:
        # Kept: finished runs and divergences (the same inputs diverge again); not cancelled or crashed ones.
        # Cached before it leaves the runs in progress, so a request meanwhile finds it in one or the other.
        if run.key is not None and run.ending == "done":
            self.cache.put(run.key, (run.result, None), persist=run.persist)
        elif run.key is not None and isinstance(run.error, Diverged):
            self.cache.put(run.key, (run.result, run.error), persist=False)  # exceptions do not unpickle
        with self._lock:
            if self._running.get(run.key) is run:
                del self._running[run.key]


def _per_step(values) -> list:
    """A result's per-step curve (a list of numbers) for a replay; anything else (a dict of curves) is none."""
    return list(values) if isinstance(values, (list, tuple)) else []


@process_wide
def shared_runs() -> SharedRuns:
    """The process-wide :class:`SharedRuns` (cache size from ``CNN_EXPLORER_CACHE_MB``, default 256; kept
    on disk too in ``CNN_EXPLORER_CACHE_DIR`` if set)."""
    return SharedRuns(directory=os.environ.get(CACHE_DIR_ENV) or None)


__all__ = ["SharedRun", "SharedRuns", "Snapshot", "Subscription", "shared_runs"]
