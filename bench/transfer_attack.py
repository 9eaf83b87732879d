"""Benchmark: do attacks on an ensemble transfer to a network left out of it better than single-model attacks?

Run from the repository root: ``python bench/transfer_attack.py`` (``--quick``: one judge, fewer photos).

The three networks with real ImageNet weights in ../shared/fixtures/keras_home: MobileNetV2 (224 px),
MobileNet alpha 0.75 (192 px) and MobileNet alpha 0.25 (128 px). For each choice of judge, the other
two form the ensemble. Every photo (fixture photos + shipped samples) is attacked towards a few target
classes by targeted PGD at epsilon = 8 pixel levels (20 steps, until 99% sure):
- once against the ensemble of the two (``explorer.adversarial([a, b], ...)``),
- once against each of the two alone,
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
from explorer.attacks import single as attacks  # noqa: E402
from explorer.data.samples import SAMPLES, sample_image  # noqa: E402

EPSILON, STEPS = 8, 20
# Stop only once every attacked network is 99% sure: an attack that just tips the top-1 class over the
# line (the default stopping rule) sits right at the attacked networks' decision boundary and rarely
# carries over to another network.
CONFIDENCE = 0.99
TARGETS = {"tabby": 281, "goldfish": 1, "school bus": 779}
NETWORKS = {
    "MobileNetV2 224": dict(name="mobilenet_v2"),
    "MobileNet 0.75 192": dict(name="mobilenet", alpha=0.75, input_shape=(192, 192, 3)),
    "MobileNet 0.25 128": dict(name="mobilenet", alpha=0.25, input_shape=(128, 128, 3)),
}


def photos(quick: bool) -> dict[str, np.ndarray]:
    found = {p.name: explorer.load_image(p) for p in sorted((FIXTURES / "images").glob("*.jpg"))}
    if not quick:
        found.update({name: sample_image(name) for name in SAMPLES})
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one judge (MobileNet 0.25) and the fixture photos only")
    args = parser.parse_args()
    models = {label: explorer.load_model(**spec) for label, spec in NETWORKS.items()}
    images = photos(args.quick)
    judges = list(models)[-1:] if args.quick else list(models)
    print(f"PGD, epsilon = {EPSILON} pixel levels, up to {STEPS} steps until p >= {CONFIDENCE}; "
          f"{len(images)} photos x {len(TARGETS)} targets "
          f"({', '.join(TARGETS)}); fooled = the left-out judge's top-1 is the target\n")
    totals: dict[str, list[int]] = {}
    start = time.perf_counter()
    for judge_label in judges:
        judge = models[judge_label]
        attacked = [label for label in models if label != judge_label]
        setups = {" + ".join(attacked): [models[a] for a in attacked], **{a: models[a] for a in attacked}}
        counts = {setup: [0, 0, [], 0] for setup in setups}  # fooled, attacks, p(target), judge changed
        for image in images.values():
            seen_before = int(np.argmax(attacks.predict(judge, image)))
            for target in TARGETS.values():
                for setup, victim in setups.items():
                    result = explorer.adversarial(victim, image, target, epsilon=EPSILON, steps=STEPS,
                                                 confidence=CONFIDENCE)
                    probs = attacks.predict(judge, result.image)
                    counts[setup][0] += int(np.argmax(probs)) == target
                    counts[setup][1] += 1
                    counts[setup][2].append(float(probs[target]))
                    counts[setup][3] += int(np.argmax(probs)) != seen_before
        print(f"judge: {judge_label}")
        for setup, (fooled, total, p, changed) in counts.items():
            kind = "ensemble" if "+" in setup else "single  "
            print(f"  {kind} attack on {setup:42s} fooled {fooled:2d} / {total}   changed its mind {changed:2d} / "
                  f"{total}   mean p(target) {np.mean(p):.3f}")
            key = "ensemble" if "+" in setup else "single"
            totals.setdefault(key, [0, 0, 0])
            totals[key][0] += fooled
            totals[key][1] += total
            totals[key][2] += changed
        print()
    ens, single = totals["ensemble"], totals["single"]
    for what, i in (("fooled", 0), ("changed its mind", 2)):
        print(f"all judges, {what}: ensemble {ens[i]} / {ens[1]} ({ens[i] / ens[1]:.0%}), single-model "
              f"{single[i]} / {single[1]} ({single[i] / single[1]:.0%}), ratio of rates "
              f"{(ens[i] / ens[1]) / max(single[i] / single[1], 1e-9):.1f}x")
    print(f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
