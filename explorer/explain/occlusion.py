"""Occlusion (Zeiler and Fergus, 2014): grey out one square patch at a time and watch log p(class) fall.

Every patch position is one occluded copy of the photo; the copies go through the network as batches,
in one compiled function per model (the patches are a tensor of masks). A pixel's value is the mean
fall of log p(class) over the patches that covered it: big where hiding it costs the class most.
"""

from __future__ import annotations

import weakref

import keras
import numpy as np
import tensorflow as tf

from ..runtime import WeakCache
from .base import GREY, TINY, Attribution, Subject, chunks, finish, log_prob

_COMPILED = WeakCache()  # model -> compiled log p(class) of occluded copies


def _compile(model: keras.Model):
    ref = weakref.ref(model)

    @tf.function(input_signature=[tf.TensorSpec([1, None, None, 3], tf.float32),
                                  tf.TensorSpec([None, None, None, 1], tf.float32), tf.TensorSpec([], tf.int32)])
    def run(pixels, masks, cls):
        return log_prob(ref()(pixels * (1.0 - masks) + GREY * masks, training=False), cls)

    return run


def positions(side: int, patch: int, stride: int) -> list[int]:
    """Where patches start along one side: every ``stride`` pixels, the last one flush with the edge."""
    starts = list(range(0, max(1, side - patch + 1), stride))
    if starts[-1] + patch < side:
        starts.append(side - patch)
    return starts


def patch_masks(size: tuple[int, int], patch: int, stride: int) -> np.ndarray:
    """float32 N x h x w x 1: 1 inside each patch, 0 elsewhere."""
    h, w = size
    boxes = [(r, c) for r in positions(h, patch, stride) for c in positions(w, patch, stride)]
    masks = np.zeros((len(boxes), h, w, 1), np.float32)
    for i, (r, c) in enumerate(boxes):
        masks[i, r:r + patch, c:c + patch] = 1.0
    return masks


def occlusion(model: keras.Model, subj: Subject, patch: int | None = None, stride: int | None = None) -> Attribution:
    """Occlusion map; ``patch`` (default a seventh of the input side) and ``stride`` (default half a
    patch) in the model's input pixels."""
    h, w = subj.size
    patch = int(patch or max(1, min(h, w) // 7))
    stride = int(stride or max(1, patch // 2))
    if not 1 <= patch <= min(h, w) or stride < 1:
        raise ValueError(f"Occlusion needs 1 <= patch <= {min(h, w)} and stride >= 1, got {patch} and {stride}.")
    run = _COMPILED.get(model, lambda: _compile(model))
    masks = patch_masks((h, w), patch, stride)
    pixels = tf.constant(subj.pixels)
    cls = tf.constant(subj.target, tf.int32)
    start = float(np.log(max(float(subj.probabilities[subj.target]), TINY)))
    falls = np.concatenate([start - run(pixels, tf.constant(masks[a:b]), cls).numpy()
                            for a, b in chunks(len(masks))])
    covered = masks[..., 0].sum(axis=0)
    heat = np.tensordot(falls, masks[..., 0], axes=1) / np.maximum(covered, 1.0)
    return finish("occlusion", heat, "peak", subj, {"patch": patch, "stride": stride})
