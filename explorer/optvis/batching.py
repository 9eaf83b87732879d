"""Ideal images through the shared scheduler: keyed, deduplicated, and batched with other students' runs.

:func:`paint` keys a run by its full inputs (:func:`ideal_image_key`) and hands :func:`explorer.serving.submit`
a :class:`Painting`, a request the scheduler turns into a :class:`~.render.PaintRun` only when the run
starts (a joined or replayed request builds nothing). Runs of one model and structure share each
compiled step (:func:`~.render.step_runs`); a custom objective is never shared nor batched.

>>> sub = paint(model, 281, steps=200)   # a Subscription
>>> for snap in sub.updates(0.4): show(snap.image, snap.history)
>>> sub.run.result, sub.run.error
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import serving
from .render import PaintRun, check_options, step_runs


@dataclass(frozen=True, eq=False)
class Painting:
    """An ideal-image run asked for: :func:`explorer.ideal_image`'s arguments."""

    model: object
    target: int | None
    steps: int
    seed: int
    options: dict

    def start(self) -> PaintRun:
        return PaintRun(self.model, self.target, self.steps, self.seed, **self.options)


def _group(run: PaintRun) -> tuple:
    """Runs of one model and structure share a step; a custom objective's run steps alone."""
    return (id(run.model), run.structure if run.structure is not None else id(run))


def _step(runs: list) -> list:
    """One batched step (:func:`~.render.step_runs`, looked up at call time so tests can stand in for it)."""
    return step_runs(runs)


serving.register_batcher(Painting, start=Painting.start, step=_step, group=_group)


def ideal_image_key(model, target: int, steps: int, seed: int, options: dict) -> tuple | None:
    """Full-inputs key of an ideal-image run; options are normalised (preset expanded, numbers as
    numbers, the default frame interval made explicit), so equal settings spelled differently share.
    None for a custom objective (a function cannot be compared: such runs are never shared)."""
    o = check_options(options)
    if o.pop("objective") is not None:
        return None
    steps = int(steps)
    o["frame_every"] = int(o["frame_every"] or max(1, steps // 20))
    return serving.run_key("ideal_image", model, target=int(target), steps=steps, seed=int(seed), options=o)


def paint(model, target: int, steps: int = 200, seed: int = 0, *, via: serving.Scheduler | None = None,
          **options) -> serving.Subscription:
    """Watch the ideal-image run for these inputs (as :func:`explorer.ideal_image` takes them): replayed,
    joined or started on the shared scheduler (``via``: a private one, for tests). Bad options raise
    ``ValueError`` at once."""
    key = ideal_image_key(model, target, steps, seed, options)
    return serving.submit(key, Painting(model, target, steps, seed, options), via=via)




def _thread_job(model, target, steps: int, seed: int, options: dict):
    """``work(publish, token)`` painting with :func:`explorer.ideal_image` on a thread of its own."""
    from .ideal import ideal_image

    def work(publish, token):
        return ideal_image(model, target, steps=steps, seed=seed, callback=publish, **options)

    return work


def paint_several(model, target: int, steps: int = 200, seed: int = 0, **options) -> serving.Subscription:
    """Watch ``images=n`` ideal images pushed apart (:mod:`.diverse`: n images in lock step, one job)."""
    key = serving.run_key("ideal_images", model, target=int(target), steps=int(steps), seed=int(seed),
                          options=check_options(options))
    return serving.submit(key, _thread_job(model, target, steps, seed, options))


def paint_channel(model, layer: str, channel: int, steps: int) -> serving.Subscription:
    """Watch the picture that makes ``channel`` of ``layer`` strongest (computed once for the class)."""
    from . import objectives

    key = serving.run_key("channel_image", model, layer=layer, channel=int(channel), steps=int(steps))
    work = _thread_job(model, None, steps, 0, {"objective": objectives.channel(layer, int(channel))})
    return serving.submit(key, work)


__all__ = ["Painting", "ideal_image_key", "paint", "paint_channel", "paint_several"]
