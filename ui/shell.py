"""Keep every page inside the app shell (``streamlit_app.py``), even on a deep link to a fresh server.

Streamlit decides once per server process whether the app uses the legacy ``pages/`` folder: until
some session has run ``st.navigation``, a first request for ``/feature_maps`` runs that page file
directly, with an automatic sidebar and without our page config. The shell marks each run it starts
(:func:`mark_shell`); a page calls :func:`require_shell` first, and when it was started without the
shell it switches the process to ``st.navigation`` mode and reruns, which goes through
``streamlit_app.py`` and lands on the same page.
"""

from __future__ import annotations

import threading

import streamlit as st

_run = threading.local()  # each script run executes in one thread, shell first, then the page


def mark_shell() -> None:
    """Called by ``streamlit_app.py`` before it runs the selected page."""
    _run.shell = True


def require_shell() -> None:
    started_by_shell, _run.shell = getattr(_run, "shell", False), False
    if started_by_shell:
        return
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # a future Streamlit without the legacy pages folder
        return
    if PagesManager.uses_pages_directory and not _under_app_test():
        PagesManager.uses_pages_directory = False
        st.rerun()


def _under_app_test() -> bool:
    """streamlit.testing's AppTest re-enables the legacy mode before every run (its own reset), and a
    rerun there would drop a clicked button's value; it runs pages correctly either way."""
    from unittest.mock import Mock

    from streamlit.runtime import Runtime

    return isinstance(getattr(Runtime, "_instance", None), Mock)
