"""The one call shape: :func:`attribution` (a map) and :func:`explain` (the map with what produced it)."""

from __future__ import annotations

import inspect

import keras
import numpy as np

from .base import Attribution, subject
from .gradcam import gradcam, gradcam_plus_plus
from .gradients import BASELINE_WORDS, integrated_gradients, smoothgrad
from .occlusion import occlusion

METHODS = {
    "gradcam": gradcam,
    "gradcam++": gradcam_plus_plus,
    "integrated_gradients": integrated_gradients,
    "smoothgrad": smoothgrad,
    "occlusion": occlusion,
}
#: Lighter settings than the defaults, for a class sharing one CPU server (the page's; bench/attribution.py
#: measures the cost of both against one Grad-CAM).
CLASSROOM_OPTIONS = {"integrated_gradients": {"steps": 16}, "smoothgrad": {"samples": 16, "noise": 0.15},
                     "occlusion": {"patch": 32, "stride": 16}}
TITLES = {"gradcam": "Grad-CAM", "gradcam++": "Grad-CAM++", "integrated_gradients": "Integrated gradients",
          "smoothgrad": "SmoothGrad", "occlusion": "Occlusion"}


def options_of(method: str) -> list[str]:
    """The settings a method takes (its keyword arguments)."""
    return [p for p in inspect.signature(_function(method)).parameters if p not in ("model", "subj")]


def _function(method: str):
    try:
        return METHODS[method]
    except KeyError:
        raise ValueError(f"Unknown explanation method '{method}': choose one of {', '.join(METHODS)}.") from None


def explain(model: keras.Model, image, method: str = "gradcam", target=None, **options) -> Attribution:
    """:func:`attribution` with what produced it (:class:`Attribution`: the map at the photo's size, the
    map over the model's input, probabilities, class explained, settings that ran)."""
    function = _function(method)
    unknown = sorted(set(options) - set(options_of(method)))
    if unknown:
        raise ValueError(f"{TITLES[method]} has no setting {', '.join(unknown)}; "
                         f"its settings: {', '.join(options_of(method))}.")
    return function(model, subject(model, image, target), **options)


def attribution(model: keras.Model, image, method: str = "gradcam", target=None, **options) -> np.ndarray:
    """Where in the photo does the network find its evidence for a class? float32 HxW in 0..1 at the
    photo's own size (0 outside the centre crop the model saw: :func:`explorer.predict`'s geometry).

    ``method``: ``"gradcam"``, ``"gradcam++"`` (option ``layer``), ``"integrated_gradients"``
    (``baseline`` "black" | "blurred" | "noise", ``steps``), ``"smoothgrad"`` (``noise``: standard
    deviation as a fraction of 0..255, ``samples``) or ``"occlusion"`` (``patch``, ``stride`` in the
    model's input pixels). ``target``: class index or name; None: the model's top-1 for this photo.
    """
    return explain(model, image, method, target, **options).heat


def caption(method: str, options: dict, class_name: str, facts: dict | None = None) -> str:
    """What one method did, in plain words, from the settings that ran and what the run found about
    itself (:attr:`Attribution.facts`; never written by hand)."""
    if method == "gradcam":
        return (f"Which places of the last feature maps ({options.get('layer', 'the last layer')}) raise the "
                f"belief in {class_name}: each channel counts by its average gradient. Coarse blobs.")
    if method == "gradcam++" and (facts or {}).get("same_gradient_everywhere"):
        return (f"Here practically the same as Grad-CAM counting only the channels that speak for {class_name}: this "
                "network averages its last maps, so every place of a channel gets the same weight, and the "
                "evidence against the class is left out.")
    if method == "gradcam++":
        return (f"Grad-CAM where each place counts by its own positive evidence for {class_name}, so several "
                "objects of the class can all light up.")
    if method == "integrated_gradients":
        return (f"Fades the photo in from {BASELINE_WORDS.get(options.get('baseline'), 'a baseline')} in "
                f"{options.get('steps')} steps and adds up how much each pixel moved p({class_name}) on the way.")
    if method == "smoothgrad":
        return (f"How much each pixel nudges p({class_name}), averaged over {options.get('samples')} copies of "
                f"the photo with noise ({options.get('noise', 0) * 100:.0f}% of the brightness range) added.")
    if method == "occlusion":
        return (f"Greys one {options.get('patch')}x{options.get('patch')} pixel square at a time, every "
                f"{options.get('stride')} pixels: bright where hiding it lowers p({class_name}) most.")
    raise ValueError(f"Unknown explanation method '{method}'.")
