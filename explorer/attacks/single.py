"""Adversarial examples: change a photo by a pixel level or two until a network sees something else.

``adversarial(model, image, target)`` nudges the pixels of ``image`` (any size) so that ``model``
classifies it as ``target``. The perturbation lives at the photo's own resolution and the model looks
at the photo through the app's one geometry, :func:`explorer.classifier.model_view` (centre crop to the
model's aspect, then an antialiased resize), which is part of the differentiable graph. Every step evaluates the *rounded* image
(whole pixel levels, via a straight-through estimator), so the probability curve shows exactly what
the saved uint8 PNG will score; the result is confirmed by a separate forward pass of the uint8 image.

Methods (all targeted: they lower the cross-entropy to the target class):

- ``"lesson"``: plain gradient descent on the pixels, ``x -= step_size * grad`` (the lesson's way).
- ``"fgsm"``: Fast Gradient Sign Method, one step of the full budget, ``x -= epsilon * sign(grad)``.
- ``"pgd"``: Projected Gradient Descent, signed steps kept inside the epsilon budget, with momentum
  (as in MI-FGSM, Dong et al. 2018) and a step that shrinks from ``epsilon`` to 5% of it (cosine), which
  reaches the target in far fewer steps at a budget of one pixel level than constant steps do.

All three stay inside the budget: no pixel moves by more than ``epsilon`` levels (0..255 scale).
"""

from __future__ import annotations

import math
import time
import types
import weakref
from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf
from PIL import Image

from ..models.classifier import (
    as_uint8,
    class_names_of,
    input_size,
    main_output,
    model_view,
    predict,
    target_index,
)
from ..models.folding import folded
from ..data.images import png_bytes  # noqa: F401  (png_bytes: part of this module's API)
from ..runtime import WeakCache

METHODS = {
    "lesson": "Lesson: plain gradient descent on the pixels, as in the lesson",
    "fgsm": "FGSM (Fast Gradient Sign Method): one step of the whole budget along the gradient's sign",
    "pgd": "PGD (Projected Gradient Descent): many signed steps with momentum, kept inside the budget",
}
# The lesson's learning rate: pixel levels per unit of gradient. Raw pixel gradients of the
# cross-entropy are ~1e-4..1e-3, so it is large.
LESSON_LEARNING_RATE = 2000.0
# PGD: momentum of the normalised gradient, and the last step as a fraction of the first.
PGD_MOMENTUM = 0.75
PGD_FINAL_STEP = 0.05
MAX_STEPS = 10_000
# The default attack, shared by the API and the page: keep going until the network is sure (p >= 0.9)
# within a budget of 2 pixel levels. MobileNetV2 gets there in 1-5 steps on the fixture photos (cat, dog,
# parrot -> tabby) and in 12-26 on the sample photos (the cosine step schedule needs ~40 planned steps
# for the hardest one, the coffee cup).
DEFAULTS = types.MappingProxyType({"epsilon": 2, "steps": 40, "method": "pgd", "confidence": 0.9})
#: The smallest probability a loss takes the log of (a broken model's 0 must not give -inf).
TINY = 1e-30


@dataclass
class AdversarialResult:
    """What an attack produced. Pixel quantities are in levels of the 0..255 scale."""

    image: np.ndarray  # uint8 HxWx3, same size as the input: the adversarial photo
    original: np.ndarray  # uint8 HxWx3: the photo attacked
    target: int
    method: str
    epsilon: int  # the budget actually enforced: whole pixel levels
    history: list[float]  # target probability: history[0] before any step, history[k] after step k
    losses: list[float]  # cross-entropy to the target, aligned with history
    success: bool  # the uint8 image is classified as the target (checked by a fresh forward pass)
    linf: float  # largest change of any pixel channel
    l2: float  # Euclidean norm of the whole change
    probs_before: np.ndarray  # model's probabilities for the original
    probs_after: np.ndarray  # model's probabilities for the saved uint8 image
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    # one entry per attacked model (a single model gives one): probabilities and the target's index
    per_model_before: list[np.ndarray] = field(default_factory=list)
    per_model_after: list[np.ndarray] = field(default_factory=list)
    targets: list[int] = field(default_factory=list)
    transfer: bool = False  # the ensembles' "make it transfer" mode ran (momentum + input diversity)

    def __post_init__(self):
        if not self.per_model_after:
            self.per_model_before, self.per_model_after = [self.probs_before], [self.probs_after]
            self.targets = [self.target]

    @property
    def steps(self) -> int:
        """Gradient steps taken."""
        return len(self.history) - 1

    @property
    def perturbation(self) -> np.ndarray:
        """The change, adversarial minus original, as int16 (HxWx3)."""
        return self.image.astype(np.int16) - self.original.astype(np.int16)


_COMPILED = WeakCache()


def compiled_step(model):
    """The model's compiled attack step, made once per model and reused for every photo size, method,
    budget and target (all are tensor arguments).

    The gradient loop runs on the batch-norm-folded copy (the same function, a sixth faster); every
    verdict shown is the model's own (``predict``)."""
    return _COMPILED.get(model, lambda: _compile(weakref.ref(folded(model)), input_size(model)))


def _compile(model_ref, size):
    image_spec = tf.TensorSpec([None, None, 3], tf.float32)
    scalar = tf.TensorSpec([], tf.float32)

    @tf.function(input_signature=[image_spec, image_spec, image_spec, tf.TensorSpec([], tf.int32), scalar,
                                  scalar, scalar, tf.TensorSpec([], tf.bool)])
    def step(original, delta, velocity, target, epsilon, step_size, momentum, signed):
        """Score the rounded image original+delta; return its metrics, the next delta and velocity."""
        with tf.GradientTape() as tape:
            tape.watch(delta)
            rounded = delta + tf.stop_gradient(tf.round(delta) - delta)  # straight-through rounding
            probs = main_output(model_ref()(model_view((original + rounded)[None], size), training=False))[0]
            loss = -tf.math.log(tf.maximum(probs[target], TINY))
        grad = tape.gradient(loss, delta)
        grad = tf.where(tf.math.is_finite(grad), grad, 0.0)  # a broken model must not poison the photo
        velocity = momentum * velocity + grad / (tf.reduce_mean(tf.abs(grad)) + TINY)
        update = tf.where(signed, tf.sign(velocity), grad)
        low = tf.maximum(-epsilon, -original)
        high = tf.minimum(epsilon, 255.0 - original)
        new_delta = tf.clip_by_value(delta - step_size * update, low, high)
        change = tf.round(delta)
        linf = tf.reduce_max(tf.abs(change))
        l2 = tf.norm(tf.reshape(change, [-1]))
        return probs, loss, linf, l2, new_delta, velocity

    return step


def _budget(epsilon) -> int:
    try:
        epsilon = float(epsilon)
    except (TypeError, ValueError):
        raise ValueError(f"epsilon must be a number of pixel levels (0..255), got {epsilon!r}.") from None
    if math.isnan(epsilon) or epsilon < 0:
        raise ValueError(f"epsilon must be 0..255 pixel levels, got {epsilon}.")
    # Saved images hold whole levels, so only whole levels of budget can be used.
    return int(min(epsilon, 255.0))


def adversarial(model, image, target, epsilon: float = DEFAULTS["epsilon"], steps: int = DEFAULTS["steps"],
                method: str = DEFAULTS["method"], callback=None, *, step_size: float | None = None,
                confidence: float = DEFAULTS["confidence"]) -> AdversarialResult:
    """Change ``image`` by at most ``epsilon`` pixel levels so that ``model`` sees class ``target``.

    ``model``: any classifier taking RGB pixels 0..255 and giving probabilities (zoo or user-trained).
    ``image``: uint8 HxWx3 array of any size (or a path / bytes / file); ``target``: class index or name.
    ``epsilon``: budget in pixel levels 0..255 (whole levels: the saved image is uint8). ``steps``: at
    most this many gradient steps (FGSM always takes one). It stops early once the target is the top-1
    class with probability at least ``confidence`` (0: at the first flip). The defaults are
    :data:`DEFAULTS` (2 levels, until p >= 0.9), the page's defaults too. ``step_size``: PGD's first
    step in pixel levels (default ``epsilon``; later steps shrink), FGSM's step (default ``epsilon``) or the lesson's
    learning rate (default :data:`LESSON_LEARNING_RATE`).

    ``callback(step, image, metrics)`` is called before the first step (step 0) and after each step
    with the current uint8 image and ``metrics`` (``probability``, ``loss``, ``linf``, ``l2``,
    ``top_class``, ``top_probability``).

    One model only: :func:`explorer.adversarial` (:func:`explorer.attacks.ensemble.adversarial`) also takes
    a list of models, the ensemble attack.
    """
    if isinstance(model, (list, tuple)):
        raise TypeError("A list of models is an ensemble attack: call explorer.adversarial "
                        "(explorer.attacks.ensemble.adversarial) with it.")
    budget, steps, step_size, confidence, notes = attack_settings(method, epsilon, steps, step_size, confidence)
    original = as_uint8(image)
    target = target_index(model, target)
    history, losses, before = [], [], []

    def visit(k, probs, loss, linf, l2, delta) -> bool:
        """Record step k (scored before its update); True when the target has won for good."""
        probs = probs.numpy()
        before[:] = before or [probs]
        history.append(float(probs[target]))
        losses.append(loss)
        adv = None
        if callback is not None:
            adv = rounded(original, delta)
            top = int(np.argmax(probs))
            callback(k, adv, {"probability": history[-1], "loss": loss, "linf": linf, "l2": l2, "top_class": top,
                              "top_probability": float(probs[top])})
        return confirmed(wins(probs, target, confidence), original, delta, adv,
                         lambda x: wins(predict(model, x), target, confidence), k, notes)

    start = time.perf_counter()
    delta = descend(compiled_step(model), original, target, budget, method, step_size, steps, visit)
    seconds = time.perf_counter() - start
    adv = rounded(original, delta)
    probs_after = predict(model, adv)
    change = adv.astype(np.float64) - original
    return AdversarialResult(
        image=adv, original=original, target=target, method=method, epsilon=budget, history=history,
        losses=losses, success=bool(wins(probs_after, target, confidence)), linf=float(np.abs(change).max()),
        l2=float(np.sqrt((change ** 2).sum())), probs_before=before[0], probs_after=probs_after,
        seconds=seconds, notes=notes)


def descend(step_fn, original: np.ndarray, targets, budget: int, method: str, step_size: float, steps: int,
            visit, *, momentum: float | None = None, shrinking: bool = True, extra=lambda k: ()) -> tf.Tensor:
    """The attack loop shared by one model and ensembles: score, then step, ``steps`` times at most.

    ``step_fn`` is a compiled step (:func:`compiled_step` here or the ensemble's); ``visit(k, probs,
    loss, linf, l2, delta)`` sees every scored image (step 0 is the photo) and returns True to stop.
    ``momentum`` (default: PGD's :data:`PGD_MOMENTUM`, none for the others) and ``shrinking=False`` (a
    constant PGD step) serve the ensembles' transfer mode, whose step also takes ``extra(k)``'s tensors.
    Returns the final perturbation ``delta`` (float pixel levels).
    """
    x0 = tf.constant(original, tf.float32)
    fixed = (tf.constant(targets, tf.int32), tf.constant(float(budget)))
    if momentum is None:
        momentum = PGD_MOMENTUM if method == "pgd" else 0.0
    momentum = tf.constant(float(momentum))
    signed = tf.constant(method != "lesson")
    delta = velocity = tf.zeros_like(x0)
    for k in range(steps + 1):
        size = tf.constant(_step_size(method, float(step_size), k, steps) if shrinking else float(step_size))
        probs, loss, linf, l2, new_delta, velocity = step_fn(x0, delta, velocity, *fixed, size, momentum, signed,
                                                             *extra(k))
        if visit(k, probs, float(loss), float(linf), float(l2), delta):
            break
        if k < steps:
            delta = new_delta
    return delta


def confirmed(won: bool, original, delta, adv, wins_afresh, k: int, notes: list) -> bool:
    """The target ``won`` on this step's score, and wins again when the rounded uint8 image is judged
    afresh (``wins_afresh(image)``); ``adv`` is that image if already rounded."""
    if not won:
        return False
    adv = rounded(original, delta) if adv is None else adv
    if wins_afresh(adv):
        return True
    notes.append(f"Step {k}: the rounded image scored differently in a fresh forward pass; kept going.")
    return False


def attack_settings(method: str, epsilon, steps, step_size, confidence):
    """Checked ``(budget, steps, step_size, confidence, notes)`` of an attack (shared with ensembles)."""
    if method not in METHODS:
        raise ValueError(f"Unknown method '{method}'. Choose one of: {', '.join(METHODS)}.")
    budget = _budget(epsilon)
    steps = 1 if method == "fgsm" else int(steps)
    if not 0 <= steps <= MAX_STEPS:
        raise ValueError(f"steps must be 0..{MAX_STEPS}, got {steps}.")
    if step_size is None:
        step_size = LESSON_LEARNING_RATE if method == "lesson" else max(budget, 1)
    if not (math.isfinite(float(step_size)) and float(step_size) > 0):
        raise ValueError(f"step_size must be a positive number, got {step_size}.")
    confidence = float(np.clip(np.nan_to_num(confidence), 0.0, 1.0))
    notes = []
    if budget == 0 and steps:
        steps = 0
        notes.append("A budget of 0 pixel levels allows no change, so no steps were taken.")
    return budget, steps, float(step_size), confidence, notes


def _step_size(method: str, first: float, k: int, steps: int) -> float:
    """PGD's step shrinks from ``first`` to PGD_FINAL_STEP of it over the run (cosine); others are constant."""
    if method != "pgd" or steps <= 1:
        return first
    last = first * PGD_FINAL_STEP
    return last + 0.5 * (first - last) * (1.0 + math.cos(math.pi * k / (steps - 1)))


def wins(probs: np.ndarray, target: int, confidence: float) -> bool:
    """The target is the top-1 class with probability at least ``confidence``."""
    return int(np.argmax(probs)) == target and probs[target] >= confidence


def rounded(original: np.ndarray, delta) -> np.ndarray:
    """The photo plus the perturbation ``delta`` in whole pixel levels: the uint8 image an attack saves."""
    return (original.astype(np.int16) + np.rint(delta.numpy()).astype(np.int16)).clip(0, 255).astype(np.uint8)


def amplify(perturbation: np.ndarray) -> tuple[np.ndarray, float]:
    """A visible picture of a tiny change: mid-grey is 0, scaled so the largest change is full range.

    Returns the uint8 image and the factor it was amplified by (1.0 when there is no change).
    """
    peak = float(np.abs(perturbation).max())
    factor = 127.0 / peak if peak > 0 else 1.0
    return np.clip(128.0 + perturbation * factor, 0, 255).astype(np.uint8), factor


def shrink(image: np.ndarray, max_side: int) -> np.ndarray:
    """The photo scaled down (aspect kept) so its longer side is at most ``max_side`` pixels."""
    height, width = image.shape[:2]
    scale = max_side / max(height, width)
    if scale >= 1:
        return image
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.LANCZOS), dtype=np.uint8)
