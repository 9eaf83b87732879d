"""Ideal class images: speed against tf-keras-vis, and quality (own model and a second network).

1. Per optimisation step, our compiled ``tf.function`` step against tf-keras-vis 0.8.7
   ``ActivationMaximization`` doing the same work on the same model (MobileNetV2, 224 px, one view,
   jitter 4 px + rotation 1 degree, total variation + norm regularisers, Adam), timed alternately in
   one run; prints the ratio (target: ours at least 3x faster).
2. Do networks that did not paint a picture recognise it (issue 24)? Tabby, Siamese cat and zebra, two
   seeds each, with the default recipe ("best looking", 300 steps): painted on MobileNetV2 alone, and
   "for every network here" (:func:`explorer.ensemble_classifier`) with each network in turn left out of
   the painting to judge it. Prints each judge's p(class) and top-1, and the means (target: the default
   picture read as its class at mean p >= 0.5 by a network that did not paint it).

Needs the ImageNet weights of both models in the Keras cache (``KERAS_HOME``), for example::

    KERAS_HOME=/tmp/keras_home python bench/optvis.py [--steps 300] [--seeds 0 1] [--timing-steps 20]
        [--skip-speed] [--skip-quality]

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


CLASSES = {"tabby": explorer.TABBY, "Siamese cat": explorer.SIAMESE_CAT, "zebra": explorer.ZEBRA}
NETWORKS = {"MobileNetV2": "mobilenet_v2", "MobileNet 0.75": "mobilenet_0.75", "MobileNet 0.25": "mobilenet_0.25"}


def judged(painters: list[str], judges: list[str], nets: dict, steps: int, seeds) -> dict:
    """Paint tabby, Siamese cat and zebra (``seeds`` each) with the default recipe on ``painters`` (one
    network, or :func:`explorer.ensemble_classifier` of several) and let each judge, which did not paint,
    say p(class) and whether the class is its top-1. Returns {judge: (mean p, top-1 count, pictures)}."""
    painter = (nets[painters[0]] if len(painters) == 1 else
               explorer.ensemble_classifier([nets[p] for p in painters], names=painters))
    print(f"  painted by {' + '.join(painters)}; judged by {', '.join(judges)} (which did not paint)")
    scores = {j: [] for j in judges}
    for name, target in CLASSES.items():
        for seed in seeds:
            result = explorer.ideal_image(painter, target, steps=steps, seed=seed, preset="best looking")
            words = []
            for j in judges:
                p = optvis.predict(nets[j], result.image)
                scores[j].append((float(p[target]), int(np.argmax(p)) == target))
                words.append(f"{j} p {p[target]:.3f}{' (top-1)' if np.argmax(p) == target else ''}")
            print(f"    {name:11s} seed {seed}: own p {result.probability:.3f} | " + "; ".join(words)
                  + f" | {result.seconds:.0f} s")
    out = {}
    for j, rows in scores.items():
        mean, top = float(np.mean([p for p, _ in rows])), sum(t for _, t in rows)
        out[j] = (mean, top, len(rows))
        print(f"  => {j}: mean p(class) {mean:.3f}, class top-1 in {top}/{len(rows)}")
    return out


def quality(steps: int, seeds) -> None:
    """Do networks that did not paint a picture recognise it? The default recipe ("best looking"), painted
    on MobileNetV2 alone (the page's model on a fresh machine) and for every network here (the page's
    default where several have weights), each time judged only by networks left out of the painting."""
    nets = {name: explorer.VARIANTS[key].load() for name, key in NETWORKS.items()}
    print(f"== Quality: recipe 'best looking', {steps} steps, classes {', '.join(CLASSES)}, seeds {list(seeds)}")
    print("- one network paints:")
    judged(["MobileNetV2"], ["MobileNet 0.75", "MobileNet 0.25"], nets, steps, seeds)
    print("- every network here paints, the judge left out (what 'for every network here' gives an outside one):")
    results = {}
    for judge in NETWORKS:
        painters = [n for n in NETWORKS if n != judge]
        results.update(judged(painters, [judge], nets, steps, seeds))
    strong = results["MobileNet 0.75"]
    print(f"default_recipe_outside_judge mean_p={strong[0]:.3f} top1={strong[1]}/{strong[2]} "
          f"(painted by MobileNetV2 + MobileNet 0.25, judged by MobileNet 0.75; target mean p >= 0.5)")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=300)  # the page's default run
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--timing-steps", type=int, default=20)
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    args = parser.parse_args(argv)
    model = explorer.load_model("mobilenet_v2")
    if not args.skip_speed:
        speed(model, args.timing_steps)
    if not args.skip_quality:
        quality(args.steps, args.seeds)


if __name__ == "__main__":
    main()
