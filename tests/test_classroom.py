"""The class store's contract (issue 22) on SQLite, and on PostgreSQL when Debian's postgresql is installed
(``scripts/test.sh`` installs it; see ``tests/pg_server.py``)."""

from __future__ import annotations

import io
import subprocess
import sys
import threading
import zipfile
from datetime import timedelta

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

import explorer
from explorer.classroom import ClassStore, LimitReached, configured_url
from explorer.classroom import store as store_module
from explorer.classroom.schema import ClassRow, PhotoRow
from explorer.classroom.store import CODE_LETTERS
from tests import pg_server
from tests.classroom_helpers import HOSTILE, SECRET_OWNER, bomb_png, jpeg_with_exif, png_bytes


@pytest.fixture(scope="session")
def postgres():
    if not pg_server.available():
        pytest.skip("PostgreSQL is not installed (Debian package postgresql; scripts/test.sh installs it)")
    with pg_server.server() as new_database:
        yield new_database


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'classes.db'}"
    return request.getfixturevalue("postgres")()


@pytest.fixture
def store(url):
    s = ClassStore(url, embed=False)
    yield s
    s.close()


@pytest.fixture
def klass(store):
    return store.create_class(["cat", "dog"], title="Year 5")


def test_create_class_gives_a_short_unambiguous_code_and_an_unguessable_token(store):
    created = [store.create_class(["cat", "dog"]) for _ in range(5)]
    codes = {c.code for c in created}
    assert len(codes) == 5
    for c in created:
        assert len(c.code) == 6 and set(c.code) <= set(CODE_LETTERS)
        assert not set(c.code) & set("ILOSZB01")
        assert len(c.teacher_token) >= 32
    assert len({c.teacher_token for c in created}) == 5
    info = store.class_info(created[0].code.lower())  # typed in lower case: still found
    assert info.labels == ("cat", "dog")


@pytest.mark.parametrize("labels", [["cat"], ["cat", "Cat"], ["cat", "../etc"], ["cat", ""], ["a/b", "c"],
                                    [str(i) for i in range(11)]])
def test_bad_labels_are_refused(store, labels):
    with pytest.raises(ValueError):
        store.create_class(labels)


def test_the_contract_end_to_end(store, klass):
    ann = store.join(klass.code, "Ann")
    bob = store.join(klass.code, "  Bob  ")
    assert ann != bob and store.nickname(klass.code, bob) == "Bob"
    a1 = store.add_photo(klass.code, ann, "cat", jpeg_with_exif(seed=1))
    a2 = store.add_photo(klass.code, ann, "dog", png_bytes())
    b1 = store.add_photo(klass.code, bob, "dog", jpeg_with_exif(seed=2))
    records = store.photos(klass.code)
    assert [(p.id, p.label, p.nickname, p.hidden) for p in records] == [
        (a1, "cat", "Ann", False), (a2, "dog", "Ann", False), (b1, "dog", "Bob", False)]
    assert [p.id for p in store.photos(klass.code, token=ann)] == [a1, a2]
    data = store.dataset(klass.code)
    assert list(data) == ["cat", "dog"] and [len(v) for v in data.values()] == [1, 2]
    for images in data.values():
        for image in images:
            assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
            assert max(image.shape[:2]) <= 512
    assert store.counts(klass.code) == {"cat": 1, "dog": 2}


def test_unknown_class_or_label_is_a_lookup_error(store, klass):
    with pytest.raises(LookupError):
        store.join("QQQQQQ", "Ann")
    with pytest.raises(LookupError):
        store.photos("QQQQQQ")
    token = store.join(klass.code, "Ann")
    with pytest.raises(LookupError):
        store.add_photo(klass.code, token, "horse", png_bytes())
    with pytest.raises(LookupError):
        store.hide_photo(klass.code, klass.teacher_token, 999999)


@pytest.mark.parametrize("nickname", ["", "   ", "x" * 31, None])
def test_bad_nicknames_are_refused(store, klass, nickname):
    with pytest.raises(ValueError):
        store.join(klass.code, nickname)


@pytest.mark.parametrize("forged", [None, "", "not-a-token", "x" * 32])
def test_missing_or_forged_tokens_are_refused(store, klass, forged):
    token = store.join(klass.code, "Ann")
    photo = store.add_photo(klass.code, token, "cat", png_bytes())
    with pytest.raises(PermissionError):
        store.add_photo(klass.code, forged, "cat", png_bytes())
    with pytest.raises(PermissionError):
        store.hide_photo(klass.code, forged, photo)
    with pytest.raises(PermissionError):
        store.remove_photo(klass.code, forged, photo)
    with pytest.raises(PermissionError):
        store.export_zip(klass.code, forged)
    with pytest.raises(PermissionError):
        store.delete_class(klass.code, forged)
    assert [p.id for p in store.photos(klass.code)] == [photo]


def test_a_student_token_has_no_teacher_rights_and_no_other_students_rights(store, klass):
    ann = store.join(klass.code, "Ann")
    bob = store.join(klass.code, "Bob")
    anns = store.add_photo(klass.code, ann, "cat", png_bytes())
    with pytest.raises(PermissionError):
        store.hide_photo(klass.code, bob, anns)
    with pytest.raises(PermissionError):
        store.remove_photo(klass.code, bob, anns)  # someone else's photo
    with pytest.raises(PermissionError):
        store.delete_class(klass.code, ann)
    with pytest.raises(PermissionError):
        store.export_zip(klass.code, ann)
    # a token of another class opens nothing here, and this class's teacher token opens nothing there
    other = store.create_class(["a", "b"])
    stranger = store.join(other.code, "Eve")
    with pytest.raises(PermissionError):
        store.add_photo(klass.code, stranger, "cat", png_bytes())
    with pytest.raises(PermissionError):
        store.remove_photo(klass.code, stranger, anns)
    with pytest.raises(PermissionError):
        store.delete_class(other.code, klass.teacher_token)
    assert len(store.photos(klass.code)) == 1


def test_own_photos_and_the_teacher_can_remove(store, klass):
    ann = store.join(klass.code, "Ann")
    bob = store.join(klass.code, "Bob")
    first = store.add_photo(klass.code, ann, "cat", png_bytes())
    second = store.add_photo(klass.code, bob, "dog", png_bytes())
    store.remove_photo(klass.code, ann, first)
    store.remove_photo(klass.code, klass.teacher_token, second)
    assert store.photos(klass.code) == []
    with pytest.raises(LookupError):
        store.remove_photo(klass.code, ann, first)


def test_tokens_are_compared_in_constant_time(store, klass, monkeypatch):
    calls = []
    real = store_module.hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(store_module.hmac, "compare_digest", spy)
    with pytest.raises(PermissionError):
        store.check_teacher(klass.code, "guess")
    store.check_teacher(klass.code, klass.teacher_token)
    assert len(calls) == 2
    # only hashes are compared and stored: the token itself is nowhere in the database
    with Session(store.engine) as session:
        row = session.scalar(select(ClassRow).where(ClassRow.code == klass.code))
    assert klass.teacher_token not in row.teacher_hash and len(row.teacher_hash) == 64


def test_hidden_photos_leave_the_dataset_and_come_back(store, klass):
    token = store.join(klass.code, "Ann")
    ids = [store.add_photo(klass.code, token, "cat", png_bytes((10 * i, 0, 0))) for i in range(3)]
    store.hide_photo(klass.code, klass.teacher_token, ids[1])
    assert [p.hidden for p in store.photos(klass.code)] == [False, True, False]
    data = store.dataset(klass.code)
    assert len(data["cat"]) == 2
    assert sorted(int(img[0, 0, 0]) for img in data["cat"]) == [0, 20]  # the red-10 photo is the hidden one
    assert store.counts(klass.code)["cat"] == 2
    names = zipfile.ZipFile(io.BytesIO(store.export_zip(klass.code, klass.teacher_token))).namelist()
    assert f"cat/{ids[1]:05d}.jpg" not in names and f"cat/{ids[0]:05d}.jpg" in names
    store.hide_photo(klass.code, klass.teacher_token, ids[1], hidden=False)
    assert len(store.dataset(klass.code)["cat"]) == 3


def test_exif_never_reaches_storage_and_photos_are_upright_and_bounded(store, klass):
    token = store.join(klass.code, "Ann")
    # orientation 6: the camera held sideways; the stored photo is turned upright (1200x800 -> 512 high)
    photo = store.add_photo(klass.code, token, "cat", jpeg_with_exif(1200, 800, orientation=6))
    stored = store.photo_bytes(klass.code, photo)
    assert SECRET_OWNER.encode() not in stored and b"Exif" not in stored
    with Image.open(io.BytesIO(stored)) as img:
        assert len(img.getexif()) == 0 and img.size == (341, 512)
    with Session(store.engine) as session:  # every column of the row, thumbnail included
        row = session.scalar(select(PhotoRow).where(PhotoRow.id == photo))
        assert SECRET_OWNER.encode() not in row.thumb and b"Exif" not in row.thumb


def test_export_zip_is_read_back_by_load_dataset_without_exif(store, klass):
    token = store.join(klass.code, "Ann")
    for i in range(3):
        store.add_photo(klass.code, token, "cat", jpeg_with_exif(seed=i))
    for i in range(2):
        store.add_photo(klass.code, token, "dog", jpeg_with_exif(seed=10 + i, orientation=3))
    data = store.export_zip(klass.code, klass.teacher_token)
    assert SECRET_OWNER.encode() not in data
    archive = zipfile.ZipFile(io.BytesIO(data))
    for name in archive.namelist():
        if name.endswith(".jpg"):
            with Image.open(io.BytesIO(archive.read(name))) as img:
                assert len(img.getexif()) == 0
    loaded = explorer.load_dataset(data)
    assert {k: len(v) for k, v in loaded.items()} == {"cat": 3, "dog": 2} and not loaded.skipped
    mine = store.dataset(klass.code)
    assert np.array_equal(loaded["cat"][0], mine["cat"][0])


@pytest.mark.parametrize("name", [*HOSTILE, "bomb"])
def test_hostile_bytes_are_value_errors_and_store_nothing(store, klass, name):
    token = store.join(klass.code, "Ann")
    data = bomb_png() if name == "bomb" else HOSTILE[name]
    with pytest.raises(ValueError):
        store.add_photo(klass.code, token, "cat", data)
    assert store.photos(klass.code) == []


def test_not_bytes_is_a_value_error(store, klass):
    token = store.join(klass.code, "Ann")
    with pytest.raises(ValueError):
        store.add_photo(klass.code, token, "cat", "/etc/passwd")


def test_caps_per_student_and_per_class_with_clear_messages(url):
    store = ClassStore(url, per_student=3, per_class=5, embed=False)
    klass = store.create_class(["cat", "dog"])
    ann, bob = store.join(klass.code, "Ann"), store.join(klass.code, "Bob")
    for _ in range(3):
        store.add_photo(klass.code, ann, "cat", png_bytes())
    with pytest.raises(LimitReached, match="3"):
        store.add_photo(klass.code, ann, "cat", png_bytes())
    store.add_photo(klass.code, bob, "dog", png_bytes())
    store.add_photo(klass.code, bob, "dog", png_bytes())
    with pytest.raises(LimitReached, match="class"):
        store.add_photo(klass.code, bob, "dog", png_bytes())
    assert len(store.photos(klass.code)) == 5
    store.close()


def test_the_class_cap_holds_when_the_whole_class_adds_at_once(url):
    """20 students x 3 photos at the same moment against a cap of 30: exactly 30 kept, 30 refused."""
    store = ClassStore(url, per_class=30, embed=False)
    klass = store.create_class(["cat", "dog"])
    tokens = [store.join(klass.code, f"student {i}") for i in range(20)]
    photo = png_bytes()
    kept, refused, errors = [], [], []
    start = threading.Barrier(20)

    def student(token):
        start.wait()
        for _ in range(3):
            try:
                kept.append(store.add_photo(klass.code, token, "cat", photo))
            except LimitReached:
                refused.append(token)
            except Exception as exc:  # noqa: BLE001  (collected: any other error fails the test)
                errors.append(repr(exc))

    threads = [threading.Thread(target=student, args=(t,)) for t in tokens]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(kept) == 30 and len(refused) == 30
    assert len(store.photos(klass.code)) == 30
    store.close()


def test_default_caps_are_generous():
    assert store_module.DEFAULT_PER_STUDENT >= 50 and store_module.DEFAULT_PER_CLASS >= 2000


def test_two_hundred_photos_from_twenty_threads_all_survive_a_reopen(url):
    # two store objects on one database: like two server processes (their own pools and writer queues)
    stores = [ClassStore(url, embed=False), ClassStore(url, embed=False)]
    klass = stores[0].create_class(["cat", "dog"])
    tokens = [stores[0].join(klass.code, f"student {i}") for i in range(20)]
    photos = [png_bytes((i, 100, 200)) for i in range(20)]
    added, errors = [], []
    start = threading.Barrier(20)

    def student(i):
        start.wait()
        for n in range(10):
            try:
                added.append(stores[i % 2].add_photo(klass.code, tokens[i], ["cat", "dog"][n % 2], photos[i]))
            except Exception as exc:  # noqa: BLE001  (collected: any error fails the test below)
                errors.append(repr(exc))

    threads = [threading.Thread(target=student, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for s in stores:
        s.close()
    reopened = ClassStore(url, embed=False)
    records = reopened.photos(klass.code)
    assert len(records) == 200 and sorted(p.id for p in records) == sorted(added)
    assert {p.nickname for p in records} == {f"student {i}" for i in range(20)}
    assert all(len(reopened.photos(klass.code, token=t)) == 10 for t in tokens)
    reopened.close()


def test_tokens_and_photos_survive_a_restart(url):
    first = ClassStore(url, embed=False)
    klass = first.create_class(["cat", "dog"])
    token = first.join(klass.code, "Ann")
    photo = first.add_photo(klass.code, token, "cat", png_bytes())
    first.close()
    again = ClassStore(url, embed=False)
    assert again.nickname(klass.code, token) == "Ann"
    again.hide_photo(klass.code, klass.teacher_token, photo)
    again.remove_photo(klass.code, token, photo)
    assert again.photos(klass.code) == []
    inspector = inspect(again.engine)
    assert {"classes", "students", "photos", "class_models", "alembic_version"} <= set(inspector.get_table_names())
    again.close()


def test_delete_class_removes_everything(store, klass):
    token = store.join(klass.code, "Ann")
    store.add_photo(klass.code, token, "cat", png_bytes())
    store.save_model(klass.code, klass.teacher_token, b"weights", {"class_names": ["cat", "dog"]})
    store.delete_class(klass.code, klass.teacher_token)
    with pytest.raises(LookupError):
        store.photos(klass.code)
    with Session(store.engine) as session:
        assert session.scalars(select(PhotoRow)).all() == []


def test_models_are_versioned(store, klass):
    assert store.latest_model(klass.code) is None
    assert store.save_model(klass.code, klass.teacher_token, b"one", {"v": 1}) == 1
    assert store.save_model(klass.code, klass.teacher_token, b"two", {"v": 2}) == 2
    latest = store.latest_model(klass.code)
    assert (latest.version, latest.data, latest.report) == (2, b"two", {"v": 2})
    with pytest.raises(PermissionError):
        store.save_model(klass.code, store.join(klass.code, "Ann"), b"x", {})


def _age(store, code, days):
    with Session(store.engine) as session, session.begin():
        row = session.scalar(select(ClassRow).where(ClassRow.code == code))
        row.last_activity = row.last_activity - timedelta(days=days)


def test_classes_idle_past_the_retention_are_purged(url):
    store = ClassStore(url, retention_days=7, embed=False)
    old, fresh = store.create_class(["cat", "dog"]), store.create_class(["cat", "dog"])
    store.add_photo(old.code, store.join(old.code, "Ann"), "cat", png_bytes())
    _age(store, old.code, 8)
    _age(store, fresh.code, 6)
    assert store.expired() == [old.code]
    store.close()
    reopened = ClassStore(url, retention_days=7, embed=False)  # opening purges
    with pytest.raises(LookupError):
        reopened.photos(old.code)
    assert reopened.photos(fresh.code) == []
    reopened.close()


def test_cli_lists_and_purges(url):
    store = ClassStore(url, embed=False)
    old, fresh = store.create_class(["cat", "dog"]), store.create_class(["owl", "bat"])
    _age(store, old.code, 30)
    store.close()
    run = lambda *args: subprocess.run([sys.executable, "-m", "explorer.classroom", *args, "--url", url],  # noqa: E731
                                       capture_output=True, text=True, check=True).stdout
    listed = run("list")
    assert old.code in listed and fresh.code in listed and "EXPIRED" in listed.splitlines()[
        [i for i, line in enumerate(listed.splitlines()) if old.code in line][0]]
    assert old.code in run("purge", "--days", "7")
    listed = run("list")
    assert old.code not in listed and fresh.code in listed


def test_sqlite_uses_wal_and_the_default_file(tmp_path, monkeypatch):
    monkeypatch.delenv("CNN_EXPLORER_DB", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    assert configured_url() == f"sqlite:///{tmp_path}/.local/share/cnn-explorer/classes.db"
    store = ClassStore(embed=False)
    assert (tmp_path / ".local/share/cnn-explorer/classes.db").is_file()
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
    store.close()


def test_database_from_environment_or_secrets(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CNN_EXPLORER_DB", raising=False)
    (tmp_path / ".streamlit").mkdir()
    (tmp_path / ".streamlit" / "secrets.toml").write_text(
        '[connections.classroom]\nurl = "postgresql+psycopg://teacher@db/classes"\n')
    assert configured_url() == "postgresql+psycopg://teacher@db/classes"
    monkeypatch.setenv("CNN_EXPLORER_DB", "sqlite:///elsewhere.db")
    assert configured_url() == "sqlite:///elsewhere.db"


def test_a_phone_sized_photo_is_turned_upright_and_shrunk_faithfully():
    from explorer.classroom.photos import clean_photo, decode_photo

    # a smooth 4000x3000 picture (a 12-megapixel phone photo), stored sideways with EXIF orientation 6
    y, x = np.mgrid[0:3000, 0:4000]
    pixels = np.stack([x * 255 // 3999, y * 255 // 2999, (x + y) * 255 // 6998], -1).astype(np.uint8)
    exif = Image.Exif()
    exif[0x0112] = 6
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="JPEG", exif=exif.tobytes(), quality=92)
    jpeg, _, width, height = clean_photo(out.getvalue())
    assert (width, height) == (384, 512)  # upright: the long side is now the height
    stored = decode_photo(jpeg).astype(float)
    reference = Image.fromarray(pixels).transpose(Image.Transpose.ROTATE_270)  # what orientation 6 means
    reference.thumbnail((512, 512), Image.Resampling.LANCZOS)
    # decoding the JPEG at a reduced scale (draft) keeps the picture: within a few levels of a full decode
    assert np.abs(stored - np.asarray(reference, float)).mean() < 3


def test_a_long_running_server_purges_too(url):
    store = ClassStore(url, retention_days=7, embed=False)
    old = store.create_class(["cat", "dog"])
    _age(store, old.code, 8)
    store.create_class(["cat", "dog"])  # within the hour since opening: no purge yet
    assert store.photos(old.code) == []
    store.purge_every_s = 0  # as if an hour had passed
    fresh = store.create_class(["cat", "dog"])
    with pytest.raises(LookupError):
        store.photos(old.code)
    store.join(fresh.code, "Ann")
    store.close()
