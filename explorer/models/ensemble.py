"""Several classifiers as one: the class probabilities every member agrees on.

:func:`ensemble_classifier` wraps networks of any input size into one Keras model that takes RGB pixels
0..255 at the largest member's size (the one geometry: each member sees the picture resized to its own
input, antialiased) and outputs the *normalised geometric mean* of the members' probabilities,
``softmax(mean_i log p_i)``. Its ``-log p(class)`` is then the members' mean cross-entropy (plus a term
that only rewards them for agreeing), so gradient ascent on it must convince every member at once: one
network alone cannot carry the class, as it can with an arithmetic mean. Ideal images painted on it are
what "painted for every network here" means on the Ideal class image page.

It is an ordinary classifier to the rest of the package (``predict``, ``ideal_image``, the scheduler's
batching), with 1000 ImageNet classes when its members have them.
"""

from __future__ import annotations

from collections import OrderedDict
from threading import Lock

import keras

from .classifier import describe, input_size, main_output, metadata, num_classes
from .folding import folded
from .zoo import VARIANTS

#: log p is taken of max(p, FLOOR): a member 100% sure against a class must not make the mean -inf.
FLOOR = 1e-12
_KEEP = 4  # ensembles kept (each holds its members, which the zoo's model cache holds anyway)
_MADE: OrderedDict = OrderedDict()
_LOCK = Lock()


def members_of(model) -> tuple[str, ...]:
    """The display names of an ensemble's members (empty for a plain classifier)."""
    return tuple(getattr(model, "explorer_members", ()))


def ensemble_classifier(models, names=None) -> keras.Model:
    """One classifier out of ``models`` (two or more, the same number of classes): pixels 0..255 at the
    largest member's input size in, the normalised geometric mean of their probabilities out.

    Made once per combination of the same model objects (a few are kept), so every session painting
    "for every network here" shares one model, its compiled steps and its batches."""
    models = list(models)
    if len(models) < 2:
        raise ValueError("An ensemble needs at least two networks.")
    counts = {num_classes(m) for m in models}
    if len(counts) != 1 or None in counts:
        raise ValueError("The networks of an ensemble must all score the same classes.")
    names = tuple(names or (metadata(m).name or m.name for m in models))
    key = tuple(id(m) for m in models)
    with _LOCK:
        if key in _MADE:
            _MADE.move_to_end(key)
            return _MADE[key][0]
    model = _build(models, names)
    with _LOCK:
        _MADE[key] = (model, models)  # the members too: their ids stay theirs while the key is kept
        while len(_MADE) > _KEEP:
            _MADE.popitem(last=False)
    return model


def ensemble_of(keys, load=None) -> keras.Model:
    """:func:`ensemble_classifier` of zoo variants (keys of :data:`~explorer.models.zoo.VARIANTS`, in the
    order given), each named by its title: "every network here" for the Ideal class image page and for
    ``python -m explorer.warm`` alike. ``load(variant)`` gives a variant's classifier (default
    :meth:`~explorer.models.zoo.Variant.load`; the page passes its shared model cache)."""
    load = load or (lambda v: v.load())
    variants = [VARIANTS[k] for k in keys]
    return ensemble_classifier([load(v) for v in variants], names=[v.title for v in variants])


def _build(models, names) -> keras.Model:
    side = max(max(input_size(m)) for m in models)
    inputs = keras.Input((side, side, 3), name="pixels")
    logs = []
    for i, member in enumerate(models):
        h, w = input_size(member)
        x = inputs if (h, w) == (side, side) else keras.layers.Resizing(
            h, w, interpolation="bilinear", antialias=True, name=f"resize_{i}")(inputs)
        net = folded(member)  # the same function in fewer operations
        net = keras.Model(net.inputs, net.outputs, name=f"member_{i}")  # its own name: two may share one
        p = main_output(net(x))
        logs.append(keras.ops.log(keras.ops.maximum(p, FLOOR)))
    mean = keras.layers.Average(name="mean_log_p")(logs)
    probs = keras.layers.Softmax(name="agreed")(mean)
    model = keras.Model(inputs, probs, name="ensemble")
    model.explorer_members = names
    return describe(model, name=" + ".join(names), weights="the members' own")


__all__ = ["FLOOR", "ensemble_classifier", "ensemble_of", "members_of"]
