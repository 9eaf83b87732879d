"""A link straight to a page, as the first request a fresh server gets, still shows the app shell.

Streamlit starts in its legacy pages-folder mode until st.navigation has run once; ui.shell switches
it over. Without that, the sidebar listed file names ('streamlit app', 'adversarial', ...).
"""

import pytest

from tests.browser.conftest import ARTIFACTS, _free_port, errors_on, screenshot, start_server, wait_for_app

pytestmark = pytest.mark.browser


def test_first_request_to_a_page_url_gets_the_navigation(browser):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    proc = start_server(port, log=ARTIFACTS / "streamlit_deep_link.log")
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(f"http://127.0.0.1:{port}/transfer_learning")
        wait_for_app(page)
        links = [a.inner_text().split("\n")[-1] for a in page.query_selector_all('[data-testid="stSidebarNav"] a')]
        assert links[:3] == ["Home", "Class", "Architectures"], links
        assert "streamlit app" not in links
        assert page.locator("h1").first.inner_text().startswith("Transfer learning")
        assert errors_on(page) == []
        screenshot(page, "deep_link_transfer_learning")
        page.close()
    finally:
        proc.terminate()
        proc.wait(timeout=15)
