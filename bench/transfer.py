"""Transfer learning: cached features (``explorer.train_classifier``) vs the notebook way, side by side.

The notebook way is one Keras model ``pixels -> frozen backbone -> head`` trained with ``model.fit``
on the images, so the frozen backbone runs on every image in every epoch. ``train_classifier`` runs
it once per image and trains the head on cached features. Both see the same images, split, epochs,
batch size and learning rate; times are end to end (raw images and the loaded, warmed-up backbone given
to both). With augmentation, the notebook model draws fresh random views each epoch (Keras random
layers) and ``train_classifier`` precomputes 2 augmented views per training image.

Data: real photos, each class one photo seen many ways (random crops, flips, colour jitter), from
``../shared/fixtures/images`` when present, else the shipped sample photos.

    KERAS_HOME=../shared/fixtures/keras_home python bench/transfer.py [--backbone mobilenet_v2] [--epochs 10]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import keras  # noqa: E402
import numpy as np  # noqa: E402

import explorer  # noqa: E402
from explorer.data.datasets import augmented_copies, shrink  # noqa: E402
from explorer.data.samples import SAMPLES, sample_image  # noqa: E402
from explorer.models.classifier import seen_at  # noqa: E402
from explorer.transfer import load_backbone, split  # noqa: E402

FIXTURE_IMAGES = ROOT.parent / "shared" / "fixtures" / "images"


def photo_set(per_class: int) -> dict[str, list[np.ndarray]]:
    if FIXTURE_IMAGES.is_dir():
        photos = {p.stem: explorer.load_image(p) for p in sorted(FIXTURE_IMAGES.glob("*.jpg"))}
    else:
        photos = {name: sample_image(name) for name in SAMPLES}
    return {name: augmented_copies(shrink(image), per_class, seed=i) for i, (name, image) in enumerate(photos.items())}


def notebook_way(data, backbone, epochs, batch_size, learning_rate, augment, seed=0):
    """``model.fit`` on images through a frozen backbone inside one Keras model (the usual tutorial)."""
    start = time.perf_counter()
    size = explorer.input_size(backbone)
    names = list(data)
    images = np.stack([seen_at(img, size) for name in names for img in data[name]]).astype("float32")
    labels = np.array([i for i, name in enumerate(names) for _ in data[name]])
    train, val = split(labels, 0.2, seed)
    keras.utils.set_random_seed(seed)
    backbone.trainable = False  # this script's own backbone; restored below
    pixels = keras.Input(images.shape[1:])
    x = pixels
    if augment:
        x = keras.layers.RandomFlip("horizontal")(x)
        x = keras.layers.RandomRotation(0.03)(x)
        x = keras.layers.RandomZoom(0.15)(x)
    x = backbone(x, training=False)
    x = keras.layers.Dropout(0.2)(x)
    model = keras.Model(pixels, keras.layers.Dense(len(names), activation="softmax")(x))
    model.compile(keras.optimizers.Adam(learning_rate), "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(images[train], labels[train], validation_data=(images[val], labels[val]), epochs=epochs,
                        batch_size=batch_size, verbose=0)
    elapsed = time.perf_counter() - start
    backbone.trainable = True
    return elapsed, history.history["val_accuracy"][-1]


def cached_way(data, backbone, epochs, batch_size, learning_rate, augment, seed=0):
    start = time.perf_counter()
    result = explorer.train_classifier(data, backbone=backbone, epochs=epochs, batch_size=batch_size,
                                       learning_rate=learning_rate, augment_copies=2 if augment else 0, seed=seed)
    return time.perf_counter() - start, result.val_accuracy, result.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backbone", default="mobilenet_v2")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--per-class", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    args = parser.parse_args()

    data = photo_set(args.per_class)
    backbone = load_backbone(args.backbone)
    print(f"{len(data)} classes x {args.per_class} real-photo views, backbone {args.backbone} "
          f"({explorer.weights_label(backbone)}), {args.epochs} epochs, batch {args.batch_size}")
    size = explorer.input_size(backbone)
    backbone.predict(np.zeros((2, *size, 3), "float32"), verbose=0)  # one-time kernel set-up, outside both timings
    for augment in (False, True):
        slow, slow_acc = notebook_way(data, backbone, args.epochs, args.batch_size, args.learning_rate, augment)
        fast, fast_acc, parts = cached_way(data, backbone, args.epochs, args.batch_size, args.learning_rate, augment)
        label = "with augmentation" if augment else "no augmentation  "
        print(f"{label}: notebook {slow:6.1f} s (val acc {slow_acc:.3f}) | cached features {fast:6.1f} s "
              f"(val acc {fast_acc:.3f}; features {parts['features']:.1f} s, head+assembly {parts['head']:.1f} s) "
              f"| speed-up {slow / fast:.1f}x")


if __name__ == "__main__":
    main()
