"""Transfer learning in seconds: cached backbone embeddings, a small head, optional fine-tuning.

``train_classifier`` runs the frozen backbone once per image (:mod:`explorer.transfer.embeddings`),
trains a small head on those cached embeddings (seconds, not minutes), then optionally fine-tunes the
last N layers of a *cloned* backbone end to end at a lower learning rate. The result is one flat model
taking 0..255 pixels and giving class probabilities, its class names in its metadata
(:func:`explorer.class_names_of`).
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, field

import keras
import numpy as np
import tensorflow as tf

from ..models import classifier as clf
from ..data.datasets import DatasetError, load_dataset
from ..data.images import load_image
from ..models.zoo import VARIANTS, Variant
from . import head
from .embeddings import augmented_views, batches, embedding_size, embedding_step, extract_embeddings

#: Backbones to transfer from: every pretrained configuration of the zoo (one registry,
#: :data:`explorer.zoo.VARIANTS`), MobileNetV2 first (the default).
BACKBONES: dict[str, Variant] = {key: VARIANTS[key] for key in
                                 ["mobilenet_v2", "mobilenet_0.75", "mobilenet_0.25"] + list(VARIANTS)
                                 if VARIANTS[key].pretrained}


def load_backbone(key: str = "mobilenet_v2", weights: str | None = "imagenet") -> keras.Model:
    """An average-pooled backbone from :data:`BACKBONES` (raises ``WeightsUnavailable`` like ``load_model``)."""
    try:
        spec = BACKBONES[key]
    except KeyError:
        raise ValueError(f"Unknown backbone '{key}'. Choose one of: {', '.join(BACKBONES)}.") from None
    return spec.load(include_top=False, weights=weights)


@dataclass
class TransferResult:
    """What training produced: the classifier, its curves and its validation predictions.

    ``history`` maps ``loss``, ``accuracy``, ``val_loss``, ``val_accuracy`` to one value per epoch
    (head epochs first, then fine-tuning epochs from index ``fine_tune_start``). ``val_images`` (at the
    model's input size), ``val_labels`` and ``val_probabilities`` are the held-out images and what the
    final model said about them.
    """

    model: keras.Model
    class_names: list[str]
    history: dict[str, list[float]]
    val_accuracy: float | None
    fine_tune_start: int | None = None
    fine_tuned_layers: list[str] = field(default_factory=list)
    val_images: np.ndarray | None = None
    val_labels: np.ndarray | None = None
    val_probabilities: np.ndarray | None = None
    train_count: int = 0
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def val_predictions(self) -> np.ndarray:
        return np.argmax(self.val_probabilities, axis=-1) if self.val_probabilities is not None else np.zeros(0, int)

    def confusion_matrix(self) -> np.ndarray:
        """``[true class, predicted class]`` counts on the validation images."""
        n = len(self.class_names)
        matrix = np.zeros((n, n), dtype=int)
        if self.val_labels is not None:
            np.add.at(matrix, (self.val_labels, self.val_predictions), 1)
        return matrix

    def per_class_accuracy(self) -> dict[str, float | None]:
        """Validation accuracy of each class (None for a class without validation images)."""
        matrix = self.confusion_matrix()
        totals = matrix.sum(axis=1)
        return {name: (float(matrix[i, i] / totals[i]) if totals[i] else None)
                for i, name in enumerate(self.class_names)}

    def top_k_accuracy(self, k: int = 5) -> float | None:
        """Share of validation images whose true class is among the model's ``k`` best guesses."""
        if self.val_labels is None or not len(self.val_labels):
            return None
        top = np.argsort(-self.val_probabilities, axis=-1)[:, :k]
        return float(np.mean([label in row for label, row in zip(self.val_labels, top)]))

    def misclassified(self) -> list[dict]:
        """Every wrong validation prediction: index, image, true and predicted class, confidence."""
        wrong = []
        preds = self.val_predictions
        for i in np.flatnonzero(preds != self.val_labels) if self.val_labels is not None else []:
            wrong.append({"index": int(i), "image": self.val_images[i], "true": self.class_names[self.val_labels[i]],
                          "predicted": self.class_names[preds[i]],
                          "confidence": float(self.val_probabilities[i, preds[i]])})
        return wrong


def _images_and_labels(images_by_class, size: tuple[int, int]):
    if not isinstance(images_by_class, dict):
        images_by_class = load_dataset(images_by_class)
    names = [str(n) for n in images_by_class]
    if len(names) < 2:
        raise DatasetError("Training needs at least 2 classes.")
    images, labels = [], []
    for label, name in enumerate(images_by_class):
        items = list(images_by_class[name])
        if not items:
            raise DatasetError(f"Class '{name}' has no images.")
        for item in items:
            images.append(clf.seen_at(load_image(item), size))  # the one geometry
            labels.append(label)
    return names, np.stack(images), np.asarray(labels)


def _names_and_labels(images_by_class) -> tuple[list[str], np.ndarray]:
    if not isinstance(images_by_class, dict) or len(images_by_class) < 2:
        raise DatasetError("Training needs at least 2 classes.")
    labels = []
    for label, name in enumerate(images_by_class):
        count = len(images_by_class[name])
        if not count:
            raise DatasetError(f"Class '{name}' has no images.")
        labels += [label] * count
    return [str(n) for n in images_by_class], np.asarray(labels)


def _given_embeddings(embeddings: dict, images_by_class: dict, size: int) -> np.ndarray:
    """The given per-class embeddings stacked in the images' order, checked against them."""
    rows = []
    for name, items in images_by_class.items():
        vectors = list(embeddings.get(name, []))
        if len(vectors) != len(items):
            raise ValueError(f"Class '{name}' has {len(items)} images but {len(vectors)} embeddings.")
        rows += vectors
    stacked = np.asarray(rows, np.float32)
    if stacked.ndim != 2 or stacked.shape[1] != size or not np.all(np.isfinite(stacked)):
        raise ValueError(f"Embeddings must be finite vectors of length {size} (the backbone's), got {stacked.shape}.")
    return stacked


def _seen_images(images_by_class: dict, indices: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Only the images at these indices (in the flat order of the classes), through the one geometry."""
    flat = [item for items in images_by_class.values() for item in items]
    seen = [clf.seen_at(load_image(flat[i]), size) for i in indices]
    return np.stack(seen) if seen else np.zeros((0, *size, 3), np.uint8)


def split(labels: np.ndarray, validation_split: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Stratified train/validation indices: each class keeps at least one training image."""
    if not 0 <= validation_split < 1 or not np.isfinite(validation_split):
        raise ValueError(f"validation_split must be in [0, 1), got {validation_split}.")
    rng = np.random.default_rng(seed)
    train, val = [], []
    for label in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == label))
        n_val = min(len(idx) - 1, max(1 if validation_split > 0 else 0, round(len(idx) * validation_split)))
        val.extend(idx[:n_val])
        train.extend(idx[n_val:])
    return np.sort(np.asarray(train, int)), np.sort(np.asarray(val, int))


class _EpochReporter(keras.callbacks.Callback):
    """Appends each epoch's metrics to ``history`` and forwards them to the user callback.

    ``validate()`` (optional) returns the validation metrics: for the head it is a direct call of the
    tiny head model on the cached validation features, cheaper than tracing Keras' evaluation step.
    """

    def __init__(self, history: dict, stage: str, total: int, callback, validate=None):
        super().__init__()
        self.history, self.stage, self.total, self.callback, self.validate = history, stage, total, callback, validate

    def on_epoch_end(self, epoch, logs=None):
        metrics = {k: float(v) for k, v in (logs or {}).items() if k in ("loss", "accuracy", "val_loss", "val_accuracy")}
        if self.validate is not None:
            metrics.update(self.validate())
        for key, value in metrics.items():
            self.history.setdefault(key, []).append(value)
        if self.callback is not None:
            self.callback(self.stage, epoch + 1, self.total, metrics)


def _metrics(probabilities, labels) -> dict[str, float]:
    probabilities = np.asarray(probabilities)
    picked = np.clip(probabilities[np.arange(len(labels)), labels], 1e-7, 1.0)
    return {"val_loss": float(-np.mean(np.log(picked))),
            "val_accuracy": float(np.mean(np.argmax(probabilities, axis=-1) == labels))}


def train_classifier(images_by_class, backbone="mobilenet_v2", epochs: int = 10, fine_tune_layers: int = 0,
                     validation_split: float = 0.2, seed: int = 0, callback=None, *, weights: str | None = "imagenet",
                     dense_units: int = 0, dropout: float = 0.2, batch_size: int = 16, learning_rate: float = 1e-3,
                     augment_copies: int = 0, fine_tune_epochs: int = 5, fine_tune_learning_rate: float = 1e-5,
                     embeddings: dict | None = None) -> TransferResult:
    """Train a classifier for ``images_by_class`` on top of a pretrained ``backbone``.

    ``images_by_class``: dict class name -> images (arrays of any size, paths or bytes), or a dataset
    folder/zip (see :func:`explorer.load_dataset`). ``backbone``: a key of :data:`BACKBONES` (loaded
    with ``weights``) or a feature-extractor ``keras.Model`` taking 0..255 pixels; it is never changed.
    The head (``dropout``, optional ``dense_units`` layer, softmax) trains ``epochs`` epochs on cached
    embeddings, with ``augment_copies`` augmented views per training image. ``fine_tune_layers`` > 0
    then trains the last N backbone layers of a clone, with the head, for ``fine_tune_epochs`` more
    epochs at ``fine_tune_learning_rate``.

    ``callback(stage, step, total, metrics)`` reports progress: stage ``"embeddings"`` (images done),
    ``"head"`` and ``"fine_tune"`` (epoch number counted from the first head epoch, with that epoch's
    metrics). The same ``seed`` and inputs give the same history and model.

    ``embeddings``: optional dict class name -> one backbone embedding per image of that class, in the
    same order (e.g. stored by :mod:`explorer.classroom` when each photo arrived). The backbone is then
    not run on the training images at all (one head fit); only the validation images are decoded, for
    the result. Not with ``augment_copies`` or fine-tuning (those need the images).

    Without fine-tuning, ``result.model`` reuses the backbone's layers (no copy of its weights, so many
    students' classifiers share one backbone in memory): use it for inference and gradients, and clone
    it (``keras.models.clone_model`` + ``set_weights``) before training it further.
    """
    started = time.perf_counter()
    _check_settings(epochs=epochs, batch_size=batch_size, fine_tune_layers=fine_tune_layers,
                    augment_copies=augment_copies, fine_tune_epochs=fine_tune_epochs, learning_rate=learning_rate,
                    fine_tune_learning_rate=fine_tune_learning_rate, dropout=dropout)
    extractor = load_backbone(backbone, weights) if isinstance(backbone, str) else backbone
    if embeddings is not None:
        if augment_copies or fine_tune_layers:
            raise ValueError("Stored embeddings train the head only: set augment_copies=0 and fine_tune_layers=0.")
        # 1. Embeddings given (computed when the photos arrived): no backbone pass at all.
        class_names, labels = _names_and_labels(images_by_class)
        train_idx, val_idx = split(labels, validation_split, seed)
        keras.utils.set_random_seed(seed)
        vectors = _given_embeddings(embeddings, images_by_class, embedding_size(extractor))
        data = _Embedded(train_x=vectors[train_idx], train_y=labels[train_idx], val_x=vectors[val_idx],
                         val_y=labels[val_idx])
        images = None
        val_images = _seen_images(images_by_class, val_idx, clf.input_size(extractor))
    else:
        class_names, images, labels = _images_and_labels(images_by_class, clf.input_size(extractor))
        train_idx, val_idx = split(labels, validation_split, seed)
        keras.utils.set_random_seed(seed)

        # 1. Embeddings: the frozen backbone runs once per image (and per augmented view of a training image).
        data = _embed(extractor, images, labels, train_idx, val_idx, augment_copies, seed, callback)
        val_images = images[val_idx]
    extracted = time.perf_counter()

    # 2. The head learns on cached embeddings: seconds.
    history: dict[str, list[float]] = {}
    fine_tuning = bool(fine_tune_layers and fine_tune_epochs)
    total_epochs = epochs + (fine_tune_epochs if fine_tuning else 0)
    head_model = _train_head(data, len(class_names), embedding_size(extractor), history, callback,
                             total_epochs=total_epochs, epochs=epochs, dense_units=dense_units, dropout=dropout,
                             batch_size=batch_size, learning_rate=learning_rate)
    val_probabilities = np.asarray(head_model(data.val_x, training=False)) if len(val_idx) else None
    # Without fine-tuning the classifier reuses the backbone's layers as they are (no copy of its weights);
    # fine-tuning trains a clone, so the given (possibly shared) backbone never changes.
    base = clf.clone(extractor) if fine_tuning else extractor
    model = head.classifier(base, head_model, class_names)
    trained = time.perf_counter()

    # 3. Optional fine-tuning: the last N layers of the cloned backbone learn too, gently, on images.
    fine_tune_start, tuned = None, []
    if fine_tuning:
        fine_tune_start = len(history["loss"])
        tuned = head.freeze_all_but_last(base.layers[1:], fine_tune_layers)
        _fine_tune(model, images, labels, train_idx, val_idx, history, callback, start=fine_tune_start,
                   total_epochs=total_epochs, epochs=fine_tune_epochs, learning_rate=fine_tune_learning_rate,
                   augment_copies=augment_copies, batch_size=batch_size, seed=seed)
        if len(val_idx):
            val_probabilities = model.predict(images[val_idx].astype("float32"), batch_size=32, verbose=0)
    finished = time.perf_counter()

    val_y = labels[val_idx]
    val_accuracy = float(np.mean(np.argmax(val_probabilities, -1) == val_y)) if len(val_idx) else None
    return TransferResult(
        model=model, class_names=class_names, history=history, val_accuracy=val_accuracy,
        fine_tune_start=fine_tune_start, fine_tuned_layers=tuned,
        val_images=val_images, val_labels=val_y, val_probabilities=val_probabilities, train_count=len(train_idx),
        seconds={"embeddings": extracted - started, "head": trained - extracted, "fine_tune": finished - trained},
    )


def _check_settings(*, epochs, batch_size, fine_tune_layers, augment_copies, fine_tune_epochs, learning_rate,
                    fine_tune_learning_rate, dropout) -> None:
    """ValueError with the setting's name for anything out of range."""
    for name, value, low in (("epochs", epochs, 1), ("batch_size", batch_size, 1), ("fine_tune_layers", fine_tune_layers, 0),
                             ("augment_copies", augment_copies, 0), ("fine_tune_epochs", fine_tune_epochs, 0)):
        if int(value) != value or value < low:
            raise ValueError(f"{name} must be a whole number >= {low}, got {value}.")
    for name, value in (("learning_rate", learning_rate), ("fine_tune_learning_rate", fine_tune_learning_rate)):
        if not np.isfinite(value) or value <= 0:
            raise ValueError(f"{name} must be a positive number, got {value}.")
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}.")


@dataclass
class _Embedded:
    """Cached embeddings and labels for the head: training views (with augmented copies) and validation."""

    train_x: np.ndarray
    train_y: np.ndarray
    val_x: np.ndarray
    val_y: np.ndarray


def _embed(extractor, images, labels, train_idx, val_idx, copies: int, seed: int, callback) -> _Embedded:
    """Step 1: every image (and ``copies`` augmented views of each training image) through the backbone once."""
    total = len(labels) + len(train_idx) * copies
    report = (lambda done, n: callback("embeddings", done, n, {})) if callback else None
    step = embedding_step(extractor)
    vectors = extract_embeddings(step, batches(images), report, 0, total)
    views = extract_embeddings(step, batches(images[train_idx], copies=copies, seed=seed), report, len(labels),
                               total) if copies else vectors[:0]
    return _Embedded(train_x=np.concatenate([vectors[train_idx], views]), train_y=np.tile(labels[train_idx], 1 + copies),
                     val_x=vectors[val_idx], val_y=labels[val_idx])


def _train_head(data: _Embedded, classes: int, size: int, history: dict, callback, *, total_epochs: int, epochs: int,
                dense_units: int, dropout: float, batch_size: int, learning_rate: float) -> keras.Model:
    """Step 2: the small head trained on the cached embeddings, validated by a direct call each epoch."""
    head_model = head.embedding_head(size, head.head_layers(classes, dense_units, dropout))
    head_model.compile(keras.optimizers.Adam(learning_rate), "sparse_categorical_crossentropy", metrics=["accuracy"])
    validate = (lambda: _metrics(head_model(data.val_x, training=False), data.val_y)) if len(data.val_y) else None
    head_model.fit(data.train_x, data.train_y, batch_size=batch_size, epochs=epochs, shuffle=True, verbose=0,
                   callbacks=[_EpochReporter(history, "head", total_epochs, callback, validate)])
    return head_model


def _fine_tune(model, images, labels, train_idx, val_idx, history: dict, callback, *, start: int, total_epochs: int,
               epochs: int, learning_rate: float, augment_copies: int, batch_size: int, seed: int) -> None:
    """Step 3: the classifier (its unfrozen backbone layers and head) trained end to end on images."""
    pixels = keras.Input(model.input_shape[1:], name="pixels")
    trainer = keras.Model(pixels, model(pixels))  # compiled wrapper: the classifier itself stays uncompiled
    trainer.compile(keras.optimizers.Adam(learning_rate), "sparse_categorical_crossentropy", metrics=["accuracy"])
    val_data = (images[val_idx].astype("float32"), labels[val_idx]) if len(val_idx) else None
    trainer.fit(_image_dataset(images[train_idx], labels[train_idx], augment_copies, batch_size, seed),
                initial_epoch=start, epochs=start + epochs, validation_data=val_data,
                shuffle=False, verbose=0, callbacks=[_EpochReporter(history, "fine_tune", total_epochs, callback)])


def _image_dataset(images: np.ndarray, labels: np.ndarray, copies: int, batch_size: int, seed: int) -> tf.data.Dataset:
    """Training images plus ``copies`` fresh augmented views of each per epoch, shuffled, for fine-tuning."""
    rng = np.random.default_rng(seed + 1)

    def examples():
        yield from zip(images, labels)
        yield from zip(augmented_views(images, copies, rng), np.tile(labels, copies))

    data = tf.data.Dataset.from_generator(examples, output_signature=(
        tf.TensorSpec(images.shape[1:], tf.uint8), tf.TensorSpec((), tf.int64)))
    count = len(images) * (1 + copies)
    data = data.apply(tf.data.experimental.assert_cardinality(count))  # lets Keras count the steps per epoch
    return (data.shuffle(count, seed=seed).batch(batch_size)
            .map(lambda x, y: (tf.cast(x, tf.float32), y)).prefetch(tf.data.AUTOTUNE))


def classify(model: keras.Model, image, top: int | None = None) -> list[tuple[str, float]]:
    """``(class name, probability)`` pairs, best first, for one image of any size (or path/bytes).

    The app's one prediction (:func:`explorer.predict`), so the page shows what every other page shows.
    """
    probs = clf.predict(model, image)
    return [(name, p) for _, name, p in clf.top_k(model, probs, len(probs) if top is None else top)]


def classifier_bytes(model: keras.Model) -> bytes:
    """The model as the bytes of a ``.keras`` file (for a download button); written in a temp folder."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "classifier.keras")
        model.save(path)
        with open(path, "rb") as f:
            return f.read()


def load_classifier(source) -> keras.Model:
    """Load a ``.keras`` classifier (path, bytes or file object); its class names come back with it."""
    if isinstance(source, (str, os.PathLike)):
        return keras.saving.load_model(source)
    data = source if isinstance(source, (bytes, bytearray)) else source.read()
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "classifier.keras")
        with open(path, "wb") as f:
            f.write(data)
        return keras.saving.load_model(path)
