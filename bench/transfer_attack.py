"""Benchmark: do attacks on an ensemble transfer to a network left out of it, and does "make it transfer" help?

Run from the repository root: ``python bench/transfer_attack.py`` (``--quick``: one judge, the fixture photos;
``--single``: also each attacked network alone, as in the first version of this bench).

The three networks with real ImageNet weights in ../shared/fixtures/keras_home: MobileNetV2 (224 px),
MobileNet alpha 0.75 (192 px) and MobileNet alpha 0.25 (128 px). For each choice of judge, the other
two form the ensemble. Every photo (fixture photos + shipped samples) is attacked towards a few target
classes at epsilon = 8 pixel levels, three ways, against the ensemble of the two
(``explorer.adversarial([a, b], ...)``):
- plain PGD with the page's and the API's stopping rule (stop once both are 90% sure), what a user gets,
- plain PGD until both are 99% sure,
- the transfer mode (``transfer=True``: momentum + input diversity, on until both are 99.99% sure or the
  steps run out),
and the saved uint8 photo is judged by the left-out network. Printed side by side from one run: how
many photos the judge now sees as the target ("fooled"), how many it now sees as something other than
what it saw in the original photo ("changed its mind"), and its mean p(target).
"""

from __future__ import annotations

import argparse
import time

from _offline import FIXTURES  # first: KERAS_HOME and sys.path

import numpy as np  # noqa: E402

import explorer  # noqa: E402
from explorer.attacks import ensemble, single as attacks  # noqa: E402
from explorer.data.samples import SAMPLES, sample_image  # noqa: E402

EPSILON, STEPS = 8, attacks.DEFAULTS["steps"]
# The ways to attack, each with the same budget and step limit. An attack that just tips the attacked
# networks over the line (the default rule) sits right at their decision boundary and rarely carries over
# to another network; the transfer mode runs on and jitters the photo every step.
WAYS = {
    f"plain PGD, default (stops at p >= {attacks.DEFAULTS['confidence']})": dict(),
    "plain PGD, until p >= 0.99": dict(confidence=0.99),
    "make it transfer (momentum + input diversity)": dict(transfer=True),
}
TARGETS = {"tabby": 281, "goldfish": 1, "school bus": 779}
NETWORKS = {"MobileNetV2 224": "mobilenet_v2", "MobileNet 0.75 192": "mobilenet_0.75",
            "MobileNet 0.25 128": "mobilenet_0.25"}


def photos(quick: bool) -> dict[str, np.ndarray]:
    found = {p.name: explorer.load_image(p) for p in sorted((FIXTURES / "images").glob("*.jpg"))}
    if not quick:
        found.update({name: sample_image(name) for name in SAMPLES})
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one judge (MobileNet 0.25) and the fixture photos only")
    parser.add_argument("--single", action="store_true", help="also attack each of the two alone (plain PGD, 0.99)")
    args = parser.parse_args()
    models = {label: explorer.VARIANTS[key].load() for label, key in NETWORKS.items()}
    images = photos(args.quick)
    judges = list(models)[-1:] if args.quick else list(models)
    print(f"epsilon = {EPSILON} pixel levels, up to {STEPS} steps; transfer mode: {dict(ensemble.TRANSFER)}; "
          f"{len(images)} photos x {len(TARGETS)} targets ({', '.join(TARGETS)}); fooled = the left-out judge's "
          "top-1 is the target\n")
    totals: dict[str, list[int]] = {}
    start = time.perf_counter()
    for judge_label in judges:
        judge = models[judge_label]
        attacked = [label for label in models if label != judge_label]
        pair = [models[a] for a in attacked]
        setups = {f"{way}": (pair, settings) for way, settings in WAYS.items()}
        if args.single:
            setups.update({f"single network {a}, until p >= 0.99": (models[a], dict(confidence=0.99))
                           for a in attacked})
        counts = {setup: [0, 0, [], 0, []] for setup in setups}  # fooled, attacks, p(target), changed, steps
        for image in images.values():
            seen_before = int(np.argmax(attacks.predict(judge, image)))
            for target in TARGETS.values():
                for setup, (victim, settings) in setups.items():
                    result = explorer.adversarial(victim, image, target, epsilon=EPSILON, steps=STEPS, **settings)
                    probs = attacks.predict(judge, result.image)
                    counts[setup][0] += int(np.argmax(probs)) == target
                    counts[setup][1] += 1
                    counts[setup][2].append(float(probs[target]))
                    counts[setup][3] += int(np.argmax(probs)) != seen_before
                    counts[setup][4].append(result.steps)
        print(f"judge: {judge_label}, attacked: {' + '.join(attacked)}")
        for setup, (fooled, total, p, changed, steps) in counts.items():
            print(f"  {setup:52s} fooled {fooled:2d} / {total}   changed its mind {changed:2d} / {total}   "
                  f"mean p(target) {np.mean(p):.3f}   steps {np.mean(steps):4.1f}")
            totals.setdefault(setup.split(" network ")[0], [0, 0, 0, []])
            row = totals[setup.split(" network ")[0]]
            row[0] += fooled
            row[1] += total
            row[2] += changed
            row[3] += p
        print()
    print("all judges:")
    for setup, (fooled, total, changed, p) in totals.items():
        print(f"  {setup:52s} fooled {fooled:2d} / {total} ({fooled / total:4.0%})   changed its mind {changed:2d} / "
              f"{total} ({changed / total:4.0%})   mean p(target) {np.mean(p):.3f}")
    print(f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
