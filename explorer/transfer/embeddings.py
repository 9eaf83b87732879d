"""Embeddings: a frozen backbone run once per image, batched, prefetched, with augmentation and progress.

An image's *embedding* is the vector the backbone gives for it (its last layer, average-pooled): the
head of a transfer classifier learns on these. (*Feature maps*, the HxWxC outputs of conv layers, are
:mod:`explorer.features`.)


This is Teachable Machine's trick: the backbone is frozen, so its output for an image never changes;
compute its embedding once, cache it, and every training epoch of the small head costs almost nothing.
Augmentation is the one thing that would need the backbone again each epoch, so instead each training
image gets ``copies`` augmented versions (random flip, small rotation and zoom) whose embeddings
are computed once too. The head then sees ``1 + copies`` views of every photo in every epoch: a fixed set
of augmented views instead of fresh ones each epoch, at a fixed cost instead of one backbone pass per
image per epoch.
"""

from __future__ import annotations

import weakref

import keras
import numpy as np
import tensorflow as tf
from PIL import Image

from ..runtime import WeakCache


def augment(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One random view of an HxWx3 uint8 image, same size: flip, rotation up to 10 degrees, zoom 5-25 %."""
    height, width = image.shape[:2]
    img = Image.fromarray(image)
    if rng.random() < 0.5:
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    fill = tuple(int(c) for c in image.reshape(-1, 3).mean(axis=0))
    img = img.rotate(rng.uniform(-10, 10), resample=Image.Resampling.BILINEAR, fillcolor=fill)
    scale = rng.uniform(0.75, 0.95)  # crop away most of the rotated corners, then zoom back
    h, w = int(height * scale), int(width * scale)
    top, left = int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1))
    img = img.crop((left, top, left + w, top + h)).resize((width, height), Image.Resampling.BILINEAR)
    return np.asarray(img)


def augmented_views(images: np.ndarray, copies: int, rng: np.random.Generator):
    """``copies`` passes over ``images``, each image augmented anew (a generator, so nothing piles up)."""
    for _ in range(copies):
        for image in images:
            yield augment(image, rng)


def batches(images: np.ndarray, batch_size: int = 32, copies: int = 0, seed: int = 0) -> tf.data.Dataset:
    """A prefetching ``tf.data`` pipeline of uint8 batches: the images, or ``copies`` augmented passes.

    Augmented views are made by a generator on ``tf.data``'s thread while the backbone works on the
    previous batch.
    """
    if copies:
        rng = np.random.default_rng(seed)
        data = tf.data.Dataset.from_generator(lambda: augmented_views(images, copies, rng),
                                              output_signature=tf.TensorSpec(images.shape[1:], tf.uint8))
    else:
        data = tf.data.Dataset.from_tensor_slices(images)
    return data.batch(batch_size).prefetch(tf.data.AUTOTUNE)


_STEPS = WeakCache()


def embedding_step(backbone: keras.Model):
    """A compiled ``uint8 batch -> embeddings`` step (global average pooling if the backbone ends in maps).

    The step is cached while the backbone lives, so training again does not trace it again (it holds
    the backbone weakly, so the cache never keeps a model alive).
    """
    return _STEPS.get(backbone, lambda: _compile_step(backbone))


def _compile_step(backbone: keras.Model):
    model = weakref.ref(backbone)
    height, width = backbone.input_shape[1:3]

    @tf.function(input_signature=[tf.TensorSpec([None, height, width, 3], tf.uint8)])
    def step(images):
        x = tf.cast(images, tf.float32)
        vectors = model()(x, training=False)
        if len(vectors.shape) == 4:
            vectors = tf.reduce_mean(vectors, axis=(1, 2))
        return vectors

    return step


def extract_embeddings(step, data: tf.data.Dataset, progress=None, done: int = 0, total: int | None = None) -> np.ndarray:
    """Run a :func:`embedding_step` step over a pipeline of :func:`batches`: ``(images, embedding size)``.

    ``progress(done, total)`` is called after every batch, counting images (``done``/``total`` let
    several calls share one progress bar).
    """
    out = []
    for batch in data:
        out.append(step(batch).numpy())
        done += len(batch)
        if progress is not None:
            progress(done, total)
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, 0), np.float32)


def embedding_size(backbone: keras.Model) -> int:
    """Length of the embedding a backbone gives (channels of its last output)."""
    return int(backbone.output.shape[-1])
