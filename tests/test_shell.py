"""The legacy pages-folder workaround in ui/shell.py relies on one Streamlit flag: fail loudly if it goes."""

import streamlit.runtime
from streamlit.runtime.pages_manager import PagesManager

from ui import shell


def test_streamlit_still_has_the_legacy_pages_flag_the_shell_relies_on():
    flag = shell.legacy_pages_flag()
    assert flag is PagesManager, (
        "Streamlit no longer has PagesManager.uses_pages_directory: deep links to a fresh server may run "
        "pages outside streamlit_app.py again. Revisit ui/shell.py (and tests/browser/test_deep_link.py).")
    assert hasattr(streamlit.runtime, "get_instance") and hasattr(streamlit.runtime, "exists")


def test_a_page_started_outside_the_shell_switches_the_process_to_navigation_mode():
    saved = PagesManager.uses_pages_directory
    try:
        PagesManager.uses_pages_directory = True  # a fresh server with a pages/ folder, before st.navigation
        assert shell._leave_legacy_pages_mode() is True
        assert PagesManager.uses_pages_directory is False
        assert shell._leave_legacy_pages_mode() is False  # already in navigation mode: no rerun
    finally:
        PagesManager.uses_pages_directory = saved
