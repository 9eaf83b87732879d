"""Gradient ascent on an image: the compiled step, and :class:`PaintRun`, one run between steps.

One ``tf.function`` step does everything on the graph side: parameterisation -> random robustness
views -> model -> objective -> gradient -> optimiser update -> the new image as uint8. Hyperparameters
(learning rate, weights, transform sizes, the seed) are tensor arguments, so one trace serves every
slider position; traces are cached per model and structure (parameterisation, optimiser, views).

The step works on a *stack* of runs (continuous batching, :mod:`explorer.optvis.batching`): each run brings
its own state, target, hyperparameters (:class:`Hyper`, one value per run) and seed, and gets its own
loss, probability and finiteness flag back (:class:`StepOutput`), so a run can join or leave between
steps and one run's NaN never touches the others. :func:`explorer.optvis.ideal.ideal_image` is the same
machinery with a stack of one (:class:`PaintRun` holds one run's state between steps, :func:`step_runs` steps several).
"""

from __future__ import annotations

import math
import time
import weakref
from dataclasses import dataclass, field
from typing import Callable, NamedTuple, Sequence

import numpy as np
import tensorflow as tf

from ..models.classifier import input_size, num_classes
from ..models.classifier import predict as predict  # the app's one geometry; optvis.predict kept as a name
from ..runtime import Diverged, WeakCache
from . import objectives as obj
from .activations import network_for, split
from .param import NAMES as PARAM_NAMES
from .param import parameterisation
from .transform import robust_views_batch

OPTIMIZERS = ("sgd", "adam")
MAX_STEPS = 5000
MAX_VIEWS = 8
MAX_IMAGES = 8
#: Early stop (option ``early_stop``): the target probability of every view stayed at or above
#: EARLY_STOP_P for the last EARLY_STOP_WINDOW steps, and over those steps the image moved by less than
#: EARLY_STOP_CHANGE pixel levels on average: more steps would not change what the class sees.
EARLY_STOP_P = 0.9
EARLY_STOP_WINDOW = 10
EARLY_STOP_CHANGE = 2.0
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
    early_stop=False,  # stop once the target is reached and the image has settled (see EARLY_STOP_*)
    images=1,  # how many images to paint at once (with diversity > 0 they are pushed apart)
    diversity=0.0,  # weight of Lucid's diversity term (similarity of the images' Gram features)
    diversity_layer=None,  # the layer whose Gram features are compared (default: see optvis.diverse)
)

#: Named option sets (``steps`` in a preset is the recommended run length; the page uses it).
#: "as in the lesson": VGG16-style plain gradient steps of size 1 on pixels 0..255, 10*CE + 0.005*TV, as the
#: lesson ran it on VGG-16; :func:`lesson_options` translates the step and the TV weight to another network.
PRESETS = {
    "as in the lesson": dict(param="pixels", optimizer="sgd", learning_rate=1.0, ce_weight=10.0, tv_weight=0.005,
                             l2_weight=0.0, jitter=0, scale=0.0, rotation=0.0, views=1, steps=1000, frame_every=100),
    # 300 steps, not 200: measured with bench/optvis.py-style runs on MobileNetV2 (tabby, zebra, Siamese cat;
    # seeds 0 and 1), a second network (MobileNet 0.75) gave the class p 0.72 on average against 0.63 at
    # 200 steps, better in 6 of 6 cases, for 1.5x the time (about 30 s alone on a 2-core laptop).
    "best looking": dict(DEFAULTS, steps=300),
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
    status: str = "done"  # 'done', 'settled' (stopped early: target reached, image settled) or 'cancelled'
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


def check_options(options: dict) -> dict:
    """The full, checked option dict of ``options`` (preset expanded); ``ValueError`` for a bad one."""
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
    o["early_stop"] = bool(o["early_stop"])
    o["images"] = int(o["images"])
    if not 1 <= o["images"] <= MAX_IMAGES:
        raise ValueError(f"images must be 1..{MAX_IMAGES}, got {o['images']}.")
    o["diversity"] = float(o["diversity"])
    if math.isnan(o["diversity"]) or o["diversity"] < 0:
        raise ValueError(f"diversity must be a number >= 0, got {o['diversity']!r}.")
    if o["objective"] is not None and not isinstance(o["objective"], obj.Objective):
        raise TypeError("objective must be an explorer.optvis Objective.")
    return o


class Hyper(NamedTuple):
    """Hyperparameters of the compiled step, one float32 value per run of the stack (shape ``(runs,)``)."""

    learning_rate: tf.Tensor
    ce_weight: tf.Tensor
    tv_weight: tf.Tensor
    l2_weight: tf.Tensor
    jitter: tf.Tensor  # pixels
    scale: tf.Tensor  # +- fraction
    rotation: tf.Tensor  # +- degrees

    @classmethod
    def of(cls, options: Sequence[dict]) -> "Hyper":
        """Stack the hyperparameters of several runs' checked option dicts."""
        return cls(*(tf.constant([float(o[name]) for o in options], tf.float32) for name in cls._fields))


class StepState(NamedTuple):
    """What the optimiser carries from step to step, stacked over runs: ``(runs,) + param.shape`` each."""

    raw: tf.Tensor  # the parameters being optimised
    m: tf.Tensor  # Adam's first moment (unused by sgd)
    v: tf.Tensor  # Adam's second moment (unused by sgd)


class StepOutput(NamedTuple):
    """One compiled step's outcome for a stack of runs; every field but ``state`` and ``image`` is ``(runs,)``."""

    state: StepState
    image: tf.Tensor  # (runs, h, w, 3) uint8, the new images
    loss: tf.Tensor
    ce: tf.Tensor
    tv: tf.Tensor
    l2: tf.Tensor
    probability: tf.Tensor  # target probability, averaged over the views the network saw
    finite: tf.Tensor  # bool: the run's new image and loss are finite


def _tv(images: tf.Tensor) -> tf.Tensor:
    return tf.image.total_variation(images)  # per image: sum of |neighbour differences|, pixel levels


def _l2(images: tf.Tensor) -> tf.Tensor:
    return tf.reduce_mean(tf.square(images / 127.5 - 1.0), axis=(1, 2, 3))  # per image, from mid-grey on -1..1


def _weighted(weight: tf.Tensor, term: Callable, images: tf.Tensor) -> tf.Tensor:
    """``weight * term(images)`` per run, skipping the term (and its gradient) when every weight is 0."""
    return tf.cond(tf.reduce_any(weight != 0), lambda: weight * term(images), lambda: tf.zeros_like(weight))


_STEPS = WeakCache()  # model -> {structure: compiled step}
#: Compiled-step calls so far (all models): tests count them to prove identical runs are computed once.
STEP_CALLS = {"steps": 0, "runs": 0}


def compiled_step(model, param, optimizer: str, views: int, robust: bool, objective: obj.Objective | None = None):
    """The compiled optimisation step for one model and structure (cached unless ``objective`` is custom).

    ``step(state, t, target, hyper, seed) -> StepOutput`` over a stack of runs: ``state`` a
    :class:`StepState` of ``(runs,) + param.shape`` tensors, ``t`` (runs,) float step numbers (Adam's
    bias correction), ``target`` (runs,) int32 classes, ``hyper`` a :class:`Hyper`, ``seed`` (runs, 2)
    int32 ``(seed, step)`` pairs. Runs never mix: each one's loss depends on its own image only, so the
    gradient of the summed loss is every run's own gradient. A custom ``objective`` sees the whole stack
    in its :class:`~explorer.optvis.Context` and is meant for a stack of one.
    """
    if objective is not None:
        return _build_step(model, param, optimizer, views, robust, objective)
    key = (param.name, param.shape, optimizer, views, robust)
    return _STEPS.get(model, lambda: _build_step(model, param, optimizer, views, robust, None), key=key)


def _build_step(model, param, optimizer: str, views: int, robust: bool, objective: obj.Objective | None):
    layers = tuple(sorted(objective.layers)) if objective is not None else ()
    model_ref = weakref.ref(network_for(model, layers))  # the cache must not keep a discarded model alive
    per_run_shape = (-1,) + (1,) * len(param.shape)  # broadcasts a (runs,) value over a run's parameters

    @tf.function(jit_compile=False, reduce_retracing=True)
    def step(state, t, target, hyper, seed):
        raw, m, v = state
        with tf.GradientTape() as tape:
            tape.watch(raw)
            images = param.to_images(raw)  # (runs, h, w, 3)
            seen = (robust_views_batch(images, views, hyper.jitter, hyper.scale, hyper.rotation, seed)
                    if robust else images)  # (runs * views, h, w, 3), run-major
            activations, probs = split(model_ref()(seen, training=False), layers)
            n_views = views if robust else 1
            p_views = tf.reshape(tf.gather(probs, tf.repeat(target, n_views), axis=1, batch_dims=1), (-1, n_views))
            # Per run: the objectives class_ce, total_variation and l2, each over its own image and views.
            ce = -tf.reduce_mean(tf.math.log(tf.maximum(p_views, obj.EPS)), axis=1)
            if objective is not None:
                ctx = obj.Context(image=images, views=seen, probs=probs, activations=activations)
                losses = tf.reshape(objective(ctx), (-1,)) * tf.ones_like(ce)
            else:  # a regulariser's gradient is only computed when some run weighs it (TV's costs a lot)
                losses = (hyper.ce_weight * ce + _weighted(hyper.tv_weight, _tv, images)
                          + _weighted(hyper.l2_weight, _l2, images))
            total = tf.reduce_sum(losses)
        grad = tape.gradient(total, raw)
        tv, l2 = _tv(images), _l2(images)  # reported every step, outside the gradient
        lr = tf.reshape(hyper.learning_rate, per_run_shape)
        if optimizer == "adam":
            tt = tf.reshape(t, per_run_shape)
            m = _ADAM_B1 * m + (1 - _ADAM_B1) * grad
            v = _ADAM_B2 * v + (1 - _ADAM_B2) * tf.square(grad)
            m_hat = m / (1 - tf.pow(_ADAM_B1, tt))
            v_hat = v / (1 - tf.pow(_ADAM_B2, tt))
            update = lr * m_hat / (tf.sqrt(v_hat) + _ADAM_EPS)
        else:
            update = lr * grad
        new_raw = param.project(raw - update)
        new_images = param.to_images(new_raw)
        finite = tf.reduce_all(tf.math.is_finite(new_images), axis=(1, 2, 3)) & tf.math.is_finite(losses)
        image_u8 = tf.cast(tf.round(tf.clip_by_value(new_images, 0.0, 255.0)), tf.uint8)
        return StepOutput(StepState(new_raw, m, v), image_u8, losses, ce, tv, l2, tf.reduce_mean(p_views, axis=1),
                          finite)

    return step


def input_scale(model) -> float:
    """Pixel levels per unit of the network's own input: its preprocessing divides pixels by this.

    VGG-16 (the lesson's network, ``caffe`` preprocessing) only shifts pixels: 1. ``tf`` models
    (MobileNet, Inception) map 0..255 to -1..1: 127.5. ``torch`` models divide by 255 and a channel
    std of about 0.226: 57.6. Models without a ``preprocess`` layer get 1.
    """
    preprocess = _find_layer(model, "preprocess")
    mode = getattr(preprocess, "mode", "caffe")
    return {"caffe": 1.0, "tf": 127.5, "torch": 255.0 * 0.226}[mode]


def lesson_learning_rate(model) -> float:
    """The lesson's plain step of size 1 *in the network's input*, as a learning rate on pixels.

    A step of 1 input unit is ``s`` pixel levels (``s`` = :func:`input_scale`), and the gradient with
    respect to pixels is ``1/s`` of the gradient with respect to the input, so the pixel learning rate
    is ``s ** 2``: 1 on VGG-16, 16256.25 on MobileNet. (127.5 alone, as before issue 23, took steps 127.5
    times too small, which left the total-variation term in charge: a flat grey square.)
    """
    return input_scale(model) ** 2


def lesson_options(model) -> dict:
    """The lesson's recipe (10·CE + 0.005·TV, plain steps of 1) for ``model``: the preset "as in the
    lesson" with the step and the TV weight translated to the network's input units.

    The lesson measured total variation on VGG-16's input, which is pixels; on a model whose input is
    pixels / ``s``, the same TV of its input is TV(pixels) / ``s``: weight 0.005 / ``s`` on pixels.
    Measured on MobileNetV2 (tabby, seed 0, 1000 steps; a second network, MobileNet 0.75, judging):
    - translated (learning rate 16256.25, TV weight 3.9e-5): a noisy picture with striped tabby fur and
      a face-like blob, pixel std 12.7, the second network's p(tabby) 0.097;
    - learning rate 127.5 with TV weight 0.005: a flat grey square, std 2.3, p 0.003.
    """
    scale = input_scale(model)
    return dict(PRESETS["as in the lesson"], learning_rate=scale ** 2,
                tv_weight=PRESETS["as in the lesson"]["tv_weight"] / scale)


def _find_layer(model, name: str):
    for layer in getattr(model, "layers", []):
        if layer.name == name:
            return layer
        found = _find_layer(layer, name)
        if found is not None:
            return found
    return None


class PaintRun:
    """One ideal-image run between compiled steps: its options, optimiser state, curves and frames.

    :func:`~.ideal.ideal_image` steps one of these until it is done; the scheduler steps many at once
    with :func:`step_runs` (runs with the same ``model`` and :attr:`structure` share one compiled step).
    Checks its arguments like :func:`ideal_image` (``ValueError`` / ``TypeError``).
    """

    def __init__(self, model, target: int | None, steps: int = 200, seed: int = 0, **options):
        steps = checked_steps(steps)
        o = check_options(options)
        target = checked_target(model, target, o)
        h, w = input_size(model)
        self.model, self.target, self.steps, self.seed, self.options = model, target, steps, int(seed), o
        self.param = parameterisation(o["param"], h, w)
        robust = o["jitter"] > 0 or o["scale"] > 0 or o["rotation"] > 0
        views = o["views"] if robust else 1
        #: Runs with equal structures (and the same model) can share a compiled step; None: never shared.
        self.structure = None if o["objective"] is not None else (o["param"], self.param.shape, o["optimizer"],
                                                                   views, robust)
        self.step_fn = compiled_step(model, self.param, o["optimizer"], views, robust, o["objective"])
        self.frame_every = int(o["frame_every"] or max(1, steps // 20))
        self.hyper = [o[name] for name in Hyper._fields]
        raw = tf.constant(self.param.init(self.seed))
        self.state = StepState(raw, tf.zeros_like(raw), tf.zeros_like(raw))
        first = np.asarray(tf.cast(tf.round(tf.clip_by_value(self.param.to_image(raw)[0], 0, 255)), tf.uint8))
        self.result = IdealImage(image=first, history=[], losses=[], frames=[(0, first)], target=target,
                                 probability=float("nan"), options={**o, "steps": steps, "seed": self.seed})
        self.step = 0
        self.done = False
        self.seconds = 0.0  # time spent in this run's steps (a shared step counts fully for each run in it)
        self._recent: list[np.ndarray] = [first]  # the last EARLY_STOP_WINDOW + 1 images (early stop)

    def record(self, out: StepOutput, i: int, image: np.ndarray, numbers: np.ndarray, finite: bool, seconds: float):
        """Take run ``i``'s share of a step; returns its metrics dict, or the :class:`~explorer.Diverged`."""
        self.seconds += seconds
        step = self.step + 1
        if not finite:
            self.done = True
            self.result.seconds = self.seconds
            self.result.probability = final_probability(self.model, self.result.image, self.target)
            return Diverged(
                f"The optimisation blew up at step {step} (the loss or the image became NaN or infinite), usually "
                f"because the learning rate ({self.options['learning_rate']:g}) is far too large. Lower it and run "
                f"again; the last good image (step {step - 1}) is kept.", self.result)
        self.state = StepState(*(part[i] for part in out.state))
        self.step = step
        loss, ce, tv, l2, p = (float(x) for x in numbers)
        self.result.image = image
        self.result.history.append(p if self.target is not None else -loss)  # no target: the objective's score
        self.result.losses.append(loss)
        if step % self.frame_every == 0 or step == self.steps:
            self.result.frames.append((step, image))
        if step == self.steps:
            self.done = True
        elif self.options["early_stop"] and self._settled(image):
            self.done = True
            self.result.status = "settled"
        return {"probability": p, "loss": loss, "ce": ce, "tv": tv, "l2": l2, "seconds": self.seconds}

    @property
    def image(self) -> np.ndarray:
        """The latest image (uint8)."""
        return self.result.image

    def _settled(self, image: np.ndarray) -> bool:
        self._recent = (self._recent + [image])[-(EARLY_STOP_WINDOW + 1):]
        if len(self._recent) <= EARLY_STOP_WINDOW or min(self.result.history[-EARLY_STOP_WINDOW:]) < EARLY_STOP_P:
            return False
        change = np.mean(np.abs(image.astype(np.float32) - self._recent[0].astype(np.float32)))
        return bool(change < EARLY_STOP_CHANGE)

    def finish(self, status: str | None = None) -> IdealImage:
        """Close the run (``status`` 'cancelled' when stopped early by the user) and score its final image."""
        self.done = True
        if status is not None:
            self.result.status = status
        if self.result.frames[-1][0] != self.step:
            self.result.frames.append((self.step, self.result.image))
        self.result.seconds = self.seconds
        self.result.probability = final_probability(self.model, self.result.image, self.target)
        self.result.images = [self.result.image]
        return self.result


def step_runs(runs: Sequence[PaintRun]) -> list:
    """One compiled step for several runs of the same model and structure; per run, its metrics dict
    (see :func:`ideal_image`'s callback) or the :class:`~explorer.Diverged` that ended it. A diverged run
    is marked done; the others are untouched by it."""
    first = runs[0]
    if any(r.model is not first.model or r.structure != first.structure for r in runs) or (
            first.structure is None and len(runs) > 1):
        raise ValueError("Only runs of one model with the same structure (and no custom objective) share a step.")
    start = time.perf_counter()
    state = StepState(*(tf.stack([r.state[k] for r in runs]) for k in range(3)))
    t = tf.constant([r.step + 1 for r in runs], tf.float32)
    target = tf.constant([r.target or 0 for r in runs], tf.int32)
    hyper = Hyper(*(tf.constant(column, tf.float32) for column in zip(*(r.hyper for r in runs))))
    seed = tf.constant([[r.seed, r.step + 1] for r in runs], tf.int32)
    out = first.step_fn(state, t, target, hyper, seed)
    STEP_CALLS["steps"] += 1
    STEP_CALLS["runs"] += len(runs)
    images = out.image.numpy()
    numbers = np.stack([out.loss.numpy(), out.ce.numpy(), out.tv.numpy(), out.l2.numpy(), out.probability.numpy()], 1)
    finite = out.finite.numpy()
    seconds = time.perf_counter() - start
    return [r.record(out, i, images[i], numbers[i], bool(finite[i]), seconds) for i, r in enumerate(runs)]


def checked_steps(steps) -> int:
    """``steps`` as an int, or ValueError outside 1..:data:`MAX_STEPS`."""
    steps = int(steps)
    if not 1 <= steps <= MAX_STEPS:
        raise ValueError(f"steps must be 1..{MAX_STEPS}, got {steps}.")
    return steps


def checked_target(model, target, o: dict) -> int | None:
    """The target as a class index (None: the objective alone), or ValueError."""
    if target is None:
        if o["objective"] is None:
            raise ValueError("Give a target class, an objective (e.g. optvis.channel(layer, index)), or both.")
        return None
    classes = num_classes(model) or 0
    target = int(target)
    if not 0 <= target < classes:
        raise ValueError(f"target must be a class index 0..{classes - 1}, got {target}.")
    return target


def final_probability(model, image: np.ndarray, target: int | None) -> float | None:
    """The target's probability for the untransformed uint8 image (None without a target)."""
    return None if target is None else float(predict(model, image)[target])
