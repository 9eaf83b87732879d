"""deploy/: two CNN Explorer replicas behind Debian's nginx, sticky sessions, real browser sessions through it.

Starts `deploy/run_replicas.sh 2` on free loopback ports (its own process group, stopped at the end),
checks that cookie-less visitors are spread over both replicas while one browser's cookie always lands
on the same one, then drives headless-Chromium sessions through nginx with bench/load.py: 0 errors.
"""

import os
import re
import shutil
import subprocess
import sys
import urllib.request

import pytest

from tests.browser.conftest import running_replicas
from tests.conftest import ROOT

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(not (shutil.which("nginx") or os.path.exists("/usr/sbin/nginx")),
                                 reason="needs Debian's nginx (apt-get install -y nginx-light)")]
SUMMARY = re.compile(r"^sessions=(\d+) errors=(\d+) ")


def _get(url, cookie=None):
    request = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    with urllib.request.urlopen(request, timeout=5) as r:
        return r.status, r.headers


@pytest.fixture(scope="module")
def replicas(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("deploy")
    with running_replicas(tmp, {"CNN_EXPLORER_CACHE_DIR": str(tmp / "runs")}) as (base, first):
        yield base, first


def test_sessions_stick_to_one_replica_and_new_ones_spread(replicas):
    base, first = replicas
    seen = {_get(f"{base}/_stcore/health")[1]["X-Replica"] for _ in range(16)}
    assert seen == {f"127.0.0.1:{first}", f"127.0.0.1:{first + 1}"}  # 16 new visitors: both replicas used
    status, headers = _get(f"{base}/")
    cookie = headers["Set-Cookie"].split(";")[0]
    assert status == 200 and cookie.startswith("cnnx_route=")
    replica = headers["X-Replica"]
    assert all(_get(f"{base}/_stcore/health", cookie)[1]["X-Replica"] == replica for _ in range(12))


def test_browser_sessions_through_nginx_have_no_errors(replicas):
    base, _ = replicas
    port = base.rsplit(":", 1)[1]
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "load.py"), "--port", port, "--sessions", "4",
                           "--pages", "", "--timeout", "120"], cwd=ROOT, capture_output=True, text=True, timeout=400)
    lines = proc.stdout.strip().splitlines()
    assert lines, proc.stderr
    match = SUMMARY.match(lines[-1])
    assert match and match.groups() == ("4", "0"), proc.stdout + proc.stderr
