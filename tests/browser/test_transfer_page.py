"""The Transfer learning page in a real browser: demo set, train, curves and confusion matrix render."""

import pytest

from tests.browser.conftest import errors_on, screenshot, wait_for_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_train_on_the_demo_set_in_a_browser(server, page):
    page.goto(f"{server}/transfer_learning")
    wait_for_app(page)
    page.get_by_role("radio", name="Demo set").click()
    wait_for_app(page)
    page.get_by_text("Images per class").first.wait_for(timeout=60_000)
    backbone = page.get_by_role("combobox", name="Backbone (pretrained, frozen)")
    backbone.click()
    backbone.fill("alpha 0.25")
    page.get_by_role("option", name="MobileNet, alpha 0.25 (128 px, fastest)").wait_for()
    backbone.press("Enter")
    wait_for_app(page)
    assert backbone.input_value() == "MobileNet, alpha 0.25 (128 px, fastest)"
    page.get_by_role("button", name="Train", exact=True).click()
    page.get_by_text("Validation accuracy").wait_for(timeout=480_000)
    wait_for_app(page)
    assert errors_on(page) == []
    assert page.locator('[data-testid="stPlotlyChart"]').count() >= 4
    assert page.get_by_text("Confusion matrix").count() >= 1
    page.set_viewport_size({"width": 1400, "height": 4600})  # Streamlit scrolls inside the page: show it all
    page.wait_for_timeout(1500)
    screenshot(page, "transfer_learning_trained")
