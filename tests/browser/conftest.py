"""Real-browser fixtures: a Streamlit server on a free local port and headless Debian Chromium.

Chromium comes from Debian's package (`scripts/test.sh` installs it); Playwright drives it through
``executable_path``, so no browser is downloaded.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ROOT

ARTIFACTS = ROOT / "tests" / "_artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int, env: dict | None = None, log: Path | None = None) -> subprocess.Popen:
    """Start `streamlit run streamlit_app.py` on 127.0.0.1:port and wait until it answers."""
    cmd = [sys.executable, "-m", "streamlit", "run", str(ROOT / "streamlit_app.py"), "--server.port", str(port),
           "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false",
           "--server.fileWatcherType", "none"]
    out = open(log, "w") if log else subprocess.DEVNULL
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.time() + 90
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}; see {log}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError("streamlit did not start within 90 s")


@contextlib.contextmanager
def running_server(env: dict | None = None, log_name: str = "streamlit.log"):
    """A CNN Explorer server on a free local port for the ``with`` block (its log in tests/_artifacts)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    proc = start_server(port, env=env, log=ARTIFACTS / log_name)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status == 200
    except OSError:
        return False


@contextlib.contextmanager
def running_replicas(tmp: Path, env: dict | None = None):
    """``deploy/run_replicas.sh 2`` (two replicas behind Debian's nginx) on free loopback ports, in its own
    process group, stopped at the end; yields ``(base_url, first_replica_port)``. Its log is ``tmp/run.log``.
    nginx's workers (user nobody under root) write uploads over 16 kB to the prefix's body/ folder, so the
    prefix sits in /tmp as the script's own default does (pytest's tmp folders are private to root)."""
    port, first = _free_port(), _free_port()
    while first + 1 == port or not port_free(first + 1):
        first = _free_port()
    prefix = tempfile.mkdtemp(prefix="cnn-explorer-nginx.")
    log = open(tmp / "run.log", "w")
    proc = subprocess.Popen(["bash", str(ROOT / "deploy" / "run_replicas.sh"), "2", str(port), str(first)],
                            cwd=ROOT, env={**os.environ, "NGINX_PREFIX": prefix, **(env or {})}, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 240
        while not _healthy(f"{base}/_stcore/health"):
            assert proc.poll() is None, (tmp / "run.log").read_text()
            assert time.time() < deadline, "nginx + 2 replicas did not answer within 240 s"
            time.sleep(1)
        yield base, first
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):  # the script's own process group: replicas and nginx
            try:
                os.killpg(proc.pid, sig)
                proc.wait(timeout=30)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        deadline = time.time() + 30
        while not port_free(port) and time.time() < deadline:  # nginx gone before the next test binds ports
            time.sleep(0.2)
        log.close()
        shutil.rmtree(prefix, ignore_errors=True)


@pytest.fixture(scope="session")
def server():
    """Base URL of a running CNN Explorer (offline weights from the fixture cache)."""
    store = Path(tempfile.mkdtemp(prefix="cnn_explorer_classes_"))  # the Class page's database, not ~/.local
    with running_server({"CNN_EXPLORER_DB": f"sqlite:///{store / 'classes.db'}"}) as url:
        yield url
    shutil.rmtree(store, ignore_errors=True)


@pytest.fixture(scope="session")
def browser():
    if CHROMIUM is None:
        pytest.fail("Chromium is not installed: run `bash scripts/test.sh` (it installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1440, "height": 900})  # the classroom standard
    pg = context.new_page()
    yield pg
    context.close()


#: How long the page must stay unchanged (no element added, removed or changed) to count as drawn.
QUIET_MS = 500

# Records the time of the page's last DOM change (installed once per document, on first use).
_WATCH_CHANGES = """() => {
    if (!window.__explorerQuiet) {
        window.__explorerQuiet = {last: performance.now()};
        new MutationObserver(() => { window.__explorerQuiet.last = performance.now(); })
            .observe(document.documentElement, {subtree: true, childList: true, attributes: true, characterData: true});
    }
    window.__explorerQuiet.last = performance.now();
}"""

_APP_DONE = """() => {
    const app = document.querySelector('[data-testid="stApp"]');
    return app && app.getAttribute('data-test-script-state') === 'notRunning'
        && !document.querySelector('[data-testid="stStatusWidget"]')
        && !!document.querySelector('[data-testid="stMain"] [data-testid="stElementContainer"]');
}"""

_CHARTS_DRAWN = """() => Array.from(document.querySelectorAll('[data-testid="stMain"] [data-testid="stPlotlyChart"]'))
    .every(c => { const plot = c.querySelector('.js-plotly-plot');
                  return plot && plot._fullLayout && plot.querySelector('.main-svg .cartesianlayer, .main-svg .pielayer'); })"""


def wait_until_quiet(page, timeout: float = 120_000, quiet_ms: int = QUIET_MS, condition: str | None = None) -> None:
    """Wait until the page has not changed for ``quiet_ms`` (and ``condition``, a JS function, holds):
    a condition on the page, not a fixed sleep, for what is drawn after the script (plotly, lazy widgets,
    a layout after a resize)."""
    page.evaluate(_WATCH_CHANGES)
    check = condition or "() => true"
    page.wait_for_function(
        f"() => ({check})() && performance.now() - window.__explorerQuiet.last >= {int(quiet_ms)}",
        timeout=timeout, polling=100)


def wait_for_app(page, timeout: float = 120_000) -> None:
    """Wait until Streamlit has finished running the script (no 'Running' status, app rendered) and the
    page has settled (nothing changed for :data:`QUIET_MS`)."""
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout)
    page.wait_for_selector('[data-testid="stMain"]', timeout=timeout)
    wait_until_quiet(page, timeout, condition=_APP_DONE)


def wait_for_charts(page, timeout: float = 60_000) -> None:
    """Wait for the script run and until every plotly chart on the page has drawn its axes (plotly draws
    after the script run), then until the page is quiet."""
    wait_for_app(page, timeout)
    page.wait_for_function(_CHARTS_DRAWN, timeout=timeout, polling=100)
    wait_until_quiet(page, timeout)


def errors_on(page) -> list[str]:
    """Texts of every exception box and st.error on the page."""
    boxes = page.query_selector_all('[data-testid="stException"], [data-testid="stAlertContentError"]')
    return [b.inner_text()[:500] for b in boxes]


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


# Every chart's text (legend, axis titles, tick labels) inside the chart and clear of every other label.
CHART_LABEL_PROBLEMS = """() => {
    const problems = [];
    for (const plot of document.querySelectorAll('[data-testid="stMain"] .js-plotly-plot')) {
        const frame = plot.getBoundingClientRect();
        const labels = Array.from(plot.querySelectorAll(
            '.legendtext, .gtitle, .g-xtitle text, .g-ytitle text, .g-y2title text, .xtick text, .ytick text, .y2tick text'))
            .map(e => [e.textContent, e.getBoundingClientRect()]).filter(([t, r]) => t.trim() && r.width > 0);
        for (const [t, r] of labels) {
            if (r.left < frame.left - 1 || r.right > frame.right + 1 || r.top < frame.top - 1 || r.bottom > frame.bottom + 1)
                problems.push(`'${t}' is cut off`);
        }
        for (let i = 0; i < labels.length; i++) for (let j = i + 1; j < labels.length; j++) {
            const [a, p] = labels[i], [b, q] = labels[j];
            if (p.left < q.right - 1 && q.left < p.right - 1 && p.top < q.bottom - 1 && q.top < p.bottom - 1)
                problems.push(`'${a}' overlaps '${b}'`);
        }
    }
    return problems;
}"""




# Number grids (HTML tables, Streamlit's st.table) inside their column and the window, clear of each other.
TABLE_PROBLEMS = """() => {
    const problems = [];
    const width = document.documentElement.clientWidth;
    const tables = Array.from(document.querySelectorAll('[data-testid="stMain"] table'))
        .filter(t => t.getBoundingClientRect().width > 0);
    const name = t => (t.innerText || '').trim().split(/\\s+/).slice(0, 3).join(' ');
    for (const t of tables) {
        const r = t.getBoundingClientRect();
        if (r.right > width + 1) problems.push(`table '${name(t)}' runs past the window's right edge`);
        const box = t.closest('[data-testid="stColumn"], [data-testid="stElementContainer"]');
        if (box) {
            const b = box.getBoundingClientRect();
            if (r.left < b.left - 1 || r.right > b.right + 1) problems.push(`table '${name(t)}' runs out of its column`);
        }
        for (const cell of t.querySelectorAll('td, th')) {
            if (cell.scrollWidth > cell.clientWidth + 1 && getComputedStyle(cell).overflow !== 'visible')
                problems.push(`cell '${cell.innerText.trim()}' of table '${name(t)}' is cut off`);
        }
    }
    for (let i = 0; i < tables.length; i++) for (let j = i + 1; j < tables.length; j++) {
        const p = tables[i].getBoundingClientRect(), q = tables[j].getBoundingClientRect();
        if (p.left < q.right - 1 && q.left < p.right - 1 && p.top < q.bottom - 1 && q.top < p.bottom - 1)
            problems.push(`table '${name(tables[i])}' overlaps table '${name(tables[j])}'`);
    }
    return problems;
}"""


def chart_label_problems(page, tables: bool = False) -> list[str]:
    """Labels of the page's plotly charts that are cut off or overlap another label (empty: all clear);
    ``tables``: also HTML number grids that overlap, leave their column or the window (:data:`TABLE_PROBLEMS`)."""
    return page.evaluate(CHART_LABEL_PROBLEMS) + (page.evaluate(TABLE_PROBLEMS) if tables else [])
