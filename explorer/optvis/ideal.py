"""The one entry point of feature visualisation: :func:`ideal_image`, one run or several pushed apart.

One image is a :class:`~.render.PaintRun` stepped alone; ``images=n`` with ``diversity=w`` goes to
:mod:`.diverse` (n images in lock step). Both build on :mod:`.render`; this module sits above them.
"""

from __future__ import annotations

from typing import Callable

from ..runtime import Diverged
from .diverse import ideal_images
from .render import IdealImage, PaintRun, check_options, checked_steps, checked_target, step_runs


def ideal_image(model, target: int | None = None, steps: int = 200, seed: int = 0, callback: Callable | None = None,
                **options) -> IdealImage:
    """Paint the image ``model`` finds most like class ``target``: gradient descent on ``-log p(target)``
    plus regularisers, starting from noise.

    ``model`` is any classifier taking RGB pixels 0..255 and giving probabilities (zoo or user-trained).
    Options (see :data:`DEFAULTS`): ``preset`` (a name from :data:`PRESETS`, overridden by the other
    options), ``param`` ('pixels' | 'fourier'), ``optimizer`` ('sgd' | 'adam'), ``learning_rate``, ``ce_weight``,
    ``tv_weight``, ``l2_weight``, ``jitter`` (px), ``scale`` (fraction), ``rotation`` (degrees), ``views``,
    ``frame_every``, ``objective``, ``early_stop`` (stop once the target is reached and the image has
    settled: ``result.status == 'settled'``), ``images``, ``diversity``, ``diversity_layer``.

    ``target=None`` optimises ``objective`` alone (e.g. ``optvis.channel("block_13_expand_relu", 7)``):
    ``history`` then holds the objective's score (minus its loss) and ``probability`` is None.
    ``images=n`` with ``diversity=w > 0`` paints n images at once, each pushed away from the others'
    Gram features at ``diversity_layer`` (Lucid's diversity objective); ``result.images`` holds all n.

    ``callback(step, image, metrics)`` runs after every step with the new uint8 image and a dict
    (``probability``, ``loss``, ``ce``, ``tv``, ``l2``, ``seconds``); returning ``False`` cancels the run
    (``result.status == 'cancelled'``). Raises :class:`explorer.Diverged` (``.result``: the run so far) on
    NaN/inf, ``ValueError`` on bad options.
    """
    o = check_options(options)
    if o["images"] > 1:
        return ideal_images(model, checked_target(model, target, o), checked_steps(steps), seed, callback, o)
    run = PaintRun(model, target, steps, seed, **options)
    while not run.done:
        (metrics,) = step_runs([run])
        if isinstance(metrics, Diverged):
            raise metrics
        if callback is not None and callback(run.step, run.result.image, metrics) is False:
            return run.finish("cancelled")
    return run.finish()


__all__ = ["ideal_image"]
