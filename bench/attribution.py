"""Benchmark: the five explanation methods against one Grad-CAM, their faithfulness and the sanity check.

Run: ``python bench/attribution.py [--repeats 3] [--sanity-photos 5] [--parts cost,faithfulness,sanity]`` (MobileNetV2 with its ImageNet
weights, offline). Prints three markdown tables (the README's "Which explanation can we trust?"):

1. cost: ms per map of each method (library defaults and the page's lighter settings), medians of
   interleaved runs (A, B, C, A, B, C...) so background load hits every method alike, and the ratio to
   one Grad-CAM measured in the same run;
2. faithfulness: for five photos the tests never tuned on (tests use ../shared/fixtures/images/cat.jpg),
   the mean p(class) over 10%-50% of the photo greyed in the map's order vs in random orders (lower:
   the class fell faster), and on how many photos the map's order beat random;
3. the sanity check: Spearman rank correlation of each map with the trained network's after
   randomising the top 1, 4 and all blocks (mean over the photos; 1: unchanged, 0: unrelated).
"""

from __future__ import annotations

import argparse
import statistics
import time

import _offline  # noqa: F401  (KERAS_HOME -> the offline fixtures; repository on sys.path)

import numpy as np  # noqa: E402

import explorer  # noqa: E402
from explorer.explain import METHODS, TITLES, explain, sanity  # noqa: E402
from explorer.explain.base import subject  # noqa: E402
from explorer.explain.deletion import curve_of, random_curve  # noqa: E402

FIXTURES = _offline.FIXTURES / "images"
SAMPLES = _offline.ROOT / "assets" / "samples"
PHOTOS = {"dog": FIXTURES / "dog.jpg", "parrot": FIXTURES / "parrot.jpg", "astronaut": SAMPLES / "astronaut.jpg",
          "coffee": SAMPLES / "coffee.jpg", "rocket": SAMPLES / "rocket.jpg"}
PAGE = {"integrated_gradients": {"steps": 16}, "smoothgrad": {"samples": 16}, "occlusion": {"patch": 32, "stride": 16}}


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
        print(f"| {name} ({label}, {subj.probabilities[subj.target]:.2f}) | {random_score:.3f} | " + " | ".join(cells) + " |")
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sanity-photos", type=int, default=5)
    parser.add_argument("--parts", default="cost,faithfulness,sanity", help="which tables, comma-separated")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    model = explorer.load_model("mobilenet_v2")
    if "cost" in parts:
        cost(model, explorer.load_image(PHOTOS["dog"]), args.repeats)
    if "faithfulness" in parts:
        faithfulness(model, PHOTOS)
    if "sanity" in parts:
        sanity_table(model, dict(list(PHOTOS.items())[:args.sanity_photos]))


if __name__ == "__main__":
    main()
