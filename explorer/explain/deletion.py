"""Deletion curves (Petsiuk et al., RISE, 2018): is a map faithful to what the network uses?

Grey out what the network sees in the map's order, most important first, and watch p(class) fall; do
the same in random orders. A map that points at what the network really uses makes p(class) fall
faster than a random order. The score is the mean p(class) over 10% to 50% deleted (:data:`SCORED`):
lower is better. All the greyed copies go through the network as batches.

Pixels are greyed in small squares (:data:`CELLS` x :data:`CELLS` of them over the input, 16x16 pixels
at 224), ranked by the map's mean over each square: a random order of single pixels sprinkles grey
noise over the whole photo, which destroys any class faster than hiding one region, so maps would be
judged against a perturbation of another kind. With squares, map and random orders hide the same
shapes and differ only in which come first.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from ..models.classifier import input_size, model_view
from .base import GREY, Subject, class_probability, on_grid, subject
from .methods import explain

FRACTIONS = tuple(round(i * 0.05, 2) for i in range(21))  # 0%, 5% ... 100% of the pixels greyed
SCORED = (0.1, 0.5)  # the score is the mean p(class) over this range of fractions deleted
RANDOM_ORDERS = 3
# Below this share of its starting p(class), a random order's score says the class dies whatever is greyed:
# no map can beat it by much, and "beat random" is decided by noise at the floor (README: the astronaut and
# the rocket on MobileNet 0.75 keep 0.5-0.8% of their start; the photos judged there keep 3-45%).
FRAGILE = 0.05
CELLS = 14  # squares per side of the model's input greyed one by one (16x16 pixels at 224x224)


@dataclass(frozen=True)
class DeletionCurve:
    """p(class) as more and more pixels are greyed, in the map's order and in random orders."""

    method: str
    target: int
    fractions: tuple
    by_map: np.ndarray  # p(class) after greying each fraction in the map's order
    by_random: np.ndarray  # the same in random orders (mean of RANDOM_ORDERS)

    @property
    def score(self) -> float:
        return scored(self.fractions, self.by_map)

    @property
    def random_score(self) -> float:
        return scored(self.fractions, self.by_random)

    @property
    def fragile(self) -> bool:
        """Whether this photo's class is too fragile for the test: random orders already leave less than
        :data:`FRAGILE` of its starting p(class) (mean over 10%-50% greyed)."""
        return self.random_score < FRAGILE * float(self.by_random[0])

    @property
    def faithful(self) -> bool:
        """Whether deleting in the map's order lowers p(class) faster than a random order."""
        return self.score < self.random_score


def scored(fractions, probabilities) -> float:
    """Mean p(class) over the fractions in :data:`SCORED` (lower: the class fell faster)."""
    f = np.asarray(fractions)
    keep = (f >= SCORED[0] - 1e-9) & (f <= SCORED[1] + 1e-9)
    return float(np.mean(np.asarray(probabilities)[keep]))


def cell_index(size: tuple[int, int]) -> np.ndarray:
    """int h x w: the square (0 .. CELLS*CELLS - 1, row by row) each input pixel belongs to."""
    h, w = size
    rows = np.minimum(np.arange(h) * CELLS // h, CELLS - 1)
    cols = np.minimum(np.arange(w) * CELLS // w, CELLS - 1)
    return rows[:, None] * CELLS + cols[None, :]


def cell_means(view_map: np.ndarray) -> np.ndarray:
    """float64 CELLS*CELLS: the map's mean over each square (row by row)."""
    cells = cell_index(view_map.shape)
    means = np.bincount(cells.ravel(), weights=np.ravel(view_map).astype(np.float64), minlength=CELLS * CELLS)
    return means / np.maximum(np.bincount(cells.ravel(), minlength=CELLS * CELLS), 1)


def order_of(view_map: np.ndarray, seed: int = 0) -> np.ndarray:
    """Squares ranked by the map's mean over each, highest first; ties (flat maps) broken at random."""
    means = cell_means(view_map)
    jitter = np.random.default_rng(seed).random(means.size) * 1e-9
    return np.argsort(-(means + jitter), kind="stable")


def greyed(pixels: np.ndarray, order: np.ndarray, fractions=FRACTIONS) -> np.ndarray:
    """Copies of the model's view (1 x h x w x 3) with the first ``fraction`` of the squares in ``order``
    greyed."""
    cells = cell_index(pixels.shape[1:3])
    rank = np.empty(CELLS * CELLS, np.int64)
    rank[order] = np.arange(CELLS * CELLS)
    rank = rank[cells]
    out = np.repeat(pixels, len(fractions), axis=0)
    for i, f in enumerate(fractions):
        out[i][rank < int(round(f * CELLS * CELLS))] = GREY
    return out


def curve_of(model: keras.Model, subj: Subject, view_map: np.ndarray, method: str = "map",
             random: np.ndarray | None = None, seed: int = 0) -> DeletionCurve:
    """The deletion curve of a map over the model's input grid (``random``: a random-order curve
    already measured for this photo and class, shared by several maps)."""
    by_map = class_probability(model, greyed(subj.pixels, order_of(view_map, seed)), subj.target)
    if random is None:
        random = random_curve(model, subj, seed)
    return DeletionCurve(method, subj.target, FRACTIONS, by_map, random)


def random_curve(model: keras.Model, subj: Subject, seed: int = 0) -> np.ndarray:
    """p(class) when greying in random orders (mean over :data:`RANDOM_ORDERS`)."""
    rng = np.random.default_rng(seed + 1)
    runs = [class_probability(model, greyed(subj.pixels, rng.permutation(CELLS * CELLS)), subj.target)
            for _ in range(RANDOM_ORDERS)]
    return np.mean(runs, axis=0).astype(np.float32)


def deletion_curve(model: keras.Model, image, method="gradcam", target=None, seed: int = 0,
                   **options) -> DeletionCurve:
    """The deletion curve of one explanation of ``image``: ``method`` names one (:func:`explorer.attribution`'s
    methods, with its ``options``) or is a map already made (float HxW at the photo's size)."""
    subj = subject(model, image, target)
    if isinstance(method, str):
        view_map = explain(model, subj.photo, method, subj.target, **options).view
        name = method
    else:
        heat = np.asarray(method, np.float32)
        if heat.shape != subj.photo.shape[:2]:
            raise ValueError(f"The map must be the photo's size {subj.photo.shape[:2]}, got {heat.shape}.")
        view_map = model_view(heat[None, :, :, None], input_size(model))[0, :, :, 0].numpy()
        view_map = on_grid(view_map, subj.size)
        name = "map"
    return curve_of(model, subj, view_map, name, seed=seed)
