"""Random transformations applied to the image before the network sees it (transformation robustness).

An image that keeps its class when it is shifted a few pixels, scaled and rotated slightly cannot rely
on pixel-exact noise patterns, so the optimiser paints shapes instead; such images also fool *other*
networks far more often. All randomness is stateless (seeded by ``(seed, step)``), so a run is
reproducible and the compiled step never retraces.
"""

from __future__ import annotations

import math

import tensorflow as tf


def _shifts(n, pixels: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """``n`` random whole-pixel shifts (dy, dx) in ``[-pixels, pixels]``."""
    limit = tf.cast(tf.round(pixels), tf.int32)
    return tf.random.stateless_uniform((n, 2), seed, minval=-limit, maxval=limit + 1, dtype=tf.int32)


def _roll(images: tf.Tensor, shifts: tf.Tensor) -> tf.Tensor:
    """Roll image i by ``shifts[i]`` = (dy, dx), wrapping round: ``tf.roll`` per image, as two batched
    gathers (one op for any number of images, where a loop of rolls would run them one by one)."""
    h, w = tf.shape(images)[1], tf.shape(images)[2]
    rows = tf.math.floormod(tf.range(h)[None, :] - shifts[:, :1], h)  # out[y] = in[(y - dy) mod h]
    cols = tf.math.floormod(tf.range(w)[None, :] - shifts[:, 1:], w)
    return tf.gather(tf.gather(images, rows, axis=1, batch_dims=1), cols, axis=2, batch_dims=1)


def jitter(images: tf.Tensor, pixels: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Shift each image by a random whole number of pixels in ``[-pixels, pixels]`` (wrapping round)."""
    return _roll(images, _shifts(tf.shape(images)[0], pixels, seed))


def _zoom_rotate(images: tf.Tensor, zoom: tf.Tensor, angle: tf.Tensor) -> tf.Tensor:
    """Zoom image i by ``zoom[i]`` and rotate it by ``angle[i]`` radians about the centre (bilinear,
    reflected borders), all in one resampling op."""
    h = tf.cast(tf.shape(images)[1], tf.float32)
    w = tf.cast(tf.shape(images)[2], tf.float32)
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


def scale_rotate(images: tf.Tensor, scale: tf.Tensor, degrees: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Zoom each image by a random factor in ``[1-scale, 1+scale]`` and rotate it by up to ``degrees``.

    One bilinear affine resampling about the centre, with reflected borders.
    """
    u = tf.random.stateless_uniform((tf.shape(images)[0], 2), seed, minval=-1.0, maxval=1.0)
    return _zoom_rotate(images, 1.0 + scale * u[:, 0], degrees * (math.pi / 180.0) * u[:, 1])


def robust_views(image: tf.Tensor, views: int, jitter_px: tf.Tensor, scale: tf.Tensor, degrees: tf.Tensor,
                 seed: tf.Tensor) -> tf.Tensor:
    """``views`` randomly transformed copies of a (1, h, w, 3) image: jitter, scale+rotate, small jitter.

    Lucid's standard recipe; the second, finer jitter hides the resampling grid.
    """
    return robust_views_batch(image, views, tf.reshape(jitter_px, (1,)), tf.reshape(scale, (1,)),
                              tf.reshape(degrees, (1,)), tf.reshape(seed, (1, 2)))


def robust_views_batch(images: tf.Tensor, views: int, jitter_px: tf.Tensor, scale: tf.Tensor,
                       degrees: tf.Tensor, seeds: tf.Tensor) -> tf.Tensor:
    """:func:`robust_views` for several runs at once: ``images`` (runs, h, w, 3), one jitter, scale,
    rotation and ``(seed, step)`` pair per run; returns (runs * views, h, w, 3), run-major.

    Run i's views are exactly the ones :func:`robust_views` gives it alone (same random draws), so a run
    paints the same picture whether or not it shares its steps with others.
    """
    def draws(args):
        seed, px, sc, deg = args
        split = tf.random.experimental.stateless_split(seed, 3)
        u = tf.random.stateless_uniform((views, 2), split[1], minval=-1.0, maxval=1.0)
        return (_shifts(views, px, split[0]), 1.0 + sc * u[:, 0], deg * (math.pi / 180.0) * u[:, 1],
                _shifts(views, px / 2, split[2]))

    first, zoom, angle, second = tf.map_fn(
        draws, (seeds, jitter_px, scale, degrees),
        fn_output_signature=(tf.int32, tf.float32, tf.float32, tf.int32))
    batch = tf.repeat(images, views, axis=0)
    batch = _roll(batch, tf.reshape(first, (-1, 2)))
    batch = _zoom_rotate(batch, tf.reshape(zoom, (-1,)), tf.reshape(angle, (-1,)))
    return _roll(batch, tf.reshape(second, (-1, 2)))
