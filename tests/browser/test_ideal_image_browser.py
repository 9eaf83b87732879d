"""The Ideal class image page in a real browser at 1440x900: a lesson link restores its settings, and
during a run the Paint button and the live picture are on screen together (screenshots kept)."""

import re

import pytest

from tests.browser.conftest import chart_label_problems, errors_on, screenshot, wait_for_app

pytestmark = pytest.mark.browser

VIEWPORT_HEIGHT = 900


def _in_view(locator) -> dict:
    box = locator.bounding_box()
    assert box is not None
    assert 0 <= box["y"] and box["y"] + box["height"] <= VIEWPORT_HEIGHT, box
    return box


def _paint_and_check_in_view(page, name: str, steps: int) -> None:
    paint = page.get_by_role("button", name="Paint the ideal image")
    _in_view(paint)
    paint.click()
    page.wait_for_selector(f"text=/regularised: step [0-9]+\\/{steps}/", timeout=120_000)
    assert page.evaluate("window.scrollY") == 0  # nothing scrolled: the whole demo is on the first screen
    _in_view(page.get_by_role("button", name="Paint the ideal image"))
    picture = page.locator('[data-testid="stImage"] img').filter(visible=True).first  # the live picture
    assert _in_view(picture)["height"] > 200
    _in_view(page.get_by_text(re.compile(f"regularised: step [0-9]+/{steps}")).first)  # its caption
    _in_view(page.locator('[data-testid="stProgress"]').first)
    screenshot(page, name)


@pytest.mark.slow
def test_a_link_restores_settings_and_the_run_plays_beside_the_button(server, page):
    page.goto(server)  # a fresh server's first hit on a deep link can show the pages-folder sidebar
    wait_for_app(page)
    page.goto(f"{server}/ideal_image?model=mobilenet_0.25&steps=400&jitter=8")
    wait_for_app(page)
    assert page.get_by_text("What the network sees").count() == 1  # the app's own navigation sections
    assert errors_on(page) == []
    # The link's changed sliders are restored: the recipe line says what the Paint button will run.
    runs = page.get_by_text("Runs:", exact=False).first
    assert "shifted up to 8 px" in runs.inner_text() and "400 steps" in runs.inner_text()
    screenshot(page, "ideal_image_start")
    _paint_and_check_in_view(page, "ideal_image_running", 400)
    page.wait_for_selector("text=Does another network also see it?", timeout=240_000)
    wait_for_app(page)
    assert errors_on(page) == []
    assert page.get_by_text("Regularised", exact=True).count() == 1
    assert page.get_by_text("Plain noise", exact=True).count() == 1
    assert page.locator('[data-testid="stDownloadButton"]').count() == 2
    assert "steps=400" in page.url and "jitter=8" in page.url
    assert page.locator('[data-testid="stMain"] .js-plotly-plot').count() >= 2  # the two runs' curves
    assert chart_label_problems(page) == []
    screenshot(page, "ideal_image_result")


@pytest.mark.slow
def test_presentation_mode_keeps_the_run_on_one_screen(server, page):
    page.goto(server)
    wait_for_app(page)
    page.goto(f"{server}/ideal_image?present=1&model=mobilenet_0.25&steps=1000")
    wait_for_app(page)
    assert errors_on(page) == []
    _paint_and_check_in_view(page, "ideal_image_running_present", 1000)
    page.wait_for_selector("text=Does another network also see it?", timeout=240_000)
    wait_for_app(page)
    assert errors_on(page) == []
    # Presenting, each run's curves get a quarter of the page: at projector size nothing may be cut off
    # or overlap (two axes of 18 px numbers once left a plot a few pixels wide, its step labels piled up).
    assert page.locator('[data-testid="stMain"] .js-plotly-plot').count() >= 2
    assert chart_label_problems(page) == []
    screenshot(page, "ideal_image_result_present")


@pytest.mark.slow
def test_several_images_pushed_apart_from_a_lesson_link(server, page):
    """Issue 10's diversity section in a real browser: a link turns it on, Paint shows n different images."""
    page.goto(server)
    wait_for_app(page)
    page.goto(f"{server}/ideal_image?model=mobilenet_0.25&steps=10&several=1&images=2")
    wait_for_app(page)
    assert errors_on(page) == []
    page.get_by_role("button", name="Paint the ideal image").click()
    page.wait_for_selector("text=/2 ideal images of .*, pushed apart/", timeout=240_000)
    wait_for_app(page)
    assert errors_on(page) == []
    row = page.get_by_text(re.compile(r"^p\(.*\) = ")).filter(visible=True)
    assert row.count() == 2  # one caption (its own p) under each image
    screenshot(page, "ideal_image_several")


@pytest.mark.slow
def test_stop_beside_the_picture_keeps_it_and_the_toolbar_stop_is_hidden_while_painting(server, page):
    """Issue 23: Streamlit's own Stop ended the script mid-run, freezing the page at "step n/300" with no
    word; while a run is watched it is hidden, and the page's Stop keeps the picture and says where."""
    page.goto(server)
    wait_for_app(page)
    # a seed no other test paints: a run another test already made would be replayed at once, with no Stop
    page.goto(f"{server}/ideal_image?model=mobilenet_0.25&steps=1000&seed=23")
    wait_for_app(page)
    page.get_by_role("button", name="Paint the ideal image").click()
    page.wait_for_selector("text=/regularised: step [0-9]+\\/1000/", timeout=120_000)
    toolbar_stop = page.locator('[data-testid="stStatusWidget"] button')
    toolbar_stop.wait_for(state="attached", timeout=30_000)  # Streamlit shows it a moment after a run starts
    assert not toolbar_stop.is_visible()
    stop = page.get_by_role("button", name="Stop").filter(visible=True)
    assert stop.count() == 1
    _in_view(stop)
    stop.click()
    page.wait_for_selector("text=/The last run was stopped at step [0-9]+ of 1000/", timeout=60_000)
    wait_for_app(page)
    said = page.get_by_text(re.compile("stopped at step [0-9]+ of 1000")).first.inner_text()
    step = re.search(r"step ([0-9]+) of", said).group(1)
    kept = page.get_by_text(f"regularised: step {step}", exact=True)
    assert kept.count() == 1  # the painting so far, at the step the warning names
    assert errors_on(page) == []
    screenshot(page, "ideal_image_stopped")
