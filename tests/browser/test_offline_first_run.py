"""Issue 23 item 11: a fresh offline machine (empty KERAS_HOME, no network) opens every page on real
predictions with no warning box, thanks to the bundled MobileNetV2."""

from __future__ import annotations

import pytest

from tests.browser.conftest import running_server, screenshot, wait_for_app

pytestmark = pytest.mark.browser

WARNINGS = '[data-testid="stAlertContentWarning"], [data-testid="stAlertContentError"], [data-testid="stException"]'


def page_paths(page, base: str) -> list[str]:
    """Every page the sidebar lists (so a page added later is walked too)."""
    hrefs = page.eval_on_selector_all('[data-testid="stSidebarNav"] a', "as => as.map(a => a.href)")
    return [h.removeprefix(base).lstrip("/") for h in hrefs]


@pytest.fixture(scope="module")
def offline_server(tmp_path_factory):
    home = tmp_path_factory.mktemp("empty_keras_home")  # nothing in it: no weights, no class index
    with running_server({"KERAS_HOME": str(home), "CNN_EXPLORER_OFFLINE": "1"}, "streamlit_offline.log") as url:
        yield url


@pytest.mark.slow
def test_every_first_view_works_with_an_empty_keras_home(offline_server, browser):
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.goto(offline_server)
    wait_for_app(page)
    paths = page_paths(page, offline_server)
    assert "feature_maps" in paths and len(paths) >= 8, paths
    problems = {}
    for path in paths:
        page.goto(f"{offline_server}/{path}")
        wait_for_app(page, timeout=300_000)
        boxes = page.locator(WARNINGS).all_inner_texts()
        if boxes:
            problems[path or "home"] = boxes
        screenshot(page, f"offline_{path or 'home'}")
        if path == "feature_maps":
            text = page.locator('[data-testid="stApp"]').inner_text()
            assert "bundled: dequantised from 8-bit" in text
            table = page.locator('[data-testid="stMain"] [data-testid="stTable"]').first  # the top-5 table
            table.wait_for(timeout=60_000)
            rows = table.locator("tbody tr").all_inner_texts()
            assert len(rows) == 5, rows
            assert "cat" in rows[0].lower() and "%" in rows[0], rows  # the sample is a cat: real names and numbers
    page.close()
    assert problems == {}, problems
