"""Benchmark: the five explanation methods against one Grad-CAM, their faithfulness and the sanity check.

Run: ``python bench/attribution.py [--repeats 3] [--sanity-photos 5] [--parts cost,faithfulness,sanity,plusplus]
[--model mobilenet_v2] [--layers A,B]`` (ImageNet weights, offline). Prints the markdown tables of the README's
"Which explanation can we trust?":

1. cost: ms per map of each method (library defaults and the page's lighter settings), medians of
   interleaved runs (A, B, C, A, B, C...) so background load hits every method alike, and the ratio to
   one Grad-CAM measured in the same run;
2. faithfulness: for five photos the tests never tuned on (tests use ../shared/fixtures/images/cat.jpg),
   the mean p(class) over 10%-50% of the photo greyed in the map's order vs in random orders (lower:
   the class fell faster), and on how many photos the map's order beat random;
3. the sanity check: Spearman rank correlation of each map with the trained network's after
   randomising the top 1, 4 and all blocks (mean over the photos; 1: unchanged, 0: unrelated);
4. ``plusplus``: why Grad-CAM++ loses the deletion test here. At each layer (``--layers``; default the
   last feature maps): whether the gradient is the same at every place of a channel, the rank
   correlation of Grad-CAM++ with Grad-CAM counting only positive gradients (Lerma & Lucas, 2022: equal
   when the maps are averaged into the class layer), and the three deletion scores against random.
"""

from __future__ import annotations

import argparse
import statistics
import time

import _offline  # noqa: F401  (KERAS_HOME -> the offline fixtures; repository on sys.path)

import numpy as np  # noqa: E402

import explorer  # noqa: E402
from explorer.explain import METHODS, TITLES, explain, sanity  # noqa: E402
from explorer.explain.base import log_prob, on_grid, scaled, subject  # noqa: E402
from explorer.explain.deletion import cell_means, curve_of, random_curve  # noqa: E402
from explorer.explain.gradcam import cams  # noqa: E402
from explorer.explain.methods import CLASSROOM_OPTIONS  # noqa: E402
from explorer.inspect.features import extractor  # noqa: E402

FIXTURES = _offline.FIXTURES / "images"
SAMPLES = _offline.ROOT / "assets" / "samples"
PHOTOS = {"dog": FIXTURES / "dog.jpg", "parrot": FIXTURES / "parrot.jpg", "astronaut": SAMPLES / "astronaut.jpg",
          "coffee": SAMPLES / "coffee.jpg", "rocket": SAMPLES / "rocket.jpg"}
PAGE = CLASSROOM_OPTIONS  # the page's lighter settings


def cost(model, photo, repeats: int) -> None:
    runs = [("defaults", m, {}) for m in METHODS] + [("page", m, PAGE[m]) for m in PAGE]
    for _, m, opts in runs:  # compile and warm
        explain(model, photo, m, **opts)
    times: dict = {i: [] for i in range(len(runs))}
    for _ in range(repeats):
        for i, (_, m, opts) in enumerate(runs):
            start = time.perf_counter()
            explain(model, photo, m, **opts)
            times[i].append(time.perf_counter() - start)
    base = statistics.median(times[0])
    print("| method | settings | ms per map | x one Grad-CAM |\n|---|---|---:|---:|")
    for i, (kind, m, _) in enumerate(runs):
        ms = statistics.median(times[i])
        settings = explain(model, photo, runs[i][1], **runs[i][2]).options
        shown = ", ".join(f"{k} {v}" for k, v in settings.items() if k != "layer") or "-"
        print(f"| {TITLES[m]} | {shown} ({kind}) | {1000 * ms:.0f} | {ms / base:.1f} |")


def faithfulness(model, photos: dict) -> None:
    print("\n| photo (class, p) | random | " + " | ".join(TITLES[m] for m in METHODS) + " |")
    print("|---|---:|" + "---:|" * len(METHODS))
    wins = {m: 0 for m in METHODS}
    for name, path in photos.items():
        img = explorer.load_image(path)
        subj = subject(model, img)
        rnd = random_curve(model, subj)
        cells = []
        for m in METHODS:
            curve = curve_of(model, subj, explain(model, img, m).view, m, rnd)
            wins[m] += curve.faithful
            cells.append(f"{curve.score:.3f}" + (" ✓" if curve.faithful else ""))
            random_score = curve.random_score
        label = explorer.class_names_of(model)[subj.target]
        fragile = ", too fragile to judge" if curve.fragile else ""  # random orders keep < 5% of the start
        print(f"| {name} ({label}, {subj.probabilities[subj.target]:.2f}{fragile}) | {random_score:.3f} | "
              + " | ".join(cells) + " |")
    print("| **beat random** | | " + " | ".join(f"**{wins[m]} of {len(photos)}**" for m in METHODS) + " |")


def sanity_table(model, photos: dict) -> None:
    count = len(sanity.weight_blocks(model))
    depths = (1, 4, count)
    found = {d: {m: [] for m in METHODS} for d in depths}
    for path in photos.values():
        check = explorer.sanity_check(model, explorer.load_image(path), depths=depths)
        for step in check.steps:
            for m in METHODS:
                found[len(step.blocks)][m].append(step.correlation[m])
    print(f"\n| blocks randomised (of {count}) | " + " | ".join(TITLES[m] for m in METHODS) + " |")
    print("|---|" + "---:|" * len(METHODS))
    for d in depths:
        print(f"| top {d} | " + " | ".join(f"{np.mean(found[d][m]):.2f}" for m in METHODS) + " |")


def positive_gradcam(model, subj, layer: str) -> np.ndarray:
    """Grad-CAM with each channel weighted by the mean of its positive gradient only (by hand, eagerly)."""
    import tensorflow as tf

    ext = extractor(model, (layer,))
    with tf.GradientTape() as tape:
        maps, probs = ext.model(tf.constant(subj.pixels), training=False)[:2]
        score = tf.reduce_sum(log_prob(probs, subj.target))
    grads = tape.gradient(score, maps)
    return tf.reduce_sum(tf.reduce_mean(tf.nn.relu(grads), axis=(1, 2), keepdims=True) * maps, axis=-1)[0].numpy()


def plusplus(model, photos: dict, layers: list[str]) -> None:
    print("\n| photo | layer | same gradient everywhere | Spearman(Grad-CAM++, positive-gradient Grad-CAM) "
          "| random | Grad-CAM | positive-gradient Grad-CAM | Grad-CAM++ |\n|---|---|---|---:|---:|---:|---:|---:|")
    wins: dict = {}
    for name, path in photos.items():
        subj = subject(model, explorer.load_image(path))
        rnd = random_curve(model, subj)
        for layer in layers:
            cam, plus, layer, same = cams(model, subj, layer)
            grids = {k: on_grid(scaled(m, "peak"), subj.size)
                     for k, m in (("cam", cam), ("pos", positive_gradcam(model, subj, layer)), ("++", plus))}
            rho = sanity.spearman(cell_means(grids["pos"]), cell_means(grids["++"]))
            cells = []
            for k, grid in grids.items():
                curve = curve_of(model, subj, grid, k, rnd)
                wins[layer, k] = wins.get((layer, k), 0) + curve.faithful
                cells.append(f"{curve.score:.3f}" + (" ✓" if curve.faithful else ""))
            print(f"| {name} | {layer} | {'yes' if same else 'no'} | {rho:.3f} | {curve.random_score:.3f} | "
                  + " | ".join(cells) + " |")
    for layer in dict.fromkeys(layer for layer, _ in wins):
        print(f"| **beat random** | {layer} | | | | " + " | ".join(
            f"**{wins[layer, k]} of {len(photos)}**" for k in ("cam", "pos", "++")) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sanity-photos", type=int, default=5)
    parser.add_argument("--parts", default="cost,faithfulness,sanity", help="which tables, comma-separated")
    parser.add_argument("--model", default="mobilenet_v2", help="a zoo key whose ImageNet weights are here")
    parser.add_argument("--layers", default="", help="plusplus: layers to compare, comma-separated (default: the last "
                                                     "feature maps)")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    model = explorer.VARIANTS[args.model].load()
    if "cost" in parts:
        cost(model, explorer.load_image(PHOTOS["dog"]), args.repeats)
    if "faithfulness" in parts:
        faithfulness(model, PHOTOS)
    if "sanity" in parts:
        sanity_table(model, dict(list(PHOTOS.items())[:args.sanity_photos]))
    if "plusplus" in parts:
        plusplus(model, PHOTOS, [layer or None for layer in args.layers.split(",")])


if __name__ == "__main__":
    main()
