"""Long runs (training, optimisation) on a server shared by a whole class.

``queued_run`` holds one of the process-wide heavy-work slots (``explorer.heavy_work``) for the run and,
while the slots are busy, tells the student their place in line. ``follow_runs`` animates shared runs:
the scheduler's ideal images (``explorer.paint``: identical runs computed once, distinct ones batched)
and the keyed jobs of ``explorer.shared_jobs`` (attacks, sweeps, transfer training: computed once for
the class); ``shared_note`` says in plain words when a result was joined or replayed.
``stop_button`` is a visible Stop: clicking any widget during a run makes Streamlit stop the script at
its next update, and the page keeps the last frame it drew.
"""

from __future__ import annotations

from contextlib import contextmanager

import streamlit as st

import explorer
from explorer import runtime


@contextmanager
def queued_run(placeholder=None):
    """``with queued_run():`` around a long run; yields a CancelToken with this server's time budget."""
    slot = placeholder if placeholder is not None else st.empty()

    def tell(position: int) -> None:
        ahead = "1 run is" if position == 1 else f"{position} runs are"
        slot.info(f"The server is busy: {ahead} ahead of yours. Yours starts by itself; keep this tab open.",
                  icon=":material/hourglass_top:")

    token = explorer.CancelToken(max_seconds=runtime.run_budget())
    with explorer.heavy_work(on_wait=tell, cancel=token):
        slot.empty()
        yield token


def stop_button(key: str):
    """Show a Stop button for the run in progress; returns its placeholder (``.empty()`` it when done)."""
    slot = st.empty()
    slot.button("Stop", key=key, icon=":material/stop_circle:",
                help="Stops the run now; what it has drawn so far stays on the page.")
    return slot


def shared_note(subscription) -> str:
    """What a result owes to the rest of the class, in plain words ("" when this session computed it)."""
    if subscription.replayed:
        return ("Computed once for the class: this result was already on the server (someone ran exactly these "
                "settings before), so it appeared at once.")
    if subscription.joined:
        return ("Computed once for the class: you joined a run another student had already started with exactly "
                "these settings.")
    return ""


def follow_runs(watched, every: float = 0.4):
    """Follow shared runs (``explorer.paint`` or ``explorer.shared_jobs`` subscriptions) until all have
    ended; returns their runs.

    ``watched`` is a list of ``(subscription, draw, placeholder)``: ``draw(snapshot)`` is called every
    ``every`` seconds while the run is computed (the latest frame, curves so far; it may not have moved
since the last call: compare ``snapshot.version``); ``placeholder`` says
    when it waits for the server. Each tick writes to the page, so a closed tab or a Stop click ends this
    script at once (Streamlit stops a script at its next write); the subscriptions are closed however
    the script ends, and a run nobody watches any more is cancelled by the scheduler, freeing its place.
    With many sessions watching at once the ticks slow down (``every`` per 4 watchers): redrawing
    thirty pages costs the server's Python time that the runs themselves need.
    """
    from explorer.serving.runs import shared_runs

    try:
        while True:
            pending = [(sub, draw, slot, sub.run.snapshot()) for sub, draw, slot in watched if not sub.run.finished]
            if not pending:
                break
            for sub, draw, slot, snap in pending:
                if snap.state == "queued":
                    ahead = (f"{snap.position} runs are ahead of yours. " if snap.position else "")
                    slot.info(f"Starting: {ahead}Yours begins by itself as soon as the server has room; keep this "
                              "tab open.", icon=":material/hourglass_top:")
                else:
                    draw(snap)
            pending[0][0].run.wait_finished(every * max(1.0, shared_runs().watching() / 4))
    finally:
        for sub, *_ in watched:
            sub.close()
    return [sub.run for sub, *_ in watched]
