"""Training the class model on the class's pooled photos, from their stored embeddings, and keeping it.

The model is kept in the store as its head's weights (a few kilobytes, versioned) plus a report
(class names, curves, confusion matrix); :func:`open_model` rebuilds the full classifier on the
process's backbone, so "Try the class model" and the teacher's results survive a restart.
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass

import numpy as np

from ..transfer import TransferResult, train_classifier
from ..transfer import head as heads
from ..transfer.embeddings import embedding_size
from .embedder import backbone, embed_missing
from .store import ClassStore, StoredModel

MIN_PER_LABEL = 2
HEAD_LAYERS = ("head_dense", "predictions")
_OPENED: dict[tuple, object] = {}
_OPENED_LOCK = threading.Lock()


@dataclass
class ClassTraining:
    result: TransferResult
    version: int


def head_bytes(model) -> bytes:
    """The trained head's weights (``.npz``) from a transfer classifier."""
    arrays = {}
    for name in HEAD_LAYERS:
        try:
            layer = model.get_layer(name)
        except ValueError:
            continue
        for i, weight in enumerate(layer.get_weights()):
            arrays[f"{name}/{i}"] = weight
    out = io.BytesIO()
    np.savez(out, **arrays)
    return out.getvalue()


def train_class(store: ClassStore, code: str, teacher_token: str, *, epochs: int = 10, seed: int = 0,
                dense_units: int = 0, dropout: float = 0.2, callback=None, stored_embeddings: bool = True
                ) -> ClassTraining:
    """Train the class model on the visible photos (teacher only) and keep it as a new version.

    Uses the stored embeddings (photos not yet embedded are embedded first), so the backbone never
    runs over the whole set at "Train". ``ValueError`` when a label has fewer than 2 photos.
    ``stored_embeddings=False`` ignores them and embeds every photo now (the benchmark's baseline)."""
    store.check_teacher(code, teacher_token)
    photos, vectors, key = store.training_data(code)
    short = [label for label, items in photos.items() if len(items) < MIN_PER_LABEL]
    if short:
        raise ValueError(f"Every label needs at least {MIN_PER_LABEL} photos before training; add photos of: "
                         + ", ".join(short) + ".")
    if stored_embeddings and any(v is None for items in vectors.values() for v in items):
        embed_missing(store)
        photos, vectors, key = store.training_data(code)
    model = backbone(key)
    result = train_classifier(photos, backbone=model, epochs=epochs, seed=seed, callback=callback,
                              dense_units=dense_units, dropout=dropout,
                              embeddings=vectors if stored_embeddings else None)
    report = {"class_names": result.class_names, "backbone": key, "dense_units": dense_units, "dropout": dropout,
              "history": result.history, "val_accuracy": result.val_accuracy,
              "confusion": result.confusion_matrix().tolist(), "photos": int(sum(len(v) for v in photos.values())),
              "seconds": result.seconds}
    version = store.save_model(code, teacher_token, head_bytes(result.model), report)
    return ClassTraining(result=result, version=version)


def open_model(code: str, stored: StoredModel):
    """The full classifier (pixels 0..255 -> class probabilities) of a stored class model version,
    built once per process on the shared backbone (read-only: clone it before changing it)."""
    key = (code, stored.version, stored.created_at)
    with _OPENED_LOCK:
        if key in _OPENED:
            return _OPENED[key]
    report = stored.report
    base = backbone(report["backbone"])
    names = list(report["class_names"])
    head_model = heads.embedding_head(embedding_size(base), heads.head_layers(
        len(names), int(report.get("dense_units", 0)), float(report.get("dropout", 0.2))))
    weights = np.load(io.BytesIO(stored.data))
    for name in HEAD_LAYERS:
        parts = sorted((k for k in weights.files if k.startswith(name + "/")), key=lambda k: int(k.split("/")[1]))
        if parts:
            head_model.get_layer(name).set_weights([weights[k] for k in parts])
    model = heads.classifier(base, head_model, names, name=f"class_{code.lower()}_v{stored.version}")
    with _OPENED_LOCK:
        if len(_OPENED) > 16:
            _OPENED.pop(next(iter(_OPENED)))
        _OPENED[key] = model
    return model


__all__ = ["ClassTraining", "head_bytes", "open_model", "train_class"]
