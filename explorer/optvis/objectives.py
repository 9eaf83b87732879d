"""Objectives: losses to *minimise* that add and scale like numbers (Lucid style).

``10 * class_ce(284) + 0.005 * total_variation()`` is the lesson's loss. Each objective is a function
of a :class:`Context` (the image, what the network saw, its probabilities) returning a scalar tensor.
Weights may be Python numbers or tensors, so one compiled step serves every slider position.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import tensorflow as tf

# Probabilities are clipped here before the log, so a class at probability 0 still gives a finite loss.
EPS = 1e-30  # the smallest probability a log is taken of


@dataclass(frozen=True)
class Context:
    """What an objective may look at during one step."""

    image: tf.Tensor  # (1, h, w, 3) the image being optimised, pixels 0..255
    views: tf.Tensor  # (n, h, w, 3) the (possibly transformed) copies the network saw
    probs: tf.Tensor  # (n, classes) the network's output probabilities for the views
    # layer name -> (n, h, w, c) activations of the views, for the layers the objective asks for
    activations: dict = field(default_factory=dict)


class Objective:
    """A loss term; ``a + b``, ``a - b``, ``w * a`` and ``-a`` make new objectives."""

    def __init__(self, fn: Callable[[Context], tf.Tensor], name: str, layers=()):
        self.fn = fn
        self.name = name
        self.layers = frozenset(layers)  # layers whose activations the objective reads (Context.activations)

    def __call__(self, ctx: Context) -> tf.Tensor:
        return self.fn(ctx)

    def __add__(self, other):
        if isinstance(other, (int, float)) and other == 0:
            return self
        other = _as_objective(other)
        return Objective(lambda ctx: self(ctx) + other(ctx), f"{self.name} + {other.name}",
                         self.layers | other.layers)

    __radd__ = __add__

    def __sub__(self, other):
        return self + (-1.0) * _as_objective(other)

    def __neg__(self):
        return (-1.0) * self

    def __mul__(self, weight):
        if isinstance(weight, Objective):
            raise TypeError("Objectives can be scaled by numbers, not multiplied together.")
        label = f"{weight:g}" if isinstance(weight, (int, float)) else "w"
        return Objective(lambda ctx: tf.cast(weight, tf.float32) * self(ctx), f"{label}*{self.name}", self.layers)

    __rmul__ = __mul__

    def __repr__(self):
        return f"Objective({self.name})"


def _as_objective(value) -> Objective:
    if isinstance(value, Objective):
        return value
    raise TypeError(f"Cannot combine an objective with {type(value).__name__}.")


def class_ce(target: int | tf.Tensor) -> Objective:
    """Cross-entropy of the target class, ``-log p(target)``, averaged over the views."""
    def fn(ctx):
        p = tf.gather(ctx.probs, target, axis=1)
        return -tf.reduce_mean(tf.math.log(tf.maximum(p, EPS)))
    return Objective(fn, "CE")


def class_probability(target: int | tf.Tensor) -> Objective:
    """Minus the target probability (minimising it raises the probability)."""
    return Objective(lambda ctx: -tf.reduce_mean(tf.gather(ctx.probs, target, axis=1)), "-p")


def total_variation() -> Objective:
    """Sum of absolute differences between neighbouring pixels (``tf.image.total_variation``), in pixel
    levels: large for noise, small for smooth images."""
    return Objective(lambda ctx: tf.reduce_sum(tf.image.total_variation(ctx.image)), "TV")


def l2() -> Objective:
    """Mean squared distance from mid-grey, with 0..255 mapped to -1..1: keeps colours from saturating."""
    return Objective(lambda ctx: tf.reduce_mean(tf.square(ctx.image / 127.5 - 1.0)), "L2")


def lesson_objective(target, ce_weight=10.0, tv_weight=0.005, l2_weight=0.0) -> Objective:
    """``ce_weight * CE + tv_weight * TV + l2_weight * L2``; the lesson uses ``10 * CE + 0.005 * TV``."""
    return ce_weight * class_ce(target) + tv_weight * total_variation() + l2_weight * l2()


def _activation(ctx: Context, layer: str) -> tf.Tensor:
    acts = ctx.activations.get(layer)
    if acts is None:
        raise ValueError(f"No activations of layer '{layer}' were computed for this objective.")
    if len(acts.shape) != 4:
        raise ValueError(f"Layer '{layer}' outputs shape {tuple(acts.shape)}, not feature maps (HxWxC).")
    return acts


def channel(layer: str, index: int) -> Objective:
    """Lucid's channel objective: minus the mean activation of channel ``index`` of ``layer`` over every
    position and view (minimising it makes the whole feature map of that channel light up)."""
    def fn(ctx):
        return -tf.reduce_mean(_activation(ctx, layer)[..., index])
    return Objective(fn, f"channel {layer}:{index}", {layer})


def neuron(layer: str, index: int) -> Objective:
    """Lucid's neuron objective: minus the activation of channel ``index`` of ``layer`` at the centre
    position only (averaged over views): what one unit, with one receptive field, wants to see."""
    def fn(ctx):
        acts = _activation(ctx, layer)
        h, w = acts.shape[1], acts.shape[2]
        return -tf.reduce_mean(acts[:, h // 2, w // 2, index])
    return Objective(fn, f"neuron {layer}:{index}", {layer})


def gram_features(acts: tf.Tensor) -> tf.Tensor:
    """(n, c*c) unit-length Gram matrices of (n, h, w, c) activations: which channels fire together,
    wherever they are (a style, not a layout). Lucid's diversity compares these."""
    n, c = tf.shape(acts)[0], acts.shape[-1]
    flat = tf.reshape(acts, [n, -1, c])
    gram = tf.matmul(flat, flat, transpose_a=True) / tf.cast(tf.shape(flat)[1], acts.dtype)
    return tf.math.l2_normalize(tf.reshape(gram, [n, c * c]), axis=1)


def diversity(layer: str, others) -> Objective:
    """Lucid's diversity term as a loss: the mean cosine similarity between this image's Gram features
    at ``layer`` and ``others`` (a (k, c*c) tensor or variable of the other images' features, read at
    call time). Minimising it pushes the image's style away from the others'."""
    def fn(ctx):
        mine = tf.reduce_mean(gram_features(_activation(ctx, layer)), axis=0, keepdims=True)
        mine = tf.math.l2_normalize(mine, axis=1)
        return tf.reduce_mean(tf.matmul(mine, tf.convert_to_tensor(others), transpose_b=True))
    return Objective(fn, f"diversity {layer}", {layer})
