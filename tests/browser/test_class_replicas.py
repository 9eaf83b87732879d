"""Class mode on two replicas behind the deploy/ nginx recipe, sharing one PostgreSQL (issue 22): a phone
served by one replica adds a photo, and the teacher's projector, served by the other, shows it live."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request

import pytest

from tests import pg_server
from tests.browser.conftest import ARTIFACTS, _free_port, errors_on, screenshot, wait_for_app
from tests.browser.test_class_browser import join_and_add
from tests.conftest import ROOT

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(not (shutil.which("nginx") or os.path.exists("/usr/sbin/nginx")),
                                 reason="needs Debian's nginx (apt-get install -y nginx-light)"),
              pytest.mark.skipif(not pg_server.available(), reason="needs Debian's postgresql")]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def replicas_on_postgres(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("class_replicas")
    with pg_server.server() as new_database:
        url = new_database()
        port, first = _free_port(), _free_port()
        while first + 1 == port:
            first = _free_port()
        # nginx's workers (user nobody under root) write uploads over 16 kB to the prefix's body/ folder: the
        # prefix must sit where they can reach it (pytest's tmp folders are private to root), as the
        # script's own default, a mktemp folder in /tmp, does
        prefix = tempfile.mkdtemp(prefix="cnn-explorer-nginx.")
        env = {**os.environ, "CNN_EXPLORER_DB": url, "CNN_EXPLORER_CLASS_EMBED": "0",
               "CNN_EXPLORER_CACHE_DIR": str(tmp / "runs"), "NGINX_PREFIX": prefix}
        log = open(tmp / "run.log", "w")
        proc = subprocess.Popen(["bash", str(ROOT / "deploy" / "run_replicas.sh"), "2", str(port), str(first)],
                                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.time() + 240
            while not _healthy(f"{base}/_stcore/health"):
                assert proc.poll() is None, (tmp / "run.log").read_text()
                assert time.time() < deadline, "nginx + 2 replicas did not answer within 240 s"
                time.sleep(1)
            yield base
        finally:
            for sig in (signal.SIGTERM, signal.SIGKILL):  # the script's own process group: replicas and nginx
                try:
                    os.killpg(proc.pid, sig)
                    proc.wait(timeout=30)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    pass
            log.close()
            shutil.rmtree(prefix, ignore_errors=True)


def test_two_replicas_share_one_class(browser, replicas_on_postgres):
    base = replicas_on_postgres
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    teacher_context = browser.new_context(viewport={"width": 1440, "height": 900})
    teacher = teacher_context.new_page()
    teacher_replica = teacher.goto(f"{base}/class").headers["x-replica"]
    wait_for_app(teacher)
    teacher.get_by_role("button", name="Start a class").click()
    teacher.get_by_text("Join code:").wait_for(timeout=60_000)
    code = teacher.url.split("code=")[1].split("&")[0]

    phone = None
    for _ in range(20):  # new visitors are spread over the replicas: find one served by the other replica
        context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
        candidate = context.new_page()
        if candidate.goto(f"{base}/class?join={code}").headers["x-replica"] != teacher_replica:
            phone = candidate
            break
        context.close()
    assert phone is not None, "every new visitor landed on the teacher's replica"
    wait_for_app(phone)
    join_and_add(phone, "Bo", "cat", "cat.jpg")
    assert errors_on(phone) == []

    teacher.get_by_text("Bo · cat").wait_for(timeout=60_000)  # the other replica's projector, no reload
    wait_for_app(teacher)
    assert errors_on(teacher) == []
    screenshot(teacher, "class_replicas_teacher_1440")
    phone.context.close()
    teacher_context.close()
