"""Transfer training computed once for the whole class (through :func:`explorer.serving.submit`).

In a lesson every student may press Train on the built-in demo set with the same settings.
:func:`train` keys the run by every input of :func:`explorer.transfer.train_classifier`: the backbone's
content fingerprint, the dataset by content (class names in order, and the bytes of every image), every
training setting and the seed. Training is deterministic for equal inputs, so the second student joins
the training in progress and a later one replays the finished result. An uploaded or webcam set is
keyed by its content the same way: one student's images are never shown to another unless the bytes
are identical.

The result (a :class:`~explorer.transfer.TransferResult`) is shared: its arrays are read-only and its
``model`` must not be changed (no further training, no ``describe``): clone it first
(:func:`explorer.classifier.clone`) for that. It is kept in the cache's memory only, never on disk.
"""

from __future__ import annotations

import itertools

import numpy as np

from .. import serving
from ..serving.jobs import SharedJobs
from ..serving import Subscription, content_key, model_fingerprint, run_key
from . import training


def dataset_key(images_by_class) -> tuple | None:
    """The content of a dataset: its class names in order and every image's content (arrays or bytes).
    None when it holds anything else (paths, file objects: their content could change)."""
    if not isinstance(images_by_class, dict):
        return None
    classes = []
    for name, images in images_by_class.items():
        keys = []
        for image in images:
            if not isinstance(image, (np.ndarray, bytes, bytearray)):
                return None
            keys.append(content_key(image))
        classes.append((str(name), tuple(keys)))
    return tuple(classes)


def training_key(images_by_class, backbone="mobilenet_v2", seed: int = 0, **settings) -> tuple | None:
    """Full-inputs key of a training run; None when the dataset or backbone cannot be keyed (not shared)."""
    data = dataset_key(images_by_class)
    if data is None:
        return None
    if isinstance(backbone, str):
        backbone_key = ("zoo", backbone, settings.get("weights", "imagenet"))
    else:
        try:
            backbone_key = ("model", model_fingerprint(backbone))
        except Exception:  # noqa: BLE001  (an exotic backbone: still trained, just never shared)
            return None
        settings = {k: v for k, v in settings.items() if k != "weights"}  # unused with a model
    return run_key("transfer", backbone=backbone_key, dataset=data, seed=int(seed), settings=settings)


def progress(snapshot) -> tuple[dict, dict[str, list[float]]]:
    """(the latest report, the curves so far) of a training run: the latest ``{"stage", "step",
    "total"}`` and each epoch's ``loss``, ``accuracy``, ``val_loss``, ``val_accuracy`` from the whole log
    (so a student who joins mid-run sees the curves from the first epoch)."""
    curves: dict[str, list[float]] = {}
    for entry in snapshot.log:
        if entry.get("stage") in ("head", "fine_tune"):
            for name in ("loss", "accuracy", "val_loss", "val_accuracy"):
                if name in entry:
                    curves.setdefault(name, []).append(entry[name])
    return dict(snapshot.metrics), curves


def train(images_by_class, backbone="mobilenet_v2", seed: int = 0, jobs: SharedJobs | None = None,
          **settings) -> Subscription:
    """Watch :func:`~explorer.transfer.train_classifier` for these inputs (``settings``: its keyword
    arguments), computed once for every session asking the same. Each report is published with
    ``metrics = {"stage", "step", "total", ...that epoch's metrics}`` (see :func:`progress`)."""
    key = training_key(images_by_class, backbone, seed, **settings)

    def work(publish, token):
        count = itertools.count(1)

        def report(stage, step, total, metrics):
            publish(next(count), None, {"stage": stage, "step": step, "total": total, **metrics})

        return training.train_classifier(images_by_class, backbone=backbone, seed=seed, callback=report, **settings)

    return serving.submit(key, work, via=jobs, persist=False)  # a Keras model does not pickle faithfully


__all__ = ["dataset_key", "progress", "train", "training_key"]
