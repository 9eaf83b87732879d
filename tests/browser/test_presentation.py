"""Presentation mode in a real browser: large text and chart labels, and it stays on across pages."""

import pytest

from tests.browser.conftest import screenshot, wait_for_charts

pytestmark = pytest.mark.browser

BODY_TEXT = """() => Array.from(document.querySelectorAll(
    '[data-testid="stMain"] [data-testid="stMarkdownContainer"] p, [data-testid="stMain"] [data-testid="stCaptionContainer"]'))
    .filter(e => e.offsetParent !== null && e.innerText.trim().length > 0)
    .map(e => parseFloat(getComputedStyle(e).fontSize))"""
CHART_TEXT = """() => Array.from(document.querySelectorAll(
    '[data-testid="stMain"] .xtick text, [data-testid="stMain"] .ytick text, [data-testid="stMain"] .g-xtitle text, [data-testid="stMain"] .g-ytitle text'))
    .map(e => parseFloat(e.style.fontSize || getComputedStyle(e).fontSize))"""


def _open(page, url):
    page.goto(url)
    wait_for_charts(page)  # plotly draws after the script run


def test_presentation_mode_sizes_and_it_survives_a_page_switch(server, browser):
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    _open(page, f"{server}/residual_block")
    normal = page.evaluate(BODY_TEXT)
    assert normal and min(normal) < 20  # normal mode is normal size: the check below can fail

    _open(page, f"{server}/residual_block?present=1")
    body, ticks = page.evaluate(BODY_TEXT), page.evaluate(CHART_TEXT)
    assert body and min(body) >= 20, body
    assert ticks and min(ticks) >= 16, ticks
    toggle = page.locator('[data-testid="stSidebar"] .st-key-present_toggle input')
    assert toggle.is_checked()
    screenshot(page, "presentation_residual_block")

    page.get_by_test_id("stSidebarNav").get_by_text("Inception block", exact=True).click()
    wait_for_charts(page)
    assert "present=1" in page.url
    assert page.locator('[data-testid="stSidebar"] .st-key-present_toggle input').is_checked()
    body = page.evaluate(BODY_TEXT)
    assert body and min(body) >= 20, body
    context.close()


def test_presentation_style_does_not_wait_for_lazily_loaded_code(server, page):
    """The browser fetches Streamlit's code for some elements (``st.html`` among them) only when the first
    one arrives; on a busy server the text once showed at normal size for seconds before the presentation
    style came. Here that code never arrives: the text is projector-sized all the same, and the element
    carrying the style takes no room (the title stays where it was)."""
    page.route("**/Html.*.js", lambda route: route.abort())
    _open(page, f"{server}/residual_block?present=1")
    body = page.evaluate(BODY_TEXT)
    assert body and min(body) >= 20, body
    title_top = page.locator("h1").first.bounding_box()["y"]
    first_shown = page.evaluate("""() => Math.min(...Array.from(document.querySelectorAll(
        '[data-testid="stMain"] [data-testid="stElementContainer"]'))
        .filter(e => e.offsetParent !== null).map(e => e.getBoundingClientRect().top))""")
    assert title_top == first_shown  # nothing laid out above the title, not even an empty line
    _open(page, f"{server}/?present=1")  # the home page's links, styled the same way
    sizes = page.evaluate("""() => Array.from(document.querySelectorAll('[data-testid="stPageLink"] p'))
        .map(e => parseFloat(getComputedStyle(e).fontSize))""")
    assert sizes and min(sizes) >= 20, sizes
