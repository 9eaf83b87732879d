"""The adversarial page in a real browser: fool MobileNetV2 by one pixel level, see every panel."""

import pytest

from tests.browser.conftest import errors_on, screenshot, wait_for_app
from tests.conftest import needs_fixtures

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@needs_fixtures
def test_attack_runs_and_shows_every_panel(server, page):
    page.set_viewport_size({"width": 1400, "height": 2100})  # the main area scrolls: show all of it
    page.goto(server)  # the home page first: a fresh server's first request decides the navigation mode
    wait_for_app(page)
    page.goto(f"{server}/adversarial")
    wait_for_app(page)
    page.wait_for_selector(".js-plotly-plot", timeout=60_000)
    screenshot(page, "adversarial_before")
    page.get_by_role("button", name="Fool the network").click()
    page.wait_for_selector('[data-testid="stDownloadButton"]', timeout=240_000)
    wait_for_app(page)
    assert errors_on(page) == []
    text = page.inner_text('[data-testid="stMain"]')
    assert "Fooled." in text and "MobileNetV2 now sees **tabby**".replace("**", "") in text
    assert "Does the attack transfer?" in text and "MobileNet, alpha 0.75 (192 px) sees" in text
    assert page.locator('[data-testid="stImage"]').count() >= 3
    assert page.locator(".js-plotly-plot").count() == 1
    page.wait_for_timeout(1000)  # let the chart and tables paint
    screenshot(page, "adversarial_fooled")
