"""The epsilon sweep: one attack per budget on one photo, the success / p(target) curve (Foolbox-style).

Each attack is :func:`explorer.adversarial` (one model or an ensemble) with the same defaults.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import single as attacks
from .ensemble import adversarial


@dataclass
class SweepPoint:
    """One budget of an epsilon sweep."""

    epsilon: int
    success: bool  # every attacked model's top-1 is the target
    probability: float  # mean p(target) over the attacked models for the saved uint8 photo
    probabilities: list[float]  # each model's p(target)
    steps: int


def epsilon_sweep(model_or_models, image, target, epsilons=(0, 1, 2, 4, 8, 16),
                  steps: int = attacks.DEFAULTS["steps"], method: str = attacks.DEFAULTS["method"],
                  callback=None, **kwargs) -> list[SweepPoint]:
    """A small Foolbox-style curve for one photo: attack once per budget in ``epsilons`` (pixel levels)
    and record whether it succeeded and p(target). ``success_rate(points)`` summarises it. Each attack is
    :func:`explorer.adversarial` with the same defaults (``kwargs``: ``confidence``, ``step_size``).
    ``callback(done, total, point)`` is called after each budget (a progress bar)."""
    points = []
    for eps in epsilons:
        result = adversarial(model_or_models, image, target, epsilon=eps, steps=steps, method=method, **kwargs)
        each = [float(p[t]) for p, t in zip(result.per_model_after, result.targets)]
        points.append(SweepPoint(result.epsilon, result.success, float(np.mean(each)), each, result.steps))
        if callback is not None:
            callback(len(points), len(epsilons), points[-1])
    return points


def success_rate(points: list[SweepPoint]) -> float:
    """Fraction of the sweep's budgets at which the attack succeeded."""
    return sum(p.success for p in points) / len(points) if points else 0.0
