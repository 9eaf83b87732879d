"""The thread executor: any keyed heavy call computed once for every session (attacks, sweeps, training).

Work a batcher steps together (ideal images) goes through :mod:`.batching`. Other heavy work (an attack,
an epsilon sweep, training a classifier) is one long function call; :class:`SharedJobs` runs such a call
once for all sessions that ask for the same key, with the books kept by :mod:`.runs`
(:func:`explorer.serving.submit` picks the executor):

- ``submit(key, work)`` returns a :class:`~.runs.Subscription`. The first request for a
  key starts ``work(publish, token)`` on a background thread; a second request while it runs *joins* it
  and sees its live state from the current step on (with the whole curve so far in ``snapshot.log``);
  a finished run is replayed from the cache at once; ``key=None`` is never shared.
- ``work`` calls ``publish(step, image_or_None, metrics)`` after each step and returns the result. The
  ``token`` it gets (the run's :class:`~.queue.CancelToken`) is cancelled by the run's time budget, by
  ``run.token.cancel()`` (Stop), and once nobody has watched the run for the orphan grace (a closed tab): ``publish`` then raises
  :class:`explorer.Cancelled`, so a work function that publishes needs no check of its own.
- The work holds one heavy-work slot (:func:`.queue.work_queue`) for its whole run, so
  training, attacks and the scheduler's batched steps take turns; while it waits, its place in line is
  the run's ``position`` (a page shows "2 runs are ahead of yours"). Its time budget
  (``max_seconds``, default :func:`explorer.runtime.run_budget`) starts when it gets the slot.
- Its outcome is the run's: the returned value (``'done'``, cached), :class:`explorer.Diverged` (its
  ``result`` kept, cached like the scheduler's), :class:`explorer.Cancelled` (``'cancelled'``, the
  exception as the error, never cached), any other exception (``'failed'``, never cached). A failing
  job ends its own run only; the next job runs as usual.

>>> sub = serving.submit(run_key("attack", ...), lambda publish, token: attack(..., publish))
>>> for snap in sub.updates(0.4): show(snap.image, snap.log)
>>> sub.run.result, sub.run.error
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import math
import threading
from typing import Any, Callable

from .. import runtime
from ..runtime import Cancelled, Diverged
from .queue import CancelToken, WorkQueue, work_queue
from .runs import SharedRun, SharedRuns, Subscription, shared_runs

#: ``publish(step, image_or_None, metrics)``: report one step of a job (raises Cancelled once cancelled).
Publish = Callable[[int, Any, dict], None]
#: ``work(publish, token) -> result``: the heavy computation of a job (``token``: its run's CancelToken).
Work = Callable[[Publish, CancelToken], Any]


class SharedJobs:
    """Runs keyed jobs once for all sessions, each on its own thread holding a heavy-work slot.

    ``shared`` keeps the books (default: the process-wide :func:`.runs.shared_runs`, the
    same books as the scheduler's); ``queue`` is the heavy-work queue (default: the process-wide one;
    None with ``use_slots=False``: no slot at all, for tests).
    """

    def __init__(self, shared: SharedRuns | None = None, queue: WorkQueue | None = None,
                 use_slots: bool = True):
        self.shared = shared if shared is not None else shared_runs()
        self.queue = queue
        self.use_slots = use_slots
        self._threads: dict[SharedRun, threading.Thread] = {}
        self._lock = threading.Lock()
        self._names = itertools.count()
        self._stopping = False

    def submit(self, key, work: Work, max_seconds: float | None = None, persist: bool = True) -> Subscription:
        """Watch the job for ``key``: replayed from the cache, joined if in progress, else started with
        ``work``. ``persist=False``: its result stays out of the cache's disk copy (a Keras model)."""

        budget = runtime.run_budget() if max_seconds is None else float(max_seconds)

        def start(run: SharedRun) -> None:
            with self._lock:
                if self._stopping:
                    raise RuntimeError("The server is shutting down.")
                thread = threading.Thread(target=self._run, args=(run, work, budget), daemon=True,
                                          name=f"explorer-job-{next(self._names)}")
                self._threads[run] = thread
            thread.start()

        # No time limit while it waits in line: its budget starts when it gets a slot (SharedRun.begin).
        return self.shared.subscribe(key, start, math.inf, persist=persist)

    def active(self) -> int:
        """Jobs queued or in progress."""
        with self._lock:
            return len(self._threads)

    def shutdown(self, timeout: float = 5.0) -> None:
        """Cancel every job and wait for their threads (tests, and the end of the process)."""
        with self._lock:
            self._stopping = True
            threads = dict(self._threads)
        for run in threads:
            run.token.cancel("The server is shutting down.")
        for thread in threads.values():
            thread.join(timeout)

    def _slot(self, run: SharedRun):
        if not self.use_slots:
            return contextlib.nullcontext()
        queue = self.queue if self.queue is not None else work_queue()
        return queue.slot(on_wait=run.set_position, cancel=run.token)

    def _run(self, run: SharedRun, work: Work, budget: float) -> None:
        token = run.token

        def publish(step: int, image=None, metrics: dict | None = None) -> None:
            token.raise_if_cancelled()
            run.publish(step, image, metrics or {})

        try:
            with self._slot(run):
                token.raise_if_cancelled()  # nobody watched while it waited in line
                run.begin(budget)
                result = work(publish, token)
        except Cancelled as exc:
            run.finish(getattr(exc, "result", None), exc, state="cancelled")
        except Diverged as exc:
            run.finish(exc.result, exc)
        except Exception as exc:  # noqa: BLE001  (a failing job ends its own run, with its error)
            run.finish(None, exc)
        else:
            run.finish(result)
        finally:
            if not run.finished:  # SystemExit and the like: never leave a run that nobody will finish
                run.finish(None, RuntimeError("The job stopped unexpectedly."))
            with self._lock:
                self._threads.pop(run, None)


@runtime.process_wide
def shared_jobs() -> SharedJobs:
    """The process-wide :class:`SharedJobs` (over :func:`.runs.shared_runs`)."""
    jobs = SharedJobs()
    atexit.register(jobs.shutdown)  # stop mid-step work before TensorFlow is torn down
    return jobs


__all__ = ["Publish", "SharedJobs", "Work", "shared_jobs"]
