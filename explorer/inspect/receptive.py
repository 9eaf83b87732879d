"""Receptive fields: which patch of the input one position of a feature map can see.

The *theoretical* receptive field, computed from the layer graph alone (``model.get_config()``: each
layer's kernel size, stride, dilation and padding, and its ``inbound_nodes``), never from weights.
Along one axis, position ``i`` of a layer's output sees input pixels
``offset + i * stride .. offset + i * stride + size - 1``; each convolution or pooling layer updates
the three numbers:

    size   += (dilation * (kernel - 1)) * stride_in      (its kernel spans more input pixels)
    offset -= pad_before * stride_in                     (padding moves the window left/up)
    stride *= layer stride

Where branches meet (Add, Concatenate, ...) the fields are united: the box that holds every branch's
box. Layers that change nothing spatially (batch norm, activations, preprocessing) pass the field on.
Nested models (a backbone inside a classifier) are followed through their own config.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import keras

from ..models.classifier import input_size

# Layers that slide a window over the grid, layers that leave it, and models nested as layers.
_CONV = {"Conv2D", "Conv2DTranspose", "DepthwiseConv2D", "SeparableConv2D", "Convolution2D"}
_POOL = {"MaxPooling2D", "AveragePooling2D", "MaxPool2D", "AvgPool2D"}
_GLOBAL = {"GlobalAveragePooling2D", "GlobalMaxPooling2D", "GlobalAvgPool2D", "GlobalMaxPool2D", "Flatten"}
_NESTED = {"Functional", "Model", "Sequential"}


@dataclass(frozen=True)
class _Axis:
    """One axis of a field: ``size`` input pixels, ``stride`` between neighbours, ``offset`` of position 0,
    and ``length``, the number of positions along the axis."""

    size: int
    stride: int
    offset: int
    length: int


def _window(axis: _Axis, kernel: int, stride: int, dilation: int, padding: str) -> _Axis:
    span = dilation * (kernel - 1) + 1
    if padding == "same":
        out = math.ceil(axis.length / stride)
        before = max((out - 1) * stride + span - axis.length, 0) // 2  # TensorFlow puts the odd pixel after
    else:  # 'valid'
        out = (axis.length - span) // stride + 1
        before = 0
    return _Axis(axis.size + (span - 1) * axis.stride, axis.stride * stride, axis.offset - before * axis.stride,
                 max(out, 0))


def _union(axes: list[_Axis]) -> _Axis:
    start = min(a.offset for a in axes)
    end = max(a.offset + a.size for a in axes)
    return _Axis(end - start, max(a.stride for a in axes), start, min(a.length for a in axes))


@dataclass(frozen=True)
class ReceptiveField:
    """The theoretical receptive field of every position of one layer's output.

    ``size``: (height, width) in input pixels. ``stride``: input pixels between neighbouring positions.
    ``offset``: input (row, col) of the top-left corner of position (0, 0)'s field; negative where the
    field reaches into padding. ``input_size`` / ``output_size``: (height, width) of the model's input
    and of the layer's feature map.
    """

    layer: str
    size: tuple[int, int]
    stride: tuple[int, int]
    offset: tuple[int, int]
    input_size: tuple[int, int]
    output_size: tuple[int, int]

    def box(self, row: int, col: int, clip: bool = True) -> tuple[int, int, int, int]:
        """``(top, left, bottom, right)`` in input pixels (bottom/right exclusive) seen by position
        (``row``, ``col``) of the feature map; ``clip`` cuts it to the input (padding is not the photo)."""
        rows, cols = self.output_size
        if not (0 <= row < rows and 0 <= col < cols):
            raise ValueError(f"Position ({row}, {col}) is outside the {rows}x{cols} feature map of '{self.layer}'.")
        top = self.offset[0] + row * self.stride[0]
        left = self.offset[1] + col * self.stride[1]
        bottom, right = top + self.size[0], left + self.size[1]
        if clip:
            h, w = self.input_size
            top, left, bottom, right = max(top, 0), max(left, 0), min(bottom, h), min(right, w)
        return top, left, bottom, right


def _pair(value) -> tuple[int, int]:
    if isinstance(value, (list, tuple)):
        return (int(value[0]), int(value[-1])) if len(value) else (1, 1)
    return int(value), int(value)


def _sources(node) -> list[str]:
    """Names of the layers whose outputs feed one inbound node (walks nested args/kwargs)."""
    found: list[str] = []

    def walk(value):
        if isinstance(value, dict):
            history = value.get("config", {}).get("keras_history") if value.get("class_name") == "__keras_tensor__" \
                else None
            if history is not None:
                found.append(history[0])
                return
            for v in value.values():
                walk(v)
        elif isinstance(value, (list, tuple)):
            for v in value:
                walk(v)

    walk(node)
    return found


def _layer_name(layer_config: dict) -> str:
    return layer_config.get("name") or layer_config["config"]["name"]


def _apply(layer_config: dict, inputs: list[tuple[_Axis, _Axis]], record: dict):
    """The field after one layer, given the fields of its inputs (None for non-spatial outputs)."""
    kind = layer_config["class_name"]
    cfg = layer_config["config"]
    spatial = [f for f in inputs if f is not None]
    if kind in _NESTED:
        return _run(cfg, kind, inputs[0] if inputs else None, record)
    if not spatial or kind in _GLOBAL:
        return None
    if kind in _CONV or kind in _POOL:
        kernel = _pair(cfg.get("kernel_size", cfg.get("pool_size", 1)))
        strides = cfg.get("strides")
        strides = _pair(kernel if strides is None else strides)
        dilation = _pair(cfg.get("dilation_rate", 1))
        padding = str(cfg.get("padding", "valid")).lower()
        if kind == "Conv2DTranspose":
            raise ValueError("Receptive fields through transposed convolutions are not supported.")
        rows, cols = spatial[0]
        return (_window(rows, kernel[0], strides[0], dilation[0], padding),
                _window(cols, kernel[1], strides[1], dilation[1], padding))
    if kind in ("ZeroPadding2D", "Cropping2D"):
        key = "padding" if kind == "ZeroPadding2D" else "cropping"
        value = cfg[key]
        (top, bottom), (left, right) = [_pair(v) for v in value] if isinstance(value[0], (list, tuple)) \
            else [(int(value[0]),) * 2, (int(value[1]),) * 2]
        sign = 1 if kind == "ZeroPadding2D" else -1
        rows, cols = spatial[0]
        return (_Axis(rows.size, rows.stride, rows.offset - sign * top * rows.stride,
                      rows.length + sign * (top + bottom)),
                _Axis(cols.size, cols.stride, cols.offset - sign * left * cols.stride,
                      cols.length + sign * (left + right)))
    if kind in ("Dense", "Reshape", "Permute", "RepeatVector", "Embedding"):
        # A Dense on a 4-D tensor works per position (a 1x1 convolution); others leave the grid.
        return spatial[0] if kind == "Dense" else None
    if len(spatial) > 1:  # Add, Concatenate, Multiply, Average, ...: the union of every branch
        return _union([f[0] for f in spatial]), _union([f[1] for f in spatial])
    return spatial[0]  # batch norm, activations, preprocessing, dropout: nothing moves


def _run(config: dict, kind: str, field, record: dict):
    """Run the fields through one (possibly nested) model's config; returns the output field."""
    layers = config["layers"]
    if kind == "Sequential":
        for layer in layers:
            if layer["class_name"] == "InputLayer":
                continue
            field = _apply(layer, [field], record)
            record[_layer_name(layer)] = field
        return field
    fields: dict[str, object] = {}
    for layer in layers:
        name = _layer_name(layer)
        if layer["class_name"] == "InputLayer":
            fields[name] = field if field is not None else _input_field(layer["config"])
            record[name] = fields[name]
            continue
        sources = [s for node in layer.get("inbound_nodes", [])[:1] for s in _sources(node)]
        fields[name] = _apply(layer, [fields.get(s) for s in sources], record)
        record[name] = fields[name]
    outputs = config["output_layers"]
    first = outputs[0] if isinstance(outputs[0], list) else outputs
    return fields.get(first[0])


def _input_field(cfg: dict):
    shape = cfg.get("batch_shape") or cfg.get("batch_input_shape")
    if shape is None or len(shape) != 4:
        return None
    h, w = shape[1] or 224, shape[2] or 224
    return _Axis(1, 1, 0, int(h)), _Axis(1, 1, 0, int(w))


def receptive_fields(model: keras.Model) -> dict[str, ReceptiveField]:
    """Layer name -> :class:`ReceptiveField` for every layer with a spatial (HxW) output, nested models
    included, in graph order."""
    config = model.get_config()
    kind = "Sequential" if isinstance(model, keras.Sequential) else "Functional"
    record: dict = {}
    field = None
    if kind == "Sequential":
        h, w = input_size(model)
        field = (_Axis(1, 1, 0, h), _Axis(1, 1, 0, w))
    _run(config, kind, field, record)
    size = input_size(model)
    return {name: ReceptiveField(name, (f[0].size, f[1].size), (f[0].stride, f[1].stride),
                                 (f[0].offset, f[1].offset), size, (f[0].length, f[1].length))
            for name, f in record.items() if f is not None}


def receptive_field(model: keras.Model, layer: str) -> ReceptiveField:
    """The theoretical receptive field of layer ``layer``'s positions (see :class:`ReceptiveField`)."""
    fields = receptive_fields(model)
    if layer not in fields:
        raise ValueError(f"Layer '{layer}' of model '{model.name}' has no spatial output (or does not exist); "
                         f"layers with feature maps: {', '.join(list(fields)[:8])}, ...")
    return fields[layer]
