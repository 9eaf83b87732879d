"""Random transformations applied to the image before the network sees it (transformation robustness).

An image that keeps its class when it is shifted a few pixels, scaled and rotated slightly cannot rely
on pixel-exact noise patterns, so the optimiser paints shapes instead; such images also fool *other*
networks far more often. All randomness is stateless (seeded by ``(seed, step)``), so a run is
reproducible and the compiled step never retraces.
"""

from __future__ import annotations

import math

import tensorflow as tf


def jitter(images: tf.Tensor, pixels: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Shift each image by a random whole number of pixels in ``[-pixels, pixels]`` (wrapping round)."""
    n = tf.shape(images)[0]
    limit = tf.cast(tf.round(pixels), tf.int32)
    shifts = tf.random.stateless_uniform((n, 2), seed, minval=-limit, maxval=limit + 1, dtype=tf.int32)
    return tf.map_fn(lambda a: tf.roll(a[0], a[1], axis=(0, 1)), (images, shifts),
                     fn_output_signature=images.dtype)


def scale_rotate(images: tf.Tensor, scale: tf.Tensor, degrees: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Zoom each image by a random factor in ``[1-scale, 1+scale]`` and rotate it by up to ``degrees``.

    One bilinear affine resampling about the centre, with reflected borders.
    """
    n = tf.shape(images)[0]
    h = tf.cast(tf.shape(images)[1], tf.float32)
    w = tf.cast(tf.shape(images)[2], tf.float32)
    u = tf.random.stateless_uniform((n, 2), seed, minval=-1.0, maxval=1.0)
    zoom = 1.0 + scale * u[:, 0]
    angle = degrees * (math.pi / 180.0) * u[:, 1]
    # The transform maps output coordinates to input coordinates: the inverse of zoom-then-rotate.
    cos, sin = tf.cos(angle) / zoom, tf.sin(angle) / zoom
    cx, cy = (w - 1) / 2, (h - 1) / 2
    a0, a1, b0, b1 = cos, -sin, sin, cos
    a2 = cx - a0 * cx - a1 * cy
    b2 = cy - b0 * cx - b1 * cy
    zeros = tf.zeros_like(cos)
    matrix = tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images, transforms=matrix, output_shape=tf.shape(images)[1:3], fill_value=0.0,
        interpolation="BILINEAR", fill_mode="REFLECT")


def robust_views(image: tf.Tensor, views: int, jitter_px: tf.Tensor, scale: tf.Tensor, degrees: tf.Tensor,
                 seed: tf.Tensor) -> tf.Tensor:
    """``views`` randomly transformed copies of a (1, h, w, 3) image: jitter, scale+rotate, small jitter.

    Lucid's standard recipe; the second, finer jitter hides the resampling grid.
    """
    batch = tf.repeat(image, views, axis=0)
    seeds = tf.random.experimental.stateless_split(seed, 3)
    batch = jitter(batch, jitter_px, seeds[0])
    batch = scale_rotate(batch, scale, degrees, seeds[1])
    return jitter(batch, jitter_px / 2, seeds[2])
