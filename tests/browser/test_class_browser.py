"""Class mode in a real browser (issue 22): a phone (390x844) joins by link and adds a photo, the
teacher's projector (1440x900) shows it without a reload, and after a server restart the teacher's
link still shows it and the student's link still knows the student."""

from __future__ import annotations

import subprocess

import pytest

from tests.browser.conftest import ARTIFACTS, _free_port, errors_on, screenshot, start_server, wait_for_app
from tests.conftest import IMAGES

PHONE = {"width": 390, "height": 844}
PROJECTOR = {"width": 1440, "height": 900}


@pytest.fixture
def class_server(tmp_path):
    """A server of its own on a class database in a temp folder; ``restart()`` stops and starts it again."""
    env = {"CNN_EXPLORER_DB": f"sqlite:///{tmp_path / 'classes.db'}", "CNN_EXPLORER_CLASS_EMBED": "0"}
    port = _free_port()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    state = {"proc": start_server(port, env=env, log=ARTIFACTS / "class_server.log")}

    def stop():
        state["proc"].terminate()
        try:
            state["proc"].wait(timeout=15)
        except subprocess.TimeoutExpired:
            state["proc"].kill()

    def restart():
        stop()
        state["proc"] = start_server(port, env=env, log=ARTIFACTS / "class_server_restarted.log")

    yield f"http://127.0.0.1:{port}", restart
    stop()


def join_and_add(phone, name: str, label: str, photo: str) -> None:
    """On a phone at the join link: join as ``name``, pick ``label``, upload the fixture ``photo``, add it."""
    phone.get_by_label("Your name").fill(name)
    phone.get_by_role("button", name="Join the class").click()
    phone.get_by_text(f"You are {name}").wait_for(timeout=60_000)
    wait_for_app(phone)
    phone.get_by_text(label, exact=True).click()
    wait_for_app(phone)
    phone.locator('[data-testid="stFileUploader"] input[type="file"]').first.set_input_files(str(IMAGES / photo))
    phone.get_by_text(photo).wait_for(timeout=60_000)
    wait_for_app(phone)
    phone.get_by_role("button", name="Add photo").click()
    phone.get_by_text(f"Added ({label})").wait_for(timeout=60_000)


def test_phone_adds_projector_shows_live_and_a_restart_keeps_it(browser, class_server):
    base, restart = class_server
    teacher_context = browser.new_context(viewport=PROJECTOR)
    teacher = teacher_context.new_page()
    teacher.goto(f"{base}/class")
    wait_for_app(teacher)
    teacher.get_by_role("button", name="Start a class").click()
    teacher.get_by_text("Join code:").wait_for(timeout=60_000)
    wait_for_app(teacher)
    teacher_link = teacher.url
    assert "teacher=" in teacher_link and "code=" in teacher_link
    code = teacher_link.split("code=")[1].split("&")[0]
    assert teacher.get_by_text("keep it private").count() == 1
    screenshot(teacher, "class_teacher_empty_1440")

    phone_context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    phone = phone_context.new_page()
    phone.goto(f"{base}/class?join={code}")
    wait_for_app(phone)
    join_and_add(phone, "Ann", "dog", "dog.jpg")
    student_link = phone.url
    assert "student=" in student_link and "join=" not in student_link
    phone.get_by_text("Your photos: 1").wait_for(timeout=60_000)
    wait_for_app(phone)
    assert errors_on(phone) == []
    screenshot(phone, "class_student_added_390")

    # the projector was never reloaded: its fragment refreshes itself
    teacher.get_by_text("Ann · dog").wait_for(timeout=60_000)
    wait_for_app(teacher)
    assert errors_on(teacher) == []
    screenshot(teacher, "class_teacher_live_1440")
    teacher_context.close()
    phone_context.close()

    restart()
    again = browser.new_context(viewport=PROJECTOR)
    reopened = again.new_page()
    reopened.goto(teacher_link)
    reopened.get_by_text("Ann · dog").wait_for(timeout=120_000)
    wait_for_app(reopened)
    assert errors_on(reopened) == []
    screenshot(reopened, "class_teacher_after_restart_1440")
    phone_again = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True).new_page()
    phone_again.goto(student_link)
    phone_again.get_by_text("You are Ann").wait_for(timeout=120_000)
    phone_again.get_by_text("Your photos: 1").wait_for(timeout=60_000)
    wait_for_app(phone_again)
    screenshot(phone_again, "class_student_after_restart_390")
    again.close()
    phone_again.context.close()
