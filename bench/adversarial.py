"""Benchmark: how often targeted attacks fool MobileNetV2 at a budget of one pixel level, and how fast.

Run from the repository root: ``python bench/adversarial.py`` (``--quick``: fewer photos and classes).

Prints, side by side in one run:
- the default attack (``attacks.DEFAULTS``: 2 levels, until p >= 0.9) on every photo, target tabby
  (``--defaults``: only this);
- success rate and steps to success of PGD, FGSM and the lesson's plain gradient descent at epsilon = 1
  level (20 steps at most), for every photo (the fixture photos in ../shared/fixtures/images and the
  shipped samples) and every ImageNet cat class (281-285); the saved uint8 image is what is checked;
- how often the attack transfers to a second network (MobileNet alpha 0.75, 192 px);
- the time per attack step, compiled (one tf.function) against the same step run eagerly, and the ratio.

Needs the offline ImageNet weights of ../shared/fixtures/keras_home (copied to a temporary KERAS_HOME).
"""

from __future__ import annotations

import argparse
import statistics
import time

from _offline import FIXTURES  # first: KERAS_HOME and sys.path

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import explorer  # noqa: E402
from explorer.attacks import single as attacks, verdicts  # noqa: E402
from explorer.data.samples import SAMPLES, sample_image  # noqa: E402

EPSILON, STEPS = 1, 20


def photos(quick: bool) -> dict[str, np.ndarray]:
    found = {p.name: explorer.load_image(p) for p in sorted((FIXTURES / "images").glob("*.jpg"))}
    if not quick:
        found.update({name: sample_image(name) for name in SAMPLES if "Cat" not in name})
    return found


def attack_table(model, second, images, targets, method):
    rows = []
    for name, image in images.items():
        for target in targets:
            if int(np.argmax(attacks.predict(model, image))) == target:
                continue  # already that class: nothing to attack
            result = explorer.adversarial(model, image, target, epsilon=EPSILON, steps=STEPS, method=method,
                                          confidence=0.0)  # the first flip, not the default p >= 0.9
            check = verdicts.check_transfer(second, image, result.image, explorer.class_name(target))
            rows.append((name, target, result, check))
    return rows


def summarise(method: str, rows) -> None:
    wins = [r for _, _, r, _ in rows if r.success]
    steps = [r.steps for r in wins]
    transfer = sum(c.fooled for _, _, _, c in rows)
    print(f"{method:7} success {len(wins):3d}/{len(rows):<3d} ({len(wins) / len(rows):6.1%})  "
          f"steps to success median {statistics.median(steps) if steps else float('nan'):4.1f} "
          f"max {max(steps) if steps else 0:2d}  L_inf max {max(r.linf for _, _, r, _ in rows):.0f}  "
          f"transfers to MobileNet-0.75: {transfer}/{len(rows)}")


def step_timing(model, image, repeats: int = 10) -> tuple[float, float]:
    """Seconds per attack step: the compiled step against the same Python function run eagerly."""
    step = attacks.compiled_step(model)
    x0 = tf.constant(image, tf.float32)
    args = (x0, tf.zeros_like(x0), tf.zeros_like(x0), tf.constant(explorer.TABBY), tf.constant(1.0),
            tf.constant(1.0), tf.constant(attacks.PGD_MOMENTUM), tf.constant(True))
    timings = {}
    for label, fn in (("compiled", step), ("eager", step.python_function)):
        fn(*args)  # warm up (tracing for the compiled one)
        start = time.perf_counter()
        for _ in range(repeats):
            fn(*args)[0].numpy()
        timings[label] = (time.perf_counter() - start) / repeats
    return timings["compiled"], timings["eager"]


def default_payoff(model, images) -> None:
    """The default attack (attacks.DEFAULTS, the page's defaults too) on every photo, target tabby."""
    d = attacks.DEFAULTS
    print(f"Default attack: {d['method']}, epsilon = {d['epsilon']} levels, until p >= {d['confidence']}, "
          f"at most {d['steps']} steps; MobileNetV2, target tabby (photos as the page attacks them)")
    sure = 0
    for name, image in images.items():
        result = explorer.adversarial(model, attacks.shrink(image, 768), explorer.TABBY)
        sure += result.success
        print(f"    {name:14} {'sure' if result.success else 'not yet':7} p {result.probs_after[explorer.TABBY]:.3f} "
              f"steps {result.steps:2d}  L_inf {result.linf:.0f}  {result.seconds:.1f} s")
    print(f"default attack sure (p >= {d['confidence']}) on {sure}/{len(images)} photos")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fixture photos only, two cat classes")
    parser.add_argument("--defaults", action="store_true", help="only the default attack on every photo")
    args = parser.parse_args()
    model = explorer.load_model("mobilenet_v2")
    default_payoff(model, photos(quick=False))
    if args.defaults:
        return
    second = explorer.load_model("mobilenet", alpha=0.75, input_shape=(192, 192, 3))
    images = photos(args.quick)
    targets = (281, 285) if args.quick else explorer.CAT_CLASSES
    print(f"MobileNetV2, targeted to each cat class {list(targets)}, epsilon = {EPSILON} level, "
          f"at most {STEPS} steps, photos: {', '.join(images)}")
    for method in ("pgd", "fgsm", "lesson"):
        rows = attack_table(model, second, images, targets, method)
        summarise(method, rows)
        if method == "pgd":
            for name, target, result, check in rows:
                print(f"    {name:14} -> {explorer.class_name(target):12} {'fooled' if result.success else 'not yet':7} "
                      f"steps {result.steps:2d}  p {result.history[-1]:.3f}  "
                      f"second net: {check.top_after[1]} {check.top_after[2]:.2f}")
    dog = explorer.load_image(FIXTURES / "images" / "dog.jpg")
    compiled, eager = step_timing(model, dog)
    print(f"Per step on dog.jpg {dog.shape[1]}x{dog.shape[0]}: compiled {compiled * 1000:.0f} ms, "
          f"eager {eager * 1000:.0f} ms, compiled is {eager / compiled:.1f}x faster")


if __name__ == "__main__":
    main()
