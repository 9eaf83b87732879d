"""The Ideal class image page in a real browser: paint a short run and look at it (screenshots kept)."""

import pytest

from tests.browser.conftest import errors_on, screenshot, wait_for_app

pytestmark = pytest.mark.browser


@pytest.mark.slow
def test_paint_a_short_run_in_the_browser(server, page):
    page.goto(server)  # a fresh server's first hit on a deep link can show the pages-folder sidebar (see report)
    wait_for_app(page)
    page.goto(f"{server}/ideal_image")
    wait_for_app(page)
    assert page.get_by_text("What the network sees").count() == 1  # the app's own navigation sections
    assert errors_on(page) == []
    screenshot(page, "ideal_image_start")
    model = page.get_by_test_id("stSelectbox").filter(has_text="Model").first
    model.click()
    page.keyboard.type("0.25")
    page.keyboard.press("Enter")
    wait_for_app(page)
    steps = page.get_by_role("slider").first
    steps.focus()
    page.keyboard.press("Home")
    for _ in range(3):  # 10 -> 40 steps
        page.keyboard.press("ArrowRight")
    wait_for_app(page)
    page.get_by_role("button", name="Paint the ideal image").click()
    page.wait_for_selector("text=/regularised: step [0-9]+\\/40/", timeout=120_000)
    page.locator("h1").first.scroll_into_view_if_needed()
    screenshot(page, "ideal_image_running")  # the picture and the curves animate in place
    page.wait_for_selector("text=Does another network also see it?", timeout=240_000)
    wait_for_app(page)
    assert errors_on(page) == []
    assert page.get_by_text("Regularised", exact=True).count() == 1
    assert page.get_by_text("Plain noise", exact=True).count() == 1
    assert page.locator('[data-testid="stDownloadButton"]').count() == 2
    page.get_by_text("Regularised", exact=True).scroll_into_view_if_needed()
    page.wait_for_timeout(1500)
    screenshot(page, "ideal_image_result")
    page.get_by_text("Does another network also see it?").scroll_into_view_if_needed()
    page.wait_for_timeout(1500)
    screenshot(page, "ideal_image_second_model")
