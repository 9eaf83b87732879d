"""One way to run long work on a server a whole class shares (generic: imports no model code).

- :func:`submit` runs heavy work once for every session that asks for the same key: replayed from the
  bounded cache, joined while in progress, or started; in one line for the heavy-work slots; batched
  with others where its type has a registered batcher (ideal images); cancelled on Stop, at its time
  budget and once nobody watches it; its progress is published as :class:`~.runs.Snapshot`\\ s.
- :func:`memo` is the same idea for a quick value every session asks for alike.
- Keys come from :func:`run_key` (models by content fingerprint, photos and uploads by content).

>>> sub = serving.submit(serving.run_key("attack", model, photo=photo, ...), lambda publish, token: ...)
>>> for snap in sub.updates(0.4): show(snap.image, snap.log)      # or, on a page: ui.runs.watch(sub, ...)
>>> sub.run.result, sub.run.error
"""

from __future__ import annotations

from typing import Callable, TypeVar

from .batching import Scheduler, batcher_for, default_scheduler, register_batcher
from .jobs import Publish, SharedJobs, Work, shared_jobs
from .keys import content_key, model_fingerprint, run_key
from .queue import CancelToken, heavy_work
from .runs import Snapshot, Subscription
from .values import shared_values

T = TypeVar("T")


def submit(key, work, *, via: SharedJobs | Scheduler | None = None, max_seconds: float | None = None,
           persist: bool = True) -> Subscription:
    """Watch the heavy run for ``key`` (from :func:`run_key`; None: never shared): replayed, joined or
    started.

    ``work`` is either ``work(publish, token) -> result``, run on its own thread holding a heavy-work
    slot (it calls ``publish(step, image_or_None, metrics)`` after each step, which raises
    :class:`explorer.Cancelled` once the run is stopped, out of time or unwatched), or a request whose
    type has a registered batcher (:func:`register_batcher`), stepped together with others of its group.
    ``via``: a private executor (tests); default the process-wide one. ``max_seconds``: the time budget
    (default :func:`explorer.runtime.run_budget`; a thread job's starts when it gets its slot).
    ``persist=False`` keeps the result out of the cache's disk copy (it holds a Keras model).
    """
    if via is None:
        via = default_scheduler() if batcher_for(work) is not None else shared_jobs()
    return via.submit(key, work, max_seconds, persist)


def memo(key, make: Callable[[], T]) -> T:
    """The value for ``key`` (from :func:`run_key`), made by ``make()`` once for the whole server.

    Quick values every session asks for alike: a second caller for a key being made waits for it;
    the result is frozen (read-only) and kept in a bounded LRU (``CNN_EXPLORER_VALUES_MB``).
    """
    return shared_values().get(key, make)


__all__ = ["CancelToken", "Publish", "Scheduler", "SharedJobs", "Snapshot", "Subscription", "Work",
           "content_key", "default_scheduler", "heavy_work", "memo", "model_fingerprint", "register_batcher",
           "run_key", "submit"]
