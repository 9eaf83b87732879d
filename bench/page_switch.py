"""Page switching in a real browser: first visit vs a later visit (models and graphs cached).

Starts the app (offline weights from ../shared/fixtures when present, like the tests), opens it in
headless Chromium, and for each page measures, side by side in one run:
  first  - the first click on the page's sidebar link (models built, graphs computed, cached);
  switch - later visits Home -> page (median of 3): what a student feels when moving between pages.
A visit ends when the script has finished and the page's chart is drawn.

Run: python bench/page_switch.py   (needs playwright + Debian chromium, as the browser tests)
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import tests.conftest  # noqa: E402,F401  (KERAS_HOME -> a temp copy of the fixture cache)
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, _free_port, start_server, wait_for_app  # noqa: E402

PAGES = [("Architectures", "Architectures"), ("Inception block", "Inception block"),
         ("Residual block", "Residual block")]
READY = """([title]) => {
    const h = document.querySelector('[data-testid="stMain"] h1');
    const app = document.querySelector('[data-testid="stApp"]');
    const chart = document.querySelector('[data-testid="stPlotlyChart"] .main-svg');
    return h && h.innerText.trim().startsWith(title) && chart
        && app.getAttribute('data-test-script-state') !== 'running'
        && !document.querySelector('[data-testid="stStatusWidget"]');
}"""


def visit(page, link: str, title: str) -> float:
    start = time.perf_counter()
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=link, exact=True).click()
    page.wait_for_function(READY, arg=[title], polling=50, timeout=300_000)
    return time.perf_counter() - start


def home(page) -> None:
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Home", exact=True).click()
    page.wait_for_function("() => [...document.querySelectorAll('h1')].some(h => h.innerText.includes('CNN Explorer'))",
                           polling=50, timeout=60_000)
    wait_for_app(page)


def main() -> None:
    from playwright.sync_api import sync_playwright

    port = _free_port()
    proc = start_server(port)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"http://127.0.0.1:{port}/")
            wait_for_app(page)
            print(f"{'page':<18}{'first visit s':>15}{'later visit s':>15}{'first/later':>13}")
            for link, title in PAGES:
                first = visit(page, link, title)
                later = []
                for _ in range(3):
                    home(page)
                    later.append(visit(page, link, title))
                median = statistics.median(later)
                print(f"{title:<18}{first:>15.2f}{median:>15.2f}{first / median:>12.1f}x", flush=True)
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=15)


if __name__ == "__main__":
    main()
