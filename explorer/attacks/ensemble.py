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

**Make it transfer** (``transfer=True``): the default attack stops as soon as every attacked model is 90%
sure, right at their decision boundary, where a network the attack never saw rarely follows. The transfer
mode runs on (until every attacked model is :data:`TRANSFER` ``["confidence"]`` sure, else all ``steps``) with
MI-FGSM's momentum 1 on the L1-normalised gradient and constant signed steps (Dong et al. 2018, *Boosting
Adversarial Attacks with Momentum*) and DI-FGSM's input diversity (Xie et al. 2019): at each step every model
looks at a randomly shrunk and shifted copy of the photo (:mod:`.diversity`), so the change cannot rest on
one exact pixel grid. Seeded: the same inputs give the same photo. ``bench/transfer_attack.py`` measures it
against plain ensemble PGD on a network left out.
"""

from __future__ import annotations

import time
import types
import weakref

import numpy as np
import tensorflow as tf

from . import single as attacks
from .diversity import SMALLEST, input_diversity
from ..models.classifier import as_uint8, class_names_of, input_size, main_output, model_view
from ..runtime import WeakCache

_COMPILED = WeakCache()
# The transfer mode: momentum, the chance a step's copy is shrunk and shifted, the smallest such copy (a share
# of each side), the constant step as a share of the budget, the confidence it runs on to, and the seed of its
# random copies.
# Tuned on bench/transfer_attack.py's fixture photos at eps 8: a step of a quarter of the budget and on to
# 99.99% did as well as any; a logit-margin loss, 100 steps or a stronger jitter (70% / 70%) did no better.
TRANSFER = types.MappingProxyType({"momentum": 1.0, "diversity": 0.5, "smallest": SMALLEST, "step": 0.25,
                                   "confidence": 0.9999, "seed": 0})


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
    """``(step, forward, diverse_step)`` of an ensemble, compiled once per list of models (kept with the first
    model, keyed by weak references to the others: a model made later in a freed one's place is another
    key). ``diverse_step`` is the transfer mode's (traced on its first use only)."""
    refs = tuple(weakref.ref(m) for m in models)
    return _COMPILED.get(models[0], lambda: _compile(refs, [input_size(m) for m in models]), key=refs[1:])


def _update(original, delta, velocity, grad, epsilon, step_size, momentum, signed):
    """The next ``(delta, velocity)``: momentum of the L1-normalised gradient, a (signed) step, the budget."""
    grad = tf.where(tf.math.is_finite(grad), grad, 0.0)  # a broken model must not poison the photo
    velocity = momentum * velocity + grad / (tf.reduce_mean(tf.abs(grad)) + attacks.TINY)
    update = tf.where(signed, tf.sign(velocity), grad)
    low = tf.maximum(-epsilon, -original)
    high = tf.minimum(epsilon, 255.0 - original)
    return tf.clip_by_value(delta - step_size * update, low, high), velocity


def _compile(refs, sizes):
    image_spec = tf.TensorSpec([None, None, 3], tf.float32)
    scalar = tf.TensorSpec([], tf.float32)
    count = len(refs)
    settings = [image_spec, image_spec, image_spec, tf.TensorSpec([count], tf.int32), scalar, scalar, scalar,
                tf.TensorSpec([], tf.bool)]

    def all_probs(pixels, targets, view=lambda image, i: image):
        """(models, classes of the first) is not rectangular in general: return p(target) per model and
        each model's probabilities in a list. ``view(image, i)``: what model i sees of its input."""
        probs = [main_output(ref()(view(model_view(pixels, size), i), training=False))[0]
                 for i, (ref, size) in enumerate(zip(refs, sizes))]
        p_target = tf.stack([p[targets[i]] for i, p in enumerate(probs)])
        return probs, p_target

    def cross_entropy(p_target):
        return tf.reduce_mean(-tf.math.log(tf.maximum(p_target, attacks.TINY)))

    def measured(delta):
        change = tf.round(delta)
        return tf.reduce_max(tf.abs(change)), tf.norm(tf.reshape(change, [-1]))

    @tf.function(input_signature=settings)
    def step(original, delta, velocity, targets, epsilon, step_size, momentum, signed):
        with tf.GradientTape() as tape:
            tape.watch(delta)
            rounded = delta + tf.stop_gradient(tf.round(delta) - delta)  # straight-through rounding
            probs, p_target = all_probs((original + rounded)[None], targets)
            loss = cross_entropy(p_target)
        new_delta, velocity = _update(original, delta, velocity, tape.gradient(loss, delta), epsilon, step_size,
                                      momentum, signed)
        return probs, loss, *measured(delta), new_delta, velocity

    @tf.function(input_signature=settings + [scalar, scalar, tf.TensorSpec([2], tf.int32)])
    def diverse_step(original, delta, velocity, targets, epsilon, step_size, momentum, signed, diversity, smallest,
                     seed):
        """The transfer mode's step: the gradient of the models looking at randomly shrunk and shifted copies
        (:func:`~explorer.attacks.diversity.input_diversity`, each model its own, drawn from ``seed``); the
        scores returned are of the rounded image itself, as ``step``'s."""
        def diverse(image, i):
            return input_diversity(image, diversity, tf.random.experimental.stateless_fold_in(seed, i), smallest)

        with tf.GradientTape() as tape:
            tape.watch(delta)
            rounded = delta + tf.stop_gradient(tf.round(delta) - delta)
            _, p_seen = all_probs((original + rounded)[None], targets, diverse)
            diverse_loss = cross_entropy(p_seen)
        new_delta, velocity = _update(original, delta, velocity, tape.gradient(diverse_loss, delta), epsilon,
                                      step_size, momentum, signed)
        probs, p_target = all_probs((original + tf.round(delta))[None], targets)
        return probs, cross_entropy(p_target), *measured(delta), new_delta, velocity

    @tf.function(input_signature=[image_spec])
    def forward(image):
        return [main_output(ref()(model_view(image[None], size), training=False))[0]
                for ref, size in zip(refs, sizes)]

    return step, forward, diverse_step


def _all_win(probs: list, targets: list[int], confidence: float) -> bool:
    return all(attacks.wins(np.asarray(p), t, confidence) for p, t in zip(probs, targets))


def transfer_settings(method: str, budget: int, step_size: float | None, confidence: float):
    """``(step_size, stop_at)`` of the transfer mode: a constant step (default :data:`TRANSFER`'s share of the
    budget) and the confidence every model must reach before it stops (at least :data:`TRANSFER`'s)."""
    if method != "pgd":
        raise ValueError(f"The transfer mode takes PGD's many signed steps; method '{method}' cannot transfer "
                         "(use method='pgd').")
    if step_size is None:
        step_size = max(budget, 1) * TRANSFER["step"]
    return float(step_size), max(confidence, TRANSFER["confidence"])


def adversarial_ensemble(models, image, target, epsilon: float = attacks.DEFAULTS["epsilon"],
                         steps: int = attacks.DEFAULTS["steps"], method: str = attacks.DEFAULTS["method"],
                         callback=None, *, step_size: float | None = None,
                         confidence: float = attacks.DEFAULTS["confidence"],
                         transfer: bool = False) -> attacks.AdversarialResult:
    """:func:`explorer.adversarial` against every model in ``models`` at once (see the module docstring).

    ``target`` (index or name) is read in the first model's classes and matched by name in the others.
    ``callback(step, image, metrics)`` gets the mean target probability as ``probability`` and each
    model's as ``probabilities``. ``transfer=True``: "make it transfer" (see the module docstring).
    """
    models = list(models)
    if not models:
        raise ValueError("Give at least one model to attack.")
    given = step_size
    budget, steps, step_size, confidence, notes = attacks.attack_settings(method, epsilon, steps, step_size,
                                                                          confidence)
    stop_at = confidence
    if transfer:
        step_size, stop_at = transfer_settings(method, budget, given, confidence)
    original = as_uint8(image)
    targets = _targets(models, target)

    step_fn, forward, diverse_step = compiled_steps(models)
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
        return attacks.confirmed(_all_win(probs, targets, stop_at), original, delta, adv,
                                 lambda x: _all_win(judge(x), targets, stop_at), k, notes)

    start = time.perf_counter()
    if transfer:
        diversity = (tf.constant(float(TRANSFER["diversity"])), tf.constant(float(TRANSFER["smallest"])))
        delta = attacks.descend(diverse_step, original, targets, budget, method, step_size, steps, visit,
                                momentum=TRANSFER["momentum"], shrinking=False,
                                extra=lambda k: (*diversity, tf.constant([TRANSFER["seed"], k], tf.int32)))
    else:
        delta = attacks.descend(step_fn, original, targets, budget, method, step_size, steps, visit)
    seconds = time.perf_counter() - start
    adv = attacks.rounded(original, delta)
    after = judge(adv)
    change = adv.astype(np.float64) - original
    return attacks.AdversarialResult(
        image=adv, original=original, target=targets[0], method=method, epsilon=budget, history=history,
        losses=losses, success=_all_win(after, targets, confidence), linf=float(np.abs(change).max()),
        l2=float(np.sqrt((change ** 2).sum())), probs_before=before[0], probs_after=after[0], seconds=seconds,
        notes=notes, per_model_before=before, per_model_after=after, targets=targets, transfer=bool(transfer))


def adversarial(model, image, target, epsilon: float = attacks.DEFAULTS["epsilon"],
                steps: int = attacks.DEFAULTS["steps"], method: str = attacks.DEFAULTS["method"], callback=None, *,
                step_size: float | None = None, confidence: float = attacks.DEFAULTS["confidence"],
                transfer: bool = False) -> attacks.AdversarialResult:
    """:func:`explorer.adversarial`: :func:`explorer.attacks.single.adversarial` for one model (see there),
    :func:`adversarial_ensemble` for a list of models (mean cross-entropy over the models, each seeing
    the photo at its own input size). ``transfer=True`` ("make it transfer", PGD only, one model or several):
    momentum 1 and input diversity at every step, running on past the usual stopping point until every
    attacked model is :data:`TRANSFER` ``["confidence"]`` sure or the steps run out (see the module docstring)."""
    if transfer:
        models = list(model) if isinstance(model, (list, tuple)) else [model]
        return adversarial_ensemble(models, image, target, epsilon, steps, method, callback, step_size=step_size,
                                    confidence=confidence, transfer=True)
    attack = adversarial_ensemble if isinstance(model, (list, tuple)) else attacks.adversarial
    return attack(model, image, target, epsilon, steps, method, callback, step_size=step_size, confidence=confidence)
