"""Warm the shared run cache: the quick-pick classes on the default model, as the page paints them.

    python -m explorer.warm                 # tabby, Siamese cat, zebra on every network here, 300 steps
    CNN_EXPLORER_CACHE_DIR=~/.cache/cnn-explorer/runs python -m explorer.warm

Runs exactly what the *Ideal class image* page submits when a student presses Paint on a quick pick with
the default settings (the "best looking" run and its plain-noise comparison), all at once through the
scheduler (so they share batched steps), and keeps the results in the run cache: a student asking for
them later gets the finished run at once. The cache lives in the server process, so either

- start the server with ``CNN_EXPLORER_WARM=1`` (``streamlit_app.py`` then warms in the background at
  start; students' runs join the warm-up runs if they ask first), or
- run this command with ``CNN_EXPLORER_CACHE_DIR`` set, and start the server with the same value: the
  results are read from that folder (and survive restarts).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time

from .runtime import WeakCache

WARM_ENV = "CNN_EXPLORER_WARM"
PRECOMPILE_ENV = "CNN_EXPLORER_PRECOMPILE"  # "0": the page does not compile the Paint steps in the background
DEFAULT_MODEL = "mobilenet_v2"
DEFAULT_STEPS = 300  # the page's default run length: optvis.PRESETS["best looking"]["steps"] (a test checks)


def page_runs(model, target: int, steps: int = DEFAULT_STEPS, compare: bool = True) -> list[dict]:
    """The ``explorer.paint`` keyword arguments of what the page submits for a default Paint press:
    the "best looking" run, then (``compare``) the plain-noise comparison."""
    from .optvis import lesson_learning_rate, options_for

    o = options_for("best looking")
    frame_every = max(1, steps // 20)
    main = dict(param=o["param"], optimizer=o["optimizer"], learning_rate=o["learning_rate"],
                tv_weight=o["tv_weight"], l2_weight=o["l2_weight"], jitter=o["jitter"], scale=o["scale"],
                rotation=int(o["rotation"]), ce_weight=1.0, frame_every=frame_every)
    runs = [dict(target=target, steps=steps, seed=0, **main)]
    if compare:
        plain = options_for("plain noise", learning_rate=lesson_learning_rate(model), frame_every=frame_every)
        plain.pop("steps")
        runs.append(dict(target=target, steps=steps, seed=0, **plain))
    return runs


def quick_picks() -> list[int]:
    from .data.imagenet import SIAMESE_CAT, TABBY, ZEBRA

    return [TABBY, SIAMESE_CAT, ZEBRA]


#: Families light enough to paint for all at once by default: MobileNetV2 + MobileNet 0.75 + 0.25 paint a
#: 300-step picture in 64-100 s on the 2-core box with other work beside it. With VGG-16 (15 billion
#: multiply-adds a look, 50x MobileNetV2) among them a run would take many minutes: the page then paints on
#: one network unless the teacher turns "all networks" on.
LIGHT_FAMILIES = ("MobileNet",)


def paint_together(keys) -> bool:
    """Whether the page paints for all of ``keys`` (zoo variant keys) at once by default: two or more,
    every one of a light family."""
    from .models.zoo import VARIANTS

    return len(keys) > 1 and all(VARIANTS[k].info.family in LIGHT_FAMILIES for k in keys)


def default_painter():
    """What the page paints on by default: every network with ImageNet weights here, as one
    :func:`explorer.ensemble_classifier` (members in registry order, named by their titles, as the page
    builds it), when :func:`paint_together` says so; else MobileNetV2 alone (on a fresh machine, the
    bundled model)."""
    from .models.ensemble import ensemble_of
    from .models.zoo import load_model, pretrained_here

    here = pretrained_here()
    return ensemble_of(here) if paint_together(here) else load_model(DEFAULT_MODEL)


def warm(model=None, classes=None, steps: int = DEFAULT_STEPS, report=print) -> dict:
    """Paint the page's default runs for ``classes`` (default: the quick picks) on ``model`` (default:
    :func:`default_painter`) into the process's run cache; returns timings."""
    from .optvis.batching import paint

    start = time.perf_counter()
    model = default_painter() if model is None else model
    loaded = time.perf_counter()
    subs = [paint(model, **kwargs)
            for target in (classes or quick_picks()) for kwargs in page_runs(model, target, steps)]
    for sub in subs:
        with sub:
            state = sub.run.wait_finished(None).state
        run = sub.run
        if run.error is not None:
            report(f"class {run.result.target if run.result else '?'}: {run.error}")
        else:
            report(f"class {run.result.target}: {state}{' (already cached)' if run.cached else ''}, "
                   f"p = {run.result.probability:.3f} after {run.result.steps} steps")
    done = time.perf_counter()
    return {"runs": len(subs), "load_s": loaded - start, "paint_s": done - loaded, "total_s": done - start}


def compile_page_steps(model) -> float:
    """Trace the compiled steps a default Paint press uses on ``model`` (the regularised run's and the
    plain-noise comparison's), for a stack of one run and for a batch; returns the seconds it took.

    The first press on a fresh server otherwise waits for TensorFlow to trace each step (several seconds,
    Python-bound, so every other student's page waits too). Nothing is painted or cached: two throwaway
    steps of each structure, stepped directly, not through the scheduler.
    """
    from .optvis.render import PaintRun, step_runs

    start = time.perf_counter()
    for kwargs in page_runs(model, 0, 2):
        kwargs = dict(kwargs)
        target, steps, seed = kwargs.pop("target"), kwargs.pop("steps"), kwargs.pop("seed")
        step_runs([PaintRun(model, target, steps, seed, **kwargs)])  # a stack of one: a lone student
        step_runs([PaintRun(model, target + i, steps, seed, **kwargs) for i in range(2)])  # any batch size
    return time.perf_counter() - start


_compiled = WeakCache()  # model -> True once its background compilation has started


def compile_in_background(model) -> bool:
    """:func:`compile_page_steps` on a daemon thread, once per model object; True if it started now.

    The *Ideal class image* page calls it when it opens a model, so the teacher opening the page before
    class has already paid for the compilation when the class presses Paint. ``CNN_EXPLORER_PRECOMPILE=0``
    turns it off (the tests do, so that no background step runs while they count compiled steps).
    """
    if os.environ.get(PRECOMPILE_ENV, "1") in ("0", "false", "no"):
        return False
    started = []

    def start() -> bool:
        threading.Thread(target=_compile_quietly, args=(model,), name="explorer-compile",
                         daemon=True).start()
        started.append(True)
        return True

    _compiled.get(model, start)
    return bool(started)


def _compile_quietly(model) -> None:
    try:
        compile_page_steps(model)
    except Exception:  # noqa: BLE001  (a model the page cannot paint: its own run reports the error)
        pass


_started = False
_start_lock = threading.Lock()


def start_background() -> bool:
    """Warm in a background thread, once per process, if ``CNN_EXPLORER_WARM=1``; True if it started."""
    global _started
    if os.environ.get(WARM_ENV, "") not in ("1", "true", "yes"):
        return False
    with _start_lock:
        if _started:
            return False
        _started = True
    threading.Thread(target=warm, kwargs=dict(report=lambda line: None), name="explorer-warm", daemon=True).start()
    return True


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="", help="a zoo model to paint on alone (default: the page's default, "
                                                    "every network with weights here)")
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS)
    parser.add_argument("--classes", default="", help="comma-separated ImageNet class indices (default: quick picks)")
    args = parser.parse_args(argv)
    from . import runtime
    from .serving.runs import CACHE_DIR_ENV
    from .models.zoo import load_model

    runtime.configure()
    if not os.environ.get(CACHE_DIR_ENV):
        print(f"Note: {CACHE_DIR_ENV} is not set, so these results stay in this process only. Set it here and "
              "for the server, or start the server with CNN_EXPLORER_WARM=1.", file=sys.stderr)
    classes = [int(c) for c in args.classes.split(",") if c.strip()] or None
    timing = warm(load_model(args.model) if args.model else None, classes, args.steps)
    print(f"warmed runs={timing['runs']} model={args.model or 'default'} steps={args.steps} paint={timing['paint_s']:.0f}s "
          f"total={timing['total_s']:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
