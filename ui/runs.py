"""Long runs (training, optimisation) on a server shared by a whole class.

``queued_run`` holds one of the process-wide heavy-work slots (``explorer.heavy_work``) for the run and,
while the slots are busy, tells the student their place in line. ``stop_button`` is a visible Stop:
clicking any widget during a run makes Streamlit stop the script at its next update, and the page
keeps the last frame it drew.
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
