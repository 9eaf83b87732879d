"""Export for phones: file size and per-photo latency of Keras vs TensorFlow Lite (float, 8-bit weights).

One model (MobileNetV2 1.0/224 by default), measured side by side in one run: the Keras model as the
app runs it (one compiled forward pass on a 1x224x224x3 batch of 0..255 pixels), the float ``.tflite``
and the dynamic-range (8-bit weights) ``.tflite`` from :func:`explorer.export_tflite`, each in
``tf.lite.Interpreter`` with its default threads. The three take turns photo by photo (rounds
interleaved, so a busy machine slows them alike); the median of each is printed, with sizes, the
conversion times and the largest probability difference from Keras on the photos.

    python bench/export.py [--model mobilenet_v2] [--rounds 30]
"""

from __future__ import annotations

import argparse
import statistics
import time

import _offline  # noqa: F401  (KERAS_HOME and sys.path)

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import explorer  # noqa: E402
from explorer.data.samples import SAMPLES, sample_image  # noqa: E402
from explorer.models import classifier  # noqa: E402
from explorer.models.export import export_tflite, tflite_classifier  # noqa: E402
from explorer.transfer import classifier_bytes  # noqa: E402

FIXTURE_IMAGES = _offline.FIXTURES / "images"


def photos() -> list[np.ndarray]:
    if FIXTURE_IMAGES.is_dir():
        return [explorer.load_image(p) for p in sorted(FIXTURE_IMAGES.glob("*.jpg"))]
    return [sample_image(name) for name in SAMPLES]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mobilenet_v2")
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    model = explorer.load_model(args.model)
    batches = [classifier.view(model, photo) for photo in photos()]

    @tf.function(input_signature=[tf.TensorSpec(batches[0].shape, tf.float32)])
    def keras_forward(batch):
        return classifier.main_output(model(batch, training=False))[0]

    runners = {"Keras": lambda batch: keras_forward(batch).numpy()}
    sizes = {"Keras": len(classifier_bytes(model))}
    for label, quantize in (("TFLite float", None), ("TFLite 8-bit weights", "dynamic")):
        start = time.perf_counter()
        data = export_tflite(model, quantize)
        print(f"converted {label}: {time.perf_counter() - start:.1f} s")
        runners[label], sizes[label] = tflite_classifier(data), len(data)
    expected = [runners["Keras"](batch) for batch in batches]
    for run in runners.values():  # warm up every runner once
        run(batches[0])
    times: dict[str, list[float]] = {label: [] for label in runners}
    for i in range(args.rounds):
        batch = batches[i % len(batches)]
        for label, run in runners.items():
            start = time.perf_counter()
            run(batch)
            times[label].append(time.perf_counter() - start)
    keras_ms = statistics.median(times["Keras"]) * 1e3
    print(f"\n{args.model}, {len(batches)} photos, {args.rounds} rounds, median per photo (batch of 1):")
    print(f"{'':22s} {'file MB':>8s} {'ms/photo':>9s} {'vs Keras':>9s} {'max |dp|':>9s} {'top-1 same':>10s}")
    for label, run in runners.items():
        ms = statistics.median(times[label]) * 1e3
        got = [run(batch) for batch in batches]
        worst = max(float(np.abs(g - e).max()) for g, e in zip(got, expected))
        same = sum(int(g.argmax() == e.argmax()) for g, e in zip(got, expected))
        print(f"{label:22s} {sizes[label] / 1e6:8.2f} {ms:9.1f} {ms / keras_ms:8.2f}x {worst:9.1e} "
              f"{same:>5d}/{len(batches)}")
    print("(Keras file: the .keras download; TFLite: model.tflite of the phone zip.)")


if __name__ == "__main__":
    main()
