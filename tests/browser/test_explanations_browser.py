"""The explanation wall (Feature maps -> Where does it look?, issue 24) in a real browser: five maps with
their captions, the deletion curves and the sanity check, at 1440x900 and in presentation mode."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest

from tests.browser.conftest import ARTIFACTS, chart_label_problems, errors_on, wait_for_app, wait_for_charts
from tests.conftest import needs_fixtures

pytestmark = [pytest.mark.browser, needs_fixtures]

WIDTH, HEIGHT = 1440, 900
TITLES = ("Grad-CAM", "Grad-CAM++", "Integrated gradients", "SmoothGrad", "Occlusion")
LONG = 600_000  # a busy CPU runs the five maps in tens of seconds, the sanity check in minutes


def _link(server: str, view: str, present: bool = False) -> str:
    return (f"{server}/feature_maps?section={quote('Where does it look?')}&explain={quote(view)}"
            + ("&present=1" if present else ""))


def _open(browser, server: str, view: str, present: bool = False):
    context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT})
    page = context.new_page()
    page.goto(server)  # the app shell first (see test_deep_link), then the page
    wait_for_app(page)
    page.goto(_link(server, view, present))
    wait_for_app(page, LONG)
    return context, page


def _main_text(page) -> str:
    return page.locator('[data-testid="stMain"]').inner_text()


def _no_missing_numbers(page) -> None:
    text = _main_text(page)
    assert not re.search(r"\b(nan|None|NaN|inf)\b", text), re.findall(r".{30}\b(?:nan|None|NaN|inf)\b.{30}", text)


def _wall_images(page):
    return page.locator('[data-testid="stMain"] [data-testid="stImage"] img')


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=False)


def _wall_width(browser, server: str, present: bool) -> float:
    context, page = _open(browser, server, "Every method", present)
    try:
        page.get_by_text("Fades the photo in from").first.wait_for(timeout=LONG)
        wait_for_app(page, LONG)
        assert errors_on(page) == []
        images = _wall_images(page)
        assert images.count() == 5
        for title in TITLES:
            assert page.get_by_text(title, exact=True).first.is_visible()
        captions = " ".join(page.locator('[data-testid="stCaptionContainer"]').all_inner_texts())
        # every caption says what ran, from the settings (the page's: 16 steps, 16 samples, 32x32 squares)
        assert "from a blurred copy in 16 steps" in captions and "averaged over 16 copies" in captions
        assert "Greys one 32x32 pixel square at a time, every 16 pixels" in captions
        assert "(out_relu)" in captions
        _no_missing_numbers(page)
        _shot(page, "explanations_wall" + ("_present" if present else ""))
        first = images.first.bounding_box()
        if present:  # the teacher sees the wall without scrolling: at least half of its first row on screen
            assert page.evaluate("window.scrollY") == 0
            assert HEIGHT - first["y"] >= first["height"] / 2, first  # it began at 886 px, a sliver
        return first["width"]
    finally:
        context.close()


def test_the_wall_shows_five_explanations_with_captions_bigger_when_presenting(server, browser):
    """Presenting, the pictures are bigger (three a row) and the first row is on the first screen."""
    normal = _wall_width(browser, server, present=False)
    presenting = _wall_width(browser, server, present=True)
    assert presenting > 1.2 * normal, (normal, presenting)  # three a row instead of five


def test_which_one_can_we_trust_deletion_curves_and_the_sanity_check(server, browser):
    context, page = _open(browser, server, "Which one can we trust?")
    try:
        page.get_by_text("faster than random:").first.wait_for(timeout=LONG)
        wait_for_charts(page, LONG)
        assert errors_on(page) == []
        assert chart_label_problems(page) == []
        caption = " ".join(page.locator('[data-testid="stCaptionContainer"]').all_inner_texts())
        assert "random order" in caption
        _no_missing_numbers(page)
        _shot(page, "explanations_deletion")

        page.get_by_role("button", name="Randomise the network, block by block").click()
        page.get_by_text("1 on the chart").first.wait_for(timeout=LONG)
        wait_for_charts(page, LONG)
        assert errors_on(page) == []
        assert chart_label_problems(page) == []
        text = _main_text(page)
        assert "blocks random" in text and "Left to right: the trained network" in text
        # the trained map and three randomised ones for each of the five methods, beside the wall's none
        assert _wall_images(page).count() == 5 * 4
        _no_missing_numbers(page)
        page.set_viewport_size({"width": WIDTH, "height": 2000})
        wait_for_app(page)
        _shot(page, "explanations_sanity")
    finally:
        context.close()
