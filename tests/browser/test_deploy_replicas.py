"""deploy/: two CNN Explorer replicas behind Debian's nginx, sticky sessions, real browser sessions through it.

Starts `deploy/run_replicas.sh 2` on free loopback ports (its own process group, stopped at the end),
checks that cookie-less visitors are spread over both replicas while one browser's cookie always lands
on the same one, then drives headless-Chromium sessions through nginx with bench/load.py: 0 errors.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.browser.conftest import _free_port
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
    port, first = _free_port(), _free_port()
    while first + 1 == port or not _port_free(first + 1):
        first = _free_port()
    env = {**os.environ, "CNN_EXPLORER_CACHE_DIR": str(tmp / "runs"), "NGINX_PREFIX": str(tmp / "nginx")}
    (tmp / "nginx").mkdir()
    log = open(tmp / "run.log", "w")
    proc = subprocess.Popen(["bash", str(ROOT / "deploy" / "run_replicas.sh"), "2", str(port), str(first)],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 240
        while time.time() < deadline:
            assert proc.poll() is None, (tmp / "run.log").read_text()
            try:
                if _get(f"{base}/_stcore/health")[0] == 200:
                    break
            except OSError:
                time.sleep(1)
        else:
            pytest.fail("nginx + 2 replicas did not answer within 240 s")
        yield base, first
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):  # the script's own process group: replicas and nginx
            try:
                os.killpg(proc.pid, sig)
                proc.wait(timeout=30)
                time.sleep(1)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        log.close()


def _port_free(port):
    import socket

    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


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
