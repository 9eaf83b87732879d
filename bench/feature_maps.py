"""Benchmark: feature maps of all 13 VGG16 conv layers vs one plain compiled forward pass (the floor).

Run: ``python bench/feature_maps.py [--repeats 15]``. Random weights (timing does not depend on them).
Prints medians of interleaved runs (A, B, C, A, B, C, ...) so background load hits all sides alike:

- floor: ``tf.function(model)(x)`` for one 224x224 image, predictions to numpy;
- ``explorer.feature_maps(model, image)``: all 13 conv layers from one cached multi-output model,
  including fitting the image and copying every map to numpy (target: at most 1.5x the floor);
- naive: one model per layer (13 passes), for contrast.

Memory: peak Python/numpy allocation (tracemalloc) while tiling the largest layer (block1_conv1,
224x224x64 float32) into a colour grid, compared with the size of that tensor.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import explorer  # noqa: E402
from explorer.inspect import features  # noqa: E402


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()

    model = explorer.load_model("vgg16", weights=None)
    image = np.random.default_rng(0).integers(0, 256, (224, 224, 3), dtype=np.uint8)
    x = tf.constant(image[None].astype(np.float32))
    names = features.conv_layers(model)
    assert len(names) == 13

    plain = tf.function(lambda t: model(t, training=False))
    singles = [tf.function(keras.Model(model.inputs[0], model.get_layer(n).output)) for n in names]
    runs = {
        "plain forward (floor)": lambda: plain(x).numpy(),
        "feature_maps, 13 layers": lambda: explorer.feature_maps(model, image),
        "naive, 13 models": lambda: [f(x).numpy() for f in singles],
    }
    for fn in runs.values():  # trace and warm up
        fn()
        fn()
    times = {name: [] for name in runs}
    for _ in range(args.repeats):
        for name, fn in runs.items():
            times[name].append(_timed(fn))
    floor = statistics.median(times["plain forward (floor)"])
    print(f"VGG16, one 224x224 image, {args.repeats} interleaved runs, {os.cpu_count()} CPU cores (median):")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"  {name:<26} {med * 1000:8.1f} ms   {med / floor:5.2f}x the floor")
    ratio = statistics.median(times["feature_maps, 13 layers"]) / floor
    print(f"RATIO feature_maps / plain forward = {ratio:.2f} (target <= 1.5): {'OK' if ratio <= 1.5 else 'OVER'}")

    fmap = explorer.feature_maps(model, image, "block1_conv1")["block1_conv1"]
    features.channel_grid(fmap[:2, :2, :2]).to_rgb()  # imports (plotly colour scales) outside the trace
    tracemalloc.start()
    grid = features.channel_grid(fmap, scale="channel", pad=4)
    rgb = grid.to_rgb()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    tile = fmap.shape[0] * fmap.shape[1] * 4
    print(f"Memory, grid of block1_conv1 {fmap.shape} ({fmap.nbytes / 1e6:.1f} MB float32):")
    print(f"  peak allocation {peak / 1e6:.1f} MB = uint8 grid {grid.image.nbytes / 1e6:.1f} MB + RGB "
          f"{rgb.nbytes / 1e6:.1f} MB + one-channel float buffer {tile / 1e6:.2f} MB; "
          f"{peak / fmap.nbytes:.2f}x the tensor (no float copy of the whole tensor is made)")


if __name__ == "__main__":
    main()
