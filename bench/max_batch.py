"""How many runs one worker should step together: the same distinct runs with different batch limits.

    python bench/max_batch.py --runs 16 --steps 40

Submits ``--runs`` distinct-class default ideal-image runs at once through the scheduler (as
``bench/classroom.py`` does), once per batch limit in ``--limits``, in turns for ``--rounds`` rounds, and
prints the seconds of each. On 2 CPU cores a batch of 4 runs (8 images: each run's 2 views) took as long
as a batch of 16 within the machine's noise, while holding a quarter of the activations. Last line, the
median of each:

    runs=16 steps=40 max_batch_4=23.7s max_batch_8=22.4s max_batch_16=22.7s
"""

from __future__ import annotations

import argparse
import statistics
import sys

import _offline  # noqa: F401  (first: KERAS_HOME and sys.path)
from classroom import CLASSES, page_options, phase


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=16)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--limits", default="4,8,16", help="batch limits to compare (runs per worker)")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    if not 1 <= args.runs <= len(CLASSES):
        parser.error(f"--runs must be 1..{len(CLASSES)}")
    limits = [int(x) for x in args.limits.split(",")]

    import explorer
    from explorer import runtime

    runtime.configure()
    model = explorer.load_model("mobilenet_v2")
    options = page_options(model, args.steps)
    targets = CLASSES[:args.runs]

    def seconds(limit: int, steps: int, seed: int) -> float:
        return phase(model, targets, steps, seed, options, together=True, max_batch=limit)[0]

    for limit in limits:  # trace every batch size first
        seconds(limit, 2, 99)
    times: dict = {limit: [] for limit in limits}
    for r in range(args.rounds):
        for limit in limits:
            times[limit].append(seconds(limit, args.steps, r))
        print(f"round={r + 1} " + " ".join(f"max_batch_{k}={v[-1]:.1f}s" for k, v in times.items()), flush=True)
    print(f"runs={args.runs} steps={args.steps} "
          + " ".join(f"max_batch_{k}={statistics.median(v):.1f}s" for k, v in times.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
