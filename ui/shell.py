"""Keep every page inside the app shell (``streamlit_app.py``), even on a deep link to a fresh server.

Streamlit decides once per server process whether the app uses the legacy ``pages/`` folder: until
some session has run ``st.navigation``, a first request for ``/feature_maps`` runs that page file
directly with an automatic sidebar and without our page config. Each page calls
:func:`require_shell` first; in that case it switches the process to ``st.navigation`` mode and reruns,
which goes through ``streamlit_app.py`` and lands on the same page.
"""

from __future__ import annotations

import streamlit as st


def require_shell() -> None:
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # a future Streamlit without the legacy pages folder
        return
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()
