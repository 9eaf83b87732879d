"""What every explanation method shares: the model being explained, the one geometry, the class's score.

An explanation is computed on what the network sees (the photo through
:func:`explorer.models.classifier.model_view`: centre crop, resize to the model's input), as a small map
on that grid (7x7 for Grad-CAM, one value per input pixel for gradients, one per patch position for
occlusion). It is scaled to 0..1 there and then stretched over the crop of the photo the model saw,
like :func:`explorer.grad_cam`: pixels outside the crop were never seen and get 0.

The class score is ``log p(class)`` (the models end in a softmax; its log keeps a useful gradient when
p is already 0.999). Batched methods push their images (path steps, noisy samples, occluded copies)
through the network :data:`CHUNK` at a time.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field

import keras
import numpy as np
import tensorflow as tf

from ..models.classifier import as_uint8, crop_box, main_output, predict, target_index, view
from ..runtime import WeakCache

TINY = 1e-30
GREY = 127.5  # what a deleted or occluded pixel becomes: mid grey in 0..255
CHUNK = 16  # images per pass of a batched method (memory stays that of 16 images however many steps)

_FORWARD = WeakCache()  # model -> compiled p(class) of a batch


@dataclass(frozen=True)
class Attribution:
    """One explanation of one photo: ``heat`` at the photo's size, ``view`` on the model's input grid."""

    method: str
    heat: np.ndarray  # float32 HxW in 0..1 at the photo's size, 0 outside the part the model saw
    view: np.ndarray  # float32 h x w in 0..1 over what the model sees (what a deletion curve greys)
    probabilities: np.ndarray  # the model's probabilities for the photo
    target: int  # the class explained
    options: dict  # the settings that ran (defaults filled in)
    facts: dict = field(default_factory=dict)  # what the run found about itself (e.g. Grad-CAM++'s
    # same_gradient_everywhere), for captions that say exactly what ran


@dataclass(frozen=True)
class Subject:
    """The photo being explained, as the model sees it, and the class: what every method starts from."""

    photo: np.ndarray  # uint8 HxWx3
    pixels: np.ndarray  # float32 1 x h x w x 3, 0..255 (the model's view of the photo)
    probabilities: np.ndarray
    target: int

    @property
    def size(self) -> tuple[int, int]:
        return int(self.pixels.shape[1]), int(self.pixels.shape[2])


def subject(model: keras.Model, image, target=None) -> Subject:
    """The photo through the one geometry, its probabilities and the class to explain (None: the top 1)."""
    photo = as_uint8(image)
    probs = predict(model, photo)
    cls = int(np.argmax(probs)) if target is None else target_index(model, target)
    return Subject(photo, view(model, photo), probs, cls)


def log_prob(outputs, cls):
    """``log p(class)`` for each image of a batch from a model's outputs (main head of several)."""
    probs = main_output(outputs)
    return tf.math.log(tf.maximum(tf.gather(probs, cls, axis=1), TINY))


def _compile_forward(model):
    model_ref = weakref.ref(model)

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32), tf.TensorSpec([], tf.int32)])
    def run(batch, cls):
        return tf.gather(main_output(model_ref()(batch, training=False)), cls, axis=1)

    return run


def class_probability(model: keras.Model, batch: np.ndarray, cls: int) -> np.ndarray:
    """p(class) of every image of a float32 batch already at the model's input size, CHUNK at a time."""
    run = _FORWARD.get(model, lambda: _compile_forward(model))
    out = [run(tf.constant(batch[a:b]), tf.constant(cls, tf.int32)).numpy() for a, b in chunks(len(batch))]
    return np.concatenate(out).astype(np.float32)


def scaled(small: np.ndarray, how: str) -> np.ndarray:
    """A raw map scaled to 0..1: ``peak`` keeps the positive part over its maximum (CAMs, occlusion);
    ``percentile`` clips magnitudes at their 99th percentile (gradients: a few huge pixels would
    otherwise leave the rest black, as in PAIR's ``VisualizeImageGrayscale``)."""
    small = np.nan_to_num(np.asarray(small, np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    if how == "peak":
        small = np.maximum(small, 0.0)
        top = float(small.max()) if small.size else 0.0
    else:
        small = np.abs(small)
        top = float(np.percentile(small, 99)) if small.size else 0.0
    if top <= 0:
        return np.zeros_like(small)
    return np.clip(small / top, 0.0, 1.0).astype(np.float32)


def on_grid(small: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A 0..1 map resized (bilinear) to ``shape`` (height, width)."""
    if tuple(small.shape) == tuple(shape):
        return small.astype(np.float32)
    big = tf.image.resize(tf.constant(small, tf.float32)[..., None], shape, method="bilinear")[..., 0]
    return np.clip(big.numpy(), 0.0, 1.0).astype(np.float32)


def on_photo(small: np.ndarray, photo_shape, size: tuple[int, int]) -> np.ndarray:
    """A 0..1 map over the model's view stretched over the crop of the photo it saw (the one geometry's
    :func:`~explorer.models.classifier.crop_box`); 0 outside."""
    height, width = int(photo_shape[0]), int(photo_shape[1])
    top, left, crop_h, crop_w = (int(v) for v in crop_box(height, width, size))
    full = np.zeros((height, width), np.float32)
    full[top:top + crop_h, left:left + crop_w] = on_grid(small, (crop_h, crop_w))
    return full


def finish(method: str, small: np.ndarray, how: str, subj: Subject, options: dict,
           facts: dict | None = None) -> Attribution:
    """The record of one explanation from its raw map on the model's grid."""
    small = scaled(small, how)
    return Attribution(method, on_photo(small, subj.photo.shape, subj.size), on_grid(small, subj.size),
                       subj.probabilities, subj.target, dict(options), dict(facts or {}))


def chunks(count: int):
    """``(start, stop)`` of each batch of at most CHUNK out of ``count`` images."""
    return [(i, min(count, i + CHUNK)) for i in range(0, count, CHUNK)]
