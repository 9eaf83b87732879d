"""GoogLeNet (Inception v1, Szegedy et al. 2014), built from the paper's table 1.

Keras ships no GoogLeNet, so this builder is ours and has no pretrained weights (``weights=None``).
With its top it returns three outputs: the main classifier and the two auxiliary classifiers that
branch off after inception 4a and 4d. During training their losses are added to the main one with
weight 0.3 (:func:`googlenet_loss`); at inference only the main output is used.
"""

from __future__ import annotations

import keras
from keras import layers

from .blocks import conv, inception_block
from .preprocess import ImageNetPreprocess

AUX_WEIGHT = 0.3

# name: (1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool proj), from table 1 of the paper.
INCEPTION_TABLE = {
    "inception_3a": (64, 96, 128, 16, 32, 32),
    "inception_3b": (128, 128, 192, 32, 96, 64),
    "inception_4a": (192, 96, 208, 16, 48, 64),
    "inception_4b": (160, 112, 224, 24, 64, 64),
    "inception_4c": (128, 128, 256, 24, 64, 64),
    "inception_4d": (112, 144, 288, 32, 64, 64),
    "inception_4e": (256, 160, 320, 32, 128, 128),
    "inception_5a": (256, 160, 320, 32, 128, 128),
    "inception_5b": (384, 192, 384, 48, 128, 128),
}


def _inception(x, name):
    return inception_block(x, *INCEPTION_TABLE[name], name=name)


def stem(x):
    """conv 7x7/2 -> maxpool -> conv 1x1 -> conv 3x3 -> maxpool: 224x224x3 to 28x28x192."""
    x = conv(x, 64, 7, strides=2, name="conv1_7x7_s2")
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool1_3x3_s2")(x)
    x = conv(x, 64, 1, name="conv2_3x3_reduce")
    x = conv(x, 192, 3, name="conv2_3x3")
    return layers.MaxPooling2D(3, strides=2, padding="same", name="pool2_3x3_s2")(x)


def stem_model(input_shape=(224, 224, 3), seed: int | None = 0) -> keras.Model:
    """GoogLeNet's stem alone, pixels 0..255 in, random weights (``seed`` makes them reproducible):
    the 28x28x192 tensor that inception 3a reads."""
    if seed is not None:
        keras.utils.set_random_seed(seed)
    inputs = keras.Input(input_shape, name="pixels")
    x = ImageNetPreprocess("tf", name="preprocess")(inputs)
    return keras.Model(inputs, stem(x), name="googlenet_stem")


def auxiliary_classifier(x, classes, name):
    """avgpool 5x5/3 -> conv 1x1 (128) -> FC 1024 -> dropout 0.7 -> FC classes, softmax."""
    x = layers.AveragePooling2D(5, strides=3, name=f"{name}_ave_pool")(x)
    x = conv(x, 128, 1, name=f"{name}_conv")
    x = layers.Flatten(name=f"{name}_flatten")(x)
    x = layers.Dense(1024, activation="relu", name=f"{name}_fc")(x)
    x = layers.Dropout(0.7, name=f"{name}_drop")(x)
    return layers.Dense(classes, activation="softmax", name=name)(x)


def GoogLeNet(include_top=True, input_shape=(224, 224, 3), classes=1000, pooling=None, preprocess=True,
              name="googlenet") -> keras.Model:
    """GoogLeNet taking RGB pixels 0..255; with a top, outputs ``[main, aux1, aux2]`` probabilities."""
    inputs = keras.Input(input_shape, name="pixels")
    x = ImageNetPreprocess("tf", name="preprocess")(inputs) if preprocess else inputs
    x = stem(x)
    x = _inception(x, "inception_3a")
    x = _inception(x, "inception_3b")
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool3_3x3_s2")(x)
    x = _inception(x, "inception_4a")
    aux1_in = x
    x = _inception(x, "inception_4b")
    x = _inception(x, "inception_4c")
    x = _inception(x, "inception_4d")
    aux2_in = x
    x = _inception(x, "inception_4e")
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool4_3x3_s2")(x)
    x = _inception(x, "inception_5a")
    x = _inception(x, "inception_5b")
    if not include_top:
        if pooling == "avg":
            x = layers.GlobalAveragePooling2D(name="pool5")(x)
        elif pooling == "max":
            x = layers.GlobalMaxPooling2D(name="pool5")(x)
        return keras.Model(inputs, x, name=name)
    x = layers.GlobalAveragePooling2D(name="pool5")(x)
    x = layers.Dropout(0.4, name="pool5_drop")(x)
    main = layers.Dense(classes, activation="softmax", name="main")(x)
    aux1 = auxiliary_classifier(aux1_in, classes, "aux1")
    aux2 = auxiliary_classifier(aux2_in, classes, "aux2")
    return keras.Model(inputs, [main, aux1, aux2], name=name)


def googlenet_loss(y_true, outputs, aux_weight=AUX_WEIGHT):
    """Training loss of GoogLeNet: CE(main) + 0.3 * CE(aux1) + 0.3 * CE(aux2). Returns (total, parts)."""
    ce = keras.losses.SparseCategoricalCrossentropy()
    main, aux1, aux2 = outputs
    parts = {"main": ce(y_true, main), "aux1": ce(y_true, aux1), "aux2": ce(y_true, aux2)}
    total = parts["main"] + aux_weight * (parts["aux1"] + parts["aux2"])
    return total, parts
