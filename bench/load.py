"""Classroom load test: N students open a running CNN Explorer at once, in real browsers.

Starts nothing itself: run the app first (``streamlit run streamlit_app.py --server.port 8501``), then

    python bench/load.py --port 8501 --sessions 20

Each session is its own headless Chromium context (its own Streamlit session) that opens every page in
``--pages`` (default: feature maps, then the ideal class image), waits until the app has finished
running, and on pages with a button labelled "Run", "Start" or "Paint" (found by its role, whatever the page
looks like) clicks it and waits for that run to end. With ``--distinct`` each session opens the ideal-image
page by a lesson link with a class of its own (``?class=281``; identical runs are computed once, so the
default measures sharing, this measures batching). All sessions start together (``--ramp`` spreads them over some seconds). Meanwhile the server's resident memory is sampled from /proc (the process is
found by the port it listens on, or given with ``--pid``; no psutil needed).

Two things make one machine stand in for a classroom:

- *Warm-up* (skip with ``--cold``): before the clock starts, one untimed session opens every page once,
  as the teacher does before class, so the timed sessions do not also measure TensorFlow's import, the
  first model load and the first compilation (opening *Ideal class image* compiles its Paint steps in
  the background; the bench waits until the server is idle). It presses nothing: no run is cached.
- *Browsers on their own machines* (``--no-nice-browsers`` to turn off): in a classroom each student's browser runs
  on the student's laptop; here twenty Chromium pages share the server's cores. The bench therefore
  keeps itself and every thread of the browsers it starts at the lowest priority, ``nice 19`` (checked
  twice a second: Chromium raises some of its threads' priority itself), and the browsers' own
  scheduling group at ``nice 10`` (Linux's autogroup: Chromium starts its own session, and without
  this the kernel shares the cores equally between the server's group and the browsers' whatever the
  nice values): when the server wants both cores, the twenty pages together keep about a tenth of them,
  enough to stay connected, instead of half. Not Linux's idle class: that starves the browsers completely while
  a run keeps both cores busy, and their connections then time out, which no classroom laptop does.

Output: one line per step (page load, run) with its latencies, then one final line:

    sessions=20 errors=0 p50=1.2s p95=3.4s peak_rss=1.10GB

p50/p95 are over every timed step of every session; ``errors`` counts steps that timed out or showed an
exception or ``st.error`` box; peak_rss is the server's largest RSS during the run (``n/a`` if the
server belongs to another user). Needs Playwright (requirements-dev.txt) and Debian's chromium.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import statistics
import sys
import threading
import time
from pathlib import Path

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
# The heavy run every session presses: the ideal-image page's main button (not the smaller paint buttons
# inside other pages' sections, e.g. Feature maps' "Paint its ideal image" for one channel).
RUN_BUTTON = "Paint the ideal image"
# Streamlit marks the app root with data-test-script-state (initial/running/notRunning). The script being
# done is not the page being shown: widget components are loaded lazily, so a page counts as ready once
# the script has been seen running (after a click: or the server has answered and the main area changed)
# and is done, no HTTP request is in flight, and the main area has not changed for QUIET_MS. The step's
# latency is the time of that last change (visually complete). A page that never goes quiet (animations,
# fragments with run_every) counts as ready 5 s after its script ended.
QUIET_MS = 750
TRACK_RUNS_JS = """
window.__benchRunSeen = false; window.__benchSince = 0; window.__benchState = 0; window.__benchDom = 0;
new MutationObserver(changes => {
    const now = performance.now();
    for (const c of changes) {
        if (c.type === 'attributes' && c.attributeName === 'data-test-script-state') {
            // Any change counts, from the record's old value too. A quick run (a replayed result) can
            // still leave no trace here: a page catching up on a backlog of messages renders its start
            // and its end at once, so the attribute never changes; wait_idle's answered() covers that.
            const s = c.target.getAttribute('data-test-script-state');
            if (s !== 'notRunning' || (c.oldValue && c.oldValue !== 'notRunning')) window.__benchRunSeen = true;
            window.__benchState = now;
        } else if (c.target.closest && c.target.closest('[data-testid="stMain"]')) {
            window.__benchDom = now;
        }
    }
}).observe(document, {attributes: true, attributeOldValue: true, childList: true, characterData: true, subtree: true});
new PerformanceObserver(list => {  // a lazily loaded component arriving counts as activity too
    for (const e of list.getEntries()) window.__benchDom = Math.max(window.__benchDom, e.responseEnd);
}).observe({type: 'resource', buffered: true});
"""
RESET_JS = """() => { window.__benchRunSeen = false; window.__benchSince = performance.now();
    window.__benchState = window.__benchSince; window.__benchDom = window.__benchSince; }"""
IDLE_JS = """(answered) => {
    const app = document.querySelector('[data-testid="stApp"]');
    if (!app || app.getAttribute('data-test-script-state') !== 'notRunning') return null;
    if (!window.__benchRunSeen && !(answered && window.__benchDom > window.__benchSince)) return null;
    if (document.querySelector('[data-testid="stStatusWidget"]')) return null;
    if (!document.querySelector('[data-testid="stMain"] [data-testid="stElementContainer"]')) return null;
    const now = performance.now(), last = Math.max(window.__benchState, window.__benchDom);
    if (now - last > %d) return last - window.__benchSince;
    if (now - window.__benchState > 5000) return window.__benchState - window.__benchSince;
    return null;
}""" % QUIET_MS
STATE_JS = """() => {
    const app = document.querySelector('[data-testid="stApp"]');
    const status = document.querySelector('[data-testid="stStatusWidget"]');
    return `script ${app && app.getAttribute('data-test-script-state')}, run seen ${window.__benchRunSeen}, ` +
        `status widget ${status ? JSON.stringify(status.innerText.slice(0, 60)) : 'none'}, ` +
        `last change ${Math.round(performance.now() - Math.max(window.__benchState, window.__benchDom))} ms ago, ` +
        `${document.querySelectorAll('[data-testid="stMain"] [data-testid="stImage"]').length} images shown`;
}"""
ERRORS_JS = """() => [...document.querySelectorAll('[data-testid="stException"], [data-testid="stAlertContentError"]')]
    .map(e => e.innerText.slice(0, 300))"""


def server_pid(port: int) -> int | None:
    """PID of the process listening on a local TCP port, from /proc (None if not visible to us)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # 0A = LISTEN
                inodes.add(fields[9])
    targets = {f"socket:[{i}]" for i in inodes}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                if os.readlink(fd) in targets:
                    return int(proc.name)
        except OSError:
            continue
    return None


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU time a process has used so far (from /proc/PID/stat)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError, TypeError):
        return None


def rss_bytes(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parent = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(parent, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


class Renicer(threading.Thread):
    """Keeps this process and every thread of its descendants (the browsers) at nice 19, their autogroup at 10."""

    NICE = 19
    # The browsers' group as a whole keeps about a tenth of the machine when the server wants it all
    # (weights 110 : 1024). At 19 (15 : 1024) twenty pages got nothing for the minutes a batch of
    # distinct runs keeps both cores busy, their connections timed out and the sessions hung.
    GROUP_NICE = 10

    def __init__(self, interval: float = 0.5):
        super().__init__(daemon=True)
        self.interval = interval
        self._done = threading.Event()

    @staticmethod
    def _group(pid: int) -> str | None:
        try:
            with open(f"/proc/{pid}/autogroup") as f:
                return f.read().split()[0]
        except (OSError, IndexError):
            return None

    def renice(self) -> None:
        own = self._group(os.getpid())  # shared with whatever started the bench (the server, often): untouched
        for pid in [os.getpid()] + descendants(os.getpid()):
            group = self._group(pid)
            try:  # the browser starts its own session, so its own scheduling group: lower that group
                if group is not None and group != own:
                    with open(f"/proc/{pid}/autogroup", "r+") as f:
                        if not f.read().rstrip().endswith(f"nice {self.GROUP_NICE}"):
                            f.write(str(self.GROUP_NICE))
            except OSError:
                pass  # no autogroups on this kernel, or not allowed: thread nice values still apply
            try:
                tasks = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
            except OSError:
                continue
            for tid in tasks:  # on Linux a nice value belongs to a thread
                try:
                    if os.getpriority(os.PRIO_PROCESS, tid) != self.NICE:
                        os.setpriority(os.PRIO_PROCESS, tid, self.NICE)
                except OSError:
                    pass

    def run(self):
        while not self._done.is_set():
            self.renice()
            self._done.wait(self.interval)

    def stop(self):
        self._done.set()
        self.join(2)


class RssSampler(threading.Thread):
    """Samples a process's RSS every ``interval`` seconds; ``peak`` is the largest seen."""

    def __init__(self, pid: int | None, interval: float = 0.2):
        super().__init__(daemon=True)
        self.pid, self.interval, self.peak = pid, interval, None
        self._done = threading.Event()

    def run(self):
        while self.pid and not self._done.is_set():
            value = rss_bytes(self.pid)
            if value is not None:
                self.peak = max(self.peak or 0, value)
            self._done.wait(self.interval)

    def stop(self):
        self._done.set()
        self.join(2)


class Wire:
    """What crossed a page's websockets (Streamlit's connection): frame counts, closes, console errors;
    for saying, when a run never comes, whether the click reached the server and what came back."""

    def __init__(self):
        self.sent = self.received = self.closed = self.opened = 0
        self.last_received = None
        self.console: list[str] = []

    def follow(self, ws) -> None:
        self.opened += 1
        ws.on("framesent", lambda _: self._count("sent"))
        ws.on("framereceived", lambda _: self._count("received"))
        ws.on("close", lambda _: self._count("closed"))

    def _count(self, what: str) -> None:
        setattr(self, what, getattr(self, what) + 1)
        if what == "received":
            self.last_received = time.monotonic()

    def mark(self) -> tuple:
        return self.sent, self.received, self.closed, self.opened, len(self.console), time.monotonic()

    def answered_since(self, mark: tuple) -> bool:
        """The server has sent something since ``mark``."""
        return self.received > mark[1]

    def since(self, mark: tuple) -> str:
        sent, received, closed, opened, console, at = mark
        last = "never" if self.last_received is None else f"{self.last_received - at:+.1f} s after the click"
        return (f"{self.sent - sent} websocket frames sent, {self.received - received} received (last {last}), "
                f"{self.opened - opened} opened, {self.closed - closed} closed; console errors: "
                f"{self.console[console:][:3]}")


async def wait_idle(page, inflight: set, timeout_ms: float, answered=lambda: False) -> float:
    """Wait until the page is ready (IDLE_JS, and no HTTP request such as a component chunk in flight);
    return the step's latency in seconds. ``answered()``: the server has sent something since the click,
    which with a change in the main area counts as the run having happened even when the script's state
    was never seen to change (a quick run whose start and end the page took in at once)."""
    deadline = time.monotonic() + timeout_ms / 1000
    while time.monotonic() < deadline:
        latency = await page.evaluate(IDLE_JS, answered())
        if latency is not None and not inflight:
            return latency / 1000.0
        await asyncio.sleep(0.1)
    state = await page.evaluate(STATE_JS)
    raise TimeoutError(f"page not ready after {timeout_ms / 1000:.0f} s ({state}; "
                       f"{len(inflight)} HTTP requests in flight: {[r.url[-60:] for r in list(inflight)[:3]]})")


# --distinct: session i opens the ideal-image page by a lesson link with class DISTINCT_CLASSES[i % len]
# (never the default class, 284), as a teacher handing each student a different class would.
DISTINCT_CLASSES = [281, 340, 285, 207, 1, 417, 950, 130, 291, 323, 388, 409, 430, 466, 504, 532, 555, 717, 849, 980]


async def run_session(browser, base: str, pages: list[str], index: int, delay: float, timeout_ms: float,
                      steps: list, errors: list, distinct: bool = False, press: bool = True) -> None:
    await asyncio.sleep(delay)
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    await context.add_init_script(TRACK_RUNS_JS)
    page = await context.new_page()
    inflight = set()  # HTTP requests (not the websocket) still loading: lazily loaded widget code
    page.on("request", lambda r: inflight.add(r))
    page.on("requestfinished", lambda r: inflight.discard(r))
    page.on("requestfailed", lambda r: inflight.discard(r))
    wire = Wire()
    page.on("websocket", wire.follow)
    page.on("console", lambda m: m.type == "error" and wire.console.append(m.text[:200]))
    try:
        for name in pages:
            step = f"{name or 'home'}:load"
            try:
                url = f"{base}/{name}"
                if distinct and name == "ideal_image":  # a lesson link with this student's own class
                    url += f"?class={DISTINCT_CLASSES[index % len(DISTINCT_CLASSES)]}"
                await page.goto(url, timeout=timeout_ms)
                steps.append((step, await wait_idle(page, inflight, timeout_ms)))
                boxes = await page.evaluate(ERRORS_JS)
                if boxes:
                    errors.append(f"session {index} {step}: {boxes[0]}")
                    continue
                button = page.locator('[data-testid="stMain"]').get_by_role("button", name=RUN_BUTTON)
                if not press:
                    continue
                if name == "ideal_image":  # its widgets can arrive just after the page went quiet
                    try:
                        await button.first.wait_for(timeout=15000)
                    except Exception:  # noqa: BLE001  (reported just below)
                        pass
                if await button.count() == 0:
                    if name == "ideal_image":  # every student presses Paint there: a missing button is a failure
                        errors.append(f"session {index} {step}: no '{RUN_BUTTON}' button")
                    continue
                step = f"{name}:run"
                await page.evaluate(RESET_JS)
                mark = wire.mark()
                await button.first.click(timeout=timeout_ms)
                try:
                    steps.append((step, await wait_idle(page, inflight, timeout_ms, lambda: wire.answered_since(mark))))
                except TimeoutError as exc:  # say what crossed the wire after the click
                    raise TimeoutError(f"{exc}; since the click: {wire.since(mark)}") from None
                boxes = await page.evaluate(ERRORS_JS)
                if boxes:
                    errors.append(f"session {index} {step}: {boxes[0]}")
            except Exception as exc:  # timeouts, crashed pages, closed connections
                errors.append(f"session {index} {step}: {type(exc).__name__}: {str(exc).splitlines()[0][:600]}")
    finally:
        await context.close()


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


async def warm_up(browser, base: str, pages: list[str], timeout_ms: float, pid: int | None) -> float:
    """Open every page once in an untimed session (the teacher, before class), then wait until the server
    has finished what that started in the background (compiling the Paint steps); returns the seconds."""
    start = time.perf_counter()
    steps, errors = [], []
    await run_session(browser, base, pages, -1, 0.0, timeout_ms, steps, errors, press=False)
    for message in errors:
        print(f"warm-up error: {message}", file=sys.stderr)
    before = cpu_seconds(pid)
    for _ in range(120):  # idle: under a tenth of a core for a second
        await asyncio.sleep(1.0)
        now = cpu_seconds(pid)
        if before is None or now is None or now - before < 0.1:
            break
        before = now
    return time.perf_counter() - start


async def main_async(args) -> int:
    from playwright.async_api import async_playwright

    base = f"http://{args.host}:{args.port}"
    pages = [p.strip().strip("/") for p in args.pages.split(",")]
    pid = args.pid or server_pid(args.port)
    chromium = args.chromium or shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("Chromium not found: install Debian's chromium or pass --chromium PATH.", file=sys.stderr)
        return 2
    steps, errors = [], []
    sampler = RssSampler(pid)
    renicer = Renicer() if args.nice else None  # the browsers are the students' laptops, not the server
    if renicer is not None:
        renicer.start()
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        if not args.cold:
            print(f"warm-up: every page opened once in {await warm_up(browser, base, pages, args.timeout * 1000, pid):.1f} s "
                  "(not timed)", flush=True)
        start_rss = rss_bytes(pid) if pid else None
        start_cpu = cpu_seconds(pid)
        sampler.start()
        t0 = time.perf_counter()
        await asyncio.gather(*(
            run_session(browser, base, pages, i, args.ramp * i / max(1, args.sessions - 1) if args.sessions > 1 else 0,
                        args.timeout * 1000, steps, errors, args.distinct)
            for i in range(args.sessions)))
        wall = time.perf_counter() - t0
        sampler.stop()
        await browser.close()
    if renicer is not None:
        renicer.stop()
    end_rss = rss_bytes(pid) if pid else None
    end_cpu = cpu_seconds(pid)
    browser_cpu = sum(getattr(resource.getrusage(resource.RUSAGE_CHILDREN), f) for f in ("ru_utime", "ru_stime"))

    for message in errors[:10]:
        print(f"error: {message}", file=sys.stderr)
    gb = lambda b: "n/a" if b is None else f"{b / 1e9:.2f}GB"  # noqa: E731
    for step in dict.fromkeys(s for s, _ in steps):
        times = [t for s, t in steps if s == step]
        print(f"step={step} n={len(times)} p50={percentile(times, 50):.2f}s p95={percentile(times, 95):.2f}s "
              f"max={max(times):.2f}s")
    server_cpu = "n/a" if None in (start_cpu, end_cpu) else f"{end_cpu - start_cpu:.1f}s"
    growth = "n/a" if None in (start_rss, sampler.peak) else f"{(sampler.peak - start_rss) / args.sessions / 1e6:.0f}MB"
    print(f"server pid={pid or 'n/a'} rss_before={gb(start_rss)} rss_after={gb(end_rss)} "
          f"peak_growth_per_session={growth} server_cpu={server_cpu} browser_cpu={browser_cpu:.1f}s "
          f"wall={wall:.1f}s machine_cpus={os.cpu_count()} loadavg_1min={os.getloadavg()[0]:.1f}")
    times = [t for _, t in steps]
    print(f"sessions={args.sessions} errors={len(errors)} p50={percentile(times, 50):.1f}s "
          f"p95={percentile(times, 95):.1f}s peak_rss={gb(sampler.peak)}")
    return 0 if not errors else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True, help="port of the running CNN Explorer")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--sessions", type=int, default=20, help="concurrent browser sessions (students)")
    parser.add_argument("--pages", default="feature_maps,ideal_image",
                        help="comma-separated page URLs to visit in order (file stems, '' for home)")
    parser.add_argument("--distinct", action="store_true",
                        help="each session paints a different class on the ideal-image page (no two runs alike)")
    parser.add_argument("--ramp", type=float, default=0.0, help="spread session starts over this many seconds")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds one step may take")
    parser.add_argument("--cold", action="store_true",
                        help="no warm-up: the timed sessions also pay the server's first model load and compilation")
    parser.add_argument("--no-nice-browsers", dest="nice", action="store_false",
                        help="browsers compete with the server for its cores at normal priority (not niced)")
    parser.add_argument("--pid", type=int, help="server PID for RSS (default: found from --port via /proc)")
    parser.add_argument("--chromium", help="Chromium executable (default: chromium on PATH)")
    args = parser.parse_args(argv)
    if args.sessions < 1:
        parser.error("--sessions must be at least 1")
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
