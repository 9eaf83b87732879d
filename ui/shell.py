"""Keep every page inside the app shell (``streamlit_app.py``), even on a deep link to a fresh server.

The legacy ``pages/`` workaround, in one place. Streamlit's docs call a ``pages/`` folder beside the
entrypoint the legacy multipage mechanism, ignored only once some session has run ``st.navigation``.
Streamlit decides that once per server process (``PagesManager.uses_pages_directory``): until some
session has run ``st.navigation``, a first request for ``/feature_maps`` runs that page file directly,
with an automatic sidebar and without our page config. This project keeps its pages in ``pages/``, so:

- the shell marks each run it starts (:func:`mark_shell`);
- a page calls :func:`require_shell` first; started without the shell, it flips the process to
  ``st.navigation`` mode (:func:`_leave_legacy_pages_mode`, the only code touching Streamlit's flag)
  and reruns, which goes through ``streamlit_app.py`` and lands on the same page.

``tests/test_shell.py`` fails loudly if Streamlit renames or drops the flag this relies on.
"""

from __future__ import annotations

import threading

import streamlit as st

_run = threading.local()  # each script run executes in one thread, shell first, then the page


def mark_shell() -> None:
    """Called by ``streamlit_app.py`` before it runs the selected page."""
    _run.shell = True


def require_shell() -> None:
    """Rerun through the shell when this page was started without it (a deep link in legacy mode)."""
    started_by_shell, _run.shell = getattr(_run, "shell", False), False
    if not started_by_shell and _leave_legacy_pages_mode():
        st.rerun()


def legacy_pages_flag():
    """Streamlit's per-process switch between the legacy ``pages/`` folder and ``st.navigation``:
    the class holding ``uses_pages_directory``, or None if this Streamlit has no such switch."""
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:
        return None
    return PagesManager if hasattr(PagesManager, "uses_pages_directory") else None


def _leave_legacy_pages_mode() -> bool:
    """Switch the process to ``st.navigation`` mode; True if it was in legacy mode (a rerun is needed)."""
    flag = legacy_pages_flag()
    if flag is None or not flag.uses_pages_directory or _under_app_test():
        return False
    flag.uses_pages_directory = False
    return True


def _under_app_test() -> bool:
    """streamlit.testing's AppTest re-enables the legacy mode before every run (its own reset) and runs
    pages correctly either way; a rerun there would drop a clicked button's value. AppTest runs
    without a server: the runtime it installs is a stand-in (a mock), found through the public
    ``streamlit.runtime.get_instance``."""
    from unittest.mock import NonCallableMock

    from streamlit import runtime

    return runtime.exists() and isinstance(runtime.get_instance(), NonCallableMock)
