"""Issue 23: the classroom walk as a test. Every page, at 1440x900, with ?present=1 and at 390x844 (a
student's phone), with only the MobileNet weights on the machine (the fixture cache):

- no text node renders as ``None``, ``nan`` or ``undefined``;
- no text is cut off with an ellipsis inside a metric, a table or a chart title;
- no two number grids or chart labels overlap, and no grid leaves its column or the window
  (:func:`chart_label_problems` with ``tables=True``);
- every run button and its Stop are inside the viewport while a run is going;
- each page's main picture is at least as large in presentation mode as in normal mode.

On the code before issue 23 (commit 4207ffb) it fails for items 1 (Transfer learning's ``None`` per
upload), 5 (Convolution by hand's grids), 6 (Architectures' cut card values) and 7 (smaller pictures
when presenting).
"""

from __future__ import annotations

import pytest

from tests.browser.conftest import (chart_label_problems, errors_on, screenshot, wait_for_app, wait_for_charts,
                                    wait_until_quiet)
from tests.conftest import IMAGES, needs_fixtures

pytestmark = [pytest.mark.browser, pytest.mark.slow, needs_fixtures]

#: Every page of the app, by URL path ("" is Home). A page added to the sidebar must be added here
#: (test_every_page_is_walked).
PAGES = ["", "class", "architectures", "inception_block", "residual_block", "feature_maps", "transfer_learning",
         "ideal_image", "adversarial"]
MODES = {"normal": ({"width": 1440, "height": 900}, ""),
         "present": ({"width": 1440, "height": 900}, "?present=1"),
         "phone": ({"width": 390, "height": 844}, "")}
#: The button that starts each page's long run (its Stop comes from ui.runs.watch).
RUN_BUTTONS = {"ideal_image": "Paint the ideal image", "adversarial": "Fool the network"}
# Settings no other test asks for, different in each mode: the run is computed, never replayed at once from
# the shared cache (a replay has no run going, so no Stop to look for), and it lasts long enough to look.
RUN_QUERY = {"ideal_image": "steps={n}", "adversarial": "eps=1&sure=0.99&steps={n}"}

_BAD_TEXT = """() => {
    const bad = [];
    const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let n = walk.nextNode(); n; n = walk.nextNode()) {
        const p = n.parentElement;
        if (!p || p.closest('script, style, noscript')) continue;
        const t = n.textContent.trim();
        if (['None', 'nan', 'NaN', 'undefined'].includes(t)) bad.push(`${t} in <${p.tagName.toLowerCase()}>`);
    }
    return bad;
}"""

_CUT_TEXT = """() => {
    const cut = [];
    const places = '[data-testid="stMain"] [data-testid="stMetric"] *, [data-testid="stMain"] table *,'
        + '[data-testid="stMain"] .js-plotly-plot .gtitle, [data-testid="stMain"] [data-testid="stMetricValue"]';
    for (const e of document.querySelectorAll(places)) {
        const own = Array.from(e.childNodes).filter(n => n.nodeType === 3).map(n => n.textContent).join('');
        if (own.includes('…')) cut.push(`'${own.trim()}' ends in an ellipsis`);
        const style = getComputedStyle(e);
        if (style.textOverflow === 'ellipsis' && e.scrollWidth > e.clientWidth + 1)
            cut.push(`'${e.textContent.trim().slice(0, 40)}' is cut off with an ellipsis`);
    }
    return cut;
}"""

# Every picture on the page, in page order: width, height (the main one is the largest in normal mode;
# presenting, the picture in the same place is compared with it).
_PICTURES = """() => Array.from(document.querySelectorAll('[data-testid="stMain"] img'))
    .map(e => { const r = e.getBoundingClientRect(); return {width: r.width, height: r.height}; })"""


def _open(page, server: str, path: str, query: str) -> None:
    page.goto(f"{server}/{path}{query}")
    wait_for_app(page, timeout=240_000)
    wait_for_charts(page, timeout=120_000)


def _in_viewport(page, locator) -> bool:
    box = locator.bounding_box(timeout=10_000)
    size = page.viewport_size
    return (box is not None and box["x"] >= 0 and box["y"] >= 0 and box["x"] + box["width"] <= size["width"]
            and box["y"] + box["height"] <= size["height"])


def _upload_photos(page) -> None:
    """Transfer learning as a teacher uses it: photos uploaded into the first class."""
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(
        [str(IMAGES / "cat.jpg"), str(IMAGES / "dog.jpg"), str(IMAGES / "parrot.jpg")])
    page.get_by_text("3 image(s)").first.wait_for(timeout=60_000)
    wait_for_app(page)


def _run_and_stop(page, label: str) -> list[str]:
    """Start the page's run; while it goes, its button and Stop must be on screen. Then stop it."""
    problems = []
    button = page.get_by_role("button", name=label)
    button.scroll_into_view_if_needed()
    wait_until_quiet(page)
    button.click()
    stop = page.locator('[data-testid="stMain"]').get_by_role("button", name="Stop")  # the page's, not the toolbar's
    stop.wait_for(state="visible", timeout=120_000)
    if not _in_viewport(page, button):
        problems.append(f"'{label}' is off screen while its run goes")
    if not _in_viewport(page, stop):
        problems.append("Stop is off screen while the run goes")
    stop.click()
    wait_for_app(page, timeout=120_000)
    return problems


def _check(page) -> list[str]:
    return (errors_on(page) + page.evaluate(_BAD_TEXT) + page.evaluate(_CUT_TEXT)
            + chart_label_problems(page, tables=True))


def test_every_page_is_walked(server, page):
    page.goto(server)
    wait_for_app(page)
    hrefs = page.eval_on_selector_all('[data-testid="stSidebarNav"] a', "as => as.map(a => a.href)")
    listed = [h.removeprefix(server).strip("/") for h in hrefs]
    assert set(listed) <= set(PAGES), f"add {set(listed) - set(PAGES)} to PAGES"


@pytest.mark.parametrize("path", PAGES, ids=[p or "home" for p in PAGES])
def test_classroom_walk(server, browser, path):
    found: dict[str, list[str]] = {}
    pictures = {}
    for mode, (viewport, query) in MODES.items():
        context = browser.new_context(viewport=viewport)
        page = context.new_page()
        try:
            page.goto(server)  # the app shell first (tests/browser/test_deep_link.py)
            wait_for_app(page)
            if path in RUN_QUERY:
                unique = RUN_QUERY[path].format(n=480 + list(MODES).index(mode))
                query = f"{query}&{unique}" if query else f"?{unique}"
            _open(page, server, path, query)
            if path == "transfer_learning":
                _upload_photos(page)
            problems = _check(page)
            pictures[mode] = page.evaluate(_PICTURES)
            screenshot(page, f"walk_{path or 'home'}_{mode}")
            if path == "feature_maps":
                page.get_by_role("tab", name="Convolution by hand").click()
                page.get_by_text("The network computed").first.wait_for(timeout=120_000)
                wait_for_app(page)
                problems += [f"Convolution by hand: {p}" for p in _check(page)]
                screenshot(page, f"walk_{path}_{mode}_by_hand")
            if path in RUN_BUTTONS:
                problems += _run_and_stop(page, RUN_BUTTONS[path])
                problems += _check(page)
                screenshot(page, f"walk_{path}_{mode}_stopped")
            if problems:
                found[mode] = problems
        finally:
            context.close()
    normal, presenting = pictures["normal"], pictures["present"]
    if normal:
        main = max(range(len(normal)), key=lambda i: normal[i]["width"] * normal[i]["height"])
        assert len(presenting) > main, "the main picture is gone when presenting"
        if presenting[main]["width"] < normal[main]["width"] - 1:
            found.setdefault("present", []).append(
                f"main picture {presenting[main]['width']:.0f} px wide presenting, {normal[main]['width']:.0f} px normally")
    assert found == {}, found
