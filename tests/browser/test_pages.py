"""Every page opens in a real headless Chromium at 1440x900 (the `page` fixture's viewport) without an
error or warning box, normally and in presentation mode; screenshots of both are kept in tests/_artifacts/."""

import pytest

from tests.browser.conftest import chart_label_problems, errors_on, screenshot, wait_for_app, wait_for_charts
from tests.browser.test_presentation import BODY_TEXT

PAGES = ["", "class", "architectures", "inception_block", "residual_block", "feature_maps", "transfer_learning",
         "ideal_image", "adversarial"]

pytestmark = pytest.mark.browser


def warnings_on(page) -> list[str]:
    return [b.inner_text()[:300] for b in page.query_selector_all('[data-testid="stAlertContentWarning"]')]


@pytest.mark.parametrize("path", PAGES)
def test_first_view_has_no_error_or_warning(server, page, path):
    """Only the shipped fixture weights (MobileNets) are on this machine: every first view still works."""
    page.goto(f"{server}/{path}")
    wait_for_app(page)
    assert page.locator("h1").count() >= 1, "page has no title"
    assert errors_on(page) == []
    assert warnings_on(page) == []
    wait_for_charts(page)  # plotly draws after the script run
    assert chart_label_problems(page) == []
    screenshot(page, f"page_{path or 'home'}")


@pytest.mark.parametrize("path", PAGES)
def test_presentation_mode_screenshots(server, page, path):
    page.goto(f"{server}/{path}?present=1")
    wait_for_charts(page)  # lazily loaded widgets, charts and the presentation style settle before the picture
    assert errors_on(page) == []
    body = page.evaluate(BODY_TEXT)
    assert body and min(body) >= 20, body  # every page's text is projector-sized, not only the one tested in detail
    assert chart_label_problems(page) == []  # and its larger chart text still fits, clear of other labels
    screenshot(page, f"present_{path or 'home'}")
