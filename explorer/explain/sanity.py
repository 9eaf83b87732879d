"""Sanity checks for saliency maps (Adebayo et al., NeurIPS 2018): does the map depend on what the
network learned?

Cascading randomisation: the network's blocks of weights are replaced by fresh random ones from the
top (the class layer) down, one more block at a time, and each method's map is made again for the same
photo and class. A map that explains the network must change as its knowledge is destroyed; a map that
stays the same shows the photo's edges whatever the network knows ("an edge detector in disguise").
The change is measured as the Spearman rank correlation of the map with the original one (1: the same
order of importance; 0: unrelated) over the squares of the deletion test (14x14, the map's mean over
each): whether the map points at the same places. Pixel by pixel, the speckle of a gradient map is
drawn anew by any change at all, so two maps that look alike would score near 0.

The shared model is never touched: the check works on a copy (:func:`explorer.models.classifier.clone`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import keras
import numpy as np

from ..inspect.features import walk_layers
from ..models.classifier import clone
from .base import class_probability, subject
from .deletion import cell_means
from .methods import METHODS, explain

_BLOCK_WORD = re.compile(r"^block\d*$", re.IGNORECASE)


@dataclass(frozen=True)
class SanityStep:
    """The maps after randomising the top ``len(blocks)`` blocks."""

    blocks: tuple  # names of the blocks randomised so far, top first
    maps: dict  # method -> map over the model's input grid
    correlation: dict  # method -> Spearman rank correlation with the original map
    probability: float  # p(class) of the photo under the randomised network


@dataclass(frozen=True)
class SanityCheck:
    target: int
    original: dict  # method -> map of the trained network
    steps: list = field(default_factory=list)  # SanityStep, one more block randomised each


def block_of(name: str) -> str:
    """The block a layer belongs to, from its name: ``block_16_project`` -> ``block_16``,
    ``block5_conv3`` -> ``block5``, ``conv5_block3_2_conv`` -> ``conv5_block3``, ``conv_dw_1_bn`` ->
    ``conv_dw_1``, ``Conv_1_bn`` -> ``Conv_1``, ``predictions`` -> itself."""
    tokens = name.split("_")
    for i, token in enumerate(tokens):
        if _BLOCK_WORD.match(token):  # "block5" ends the name of its block; "block" takes the number after it
            end = i + 2 if token.lower() == "block" and i + 1 < len(tokens) and tokens[i + 1].isdigit() else i + 1
            return "_".join(tokens[:end])
    numbered = [i for i, token in enumerate(tokens) if any(ch.isdigit() for ch in token)]
    return "_".join(tokens[:numbered[-1] + 1]) if numbered else name


def weight_blocks(model: keras.Model) -> list[tuple[str, tuple[int, ...]]]:
    """``(block name, indices of its layers in walk order)`` for the layers holding weights, grouped by
    block name and listed from the output backwards (the order of cascading randomisation)."""
    groups: list[tuple[str, list[int]]] = []
    for i, layer in enumerate(walk_layers(model)):
        if not layer.weights:
            continue
        name = block_of(layer.name)
        if groups and groups[-1][0] == name:
            groups[-1][1].append(i)
        else:
            groups.append((name, [i]))
    return [(name, tuple(idx)) for name, idx in reversed(groups)]


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two maps (ties share their mean rank); 0 when one is constant."""
    ra, rb = _ranks(np.ravel(a)), _ranks(np.ravel(b))
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denom = float(np.sqrt((ra * ra).sum() * (rb * rb).sum()))
    return float((ra * rb).sum() / denom) if denom > 0 else 0.0


def _ranks(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x), np.float64)
    ranks[order] = np.arange(len(x))
    values, inverse = np.unique(x, return_inverse=True)
    sums = np.bincount(inverse, weights=ranks)
    counts = np.bincount(inverse)
    return (sums / counts)[inverse]


def default_depths(count: int) -> tuple[int, ...]:
    """How many blocks are randomised at each step: 1, 2, 4, 8 ... and finally all of them."""
    depths, d = [], 1
    while d < count:
        depths.append(d)
        d *= 2
    return tuple(depths + [count])


def sanity_check(model: keras.Model, image, methods=tuple(METHODS), target=None, depths=None, seed: int = 0,
                 options: dict | None = None, callback=None) -> SanityCheck:
    """Cascading randomisation of a copy of ``model`` from the top, block by block (:func:`weight_blocks`);
    each method's map after each step and its rank correlation with the trained network's map.

    ``depths``: how many blocks are random at each step (default 1, 2, 4 ... all). ``options``: method ->
    its settings. ``callback(done, total)`` after each map (it may raise to stop).
    """
    options = options or {}
    subj = subject(model, image, target)
    blocks = weight_blocks(model)
    if not blocks:
        raise ValueError(f"Model '{model.name}' has no weights to randomise.")
    depths = default_depths(len(blocks)) if depths is None else tuple(sorted(set(int(d) for d in depths)))
    if not depths or depths[0] < 1 or depths[-1] > len(blocks):
        raise ValueError(f"Depths must be 1..{len(blocks)} blocks, got {depths}.")
    total, done = len(methods) * (len(depths) + 1), 0

    def make(net):
        nonlocal done
        maps = {}
        for m in methods:
            maps[m] = explain(net, subj.photo, m, subj.target, **options.get(m, {})).view
            done += 1
            if callback is not None:
                callback(done, total)
        return maps

    result = SanityCheck(subj.target, make(model))
    work = clone(model)  # randomised in place, block by block; the shared model never changes
    keras.utils.set_random_seed(seed)
    fresh = keras.models.clone_model(model)  # the same layers, newly initialised
    work_layers, fresh_layers = list(walk_layers(work)), list(walk_layers(fresh))
    randomised = 0
    for depth in depths:
        for _, indices in blocks[randomised:depth]:
            for i in indices:
                work_layers[i].set_weights(fresh_layers[i].get_weights())
        randomised = depth
        maps = make(work)
        p = float(class_probability(work, subj.pixels, subj.target)[0])
        result.steps.append(SanityStep(tuple(name for name, _ in blocks[:depth]), maps,
                                       {m: spearman(cell_means(result.original[m]), cell_means(maps[m]))
                                        for m in methods}, p))
    return result
