"""Gradient ascent on an image: the compiled step and the :func:`ideal_image` loop that drives it.

One ``tf.function`` step does everything on the graph side: parameterisation -> random robustness
views -> model -> objective -> gradient -> optimiser update -> the new image as uint8. Hyperparameters
(learning rate, weights, transform sizes, the seed) are tensor arguments, so one trace serves every
slider position; traces are cached per model and structure (parameterisation, optimiser, views).
"""

from __future__ import annotations

import math
import time
import weakref
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import tensorflow as tf

from ..classifier import input_size, num_classes
from ..classifier import predict as predict  # the app's one geometry; optvis.predict kept as a name
from ..runtime import Diverged
from . import objectives as obj
from .activations import network_for, split
from .param import NAMES as PARAM_NAMES
from .param import parameterisation
from .transform import robust_views

OPTIMIZERS = ("sgd", "adam")
MAX_STEPS = 5000
MAX_VIEWS = 8
MAX_IMAGES = 8
_ADAM_B1, _ADAM_B2, _ADAM_EPS = 0.9, 0.999, 1e-8

#: Options of :func:`ideal_image` and their defaults (the "best looking" recipe).
DEFAULTS = dict(
    param="fourier",  # 'pixels' or 'fourier'
    optimizer="adam",  # 'sgd' (plain gradient steps) or 'adam'
    learning_rate=0.05,
    ce_weight=1.0,  # weight of -log p(target)
    tv_weight=0.0,  # weight of the total variation (sum of |neighbour differences| in pixel levels)
    l2_weight=0.0,  # weight of the mean squared distance from grey (-1..1 scale)
    jitter=16,  # random shift, pixels
    scale=0.5,  # random zoom, +- fraction (strong zoom makes the image read as a cat to other networks too)
    rotation=30.0,  # random rotation, +- degrees
    views=2,  # randomly transformed copies judged per step
    frame_every=None,  # keep a frame every N steps (default: about 20 frames per run)
    objective=None,  # an optvis Objective replacing the weighted CE + TV + L2 loss
    images=1,  # how many images to paint at once (with diversity > 0 they are pushed apart)
    diversity=0.0,  # weight of Lucid's diversity term (similarity of the images' Gram features)
    diversity_layer=None,  # the layer whose Gram features are compared (default: see optvis.diverse)
)

#: Named option sets (``steps`` in a preset is the recommended run length; the page uses it).
#: "as in the lesson": VGG16-style plain gradient steps of size 1 on pixels 0..255, 10*CE + 0.005*TV.
PRESETS = {
    "as in the lesson": dict(param="pixels", optimizer="sgd", learning_rate=1.0, ce_weight=10.0, tv_weight=0.005,
                             l2_weight=0.0, jitter=0, scale=0.0, rotation=0.0, views=1, steps=1000, frame_every=100),
    "best looking": dict(DEFAULTS, steps=200),
    "plain noise": dict(param="pixels", optimizer="sgd", learning_rate=1.0, ce_weight=10.0, tv_weight=0.0,
                        l2_weight=0.0, jitter=0, scale=0.0, rotation=0.0, views=1, steps=1000, frame_every=100),
}


@dataclass
class IdealImage:
    """The outcome of :func:`ideal_image`."""

    image: np.ndarray  # uint8 (h, w, 3) at the model's input size
    history: list[float]  # target probability at each step (of the view the network saw)
    losses: list[float]  # total loss at each step
    frames: list[tuple[int, np.ndarray]]  # (step, uint8 image) snapshots, first and last included
    target: int | None  # None when an objective alone was optimised
    probability: float | None  # target probability of the final uint8 image, untransformed (None: no target)
    status: str = "done"  # 'done' or 'cancelled'
    seconds: float = 0.0
    options: dict = field(default_factory=dict)
    images: list = field(default_factory=list)  # every image of a several-at-once run (``image`` is images[0])

    @property
    def steps(self) -> int:
        return len(self.history)


def options_for(preset: str | None = None, **overrides) -> dict:
    """Full option dict: :data:`DEFAULTS`, then a preset from :data:`PRESETS`, then ``overrides``."""
    out = dict(DEFAULTS)
    if preset is not None:
        if preset not in PRESETS:
            raise ValueError(f"Unknown preset '{preset}'. Choose one of: {', '.join(PRESETS)}.")
        out.update(PRESETS[preset])
    out.update(overrides)
    return out


def _check_options(options: dict) -> dict:
    options = dict(options)
    preset = options.pop("preset", None)
    unknown = set(options) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"Unknown option(s) {', '.join(sorted(unknown))}. Known: preset, {', '.join(DEFAULTS)}.")
    o = options_for(preset, **options)
    o.pop("steps", None)
    if o["param"] not in PARAM_NAMES:
        raise ValueError(f"param must be one of {PARAM_NAMES}, got {o['param']!r}.")
    if o["optimizer"] not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {o['optimizer']!r}.")
    for key in ("learning_rate", "ce_weight", "tv_weight", "l2_weight", "jitter", "scale", "rotation"):
        value = float(o[key])
        if math.isnan(value) or value < 0:
            raise ValueError(f"{key} must be a number >= 0, got {o[key]!r}.")
        o[key] = value
    o["jitter"] = min(o["jitter"], 64.0)
    o["scale"] = min(o["scale"], 0.9)
    o["rotation"] = min(o["rotation"], 180.0)
    o["views"] = int(min(max(int(o["views"]), 1), MAX_VIEWS))
    o["images"] = int(o["images"])
    if not 1 <= o["images"] <= MAX_IMAGES:
        raise ValueError(f"images must be 1..{MAX_IMAGES}, got {o['images']}.")
    o["diversity"] = float(o["diversity"])
    if math.isnan(o["diversity"]) or o["diversity"] < 0:
        raise ValueError(f"diversity must be a number >= 0, got {o['diversity']!r}.")
    if o["objective"] is not None and not isinstance(o["objective"], obj.Objective):
        raise TypeError("objective must be an explorer.optvis Objective.")
    return o


_STEPS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def compiled_step(model, param, optimizer: str, views: int, robust: bool, objective: obj.Objective | None = None):
    """The compiled optimisation step for one model and structure (cached unless ``objective`` is custom).

    ``step(raw, m, v, t, target, hp, seed) -> (raw, m, v, image_uint8, loss, ce, tv, l2, probability,
    finite)`` where ``hp = [lr, ce_w, tv_w, l2_w, jitter, scale, rotation]``.
    """
    key = (param.name, param.shape, optimizer, views, robust)
    per_model = _STEPS.setdefault(model, {})
    if objective is None and key in per_model:
        return per_model[key]

    layers = tuple(sorted(objective.layers)) if objective is not None else ()
    model_ref = weakref.ref(network_for(model, layers))  # the cache must not keep a discarded model alive

    @tf.function(jit_compile=False, reduce_retracing=True)
    def step(raw, m, v, t, target, hp, seed):
        lr, ce_w, tv_w, l2_w, jitter_px, scale, rotation = tf.unstack(hp)
        with tf.GradientTape() as tape:
            tape.watch(raw)
            image = param.to_image(raw)
            seen = robust_views(image, views, jitter_px, scale, rotation, seed) if robust else image
            activations, probs = split(model_ref()(seen, training=False), layers)
            ctx = obj.Context(image=image, views=seen, probs=probs, activations=activations)
            ce, tv, l2 = obj.class_ce(target)(ctx), obj.total_variation()(ctx), obj.l2()(ctx)
            loss = objective(ctx) if objective is not None else ce_w * ce + tv_w * tv + l2_w * l2
        grad = tape.gradient(loss, raw)
        if optimizer == "adam":
            m = _ADAM_B1 * m + (1 - _ADAM_B1) * grad
            v = _ADAM_B2 * v + (1 - _ADAM_B2) * tf.square(grad)
            m_hat = m / (1 - tf.pow(_ADAM_B1, t))
            v_hat = v / (1 - tf.pow(_ADAM_B2, t))
            update = lr * m_hat / (tf.sqrt(v_hat) + _ADAM_EPS)
        else:
            update = lr * grad
        new_raw = param.project(raw - update)
        new_image = param.to_image(new_raw)
        finite = tf.reduce_all(tf.math.is_finite(new_image)) & tf.math.is_finite(loss)
        image_u8 = tf.cast(tf.round(tf.clip_by_value(new_image[0], 0.0, 255.0)), tf.uint8)
        p = tf.reduce_mean(tf.gather(probs, target, axis=1))
        return new_raw, m, v, image_u8, loss, ce, tv, l2, p, finite

    if objective is None:
        per_model[key] = step
    return step


def lesson_learning_rate(model) -> float:
    """The lesson's step size 1 translated to this model: pixels move by the gradient w.r.t. its own input.

    The lesson ran VGG-16, whose ``caffe`` preprocessing only shifts pixels, so a plain step of size 1
    in pixels is a step of 1 in the network's input. ``tf`` models (MobileNet, Inception) divide pixels
    by 127.5, which makes pixel gradients 127.5 times smaller: the same step needs a learning rate of
    127.5 there. Models without a ``preprocess`` layer get 1.
    """
    preprocess = _find_layer(model, "preprocess")
    mode = getattr(preprocess, "mode", "caffe")
    return {"caffe": 1.0, "tf": 127.5, "torch": 255.0 * 0.226}[mode]


def _find_layer(model, name: str):
    for layer in getattr(model, "layers", []):
        if layer.name == name:
            return layer
        found = _find_layer(layer, name)
        if found is not None:
            return found
    return None


def ideal_image(model, target: int | None = None, steps: int = 200, seed: int = 0, callback: Callable | None = None,
                **options) -> IdealImage:
    """Paint the image ``model`` finds most like class ``target``: gradient descent on ``-log p(target)``
    plus regularisers, starting from noise.

    ``model`` is any classifier taking RGB pixels 0..255 and giving probabilities (zoo or user-trained).
    Options (see :data:`DEFAULTS`): ``preset`` (a name from :data:`PRESETS`, overridden by the other
    options), ``param`` ('pixels' | 'fourier'), ``optimizer`` ('sgd' | 'adam'), ``learning_rate``, ``ce_weight``,
    ``tv_weight``, ``l2_weight``, ``jitter`` (px), ``scale`` (fraction), ``rotation`` (degrees), ``views``,
    ``frame_every``, ``objective``, ``images``, ``diversity``, ``diversity_layer``.

    ``target=None`` optimises ``objective`` alone (e.g. ``optvis.channel("block_13_expand_relu", 7)``):
    ``history`` then holds the objective's score (minus its loss) and ``probability`` is None.
    ``images=n`` with ``diversity=w > 0`` paints n images at once, each pushed away from the others'
    Gram features at ``diversity_layer`` (Lucid's diversity objective); ``result.images`` holds all n.

    ``callback(step, image, metrics)`` runs after every step with the new uint8 image and a dict
    (``probability``, ``loss``, ``ce``, ``tv``, ``l2``, ``seconds``); returning ``False`` cancels the run
    (``result.status == 'cancelled'``). Raises :class:`explorer.Diverged` (``.result``: the run so far) on NaN/inf, ``ValueError`` on bad
    options.
    """
    steps = int(steps)
    if not 1 <= steps <= MAX_STEPS:
        raise ValueError(f"steps must be 1..{MAX_STEPS}, got {steps}.")
    o = _check_options(options)
    if target is None and o["objective"] is None:
        raise ValueError("Give a target class, an objective (e.g. optvis.channel(layer, index)), or both.")
    classes = num_classes(model) or 0
    target = None if target is None else int(target)
    if target is not None and not 0 <= target < classes:
        raise ValueError(f"target must be a class index 0..{classes - 1}, got {target}.")
    if o["images"] > 1:
        from .diverse import ideal_images  # lazy: diverse builds on this module

        return ideal_images(model, target, steps, seed, callback, o)
    h, w = input_size(model)
    param = parameterisation(o["param"], h, w)
    robust = o["jitter"] > 0 or o["scale"] > 0 or o["rotation"] > 0
    step_fn = compiled_step(model, param, o["optimizer"], o["views"] if robust else 1, robust, o["objective"])
    frame_every = int(o["frame_every"] or max(1, steps // 20))

    raw = tf.constant(param.init(seed))
    m = tf.zeros_like(raw)
    v = tf.zeros_like(raw)
    hp = tf.constant([o["learning_rate"], o["ce_weight"], o["tv_weight"], o["l2_weight"], o["jitter"], o["scale"],
                      o["rotation"]], tf.float32)
    target_t = tf.constant(target or 0, tf.int32)
    first = np.asarray(tf.cast(tf.round(tf.clip_by_value(param.to_image(raw)[0], 0, 255)), tf.uint8))
    result = IdealImage(image=first, history=[], losses=[], frames=[(0, first)], target=target,
                        probability=float("nan"), options={**o, "steps": steps, "seed": seed})
    start = time.perf_counter()
    for i in range(1, steps + 1):
        seed_t = tf.constant([seed, i], tf.int32)
        new = step_fn(raw, m, v, tf.constant(float(i)), target_t, hp, seed_t)
        new_raw, new_m, new_v, image_u8, loss, ce, tv, l2, p, finite = new
        if not bool(finite):
            result.seconds = time.perf_counter() - start
            result.probability = final_probability(model, result.image, target)
            raise Diverged(
                f"The optimisation blew up at step {i} (the loss or the image became NaN or infinite), usually "
                f"because the learning rate ({o['learning_rate']:g}) is far too large. Lower it and run again; "
                f"the last good image (step {i - 1}) is kept.", result)
        raw, m, v = new_raw, new_m, new_v
        result.image = image_u8.numpy()
        result.history.append(float(p) if target is not None else -float(loss))
        result.losses.append(float(loss))
        if i % frame_every == 0 or i == steps:
            result.frames.append((i, result.image))
        if callback is not None:
            metrics = {"probability": float(p), "loss": float(loss), "ce": float(ce), "tv": float(tv),
                       "l2": float(l2), "seconds": time.perf_counter() - start}
            if callback(i, result.image, metrics) is False:
                result.status = "cancelled"
                if result.frames[-1][0] != i:
                    result.frames.append((i, result.image))
                break
    result.seconds = time.perf_counter() - start
    result.probability = final_probability(model, result.image, target)
    result.images = [result.image]
    return result


def final_probability(model, image: np.ndarray, target: int | None) -> float | None:
    """The target's probability for the untransformed uint8 image (None without a target)."""
    return None if target is None else float(predict(model, image)[target])
