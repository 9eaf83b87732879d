"""The trainable part of a transfer-learning classifier, and the whole classifier assembled from it.

The head is a few plain Keras layers (dropout, optional dense layer, softmax). They are trained first
on cached backbone features (a tiny model: ``features -> head``), then copied, weights and all, on top
of the backbone (a clone of it when fine-tuning follows), so the final classifier takes 0..255 pixels
and needs no retraining. :class:`ClassNames` is an identity layer that carries the class names into
``.keras`` files.
"""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="explorer")
class ClassNames(keras.layers.Layer):
    """Identity layer remembering the class names, so a saved ``.keras`` classifier knows its labels."""

    def __init__(self, class_names=(), **kwargs):
        super().__init__(**kwargs)
        self.class_names = [str(n) for n in class_names]

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "class_names": self.class_names}


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


def feature_head(feature_size: int, layers) -> keras.Model:
    """``features -> probabilities``: the model trained on cached features."""
    features = keras.Input((feature_size,), name="features")
    x = features
    for layer in layers:
        x = layer(x)
    return keras.Model(features, x, name="head")


def clone_backbone(backbone: keras.Model) -> keras.Model:
    """An independent copy with the same weights: the shared (cached) backbone is never changed."""
    clone = keras.models.clone_model(backbone)
    clone.set_weights(backbone.get_weights())
    for attr in ("explorer_name", "explorer_weights"):
        if hasattr(backbone, attr):
            setattr(clone, attr, getattr(backbone, attr))
    return clone


def classifier(backbone: keras.Model, head: keras.Model, class_names, name: str = "transfer_classifier") -> keras.Model:
    """One flat model ``pixels 0..255 -> class probabilities``: backbone layers, then copies of the trained head.

    Flat (no nested model) so every backbone layer stays reachable, e.g. for the Feature maps page; the
    head layers are copied (same config and weights) so each layer of the classifier has exactly one
    place in one graph and ``layer.output`` is defined for all of them. ``model.explorer_class_names``
    holds the class order.
    """
    x = backbone.output
    if len(x.shape) == 4:
        x = keras.layers.GlobalAveragePooling2D(name="head_pool")(x)
    for trained in head.layers[1:]:
        layer = trained.__class__.from_config(trained.get_config())
        x = layer(x)
        layer.set_weights(trained.get_weights())
    probs = ClassNames(class_names, name="class_names")(x)
    model = keras.Model(backbone.input, probs, name=name)
    model.explorer_class_names = [str(n) for n in class_names]
    model.explorer_name = name
    model.explorer_weights = f"transfer learning on {getattr(backbone, 'explorer_weights', 'a backbone')}"
    return model


def freeze_all_but_last(layers: list, count: int) -> list[str]:
    """Make only the last ``count`` of these backbone layers trainable; returns their names.

    BatchNormalization layers stay frozen (so they run in inference mode with their ImageNet
    statistics), as the Keras fine-tuning guide recommends: small batches would wreck those statistics.
    """
    last = layers[len(layers) - count:] if count > 0 else []
    for layer in layers:
        layer.trainable = layer in last and not isinstance(layer, keras.layers.BatchNormalization)
    return [layer.name for layer in last]


def class_names_of(model: keras.Model) -> list[str] | None:
    """Class names of a transfer-learned classifier (also after reloading a ``.keras`` file)."""
    names = getattr(model, "explorer_class_names", None)
    if names is None:
        found = [layer for layer in model.layers if isinstance(layer, ClassNames)]
        names = found[-1].class_names if found else None
    return names
