"""Loading class-per-folder datasets from folders and zips, and refusing hostile archives."""

import io
import stat
import zipfile

import numpy as np
import pytest
from PIL import Image

import explorer
from explorer.data import datasets
from explorer.data.datasets import DatasetError, augmented_copies, dataset_warnings, load_dataset


def png(color, size=(64, 48)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "PNG")
    return buf.getvalue()


def make_zip(entries: dict[str, bytes | None]) -> bytes:
    """Zip with the given entries (None: a directory entry)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries.items():
            if data is None:
                z.writestr(zipfile.ZipInfo(name.rstrip("/") + "/"), b"")
            else:
                z.writestr(name, data)
    return buf.getvalue()


RED, BLUE = png((255, 0, 0)), png((0, 0, 255))


def test_folder_layout(tmp_path):
    for cls, data in (("red", RED), ("blue", BLUE)):
        (tmp_path / cls / "nested").mkdir(parents=True)
        for i in range(3):
            (tmp_path / cls / f"{i}.png").write_bytes(data)
        (tmp_path / cls / "nested" / "deep.png").write_bytes(data)
    (tmp_path / "red" / "notes.txt").write_text("not an image")
    (tmp_path / ".hidden").mkdir()
    data = load_dataset(tmp_path)
    assert list(data) == ["blue", "red"]
    assert [len(v) for v in data.values()] == [4, 4]
    assert data["red"][0].shape == (48, 64, 3) and data["red"][0].dtype == np.uint8
    assert tuple(data["red"][0][0, 0]) == (255, 0, 0) and tuple(data["blue"][0][0, 0]) == (0, 0, 255)
    assert len(data.skipped) == 1 and "notes.txt" in data.skipped[0]


def test_zip_from_bytes_path_and_file_object_with_wrapping_folder(tmp_path):
    raw = make_zip({"pets/": None, "pets/cats/a.png": RED, "pets/cats/b.png": RED, "pets/dogs/a.png": BLUE,
                    "__MACOSX/pets/._a.png": b"junk", "pets/.DS_Store": b"junk", "readme.txt": b"hi"})
    (tmp_path / "set.zip").write_bytes(raw)
    for source in (raw, tmp_path / "set.zip", str(tmp_path / "set.zip"), io.BytesIO(raw)):
        data = load_dataset(source)
        assert {k: len(v) for k, v in data.items()} == {"cats": 2, "dogs": 1}
    assert data.skipped == ["readme.txt: not inside a class folder"]


def test_large_images_are_shrunk():
    big = png((0, 255, 0), size=(1600, 900))
    data = load_dataset(make_zip({"a/x.png": big, "b/y.png": RED}))
    assert data["a"][0].shape == (252, 448, 3)


def test_unreadable_images_are_skipped_and_reported():
    data = load_dataset(make_zip({"a/good.png": RED, "a/bad.jpg": b"not a jpeg at all", "b/x.png": BLUE}))
    assert len(data["a"]) == 1
    assert len(data.skipped) == 1 and data.skipped[0].startswith("a/bad.jpg: ")


@pytest.mark.parametrize("entries, message", [
    ({"a/x.png": RED}, "at least 2 classes"),
    ({"a/x.png": RED, "b/": None}, "Class 'b' is empty"),
    ({"a/x.png": RED, "b/x.jpg": b"garbage", "b/y.txt": b"text"}, "Class 'b' has no readable image"),
    ({"a/x.png": RED, "b/../../evil.png": BLUE}, "leaving its folder"),
    ({"a/x.png": RED, "/etc/b/evil.png": BLUE}, "absolute path"),
    ({"a/x.png": RED, "C:/b/evil.png": BLUE}, "absolute path"),
])
def test_bad_zips_are_refused_clearly(entries, message):
    with pytest.raises(DatasetError, match=message):
        load_dataset(make_zip(entries))


def test_symlink_entries_are_refused():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("a/x.png", RED)
        link = zipfile.ZipInfo("b/passwd.png")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        z.writestr(link, "/etc/passwd")
    with pytest.raises(DatasetError, match="symbolic link"):
        load_dataset(buf.getvalue())


def test_zip_bomb_by_size_is_refused_before_decompressing():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("a/x.png", RED)
        z.writestr("b/bomb.png", b"\0" * 60_000_000)  # 60 MB of zeros compress to ~60 KB
    assert len(buf.getvalue()) < 200_000
    with pytest.raises(DatasetError, match="zip bomb"):
        load_dataset(buf.getvalue())


def test_zip_bomb_by_total_size_and_file_count(monkeypatch):
    monkeypatch.setattr(datasets, "MAX_TOTAL_BYTES", 10_000)
    with pytest.raises(DatasetError, match="unpacks to"):
        load_dataset(make_zip({f"{c}/{i}.png": png((i, 0, 0), (200, 200)) for c in "ab" for i in range(10)}))
    monkeypatch.setattr(datasets, "MAX_FILES", 50)
    with pytest.raises(DatasetError, match="entries; the limit is 50"):
        load_dataset(make_zip({f"{c}/{i}.png": b"x" for c in "ab" for i in range(30)}))


def test_not_a_zip_and_missing_paths(tmp_path):
    with pytest.raises(DatasetError, match="not a zip file"):
        load_dataset(b"PK but not really a zip")
    (tmp_path / "photo.png").write_bytes(RED)
    with pytest.raises(DatasetError, match="not a zip file"):
        load_dataset(tmp_path / "photo.png")
    with pytest.raises(DatasetError, match="Nothing at"):
        load_dataset(tmp_path / "missing")
    with pytest.raises(DatasetError, match="at least 2 classes"):
        load_dataset(tmp_path)  # a folder without class sub-folders
    assert issubclass(explorer.DatasetError, ValueError)


def test_nothing_is_written_to_disk(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    load_dataset(make_zip({"a/x.png": RED, "b/y.png": BLUE}))
    assert list(tmp_path.iterdir()) == []


def test_warnings_for_few_images_and_imbalance():
    assert dataset_warnings({"a": [0] * 20, "b": [0] * 20}) == []
    few = dataset_warnings({"a": [0] * 20, "b": [0] * 2})
    assert any("'b' has only 2" in w for w in few) and any("imbalanced" in w for w in few)
    assert dataset_warnings({"a": [0] * 30, "b": [0] * 20}) == []


def test_augmented_copies_are_distinct_views(cat_photo):
    views = augmented_copies(cat_photo, 4, seed=1, size=64)
    assert [v.shape for v in views] == [(64, 64, 3)] * 4
    assert all(v.dtype == np.uint8 for v in views)
    assert not np.array_equal(views[0], views[1])
    assert all(np.array_equal(a, b) for a, b in zip(views, augmented_copies(cat_photo, 4, seed=1, size=64)))
