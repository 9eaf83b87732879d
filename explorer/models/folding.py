"""Batch normalisation (and zero padding) folded into the convolution: the same network in fewer operations.

At inference a ``BatchNormalization`` layer is a fixed scale and shift per channel,
``gamma * (x - mean) / sqrt(var + eps) + beta``. When it follows a convolution (or depthwise
convolution) that nothing else reads, the scale can go into the kernel and the shift into the bias:
the network computes the same function, but every step through it runs one op fewer per block, and
its gradient one op fewer again. Likewise a ``ZeroPadding2D`` that pads exactly what the convolution
after it would pad itself with ``padding="same"`` (MobileNet's padding before each stride-2 layer)
becomes that padding. Painting an ideal image on MobileNetV2 (52 batch norms, 4 paddings) runs about
a quarter faster this way (``bench/classroom.py`` prints the bare network's ``fold_speedup``).

:func:`folded` gives the folded copy of a model, built once per model and held only as long as the
model lives. The model itself is never changed, and everything the app *shows* (predictions,
probabilities) still comes from the model: the folded copy only drives gradient loops. The copy is
checked against the model on a probe batch when it is built; a model it cannot fold exactly (a
nested or subclassed model, an unusual layer) is used as it is.
"""

from __future__ import annotations

import keras
import numpy as np

from ..runtime import WeakCache

#: The largest difference between the model's and the folded copy's outputs accepted at the check,
#: relative to the outputs' largest magnitude (float32 rounding is about 1e-6 of it).
TOLERANCE = 1e-4


class Folded(keras.layers.Layer):
    """Stands where a folded ``BatchNormalization`` or ``ZeroPadding2D`` layer was: passes its input through."""

    def call(self, inputs, mask=None, training=None):
        return inputs


def _inputs(layer) -> list:
    try:
        x = layer.input
    except (AttributeError, ValueError):  # a layer used at several places, or never called
        return []
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _readers(model) -> dict:
    """How many layer inputs each tensor of ``model`` feeds, by ``id``."""
    counts: dict = {}
    for layer in model.layers:
        for tensor in _inputs(layer):
            counts[id(tensor)] = counts.get(id(tensor), 0) + 1
    return counts


def _plain_channels_last(bn) -> bool:
    axis = bn.axis if isinstance(bn.axis, (list, tuple)) else [bn.axis]
    return len(axis) == 1 and axis[0] in (-1, len(bn.input.shape) - 1)


def foldable_pairs(model) -> dict:
    """``{convolution layer name: the BatchNormalization layer that alone reads its output}``."""
    readers = _readers(model)
    convs = {}
    for layer in model.layers:
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)) \
                and keras.activations.serialize(layer.activation) in ("linear", None):
            try:
                convs[id(layer.output)] = layer
            except (AttributeError, ValueError):
                continue
    pairs = {}
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            inputs = _inputs(layer)
            if len(inputs) == 1 and id(inputs[0]) in convs and readers.get(id(inputs[0])) == 1 \
                    and _plain_channels_last(layer):
                pairs[convs[id(inputs[0])].name] = layer
    return pairs


def _same_padding(conv, size: int, axis: int) -> tuple[int, int]:
    """What ``padding="same"`` pads before and after one spatial axis of ``size`` (TensorFlow's rule)."""
    stride, kernel, dilation = conv.strides[axis], conv.kernel_size[axis], conv.dilation_rate[axis]
    out = -(-size // stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def foldable_paddings(model) -> dict:
    """``{convolution layer name: the ZeroPadding2D before it}`` where the convolution alone reads the
    padded tensor, pads ``valid`` itself, and ``padding="same"`` would add exactly the same zeros."""
    readers = _readers(model)
    valid_convs = {}  # the tensor a "valid" channels-last convolution reads -> that convolution
    for layer in model.layers:
        inputs = _inputs(layer)
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)) and layer.padding == "valid" \
                and layer.data_format == "channels_last" and len(inputs) == 1:
            valid_convs[id(inputs[0])] = layer
    pads = {}
    for layer in model.layers:
        if not isinstance(layer, keras.layers.ZeroPadding2D) or layer.data_format != "channels_last":
            continue
        try:
            out, shape = layer.output, layer.input.shape
        except (AttributeError, ValueError):
            continue
        conv = valid_convs.get(id(out))
        if conv is None or readers.get(id(out)) != 1 or shape[1] is None or shape[2] is None:
            continue
        if all(tuple(layer.padding[axis]) == _same_padding(conv, shape[1 + axis], axis) for axis in (0, 1)):
            pads[conv.name] = layer
    return pads


def _folded_weights(conv, bn) -> list[np.ndarray]:
    kernel = conv.get_weights()[0]
    bias = conv.get_weights()[1] if conv.use_bias else 0.0
    gamma = bn.gamma.numpy() if bn.scale else 1.0
    beta = bn.beta.numpy() if bn.center else 0.0
    factor = gamma / np.sqrt(bn.moving_variance.numpy() + bn.epsilon)  # one per output channel
    if isinstance(conv, keras.layers.DepthwiseConv2D):  # (h, w, in, multiplier): output channel in * m + j
        kernel = (kernel.reshape(kernel.shape[:2] + (-1,)) * factor).reshape(kernel.shape)
    else:  # (h, w, in, out)
        kernel = kernel * factor
    return [kernel.astype(np.float32), (beta + (bias - bn.moving_mean.numpy()) * factor).astype(np.float32)]


def fold_batch_norm(model: keras.Model) -> keras.Model:
    """A new model computing ``model``'s outputs with every foldable batch norm and zero padding folded
    (see the module docstring); ``model`` itself when there is nothing to fold. Raises on a model Keras
    cannot clone."""
    pairs, pads = foldable_pairs(model), foldable_paddings(model)
    if not pairs and not pads:
        return model
    gone = {bn.name for bn in pairs.values()} | {pad.name for pad in pads.values()}

    def clone(layer):
        config = layer.get_config()
        if layer.name in gone:
            return Folded(name=layer.name)
        if layer.name in pairs:
            config["use_bias"] = True
        if layer.name in pads:
            config["padding"] = "same"
        return layer.__class__.from_config(config)

    copy = keras.models.clone_model(model, clone_function=clone)
    for layer in model.layers:
        if layer.name in gone:
            continue
        weights = _folded_weights(layer, pairs[layer.name]) if layer.name in pairs else layer.get_weights()
        copy.get_layer(layer.name).set_weights(weights)
    copy.trainable = False
    return copy


def _same_outputs(model, copy) -> bool:
    shape = tuple(int(d) if d is not None else 64 for d in model.inputs[0].shape[1:])
    probe = np.random.default_rng(0).uniform(0, 255, (2,) + shape).astype(np.float32)
    for a, b in zip(keras.tree.flatten(model(probe, training=False)), keras.tree.flatten(copy(probe, training=False))):
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape or not np.all(np.isfinite(b)) \
                or np.max(np.abs(a - b)) > TOLERANCE * max(1.0, float(np.max(np.abs(a)))):
            return False
    return True


_FOLDED = WeakCache()


def _checked_copy(model: keras.Model):
    """The folded copy if it matches ``model``, else None (the model as its own value: never freed)."""
    try:
        copy = fold_batch_norm(model)
        if copy is not model and _same_outputs(model, copy):
            return copy
    except Exception:  # noqa: BLE001  (any model Keras cannot clone is simply used unfolded)
        pass
    return None


def folded(model: keras.Model) -> keras.Model:
    """The folded copy of ``model`` for gradient loops (built and checked once per model; ``model``
    itself when nothing folds, or when the copy could not be built or did not match it)."""
    return _FOLDED.get(model, lambda: _checked_copy(model)) or model
