"""Attacks that transfer: one perturbation against several networks at once.

:func:`adversarial` is :func:`explorer.adversarial`: one model goes to :func:`explorer.attacks.single.adversarial`,
a list of models (``explorer.adversarial([m1, m2], image, target)``) to :func:`adversarial_ensemble`. Its loss is
the mean cross-entropy to the target over the models, each seeing the photo at its own input size
through :func:`explorer.attacks.model_view` (all inside one compiled step). A perturbation that has to
fool several different networks at once relies less on any one network's quirks, so it fools a network
it never saw far more often (Liu et al. 2017, *Delving into Transferable Adversarial Examples*).

The methods, budget, rounding and stopping rule are those of :func:`explorer.adversarial`; the attack
succeeds when *every* model's top-1 class for the saved uint8 photo is the target. The result's
``history`` is the mean target probability over the models; ``per_model_before`` / ``per_model_after``
hold each model's probabilities.
"""

from __future__ import annotations

import time
import weakref

import numpy as np
import tensorflow as tf

from . import single as attacks
from ..models.classifier import as_uint8, class_names_of, input_size, main_output, model_view
from ..runtime import WeakCache

_COMPILED = WeakCache()


def _targets(models, target) -> list[int]:
    """The target's index in every model, matched by class name (ImageNet models share indices)."""
    first = attacks.target_index(models[0], target)
    name = class_names_of(models[0])[first].lower()
    out = []
    for model in models:
        names = [n.lower() for n in class_names_of(model)]
        if name not in names:
            raise ValueError(f"Model '{model.name}' has no class named '{name}': every model in an ensemble "
                             "must know the target class.")
        out.append(names.index(name))
    return out


def compiled_steps(models):
    """``(step, forward)`` of an ensemble, compiled once per list of models (kept with the first model,
    keyed by weak references to the others: a model made later in a freed one's place is another key)."""
    refs = tuple(weakref.ref(m) for m in models)
    return _COMPILED.get(models[0], lambda: _compile(refs, [input_size(m) for m in models]), key=refs[1:])


def _compile(refs, sizes):
    image_spec = tf.TensorSpec([None, None, 3], tf.float32)
    scalar = tf.TensorSpec([], tf.float32)
    count = len(refs)

    def all_probs(pixels, targets):
        """(models, classes of the first) is not rectangular in general: return p(target) per model and
        each model's probabilities in a list."""
        probs = [main_output(ref()(model_view(pixels, size), training=False))[0] for ref, size in zip(refs, sizes)]
        p_target = tf.stack([p[targets[i]] for i, p in enumerate(probs)])
        return probs, p_target

    @tf.function(input_signature=[image_spec, image_spec, image_spec, tf.TensorSpec([count], tf.int32), scalar,
                                  scalar, scalar, tf.TensorSpec([], tf.bool)])
    def step(original, delta, velocity, targets, epsilon, step_size, momentum, signed):
        with tf.GradientTape() as tape:
            tape.watch(delta)
            rounded = delta + tf.stop_gradient(tf.round(delta) - delta)  # straight-through rounding
            probs, p_target = all_probs((original + rounded)[None], targets)
            loss = tf.reduce_mean(-tf.math.log(tf.maximum(p_target, attacks.TINY)))
        grad = tape.gradient(loss, delta)
        grad = tf.where(tf.math.is_finite(grad), grad, 0.0)
        velocity = momentum * velocity + grad / (tf.reduce_mean(tf.abs(grad)) + attacks.TINY)
        update = tf.where(signed, tf.sign(velocity), grad)
        low = tf.maximum(-epsilon, -original)
        high = tf.minimum(epsilon, 255.0 - original)
        new_delta = tf.clip_by_value(delta - step_size * update, low, high)
        change = tf.round(delta)
        return probs, loss, tf.reduce_max(tf.abs(change)), tf.norm(tf.reshape(change, [-1])), new_delta, velocity

    @tf.function(input_signature=[image_spec])
    def forward(image):
        return [main_output(ref()(model_view(image[None], size), training=False))[0]
                for ref, size in zip(refs, sizes)]

    return step, forward


def _all_win(probs: list, targets: list[int], confidence: float) -> bool:
    return all(attacks.wins(np.asarray(p), t, confidence) for p, t in zip(probs, targets))


def adversarial_ensemble(models, image, target, epsilon: float = attacks.DEFAULTS["epsilon"],
                         steps: int = attacks.DEFAULTS["steps"], method: str = attacks.DEFAULTS["method"],
                         callback=None, *, step_size: float | None = None,
                         confidence: float = attacks.DEFAULTS["confidence"]) -> attacks.AdversarialResult:
    """:func:`explorer.adversarial` against every model in ``models`` at once (see the module docstring).

    ``target`` (index or name) is read in the first model's classes and matched by name in the others.
    ``callback(step, image, metrics)`` gets the mean target probability as ``probability`` and each
    model's as ``probabilities``.
    """
    models = list(models)
    if not models:
        raise ValueError("Give at least one model to attack.")
    budget, steps, step_size, confidence, notes = attacks.attack_settings(method, epsilon, steps, step_size,
                                                                          confidence)
    original = as_uint8(image)
    targets = _targets(models, target)

    step_fn, forward = compiled_steps(models)
    history, losses, before = [], [], []

    def judge(image) -> list:
        return [p.numpy() for p in forward(tf.constant(image, tf.float32))]

    def visit(k, probs, loss, linf, l2, delta) -> bool:
        probs = [p.numpy() for p in probs]
        before[:] = before or probs
        each = [float(p[t]) for p, t in zip(probs, targets)]
        history.append(float(np.mean(each)))
        losses.append(loss)
        adv = None
        if callback is not None:
            adv = attacks.rounded(original, delta)
            callback(k, adv, {"probability": history[-1], "probabilities": each, "loss": loss, "linf": linf,
                              "l2": l2})
        return attacks.confirmed(_all_win(probs, targets, confidence), original, delta, adv,
                                 lambda x: _all_win(judge(x), targets, confidence), k, notes)

    start = time.perf_counter()
    delta = attacks.descend(step_fn, original, targets, budget, method, step_size, steps, visit)
    seconds = time.perf_counter() - start
    adv = attacks.rounded(original, delta)
    after = judge(adv)
    change = adv.astype(np.float64) - original
    return attacks.AdversarialResult(
        image=adv, original=original, target=targets[0], method=method, epsilon=budget, history=history,
        losses=losses, success=_all_win(after, targets, confidence), linf=float(np.abs(change).max()),
        l2=float(np.sqrt((change ** 2).sum())), probs_before=before[0], probs_after=after[0], seconds=seconds,
        notes=notes, per_model_before=before, per_model_after=after, targets=targets)


def adversarial(model, image, target, epsilon: float = attacks.DEFAULTS["epsilon"],
                steps: int = attacks.DEFAULTS["steps"], method: str = attacks.DEFAULTS["method"], callback=None, *,
                step_size: float | None = None,
                confidence: float = attacks.DEFAULTS["confidence"]) -> attacks.AdversarialResult:
    """:func:`explorer.adversarial`: :func:`explorer.attacks.single.adversarial` for one model (see there),
    :func:`adversarial_ensemble` for a list of models (mean cross-entropy over the models, each seeing
    the photo at its own input size)."""
    attack = adversarial_ensemble if isinstance(model, (list, tuple)) else attacks.adversarial
    return attack(model, image, target, epsilon, steps, method, callback, step_size=step_size, confidence=confidence)
