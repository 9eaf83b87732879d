"""Class mode on two replicas behind the deploy/ nginx recipe, sharing one PostgreSQL (issue 22): a phone
served by one replica adds a photo, and the teacher's projector, served by the other, shows it live."""

from __future__ import annotations

import os
import shutil

import pytest

from tests import pg_server
from tests.browser.conftest import ARTIFACTS, errors_on, running_replicas, screenshot, wait_for_app
from tests.browser.test_class_browser import join_and_add

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(not (shutil.which("nginx") or os.path.exists("/usr/sbin/nginx")),
                                 reason="needs Debian's nginx (apt-get install -y nginx-light)"),
              pytest.mark.skipif(not pg_server.available(), reason="needs Debian's postgresql")]


@pytest.fixture(scope="module")
def replicas_on_postgres(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("class_replicas")
    with pg_server.server() as new_database:
        env = {"CNN_EXPLORER_DB": new_database(), "CNN_EXPLORER_CLASS_EMBED": "0",
               "CNN_EXPLORER_CACHE_DIR": str(tmp / "runs")}
        with running_replicas(tmp, env) as (base, _):
            yield base


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
