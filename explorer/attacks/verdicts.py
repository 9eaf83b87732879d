"""Verdicts every student looks at alike: a network's judgement of a photo, made once for the server.

:func:`shared_predict` is :func:`explorer.predict` computed once per model (by content) and photo (by
content) through :func:`explorer.serving.memo`; :func:`check_transfer` asks a second network whether
an attack fooled it too. The models and the serving layer stay apart: this module joins them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import serving
from ..models import classifier


def shared_predict(model, image) -> np.ndarray:
    """:func:`explorer.predict`, computed once for the whole server per model (by content) and photo (by content).

    For results every student looks at alike and every rerun shows again (a finished run's picture judged
    by a second network, an attack's photo): thirty sessions cost one forward pass, not thirty per rerun.
    The array is shared, so it is read-only.
    """
    photo = classifier.as_uint8(image)
    return serving.memo(serving.run_key("predict", model, photo=photo), lambda: classifier.predict(model, photo))


@dataclass
class TransferCheck:
    """How a second model judges the original and the adversarial photo."""

    known: bool  # the second model has a class with the target's name
    target: int | None  # that class's index in the second model
    fooled: bool  # the second model's top-1 for the adversarial photo is the target
    probability_before: float | None
    probability_after: float | None
    top_before: tuple[int, str, float]
    top_after: tuple[int, str, float]


def check_transfer(model, original, adversarial_image, target_name: str) -> TransferCheck:
    """Does the attack transfer? Judge both photos with another model, matching the target by name.

    Each judgement is made once for the server (:func:`shared_predict`): every student's page shows this
    check again at each rerun, and a class looking at the same result costs one pass, not thirty."""
    names = classifier.class_names_of(model)
    lowered = [n.lower() for n in names]
    index = lowered.index(target_name.lower()) if target_name.lower() in lowered else None
    before, after = shared_predict(model, original), shared_predict(model, adversarial_image)

    def top(probs):
        return classifier.top_k(model, probs, 1)[0]

    return TransferCheck(
        known=index is not None, target=index, fooled=index is not None and int(np.argmax(after)) == index,
        probability_before=None if index is None else float(before[index]),
        probability_after=None if index is None else float(after[index]),
        top_before=top(before), top_after=top(after))
