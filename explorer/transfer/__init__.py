"""Transfer learning: a new classifier on top of a frozen pretrained backbone, in seconds.

- :mod:`.embeddings`: the backbone run once per image (and per augmented view): cached embeddings.
- :mod:`.head`: the small trainable head, and the flat classifier assembled from backbone and head.
- :mod:`.training`: :func:`train_classifier` (embeddings, head, optional fine-tuning), the result,
  and saving/loading trained classifiers.
"""

from .training import (
    BACKBONES,
    TransferResult,
    classifier_bytes,
    classify,
    load_backbone,
    load_classifier,
    split,
    train_classifier,
)

__all__ = ["BACKBONES", "TransferResult", "classifier_bytes", "classify", "load_backbone", "load_classifier",
           "split", "train_classifier"]
