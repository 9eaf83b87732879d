"""Every page opens in a real headless Chromium without an error box; screenshots are kept."""

import pytest

from tests.browser.conftest import errors_on, screenshot, wait_for_app

PAGES = ["", "architectures", "inception_block", "residual_block", "feature_maps", "transfer_learning",
         "ideal_image", "adversarial"]

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("path", PAGES)
def test_page_opens_without_errors(server, page, path):
    page.goto(f"{server}/{path}")
    wait_for_app(page)
    assert page.locator("h1").count() >= 1, "page has no title"
    assert errors_on(page) == []
    screenshot(page, f"page_{path or 'home'}")
