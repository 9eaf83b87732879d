"""One way to follow a long run on a page: :func:`watch`.

Every long run goes through ``explorer.serving.submit`` (or ``explorer.paint``), which returns a
subscription; ``watch(subscription, draw, key=...)`` follows it until it ends. It owns what every run
shows alike: a Stop button and the progress line in a place the page reserves above its picture (the
time the run has taken, or its place in line while the server is busy), the redraw pace (``draw(snap)``
is called only when the run has moved, at most every ``every`` seconds, slower when many watch), errors
in plain words (a divergence's own message; "Stopped at step n" for a stopped run, whose picture so far
is kept) and the outcome, stored in ``st.session_state[key]``. ``shared_note`` says in plain words when
a result was joined or replayed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import streamlit as st

import explorer
from explorer.serving.runs import shared_runs
from ui import present


@dataclass
class Outcome:
    """How a watched run ended: ``result`` (kept when stopped or diverged, if the run has one), ``error``
    in plain words or None, ``stopped``, the last ``image`` and ``step`` seen, and its ``note``
    (:func:`shared_note`)."""

    result: object = None
    error: str | None = None
    stopped: bool = False
    image: object = None
    step: int = 0
    note: str = ""
    log: list = field(default_factory=list)


def shared_note(subscription) -> str:
    """What a result owes to the rest of the class, in plain words ("" when this session computed it)."""
    if subscription.replayed:
        return ("Computed once for the class: this result was already on the server (someone ran exactly these "
                "settings before), so it appeared at once.")
    if subscription.joined:
        return ("Computed once for the class: you joined a run another student had already started with exactly "
                "these settings.")
    return ""


def outcome(subscription) -> Outcome:
    """The :class:`Outcome` of a subscription's run as it stands (finished, or stopped now)."""
    run, snap = subscription.run, subscription.run.snapshot()
    error, result = run.error, run.result
    stopped = isinstance(error, explorer.Cancelled) or run.state == "cancelled" or not run.finished
    if stopped:
        words = f"Stopped at step {snap.step}."
        if error is not None and str(error) not in ("", "Stopped."):
            words = f"Stopped at step {snap.step}: {error}"
        return Outcome(result, words, True, snap.image, snap.step, shared_note(subscription), snap.log)
    if isinstance(error, explorer.Diverged):
        return Outcome(error.result, str(error), False, snap.image, snap.step, shared_note(subscription), snap.log)
    return Outcome(result, None if error is None else str(error), False, snap.image, snap.step,
                   shared_note(subscription), snap.log)


def _stop(subscriptions, key: str) -> None:
    """The Stop button's callback (runs before the next script run): cancel what only this session
    watches, and keep what was drawn so far under ``key``."""
    outcomes = []
    for sub in subscriptions:
        if sub.run.subscribers <= 1:
            sub.run.token.cancel("Stopped.")
        outcomes.append(outcome(sub))
        sub.close()
    st.session_state[key] = outcomes


def _status(place, snaps, started: float) -> None:
    queued = [s for s in snaps if s.state == "queued"]
    if queued:
        ahead = max(s.position for s in queued)
        ahead = "1 run is ahead of yours. " if ahead == 1 else (f"{ahead} runs are ahead of yours. " if ahead else "")
        place.info(f"Starting: {ahead}Yours begins by itself as soon as the server has room; keep this tab open.",
                   icon=":material/hourglass_top:")
    else:
        steps = [s.step for s in snaps]  # side by side runs move at their own pace: each its own step
        said = f"step {steps[0]}" if len(steps) == 1 else "steps " + " and ".join(str(n) for n in steps)
        place.caption(f"Running for {time.monotonic() - started:.0f} s; {said}.")


#: While a run is watched, Streamlit's own toolbar Stop is hidden: it ends the script at once, so the page can
#: no longer draw, and froze at "step 63/300" with no word of what happened (issue 23). The Stop beside the
#: picture does the same and says so. The rule is drawn inside the run's place, so it goes with the run.
_HIDE_TOOLBAR_STOP = '[data-testid="stStatusWidget"] button { display: none !important; }'


def watch(subscriptions, draw, *, key: str, place=None, every: float = 0.4) -> list[Outcome]:
    """Follow one subscription (or a list, drawn side by side) until every run has ended.

    ``draw`` (one callable, or one per subscription) gets each run's snapshot when it has moved;
    ``place`` is where the Stop button and the progress line go (reserve it above the picture: default,
    here); ``key`` is where the outcomes (one :class:`Outcome` per run, a list) are stored. Each tick
    writes to the page, so a closed tab ends this script at once; the subscriptions are closed however
    the script ends, and a run nobody watches any more is cancelled by the server, freeing its place.
    A script ended some other way (a changed setting, Streamlit's own Stop) still stores the outcomes, so
    the next run of the page says where the run stopped and shows the picture so far.
    """
    subs = list(subscriptions) if isinstance(subscriptions, (list, tuple)) else [subscriptions]
    draws = list(draw) if isinstance(draw, (list, tuple)) else [draw] * len(subs)
    box = (place if place is not None else st.empty()).container()
    stop_slot, line = box.empty(), box.empty()
    if not all(sub.run.finished for sub in subs):
        with box:
            present.style(_HIDE_TOOLBAR_STOP, "hide-toolbar-stop")
        stop_slot.button("Stop", key=f"{key}_stop", icon=":material/stop_circle:", on_click=_stop, args=(subs, key),
                         help="Stops the run now; what it has drawn so far stays on the page.")
    drawn: dict = {}
    started = time.monotonic()
    ended = False
    try:
        while True:
            snaps = [sub.run.snapshot() for sub in subs]
            for i, snap in enumerate(snaps):
                if snap.step > 0 and drawn.get(i) != snap.step:  # nothing to draw before the first step
                    draws[i](snap)
                    drawn[i] = snap.step
            pending = [sub for sub in subs if not sub.run.finished]
            if not pending:
                break
            _status(line, snaps, started)
            pending[0].run.wait_finished(every * max(1.0, shared_runs().watching() / 4))
        ended = True
    finally:
        for sub in subs:
            sub.close()
        if not ended:  # the page's Stop, if that was it, stores the same again in its callback
            st.session_state[key] = [outcome(sub) for sub in subs]
    stop_slot.empty()
    line.empty()
    outcomes = [outcome(sub) for sub in subs]
    st.session_state[key] = outcomes
    return outcomes


__all__ = ["Outcome", "outcome", "shared_note", "watch"]
