"""The adversarial page in a real browser at 1440x900: the Fool button and the changing pictures are on one
screen during a run, the default attack makes MobileNetV2 sure, a lesson link restores its settings."""

import pytest

from tests.browser.conftest import errors_on, screenshot, wait_for_app, wait_for_charts, wait_until_quiet
from tests.conftest import needs_fixtures

pytestmark = [pytest.mark.browser, pytest.mark.slow]

HEIGHT = 900


@pytest.fixture
def wide(page):
    page.set_viewport_size({"width": 1440, "height": HEIGHT})
    return page


def _in_view(locator) -> tuple[float, float]:
    """Top and bottom of an element (the animation replaces pictures in place: retry while one is swapped)."""
    for _ in range(20):
        locator.wait_for(state="visible", timeout=5_000)
        box = locator.bounding_box(timeout=5_000)
        if box is not None:
            return box["y"], box["y"] + box["height"]
    raise AssertionError("not drawn")


def _open(page, server: str, query: str = "") -> None:
    """The page from a lesson link, the home page first: a fresh server's first request decides the
    navigation mode."""
    page.goto(server)
    wait_for_app(page)
    page.goto(f"{server}/adversarial{query}")
    page.wait_for_selector(".js-plotly-plot", timeout=60_000)
    wait_for_charts(page)  # plotly paints after the script run


def _finished(page, timeout: float) -> None:
    """Wait for the attack's headline (fooled or not) and the page's last run."""
    page.wait_for_selector('[data-testid="stAlertContentSuccess"], [data-testid="stAlertContentWarning"]',
                           timeout=timeout)
    wait_for_app(page)


@needs_fixtures
def test_button_and_pictures_share_the_screen_and_the_default_makes_it_sure(server, wide):
    _open(wide, server)
    assert errors_on(wide) == []
    assert wide.query_selector_all('[data-testid="stAlertContentWarning"]') == []  # first view: no warning
    screenshot(wide, "adversarial_1440")
    button = wide.get_by_role("button", name="Fool the network")
    pictures = wide.locator('[data-testid="stMain"] [data-testid="stImage"]')
    button.click()
    wide.wait_for_selector('[data-testid="stProgress"]', timeout=120_000)  # the run is going
    for element in (button, pictures.nth(0), pictures.nth(2), wide.locator(".js-plotly-plot").first):
        top, bottom = _in_view(element)
        assert 0 <= top and bottom <= HEIGHT, (top, bottom)
    screenshot(wide, "adversarial_running")
    wide.wait_for_selector('[data-testid="stAlertContentSuccess"]', timeout=240_000)
    wait_for_app(wide)
    assert errors_on(wide) == []
    headline = wide.inner_text('[data-testid="stAlertContentSuccess"]')
    assert "MobileNetV2 is now" in headline and "sure it sees tabby" in headline, headline
    percent = int(headline.split("is now ")[1].split("%")[0])
    assert percent >= 90, headline  # the default payoff: sure, within 2 levels
    assert "more than 2 level(s)" in headline
    top, bottom = _in_view(pictures.nth(2))
    assert bottom <= HEIGHT
    wait_for_charts(wide)
    screenshot(wide, "adversarial_fooled_1440")
    # below the live demo: Grad-CAM before / after, every network's verdict, the epsilon sweep
    wide.get_by_role("button", name="Ask every network").click()
    wide.wait_for_selector('[data-testid="stTable"]', timeout=120_000)
    wide.get_by_role("button", name="Sweep the budget").click()
    wide.wait_for_selector('text=/Fooled from ε|Not fooled at any budget/', timeout=240_000)
    wait_for_app(wide)
    assert errors_on(wide) == []
    wide.get_by_text("Where does the network look?").scroll_into_view_if_needed()
    wait_until_quiet(wide)
    screenshot(wide, "adversarial_gradcam_1440")
    wide.get_by_text("How big must the change be?").scroll_into_view_if_needed()
    wait_until_quiet(wide)
    screenshot(wide, "adversarial_sweep_1440")


@needs_fixtures
def test_a_lesson_link_restores_the_settings_in_presentation_mode(server, wide):
    _open(wide, server, "?present=1&eps=4&target=282&sure=0.75&model=mobilenet_0.25")
    assert errors_on(wide) == []
    text = wide.inner_text('[data-testid="stMain"]')
    assert "at most 4 level(s) of 255 until it is 75% sure it sees 'tiger cat'" in text, text[:2000]
    assert "could not be used" not in text
    ticks = wide.evaluate("""() => Array.from(document.querySelectorAll('[data-testid="stMain"] .ytick text'))
                             .map(e => e.textContent)""")
    assert ticks and all("µ" not in t and "e-" not in t for t in ticks), ticks
    sizes = wide.evaluate("""() => Array.from(document.querySelectorAll(
        '[data-testid="stMain"] .ytick text, [data-testid="stMain"] .g-xtitle text'))
        .map(e => parseFloat(e.style.fontSize || getComputedStyle(e).fontSize))""")
    assert sizes and min(sizes) >= 16, sizes  # readable from the back row
    screenshot(wide, "adversarial_present_1440")
    button = wide.get_by_role("button", name="Fool the network")
    pictures = wide.locator('[data-testid="stMain"] [data-testid="stImage"]')
    button.click()
    wide.wait_for_selector('[data-testid="stProgress"]', timeout=120_000)
    for element in (button, pictures.nth(0), pictures.nth(2)):  # presenting, the pictures stay by the button
        top, bottom = _in_view(element)
        assert 0 <= top and bottom <= HEIGHT, (top, bottom)
    _finished(wide, 240_000)
    assert errors_on(wide) == []
    wait_for_charts(wide)
    screenshot(wide, "adversarial_present_done_1440")


@needs_fixtures
def test_make_it_transfer_runs_and_the_networks_it_never_saw_judge(server, wide):
    """Issue 24: the "Make it transfer" switch (on from a lesson link), its words, a run, its caption."""
    _open(wide, server, "?model=mobilenet_0.25&eps=8&transfer=1")
    assert errors_on(wide) == []
    wide.get_by_text("Method, steps, ensemble").click()
    switch = wide.get_by_role("switch", name="Make it transfer")
    switch.wait_for(state="attached", timeout=30_000)
    assert switch.is_checked()
    wide.get_by_text("keeps pushing past 90% sure").wait_for(timeout=30_000)
    wide.get_by_role("button", name="Fool the network").click()
    _finished(wide, 300_000)
    assert errors_on(wide) == []
    headline = wide.inner_text('[data-testid="stAlertContentSuccess"], [data-testid="stAlertContentWarning"]')
    assert "made to transfer (momentum + input diversity, " in headline and " steps, ε 8;" in headline, headline
    # the networks it never saw judge at once: MobileNetV2 and MobileNet 0.75 here
    wide.wait_for_selector('[data-testid="stTable"]', timeout=120_000)
    wide.get_by_text("of the 2 network(s) the attack never saw").wait_for(timeout=60_000)
    wait_for_charts(wide)
    screenshot(wide, "adversarial_transfer_1440")
