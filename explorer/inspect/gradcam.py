"""Grad-CAM: where in the photo does the network look for a class? (Selvaraju et al., 2017)

The feature maps of one layer (by default the last one with a spatial HxWxC output) are weighted by
how much the class's score rises with each channel (its gradient averaged over positions), summed,
and only the positive part kept: a coarse map of the places that speak *for* the class. It is scaled
to 0..1 and stretched over the part of the photo the model saw (the same centre crop and resize as
:func:`explorer.predict`, so the map explains the very prediction shown elsewhere); pixels
outside that crop were never seen and get 0.

The class score is ``log p(class)``: the models here end in a softmax, and its log keeps a useful
gradient even when the class already has probability 0.999.
"""

from __future__ import annotations

import weakref

import keras
import numpy as np
import tensorflow as tf

from ..models.classifier import as_uint8, crop_box, input_size, model_view, target_index
from ..runtime import WeakCache
from .features import extractor, walk_layers

_TINY = 1e-30

# (model, layer name) -> compiled function; weak, so a model that goes away takes its functions along.
_COMPILED = WeakCache()


def last_conv_layer(model: keras.Model) -> str:
    """The last layer (nested models included) whose output is a 4-D feature map (batch, H, W, C) with more
    than one place: Keras' MobileNet (v1) ends in a 1x1 ``conv_preds`` layer after its pooling, whose
    single place would make every map flat."""
    name = None
    for layer in walk_layers(model):
        try:
            shape = layer.output.shape
        except (AttributeError, ValueError):
            continue
        one_place = len(shape) == 4 and shape[1] == 1 and shape[2] == 1
        if len(shape) == 4 and not one_place and not isinstance(layer, keras.layers.InputLayer):
            name = layer.name
    if name is None:
        raise ValueError(f"Model '{model.name}' has no layer with feature maps (HxWxC) to explain.")
    return name


def channel_weighted(maps, grads):
    """Grad-CAM's raw map (batch x H x W): each channel of ``maps`` weighted by its gradient averaged over
    the places (one weight per channel), summed over channels."""
    return tf.reduce_sum(tf.reduce_mean(grads, axis=(1, 2), keepdims=True) * maps, axis=-1)


def _compile(model: keras.Model, layer: str):
    ext = extractor(model, (layer,))
    if not ext.has_top:
        raise ValueError(f"Model '{model.name}' has no class output, so there is no class to explain.")
    extractor_ref = weakref.ref(ext.model)
    size = input_size(model)
    keep = ext.model  # the compiled function holds the multi-output model only weakly; the cache holds it

    @tf.function(input_signature=[tf.TensorSpec([None, None, 3], tf.float32), tf.TensorSpec([], tf.int32)])
    def run(photo, target):
        """(map at the photo's size, probabilities, class explained)."""
        height, width = tf.shape(photo)[0], tf.shape(photo)[1]
        top, left, crop_h, crop_w = crop_box(height, width, size)
        with tf.GradientTape() as tape:
            maps, probs = extractor_ref()(model_view(photo[None], size), training=False)[:2]
            if isinstance(probs, (list, tuple)):
                probs = probs[0]
            cls = tf.where(target < 0, tf.argmax(probs[0], output_type=tf.int32), target)
            score = tf.math.log(tf.maximum(probs[0, cls], _TINY))
        grads = tape.gradient(score, maps)
        cam = tf.nn.relu(channel_weighted(maps, grads))[0]
        cam = tf.where(tf.math.is_finite(cam), cam, 0.0)
        peak = tf.reduce_max(cam)
        cam = tf.where(peak > 0, cam / tf.maximum(peak, _TINY), tf.zeros_like(cam))
        big = tf.image.resize(cam[..., None], (crop_h, crop_w), method="bilinear")[..., 0]
        full = tf.pad(big, [[top, height - crop_h - top], [left, width - crop_w - left]])
        return tf.clip_by_value(full, 0.0, 1.0), probs[0], cls

    return run, keep


def grad_cam(model: keras.Model, image, target=None, layer: str | None = None) -> np.ndarray:
    """Grad-CAM heat map of ``image`` for class ``target``: float32 HxW in [0, 1] at the photo's own size.

    ``model``: a classifier taking RGB pixels 0..255 (zoo or user-trained, nested backbones included).
    ``image``: uint8 HxWx3 (or a path / bytes / file). ``target``: class index or name; None means the
    model's top-1 class for this photo. ``layer``: the layer whose feature maps are weighted; None means
    the last layer with feature maps (:func:`last_conv_layer`). 1 marks where the class's evidence is
    strongest; 0 marks no evidence for it (or pixels outside the part of the photo the model saw).
    """
    return grad_cam_details(model, image, target, layer)[0]


def grad_cam_details(model: keras.Model, image, target=None, layer: str | None = None):
    """``(heat map, probabilities, class explained)`` from the same single pass (see :func:`grad_cam`)."""
    photo = as_uint8(image)
    layer = last_conv_layer(model) if layer is None else layer
    cls = -1 if target is None else target_index(model, target)
    run, _ = _COMPILED.get(model, lambda: _compile(model, layer), key=layer)
    cam, probs, cls = run(tf.constant(photo, tf.float32), tf.constant(cls, tf.int32))
    return cam.numpy().astype(np.float32), probs.numpy(), int(cls)
