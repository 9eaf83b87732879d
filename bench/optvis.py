"""Ideal class images: speed against tf-keras-vis, and quality (own model and a second network).

1. Per optimisation step, our compiled ``tf.function`` step against tf-keras-vis 0.8.7
   ``ActivationMaximization`` doing the same work on the same model (MobileNetV2, 224 px, one view,
   jitter 4 px + rotation 1 degree, total variation + norm regularisers, Adam), timed alternately in
   one run; prints the ratio (target: ours at least 3x faster).
2. "tabby" with the "best looking" recipe on MobileNetV2: the step where p >= 0.9 is first reached
   (target: within 200 steps), and what a second, different network (MobileNet alpha 0.75 at 192 px,
   which never took part in the optimisation) says about the image: p(tabby) and p(any cat).

Needs the ImageNet weights of both models in the Keras cache (``KERAS_HOME``), for example::

    KERAS_HOME=/tmp/keras_home python bench/optvis.py [--steps 200] [--seeds 0 1 2] [--timing-steps 20]

tf-keras-vis is for this benchmark only (not a dependency of the app):
``pip install tf-keras-vis==0.8.7``. Without it, part 1 says so and part 2 still runs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import explorer  # noqa: E402
from explorer import optvis  # noqa: E402

SAME_WORK = dict(param="pixels", optimizer="adam", learning_rate=1.0, ce_weight=1.0, tv_weight=1e-4, l2_weight=0.3,
                 jitter=4, scale=0.0, rotation=1.0, views=1)


def time_ours(model, steps: int) -> float:
    explorer.ideal_image(model, explorer.TABBY, steps=2, **SAME_WORK)  # trace once (cached afterwards)
    start = time.perf_counter()
    explorer.ideal_image(model, explorer.TABBY, steps=steps, **SAME_WORK)
    return (time.perf_counter() - start) / steps


def make_tf_keras_vis(model):
    """A tf-keras-vis run doing the same work as SAME_WORK, or the reason it cannot run here."""
    try:
        import tensorflow as tf
        from tf_keras_vis.activation_maximization import ActivationMaximization
        from tf_keras_vis.activation_maximization.input_modifiers import Jitter, Rotate2D
        from tf_keras_vis.activation_maximization.regularizers import Norm, TotalVariation2D
        from tf_keras_vis.utils.scores import CategoricalScore
    except ImportError as exc:
        return None, f"tf-keras-vis is not installed ({exc}); pip install tf-keras-vis==0.8.7"
    visualizer = ActivationMaximization(model, clone=False)
    seed_input = np.random.default_rng(0).uniform(100, 155, (1, 224, 224, 3)).astype("float32")

    def run(steps):
        return visualizer(CategoricalScore(explorer.TABBY), seed_input=seed_input, input_range=(0, 255),
                          input_modifiers=[Jitter(jitter=4), Rotate2D(degree=1)],
                          regularizers=[TotalVariation2D(weight=1.0), Norm(weight=0.3, p=2)], steps=steps,
                          optimizer=tf.keras.optimizers.Adam(1.0))

    try:
        run(2)
    except Exception as exc:  # report exactly why it cannot run with this Keras
        return None, f"tf-keras-vis failed with Keras {__import__('keras').__version__}: {type(exc).__name__}: {exc}"
    return run, None


def time_theirs(run, steps: int) -> float:
    start = time.perf_counter()
    run(steps)
    return (time.perf_counter() - start) / steps


def speed(model, steps: int, rounds: int = 2) -> None:
    print(f"== Speed per step: MobileNetV2 224 px, same work, {steps} steps, {rounds} alternating rounds")
    run, why = make_tf_keras_vis(model)
    ours, theirs = [], []
    for _ in range(rounds):
        ours.append(time_ours(model, steps))
        if run is not None:
            theirs.append(time_theirs(run, steps))
    a = statistics.median(ours)
    print(f"  ours (compiled tf.function step):        {1000 * a:7.1f} ms/step")
    if run is None:
        print(f"  tf-keras-vis ActivationMaximization:     not run: {why}")
        return
    b = statistics.median(theirs)
    print(f"  tf-keras-vis 0.8.7 ActivationMaximization: {1000 * b:7.1f} ms/step")
    print(f"  ratio: ours is {b / a:.1f}x faster (target >= 3x)")


def quality(model, second, steps: int, seeds) -> None:
    print(f"== Quality: 'tabby' ({explorer.TABBY}), preset 'best looking', {steps} steps on MobileNetV2; "
          "judged by MobileNet a=0.75/192 too")
    cats = list(explorer.CAT_CLASSES)
    rows = []
    for seed in seeds:
        result = explorer.ideal_image(model, explorer.TABBY, steps=steps, seed=seed, preset="best looking")
        reached = next((i + 1 for i, p in enumerate(result.history) if p >= 0.9), None)
        p2 = optvis.predict(second, result.image)
        top = explorer.decode(p2, 1)[0]
        rows.append((result.probability, p2[explorer.TABBY], p2[cats].sum(), top[1] in
                     [explorer.class_name(c) for c in cats]))
        print(f"  seed {seed}: own p(tabby) {result.probability:.3f}, p>=0.9 first at step {reached}, "
              f"{result.seconds / result.steps * 1000:.0f} ms/step | second network: p(tabby) {p2[explorer.TABBY]:.3f}, "
              f"p(any cat) {p2[cats].sum():.3f}, top-1 '{top[1]}' ({top[2]:.2f})")
    own, tabby2, cat2, top_cat = zip(*rows)
    print(f"  mean over {len(rows)} seeds: own p {np.mean(own):.3f}; second network p(tabby) {np.mean(tabby2):.3f}, "
          f"p(any cat) {np.mean(cat2):.3f}, top-1 is a cat in {sum(top_cat)}/{len(rows)}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--timing-steps", type=int, default=20)
    parser.add_argument("--skip-quality", action="store_true")
    args = parser.parse_args(argv)
    model = explorer.load_model("mobilenet_v2")
    speed(model, args.timing_steps)
    if not args.skip_quality:
        second = explorer.load_model("mobilenet", alpha=0.75, input_shape=(192, 192, 3))
        quality(model, second, args.steps, args.seeds)


if __name__ == "__main__":
    main()
