"""What the compiled step calls: the model (batch norm folded), or the model plus the feature maps an
objective reads.

Layer objectives (:func:`.objectives.channel`, :func:`.objectives.neuron`, diversity) need the
activations of inner layers. :func:`network_for` returns one multi-output model (built and cached by
:mod:`explorer.features`, so nested backbones work too) giving those layers' maps and the probabilities
in a single forward pass; :func:`split` turns its outputs into ``(activations dict, probabilities)``.
With no layer to read, it is the model with its batch norms folded into the convolutions
(:func:`explorer.folding.folded`): the same function in fewer operations.
"""

from __future__ import annotations

import keras

from ..models.classifier import main_output
from ..inspect.features import extractor
from ..models.folding import folded


def network_for(model: keras.Model, layers: tuple[str, ...]) -> keras.Model:
    """``model`` (folded) when no layer is needed, else a model returning ``[map for each layer...,
    probabilities]``."""
    if not layers:
        return folded(model)
    ext = extractor(model, layers)
    if not ext.has_top:
        raise ValueError(f"Model '{model.name}' has no class output; ideal images need a classifier.")
    return ext.model


def split(outputs, layers: tuple[str, ...]):
    """``(activations by layer, probabilities)`` from :func:`network_for`'s outputs."""
    if not layers:
        return {}, main_output(outputs)  # GoogLeNet: its main head
    outputs = list(outputs)
    return dict(zip(layers, outputs[:len(layers)])), outputs[len(layers)]
