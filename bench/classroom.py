"""A class paints at once: N distinct-class ideal-image runs batched by the scheduler vs one after another.

    python bench/classroom.py --runs 8 --steps 50

Each run is what the *Ideal class image* page submits when a student presses Paint with the default
("best looking") settings on a different class, through the same code path: ``Scheduler.paint`` (the
page calls ``explorer.paint``) and a watcher following the live updates the way the page does, one
thread per student. *Batched*: all N submitted together (the scheduler steps them as one batch).
*Sequential*: the same N runs, each submitted when the previous one has finished (a batch of one each,
which is what the old one-slot queue gave). Both phases use the server's scheduler as it is set up on
this machine (one worker per heavy-work slot: on 2 cores, 2 workers, which step a big batch as two
halves side by side). Each phase uses its own fresh cache, so nothing is replayed;
both are traced once beforehand. ``--rounds R`` (default 3) measures the two phases R times in turns
(batched, sequential, batched, ...): a shared virtual machine's speed drifts by a third within a minute
(the same step measured 45 ms, then 75 ms), and one slow spell in one phase moves a single ratio by as
much. Every round is printed, then the ratio of the totals; the last line is the round with the median
ratio:

    runs=8 batched=41.2s sequential=66.0s ratio=1.60

The line before it gives what batching gains the bare network on this machine: the gradient of its
probability with respect to its input, for one run's views alone (a batch of 2) and for all N runs'
views at once (a batch of 2N), timed in turns in the same process, on the batch-norm-folded copy the
step runs (``explorer.folding``); ``fold_speedup`` is how much faster that copy is than the model as
loaded, for one run's views. Everything else in a step (the Fourier picture, the random views, Adam)
costs about the same per run whether runs share a step or not, so one big batch cannot gain more than
this. ``split_gain`` is the same for the way the scheduler steps a big group: one part per worker,
side by side (on 2 cores, two batches of 8 at once). It is the ceiling of the ratio on this machine
(the parts of a step outside the network gain less than the network does):

    model_only: batch_2=46ms batch_16=257ms one_batch_gain=1.43 split_2x8=240ms split_gain=1.53 fold_speedup=1.18
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# Distinct ImageNet classes a class might pick: Siamese cat, tabby, zebra, then a few more.
CLASSES = [284, 281, 340, 207, 1, 417, 950, 130, 291, 323, 388, 409, 430, 466, 504, 532]


def student(scheduler, model, target, steps, seed, options, results):
    """One student: submit, then follow the live updates as the page does, until the run ends."""
    from explorer.optvis.batching import paint

    sub = paint(model, target, steps=steps, seed=seed, via=scheduler, **options)
    with sub:
        for snap in sub.updates(0.4):
            pass
    results[target] = sub.run


def page_options(model, steps: int) -> dict:
    """The options of the page's default Paint press (without target, steps and seed)."""
    from explorer.warm import page_runs

    return {k: v for k, v in page_runs(model, 0, steps, compare=False)[0].items()
            if k not in ("target", "steps", "seed")}


def phase(model, targets, steps, seed, options, together: bool, max_batch: int | None = None
          ) -> tuple[float, dict, list]:
    """Seconds for the runs of ``targets`` on a fresh scheduler (nothing replayed), submitted together
    or one after another, with their runs and the batch sizes stepped."""
    from explorer.serving.batching import Scheduler
    from explorer.serving.runs import SharedRuns

    # As the server's: one worker per heavy-work slot, the default batch limit unless one is given.
    scheduler = Scheduler(SharedRuns(cache_mb=512), max_batch=max_batch)
    results = {}
    start = time.perf_counter()
    if together:
        threads = [threading.Thread(target=student, args=(scheduler, model, t, steps, seed, options, results))
                   for t in targets]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    else:
        for t in targets:
            student(scheduler, model, t, steps, seed, options, results)
    seconds = time.perf_counter() - start
    batches = list(scheduler.batches)
    scheduler.shutdown()
    return seconds, results, batches


def model_batch_gain(model, runs: int, views: int, workers: int, repeats: int = 5) -> tuple[float, float, float, float]:
    """Median seconds of the bare input gradient of the folded network for a batch of ``views`` images,
    for ``runs * views`` images in one batch, for the same split into ``workers`` parts computed side by
    side (one thread each, as the scheduler's workers do), and of the unfolded model for ``views`` images."""
    import statistics
    from concurrent.futures import ThreadPoolExecutor

    import tensorflow as tf

    from explorer.models.folding import folded

    def gradient_of(network):
        @tf.function(reduce_retracing=True)
        def gradient(x):
            with tf.GradientTape(watch_accessed_variables=False) as tape:
                tape.watch(x)
                loss = -tf.reduce_sum(tf.math.log(network(x, training=False)[:, 281]))
            return tape.gradient(loss, x)
        return gradient

    fast, plain = gradient_of(folded(model)), gradient_of(model)
    h, w = model.inputs[0].shape[1:3]
    small = tf.random.uniform((views, h, w, 3), 0, 255, seed=1)
    large = tf.random.uniform((runs * views, h, w, 3), 0, 255, seed=2)
    parts = tf.split(large, _shares(runs, workers, views))
    pool = ThreadPoolExecutor(len(parts))

    def split():  # one part per thread, side by side, as the scheduler's workers step a group
        for future in [pool.submit(lambda p: fast(p).numpy(), p) for p in parts]:
            future.result()

    cases = {"small": lambda: fast(small).numpy(), "large": lambda: fast(large).numpy(), "split": split,
             "unfolded": lambda: plain(small).numpy()}
    times: dict = {name: [] for name in cases}
    for _ in range(2):  # trace and warm every case
        for case in cases.values():
            case()
    for _ in range(repeats):
        for name, case in cases.items():  # in turns, so a change in the machine's load touches all alike
            start = time.perf_counter()
            case()
            times[name].append(time.perf_counter() - start)
    pool.shutdown()
    return tuple(statistics.median(times[name]) for name in ("small", "large", "split", "unfolded"))


def _shares(runs: int, workers: int, views: int) -> list[int]:
    """How the scheduler splits a group of ``runs`` between ``workers``: images per part."""
    share = -(-runs // workers)
    return [views * (min(runs, start + share) - start) for start in range(0, runs, share)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=8, help="students painting distinct classes at once")
    parser.add_argument("--steps", type=int, default=50, help="steps per run (the page's default is 200)")
    parser.add_argument("--model", default="mobilenet_v2", help="zoo model name (the page's default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=3, help="measure both phases this many times, in turns (the last line: the median round)")
    args = parser.parse_args(argv)
    if not 1 <= args.runs <= len(CLASSES):
        parser.error(f"--runs must be 1..{len(CLASSES)}")

    import explorer
    from explorer import runtime

    runtime.configure()
    model = explorer.load_model(args.model)
    targets = CLASSES[:args.runs]
    options = page_options(model, args.steps)
    # Trace the step for a stack of one and for a batch (other seed: nothing of this is reused).
    phase(model, targets[:1], 2, args.seed + 1, options, together=True)
    phase(model, targets, 2, args.seed + 1, options, together=True)

    from explorer.optvis import options_for

    views = int(options_for(None, **options)["views"]) if any(options.get(k) for k in ("jitter", "scale", "rotation")) else 1
    workers = runtime.heavy_slots()
    alone, all_runs, split, unfolded = model_batch_gain(model, args.runs, views, workers)
    parts = "x".join(map(str, _shares(args.runs, workers, views)))
    model_gain = f"model_only: batch_{views}={alone * 1000:.0f}ms batch_{args.runs * views}={all_runs * 1000:.0f}ms " \
                 f"one_batch_gain={args.runs * alone / all_runs:.2f} split_{parts}={split * 1000:.0f}ms " \
                 f"split_gain={args.runs * alone / split:.2f} fold_speedup={unfolded / alone:.2f}"

    rounds, sizes = [], []
    for r in range(max(1, args.rounds)):
        seconds_b, together, seen = phase(model, targets, args.steps, args.seed, options, together=True)
        seconds_s, alone_runs, _ = phase(model, targets, args.steps, args.seed, options, together=False)
        rounds.append((seconds_s / seconds_b, seconds_b, seconds_s))
        sizes += seen
        print(f"round={r + 1} batched={seconds_b:.1f}s sequential={seconds_s:.1f}s ratio={seconds_s / seconds_b:.2f}")
    ratio, batched, sequential = sorted(rounds)[(len(rounds) - 1) // 2]  # the round with the median ratio
    for t in targets:
        a, b = together[t], alone_runs[t]
        if a.error or b.error:
            print(f"class={t} error batched={a.error} sequential={b.error}")
            continue
        print(f"class={t} {explorer.class_name(t)[:20]:20s} p_batched={a.result.probability:.3f} "
              f"p_sequential={b.result.probability:.3f} steps={a.result.steps}")
    print(f"model={args.model} steps={args.steps} batch_sizes_seen={sorted(set(sizes))} workers={runtime.heavy_slots()} cpus={os.cpu_count()} "
          f"loadavg_1min={os.getloadavg()[0]:.1f}")
    print(model_gain)
    total_b, total_s = sum(r[1] for r in rounds), sum(r[2] for r in rounds)
    print(f"rounds={len(rounds)} ratios={','.join(f'{r[0]:.2f}' for r in rounds)} "
          f"ratio_of_totals={total_s / total_b:.2f} (last line: the round with the median ratio)")
    print(f"runs={args.runs} batched={batched:.1f}s sequential={sequential:.1f}s ratio={sequential / batched:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
