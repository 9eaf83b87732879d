"""Real browser: the Architectures graph opens a folded block on click; the block pages draw their charts.

The home page is opened first: on a fresh server, Streamlit serves a deep link to a file in pages/
directly (without streamlit_app.py's st.navigation) until the main script has run once.
"""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import errors_on, screenshot, wait_for_app, wait_until_quiet

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _open(page, server, path):
    page.goto(server)
    wait_for_app(page)
    page.goto(f"{server}/{path}")
    wait_for_app(page)
    assert errors_on(page) == []


def _caption(page, pattern):
    return page.get_by_text(re.compile(pattern)).first.inner_text()


def _text_boxes(chart):
    """Bounding boxes of every label plotly drew in the graph (node names and tensor shapes)."""
    return chart.locator("g.textpoint text").evaluate_all(
        "els => els.filter(e => e.textContent).map(e => { const r = e.getBoundingClientRect();"
        " return [r.left, r.top, r.right, r.bottom, e.textContent]; })")


def _overlaps(boxes):
    return [(a[4], b[4]) for i, a in enumerate(boxes) for b in boxes[i + 1:]
            if a[0] < b[2] - 1 and b[0] < a[2] - 1 and a[1] < b[3] - 1 and b[1] < a[3] - 1]


def test_first_view_at_classroom_size(server, browser):
    """1440x900, only the MobileNet weights: no warning, the graph fills the width, no label overlaps."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    try:
        _open(page, server, "architectures")
        assert page.locator("[data-testid=stAlertContentWarning]").count() == 0
        chart = page.get_by_test_id("stPlotlyChart").first
        chart.scroll_into_view_if_needed()
        expect(chart.locator("path.point")).to_have_count(22, timeout=30_000)
        main = page.locator("[data-testid=stMain] [data-testid=stVerticalBlock]").first.bounding_box()
        box = chart.bounding_box()
        assert box["width"] > 0.9 * main["width"]
        boxes = _text_boxes(chart)
        assert len(boxes) > 30 and _overlaps(boxes) == []
        labels = [b[4] for b in boxes]
        assert any(t.startswith("inverted residual ×3") for t in labels) and "112×112×32" in labels, labels
        right = max(b[2] for b in boxes) - box["x"]
        assert right > 0.6 * box["width"]  # the columns reach across the chart
        page.screenshot(path=str(screenshot(page, "architectures_1440x900").with_name("architectures_1440x900.png")))
        chart.screenshot(path=str(screenshot(page, "architectures_1440x900_full").with_name(
            "architectures_1440x900_graph.png")))
    finally:
        context.close()


def test_clicking_a_folded_block_opens_it(server, page):
    _open(page, server, "architectures")
    page.get_by_test_id("stSelectbox").first.click()
    page.keyboard.type("ResNet-50")
    page.keyboard.press("Enter")
    wait_for_app(page)
    # issue 23: folded, the caption counts the model's skip connections, not "0" (they are inside the blocks)
    assert ("Showing 14 nodes for 178 layers; the model has 16 skip connection(s), 16 of them inside folded "
            "blocks") in _caption(page, r"^Showing \d+ nodes")
    chart = page.get_by_test_id("stPlotlyChart").first
    chart.scroll_into_view_if_needed()
    expect(chart.locator("path.point")).to_have_count(14, timeout=30_000)  # plotly draws after the script ends
    # The square just left of the label "conv2_x block ×2 (2-3)" (two identical blocks folded into one).
    label = chart.locator("g.textpoint text", has_text="conv2_x block ×2").bounding_box()
    marks = [b for b in (p.bounding_box() for p in chart.locator("path.point").all())
             if abs(b["y"] + b["height"] / 2 - (label["y"] + label["height"] / 2)) < 6 and b["x"] < label["x"]]
    box = max(marks, key=lambda b: b["x"])
    before = _caption(page, r"^Showing \d+ nodes")
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.get_by_text(re.compile(r"^Showing \d+ nodes")).filter(has_not_text=before).first.wait_for(timeout=60_000)
    wait_for_app(page)
    assert ("Showing 24 nodes for 178 layers; the model has 16 skip connection(s), 15 of them inside folded "
            "blocks") in _caption(page, r"^Showing \d+ nodes")
    assert errors_on(page) == []
    chart = page.get_by_test_id("stPlotlyChart").first
    expect(chart.locator("path.point")).to_have_count(24, timeout=30_000)
    assert _overlaps(_text_boxes(chart)) == []
    page.set_viewport_size({"width": 1400, "height": 2600})  # the whole graph in view for the screenshot
    wait_until_quiet(page)
    chart.screenshot(path=str(screenshot(page, "architectures_resnet50_full").with_name(
        "architectures_resnet50_graph.png")))


@pytest.mark.parametrize("path, charts", [("inception_block", 2), ("residual_block", 1)])
def test_block_pages_draw_their_charts(server, page, path, charts):
    _open(page, server, path)
    assert page.get_by_test_id("stPlotlyChart").count() == charts
    assert page.locator("[data-testid=stMain] img").count() >= 5
    for i in range(charts):
        chart = page.get_by_test_id("stPlotlyChart").nth(i)
        chart.scroll_into_view_if_needed()
        expect(chart.locator(".main-svg").first).to_be_visible(timeout=30_000)
        chart.screenshot(path=str(screenshot(page, f"{path}_full").with_name(f"{path}_chart{i}.png")))
