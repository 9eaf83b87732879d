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


def _open(page, server: str, query: str) -> None:
    """The page from a lesson link: the app shell first (a fresh server's first hit on a deep link can show
    the pages-folder side bar), then the link."""
    page.goto(server)
    wait_for_app(page)
    page.goto(f"{server}/ideal_image?{query}")
    wait_for_app(page)


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
    _open(page, server, "model=mobilenet_0.25&steps=400&jitter=8")
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
    _open(page, server, "present=1&model=mobilenet_0.25&steps=1000")
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
    _open(page, server, "model=mobilenet_0.25&steps=10&several=1&images=2")
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
    # a seed no other test paints: a run another test already made would be replayed at once, with no Stop
    _open(page, server, "model=mobilenet_0.25&steps=1000&seed=23")
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


PHONE = {"width": 390, "height": 844}

# Every select box's shown value: an <input>, which cannot wrap, so a long name is cut off at its edge.
CUT_SELECTS = """() => Array.from(document.querySelectorAll('[data-testid="stSelectbox"] input'))
    .filter(i => i.offsetParent !== null && i.scrollWidth > i.clientWidth)
    .map(i => `${i.value} (${i.scrollWidth} px in ${i.clientWidth})`)"""


@pytest.mark.slow
def test_presenting_the_result_pictures_line_up(server, page):
    """Presenting, the regularised and the plain-noise pictures sit side by side at one height (the
    heading's link icon once wrapped under "Regularised", 45 px lower than "Plain noise")."""
    _open(page, server, "present=1&model=mobilenet_0.25&steps=20&seed=31")
    page.get_by_role("button", name="Paint the ideal image").click()
    page.wait_for_selector("text=Does another network also see it?", timeout=240_000)
    wait_for_app(page)
    assert errors_on(page) == []
    tops = page.evaluate("""() => Array.from(document.querySelectorAll('[data-testid="stMain"] [data-testid="stColumn"]'))
        .filter(c => !c.querySelector('[data-testid="stColumn"]') && /^(Regularised|Plain noise)/.test(c.innerText.trim()))
        .map(c => c.querySelector('[data-testid="stImage"] img').getBoundingClientRect().top)""")
    assert len(tops) == 2, tops
    assert abs(tops[0] - tops[1]) < 5, tops
    screenshot(page, "ideal_image_result_present_aligned")


@pytest.mark.slow
def test_long_model_names_are_whole_in_the_pickers(server, browser):
    """The model pickers of Ideal class image and Feature maps show a whole name (not "MobileNet, alpha
    0.25 (128 px, fastest" cut at the box's edge), at 1440x900 and on a phone, presenting and not."""
    for viewport, present in (({"width": 1440, "height": 900}, True), ({"width": 1440, "height": 900}, False),
                              (PHONE, True), (PHONE, False)):
        context = browser.new_context(viewport=viewport)
        page = context.new_page()
        try:
            page.goto(server)
            wait_for_app(page)
            mode = "&present=1" if present else ""
            for path in ("ideal_image", "feature_maps"):
                page.goto(f"{server}/{path}?model=mobilenet_0.25{mode}")
                wait_for_app(page)
                if viewport is PHONE:  # the folded side bar is wholly off screen (presenting's wider one left a strip)
                    assert page.get_by_test_id("stSidebar").bounding_box()["width"] == 0
                if viewport is PHONE and path == "feature_maps":  # its picker is in the folded side bar
                    page.get_by_test_id("stExpandSidebarButton").click()
                    wait_for_app(page)
                assert errors_on(page) == []
                shown = page.locator('[data-testid="stSelectbox"] input').evaluate_all("e => e.map(i => i.value)")
                assert any("0.25" in value for value in shown), shown  # the picker is there and visible
                assert page.evaluate(CUT_SELECTS) == [], (path, viewport, present)
                screenshot(page, f"model_picker_{path}_{viewport['width']}{'_present' if present else ''}")
        finally:
            context.close()


@pytest.mark.slow
def test_on_a_phone_the_picture_shows_right_under_the_paint_button(server, browser):
    """On a phone the columns stack: the picture once came below every control, off screen, so pressing
    Paint seemed to do nothing. Now the Paint button, its progress and the picture come before the controls."""
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    try:
        _open(page, server, "model=mobilenet_0.25&steps=1000&seed=390")  # a seed no other test paints
        paint = page.get_by_role("button", name="Paint the ideal image")
        paint.click()
        page.wait_for_selector("text=/regularised: step [0-9]+\\/1000/", timeout=120_000)
        picture = page.locator('[data-testid="stMain"] [data-testid="stImage"] img').filter(visible=True).first
        box, button = picture.bounding_box(), paint.bounding_box()
        first_control = page.locator('[data-testid="stMain"] [data-testid="stSelectbox"]').first.bounding_box()
        assert button["y"] + button["height"] <= box["y"] < first_control["y"], (button, box, first_control)
        assert box["y"] + 100 < PHONE["height"]  # on the screen where Paint was pressed
        assert page.get_by_role("button", name="Stop").filter(visible=True).count() == 1
        screenshot(page, "ideal_image_phone_painting")
        page.get_by_role("button", name="Stop").filter(visible=True).click()  # free the server for the next test
        page.wait_for_selector("text=/stopped at step [0-9]+ of 1000/", timeout=60_000)
    finally:
        context.close()
