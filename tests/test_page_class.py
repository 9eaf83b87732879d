"""The Class page (issue 22) inside the app: start, join by link with "Your name", the teacher's live
wall, hiding, wrong links, and untrusted names shown as text only."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from explorer.classroom import ClassStore
from tests.classroom_helpers import png_bytes
from tests.conftest import ROOT, needs_fixtures

APP = str(ROOT / "streamlit_app.py")
HOSTILE_NAME = "<b onclick=1>**E**[x](http:)"  # 28 characters: within the 30 allowed


@pytest.fixture
def store(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'classes.db'}"
    monkeypatch.setenv("CNN_EXPLORER_DB", url)
    monkeypatch.setenv("CNN_EXPLORER_CLASS_EMBED", "0")
    from ui import classroom

    classroom.class_store.clear()
    yield ClassStore(url, embed=False)
    classroom.class_store.clear()


def open_class(params: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    for key, value in (params or {}).items():
        at.query_params[key] = value
    at.switch_page("pages/class.py").run()
    assert not at.exception, at.exception
    return at


def markdown_texts(at) -> list[str]:
    return [m.value for m in at.markdown] + [c.value for c in at.caption] + [t.value for t in at.title]


def test_a_teacher_starts_a_class_and_gets_a_private_link(store):
    at = open_class()
    assert at.text_input(key="class_labels").value == "cat, dog"
    next(b for b in at.button if b.label == "Start a class").click().run()
    assert not at.exception, at.exception
    code, token = at.query_params["code"], at.query_params["teacher"]
    assert store.is_teacher(code, token)
    assert store.class_info(code).labels == ("cat", "dog")
    assert at.title[0].value.startswith(f"Class {code}")
    assert any("private" in w.value for w in at.warning)
    assert any(code in m for m in markdown_texts(at))  # the join code, big
    assert any(f"/class?join={code}" in m.replace("\\", "") for m in markdown_texts(at))


def test_a_student_joins_by_link_with_your_name(store):
    klass = store.create_class(["cat", "dog"])
    at = open_class({"join": klass.code})
    at.text_input(key="class_nickname").set_value("Ann")
    assert at.text_input(key="class_nickname").label == "Your name"
    next(b for b in at.button if b.label == "Join the class").click().run()
    assert not at.exception, at.exception
    token = at.query_params["student"]
    assert store.nickname(klass.code, token) == "Ann" and "join" not in at.query_params
    assert any(t.value == "You are Ann" for t in at.text)
    assert [r.options for r in at.radio] == [["cat", "dog"]]


def test_the_teachers_wall_shows_photos_and_hides_one(store):
    klass = store.create_class(["cat", "dog"])
    ann = store.join(klass.code, "Ann")
    photo = store.add_photo(klass.code, ann, "cat", png_bytes())
    at = open_class({"code": klass.code, "teacher": klass.teacher_token})
    assert any(t.value == "Ann · cat" for t in at.text)
    assert [m.value for m in at.metric][:2] == ["1", "0"]
    at.button(key=f"class_hide_{photo}").click().run()
    assert not at.exception, at.exception
    assert [p.hidden for p in store.photos(klass.code)] == [True]
    assert store.dataset(klass.code)["cat"] == []


def test_untrusted_names_are_text_never_markup(store):
    klass = store.create_class(["cat", "dog"], title=HOSTILE_NAME)
    eve = store.join(klass.code, HOSTILE_NAME)
    store.add_photo(klass.code, eve, "dog", png_bytes())
    teacher = open_class({"code": klass.code, "teacher": klass.teacher_token})
    assert any(t.value.startswith(HOSTILE_NAME) for t in teacher.text)
    student = open_class({"code": klass.code, "student": eve})
    assert any(t.value == f"You are {HOSTILE_NAME}" for t in student.text)
    from ui.classroom import plain

    assert any(plain(HOSTILE_NAME) in t for t in markdown_texts(teacher))  # the title, escaped
    for at in (teacher, student):
        for text in markdown_texts(at):
            assert HOSTILE_NAME not in text  # never raw Markdown: no link, no bold, no tag
            if "onclick" in text:
                assert plain(HOSTILE_NAME) in text and "<b" not in text.replace("\\<b", "")


def test_wrong_links_open_nothing(store):
    klass = store.create_class(["cat", "dog"])
    ann = store.join(klass.code, "Ann")
    at = open_class({"code": klass.code, "teacher": ann})  # a student's token as the teacher's
    assert any("Only the teacher" in e.value for e in at.error)
    assert not [b for b in at.button if b.label == "Train the class model"]
    at = open_class({"code": klass.code, "student": "forged"})
    assert any("does not belong" in e.value for e in at.error)
    at = open_class({"code": "QQQQQQ", "student": ann})
    assert any("No class has this code" in e.value for e in at.error)


@needs_fixtures
def test_the_teacher_trains_the_class_model_and_it_is_kept(store, fixture_images):
    import io

    from PIL import Image

    import explorer
    from explorer.data.datasets import augmented_copies

    klass = store.create_class(["cat", "dog"])
    for name in ("cat", "dog"):
        for view in augmented_copies(explorer.load_image(fixture_images / f"{name}.jpg"), 5, size=160):
            out = io.BytesIO()
            Image.fromarray(view).save(out, format="JPEG")
            store.add_photo(klass.code, klass.teacher_token, name, out.getvalue())
    at = open_class({"code": klass.code, "teacher": klass.teacher_token})
    train = next(b for b in at.button if b.label == "Train the class model")
    assert not train.disabled
    train.click().run(timeout=300)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    kept = store.latest_model(klass.code)
    assert kept.version == 1 and kept.report["class_names"] == ["cat", "dog"]
    assert any(s.value == "Class model, version 1" for s in at.subheader)
    assert f"Class {klass.code} v1" in at.session_state["user_models"]  # Feature maps / Adversarial list it
    # issue 24: the class model can leave the app, as .keras and for phones (TensorFlow Lite zip)
    downloads = [b.proto.label for b in at.get("download_button")]
    assert {"Download as .keras", "Download for phones (.tflite)"} <= set(downloads), downloads
    assert any("labels.txt" in c.value and "0..255" in c.value for c in at.caption)
    # a fresh session (a restart, another browser) sees the kept model without training again
    again = open_class({"code": klass.code, "teacher": klass.teacher_token})
    assert any(s.value == "Class model, version 1" for s in again.subheader)


def test_the_teacher_ends_the_class(store):
    klass = store.create_class(["cat", "dog"])
    store.add_photo(klass.code, store.join(klass.code, "Ann"), "cat", png_bytes())
    at = open_class({"code": klass.code, "teacher": klass.teacher_token})
    end = next(b for b in at.button if b.label == "End the class and delete its photos")
    assert end.disabled  # needs the confirmation first
    at.checkbox(key="class_end_sure").check().run()
    next(b for b in at.button if b.label == "End the class and delete its photos").click().run()
    assert not at.exception, at.exception
    with pytest.raises(LookupError):
        store.photos(klass.code)
    assert any("deleted" in s.value for s in at.success)


def test_a_student_removes_their_own_photo(store):
    klass = store.create_class(["cat", "dog"])
    ann = store.join(klass.code, "Ann")
    photo = store.add_photo(klass.code, ann, "dog", png_bytes())
    at = open_class({"code": klass.code, "student": ann})
    assert any(s.value == "Your photos: 1" for s in at.subheader)
    at.button(key=f"class_remove_{photo}").click().run()
    assert not at.exception, at.exception
    assert store.photos(klass.code) == []
    assert any(s.value == "Your photos: 0" for s in at.subheader)


def test_coming_back_from_another_page_reopens_the_same_view(store):
    klass = store.create_class(["cat", "dog"])
    at = open_class({"code": klass.code, "teacher": klass.teacher_token})
    at.switch_page("pages/home.py").run()
    for name in list(at.query_params):  # another page's link carries none of the class's parameters
        del at.query_params[name]
    at.switch_page("pages/class.py").run()
    assert not at.exception, at.exception
    assert at.title[0].value.startswith(f"Class {klass.code}")
    assert at.query_params["teacher"] == klass.teacher_token
    next(b for b in at.button if b.label.startswith("Leave")).click().run()
    assert at.text_input(key="class_labels").value == "cat, dog"  # the start view: the identity is gone
