"""The explanation wall and the sanity check computed once for the whole class (through
:func:`explorer.serving.submit`), keyed by the model's content, the photo's, the class and the settings.

Both return a :class:`~explorer.serving.runs.Subscription`. The wall publishes each method's map as it
is made (``metrics = {"method", "view", "options", "total"}``), then each deletion curve
(``{"curve", "total"}``); its result is a :class:`Wall`. The sanity check publishes its progress
(``{"total"}``); its result is a :class:`~explorer.explain.sanity.SanityCheck`. Results are shared
between sessions: read-only.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import serving
from ..models.classifier import as_uint8, target_index
from .base import subject
from .deletion import DeletionCurve, curve_of, random_curve
from .methods import METHODS, explain
from .sanity import sanity_check


@dataclass(frozen=True)
class Wall:
    """Every method's map of one photo and class (over the model's input grid), with its deletion curve."""

    target: int
    probabilities: object  # np.ndarray
    maps: dict  # method -> float32 h x w map in 0..1
    options: dict  # method -> the settings that ran
    curves: dict  # method -> DeletionCurve
    facts: dict  # method -> what its run found about itself (Attribution.facts), for its caption


def _key(kind: str, model, photo, target: int, options: dict, **more):
    try:
        return serving.run_key(kind, model, photo=photo, target=int(target),
                               options=sorted((m, sorted(o.items())) for m, o in options.items()), **more)
    except Exception:  # noqa: BLE001  (a model that cannot be fingerprinted: computed, never shared)
        return None


def wall(model, image, target, options: dict | None = None, methods=tuple(METHODS)) -> serving.Subscription:
    """Watch every method's map of ``image`` for class ``target`` and their deletion curves."""
    photo, options = as_uint8(image), dict(options or {})
    target = target_index(model, target)
    total = 2 * len(methods) + 1

    def work(publish, token):
        subj = subject(model, photo, target)
        maps, ran, facts = {}, {}, {}
        for i, m in enumerate(methods):
            a = explain(model, photo, m, target, **options.get(m, {}))
            maps[m], ran[m], facts[m] = a.view, a.options, a.facts
            publish(i + 1, None, {"method": m, "view": a.view, "options": a.options, "total": total})
        rnd = random_curve(model, subj)
        publish(len(methods) + 1, None, {"total": total})
        curves: dict[str, DeletionCurve] = {}
        for i, m in enumerate(methods):
            curves[m] = curve_of(model, subj, maps[m], m, rnd)
            publish(len(methods) + 2 + i, None, {"curve": curves[m], "total": total})
        return Wall(target, subj.probabilities, maps, ran, curves, facts)

    return serving.submit(_key("explanation_wall", model, photo, target, options, methods=list(methods)), work)


def sanity(model, image, target, options: dict | None = None, methods=tuple(METHODS),
           depths=None) -> serving.Subscription:
    """Watch :func:`sanity_check` (cascading randomisation of a copy of the model) for these inputs."""
    photo, options = as_uint8(image), dict(options or {})
    target = target_index(model, target)

    def work(publish, token):
        return sanity_check(model, photo, methods, target, depths, options=options,
                            callback=lambda done, total: publish(done, None, {"total": total}))

    return serving.submit(_key("sanity_check", model, photo, target, options, methods=list(methods),
                               depths=None if depths is None else list(depths)), work)
