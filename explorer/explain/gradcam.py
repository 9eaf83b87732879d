"""Grad-CAM and Grad-CAM++: which places of the last feature maps speak for the class.

Grad-CAM (Selvaraju et al., 2017) weights each channel of a layer's maps by its gradient averaged over
positions; Grad-CAM++ (Chattopadhyay et al., 2018) weights each position's positive gradient by how
much that position alone accounts for the channel's effect, so several objects of a class all light
up. Both come from one pass per photo, compiled once per (model, layer): the map is the layer's size
(7x7 for MobileNetV2 at 224), stretched over the photo like :func:`explorer.grad_cam`.

When the layer's maps are averaged straight into the class layer (global average pooling: every
MobileNet, ResNet and Inception here), every place of a channel has the same gradient, so Grad-CAM++'s
per-place weights are equal and it is exactly Grad-CAM counting only the channels whose gradient is
positive (Lerma & Lucas, "Grad-CAM++ is equivalent to Grad-CAM with positive gradients", 2022). The
pass reports this (``facts["same_gradient_everywhere"]``) and the caption says so; ``python
bench/attribution.py --parts plusplus`` measures it (rank correlation 1.000 on five photos) and what it
costs in the deletion test.
"""

from __future__ import annotations

import weakref

import keras
import numpy as np
import tensorflow as tf

from ..inspect.features import extractor
from ..inspect.gradcam import channel_weighted, last_conv_layer
from ..runtime import WeakCache
from .base import Attribution, Subject, finish, log_prob

_COMPILED = WeakCache()  # (model, layer) -> compiled pass giving both maps


def _compile(model: keras.Model, layer: str):
    ext = extractor(model, (layer,))
    if not ext.has_top:
        raise ValueError(f"Model '{model.name}' has no class output, so there is no class to explain.")
    ref = weakref.ref(ext.model)

    @tf.function(input_signature=[tf.TensorSpec([1, None, None, 3], tf.float32), tf.TensorSpec([], tf.int32)])
    def run(pixels, cls):
        """(Grad-CAM, Grad-CAM++) raw maps at the layer's size, and whether the gradient is the same at
        every place of each channel (then Grad-CAM++ is Grad-CAM over the positive gradients)."""
        with tf.GradientTape() as tape:
            outs = ref()(pixels, training=False)
            maps = outs[0]
            score = tf.reduce_sum(log_prob(outs[1], cls))  # outs[1]: the (main) class output
        grads = tape.gradient(score, maps)
        grads = tf.where(tf.math.is_finite(grads), grads, 0.0)
        cam = channel_weighted(maps, grads)[0]
        # Grad-CAM++ closed form for an exponential score (p = exp(log p)): alpha = g^2 / (2 g^2 + sum(A) g^3)
        g2, g3 = grads ** 2, grads ** 3
        denom = 2.0 * g2 + tf.reduce_sum(maps, axis=(1, 2), keepdims=True) * g3
        alphas = g2 / tf.where(tf.abs(denom) > 0, denom, tf.ones_like(denom))
        weights = tf.reduce_sum(alphas * tf.nn.relu(grads), axis=(1, 2), keepdims=True)
        plus = tf.reduce_sum(weights * maps, axis=-1)[0]
        spread = tf.reduce_max(tf.reduce_max(grads, axis=(1, 2)) - tf.reduce_min(grads, axis=(1, 2)))
        same = spread <= 1e-6 * tf.reduce_max(tf.abs(grads))
        return cam, plus, same

    return run, ext.model  # the cache holds the multi-output model; the function only weakly


def cams(model: keras.Model, subj: Subject, layer: str | None = None) -> tuple[np.ndarray, np.ndarray, str, bool]:
    """Raw (Grad-CAM, Grad-CAM++) maps at ``layer``'s size (default: the last with feature maps), the
    layer, and whether its gradient was the same at every place of each channel."""
    layer = last_conv_layer(model) if layer is None else layer
    run, _ = _COMPILED.get(model, lambda: _compile(model, layer), key=layer)
    cam, plus, same = run(tf.constant(subj.pixels), tf.constant(subj.target, tf.int32))
    return cam.numpy(), plus.numpy(), layer, bool(same)


def gradcam(model: keras.Model, subj: Subject, layer: str | None = None) -> Attribution:
    cam, _, layer, _ = cams(model, subj, layer)
    return finish("gradcam", cam, "peak", subj, {"layer": layer})


def gradcam_plus_plus(model: keras.Model, subj: Subject, layer: str | None = None) -> Attribution:
    _, plus, layer, same = cams(model, subj, layer)
    return finish("gradcam++", plus, "peak", subj, {"layer": layer}, {"same_gradient_everywhere": same})
