"""What one block does to a photo: the computations behind the *Inception block* and *Residual block* pages.

Every function takes and returns plain numbers and numpy arrays, so a page only calls it and draws. The
blocks and stems have random weights (seeded: the same photo always gives the same pictures; Keras has
no pretrained GoogLeNet), built once per configuration and kept for the server's life. Photos are seen
through the app's one geometry (:func:`explorer.models.classifier.seen_at`).
"""

from __future__ import annotations

import functools

import numpy as np

from ..models import blocks, googlenet
from ..models.classifier import seen_at

AUX_WEIGHT = googlenet.AUX_WEIGHT
IN_CHANNELS = 192  # inception 3a's input channels
RESIDUAL_INPUT = 56  # a ResNet stage's grid
INCEPTION_RESNET_INPUT = (140, 35, 320)  # photo side, grid and channels of Inception-ResNet block A


@functools.lru_cache(maxsize=1)
def _googlenet_stem():
    return googlenet.stem_model(seed=0)


@functools.lru_cache(maxsize=16)
def _inception_block(widths: tuple):
    return blocks.inception_block_model((28, 28, IN_CHANNELS), seed=1, **dict(widths))


@functools.lru_cache(maxsize=8)
def _stem(channels: int, size: int):
    return blocks.stem_model(channels, input_shape=(size, size, 3), seed=0)


@functools.lru_cache(maxsize=16)
def _residual_block(in_channels: int, filters: int, kind: str, stride: int, projection: bool):
    return blocks.residual_block_model((RESIDUAL_INPUT, RESIDUAL_INPUT, in_channels), filters, kind, stride,
                                       projection, seed=2)


@functools.lru_cache(maxsize=8)
def _inception_resnet(scale: float):
    _, grid, channels = INCEPTION_RESNET_INPUT
    return blocks.inception_resnet_a_model((grid, grid, channels), scale=scale, seed=3)


def _batch(photo: np.ndarray, size: int) -> np.ndarray:
    return seen_at(photo, (size, size))[None].astype("float32")


def _arrays(outputs) -> dict[str, np.ndarray]:
    return {name: np.asarray(value) for name, value in outputs.items()}


def square_photo(photo, size: int = 224) -> np.ndarray:
    """The photo as a ``size`` x ``size`` network sees it (uint8)."""
    return seen_at(photo, (size, size))


def inception_stem(photo) -> np.ndarray:
    """GoogLeNet's stem (conv 7x7/2, max-pool, conv 1x1, conv 3x3, max-pool) on the 224x224 photo: 1x28x28x192."""
    return np.asarray(_googlenet_stem().predict(_batch(photo, 224), verbose=0))


def inception_outputs(widths: dict, features: np.ndarray) -> dict[str, np.ndarray]:
    """The four branches and their concatenation of an Inception block of these ``widths`` on ``features``."""
    return _arrays(_inception_block(tuple(sorted(widths.items())))(features, training=False))


def inception_parameters(widths: dict) -> dict:
    """Parameters of the block with ``widths``: ``by_hand`` (per branch), ``naive`` designs and ``keras``'s count."""
    return {"by_hand": blocks.inception_params(IN_CHANNELS, **widths),
            "naive": blocks.naive_params(IN_CHANNELS, **widths),
            "keras": _inception_block(tuple(sorted(widths.items()))).count_params()}


def googlenet_heads(model, photo, label: int) -> tuple[list[np.ndarray], float, dict[str, float]]:
    """GoogLeNet's three heads on the 224x224 photo: ``(probabilities per head, total loss, loss per head)``,
    total = main + AUX_WEIGHT * (aux1 + aux2)."""
    heads = [np.asarray(o) for o in model(_batch(photo, 224), training=False)]
    total, parts = googlenet.googlenet_loss(np.array([label]), heads)
    return heads, float(total), {name: float(value) for name, value in parts.items()}


def residual_outputs(in_channels: int, filters: int, kind: str, stride: int, projection: bool, photo) -> dict:
    """A residual block on the 224x224 photo after a random stem: ``x`` and every tensor inside the block."""
    x = np.asarray(_stem(in_channels, 224).predict(_batch(photo, 224), verbose=0))
    return {"x": x, **_arrays(_residual_block(in_channels, filters, kind, stride, projection)(x, training=False))}


def residual_parameters(in_channels: int, filters: int, kind: str, stride: int, projection: bool) -> dict:
    """Parameters of the residual block: by hand (``F(x)``, ``shortcut``, ``total``) and ``keras``'s count."""
    return dict(blocks.residual_params(in_channels, filters, kind, projection),
                keras=_residual_block(in_channels, filters, kind, stride, projection).count_params())


def inception_resnet_outputs(scale: float, photo) -> dict:
    """Inception-ResNet block A on the photo (140x140, random stem): ``x``, the branches and the scaled sum."""
    side, _, channels = INCEPTION_RESNET_INPUT
    x = np.asarray(_stem(channels, side).predict(_batch(photo, side), verbose=0))
    return {"x": x, **_arrays(_inception_resnet(float(scale))(x, training=False))}


def inception_resnet_parameters(scale: float) -> dict:
    """Parameters of Inception-ResNet block A by hand (per part and ``total``) and ``keras``'s count."""
    return dict(blocks.inception_resnet_a_params(INCEPTION_RESNET_INPUT[2]),
                keras=_inception_resnet(float(scale)).count_params())


def gradient_flow(depth: int, activation: str) -> dict[str, np.ndarray]:
    """Gradient norm at each layer (0 = next to the input) of a plain stack, a plain stack with batch norm
    and a residual stack of ``depth`` conv layers at initialisation, after one backward pass."""
    return {"plain": blocks.gradient_norms(blocks.plain_stack(depth, activation=activation)),
            "plain + batch norm": blocks.gradient_norms(blocks.plain_stack(depth, activation=activation,
                                                                           normalised=True)),
            "residual": blocks.gradient_norms(blocks.residual_stack(depth, activation=activation))}


def pooled_shapes(model, photo, sizes) -> list[tuple]:
    """``((h, w), last feature maps' shape, shape after global average pooling)`` of ``model`` (no top) on
    the photo at each size: the same network takes any input size."""
    rows = []
    for h, w in sizes:
        features = np.asarray(model(seen_at(photo, (h, w))[None].astype("float32"), training=False))
        rows.append(((h, w), features.shape, features.mean(axis=(1, 2)).shape))
    return rows
