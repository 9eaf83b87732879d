"""Convolution, by hand: one output pixel of a real network's first convolution, as a weighted sum.

:func:`conv_by_hand` takes the model's first ``Conv2D``, runs the photo up to it, and for one output
position and one output channel returns the input patch the kernel covers (in the layer's own input
space, i.e. after the model's preprocessing, with the zeros of any 'same' padding), the kernel, the
elementwise products, their sum, the bias, and the value the layer itself computed. What is compared:

- ``pre_activation = sum(products) + bias`` is the convolution before any activation;
- ``by_hand`` is that passed through the layer's own fused activation (VGG's convolutions include
  their ReLU; MobileNet's have none, ``by_hand == pre_activation``);
- ``layer_value`` is the layer's output tensor at that position and channel: it equals ``by_hand``.
- ``after`` / ``after_layer``: the value after the batch norm and activation that follow the
  convolution (MobileNet's ``bn_Conv1`` then ``Conv1_relu``), shown, not computed by hand.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import keras
import numpy as np

from .features import activation_of, model_input, walk_layers


@dataclass
class ConvByHand:
    """One output pixel of a convolution, computed by hand (see the module docstring)."""

    layer: str
    position: tuple[int, int]  # (row, col) in the layer's output
    channel: int  # output channel (which kernel)
    stride: tuple[int, int]
    padding: str  # 'same' or 'valid'
    box: tuple[int, int, int, int]  # (top, left, bottom, right) of the patch in the layer's input, unpadded
    patch: np.ndarray  # (kh, kw, C) float32: the input values the kernel covers (padding zeros included)
    kernel: np.ndarray  # (kh, kw, C) float32: the weights of output channel ``channel``
    bias: float
    products: np.ndarray  # patch * kernel, (kh, kw, C)
    total: float  # sum of the products
    pre_activation: float  # total + bias
    activation: str  # the layer's fused activation ('linear' when none)
    by_hand: float  # activation(pre_activation)
    layer_value: float  # what the layer computed at this position and channel
    after_layer: str  # the layer holding the activated result (batch norm / ReLU after the conv)
    after: float  # its value at this position and channel

    @property
    def error(self) -> float:
        """``|by_hand - layer_value|``."""
        return abs(self.by_hand - self.layer_value)


def first_conv(model: keras.Model) -> keras.layers.Conv2D:
    """The model's first ``Conv2D`` layer (nested models included)."""
    for layer in walk_layers(model):
        if isinstance(layer, keras.layers.Conv2D):
            return layer
    raise ValueError(f"Model '{model.name}' has no Conv2D layer.")


def _contains(model, layer) -> bool:
    return any(sub is layer for sub in walk_layers(model))


def _source_layer(model: keras.Model, nested) -> tuple[str, bool]:
    """(name, is an input) of the layer whose output feeds ``nested`` inside ``model`` (public config)."""
    config = model.get_config()
    inputs = {item[0] for item in config["input_layers"]} if isinstance(config["input_layers"][0], list) \
        else {config["input_layers"][0]}
    for item in config["layers"]:
        if item.get("name") == nested.name:
            source = item["inbound_nodes"][0]["args"][0]["config"]["keras_history"][0]
            return source, source in inputs
    raise ValueError(f"Cannot find what feeds '{nested.name}' in '{model.name}'.")


def _submodel(model: keras.Model, outputs) -> keras.Model:
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs  # a plain tensor: no structure warning
    return keras.Model(inputs, outputs)


def _values(model: keras.Model, x, target):
    """(input, output) values of layer ``target`` for batch ``x`` of ``model``'s input, nesting followed."""
    if any(layer is target for layer in model.layers):
        return _submodel(model, [target.input, target.output])(x, training=False)
    for layer in model.layers:
        if isinstance(layer, keras.Model) and _contains(layer, target):
            if isinstance(model, keras.Sequential):
                index = model.layers.index(layer)
                feed = x if index == 0 else _submodel(model, model.layers[index - 1].output)(x)
            else:
                source, is_input = _source_layer(model, layer)
                feed = x if is_input else _submodel(model, model.get_layer(source).output)(x)
            return _values(layer, feed, target)
    raise ValueError(f"Layer '{target.name}' is not part of model '{model.name}'.")


def _after(model: keras.Model, x, conv) -> tuple[str, np.ndarray | None]:
    if not any(layer is conv for layer in model.layers):
        return conv.name, None
    name = activation_of(model, conv.name)
    if name == conv.name:
        return name, None
    return name, np.asarray(_submodel(model, model.get_layer(name).output)(x, training=False))[0]


def conv_by_hand(model: keras.Model, image, position: tuple[int, int] | None = None, channel: int = 0,
                 layer: str | None = None) -> ConvByHand:
    """One output pixel of the model's first convolution (or ``layer``), as an explicit weighted sum.

    ``image``: a photo (anything :func:`explorer.load_image` reads), centre-cropped and resized to the
    model's input as on the Feature maps page. ``position``: (row, col) in the convolution's output
    (default: the centre). ``channel``: the output channel whose kernel is shown.
    """
    conv = first_conv(model) if layer is None else next((lay for lay in walk_layers(model) if lay.name == layer), None)
    if not isinstance(conv, keras.layers.Conv2D):
        raise ValueError(f"Layer '{layer}' is not a Conv2D layer of model '{model.name}'.")
    cfg = conv.get_config()
    if cfg.get("groups", 1) != 1 or cfg.get("data_format", "channels_last") != "channels_last":
        raise ValueError(f"Convolution by hand needs a plain channels-last Conv2D; '{conv.name}' is not.")
    x = model_input(model, image)
    layer_in, layer_out = (np.asarray(v)[0] for v in _values(model, x, conv))
    rows, cols = layer_out.shape[:2]
    row, col = position if position is not None else (rows // 2, cols // 2)
    if not (0 <= row < rows and 0 <= col < cols):
        raise ValueError(f"Position ({row}, {col}) is outside the {rows}x{cols} output of '{conv.name}'.")
    kernel_all, *rest = conv.get_weights()
    kh, kw, _, filters = kernel_all.shape
    if not 0 <= channel < filters:
        raise ValueError(f"channel must be 0..{filters - 1}, got {channel}.")
    sh, sw = (int(s) for s in cfg["strides"])
    dh, dw = (int(d) for d in cfg["dilation_rate"])
    padding = cfg["padding"].lower()

    def pad_before(length, kernel, stride, dilation):
        if padding != "same":
            return 0
        span = dilation * (kernel - 1) + 1
        return max((math.ceil(length / stride) - 1) * stride + span - length, 0) // 2  # TF: odd pixel after

    top = row * sh - pad_before(layer_in.shape[0], kh, sh, dh)
    left = col * sw - pad_before(layer_in.shape[1], kw, sw, dw)
    patch = np.zeros((kh, kw, layer_in.shape[2]), np.float32)
    for i in range(kh):
        for j in range(kw):
            r, c = top + i * dh, left + j * dw
            if 0 <= r < layer_in.shape[0] and 0 <= c < layer_in.shape[1]:
                patch[i, j] = layer_in[r, c]
    kernel = kernel_all[..., channel].astype(np.float32)
    bias = float(rest[0][channel]) if cfg.get("use_bias", True) and rest else 0.0
    products = patch * kernel
    total = float(products.astype(np.float64).sum())
    pre = total + bias
    activation = cfg["activation"] if isinstance(cfg["activation"], str) else "custom"
    by_hand = float(np.asarray(conv.activation(np.array([pre], np.float32)))[0])
    after_layer, after_map = _after(model, x, conv)
    box = (max(top, 0), max(left, 0), min(top + dh * (kh - 1) + 1, layer_in.shape[0]),
           min(left + dw * (kw - 1) + 1, layer_in.shape[1]))
    return ConvByHand(
        layer=conv.name, position=(int(row), int(col)), channel=int(channel), stride=(sh, sw), padding=padding,
        box=box, patch=patch, kernel=kernel, bias=bias, products=products, total=total, pre_activation=pre,
        activation=activation, by_hand=by_hand, layer_value=float(layer_out[row, col, channel]),
        after_layer=after_layer,
        after=float(after_map[row, col, channel]) if after_map is not None else float(layer_out[row, col, channel]))
