"""What every session's page shows alike, made once for the whole server: the pages decide what is shared.

The ``explorer`` model code computes (:func:`explorer.inspect.features.feature_maps_and_predictions`,
:func:`explorer.models.classifier.seen_image`); here the page layer shares the results through
:func:`explorer.serving.memo`, keyed by the model's content and the photo's. The values are frozen
(read-only) and handed to every session that asks the same.
"""

from __future__ import annotations

import numpy as np

from explorer import serving
from explorer.inspect.features import extractor, feature_maps_and_predictions
from explorer.models.classifier import as_uint8, input_size, seen_image


def shared_feature_maps_and_predictions(model, image, layers=None):
    """:func:`feature_maps_and_predictions`, computed once for every session of the server that asks for
    the same model (by content), photo (by content) and layers; the arrays are read-only and shared.

    A class opening Feature maps together costs one forward pass and one copy of the maps, not thirty.
    """
    names = tuple(extractor(model, layers).names)
    photo = as_uint8(image)
    key = serving.run_key("feature_maps", model, layers=names, photo=photo)
    return serving.memo(key, lambda: feature_maps_and_predictions(model, photo, names))


def shared_seen_image(model, image) -> np.ndarray:
    """:func:`seen_image` (what the model sees of a photo, uint8), made once for the server per input size
    and photo (by content): a page shows it at every rerun of every session, and each time cost a few
    eager TensorFlow ops. Read-only (shared)."""
    photo, size = as_uint8(image), input_size(model)
    return serving.memo(serving.run_key("seen_image", None, size=tuple(size), photo=photo),
                        lambda: seen_image(model, photo))

