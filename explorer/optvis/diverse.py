"""Several ideal images at once, pushed apart: Lucid's diversity objective.

``ideal_image(model, target, images=n, diversity=w)`` lands here. The n images are optimised in lock
step: at every step each one takes a step of its own objective plus ``w`` times its mean cosine
similarity to the others' Gram features at one layer (which channels fire together: a style, not a
layout). The others' features live in a variable the compiled step reads at call time, so one trace
serves all n images and every step. The gradient each image gets is exactly its share of Lucid's
joint loss (the pairwise similarity is symmetric).
"""

from __future__ import annotations

import time
import weakref

import numpy as np
import tensorflow as tf

from ..inspect.features import conv_activations
from ..models.classifier import input_size
from ..runtime import Diverged, WeakCache
from . import objectives as obj
from .activations import network_for, split
from .param import parameterisation
from .render import Hyper, IdealImage, StepState, compiled_step, final_probability

_GRAMS = WeakCache()  # model -> {layer: compiled Gram features}


def default_layer(model, objective: obj.Objective | None) -> str:
    """The layer diversity compares: the objective's own layer if it has one, else a middle conv layer."""
    if objective is not None and objective.layers:
        return sorted(objective.layers)[0]
    layers = list(conv_activations(model).values())
    if not layers:
        raise ValueError(f"Model '{model.name}' has no convolutional layer to compare images at.")
    return layers[len(layers) // 2]


def _gram_fn(model, layer: str):
    """The compiled Gram features of ``layer`` for a batch of images (made once per model and layer)."""
    return _GRAMS.get(model, lambda: _build_grams(model, layer), key=layer)


def _build_grams(model, layer: str):
    net_ref = weakref.ref(network_for(model, (layer,)))  # the cache must not keep a discarded model alive

    @tf.function(reduce_retracing=True)
    def grams(images):
        activations, _ = split(net_ref()(images, training=False), (layer,))
        return obj.gram_features(activations[layer])

    return grams


def similarity(model, images, layer: str) -> float:
    """Mean cosine similarity of the Gram features of every pair of ``images`` (uint8 HxWx3 at the model's
    input size) at ``layer``: 1 means the same style, lower means more diverse."""
    feats = _gram_fn(model, layer)(tf.constant(np.stack(images), tf.float32)).numpy()
    sims = feats @ feats.T
    n = len(images)
    return float((sims.sum() - np.trace(sims)) / (n * (n - 1)))


def ideal_images(model, target, steps: int, seed: int, callback, o: dict) -> IdealImage:
    """See :func:`explorer.ideal_image` with ``images > 1`` (``o``: its checked options)."""
    n = o["images"]
    layer = o["diversity_layer"] or default_layer(model, o["objective"])
    grams = _gram_fn(model, layer)
    h, w = input_size(model)
    size = int(grams(tf.zeros((1, h, w, 3))).shape[-1])
    others = tf.Variable(tf.zeros((n - 1, size)), trainable=False)
    base = o["objective"]
    if base is None:
        base = (o["ce_weight"] * obj.class_ce(int(target)) + o["tv_weight"] * obj.total_variation()
                + o["l2_weight"] * obj.l2())
    objective = base + o["diversity"] * obj.diversity(layer, others)
    param = parameterisation(o["param"], h, w)
    robust = o["jitter"] > 0 or o["scale"] > 0 or o["rotation"] > 0
    step_fn = compiled_step(model, param, o["optimizer"], o["views"] if robust else 1, robust, objective)
    frame_every = int(o["frame_every"] or max(1, steps // 20))
    hyper = Hyper.of([o])  # the compiled step works on a stack of runs: here a stack of one image at a time
    target_t = tf.constant([target or 0], tf.int32)

    states = []
    for k in range(n):
        raw = tf.constant(param.init(seed + k))[None]
        states.append(StepState(raw, tf.zeros_like(raw), tf.zeros_like(raw)))
    start_images = [param.to_images(s.raw) for s in states]
    images = [np.asarray(tf.cast(tf.round(tf.clip_by_value(x[0], 0, 255)), tf.uint8)) for x in start_images]
    feats = [grams(x)[0] for x in start_images]
    result = IdealImage(image=images[0], history=[], losses=[], frames=[(0, images[0])], target=target,
                        probability=None, options={**o, "steps": steps, "seed": seed, "diversity_layer": layer},
                        images=list(images))
    start = time.perf_counter()
    for i in range(1, steps + 1):
        scores, losses = [], []
        for k in range(n):
            others.assign(tf.stack([f for j, f in enumerate(feats) if j != k]))
            out = step_fn(states[k], tf.constant([float(i)]), target_t, hyper, tf.constant([[seed + k, i]], tf.int32))
            if not bool(out.finite[0]):
                result.seconds = time.perf_counter() - start
                raise Diverged(
                    f"The optimisation blew up at step {i} (NaN or infinity), usually because the learning rate "
                    f"({o['learning_rate']:g}) is far too large. Lower it and run again; the last good images "
                    f"(step {i - 1}) are kept.", result)
            states[k] = out.state
            images[k] = out.image[0].numpy()
            feats[k] = grams(param.to_images(out.state.raw))[0]
            loss = float(out.loss[0])
            scores.append(float(out.probability[0]) if target is not None else -loss)
            losses.append(loss)
        result.image, result.images = images[0], list(images)
        result.history.append(float(np.mean(scores)))
        result.losses.append(float(np.mean(losses)))
        if i % frame_every == 0 or i == steps:
            result.frames.append((i, result.image))
        if callback is not None:
            metrics = {"probability": result.history[-1], "loss": result.losses[-1],
                       "seconds": time.perf_counter() - start}
            if callback(i, result.image, metrics) is False:
                result.status = "cancelled"
                break
    result.seconds = time.perf_counter() - start
    result.probability = final_probability(model, result.image, target)
    return result
