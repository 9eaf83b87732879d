"""Input diversity (DI-FGSM, Xie et al. 2019, *Improving Transferability of Adversarial Examples with Input
Diversity*): at each attack step a network sees a randomly shrunk and shifted copy of the photo, so the
change cannot rely on one exact pixel grid, the quirk of one network that another does not share.

:func:`input_diversity` is pure tensor code with a stateless seed: one compiled step serves every call, and
the same seed gives the same picture (attacks stay reproducible).
"""

from __future__ import annotations

import tensorflow as tf

# The shrunk copy keeps at least this fraction of each side (the rest is a grey border placed at random).
SMALLEST = 0.85
GREY = 127.5  # the border's pixel value (0..255): neither a dark nor a bright frame


def input_diversity(images: tf.Tensor, probability, seed, smallest=SMALLEST) -> tf.Tensor:
    """``images`` (N x S x S x 3, pixels 0..255, S static) or, with probability ``probability``, a copy
    shrunk to a random side in [``smallest`` S, S] (``smallest``: a number or a scalar tensor) and padded back to S x S with a grey border at a random
    offset. ``seed``: int32 tensor of shape [2] (stateless: the same seed gives the same copy).
    Differentiable with respect to ``images``; the shape is kept."""
    images = tf.convert_to_tensor(images, tf.float32)
    side = images.shape[1]
    if side is None or images.shape[2] != side:
        raise ValueError(f"input_diversity needs square images of a known size, got {images.shape}.")
    draw = tf.random.stateless_uniform([4], seed=tf.cast(seed, tf.int32))
    low = tf.cast(tf.round(side * tf.clip_by_value(tf.cast(smallest, tf.float32), 0.1, 1.0)), tf.int32)
    new = low + tf.cast(tf.floor(draw[1] * tf.cast(side - low + 1, tf.float32)), tf.int32)  # low..side
    new = tf.minimum(new, side)
    room = side - new
    top = tf.cast(tf.floor(draw[2] * tf.cast(room + 1, tf.float32)), tf.int32)
    left = tf.cast(tf.floor(draw[3] * tf.cast(room + 1, tf.float32)), tf.int32)

    def shrunk():
        small = tf.image.resize(images, tf.stack([new, new]), method="bilinear")
        framed = tf.image.pad_to_bounding_box(small - GREY, tf.minimum(top, room), tf.minimum(left, room),
                                              side, side) + GREY
        return tf.ensure_shape(framed, images.shape)

    return tf.cond(draw[0] < tf.cast(probability, tf.float32), shrunk, lambda: images)
