"""bench/load.py at a small N against a real server: it runs, finds the server, and reports no errors."""

import re
import subprocess
import sys
from urllib.parse import urlparse

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.browser

SUMMARY = re.compile(r"^sessions=(\d+) errors=(\d+) p50=(\d+\.\d)s p95=(\d+\.\d)s peak_rss=(\d+\.\d+GB|n/a)$")


def test_two_sessions_through_the_pages(server):
    port = urlparse(server).port
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "load.py"), "--port", str(port), "--sessions", "2", "--timeout", "180"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    lines = proc.stdout.strip().splitlines()
    assert lines, proc.stderr
    match = SUMMARY.match(lines[-1])
    assert match, lines[-1]
    sessions, errors, p50, p95, rss = match.groups()
    assert (sessions, errors) == ("2", "0"), proc.stderr
    assert proc.returncode == 0
    assert 0 < float(p50) <= float(p95)
    assert rss != "n/a" and 0.02 < float(rss[:-2]) < 16  # the server was found by its port and measured
    steps = [l.split()[0] for l in lines if l.startswith("step=")]
    assert steps[:2] == ["step=feature_maps:load", "step=ideal_image:load"]
    assert all(" n=2 " in l for l in lines if ":load" in l)
