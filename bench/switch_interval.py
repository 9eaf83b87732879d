"""One run beside busy page scripts: Python's thread switch interval at its default (5 ms) vs ours.

    python bench/switch_interval.py --busy 4 --steps 40

A Streamlit server runs every session's script in a thread of one process, and they share Python's
interpreter lock with the scheduler thread that steps the ideal-image runs. A step gives the lock up
and takes it back dozens of times (each TensorFlow call releases it, each result needs it back); when
other threads want the lock, each of those takes can wait a whole switch interval.
``explorer.runtime.configure`` therefore sets it to ``runtime.SWITCH_INTERVAL_S``.

This bench paints the page's default run (``--steps`` steps, through the scheduler as the page does)
alone, then beside ``--busy`` threads that do what a page script redrawing a picture does to the lock
(4 ms of Python, a 10 ms pause, over and over), with each switch interval, in turns (``--rounds``).
Last line:

    busy=4 default_5ms=5.2s ours_1ms=3.6s alone=2.0s ratio=1.44
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time

import _offline  # noqa: F401  (first: KERAS_HOME and sys.path)
from classroom import page_options, phase


def busy(stop: threading.Event) -> None:
    """A page script redrawing: bursts of pure Python, then a short wait."""
    while not stop.is_set():
        start = time.perf_counter()
        while time.perf_counter() - start < 0.004:
            sum(range(200))
        time.sleep(0.01)


def paint(model, steps: int, seed: int, options: dict) -> float:
    """Seconds for one run through a fresh scheduler (nothing replayed), followed as the page does."""
    return phase(model, [281], steps, seed, options, together=False)[0]


def beside_busy(model, steps, seed, options, threads: int, interval: float) -> float:
    sys.setswitchinterval(interval)
    stop = threading.Event()
    workers = [threading.Thread(target=busy, args=(stop,), daemon=True) for _ in range(threads)]
    for worker in workers:
        worker.start()
    try:
        return paint(model, steps, seed, options)
    finally:
        stop.set()
        for worker in workers:
            worker.join()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--busy", type=int, default=4, help="busy page-script threads beside the run")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--model", default="mobilenet_v2")
    args = parser.parse_args(argv)

    import explorer
    from explorer import runtime

    runtime.configure()
    ours = runtime.SWITCH_INTERVAL_S
    model = explorer.load_model(args.model)
    options = page_options(model, args.steps)
    paint(model, 2, 99, options)  # trace the step
    times: dict = {"alone": [], "default": [], "ours": []}
    for r in range(args.rounds):
        sys.setswitchinterval(ours)
        times["alone"].append(paint(model, args.steps, r, options))
        times["default"].append(beside_busy(model, args.steps, r, options, args.busy, 0.005))
        times["ours"].append(beside_busy(model, args.steps, r, options, args.busy, ours))
        print(f"round={r + 1} " + " ".join(f"{k}={v[-1]:.1f}s" for k, v in times.items()), flush=True)
    sys.setswitchinterval(ours)
    default, mine, alone = (statistics.median(times[k]) for k in ("default", "ours", "alone"))
    print(f"busy={args.busy} default_5ms={default:.1f}s ours_{ours * 1000:g}ms={mine:.1f}s alone={alone:.1f}s "
          f"ratio={default / mine:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
