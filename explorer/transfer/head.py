"""The trainable part of a transfer-learning classifier, and the whole classifier assembled from it.

The head is a few plain Keras layers (dropout, optional dense layer, softmax). They are trained first
on cached backbone embeddings (a tiny model: ``embedding -> head``), then copied, weights and all, on
top of the backbone (a clone of it when fine-tuning follows), so the final classifier takes 0..255
pixels and needs no retraining. A :class:`explorer.classifier.ClassNames` layer carries the class
names and the metadata into ``.keras`` files.
"""

from __future__ import annotations

import keras

from ..models.classifier import ClassNames, describe, weights_label


def head_layers(num_classes: int, dense_units: int = 0, dropout: float = 0.2) -> list[keras.layers.Layer]:
    """Dropout, then (if ``dense_units``) a ReLU dense layer and dropout again, then a softmax layer."""
    layers: list[keras.layers.Layer] = []
    if dropout > 0:
        layers.append(keras.layers.Dropout(dropout, name="head_dropout"))
    if dense_units > 0:
        layers.append(keras.layers.Dense(dense_units, activation="relu", name="head_dense"))
        if dropout > 0:
            layers.append(keras.layers.Dropout(dropout, name="head_dense_dropout"))
    layers.append(keras.layers.Dense(num_classes, activation="softmax", name="predictions"))
    return layers


def embedding_head(embedding_size: int, layers) -> keras.Model:
    """``embedding -> probabilities``: the model trained on cached embeddings."""
    embedding = keras.Input((embedding_size,), name="embedding")
    x = embedding
    for layer in layers:
        x = layer(x)
    return keras.Model(embedding, x, name="head")


def classifier(backbone: keras.Model, head: keras.Model, class_names, name: str = "transfer_classifier") -> keras.Model:
    """One flat model ``pixels 0..255 -> class probabilities``: backbone layers, then copies of the trained head.

    Flat (no nested model) so every backbone layer stays reachable, e.g. for the Feature maps page; the
    head layers are copied (same config and weights) so each layer of the classifier has exactly one
    place in one graph and ``layer.output`` is defined for all of them. Its metadata
    (:func:`explorer.classifier.metadata`) holds the class order.
    """
    x = backbone.output
    if len(x.shape) == 4:
        x = keras.layers.GlobalAveragePooling2D(name="head_pool")(x)
    for trained in head.layers[1:]:
        layer = trained.__class__.from_config(trained.get_config())
        x = layer(x)
        layer.set_weights(trained.get_weights())
    about = {"name": name, "weights": f"transfer learning on {weights_label(backbone)}"}
    probs = ClassNames(class_names, about=about, name="class_names")(x)
    model = keras.Model(backbone.input, probs, name=name)
    return describe(model, class_names=class_names, **about)


def freeze_all_but_last(layers: list, count: int) -> list[str]:
    """Make only the last ``count`` of these backbone layers trainable; returns their names.

    BatchNormalization layers stay frozen (so they run in inference mode with their ImageNet
    statistics), as the Keras fine-tuning guide recommends: small batches would wreck those statistics.
    """
    last = layers[len(layers) - count:] if count > 0 else []
    for layer in layers:
        layer.trainable = layer in last and not isinstance(layer, keras.layers.BatchNormalization)
    return [layer.name for layer in last]


__all__ = ["classifier", "embedding_head", "freeze_all_but_last", "head_layers"]
