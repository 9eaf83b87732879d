"""The batching executor: distinct runs of one group share each step (continuous batching).

A gradient step on a batch of images costs far less per image than one step per image (MobileNetV2 on
2 cores: 46 ms for 1, 309 ms for 16). So instead of letting runs take turns in a slot, the scheduler
keeps every run in progress and, at each turn, steps all runs of one *group* together with the step of
their type's registered :class:`Batcher` (ideal images: :mod:`explorer.optvis.batching`, which groups
runs by model and structure):

- runs join and leave between steps (continuous batching); each keeps its own settings;
- groups take turns (the one served longest ago goes next), so the plain-noise comparison and the
  regularised runs both move; with several workers (one per heavy-work slot) two groups step side by
  side, and a big group is split between the workers (each batched step keeps about one core busy);
- each run has its own time budget and is cancelled when nobody watches it any more (its token);
- one run's :class:`explorer.Diverged` ends that run only.

Identical requests never reach the scheduler twice: :mod:`.runs` joins them to the run in progress or
replays the cached result. Each batched step holds one of the heavy-work slots (:func:`.queue.work_queue`)
so training and attacks still take turns with it. This module imports no model code: a batchable item
is anything with ``step`` (steps done), ``image`` (the latest picture or None), ``done`` and
``finish(status=None) -> result``.

>>> register_batcher(PaintOrder, start=PaintOrder.begin, step=step_runs, group=lambda run: run.structure)
>>> sub = default_scheduler().submit(key, PaintOrder(...))   # a Subscription
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable

from .. import runtime
from ..runtime import Diverged
from .queue import work_queue
from .runs import SharedRun, SharedRuns, Subscription, shared_runs

MAX_BATCH_ENV = "CNN_EXPLORER_MAX_BATCH"
#: Runs one worker steps together at most, on a CPU and on a GPU (more take turns for a place).
#: On a CPU a bigger batch gains no speed and holds more activations: bench/max_batch.py (16 distinct
#: runs on 2 cores: batches of 4 runs, i.e. 8 images, took as long as batches of 16 within the machine's
#: noise) and bench/load.py --distinct (peak RSS 2.15 GB instead of 3.15 GB). A GPU gains from every
#: image more.
MAX_BATCH_CPU, MAX_BATCH_GPU = 4, 16


def default_max_batch() -> int:
    """Runs per batched step at most: ``CNN_EXPLORER_MAX_BATCH``, else 16 with a GPU and 4 without."""
    import tensorflow as tf  # only to ask for a GPU: this module imports no model code at load time

    default = MAX_BATCH_GPU if tf.config.list_physical_devices("GPU") else MAX_BATCH_CPU
    return runtime.env_int(MAX_BATCH_ENV, default)


@dataclass(frozen=True)
class Batcher:
    """How the scheduler runs requests of one type: ``start(request) -> item`` (when the run starts: a
    joined or replayed request builds nothing), ``group(item)`` (items of equal groups may share a step)
    and ``step(items) -> [metrics dict or Diverged per item]`` (one step for a batch of one group)."""

    start: Callable[[Any], Any]
    step: Callable[[list], list]
    group: Callable[[Any], Hashable]


_BATCHERS: dict[type, Batcher] = {}


def register_batcher(kind: type, *, start: Callable[[Any], Any], step: Callable[[list], list],
                     group: Callable[[Any], Hashable]) -> None:
    """Requests of type ``kind`` are batched by the scheduler (see :class:`Batcher`)."""
    _BATCHERS[kind] = Batcher(start, step, group)


def batcher_for(request) -> Batcher | None:
    """The batcher registered for ``request``'s type, or None (then it is not batchable)."""
    return _BATCHERS.get(type(request))


@dataclass(eq=False)
class _Job:
    shared: SharedRun
    item: object
    batcher: Batcher
    group: tuple
    order: int = field(default=0)
    stepped: int = field(default=-1)  # the turn it was last taken in (a split group serves its runs in turn)


class Scheduler:
    """Steps batchable work in batches on ``workers`` threads (default: the heavy-work slots).

    ``shared`` keeps the books (dedup, cache); ``use_slots`` makes every step hold a heavy-work slot.
    """

    def __init__(self, shared: SharedRuns | None = None, workers: int | None = None, max_batch: int | None = None,
                 use_slots: bool = True):
        self.shared = shared if shared is not None else shared_runs()
        self.workers = int(workers or runtime.heavy_slots())
        self.max_batch = int(max_batch or default_max_batch())
        self.use_slots = use_slots
        self._jobs: list[_Job] = []
        self._busy: set = set()  # runs being stepped right now
        self._served: dict = {}  # group -> turn number when it was last stepped
        self._turn = itertools.count()
        self._order = itertools.count()
        self._cond = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._stopping = False
        self.batches: list[int] = []  # size of every batch stepped (recent ones): for benches and tests

    # submitting
    def submit(self, key, request, max_seconds: float | None = None, persist: bool = True) -> Subscription:
        """Watch the run for ``key``: replayed, joined, or started from ``request`` (an object whose type
        has a registered :class:`Batcher`; its ``start`` may raise, e.g. ``ValueError``: then nothing is
        registered). The time budget (``max_seconds``, default :func:`explorer.runtime.run_budget`)
        counts from the request: every step of a batch is shared, so there is no slot to wait for."""
        batcher = batcher_for(request)
        if batcher is None:
            raise TypeError(f"No batcher is registered for {type(request).__name__}.")

        def start(run: SharedRun) -> None:
            item = batcher.start(request)
            self._add(_Job(run, item, batcher, (type(request), batcher.group(item)), next(self._order)))

        return self.shared.subscribe(key, start, max_seconds, persist=persist)

    def _add(self, job: _Job) -> None:
        with self._cond:
            if self._stopping:
                raise RuntimeError("The scheduler has been shut down.")
            self._jobs.append(job)
            while len(self._threads) < self.workers:
                thread = threading.Thread(target=self._work, name=f"explorer-scheduler-{len(self._threads)}",
                                          daemon=True)
                self._threads.append(thread)
                thread.start()
            self._cond.notify_all()

    def active(self) -> int:
        """Runs queued or in progress."""
        with self._cond:
            return len(self._jobs)

    def shutdown(self, timeout: float = 5.0) -> None:
        """Cancel every run and stop the worker threads (tests; a server never needs it)."""
        with self._cond:
            self._stopping = True
            jobs = list(self._jobs)
            self._cond.notify_all()
        for job in jobs:
            job.shared.token.cancel("The server is shutting down.")
        for thread in self._threads:
            thread.join(timeout)

    # the work loop
    def _take(self) -> list[_Job] | None:
        """The next batch: the free runs of the group served longest ago, up to ``max_batch``, and no more
        than one worker's share of the group (a group of 8 runs on 2 workers is stepped as two batches of
        4 side by side: one batched step keeps about one core busy, two keep both)."""
        with self._cond:
            while True:
                if self._stopping and not self._jobs:
                    return None
                groups: dict = {}
                sizes: dict = {}  # every run of a group, busy or not
                for job in self._jobs:
                    sizes[job.group] = sizes.get(job.group, 0) + 1
                    if job not in self._busy:
                        groups.setdefault(job.group, []).append(job)
                if groups:
                    group = min(groups, key=lambda g: (self._served.get(g, -1), groups[g][0].order))
                    turn = next(self._turn)
                    self._served[group] = turn
                    # Least recently stepped first: when a group is split, its halves take turns.
                    jobs = sorted(groups[group], key=lambda j: (j.stepped, j.order))
                    share = min(self.max_batch, -(-sizes[group] // self.workers))
                    room = self.max_batch * self.workers - (sizes[group] - len(jobs))  # places in its batches
                    for place, job in enumerate(jobs[max(room, share):], 1):
                        job.shared.set_position(place)
                    batch = jobs[:share]
                    for job in batch:
                        job.stepped = turn
                    self._busy.update(batch)
                    return batch
                self._cond.wait(0.5)

    def _end(self, job: _Job, result=None, error: BaseException | None = None, state: str | None = None) -> None:
        with self._cond:
            if job in self._jobs:
                self._jobs.remove(job)
        job.shared.finish(result, error, state)

    def _work(self) -> None:
        while True:
            batch = self._take()
            if batch is None:
                return
            live: list[_Job] = []
            try:
                for job in batch:
                    if job.shared.token.cancelled or self._stopping:  # Stop, time budget, nobody watching
                        self._end(job, job.item.finish("cancelled"), state="cancelled")
                    else:
                        live.append(job)
                if not live:
                    continue
                slot = work_queue().slot() if self.use_slots else contextlib.nullcontext()
                with slot:
                    outcomes = live[0].batcher.step([job.item for job in live])
                self.batches = (self.batches + [len(live)])[-1000:]
                for job, outcome in zip(live, outcomes):
                    if isinstance(outcome, Diverged):
                        self._end(job, outcome.result, outcome)
                        continue
                    job.shared.publish(job.item.step, job.item.image, outcome)
                    if job.item.done:
                        self._end(job, job.item.finish())
            except Exception as exc:  # noqa: BLE001  (a model that fails: its runs end with the error)
                for job in live:
                    if not job.shared.finished:
                        self._end(job, None, exc)
            finally:
                with self._cond:
                    self._busy.difference_update(batch)
                    self._cond.notify_all()


@runtime.process_wide
def default_scheduler() -> Scheduler:
    """The process-wide scheduler (over :func:`.runs.shared_runs`)."""
    scheduler = Scheduler()
    atexit.register(scheduler.shutdown)  # stop mid-step work before TensorFlow is torn down
    return scheduler


__all__ = ["Batcher", "MAX_BATCH_CPU", "MAX_BATCH_GPU", "Scheduler", "batcher_for", "default_max_batch",
           "default_scheduler", "register_batcher"]
